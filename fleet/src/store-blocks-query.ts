/**
 * Telemetry queries over `blocks` (store-blocks.ts): blocks are found through their indexes, their
 * readings expanded and filtered here. Newest-first queries walk blocks by `ts1` descending in pages
 * and stop once no further block can change the answer, so a small `limit` reads a few blocks.
 */
import type { Db } from '../../common/sqlite.js';
import { unpack, type PackedBlock } from './store-blocks.js';
import { newestPerPoint, toReading, type ReadingRow } from './store-rows.js';
import type { StoredReading, TelemetryBucket, TelemetryQuery } from './store.js';

interface PointName {
  device: string;
  point: string;
  unit: string;
}

interface BlockRow extends PackedBlock, PointName {
  id: number;
  is_bool: number;
  received: number;
  ts1: number;
}

/** A page row: the point by key (names joined in JS), offsets NULL for a one-reading block. */
type PageRow = Omit<BlockRow, keyof PointName> & { pt: number };

const PAGE_COLUMNS = `b.id AS id, b.pt AS pt, b.is_bool AS is_bool, b.received AS received, b.ts1 AS ts1,
  b.rid0 AS rid0, b.ts0 AS ts0, CASE WHEN b.n = 1 THEN NULL ELSE b.rid_offsets END AS rid_offsets,
  CASE WHEN b.n = 1 THEN NULL ELSE b.ts_offsets END AS ts_offsets, b.vals AS vals`;

const LATEST_COLUMNS = `b.id AS id, p.device AS device, p.point AS point, p.unit AS unit, b.is_bool AS is_bool,
  b.received AS received, b.ts1 AS ts1, b.rid0 AS rid0, b.ts0 AS ts0, b.rid_offsets AS rid_offsets,
  b.ts_offsets AS ts_offsets, b.vals AS vals`;

interface Filter {
  where: string[];
  params: (string | number)[];
  /** Names of point keys, as far as known (named points up front; others looked up when met). */
  names: Map<number, PointName>;
}

/**
 * WHERE clauses over `blocks b` for a query: named points by their keys, looked up first (so SQLite
 * walks `blocks_by_point`, in ts1 order for one key), otherwise the gateway's key (`blocks_by_time`);
 * time as overlap of [ts0, ts1] with [since, until]. Undefined when no point matches.
 */
async function blockFilter(db: Db, q: TelemetryQuery): Promise<Filter | undefined> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  let pts: (PointName & { id: number })[] = [];
  if (q.device || q.point) {
    pts = await db.all<PointName & { id: number }>(
      `SELECT p.id AS id, p.device AS device, p.point AS point, p.unit AS unit FROM points p
       JOIN gateway_keys g ON g.id = p.gw
       WHERE g.gateway = ? AND (? IS NULL OR p.device = ?) AND (? IS NULL OR p.point = ?)`,
      [q.gateway, q.device ?? null, q.device ?? null, q.point ?? null, q.point ?? null],
    );
    if (pts.length === 0) return undefined;
    where.push(`b.pt IN (${pts.map(() => '?').join(',')})`);
    params.push(...pts.map((p) => p.id));
  } else {
    where.push('b.gw = (SELECT id FROM gateway_keys WHERE gateway = ?)');
    params.push(q.gateway);
  }
  for (const [clause, v] of [
    ['b.ts1 >= ?', q.since],
    ['b.ts0 <= ?', q.until],
  ] as const)
    if (v !== undefined) {
      where.push(clause);
      params.push(v);
    }
  return { where, params, names: new Map(pts.map(({ id, ...n }) => [id, n])) };
}

/** Page rows with their point names (names not known yet: one lookup for the page). */
async function named(db: Db, f: Filter, page: PageRow[]): Promise<BlockRow[]> {
  const missing = [...new Set(page.map((r) => r.pt).filter((pt) => !f.names.has(pt)))];
  for (let i = 0; i < missing.length; i += 500) {
    const ids = missing.slice(i, i + 500);
    const found = await db.all<PointName & { id: number }>(
      `SELECT id, device, point, unit FROM points WHERE id IN (${ids.map(() => '?').join(',')})`,
      ids,
    );
    for (const { id, ...n } of found) f.names.set(id, n);
  }
  // In place: a copy per row costs more than the join it replaces.
  for (const r of page as (PageRow & PointName)[]) {
    const n = f.names.get(r.pt);
    if (!n) throw new Error(`fleet.db blocks: block ${r.id} names point key ${r.pt}, which does not exist`);
    r.device = n.device;
    r.point = n.point;
    r.unit = n.unit;
  }
  return page as (PageRow & PointName)[];
}

