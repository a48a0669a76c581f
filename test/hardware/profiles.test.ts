import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../common/clock.js';
import { check } from '../../common/json-schema.js';
import {
  isBitTable,
  isWritableTable,
  loadProfiles,
  pointWidth,
  profileInvariantIssues,
  profileSchema,
  parseProfile,
} from '../../hardware/src/profile.js';
import { SimDevice } from '../../hardware/src/sim/device.js';
import { handlePdu } from '../../hardware/src/sim/pdu.js';

const profiles = [...loadProfiles().values()];
const READ_FC = { coil: 1, discrete: 2, holding: 3, input: 4 } as const;

function readPdu(fc: number, address: number, count: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = fc;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(count, 3);
  return b;
}

describe('every device profile in hardware/profiles', () => {
  it('there is at least the street-light profile', () => {
    expect(profiles.map((p) => p.id)).toContain('citygate/slc-100');
  });

  describe.each(profiles.map((p) => [p.id, p] as const))('%s', (_id, profile) => {
    it('is valid against the JSON Schema', () => {
      const r = check(profileSchema(), profile);
      expect(r.ok ? [] : r.issues).toEqual([]);
    });

    it('has no overlapping registers and consistent point definitions', () => {
      expect(profileInvariantIssues(profile)).toEqual([]);
    });

    it('gives every writable point a Modbus write mapping', () => {
      for (const p of profile.points.filter((x) => x.access === 'rw')) {
        expect(isWritableTable(p.table), `${p.id} in ${p.table}`).toBe(true);
      }
    });

    it('is served point by point by the simulator', () => {
      const dev = new SimDevice(profile, 1, new FakeClock());
      for (const p of profile.points) {
        const res = handlePdu(dev, readPdu(READ_FC[p.table], p.address, pointWidth(p)));
        expect(res[0], `${p.id}: function code echoed (no exception)`).toBe(READ_FC[p.table]);
        const bytes = isBitTable(p.table) ? 1 : pointWidth(p) * 2;
        expect(res[1], `${p.id}: byte count`).toBe(bytes);
        expect(() => dev.get(p.id)).not.toThrow();
      }
    });

    it('accepts writes to every writable point and reads the value back', () => {
      const dev = new SimDevice(profile, 1, new FakeClock());
      for (const p of profile.points.filter((x) => x.access === 'rw')) {
        const value = p.type === 'bool' ? true : (p.min ?? 0) + Math.min(1, (p.max ?? 1) - (p.min ?? 0));
        dev.set(p.id, value);
        expect(dev.get(p.id), p.id).toBe(value);
      }
    });
  });
});

describe('profile invariants catch mistakes', () => {
  const base = profiles.find((p) => p.id === 'citygate/slc-100')!;

  it('rejects overlapping registers, naming both points', () => {
    const bad = structuredClone(base);
    bad.points.push({ id: 'clash', name: 'Clash', table: 'input', address: 1, type: 'uint16', access: 'r' });
    expect(() => parseProfile(bad, 'test')).toThrow(
      /points\[\d+\] \(clash\): overlaps point 'power' at input 1/,
    );
  });

  it('rejects a writable point in a read-only table', () => {
    const bad = structuredClone(base);
    bad.points.push({ id: 'w', name: 'W', table: 'input', address: 100, type: 'uint16', access: 'rw' });
    expect(() => parseProfile(bad, 'test')).toThrow(/no Modbus write function/);
  });

  it('rejects schema violations with the JSON path', () => {
    const bad = structuredClone(base) as unknown as { points: { type: string }[] };
    bad.points[1]!.type = 'float64';
    expect(() => parseProfile(bad, 'test')).toThrow(/points\[1\]\.type: must be one of/);
  });
});
