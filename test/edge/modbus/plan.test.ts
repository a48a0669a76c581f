import { describe, expect, it } from 'vitest';
import { planReads } from '../../../edge/src/modbus/plan.js';
import { loadProfiles, type PointDef, type Profile } from '../../../hardware/src/profile.js';

const profile = (points: PointDef[], maxGap = 0, maxRegistersPerRead = 125): Profile => ({
  id: 'test/p',
  vendor: 't',
  model: 't',
  kind: 'street-light',
  modbus: { maxGap, maxRegistersPerRead },
  points,
});
const reg = (id: string, address: number, type: PointDef['type'] = 'uint16', pollMs = 1000): PointDef => ({
  id,
  name: id,
  table: 'holding',
  address,
  type,
  access: 'r',
  pollMs,
});

describe('planReads', () => {
  it('merges contiguous registers into one read', () => {
    const blocks = planReads(profile([reg('a', 0), reg('b', 1, 'float32'), reg('c', 3)]));
    expect(blocks.map((b) => [b.address, b.count, b.points.map((p) => p.id)])).toEqual([
      [0, 4, ['a', 'b', 'c']],
    ]);
  });

  it('bridges gaps up to maxGap and splits beyond it', () => {
    const pts = [reg('a', 0), reg('b', 3), reg('c', 10)];
    expect(planReads(profile(pts, 2)).map((b) => [b.address, b.count])).toEqual([
      [0, 4],
      [10, 1],
    ]);
  });

  it('respects the per-read register limit', () => {
    const pts = Array.from({ length: 10 }, (_, i) => reg(`p${i}`, i * 2, 'uint32'));
    const blocks = planReads(profile(pts, 0, 6));
    expect(blocks.every((b) => b.count <= 6)).toBe(true);
    expect(blocks.flatMap((b) => b.points).length).toBe(10);
  });

  it('reads adjacent points of different periods in one block at the fastest period', () => {
    const blocks = planReads(profile([reg('fast', 0, 'uint16', 500), reg('slow', 1, 'uint16', 60000)]));
    expect(blocks.map((b) => [b.periodMs, b.points.map((p) => p.id)])).toEqual([[500, ['fast', 'slow']]]);
  });

  it('reads the street light in far fewer transactions than points', () => {
    const slc = loadProfiles().get('citygate/slc-100')!;
    const blocks = planReads(slc, 1000);
    expect(blocks.length).toBe(2); // holding + input
    expect(blocks.flatMap((b) => b.points).length).toBe(slc.points.length);
  });
});
