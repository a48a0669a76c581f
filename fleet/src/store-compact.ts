/**
 * Compaction of `blocks` (store-blocks.ts), as a TSDB does: live telemetry arrives in small
 * messages (one poll cycle, each point once), so each block holds one reading. Once settled, the
 * small blocks of one (source, point, value type) whose readings all lie in one hour that has ended
 * are rewritten as blocks of up to `BLOCK_MAX` readings, sorted by ts then reading id. Every reading keeps its
 * id, ts, value and value type; `received` of a merged block is the latest `received` of the blocks
 * whose readings it holds (a reading's `receivedAt` can only move later, by at most the rest of its
 * hour plus the settle time). Dedupe stays exact: it compares reading ids, whatever block holds them.
 */
import type { Db, SqlValue } from '../../common/sqlite.js';
import { BLOCK_MAX, insertBlockRows, PER_INSERT, pushBlocks, unpack, type Group } from './store-blocks.js';

export const HOUR_MS = 3_600_000;

/**
 * Where the next compaction scan starts (a block rowid), kept across restarts so a large file is
 * not scanned whole at every start. Losing the last update only means scanning a little again.
 */
export const COMPACTION_SCHEMA = `
  CREATE TABLE IF NOT EXISTS compaction (id INTEGER PRIMARY KEY CHECK (id = 0), next_block INTEGER NOT NULL);`;

export async function loadMark(db: Db): Promise<number> {
  return (
    (await db.get<{ next: number }>('SELECT next_block AS next FROM compaction WHERE id = 0'))?.next ?? 0
  );
}

export async function saveMark(db: Db, next: number): Promise<void> {
  await db.run(
    'INSERT INTO compaction (id, next_block) VALUES (0, ?) ON CONFLICT (id) DO UPDATE SET next_block = excluded.next_block',
    [next],
  );
}

export interface CompactOptions {
  /** Only blocks received at least this long before `now` are merged (default 10 min). */
  settleMs?: number;
  /** Source blocks rewritten per transaction at most (default 5,000; a larger single bucket goes alone). */
  perTransaction?: number;
  /** Stop starting new transactions after this much wall time in one call (default 5 s). */
  budgetMs?: number;
  /** Wall time in ms, for the budget only (default `performance.now`). */
  elapsed?: () => number;
}

export interface CompactResult {
  /** Small blocks merged away (deleted). */
  merged: number;
  /** Blocks written in their place. */
  written: number;
  /** Readings rewritten. */
  readings: number;
  transactions: number;
  /** Buckets left as they are because a block in them cannot be read, with what and where (first 10). */
  skipped: string[];
  /** False when the budget ran out with work left (the next call goes on). */
  done: boolean;
}

/** A bucket that may hold at least two mergeable blocks. */
interface Bucket {
  src: number;
  pt: number;
  isBool: number;
  hour: number;
  /** Mergeable blocks seen by the scan (a lower bound: older ones are found in the transaction). */
  seen: number;
  /** Rowid of the first of them. */
  first: number;
}

interface ScanRow {
  id: number;
  src: number;
  pt: number;
  is_bool: number;
  n: number;
  ts0: number;
  ts1: number;
  received: number;
}

interface SourceBlock {
  id: number;
  gw: number;
  n: number;
  received: number;
  rid0: number;
  ts0: number;
  rid_offsets: string;
  ts_offsets: string;
  vals: string;
}

const SCAN_PAGE = 20_000;

const hourEnd = (ts: number): number => (Math.floor(ts / HOUR_MS) + 1) * HOUR_MS;

/**
 * Scans blocks added since the last call (by rowid, from `from`) for settled small blocks inside one
 * hour; returns their buckets and the rowid to start from next time: the first unsettled block's,
 * so it is looked at again once settled. Older blocks of a bucket are found in the transaction.
 */
export async function scanBuckets(
  db: Db,
  from: number,
  settledBy: number,
): Promise<{ buckets: Bucket[]; next: number }> {
  const buckets = new Map<string, Bucket>();
  let next: number | undefined;
  let after = from - 1;
  for (;;) {
    const rows = await db.all<ScanRow>(
      `SELECT id, src, pt, is_bool, n, ts0, ts1, received FROM blocks WHERE id > ? ORDER BY id LIMIT ?`,
      [after, SCAN_PAGE],
    );
    for (const r of rows) {
      // Unsettled, or in an hour that has not ended yet (more of it may come): look again later,
      // so an hour is merged once, not rewritten at every run while it fills. A block stamped far
      // in the future (a device with a wrong clock) does not hold the scan back.
      const open = hourEnd(r.ts1) > settledBy && r.ts1 <= settledBy + HOUR_MS;
      if (r.received > settledBy || open) {
        next ??= r.id;
        continue;
      }
      const hour = Math.floor(r.ts0 / HOUR_MS);
      if (r.n >= BLOCK_MAX || Math.floor(r.ts1 / HOUR_MS) !== hour) continue;
      const k = `${r.src},${r.pt},${r.is_bool},${hour}`;
      const b = buckets.get(k);
      if (b) b.seen++;
      else buckets.set(k, { src: r.src, pt: r.pt, isBool: r.is_bool, hour, seen: 1, first: r.id });
    }
    if (rows.length > 0) after = rows[rows.length - 1]!.id;
    if (rows.length < SCAN_PAGE) break;
  }
  return { buckets: [...buckets.values()], next: next ?? after + 1 };
}

