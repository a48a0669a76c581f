/**
 * `citygate fleet import`: a stopped single fleet's state (SQLite files and keys in its data
 * directory) copied into an empty PostgreSQL database, so fleets started with `--store` on it serve
 * the same gateways (same credentials), API tokens, CA and config-signing key, and keep its history.
 *
 * All rows are written in ONE PostgreSQL transaction: a failed import leaves no fleet data behind
 * (only the schema and empty telemetry partitions, which a new import or a fleet accepts), so a
 * half-imported database never looks complete. The target must hold no fleet data (nothing is
 * overwritten, there is no --force); an advisory lock keeps two imports apart.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { SqlDb } from '../../../common/sqlite.js';
import { Partitions } from '../pg/partitions.js';
import { migrate } from '../pg/schema.js';
import { PgSqlDb } from '../pg/sql-db.js';
import { createPool, redactUrl } from '../pg/store.js';
import { CHUNK_BYTES } from '../pg/release-store.js';
import type { ReleaseBuild } from '../releases/store.js';
import { copyReadings, copyTable, readingDays, type Progress } from './copy.js';
import { openFleetSource } from './source.js';

/** fleet-admin.db: credentials registry, API tokens, desired config, commands. */
export const ADMIN_TABLES = [
  'claim_tokens',
  'gateway_credentials',
  'api_tokens',
  'config_layers',
  'gateway_groups',
  'config_desired',
  'config_reported',
  'commands',
] as const;

/** fleet.db tables with the same schema on PostgreSQL (telemetry `blocks` are unpacked instead). */
export const STORE_TABLES = [
  'gateways',
  'sessions',
  'epochs',
  'messages',
  'events',
  'sites',
  'gateway_health',
  'commissioning',
  'alarm_board',
  'flow_sets',
  'flow_assignments',
  'flow_reports',
] as const;

/** fleet.db's own bookkeeping, represented differently (or not needed) on PostgreSQL. */
const SQLITE_INTERNAL = new Set([
  'schema_version',
  'gateway_keys',
  'sources',
  'points',
  'blocks',
  'compaction',
  'samples',
]);

const IMPORT_LOCK = 0x43_47_49_31; // 'CGI1'

export interface ImportOptions {
  dataDir: string;
  storeUrl: string;
  now: number;
  progress?: Progress;
  /** Warnings (tables left behind, …): one line each. */
  warn?: (line: string) => void;
}

export interface ImportSummary {
  /** Rows copied per PostgreSQL table. */
  rows: Record<string, number>;
  /** Names of the shared key files stored (never their content). */
  keys: string[];
  rollouts: number;
  releases: number;
}

