import { createReadStream } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { CityGateError } from '../../../common/errors.js';

export interface DownloadResult {
  bytes: number;
  /** Bytes that were already there from an interrupted attempt. */
  resumedFrom: number;
}

/**
 * Fetch `source` (a local path, file: URL or http(s) URL) into `dest`, resuming a `dest.part` left by an
 * interrupted attempt (HTTP Range for URLs, a read offset for files). The file appears at `dest` whole.
 */
export async function download(
  source: string,
  dest: string,
  headers: Record<string, string> = {},
): Promise<DownloadResult> {
  const part = `${dest}.part`;
  const have = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  const fh = await open(part, have > 0 ? 'a' : 'w', 0o640);
  let written = 0;
  try {
    if (/^https?:/.test(source)) {
      const res = await fetch(source, {
        headers: { ...headers, ...(have > 0 ? { range: `bytes=${have}-` } : {}) },
      });
      if (res.status === 416 && have > 0) {
        await res.body?.cancel();
      } else if (res.status === 200 || res.status === 206) {
        if (res.status === 200 && have > 0) await fh.truncate(0); // server ignored the range: start over
        const appendAt = res.status === 206 ? have : 0;
        if (res.status === 206 && !res.headers.get('content-range')?.startsWith(`bytes ${have}-`))
          throw new CityGateError('download', `${source}: server answered a different range than asked`);
        let pos = appendAt;
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          await fh.write(chunk, 0, chunk.length, pos);
          pos += chunk.length;
          written += chunk.length;
        }
      } else {
        await res.body?.cancel();
        throw new CityGateError('download', `${source}: HTTP ${res.status}`);
      }
    } else {
      const path = source.startsWith('file:') ? fileURLToPath(source) : source;
      const size = (await stat(path)).size;
      if (have > size) await fh.truncate(0);
      let pos = have > size ? 0 : have;
      for await (const chunk of createReadStream(path, { start: pos }) as AsyncIterable<Buffer>) {
        await fh.write(chunk, 0, chunk.length, pos);
        pos += chunk.length;
        written += chunk.length;
      }
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(part, dest);
  const bytes = (await stat(dest)).size;
  return { bytes, resumedFrom: bytes - written };
}

/** The fleet URL of a release bundle built for this gateway's platform, CPU and Node ABI. */
export function bundleUrlForThisGateway(fleetBase: string, bundlePath: string): string {
  const q = new URLSearchParams({
    platform: process.platform,
    arch: process.arch,
    abi: process.versions.modules,
  });
  return `${fleetBase.replace(/\/+$/, '')}${bundlePath}?${q.toString()}`;
}
