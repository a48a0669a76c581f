/**
 * The single fleet being imported (`citygate fleet import`): its data directory checked and its
 * SQLite files opened with an exclusive lock, so a fleet still running on them is refused (its open
 * connection holds a lock) and no fleet can start on them while the import reads.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import { Db } from '../../../common/sqlite.js';
import { STORE_MIGRATIONS } from '../store.js';

/** Key files shared through `shared_keys` (fleet/src/admin.ts's `sharedFiles`, same names and places). */
export const KEY_FILES = [
  { name: 'config-signing.key', rel: join('keys', 'config-signing.key') },
  { name: 'ca.key', rel: join('pki', 'ca.key') },
  { name: 'ca.crt', rel: join('pki', 'ca.crt') },
] as const;

export interface FleetSource {
  dir: string;
  /** fleet.db: telemetry, events, sessions, sites, alarms, flow sets. */
  store: Db;
  /** fleet-admin.db (absent when the fleet ran with security open). */
  admin?: Db;
  /** Key files present, by `shared_keys` name. */
  keys: Map<string, string>;
  close(): Promise<void>;
}

async function openLocked(path: string): Promise<Db> {
  const db = await Db.open(path);
  try {
    await db.exec('PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE');
    await db.get('SELECT count(*) FROM sqlite_master');
    return db;
  } catch (err) {
    await db.close().catch(() => undefined);
    if (/SQLITE_BUSY|locked/i.test(errorMessage(err)))
      throw new CityGateError(
        'busy',
        `${path} is in use by another process: the fleet looks running; stop it first (citygate fleet import reads a stopped fleet)`,
      );
    throw new CityGateError('invalid', `${path}: cannot read it as SQLite: ${errorMessage(err)}`);
  }
}

/** Open a stopped fleet's data directory; refuses (naming the file) what is not one. */
export async function openFleetSource(dataDir: string): Promise<FleetSource> {
  const dir = resolve(dataDir);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new CityGateError('not-found', `--data ${dir}: no such directory`);
  const storePath = join(dir, 'fleet.db');
  if (!existsSync(storePath))
    throw new CityGateError(
      'not-found',
      `${dir} is not a fleet data directory: ${storePath} is missing (found: ${readdirSync(dir).slice(0, 8).join(', ') || 'nothing'})`,
    );
  const store = await openLocked(storePath);
  let admin: Db | undefined;
  try {
    const tables = await store.all<{ name: string }>(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('gateways', 'schema_version')",
    );
    if (tables.length < 2)
      throw new CityGateError(
        'invalid',
        `${storePath} is not a fleet store: no gateways/schema_version table`,
      );
    // An older file (readings before blocks, …) is migrated by the fleet, not here.
    const want = Math.max(...STORE_MIGRATIONS.map((m) => m.version));
    const v = (await store.get<{ v: number | null }>('SELECT max(version) AS v FROM schema_version'))?.v ?? 0;
    if (v !== want)
      throw new CityGateError(
        'invalid',
        `${storePath} is at schema version ${v}, this citygate reads version ${want}: start the fleet once with this version (it migrates the file), stop it, then import`,
      );
    const adminPath = join(dir, 'fleet-admin.db');
    if (existsSync(adminPath)) admin = await openLocked(adminPath);
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  const keys = new Map<string, string>();
  for (const k of KEY_FILES) {
    const p = join(dir, k.rel);
    if (existsSync(p)) keys.set(k.name, readFileSync(p, 'utf8'));
  }
  if (admin && !keys.has('ca.key'))
    throw new CityGateError(
      'not-found',
      `${dir} holds fleet-admin.db but not ${join(dir, 'pki', 'ca.key')}: gateways would not trust a new CA`,
    );
  return {
    dir,
    store,
    admin,
    keys,
    async close() {
      for (const db of [admin, store]) {
        if (!db) continue;
        await db.exec('ROLLBACK').catch(() => undefined);
        await db.close().catch(() => undefined);
      }
    },
  };
}
