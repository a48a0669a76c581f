/**
 * Readings stored in blocks (SQLite engine): one row per (telemetry message, point, value type) with
 * the readings of that point the message brought and that were new, packed as JSON arrays. One row
 * and three index entries per block instead of one row and three index entries per reading.
 */
import type { Db, SqlValue } from '../../common/sqlite.js';

/**
 * `rid0`/`rid1` and `ts0`/`ts1` bound the block's reading ids and timestamps; `rid_offsets` and
 * `ts_offsets` are JSON arrays of `rid - rid0` and `ts - ts0`, `vals` the values (booleans as 1/0,
 * `is_bool` 1), all three in the same order. `received` is when the store got the message.
 * Indexes: `(pt, ts1, ts0)` for point queries, `(gw, ts1, ts0)` for gateway-wide ones (newest
 * first by ts1; `ts0` lets an `until` bound skip newer blocks inside the index), `(src, rid1, rid0)`
 * for the dedupe probe (an overlap test reads the index only).
 */
export const BLOCKS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS blocks (
    id INTEGER PRIMARY KEY, src INTEGER NOT NULL, pt INTEGER NOT NULL, gw INTEGER NOT NULL,
    rid0 INTEGER NOT NULL, rid1 INTEGER NOT NULL, n INTEGER NOT NULL,
    ts0 INTEGER NOT NULL, ts1 INTEGER NOT NULL, is_bool INTEGER NOT NULL, received INTEGER NOT NULL,
    rid_offsets TEXT NOT NULL, ts_offsets TEXT NOT NULL, vals TEXT NOT NULL
  );
  CREATE INDEX IF NOT EXISTS blocks_by_point ON blocks (pt, ts1, ts0);
  CREATE INDEX IF NOT EXISTS blocks_by_time ON blocks (gw, ts1, ts0);
  CREATE INDEX IF NOT EXISTS blocks_by_src ON blocks (src, rid1, rid0);`;

/** One row per reading with the old column names, for ad-hoc SQL, tools and tests. */
export const BLOCKS_READINGS_VIEW = `
  CREATE VIEW IF NOT EXISTS readings AS
  SELECT g.gateway AS gateway, s.epoch AS epoch, b.rid0 + r.value AS rid, p.device AS device, p.point AS point,
         json_extract(b.vals, '$[' || r.key || ']') AS value, b.is_bool AS is_bool, NULLIF(p.unit, '') AS unit,
         b.ts0 + json_extract(b.ts_offsets, '$[' || r.key || ']') AS ts, b.received AS received
  FROM blocks b JOIN json_each(b.rid_offsets) r JOIN sources s ON s.id = b.src JOIN points p ON p.id = b.pt
  JOIN gateway_keys g ON g.id = b.gw;`;

/** Readings of one block at most: a message of 10,000 readings of one point makes 20 blocks. */
export const BLOCK_MAX = 500;
export const COLUMNS = 13;
/** Blocks per INSERT, under SQLite's 32766 bound parameters. */
export const PER_INSERT = Math.floor(32000 / COLUMNS);

/** One multi-row INSERT of `count` blocks whose parameters (`pushBlocks`) are in `params`. */
export async function insertBlockRows(db: Db, params: readonly SqlValue[], count: number): Promise<void> {
  if (count === 0) return;
  const tuple = `(${new Array<string>(COLUMNS).fill('?').join(',')})`;
  await db.run(
    `INSERT INTO blocks (src, pt, gw, rid0, rid1, n, ts0, ts1, is_bool, received, rid_offsets, ts_offsets, vals)
     VALUES ${new Array<string>(count).fill(tuple).join(',')}`,
    params,
  );
}

/** A block's packed columns, as read back. */
export interface PackedBlock {
  rid0: number;
  ts0: number;
  /** NULL (as some queries read a one-reading block) stands for `[0]`. */
  rid_offsets: string | null;
  ts_offsets: string | null;
  vals: string;
}

/** One reading of a block, unpacked. */
export interface BlockReading {
  rid: number;
  ts: number;
  value: number;
}

/** The readings of a block, in stored order. A one-reading block (live telemetry) skips JSON.parse. */
export function unpack(b: PackedBlock): BlockReading[] {
  if ((b.rid_offsets ?? '[0]') === '[0]' && (b.ts_offsets ?? '[0]') === '[0]') {
    const value = Number(b.vals.slice(1, -1));
    if (b.vals[0] !== '[' || Number.isNaN(value))
      throw new Error(
        `fleet.db blocks: values ${b.vals.slice(0, 40)} of a one-reading block at reading id ${b.rid0}`,
      );
    return [{ rid: b.rid0, ts: b.ts0, value }];
  }
  const rids = JSON.parse(b.rid_offsets!) as number[];
  const ts = JSON.parse(b.ts_offsets!) as number[];
  const vals = JSON.parse(b.vals) as number[];
  if (rids.length !== ts.length || rids.length !== vals.length)
    throw new Error(`fleet.db blocks: arrays of different lengths in a block at reading id ${b.rid0}`);
  return rids.map((r, i) => ({ rid: b.rid0 + r, ts: b.ts0 + ts[i]!, value: vals[i]! }));
}

/** Reading ids of a block. */
export function blockIds(b: { rid0: number; rid_offsets: string }): number[] {
  return (JSON.parse(b.rid_offsets) as number[]).map((r) => b.rid0 + r);
}

/** Readings of one point and value type of one message, while being grouped. */
export interface Group {
  pt: number;
  bool: boolean;
  rids: number[];
  ts: number[];
  vals: number[];
}

/** A group's readings as INSERT parameters, in blocks of at most `BLOCK_MAX`. */
export function pushBlocks(out: SqlValue[], g: Group, src: number, gw: number, at: number): number {
  if (g.rids.length === 1) {
    const [rid, ts, v] = [g.rids[0]!, g.ts[0]!, g.vals[0]!];
    out.push(src, g.pt, gw, rid, rid, 1, ts, ts, g.bool ? 1 : 0, at, '[0]', '[0]', `[${v}]`);
    return 1;
  }
  let blocks = 0;
  for (let i = 0; i < g.rids.length; i += BLOCK_MAX, blocks++) {
    const rids = g.rids.slice(i, i + BLOCK_MAX);
    const ts = g.ts.slice(i, i + BLOCK_MAX);
    const vals = g.vals.slice(i, i + BLOCK_MAX);
    let rid0 = rids[0]!;
    let rid1 = rid0;
    let ts0 = ts[0]!;
    let ts1 = ts0;
    for (let j = 1; j < rids.length; j++) {
      const r = rids[j]!;
      const t = ts[j]!;
      if (r < rid0) rid0 = r;
      else if (r > rid1) rid1 = r;
      if (t < ts0) ts0 = t;
      else if (t > ts1) ts1 = t;
    }
    for (let j = 0; j < rids.length; j++) {
      rids[j]! -= rid0;
      ts[j]! -= ts0;
    }
    out.push(
      src,
      g.pt,
      gw,
      rid0,
      rid1,
      rids.length,
      ts0,
      ts1,
      g.bool ? 1 : 0,
      at,
      `[${rids.join(',')}]`,
      `[${ts.join(',')}]`,
      `[${vals.join(',')}]`,
    );
  }
  return blocks;
}