/**
 * How the next page is chosen: its size, and a lower bound on `ts1` (blocks below it cannot change
 * the answer). Default: pages doubling from 16 to 1024, no bound.
 */
interface Paging {
  size(previous: number | undefined): number;
  floor?(): number | undefined;
}

const doubling: Paging = { size: (p) => (p === undefined ? 16 : Math.min(p * 2, 1024)) };

/** Pages of the query's blocks, greatest `ts1` first (index order: then ts0, id). */
async function* newestBlocks(
  db: Db,
  q: TelemetryQuery,
  paging: Paging = doubling,
): AsyncGenerator<BlockRow[]> {
  const f = await blockFilter(db, q);
  if (!f) return;
  let size = paging.size(undefined);
  let after: [number, number, number] | undefined;
  for (;;) {
    const floor = paging.floor?.();
    const page = await db.all<PageRow>(
      `SELECT ${PAGE_COLUMNS} FROM blocks b
       WHERE ${[...f.where, ...(after ? ['(b.ts1, b.ts0, b.id) < (?, ?, ?)'] : []), ...(floor !== undefined ? ['b.ts1 >= ?'] : [])].join(' AND ')}
       ORDER BY b.ts1 DESC, b.ts0 DESC, b.id DESC LIMIT ?`,
      [...f.params, ...(after ?? []), ...(floor !== undefined ? [floor] : []), size],
    );
    if (page.length > 0) yield await named(db, f, page);
    if (page.length < size) return;
    const last = page[page.length - 1]!;
    after = [last.ts1, last.ts0, last.id];
    size = paging.size(size);
  }
}

type Row = ReadingRow & { rid: number };

/** A block's readings inside [since, until] as rows. */
function rows(b: BlockRow, q: TelemetryQuery, out: Row[]): void {
  const since = q.since ?? -Infinity;
  const until = q.until ?? Infinity;
  for (const r of unpack(b))
    if (r.ts >= since && r.ts <= until)
      out.push({
        device: b.device,
        point: b.point,
        unit: b.unit,
        value: r.value,
        is_bool: b.is_bool,
        ts: r.ts,
        received: b.received,
        rid: r.rid,
      });
}

const newestFirst = (a: Row, b: Row): number => b.ts - a.ts || b.rid - a.rid;

/**
 * Readings newest first (by ts, then reading id), at most `limit`. Pages are sized from the readings
 * per block seen so far (live one-reading blocks: about `limit` blocks at once); once `limit`
 * readings are in hand, only blocks reaching the current last one's ts are read (ties by id).
 */
export async function blockTelemetry(db: Db, q: TelemetryQuery): Promise<StoredReading[]> {
  const limit = q.limit < 0 ? Infinity : q.limit;
  if (limit === 0) return [];
  let top: Row[] = [];
  let blocks = 0;
  let found = 0;
  const paging: Paging = {
    size: (p) => {
      if (p === undefined || top.length >= limit || limit === Infinity) return doubling.size(p);
      const perBlock = Math.max(found / blocks, 1);
      return Math.min(Math.max(Math.ceil((limit - top.length) / perBlock) + 1, 16), 1024);
    },
    floor: () => (top.length >= limit ? top[top.length - 1]!.ts : undefined),
  };
  for await (const page of newestBlocks(db, q, paging)) {
    const n = top.length;
    for (const b of page) rows(b, q, top);
    blocks += page.length;
    found += top.length - n;
    if (top.length < limit) continue;
    top.sort(newestFirst);
    top = top.slice(0, limit);
    // Every block not read yet has ts1 ≤ this page's last: none can beat a strictly newer reading.
    if (top[top.length - 1]!.ts > page[page.length - 1]!.ts1) break;
  }
  return top.sort(newestFirst).slice(0, limit).map(toReading);
}

