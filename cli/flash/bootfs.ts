import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CityGateError } from '../../common/errors.js';

/**
 * The boot partition (FAT) of an image, card or partition, edited without mounting it through Debian's
 * mtools (`-i file@@offset`): no FAT writer of our own.
 */
export interface BootFs {
  spec: string;
  read(name: string): string | undefined;
  write(name: string, content: string): void;
  remove(name: string): void;
  list(): string[];
}

const FAT_TYPES = new Set([0x01, 0x04, 0x06, 0x0b, 0x0c, 0x0e]);

function readBytes(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    closeSync(fd);
  }
}

/** Byte offset of the first FAT partition in an MBR, 0 if `path` is itself a FAT filesystem. */
export function bootPartitionOffset(path: string): number {
  const sector = readBytes(path, 0, 512);
  const isFat =
    sector.subarray(54, 62).toString('ascii').startsWith('FAT') ||
    sector.subarray(82, 90).toString('ascii').startsWith('FAT');
  if (isFat) return 0;
  if (sector[510] !== 0x55 || sector[511] !== 0xaa)
    throw new CityGateError('invalid', `${path} has neither a partition table nor a FAT filesystem`);
  for (let i = 0; i < 4; i++) {
    const e = 446 + i * 16;
    const type = sector[e + 4]!;
    const lba = sector.readUInt32LE(e + 8);
    if (FAT_TYPES.has(type) && lba > 0) return lba * 512;
  }
  throw new CityGateError('invalid', `${path}: no FAT boot partition in its partition table`);
}

function mtools(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      env: { ...process.env, MTOOLS_SKIP_CHECK: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT')
      throw new CityGateError('missing-tool', `${cmd} not found: install Debian's mtools`);
    throw new CityGateError('bootfs', `${cmd} failed: ${(e.stderr ?? '').trim() || (err as Error).message}`);
  }
}

export function openBootFs(path: string): BootFs {
  const spec = `${path}@@${bootPartitionOffset(path)}`;
  return {
    spec,
    list: () =>
      mtools('mdir', ['-b', '-i', spec, '::/'])
        .split('\n')
        .filter(Boolean)
        .map((l) => l.replace(/^::\//, '')),
    read(name) {
      try {
        return mtools('mtype', ['-i', spec, `::/${name}`]);
      } catch {
        return undefined;
      }
    },
    write(name, content) {
      const dir = mkdtempSync(join(tmpdir(), 'citygate-bootfs-'));
      try {
        const file = join(dir, 'f');
        writeFileSync(file, content);
        mtools('mcopy', ['-o', '-i', spec, file, `::/${name}`]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    remove(name) {
      mtools('mdel', ['-i', spec, `::/${name}`]);
    },
  };
}
