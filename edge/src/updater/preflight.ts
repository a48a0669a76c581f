import { statfs } from 'node:fs/promises';
import { freemem } from 'node:os';

export interface Resources {
  freeDiskBytes: number;
  freeMemBytes: number;
}

export async function measure(dir: string): Promise<Resources> {
  const s = await statfs(dir);
  return { freeDiskBytes: s.bavail * s.bsize, freeMemBytes: freemem() };
}

/** Why an update cannot start here, or undefined. A bundle needs room for itself and its unpacked copy. */
export function shortage(
  r: Resources,
  need: { bundleBytes?: number; minFreeDiskBytes: number; minFreeMemBytes: number },
): string | undefined {
  const disk = (need.bundleBytes ?? 0) * 2 + need.minFreeDiskBytes;
  const mb = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  if (r.freeDiskBytes < disk) return `not enough disk: ${mb(r.freeDiskBytes)} free, ${mb(disk)} needed`;
  if (r.freeMemBytes < need.minFreeMemBytes)
    return `not enough memory: ${mb(r.freeMemBytes)} free, ${mb(need.minFreeMemBytes)} needed`;
  return undefined;
}
