import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { loadProfiles, type Profile } from '../../../hardware/src/profile.js';
import { SimDevice } from '../../../hardware/src/sim/device.js';
import { simAction } from '../../../hardware/src/sim/models/index.js';

const PROFILE = loadProfiles().get('citygate/wbs-10')!;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

function bin(params: Record<string, number> = {}): { dev: SimDevice; clock: FakeClock } {
  const profile: Profile = structuredClone(PROFILE);
  profile.simulation = { model: 'waste-bin', params: { ...profile.simulation?.params, ...params } };
  const clock = new FakeClock();
  return { dev: new SimDevice(profile, 20, clock), clock };
}

function read(dev: SimDevice, id: string): number | boolean {
  dev.tick();
  return dev.get(id);
}

describe('waste-bin model', () => {
  it('is polled rarely: nothing faster than every 5 minutes', () => {
    expect(Math.min(...PROFILE.points.map((p) => p.pollMs ?? 0))).toBeGreaterThanOrEqual(300_000);
  });

  it('fills at the configured rate and the measured distance shrinks with it', () => {
    const { dev, clock } = bin({ fillPctPerHour: 2 });
    expect(read(dev, 'fill')).toBe(0);
    expect(read(dev, 'distance')).toBe(1080); // 80 mm gap + 1000 mm bin
    clock.advance(10 * HOUR);
    expect(read(dev, 'fill')).toBe(20);
    expect(read(dev, 'distance')).toBe(880);
    clock.advance(100 * HOUR);
    expect(read(dev, 'fill')).toBe(100);
    expect(read(dev, 'distance')).toBe(80);
  });

  it('empties on collect, counts the collection, and fills again', () => {
    const { dev, clock } = bin({ fillPctPerHour: 2 });
    clock.advance(30 * HOUR);
    expect(read(dev, 'fill')).toBe(60);
    simAction(dev, 'collect');
    expect(dev.read('input', 0, 2)).toEqual([1080, 0]);
    expect(read(dev, 'collections')).toBe(1);
    clock.advance(5 * HOUR);
    expect(read(dev, 'fill')).toBe(10);
    simAction(dev, 'collect');
    expect(read(dev, 'collections')).toBe(2);
  });

  it('temperature follows a daily cycle and goes negative as int16 in 0.1 °C', () => {
    const { dev, clock } = bin({ meanTempC: -8, tempSwingC: 6, startHour: 3 });
    expect(read(dev, 'temperature')).toBe(-14); // coldest at 03:00
    expect(dev.read('input', 2, 1)).toEqual([0x10000 - 140]);
    clock.advance(12 * HOUR);
    expect(read(dev, 'temperature')).toBe(-2); // warmest at 15:00
    clock.advance(6 * HOUR);
    expect(read(dev, 'temperature')).toBe(-8);
  });

  it('the battery drains slowly', () => {
    const { dev, clock } = bin();
    expect(read(dev, 'battery')).toBe(100);
    clock.advance(40 * DAY);
    expect(read(dev, 'battery')).toBe(98);
    const fast = bin({ batteryPctPerDay: 10 });
    fast.clock.advance(11 * DAY);
    expect(read(fast.dev, 'battery')).toBe(0);
  });

  it('tilt and fire alarms are bits of one register; a fire heats the bin', () => {
    const { dev, clock } = bin({ meanTempC: 20, tempSwingC: 0 });
    expect(dev.read('input', 4, 1)).toEqual([0]);
    simAction(dev, 'tilt');
    expect(dev.read('input', 4, 1)).toEqual([0b01]);
    simAction(dev, 'fire', true);
    expect(dev.read('input', 4, 1)).toEqual([0b11]);
    expect([read(dev, 'tilt'), read(dev, 'fire')]).toEqual([true, true]);
    clock.advance(60_000);
    expect(read(dev, 'temperature')).toBe(50);
    clock.advance(10 * 60_000);
    expect(read(dev, 'temperature')).toBe(90);
    simAction(dev, 'tilt', false);
    expect(dev.read('input', 4, 1)).toEqual([0b10]);
    simAction(dev, 'fire', false);
    clock.advance(HOUR);
    expect(read(dev, 'fire')).toBe(false);
    expect(read(dev, 'temperature')).toBe(20);
    expect(() => simAction(dev, 'fire', 'yes')).toThrow(/needs true\/false/);
  });

  it('is deterministic given the clock', () => {
    const run = (): number[] => {
      const { dev, clock } = bin();
      clock.advance(7.3 * HOUR);
      simAction(dev, 'collect');
      clock.advance(29 * HOUR + 17);
      return dev.read('input', 0, 6);
    };
    expect(run()).toEqual(run());
  });
});
