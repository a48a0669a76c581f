/**
 * Telemetry in blocks: pure decisions about block rows (how readings become rows, which rows make a
 * batch, how a window of old rows is thinned). The SQL around them lives in outbox-sql.ts and outbox.ts.
 *
 * A telemetry row holds up to BLOCK readings of one put, already in wire form (`{…,"id":N,"ts":T},{…}`),
 * so taking a batch is `group_concat(body)` over rows. A row's id is the id of its last reading: reading
 * ids come from the same ascending sequence as row ids (AUTOINCREMENT, so `sqlite_sequence` is the
 * counter, persisted in the transaction that commits the row), and a row holds exactly the readings with
 * ids in (previous row's id, its id]. Older outboxes, one reading per row, are blocks of one.
 */

/**
 * Readings per telemetry row, at most. 100: a row is ~8 KB of wire items (a few SQLite pages), the
 * default message of 500 readings is five whole rows, and eviction drops at most 100 readings at once
 * where thinning frees nothing; the per-row costs (B-tree insert and delete, in-flight bookkeeping)
 * shrink a hundredfold.
 */
export const BLOCK = 100;

/** The wire item of one reading: its body with `id` and `ts` spliced in at the end. */
export const wireItem = (body: string, id: number, ts: number): string =>
  `${body.length > 2 ? `${body.slice(0, -1)},` : '{'}"id":${id},"ts":${ts}}`;

/** One telemetry row as stored: `bytes` counts the readings' bodies without their id and ts. */
export interface BlockRow {
  id: number;
  n: number;
  body: string;
  /** The oldest reading's time (health reports the age of the oldest unsent row). */
  ts: number;
  bytes: number;
}

/** Readings (body and time) as block rows with ids after `lastId`, in put order. */
export function toBlocks(
  items: readonly { body: Record<string, unknown>; ts: number }[],
  lastId: number,
  block = BLOCK,
): { rows: BlockRow[]; lastId: number } {
  const rows: BlockRow[] = [];
  let id = lastId;
  for (let i = 0; i < items.length; i += block) {
    const parts: string[] = [];
    let bytes = 0;
    let ts = Infinity;
    for (const item of items.slice(i, i + block)) {
      const body = JSON.stringify(item.body);
      bytes += body.length;
      ts = Math.min(ts, item.ts);
      parts.push(wireItem(body, ++id, item.ts));
    }
    rows.push({ id, n: parts.length, body: parts.join(','), ts, bytes });
  }
  return { rows, lastId: id };
}

/** The rows of one batch: every telemetry row with an id in [first, last]; `n` readings in all. */
export interface Span {
  first: number;
  last: number;
  n: number;
}

/**
 * Whole rows (in id order) into at most `batches` batches of at most `perBatch` readings (a row larger
 * than that goes alone), at most `total` readings in all, except that the first row is always taken
 * (a block larger than the backlog allowance must not stall the backlog; the rate limit then waits longer).
 */
export function packBatches(
  rows: readonly { id: number; n: number }[],
  perBatch: number,
  batches: number,
  total: number,
): Span[] {
  const out: Span[] = [];
  let cur: Span | undefined;
  let left = total;
  for (const r of rows) {
    if ((out.length > 0 || cur) && r.n > left) break;
    if (cur && cur.n + r.n > perBatch) {
      out.push(cur);
      cur = undefined;
      if (out.length >= batches) break;
    }
    cur ??= { first: r.id, last: r.id, n: 0 };
    cur.last = r.id;
    cur.n += r.n;
    left -= r.n;
  }
  if (cur) out.push(cur);
  return out;
}

/** What thinning does to a window of rows: rewritten rows, deleted rows, readings and bytes gone. */
export interface Thinning {
  updates: BlockRow[];
  deletes: number[];
  readings: number;
  bytes: number;
}

type WireReading = Record<string, unknown> & { id: number; ts: number };

const readingBytes = ({ id: _id, ts: _ts, ...body }: WireReading): number => JSON.stringify(body).length;

/**
 * Downsample a window of the oldest rows (oldest first): keep every other reading of each point
 * (`device.point`), counted across the window; a row left empty is deleted, others are rewritten. Where
 * that frees nothing (each point appears once), whole rows are dropped, oldest first, until `target`
 * readings went.
 */
export function thinWindow(rows: readonly BlockRow[], target: number): Thinning {
  const out: Thinning = { updates: [], deletes: [], readings: 0, bytes: 0 };
  const seen = new Map<string, number>();
  for (const r of rows) {
    const items = JSON.parse(`[${r.body}]`) as WireReading[];
    const kept = items.filter((it) => {
      // A reading without a device and point is a series of its own: never thinned, dropped whole.
      const key =
        typeof it.device === 'string' && typeof it.point === 'string'
          ? `${it.device}.${it.point}`
          : `#${it.id}`;
      const i = seen.get(key) ?? 0;
      seen.set(key, i + 1);
      return i % 2 === 0;
    });
    if (kept.length === items.length) continue;
    out.readings += r.n - kept.length;
    if (kept.length === 0) {
      out.deletes.push(r.id);
      out.bytes += r.bytes;
      continue;
    }
    const bytes = kept.reduce((s, it) => s + readingBytes(it), 0);
    const ts = kept.reduce((m, it) => Math.min(m, it.ts), Infinity);
    out.updates.push({
      id: r.id,
      n: kept.length,
      body: kept.map((it) => JSON.stringify(it)).join(','),
      ts,
      bytes,
    });
    out.bytes += r.bytes - bytes;
  }
  if (out.readings > 0) return out;
  for (const r of rows) {
    if (out.readings >= target) break;
    out.deletes.push(r.id);
    out.readings += r.n;
    out.bytes += r.bytes;
  }
  return out;
}