/** Compensated (Kahan–Babuška–Neumaier) sum, as SQLite's AVG does. */
class Sum {
  private s = 0;
  private c = 0;
  add(x: number): void {
    const t = this.s + x;
    this.c += Math.abs(this.s) >= Math.abs(x) ? this.s - t + x : x - t + this.s;
    this.s = t;
  }
  get value(): number {
    return this.s + this.c;
  }
}

type Bucket = TelemetryBucket & { sum: Sum };

const bucketOrder = (a: TelemetryBucket, b: TelemetryBucket): number =>
  b.ts - a.ts ||
  (a.device < b.device ? -1 : a.device > b.device ? 1 : 0) ||
  (a.point < b.point ? -1 : a.point > b.point ? 1 : 0);

/** Per point and `bucketMs` bucket: mean/min/max/count, newest buckets first, at most `limit`. */
export async function blockBuckets(db: Db, q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]> {
  const b = Math.trunc(bucketMs);
  if (!(b > 0))
    throw new Error(`telemetry buckets: bucket size must be a positive number of ms, got ${bucketMs}`);
  const limit = q.limit < 0 ? Infinity : q.limit;
  if (limit === 0) return [];
  const start = (ts: number) => Math.trunc(ts / b) * b;
  // Per device and point (a unit change makes two point keys, one series), per bucket start.
  const series = new Map<string, Map<number, Bucket>>();
  const buckets: Bucket[] = [];
  const since = q.since ?? -Infinity;
  const until = q.until ?? Infinity;
  for await (const page of newestBlocks(db, q)) {
    for (const blk of page) {
      const sk = `${blk.device}\0${blk.point}`;
      let byStart = series.get(sk);
      if (!byStart) series.set(sk, (byStart = new Map()));
      let a: Bucket | undefined;
      for (const r of unpack(blk)) {
        if (r.ts < since || r.ts > until) continue;
        const ts = start(r.ts);
        if (a?.ts !== ts) {
          a = byStart.get(ts);
          if (!a) {
            a = {
              device: blk.device,
              point: blk.point,
              unit: null,
              ts,
              mean: 0,
              min: r.value,
              max: r.value,
              count: 0,
              sum: new Sum(),
            };
            byStart.set(ts, a);
            buckets.push(a);
          }
          // Units of one point: the greatest, as SQL's MAX.
          if (blk.unit !== '' && (a.unit === null || blk.unit > a.unit)) a.unit = blk.unit;
        }
        a.sum.add(r.value);
        a.count++;
        if (r.value < a.min) a.min = r.value;
        if (r.value > a.max) a.max = r.value;
      }
    }
    if (buckets.length < limit) continue;
    const kth = [...buckets].sort(bucketOrder)[limit - 1]!;
    // Blocks not read yet only reach buckets starting at or before this page's last ts1.
    if (start(page[page.length - 1]!.ts1) < kth.ts) break;
  }
  return buckets
    .sort(bucketOrder)
    .slice(0, limit)
    .map(({ sum, ...a }) => ({ ...a, mean: sum.value / a.count }));
}

/**
 * The newest reading of each of a gateway's points read since `since`: per point key, the blocks
 * with the greatest ts1 (index `blocks_by_point`), then the newest reading inside.
 */
export async function blockLatest(db: Db, gateway: string, since: number): Promise<StoredReading[]> {
  const blocks = await db.all<BlockRow>(
    `SELECT ${LATEST_COLUMNS} FROM gateway_keys g JOIN points p ON p.gw = g.id
     JOIN blocks b ON b.pt = p.id AND b.ts1 = (SELECT MAX(ts1) FROM blocks WHERE pt = p.id)
     WHERE g.gateway = ? AND b.ts1 >= ?`,
    [gateway, since],
  );
  const newest: Row[] = [];
  for (const b of blocks) {
    const all: Row[] = [];
    rows(b, { gateway, limit: -1, since: b.ts1 }, all);
    newest.push(all.sort(newestFirst)[0]!);
  }
  newest.sort(
    (a, b) =>
      (a.device < b.device ? -1 : a.device > b.device ? 1 : 0) ||
      (a.point < b.point ? -1 : a.point > b.point ? 1 : 0) ||
      newestFirst(a, b),
  );
  return newestPerPoint(newest.map(toReading));
}
