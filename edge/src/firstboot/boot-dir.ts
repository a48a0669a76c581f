import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../common/fs-atomic.js';

/** The boot partition as the running gateway sees it: a mounted directory (/boot/firmware on Pi OS). */
export interface BootFiles {
  read(name: string): string | undefined;
  write(name: string, content: string): void;
  remove(name: string): void;
}

export function bootDir(dir: string): BootFiles {
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new Error(`boot partition ${dir} is not a mounted directory`);
  return {
    read: (name) => (existsSync(join(dir, name)) ? readFileSync(join(dir, name), 'utf8') : undefined),
    write: (name, content) => writeFileAtomic(join(dir, name), content, 0o600),
    remove: (name) => rmSync(join(dir, name), { force: true }),
  };
}
