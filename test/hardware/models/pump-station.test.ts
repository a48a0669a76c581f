import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { loadProfiles, type Profile } from '../../../hardware/src/profile.js';
import { SimDevice } from '../../../hardware/src/sim/device.js';
import { simAction, simActionNames } from '../../../hardware/src/sim/models/index.js';

const PROFILE = loadProfiles().get('citygate/psc-200')!;
const MIN = 60_000;
const HOUR = 3_600_000;

function station(params: Record<string, number> = {}): { dev: SimDevice; clock: FakeClock } {
  const profile: Profile = structuredClone(PROFILE);
  profile.simulation = { model: 'pump-station', params: { ...profile.simulation?.params, ...params } };
  const clock = new FakeClock();
  return { dev: new SimDevice(profile, 10, clock), clock };
}

/** A point's value now: advance the model to the clock first, as a Modbus read would. */
function read(dev: SimDevice, id: string): number | boolean {
  dev.tick();
  return dev.get(id);
}
const level = (dev: SimDevice): number => read(dev, 'wet-well-level') as number;

describe('pump-station model', () => {
  it('the profile pairs with the model (wet well 7 m², inflow 20 m³/h, pumps 60 m³/h)', () => {
    expect(PROFILE.simulation?.model).toBe('pump-station');
    const { dev } = station();
    expect(level(dev)).toBe(1.5);
    expect(read(dev, 'pump1-freq-sp')).toBe(45);
    expect(simActionNames(dev).sort()).toEqual(['clear-faults', 'inflow', 'level', 'thermal-trip']);
  });

  it('the well fills at inflow / area with no pump running', () => {
    const { dev, clock } = station();
    clock.advance(30 * MIN);
    // 20 m³/h over 7 m² = 2.857 m/h
    expect(level(dev)).toBeCloseTo(1.5 + 20 / 7 / 2, 3);
    expect(read(dev, 'flow-rate')).toBe(0);
    expect(read(dev, 'pump1-running')).toBe(false);
    expect(read(dev, 'pump1-current')).toBe(0);
  });

  it('stops rising at the overflow and raises the high-level alarm above 4 m', () => {
    const { dev, clock } = station();
    expect(read(dev, 'high-level')).toBe(false);
    clock.advance(HOUR);
    expect(read(dev, 'high-level')).toBe(true);
    clock.advance(5 * HOUR);
    expect(level(dev)).toBe(5);
  });

  it('drains while one pump runs, faster with two', () => {
    const drop = (pumps: number): number => {
      const { dev, clock } = station();
      simAction(dev, 'level', 3.5);
      for (let n = 1; n <= pumps; n++) {
        dev.set(`pump${n}-freq-sp`, 50);
        dev.set(`pump${n}-run`, true);
      }
      clock.advance(5 * MIN);
      return 3.5 - level(dev);
    };
    const one = drop(1);
    const two = drop(2);
    // net outflow 40 m³/h with one pump, 100 m³/h with two; ~10 s of drive ramp lost
    expect(one).toBeCloseTo((40 / 7) * (5 / 60), 1);
    expect(two).toBeCloseTo((100 / 7) * (5 / 60), 1);
    expect(two).toBeGreaterThan(2 * one);
  });

  it('running feedback follows the run command; the drive ramps and current follows frequency', () => {
    const { dev, clock } = station();
    simAction(dev, 'level', 3);
    dev.set('pump1-freq-sp', 50);
    dev.set('pump1-run', true);
    expect(read(dev, 'pump1-running')).toBe(true);
    expect(read(dev, 'pump2-running')).toBe(false);
    clock.advance(4000); // ramp 5 Hz/s
    expect(read(dev, 'pump1-freq')).toBe(20);
    clock.advance(10_000);
    expect(read(dev, 'pump1-freq')).toBe(50);
    expect(read(dev, 'pump1-current')).toBe(11.5); // rated current at rated frequency
    expect(read(dev, 'flow-rate')).toBeCloseTo(60, 4);

    dev.set('pump1-freq-sp', 25);
    clock.advance(10_000);
    expect(read(dev, 'pump1-freq')).toBe(25);
    expect(read(dev, 'pump1-current')).toBe(5.46); // 11.5 A × (0.3 + 0.7 × 0.5²)
    expect(read(dev, 'flow-rate')).toBeCloseTo(30, 4);

    dev.set('pump1-run', false);
    expect(read(dev, 'pump1-running')).toBe(false);
    clock.advance(2000);
    expect(read(dev, 'pump1-freq')).toBe(15); // ramps down, does not stop dead
    clock.advance(10_000);
    expect(read(dev, 'pump1-freq')).toBe(0);
    expect(read(dev, 'pump1-current')).toBe(0);
  });

  it('dry-run protection trips a running pump below the low level and resets once the well refills', () => {
    const { dev, clock } = station();
    simAction(dev, 'level', 1);
    dev.set('pump1-freq-sp', 50);
    dev.set('pump1-run', true);
    // draws down at ~5.7 m/h: 0.6 m to the 0.4 m trip level in ~6.3 min
    clock.advance(6 * MIN);
    expect(read(dev, 'pump1-dry-run')).toBe(false);
    clock.advance(1 * MIN);
    expect(read(dev, 'pump1-dry-run')).toBe(true);
    expect(read(dev, 'pump1-running')).toBe(false);
    expect(read(dev, 'pump1-freq')).toBe(0);
    expect(read(dev, 'pump1-run')).toBe(true); // the command stays; the drive refuses it
    expect(level(dev)).toBeGreaterThan(0.39);
    expect(level(dev)).toBeLessThan(0.45);
    // refills at 2.86 m/h: 0.4 → 0.8 m in ~8.4 min, then the pump restarts by itself
    clock.advance(7 * MIN);
    expect(read(dev, 'pump1-dry-run')).toBe(true);
    clock.advance(2 * MIN);
    expect(read(dev, 'pump1-dry-run')).toBe(false);
    expect(read(dev, 'pump1-running')).toBe(true);
  });

  it('a pump commanded on at a level below the trip level never starts', () => {
    const { dev } = station();
    simAction(dev, 'level', 0.2);
    dev.set('pump2-run', true);
    expect(read(dev, 'pump2-running')).toBe(false);
    expect(read(dev, 'pump2-dry-run')).toBe(true);
    expect(read(dev, 'pump1-dry-run')).toBe(false);
  });

  it('a thermal trip stops the pump at once and holds until cleared', () => {
    const { dev, clock } = station({ inflowM3h: 80 });
    dev.set('pump2-run', true);
    clock.advance(MIN);
    expect(read(dev, 'pump2-freq')).toBe(45);
    simAction(dev, 'thermal-trip', 2);
    expect(read(dev, 'pump2-thermal-trip')).toBe(true);
    expect(read(dev, 'pump2-running')).toBe(false);
    expect(read(dev, 'pump2-freq')).toBe(0);
    expect(read(dev, 'pump1-thermal-trip')).toBe(false);
    clock.advance(HOUR / 2);
    expect(read(dev, 'pump2-thermal-trip')).toBe(true);
    simAction(dev, 'clear-faults');
    expect(read(dev, 'pump2-running')).toBe(true);
    expect(() => simAction(dev, 'thermal-trip', 3)).toThrow(/pump 1 or 2/);
  });

  it('packs faults and the alarm as bits of one status register', () => {
    const { dev } = station();
    simAction(dev, 'thermal-trip', 1);
    simAction(dev, 'level', 4.5);
    simAction(dev, 'thermal-trip', 2);
    const status = dev.read('input', 5, 1)[0];
    expect(status).toBe(0b1_1010);
    simAction(dev, 'clear-faults');
    expect(dev.read('input', 5, 1)[0]).toBe(0b1_0000);
  });

  it('reports the level as 4-20 mA raw µA that the profile scales to metres', () => {
    const { dev } = station();
    const at = (m: number): number => {
      simAction(dev, 'level', m);
      return dev.read('input', 0, 1)[0]!;
    };
    expect(at(0)).toBe(4000);
    expect(level(dev)).toBe(0);
    expect(at(2.5)).toBe(12000);
    expect(level(dev)).toBe(2.5);
    expect(at(5)).toBe(20000);
    expect(level(dev)).toBe(5);
  });

  it('serves the flow rate as a word-swapped float32', () => {
    const { dev, clock } = station({ inflowM3h: 80 });
    dev.set('pump1-freq-sp', 50);
    dev.set('pump1-run', true);
    clock.advance(MIN);
    const [lo, hi] = dev.read('input', 6, 2);
    const buf = Buffer.alloc(4);
    buf.writeUInt16BE(hi!, 0);
    buf.writeUInt16BE(lo!, 2);
    expect(buf.readFloatBE(0)).toBe(60);
  });

  it('totalises pumped volume (int32) and run hours; 72 h under level control keeps the mass balance', () => {
    const { dev, clock } = station();
    const start = level(dev);
    for (let t = 0; t < 72 * 60; t++) {
      // a crude two-point controller, as a rule engine would run it
      const h = level(dev);
      if (h > 3 && read(dev, 'pump1-run') === false) dev.set('pump1-run', true);
      if (h < 1 && read(dev, 'pump1-run') === true) dev.set('pump1-run', false);
      clock.advance(MIN);
    }
    const pumped = read(dev, 'pumped-volume') as number;
    const stored = (level(dev) - start) * 7;
    // everything that flowed in was either pumped out or is still in the well (±0.1 m³ quantisation)
    expect(Math.abs(pumped + stored - 20 * 72)).toBeLessThan(0.2);
    expect(read(dev, 'pump1-dry-run')).toBe(false);
    expect(read(dev, 'pump1-run-hours')).toBeGreaterThan(20);
    expect(read(dev, 'pump1-run-hours')).toBeLessThan(40);
    expect(read(dev, 'pump2-run-hours')).toBe(0);
  });

  it('is deterministic: the same clock and commands give the same registers', () => {
    const run = (): number[] => {
      const { dev, clock } = station();
      dev.set('pump1-run', true);
      clock.advance(17 * MIN + 123);
      dev.set('pump2-run', true);
      clock.advance(3 * MIN);
      return dev.read('input', 0, 14);
    };
    expect(run()).toEqual(run());
  });

  it('rejects unknown or mistyped params', () => {
    expect(() => station({ inflowM3H: 5 })).toThrow(/unknown param 'inflowM3H'/);
    const profile: Profile = structuredClone(PROFILE);
    profile.simulation = { model: 'pump-station', params: { wellAreaM2: '7' } };
    expect(() => new SimDevice(profile, 1, new FakeClock())).toThrow(/'wellAreaM2' must be a finite number/);
  });

  it('rejects unknown actions, naming the known ones', () => {
    const { dev } = station();
    expect(() => simAction(dev, 'flood')).toThrow(/no action 'flood' \(known: inflow, level/);
    expect(() => simAction(dev, 'inflow', 'lots')).toThrow(/needs a number/);
  });
});
