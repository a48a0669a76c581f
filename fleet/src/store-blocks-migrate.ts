/**
 * The schema steps of fleet.db before blocks (store-blocks.ts), kept so files at any version upgrade:
 * migrations 1 and 3 still build the one-row-per-reading `samples` table, and migration 4 moves it
 * into `blocks`. A fresh file goes through the same steps (with an empty `samples`).
 */
import type { Db, SqlValue } from '../../common/sqlite.js';
import {
  BLOCK_MAX,
  BLOCKS_READINGS_VIEW,
  BLOCKS_SCHEMA,
  insertBlockRows,
  PER_INSERT,
  pushBlocks,
  type Group,
} from './store-blocks.js';

/** Readings one row each, primary key (source, reading id): fleet.db versions 1 to 3. */
export const SAMPLES_SCHEMA = `
  CREATE TABLE IF NOT EXISTS samples (
    src INTEGER NOT NULL, rid INTEGER NOT NULL, pt INTEGER NOT NULL, gw INTEGER NOT NULL,
    value REAL NOT NULL, is_bool INTEGER NOT NULL, ts INTEGER NOT NULL, received INTEGER NOT NULL,
    PRIMARY KEY (src, rid)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS samples_by_point ON samples (pt, ts);
  CREATE INDEX IF NOT EXISTS samples_by_time ON samples (gw, ts);`;

/** The `readings` view over `samples` (version 3). */
export const SAMPLES_READINGS_VIEW = `
  CREATE VIEW IF NOT EXISTS readings AS
  SELECT g.gateway AS gateway, s.epoch AS epoch, r.rid AS rid, p.device AS device, p.point AS point,
         r.value AS value, r.is_bool AS is_bool, NULLIF(p.unit, '') AS unit, r.ts AS ts, r.received AS received
  FROM samples r JOIN sources s ON s.id = r.src JOIN points p ON p.id = r.pt JOIN gateway_keys g ON g.id = r.gw;`;

/** fleet.db files from before integer keys: move their `readings` table into `samples` (in the caller's transaction). */
export async function migrateReadings(db: Db): Promise<void> {
  const old = await db.get<{ type: string }>(`SELECT type FROM sqlite_master WHERE name = 'readings'`);
  if (old?.type !== 'table') return;
  await db.exec(`
      INSERT OR IGNORE INTO gateway_keys (gateway) SELECT DISTINCT gateway FROM readings;
      INSERT OR IGNORE INTO sources (gw, epoch)
        SELECT DISTINCT g.id, r.epoch FROM readings r JOIN gateway_keys g ON g.gateway = r.gateway;
      INSERT OR IGNORE INTO points (gw, device, point, unit)
        SELECT DISTINCT g.id, r.device, r.point, COALESCE(r.unit, '') FROM readings r
        JOIN gateway_keys g ON g.gateway = r.gateway;
      INSERT OR IGNORE INTO samples (src, rid, pt, gw, value, is_bool, ts, received)
        SELECT s.id, r.rid, p.id, g.id, r.value, r.is_bool, r.ts, r.received FROM readings r
        JOIN gateway_keys g ON g.gateway = r.gateway
        JOIN sources s ON s.gw = g.id AND s.epoch = r.epoch
        JOIN points p ON p.gw = g.id AND p.device = r.device AND p.point = r.point AND p.unit = COALESCE(r.unit, '');
      DROP TABLE readings;`);
}

/** A run of one point's readings of one value type, received together, while being moved. */
interface Run extends Group {
  src: number;
  gw: number;
  received: number;
}

/**
 * Move `samples` into blocks, streaming in primary-key order (source, id) in pages: per source,
 * consecutive readings of one point and value type received at the same time (one message) form a
 * block of at most `BLOCK_MAX`. Values are packed here, not by SQLite's JSON functions, which print
 * REAL values with 15 significant digits (not enough to read the same double back).
 */
async function moveSamples(db: Db): Promise<void> {
  const page = 20_000;
  const params: SqlValue[] = [];
  let blocks = 0;
  const flush = async (): Promise<void> => {
    await insertBlockRows(db, params, blocks);
    params.length = 0;
    blocks = 0;
  };
  const runs = new Map<string, Run>();
  const close = async (r: Run): Promise<void> => {
    if (blocks + Math.ceil(r.rids.length / BLOCK_MAX) > PER_INSERT) await flush();
    blocks += pushBlocks(params, r, r.src, r.gw, r.received);
  };
  let after: [number, number] | undefined;
  for (;;) {
    const rows = await db.all<{
      src: number;
      rid: number;
      pt: number;
      gw: number;
      value: number;
      is_bool: number;
      ts: number;
      received: number;
    }>(
      `SELECT src, rid, pt, gw, value, is_bool, ts, received FROM samples
       ${after ? 'WHERE (src, rid) > (?, ?)' : ''} ORDER BY src, rid LIMIT ${page}`,
      after ?? [],
    );
    for (const x of rows) {
      const k = `${x.pt}\0${x.is_bool}`;
      let r = runs.get(k);
      if (r && (r.src !== x.src || r.received !== x.received || r.rids.length >= BLOCK_MAX)) {
        await close(r);
        r = undefined;
      }
      if (!r) {
        r = {
          src: x.src,
          gw: x.gw,
          pt: x.pt,
          bool: x.is_bool !== 0,
          received: x.received,
          rids: [],
          ts: [],
          vals: [],
        };
        runs.set(k, r);
      }
      r.rids.push(x.rid);
      r.ts.push(x.ts);
      r.vals.push(x.value);
    }
    if (rows.length < page) break;
    const last = rows[rows.length - 1]!;
    after = [last.src, last.rid];
  }
  for (const r of runs.values()) await close(r);
  await flush();
}

/**
 * Version 4: `samples` rows into blocks (`moveSamples`), then `samples` is dropped and the
 * `readings` view reads blocks. In the caller's transaction.
 */
export async function samplesToBlocks(db: Db): Promise<void> {
  await db.exec(BLOCKS_SCHEMA);
  const samples = await db.get<{ type: string }>(`SELECT type FROM sqlite_master WHERE name = 'samples'`);
  if (samples?.type === 'table') {
    await moveSamples(db);
    await db.exec('DROP VIEW IF EXISTS readings; DROP TABLE samples;');
  } else await db.exec('DROP VIEW IF EXISTS readings;');
  await db.exec(BLOCKS_READINGS_VIEW);
}
