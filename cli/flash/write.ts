import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { CityGateError } from '../../common/errors.js';
import type { ImageSource } from './image.js';

export interface Progress {
  (done: number, total: number, phase: 'write' | 'verify'): void;
}

/** Stream the image onto the target, fsync, and return the image's sha256. */
export async function writeImage(
  image: ImageSource,
  target: string,
  progress: Progress = () => undefined,
): Promise<string> {
  const hash = createHash('sha256');
  const fd = openSync(target, 'w');
  let done = 0;
  try {
    for await (const chunk of image.open()) {
      const buf = chunk as Buffer;
      hash.update(buf);
      let off = 0;
      while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off, done + off);
      done += buf.length;
      progress(done, image.size, 'write');
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  if (done !== image.size)
    throw new CityGateError('invalid', `image ${image.path}: got ${done} bytes, expected ${image.size}`);
  return hash.digest('hex');
}

/** Read the first `size` bytes back from the target and compare their sha256 with the image's. */
export function verifyTarget(
  target: string,
  size: number,
  expected: string,
  progress: Progress = () => undefined,
): void {
  const hash = createHash('sha256');
  const fd = openSync(target, 'r');
  const buf = Buffer.alloc(1 << 20);
  let done = 0;
  try {
    while (done < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      done += n;
      progress(done, size, 'verify');
    }
  } finally {
    closeSync(fd);
  }
  const got = hash.digest('hex');
  if (done !== size || got !== expected)
    throw new CityGateError(
      'verify-failed',
      `read-back verification failed on ${target}: sha256 ${got.slice(0, 16)}… ≠ image ${expected.slice(0, 16)}… (${done} of ${size} bytes read); the card may be faulty`,
    );
}