/** The settled small blocks of a bucket, via `blocks_by_point`. */
function bucketBlocks(db: Db, b: Bucket, settledBy: number): Promise<SourceBlock[]> {
  const lo = b.hour * HOUR_MS;
  return db.all<SourceBlock>(
    `SELECT id, gw, n, received, rid0, ts0, rid_offsets, ts_offsets, vals FROM blocks
     WHERE pt = ? AND ts1 >= ? AND ts1 < ? AND ts0 >= ? AND src = ? AND is_bool = ? AND n < ? AND received <= ?`,
    [b.pt, lo, lo + HOUR_MS, lo, b.src, b.isBool, BLOCK_MAX, settledBy],
  );
}

/** One reading while merging, with the `received` of its block. */
interface Item {
  rid: number;
  ts: number;
  value: number;
  received: number;
}

/** A bucket's readings into `items`; what is wrong when a block cannot be read (nothing is written then). */
function readAll(blocks: readonly SourceBlock[], items: Item[]): string | undefined {
  for (const blk of blocks) {
    let rs;
    try {
      rs = unpack(blk);
    } catch (err) {
      return `block ${blk.id}: ${err instanceof Error ? err.message : String(err)}`;
    }
    if (rs.length !== blk.n) return `block ${blk.id} holds ${rs.length} readings, its n says ${blk.n}`;
    for (const r of rs) items.push({ rid: r.rid, ts: r.ts, value: r.value, received: blk.received });
  }
  return undefined;
}

/**
 * Merge the given buckets in one transaction. A bucket is rewritten only when that leaves fewer
 * blocks than it has (two half-full blocks stay as they are).
 */
async function mergeBuckets(
  db: Db,
  buckets: readonly Bucket[],
  settledBy: number,
): Promise<Omit<CompactResult, 'transactions' | 'done'>> {
  const out = { merged: 0, written: 0, readings: 0, skipped: [] as string[] };
  const params: SqlValue[] = [];
  const gone: number[] = [];
  let pending = 0;
  const flush = async (): Promise<void> => {
    await insertBlockRows(db, params, pending);
    params.length = 0;
    pending = 0;
  };
  for (const b of buckets) {
    const blocks = await bucketBlocks(db, b, settledBy);
    const total = blocks.reduce((s, x) => s + x.n, 0);
    const after = Math.ceil(total / BLOCK_MAX);
    if (blocks.length < 2 || after >= blocks.length) continue;
    const items: Item[] = [];
    const bad = readAll(blocks, items);
    if (bad !== undefined) {
      out.skipped.push(`point key ${b.pt}, hour from ${new Date(b.hour * HOUR_MS).toISOString()}: ${bad}`);
      continue;
    }
    items.sort((x, y) => x.ts - y.ts || x.rid - y.rid);
    const gw = blocks[0]!.gw;
    if (pending + after > PER_INSERT) await flush();
    for (let i = 0; i < items.length; i += BLOCK_MAX) {
      const chunk = items.slice(i, i + BLOCK_MAX);
      const g: Group = {
        pt: b.pt,
        bool: b.isBool === 1,
        rids: chunk.map((x) => x.rid),
        ts: chunk.map((x) => x.ts),
        vals: chunk.map((x) => x.value),
      };
      pending += pushBlocks(params, g, b.src, gw, Math.max(...chunk.map((x) => x.received)));
    }
    for (const blk of blocks) gone.push(blk.id);
    out.merged += blocks.length;
    out.written += after;
    out.readings += total;
  }
  await flush();
  for (let i = 0; i < gone.length; i += 30_000) {
    const ids = gone.slice(i, i + 30_000);
    await db.run(`DELETE FROM blocks WHERE id IN (${ids.map(() => '?').join(',')})`, ids);
  }
  return out;
}

/**
 * Compact: scan blocks added since rowid `from`, then merge their buckets in transactions of at most
 * `perTransaction` source blocks (as the scan counted them) until done or the budget is used.
 * Returns the counts and the rowid the next call starts from (when the budget ran out: the first
 * block of the buckets not reached, so they are scanned again).
 */
export async function compactBlocks(
  db: Db,
  now: number,
  from: number,
  o: CompactOptions = {},
): Promise<CompactResult & { next: number }> {
  const settledBy = now - (o.settleMs ?? 600_000);
  const perTx = o.perTransaction ?? 5000;
  const budget = o.budgetMs ?? 5000;
  const elapsed = o.elapsed ?? (() => performance.now());
  const start = elapsed();
  const { buckets, next } = await scanBuckets(db, from, settledBy);
  const res: CompactResult = { merged: 0, written: 0, readings: 0, transactions: 0, done: true, skipped: [] };
  let i = 0;
  while (i < buckets.length) {
    if (res.transactions > 0 && elapsed() - start >= budget) {
      res.done = false;
      const rest = buckets.slice(i).reduce((m, b) => Math.min(m, b.first), next);
      return { ...res, next: rest };
    }
    const chunk: Bucket[] = [];
    let blocks = 0;
    // A bucket seen once by the scan may still pair with an older block: it is looked at too.
    while (i < buckets.length && (chunk.length === 0 || blocks + buckets[i]!.seen <= perTx)) {
      blocks += buckets[i]!.seen;
      chunk.push(buckets[i++]!);
    }
    const r = await db.transaction((tx) => mergeBuckets(tx, chunk, settledBy));
    res.merged += r.merged;
    res.written += r.written;
    res.readings += r.readings;
    res.skipped.push(...r.skipped.slice(0, 10 - res.skipped.length));
    res.transactions++;
  }
  return { ...res, next };
}
