import {
  DEFAULT_POLL_MS,
  isBitTable,
  pointWidth,
  type PointDef,
  type Profile,
  type Table,
} from '../../../hardware/src/profile.js';

/** One coalesced read: a contiguous range of one table, read on one period, carrying its points. */
export interface ReadBlock {
  table: Table;
  address: number;
  count: number;
  periodMs: number;
  points: PointDef[];
}

/**
 * Plan the reads for one device: points are grouped by table and poll period, then merged into
 * ranges while the gap between them stays ≤ maxGap and the range stays within the protocol limit
 * (125 registers, 2000 bits or the profile's lower limit). Pure.
 */
export function planReads(profile: Profile, pollOverrideMs?: number): ReadBlock[] {
  const m = profile.modbus ?? {};
  const maxGap = m.maxGap ?? 0;
  const groups = new Map<string, PointDef[]>();
  for (const p of profile.points) {
    const period = pollOverrideMs ?? p.pollMs ?? DEFAULT_POLL_MS;
    const key = `${p.table}|${period}`;
    (groups.get(key) ?? groups.set(key, []).get(key)!).push(p);
  }
  const blocks: ReadBlock[] = [];
  for (const [key, points] of groups) {
    const [table, period] = key.split('|') as [Table, string];
    const limit = isBitTable(table) ? (m.maxBitsPerRead ?? 2000) : (m.maxRegistersPerRead ?? 125);
    points.sort((a, b) => a.address - b.address);
    let cur: ReadBlock | undefined;
    for (const p of points) {
      const end = p.address + pointWidth(p);
      if (cur && p.address - (cur.address + cur.count) <= maxGap && end - cur.address <= limit) {
        cur.count = Math.max(cur.count, end - cur.address);
        cur.points.push(p);
      } else {
        cur = { table, address: p.address, count: pointWidth(p), periodMs: Number(period), points: [p] };
        blocks.push(cur);
      }
    }
  }
  return blocks.sort(
    (a, b) => a.periodMs - b.periodMs || a.table.localeCompare(b.table) || a.address - b.address,
  );
}
