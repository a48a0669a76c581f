import {
  DEFAULT_POLL_MS,
  isBitTable,
  pointWidth,
  type PointDef,
  type Profile,
  type Table,
} from '../../../hardware/src/profile.js';

/** One coalesced read: a contiguous range of one table, read at the fastest period of its points. */
export interface ReadBlock {
  table: Table;
  address: number;
  count: number;
  periodMs: number;
  points: PointDef[];
}

export const pointPeriod = (p: PointDef, overrideMs?: number): number =>
  overrideMs ?? p.pollMs ?? DEFAULT_POLL_MS;

/**
 * Plan the reads for one device: points of a table are merged into ranges while the gap between
 * them stays ≤ maxGap and the range stays within the protocol limit (125 registers, 2000 bits or the
 * profile's lower limit). A block is read at the fastest period among its points; each point is
 * still reported at its own period (see report.ts), since on a bus the transaction, not the extra
 * register, is what costs. Pure.
 */
export function planReads(profile: Profile, pollOverrideMs?: number): ReadBlock[] {
  const m = profile.modbus ?? {};
  const maxGap = m.maxGap ?? 0;
  const byTable = new Map<Table, PointDef[]>();
  for (const p of profile.points) (byTable.get(p.table) ?? byTable.set(p.table, []).get(p.table)!).push(p);
  const blocks: ReadBlock[] = [];
  for (const [table, points] of byTable) {
    const limit = isBitTable(table) ? (m.maxBitsPerRead ?? 2000) : (m.maxRegistersPerRead ?? 125);
    points.sort((a, b) => a.address - b.address);
    let cur: ReadBlock | undefined;
    for (const p of points) {
      const end = p.address + pointWidth(p);
      const period = pointPeriod(p, pollOverrideMs);
      if (cur && p.address - (cur.address + cur.count) <= maxGap && end - cur.address <= limit) {
        cur.count = Math.max(cur.count, end - cur.address);
        cur.periodMs = Math.min(cur.periodMs, period);
        cur.points.push(p);
      } else {
        cur = { table, address: p.address, count: pointWidth(p), periodMs: period, points: [p] };
        blocks.push(cur);
      }
    }
  }
  return blocks.sort(
    (a, b) => a.periodMs - b.periodMs || a.table.localeCompare(b.table) || a.address - b.address,
  );
}
