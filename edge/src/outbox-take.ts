/** Taking batches from the outbox's rows: SQL that reads, no state (the Outbox keeps cursors and in-flight). */
import type { Db } from '../../common/sqlite.js';
import { BLOCK, packBatches } from './outbox-blocks.js';
import { OutboxBatch, OutboxRow } from './outbox-batch.js';
import { BATCHED, RANK, type OutboxChannel } from './outbox-classes.js';
import { SPLICE_ID_TS } from './outbox-sql.js';

/**
 * Telemetry rows after `after` (up to `upTo`): whole blocks packed into batches (`packBatches`),
 * planned from the rows' ids and sizes alone, then joined by SQLite (`group_concat` of the stored
 * wire items), one UNION ALL branch per batch over its id range, so several batches come from one
 * statement and one snapshot. The plan is paged: a block holds 1 to BLOCK readings.
 */
export async function takeTelemetry(
  db: Db,
  after: number,
  upTo: number,
  perBatch: number,
  batches: number,
  backlog: boolean,
  total = perBatch * batches,
): Promise<OutboxBatch[]> {
  const end = Number.isFinite(upTo) ? upTo : Number.MAX_SAFE_INTEGER;
  const rows: { id: number; n: number }[] = [];
  // The first page assumes full blocks; the next one is sized by the blocks seen (small puts, old rows of one).
  let page = Math.ceil(total / BLOCK) + batches + 1;
  for (let have = 0, from = after; have < total;) {
    const got = await db.all<{ id: number; n: number }>(
      `SELECT id, n FROM outbox WHERE cls = ${RANK.telemetry} AND id > ? AND id <= ? ORDER BY id LIMIT ?`,
      [from, end, page],
    );
    for (const r of got) {
      have += r.n;
      rows.push(r);
    }
    if (got.length < page) break;
    from = got.at(-1)!.id;
    page = Math.max(page, Math.ceil(((total - have) * rows.length) / Math.max(1, have)) + batches);
  }
  const spans = packBatches(rows, perBatch, batches, total);
  if (spans.length === 0) return [];
  const joined = await db.all<{ k: number; bytes: number; items: Buffer | null }>(
    spans
      .map(
        (_, k) => `SELECT ${k} AS k, SUM(bytes) AS bytes, CAST(group_concat(body, ',') AS BLOB) AS items
          FROM outbox WHERE cls = ${RANK.telemetry} AND id BETWEEN ? AND ?`,
      )
      .join(' UNION ALL '),
    spans.flatMap((s) => [s.first, s.last]),
  );
  joined.sort((a, b) => a.k - b.k);
  return spans.map((s, k) => {
    const r = joined[k]!;
    return new OutboxBatch(
      'telemetry',
      'telemetry',
      backlog,
      s.first,
      s.last,
      s.n,
      r.bytes,
      r.items ?? undefined,
      undefined,
    );
  });
}

/**
 * Alarms: SQLite splices `id` and `ts` into each stored body and joins the wire items of the batch
 * (`group_concat`), so no per-row objects are made. An ORDER BY inside group_concat would sort the
 * rows a second time; the inner ORDER BY … LIMIT feeds the aggregate in id order.
 */
export async function takeAlarms(db: Db, after: number, limit: number): Promise<OutboxBatch | undefined> {
  const r = await db.get<{
    n: number;
    first: number;
    last: number;
    bytes: number;
    items: Buffer | null;
  }>(
    `SELECT COUNT(*) AS n, MIN(id) AS first, MAX(id) AS last, SUM(bytes) AS bytes,
       CAST(group_concat(${SPLICE_ID_TS}, ',') AS BLOB) AS items
     FROM (SELECT id, body, ts, bytes FROM outbox WHERE cls = ${RANK.alarm} AND id > ? ORDER BY id LIMIT ?)`,
    [after, limit],
  );
  if (!r || r.n === 0) return undefined;
  return new OutboxBatch(
    'alarms',
    'alarm',
    false,
    r.first,
    r.last,
    r.n,
    r.bytes,
    r.items ?? undefined,
    undefined,
  );
}

/** The event class mixes channels: rows of the first one (one row for single-item channels). */
export async function takeEvents(db: Db, after: number, limit: number): Promise<OutboxBatch | undefined> {
  const rows = await db.all<{
    id: number;
    channel: OutboxChannel;
    body: string;
    ts: number;
    bytes: number;
  }>(
    `SELECT id, channel, body, ts, bytes FROM outbox WHERE cls = ${RANK.event} AND id > ? ORDER BY id LIMIT ?`,
    [after, limit],
  );
  if (rows.length === 0) return undefined;
  const channel = rows[0]!.channel;
  let end = rows.findIndex((r) => r.channel !== channel);
  if (end < 0) end = rows.length;
  if (!BATCHED.has(channel)) end = 1;
  const taken = rows.slice(0, end);
  const b = new OutboxBatch(
    channel,
    'event',
    false,
    taken[0]!.id,
    taken.at(-1)!.id,
    taken.length,
    taken.reduce((n, r) => n + r.bytes, 0),
    undefined,
    taken.map((r) => new OutboxRow(r.id, r.ts, r.body)),
  );
  return b;
}
