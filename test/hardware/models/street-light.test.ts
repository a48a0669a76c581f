import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { loadProfiles, type Profile } from '../../../hardware/src/profile.js';
import { SimDevice } from '../../../hardware/src/sim/device.js';
import { handlePdu } from '../../../hardware/src/sim/pdu.js';
import { daylightLux } from '../../../hardware/src/sim/models/daylight.js';
import { simAction } from '../../../hardware/src/sim/models/index.js';

const PROFILE = loadProfiles().get('citygate/slc-100')!;
const MIN = 60_000;

function light(params: Record<string, number | boolean> = {}): { dev: SimDevice; clock: FakeClock } {
  const profile: Profile = structuredClone(PROFILE);
  profile.simulation = { model: 'street-light', params: { ...profile.simulation?.params, ...params } };
  const clock = new FakeClock();
  return { dev: new SimDevice(profile, 1, clock), clock };
}

function read(dev: SimDevice, id: string): number | boolean {
  dev.tick();
  return dev.get(id);
}

/** Read the photocell over Modbus: FC 4, input register 7. */
function luxOverModbus(dev: SimDevice): number {
  const res = handlePdu(dev, Buffer.from([4, 0, 7, 0, 1]));
  expect(res[0]).toBe(4);
  return res.readUInt16BE(2);
}

describe('street-light model', () => {
  it('the photocell is input register 7', () => {
    const lux = PROFILE.points.find((p) => p.id === 'lux')!;
    expect(lux).toMatchObject({ table: 'input', address: 7, type: 'uint16', unit: 'lx', access: 'r' });
  });

  it('reads daylight by default, and a settable ambient value', () => {
    const { dev, clock } = light();
    expect(luxOverModbus(dev)).toBe(10_000);
    simAction(dev, 'ambient-lux', 12.4);
    expect(luxOverModbus(dev)).toBe(12);
    clock.advance(24 * 60 * MIN);
    expect(read(dev, 'lux')).toBe(12); // fixed ambient does not drift
    simAction(dev, 'ambient-lux', 200_000);
    expect(luxOverModbus(dev)).toBe(65_535); // the 16-bit sensor saturates
  });

  it('ambientLux param sets the starting value', () => {
    expect(read(light({ ambientLux: 3 }).dev, 'lux')).toBe(3);
  });

  it('follows a simulated day when asked: dusk falls through the switching range after sunset', () => {
    const { dev, clock } = light();
    simAction(dev, 'time-of-day', 13);
    expect(read(dev, 'lux')).toBeGreaterThan(25_000);
    clock.advance(6 * 60 * MIN); // 19:00, sunset
    expect(read(dev, 'lux')).toBe(400);
    const dusk: number[] = [];
    for (let i = 0; i < 12; i++) {
      clock.advance(5 * MIN);
      dusk.push(read(dev, 'lux') as number);
    }
    expect(dusk).toEqual([...dusk].sort((a, b) => b - a)); // never brightens at dusk
    expect(dusk[2]).toBeGreaterThan(50); // 19:15
    expect(dusk[5]).toBeLessThan(20); // 19:30: lights should be on
    expect(dusk[11]).toBeLessThanOrEqual(1); // 20:00: night
    clock.advance(11 * 60 * MIN); // 07:00, sunrise
    expect(read(dev, 'lux')).toBe(400);
  });

  it('the day curve is continuous at sunrise and sunset and periodic', () => {
    const c = { sunriseHour: 7, sunsetHour: 19, peakLux: 30_000, nightLux: 0.5 };
    expect(daylightLux(6.9999, c)).toBeCloseTo(daylightLux(7, c), 0);
    expect(daylightLux(19.0001, c)).toBeCloseTo(daylightLux(19, c), 0);
    expect(daylightLux(13, c)).toBe(30_000);
    expect(daylightLux(1, c)).toBe(0.5);
    expect(daylightLux(37, c)).toBe(daylightLux(13, c));
  });

  it('dayCycle param starts the cycle at startHour', () => {
    const { dev } = light({ dayCycle: true, startHour: 23 });
    expect(read(dev, 'lux')).toBe(0);
  });

  it('power follows dim and switch; energy and burning hours integrate', () => {
    const { dev, clock } = light({ ratedPowerW: 100 });
    expect(read(dev, 'power')).toBe(100);
    dev.set('dim', 40);
    expect(read(dev, 'power')).toBe(40);
    clock.advance(60 * MIN);
    expect(read(dev, 'energy')).toBe(0.04);
    expect(read(dev, 'burning-hours')).toBe(1);
    dev.set('on', false);
    clock.advance(60 * MIN);
    expect(read(dev, 'power')).toBe(0);
    expect(read(dev, 'burning-hours')).toBe(1);
  });

  it('rejects a mistyped param', () => {
    expect(() => light({ ambientlux: 5 })).toThrow(/unknown param 'ambientlux'/);
    expect(() => light({ dayCycle: 1 })).toThrow(/'dayCycle' must be a boolean/);
  });
});
