import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../../../common/fs-atomic.js';

/**
 * The updater's part of the gateway data dir:
 *
 *   <root>/releases/<version>/   one directory per unpacked release (read-only after unpack)
 *   <root>/current               symlink → releases/<version>: what pm2 runs
 *   <root>/downloads/<id>.bundle bundles being fetched (`.part` while incomplete)
 *   <root>/update-state.json     the updater's state machine (written atomically)
 */
export class UpdaterLayout {
  constructor(readonly root: string) {}
  get releases(): string {
    return join(this.root, 'releases');
  }
  get current(): string {
    return join(this.root, 'current');
  }
  get downloads(): string {
    return join(this.root, 'downloads');
  }
  get stateFile(): string {
    return join(this.root, 'update-state.json');
  }
  release(version: string): string {
    return join(this.releases, version);
  }
  bundle(id: string): string {
    return join(this.downloads, `${id.replace(/[^A-Za-z0-9._-]/g, '_')}.bundle`);
  }

  /** The version `current` points at, if any. */
  async currentVersion(): Promise<string | undefined> {
    try {
      return basename(await readlink(this.current));
    } catch {
      return undefined;
    }
  }

  /** Point `current` at `version` atomically (a new symlink renamed over the old one). */
  switchCurrent(version: string): void {
    const tmp = `${this.current}.tmp-${process.pid}`;
    rmSync(tmp, { force: true });
    symlinkSync(join('releases', version), tmp);
    renameSync(tmp, this.current);
    fsyncDir(this.root);
  }
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Write JSON so that a power cut leaves either the old or the new file (common/fs-atomic.ts). */
export function writeJsonAtomic(file: string, value: unknown): void {
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', 0o640);
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
