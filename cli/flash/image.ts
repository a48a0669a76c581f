import { execFileSync, spawn } from 'node:child_process';
import { createReadStream, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { CityGateError } from '../../common/errors.js';

/** An OS image to flash: raw `.img`, or `.img.xz` decompressed on the fly by Debian's xz. */
export interface ImageSource {
  path: string;
  compressed: boolean;
  /** Uncompressed size in bytes. */
  size: number;
  open(): Readable;
}

function xzSize(path: string): number {
  let out: string;
  try {
    out = execFileSync('xz', ['--robot', '--list', path], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const msg = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
    throw new CityGateError('invalid', `image ${path} is not a readable .xz file: ${msg}`);
  }
  // `xz --robot --list`: the "totals" line's 5th field is the uncompressed size.
  const size = Number(
    out
      .split('\n')
      .find((l) => l.startsWith('totals'))
      ?.split('\t')[4],
  );
  if (!Number.isFinite(size) || size <= 0)
    throw new CityGateError('invalid', `image ${path}: not a valid .xz file`);
  return size;
}

export function openImage(path: string): ImageSource {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new CityGateError('invalid', `cannot read image ${path}: ${(err as Error).message}`);
  }
  if (!st.isFile()) throw new CityGateError('invalid', `image ${path} is not a file`);
  if (path.endsWith('.xz')) {
    const size = xzSize(path);
    return {
      path,
      compressed: true,
      size,
      open() {
        const child = spawn('xz', ['-dc', path], { stdio: ['ignore', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => {
          if (code !== 0)
            child.stdout.destroy(
              new CityGateError('invalid', `image ${path} is corrupt: ${err.trim() || `xz exited ${code}`}`),
            );
        });
        return child.stdout;
      },
    };
  }
  if (!path.endsWith('.img'))
    throw new CityGateError('invalid', `image ${path}: expected a .img or .img.xz file`);
  if (st.size < 1024 * 1024)
    throw new CityGateError('invalid', `image ${path} is only ${st.size} bytes: not an OS image`);
  return {
    path,
    compressed: false,
    size: st.size,
    open: () => createReadStream(path, { highWaterMark: 1 << 20 }),
  };
}
