/**
 * Key files every fleet worker must hold the same copy of (the config-signing key that gateways
 * verify desired config and flow sets with, the fleet CA handed out at provisioning), kept in the
 * shared database's `shared_keys` table and mirrored to each worker's data dir (0600). The first
 * worker's files win: later workers (and a worker that lost a start-up race) take the stored ones.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { SqlDb } from '../../../common/sqlite.js';

export interface SharedFile {
  /** Row name in `shared_keys`, e.g. `config-signing.key`. */
  name: string;
  /** Where this worker keeps its copy. */
  path: string;
}

/**
 * Make the local files match the database: a stored value is written locally when it differs;
 * a local file the database does not hold yet is offered (`ON CONFLICT DO NOTHING`: one worker's
 * copy is kept). Returns the names of files rewritten locally (the caller reloads them).
 */
export async function syncSharedFiles(
  db: SqlDb,
  files: readonly SharedFile[],
  now: number,
): Promise<string[]> {
  const rewritten: string[] = [];
  for (const f of files) {
    const local = existsSync(f.path) ? readFileSync(f.path, 'utf8') : undefined;
    if (local !== undefined)
      await db.run(
        'INSERT INTO shared_keys (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING',
        [f.name, local, now],
      );
    const row = await db.get<{ value: string }>('SELECT value FROM shared_keys WHERE name = ?', [f.name]);
    if (!row || row.value === local) continue;
    mkdirSync(dirname(f.path), { recursive: true, mode: 0o700 });
    writeFileSync(f.path, row.value, { mode: 0o600 });
    chmodSync(f.path, 0o600);
    rewritten.push(f.name);
  }
  return rewritten;
}
