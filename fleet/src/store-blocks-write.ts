/**
 * The write path of `blocks` (store-blocks.ts): a group commit's telemetry messages become one
 * dedupe probe and one multi-row INSERT (more only past SQLite's parameter limit).
 */
import type { TelemetryBatch } from '../../common/contract/index.js';
import type { Db, SqlValue } from '../../common/sqlite.js';
import { BLOCK_MAX, blockIds, insertBlockRows, PER_INSERT, pushBlocks, type Group } from './store-blocks.js';
import type { KeyScope } from './store-keys.js';

/** A message's source and id range. */
interface Span {
  b: TelemetryBatch;
  gw: number;
  src: number;
  lo: number;
  hi: number;
  ascending: boolean;
}

/** Per source: ids already stored or taken earlier in this group, and this group's earlier messages. */
interface SourceState {
  seen?: Set<number>;
  earlier: { span: Span; inSeen: boolean }[];
}

async function spanOf(db: Db, keys: KeyScope, b: TelemetryBatch): Promise<Span> {
  const gw = await keys.gateway(db, b.gateway);
  const src = await keys.source(db, gw, b.epoch);
  const rs = b.readings;
  let lo = rs[0]!.id;
  let hi = lo;
  let ascending = true;
  for (let i = 1; i < rs.length; i++) {
    const id = rs[i]!.id;
    if (id <= hi) ascending = false;
    if (id < lo) lo = id;
    if (id > hi) hi = id;
  }
  return { b, gw, src, lo, hi, ascending };
}

/**
 * Ids of stored blocks whose id range overlaps a message's, by source: one statement, one probe of
 * `blocks_by_src` per message (empty in the common case, where ids only grow).
 */
async function storedOverlaps(db: Db, spans: readonly Span[]): Promise<Map<number, Set<number>>> {
  const out = new Map<number, Set<number>>();
  for (let i = 0; i < spans.length; i += 1000) {
    const chunk = spans.slice(i, i + 1000);
    const rows = await db.all<{ src: number; rid0: number; rid_offsets: string }>(
      `SELECT src, rid0, rid_offsets FROM blocks
       WHERE ${chunk.map(() => '(src = ? AND rid1 >= ? AND rid0 <= ?)').join(' OR ')}`,
      chunk.flatMap((s) => [s.src, s.lo, s.hi]),
    );
    for (const r of rows) {
      let ids = out.get(r.src);
      if (!ids) out.set(r.src, (ids = new Set()));
      for (const id of blockIds(r)) ids.add(id);
    }
  }
  return out;
}

/**
 * Group a message's new readings by (point, value type). `seen` (when given) holds the ids not to
 * store again and takes this message's.
 */
async function groupReadings(
  db: Db,
  keys: KeyScope,
  s: Span,
  seen: Set<number> | undefined,
): Promise<{ groups: Group[]; inserted: number }> {
  const pts = new Map<string, number>();
  const groups = new Map<string, Group>();
  let inserted = 0;
  for (const x of s.b.readings) {
    if (seen) {
      if (seen.has(x.id)) continue;
      seen.add(x.id);
    }
    const bool = typeof x.value === 'boolean';
    const value = bool ? (x.value ? 1 : 0) : (x.value as number);
    if (!Number.isFinite(value))
      throw new Error(
        `telemetry from ${s.b.gateway}: reading ${x.id} (${x.device}.${x.point}) has value ${value}`,
      );
    const unit = x.unit ?? '';
    const k = `${x.device}\0${x.point}\0${unit}`;
    const gk = bool ? `b${k}` : `n${k}`;
    let g = groups.get(gk);
    if (!g) {
      let pt = pts.get(k);
      if (pt === undefined) pts.set(k, (pt = await keys.point(db, s.gw, x.device, x.point, unit)));
      groups.set(gk, (g = { pt, bool, rids: [], ts: [], vals: [] }));
    }
    g.rids.push(x.id);
    g.ts.push(x.ts);
    g.vals.push(value);
    inserted++;
  }
  return { groups: [...groups.values()], inserted };
}

/**
 * Store telemetry messages' readings as blocks, in order; per message, how many were new, known
 * before the last INSERT finishes: `written` settles when it did (the caller awaits it together with
 * its other statements, one round trip for all). Dedupe is exact per (source, reading id), against
 * stored blocks and earlier messages of the group: a re-send may split readings differently into
 * messages, and live readings may arrive before older backlog, so ids are not assumed ascending.
 * Only when ranges overlap (or a message's ids do not ascend) are ids compared one by one.
 */
export async function insertTelemetry(
  db: Db,
  keys: KeyScope,
  batches: readonly TelemetryBatch[],
  at: number,
): Promise<{ inserted: number[]; written: Promise<void> }> {
  const spans: (Span | undefined)[] = [];
  for (const b of batches) spans.push(b.readings.length > 0 ? await spanOf(db, keys, b) : undefined);
  const present = spans.filter((s): s is Span => s !== undefined);
  if (present.length === 0) return { inserted: batches.map(() => 0), written: Promise.resolve() };
  const stored = await storedOverlaps(db, present);
  const sources = new Map<number, SourceState>();
  const params: SqlValue[] = [];
  let blocks = 0;
  const flush = async (): Promise<void> => {
    await insertBlockRows(db, params, blocks);
    params.length = 0;
    blocks = 0;
  };
  const out: number[] = [];
  for (const s of spans) {
    if (!s) {
      out.push(0);
      continue;
    }
    let st = sources.get(s.src);
    if (!st) sources.set(s.src, (st = { seen: stored.get(s.src), earlier: [] }));
    const overlapsEarlier = st.earlier.some((e) => e.span.hi >= s.lo && e.span.lo <= s.hi);
    if (st.seen || overlapsEarlier || !s.ascending) {
      st.seen ??= new Set();
      // Earlier messages of the group that skipped the set: their ids count now.
      for (const e of st.earlier)
        if (!e.inSeen) {
          for (const x of e.span.b.readings) st.seen.add(x.id);
          e.inSeen = true;
        }
    }
    const { groups, inserted } = await groupReadings(db, keys, s, st.seen);
    st.earlier.push({ span: s, inSeen: st.seen !== undefined });
    out.push(inserted);
    for (const g of groups) {
      if (blocks + Math.ceil(g.rids.length / BLOCK_MAX) > PER_INSERT) await flush();
      blocks += pushBlocks(params, g, s.src, s.gw, at);
    }
  }
  return { inserted: out, written: flush() };
}