/** Tables of the PostgreSQL database that already hold rows (partitions counted under `readings`). */
export async function fleetDataFound(db: SqlDb): Promise<string[]> {
  const tables = await db.all<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const found: string[] = [];
  for (const { table_name: t } of tables) {
    if (t === 'schema_version' || /^readings_d\d{8}$/.test(t)) continue;
    const r = await db.get<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM "${t}" LIMIT 1000) x`,
    );
    const n = r?.n ?? 0;
    if (n > 0) found.push(`${t} (${n >= 1000 ? '1000+ rows' : n === 1 ? '1 row' : `${n} rows`})`);
  }
  return found;
}

function refuseNonEmpty(url: string, found: string[]): never {
  throw new CityGateError(
    'conflict',
    `PostgreSQL database ${redactUrl(url)} already holds fleet data: ${found.join(', ')}; import needs an empty database`,
  );
}

async function importRollouts(dir: string, db: SqlDb): Promise<number> {
  const rdir = join(dir, 'rollouts');
  if (!existsSync(rdir)) return 0;
  let n = 0;
  for (const f of readdirSync(rdir)
    .filter((x) => x.endsWith('.json'))
    .sort()) {
    const text = readFileSync(join(rdir, f), 'utf8');
    let s: { id?: unknown; createdAt?: unknown };
    try {
      s = JSON.parse(text) as typeof s;
    } catch (err) {
      throw new CityGateError('invalid', `${join(rdir, f)}: not JSON: ${errorMessage(err)}`);
    }
    if (typeof s.id !== 'string' || typeof s.createdAt !== 'number')
      throw new CityGateError('invalid', `${join(rdir, f)}: not a rollout (no id/createdAt)`);
    await db.run('INSERT INTO rollouts (id, created_at, state) VALUES ($1, $2, $3)', [
      s.id,
      s.createdAt,
      text,
    ]);
    n++;
  }
  return n;
}

/** Release bundles (`releases/<version>/<name>.bundle` + `.json`) into release_builds/release_chunks. */
async function importReleases(dir: string, db: SqlDb): Promise<number> {
  const rdir = join(dir, 'releases');
  if (!existsSync(rdir)) return 0;
  let n = 0;
  for (const version of readdirSync(rdir)
    .filter((v) => !v.startsWith('.'))
    .sort()) {
    const vdir = join(rdir, version);
    for (const meta of readdirSync(vdir)
      .filter((f) => f.endsWith('.bundle.json'))
      .sort()) {
      const name = meta.slice(0, -'.bundle.json'.length);
      const build = JSON.parse(readFileSync(join(vdir, meta), 'utf8')) as ReleaseBuild;
      await db.run(
        'INSERT INTO release_builds (version, name, sha256, size, build) VALUES ($1, $2, $3, $4, $5)',
        [build.version, name, build.sha256, build.size, JSON.stringify(build)],
      );
      const fh = await open(join(vdir, `${name}.bundle`), 'r');
      try {
        const buf = Buffer.alloc(CHUNK_BYTES);
        for (let c = 0; ; c++) {
          const { bytesRead } = await fh.read(buf, 0, CHUNK_BYTES, c * CHUNK_BYTES);
          if (bytesRead === 0) break;
          await db.run('INSERT INTO release_chunks (version, name, n, data) VALUES ($1, $2, $3, $4)', [
            build.version,
            name,
            c,
            Buffer.from(buf.subarray(0, bytesRead)),
          ]);
        }
      } finally {
        await fh.close();
      }
      n++;
    }
  }
  return n;
}

export async function importFleet(o: ImportOptions): Promise<ImportSummary> {
  const src = await openFleetSource(o.dataDir);
  const pool = createPool(o.storeUrl, 2);
  pool.on('error', () => undefined);
  try {
    try {
      await migrate(pool, o.now);
    } catch (err) {
      throw new CityGateError(
        'store-unavailable',
        `PostgreSQL store ${redactUrl(o.storeUrl)}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    const pgDb = new PgSqlDb(pool);
    const early = await fleetDataFound(pgDb);
    if (early.length > 0) refuseNonEmpty(o.storeUrl, early);
    // Partitions are DDL in their own transactions: created first, harmless if the import fails.
    const partitions = new Partitions(pool);
    await partitions.load();
    await partitions.ensure(await readingDays(src.store));
    const present = async (db: typeof src.store) =>
      new Set(
        (await db.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")).map(
          (r) => r.name,
        ),
      );
    const storeTables = await present(src.store);
    const adminTables = src.admin ? await present(src.admin) : new Set<string>();
    for (const t of storeTables)
      if (!SQLITE_INTERNAL.has(t) && !(STORE_TABLES as readonly string[]).includes(t))
        o.warn?.(`fleet.db table ${t} is not imported (no PostgreSQL counterpart)`);
    for (const t of adminTables)
      if (!(ADMIN_TABLES as readonly string[]).includes(t))
        o.warn?.(`fleet-admin.db table ${t} is not imported (no PostgreSQL counterpart)`);
    return await pgDb.transaction(async (tx) => {
      await tx.run('SELECT pg_advisory_xact_lock($1)', [IMPORT_LOCK]);
      const found = await fleetDataFound(tx);
      if (found.length > 0) refuseNonEmpty(o.storeUrl, found);
      const rows: Record<string, number> = {};
      if (src.admin)
        for (const t of ADMIN_TABLES)
          if (adminTables.has(t)) rows[t] = await copyTable(src.admin, tx, t, o.progress);
      for (const t of STORE_TABLES)
        if (storeTables.has(t)) rows[t] = await copyTable(src.store, tx, t, o.progress);
      rows.readings = storeTables.has('blocks') ? await copyReadings(src.store, tx, o.progress) : 0;
      for (const [name, value] of src.keys)
        await tx.run('INSERT INTO shared_keys (name, value, created_at) VALUES ($1, $2, $3)', [
          name,
          value,
          o.now,
        ]);
      const rollouts = await importRollouts(src.dir, tx);
      const releases = await importReleases(src.dir, tx);
      return { rows, keys: [...src.keys.keys()], rollouts, releases };
    });
  } finally {
    await pool.end().catch(() => undefined);
    await src.close();
  }
}
