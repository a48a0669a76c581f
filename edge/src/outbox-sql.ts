import type { Db } from '../../common/sqlite.js';
import { RANK } from './outbox-classes.js';

export const SCHEMA = `
  CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cls INTEGER NOT NULL,
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

/** SQL that turns a stored body into its wire item (the outbox's older telemetry rows, alarms). */
export const SPLICE_ID_TS = `CASE WHEN length(body) > 2 THEN substr(body, 1, length(body) - 1) || ',' ELSE '{' END
  || '"id":' || id || ',"ts":' || ts || '}'`;

/** The wire item of one telemetry row, as stored. */
export const wireItem = (body: string, id: number, ts: number): string =>
  `${body.length > 2 ? `${body.slice(0, -1)},` : '{'}"id":${id},"ts":${ts}}`;

/**
 * Outboxes written before priority classes (`kind`, readings only) keep their rows and ids; outboxes
 * written before wire-form telemetry get their telemetry bodies rewritten once.
 */
export async function migrate(db: Db): Promise<void> {
  await migrateClasses(db);
  const format = await db.get<{ v: string }>(`SELECT v FROM meta WHERE k = 'format'`);
  if (Number(format?.v ?? 0) >= WIRE_FORMAT) return;
  await db.transaction(async (d) => {
    await d.run(`UPDATE outbox SET body = ${SPLICE_ID_TS} WHERE cls = ${RANK.telemetry}`);
    await d.run(`INSERT OR REPLACE INTO meta (k, v) VALUES ('format', ?)`, [String(WIRE_FORMAT)]);
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

type Gone = { cls: number; bytes: number }[];

/** What eviction must leave alone: rows taken and not yet confirmed. */
export interface InFlightView {
  rows(): number;
  has(clsRank: number, id: number): boolean;
}

async function deleteIds(db: Db, ids: readonly number[], counter: string): Promise<Gone> {
  if (ids.length === 0) return [];
  return db.transaction(async (d) => {
    const out: Gone = [];
    for (let i = 0; i < ids.length; i += 900) {
      const chunk = ids.slice(i, i + 900);
      out.push(
        ...(await d.all<Gone[number]>(
          `DELETE FROM outbox WHERE id IN (${chunk.map(() => '?').join(',')}) RETURNING cls, bytes`,
          chunk,
        )),
      );
    }
    await d.run(`INSERT OR IGNORE INTO meta (k, v) VALUES (?, '0')`, [counter]);
    await d.run(`UPDATE meta SET v = CAST(CAST(v AS INTEGER) + ? AS TEXT) WHERE k = ?`, [
      out.length,
      counter,
    ]);
    return out;
  });
}

/**
 * Make room in the telemetry class by about `n` rows: the oldest 2n rows not in flight are thinned to
 * every other reading of each point (downsampling). Where that frees nothing (each point appears
 * once), the oldest n rows are dropped.
 */
export async function evictTelemetry(db: Db, n: number, inflight: InFlightView): Promise<Gone> {
  const window = (
    await db.all<{ id: number; key: string | null }>(
      `SELECT id, key FROM outbox WHERE cls = ${RANK.telemetry} ORDER BY id LIMIT ?`,
      [2 * n + inflight.rows()],
    )
  ).filter((r) => !inflight.has(RANK.telemetry, r.id));
  if (window.length === 0) return [];
  const seen = new Map<string, number>();
  const thin: number[] = [];
  for (const r of window) {
    const k = r.key ?? String(r.id);
    const i = seen.get(k) ?? 0;
    seen.set(k, i + 1);
    if (i % 2 === 1) thin.push(r.id);
  }
  const ids = thin.length > 0 ? thin : window.slice(0, n).map((r) => r.id);
  return deleteIds(db, ids, 'evicted.telemetry');
}

/** Drop the oldest `n` event-class rows not in flight. */
export async function evictEvents(db: Db, n: number, inflight: InFlightView): Promise<Gone> {
  const rows = await db.all<{ id: number }>(
    `SELECT id FROM outbox WHERE cls = ${RANK.event} ORDER BY id LIMIT ?`,
    [n + inflight.rows()],
  );
  return deleteIds(
    db,
    rows
      .filter((r) => !inflight.has(RANK.event, r.id))
      .map((r) => r.id)
      .slice(0, n),
    'evicted.events',
  );
}
