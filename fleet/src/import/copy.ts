/**
 * Row copying for `citygate fleet import`, inside the caller's PostgreSQL transaction: tables whose
 * schema is the same on both engines are copied column by column (SQLite's 0/1 becomes boolean
 * where PostgreSQL's column is one), read in primary-key order a page at a time; telemetry blocks
 * (fleet.db) are unpacked into PostgreSQL's one row per reading, with the hourly roll-up the
 * PostgreSQL store's write path uses (`ROLL_UP_INSERTED`, fleet/src/pg/apply.ts).
 */
import type { Db, SqlDb, SqlValue } from '../../../common/sqlite.js';
import { ROLL_UP_INSERTED } from '../pg/apply.js';
import { unpack } from '../store-blocks.js';

const PAGE = 2000;
/** Bound parameters per PostgreSQL statement stay well below its 65535. */
const MAX_PARAMS = 30_000;

const q = (name: string): string => `"${name.replace(/"/g, '""')}"`;

export type Progress = (what: string, done: number, total: number) => void;

/** Columns of a PostgreSQL table and their types (`boolean`, `bigint`, …). */
export async function pgColumns(pgDb: SqlDb, table: string): Promise<Map<string, string>> {
  const rows = await pgDb.all<{ column_name: string; data_type: string }>(
    `SELECT column_name, data_type FROM information_schema.columns
     WHERE table_schema = current_schema() AND table_name = $1`,
    [table],
  );
  return new Map(rows.map((r) => [r.column_name, r.data_type]));
}

async function insertRows(
  pgDb: SqlDb,
  table: string,
  cols: readonly string[],
  rows: readonly SqlValue[][],
): Promise<void> {
  const per = Math.max(1, Math.floor(MAX_PARAMS / cols.length));
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    let n = 0;
    const tuples = chunk.map(() => `(${cols.map(() => `$${++n}`).join(', ')})`);
    await pgDb.run(
      `INSERT INTO ${q(table)} (${cols.map(q).join(', ')}) VALUES ${tuples.join(', ')}`,
      chunk.flat(),
    );
  }
}

/**
 * Copy `table` from SQLite into the PostgreSQL table of the same name (the columns both have).
 * Returns the rows copied. Keyset pages on the primary key (rowid when there is none).
 */
export async function copyTable(src: Db, pgDb: SqlDb, table: string, progress?: Progress): Promise<number> {
  const info = await src.all<{ name: string; pk: number }>(`PRAGMA table_info(${q(table)})`);
  const pgCols = await pgColumns(pgDb, table);
  const cols = info.map((c) => c.name).filter((c) => pgCols.has(c));
  if (cols.length === 0) throw new Error(`table ${table}: no columns in common with PostgreSQL's ${table}`);
  const pk = info
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  const keyCols = pk.length > 0 ? pk : ['rowid'];
  const bools = cols.map((c) => pgCols.get(c) === 'boolean');
  const total = (await src.get<{ n: number }>(`SELECT count(*) AS n FROM ${q(table)}`))?.n ?? 0;
  const keyList = keyCols.map((c) => (c === 'rowid' ? c : q(c))).join(', ');
  let last: SqlValue[] | undefined;
  let done = 0;
  for (;;) {
    const where = last ? `WHERE (${keyList}) > (${keyCols.map(() => '?').join(', ')})` : '';
    const rows = await src.all<Record<string, SqlValue>>(
      `SELECT ${cols.map(q).join(', ')}, ${keyCols.map((c, i) => `${c === 'rowid' ? c : q(c)} AS k${i}`).join(', ')}
       FROM ${q(table)} ${where} ORDER BY ${keyList} LIMIT ${PAGE}`,
      last ?? [],
    );
    if (rows.length === 0) break;
    await insertRows(
      pgDb,
      table,
      cols,
      rows.map((r) =>
        cols.map((c, i) => {
          const v = r[c] ?? null;
          return bools[i] && v !== null ? (Number(v) !== 0 ? 'true' : 'false') : v;
        }),
      ),
    );
    const end = rows[rows.length - 1]!;
    last = keyCols.map((_, i) => end[`k${i}`] ?? null);
    done += rows.length;
    progress?.(table, done, total);
    if (rows.length < PAGE) break;
  }
  return done;
}

interface BlockRow {
  id: number;
  gateway: string;
  epoch: string;
  device: string;
  point: string;
  unit: string;
  is_bool: number;
  received: number;
  rid0: number;
  ts0: number;
  rid_offsets: string;
  ts_offsets: string;
  vals: string;
}

/** Days (since 1970-01-01 UTC) that fleet.db's readings fall on, for PostgreSQL's daily partitions. */
export async function readingDays(src: Db): Promise<number[]> {
  const rows = await src.all<{ d0: number; d1: number }>(
    'SELECT DISTINCT ts0 / 86400000 AS d0, ts1 / 86400000 AS d1 FROM blocks',
  );
  const days = new Set<number>();
  for (const r of rows) for (let d = r.d0; d <= r.d1; d++) days.add(d);
  return [...days].sort((a, b) => a - b);
}

/**
 * Every reading of fleet.db's blocks into `readings` (original ids, timestamps, values, receive
 * times) and its hourly roll-up into `readings_hourly`. Partitions must exist. Returns readings copied.
 */
export async function copyReadings(src: Db, pgDb: SqlDb, progress?: Progress): Promise<number> {
  const total = (await src.get<{ n: number | null }>('SELECT sum(n) AS n FROM blocks'))?.n ?? 0;
  let after = -1;
  let done = 0;
  for (;;) {
    const blocks = await src.all<BlockRow>(
      `SELECT b.id, g.gateway, s.epoch, p.device, p.point, p.unit, b.is_bool, b.received, b.rid0, b.ts0,
              b.rid_offsets, b.ts_offsets, b.vals
       FROM blocks b JOIN sources s ON s.id = b.src JOIN points p ON p.id = b.pt JOIN gateway_keys g ON g.id = b.gw
       WHERE b.id > ? ORDER BY b.id LIMIT ${PAGE}`,
      [after],
    );
    if (blocks.length === 0) break;
    const cols: SqlValue[][] = [[], [], [], [], [], [], [], [], [], []];
    for (const b of blocks)
      for (const r of unpack(b)) {
        const row: SqlValue[] = [
          b.gateway,
          b.epoch,
          r.rid,
          b.device,
          b.point,
          r.value,
          b.is_bool ? 'true' : 'false',
          b.unit === '' ? null : b.unit,
          r.ts,
          b.received,
        ];
        row.forEach((v, k) => cols[k]!.push(v));
      }
    await pgDb.run(
      `WITH ins AS (
         INSERT INTO readings (gateway, epoch, rid, device, point, value, is_bool, unit, ts, received)
         SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::float8[],
           $7::bool[], $8::text[], $9::bigint[], $10::bigint[])
         RETURNING gateway, device, point, ts, value, unit)
       ${ROLL_UP_INSERTED}`,
      cols as unknown as SqlValue[],
    );
    done += cols[0]!.length;
    after = blocks[blocks.length - 1]!.id;
    progress?.('readings', done, total);
    if (blocks.length < PAGE) break;
  }
  return done;
}
