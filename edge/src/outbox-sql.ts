import type { Db } from '../../common/sqlite.js';
import { BLOCK, thinWindow, type BlockRow } from './outbox-blocks.js';
import { RANK } from './outbox-classes.js';

export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cls INTEGER NOT NULL,
    n INTEGER NOT NULL DEFAULT 1,
    channel TEXT NOT NULL,
    key TEXT,
    body TEXT NOT NULL,
    ts INTEGER NOT NULL,
    bytes INTEGER NOT NULL
  );`;

/**
 * Telemetry, nearly every row, has no index: its queries walk the rowid (`id`) range, so putting and
 * deleting a reading touches one B-tree. The rare alarm and event rows have partial indexes, so
 * finding them never scans telemetry. Queries name the class as a literal (`cls = 0`), which is
 * what lets SQLite use a partial index.
 */
export const INDEXES = `
  DROP INDEX IF EXISTS outbox_by_class;
  CREATE INDEX IF NOT EXISTS outbox_alarms ON outbox (id) WHERE cls = ${RANK.alarm};
  CREATE INDEX IF NOT EXISTS outbox_events ON outbox (id) WHERE cls = ${RANK.event};`;

/**
 * Telemetry bodies are stored in wire form: the reading with its `id` and `ts` spliced in at the end
 * (`{"device":…,"id":7,"ts":…}`), so taking a batch is a plain `group_concat(body)`. `bytes` still
 * counts the reading without them (the id and ts columns were always part of the row overhead).
 */
export const WIRE_FORMAT = 2;

/**
 * Telemetry rows are blocks of up to BLOCK readings (outbox-blocks.ts), `n` readings each; `bytes` is
 * the sum over the row's readings. Older rows are blocks of one (`n` defaults to 1), ids unchanged.
 */
export const BLOCK_FORMAT = 3;

/** SQL that turns a stored body into its wire item (the outbox's older telemetry rows, alarms). */
export const SPLICE_ID_TS = `CASE WHEN length(body) > 2 THEN substr(body, 1, length(body) - 1) || ',' ELSE '{' END
  || '"id":' || id || ',"ts":' || ts || '}'`;

/**
 * Outboxes written before priority classes (`kind`, readings only) keep their rows and ids; outboxes
 * written before wire-form telemetry get their telemetry bodies rewritten once; outboxes from before
 * blocks get the `n` column (each of their rows is a block of one, its reading's id the row id).
 */
export async function migrate(db: Db): Promise<void> {
  await migrateClasses(db);
  const cols = await db.all<{ name: string }>('PRAGMA table_info(outbox)');
  if (!cols.some((c) => c.name === 'n'))
    await db.exec('ALTER TABLE outbox ADD COLUMN n INTEGER NOT NULL DEFAULT 1');
  const format = Number((await db.get<{ v: string }>(`SELECT v FROM meta WHERE k = 'format'`))?.v ?? 0);
  if (format >= BLOCK_FORMAT) return;
  await db.transaction(async (d) => {
    if (format < WIRE_FORMAT)
      await d.run(`UPDATE outbox SET body = ${SPLICE_ID_TS} WHERE cls = ${RANK.telemetry}`);
    await d.run(`INSERT OR REPLACE INTO meta (k, v) VALUES ('format', ?)`, [String(BLOCK_FORMAT)]);
  });
}

async function migrateClasses(db: Db): Promise<void> {
  const cols = await db.all<{ name: string }>('PRAGMA table_info(outbox)');
  if (!cols.some((c) => c.name === 'kind')) return;
  await db.transaction(async (d) => {
    await d.exec(`ALTER TABLE outbox RENAME TO outbox_v0; DROP INDEX IF EXISTS outbox_by_class;`);
    await d.exec(SCHEMA);
    await d.run(
      `INSERT INTO outbox (id, cls, channel, key, body, ts, bytes)
       SELECT id, ?, 'telemetry', json_extract(body, '$.device') || '.' || json_extract(body, '$.point'),
              body, ts, length(body) FROM outbox_v0 ORDER BY id`,
      [RANK.telemetry],
    );
    await d.exec('DROP TABLE outbox_v0');
  });
}

/** What an eviction removed: readings (rows of one for events) and their body bytes. */
export interface Gone {
  cls: number;
  readings: number;
  bytes: number;
}

/** What eviction must leave alone: rows taken and not yet confirmed. */
export interface InFlightView {
  rows(): number;
  has(clsRank: number, id: number): boolean;
}

async function countEvicted(db: Db, counter: string, n: number): Promise<void> {
  await db.run(`INSERT OR IGNORE INTO meta (k, v) VALUES (?, '0')`, [counter]);
  await db.run(`UPDATE meta SET v = CAST(CAST(v AS INTEGER) + ? AS TEXT) WHERE k = ?`, [n, counter]);
}

async function deleteRows(db: Db, ids: readonly number[]): Promise<{ n: number; bytes: number }[]> {
  const out: { n: number; bytes: number }[] = [];
  for (let i = 0; i < ids.length; i += 900) {
    const chunk = ids.slice(i, i + 900);
    out.push(
      ...(await db.all<{ n: number; bytes: number }>(
        `DELETE FROM outbox WHERE id IN (${chunk.map(() => '?').join(',')}) RETURNING n, bytes`,
        chunk,
      )),
    );
  }
  return out;
}

/**
 * The oldest telemetry rows not in flight, oldest first, until they hold `readings` readings (or the
 * class ends). Paged: in-flight rows are skipped, and a row holds between 1 and BLOCK readings.
 */
async function oldestRows(db: Db, readings: number, inflight: InFlightView): Promise<BlockRow[]> {
  const out: BlockRow[] = [];
  let have = 0;
  let after = 0;
  for (let page = Math.ceil(readings / BLOCK) + 4; have < readings; page *= 2) {
    const rows = await db.all<BlockRow>(
      `SELECT id, n, body, ts, bytes FROM outbox WHERE cls = ${RANK.telemetry} AND id > ? ORDER BY id LIMIT ?`,
      [after, page],
    );
    for (const r of rows) {
      after = r.id;
      if (inflight.has(RANK.telemetry, r.id)) continue;
      out.push(r);
      if ((have += r.n) >= readings) break;
    }
    if (rows.length < page) break;
  }
  return out;
}

/**
 * Make room in the telemetry class by about `n` readings: the oldest rows not in flight holding 2n
 * readings are thinned to every other reading of each point (downsampling; rows rewritten in place,
 * ids kept). Where that frees nothing (each point appears once), the oldest rows are dropped whole.
 * One transaction, the evicted-readings counter included.
 */
export async function evictTelemetry(db: Db, n: number, inflight: InFlightView): Promise<Gone[]> {
  const window = await oldestRows(db, 2 * n, inflight);
  if (window.length === 0) return [];
  const t = thinWindow(window, n);
  if (t.readings === 0) return [];
  return db.transaction(async (d) => {
    await deleteRows(d, t.deletes);
    for (const u of t.updates)
      await d.run(`UPDATE outbox SET n = ?, body = ?, ts = ?, bytes = ? WHERE id = ?`, [
        u.n,
        u.body,
        u.ts,
        u.bytes,
        u.id,
      ]);
    await countEvicted(d, 'evicted.telemetry', t.readings);
    return [{ cls: RANK.telemetry, readings: t.readings, bytes: t.bytes }];
  });
}

/** Drop the oldest `n` event-class rows not in flight (one item each). */
export async function evictEvents(db: Db, n: number, inflight: InFlightView): Promise<Gone[]> {
  const rows = await db.all<{ id: number }>(
    `SELECT id FROM outbox WHERE cls = ${RANK.event} ORDER BY id LIMIT ?`,
    [n + inflight.rows()],
  );
  const ids = rows
    .filter((r) => !inflight.has(RANK.event, r.id))
    .map((r) => r.id)
    .slice(0, n);
  if (ids.length === 0) return [];
  return db.transaction(async (d) => {
    const gone = await deleteRows(d, ids);
    const readings = gone.reduce((s, g) => s + g.n, 0);
    await countEvicted(d, 'evicted.events', readings);
    return [{ cls: RANK.event, readings, bytes: gone.reduce((s, g) => s + g.bytes, 0) }];
  });
}
