import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { simAction } from '../../../hardware/src/sim/models/index.js';
import { BIN_UNITS, PUMP_UNIT, startCity, until, type City } from './city-fixture.js';

describe('embedded Node-RED with the default flows on the simulated city', () => {
  let city: City;
  beforeAll(async () => {
    city = await startCity();
  });
  afterAll(async () => {
    await city?.stop();
  });

  const light = (u: number) => city.sim.device(u);

  it('keeps its flows and secret under the data dir, written whole', () => {
    const files = readdirSync(city.red.userDir);
    expect(city.red.userDir).toBe(join(city.edge.dataDir, 'node-red'));
    expect(files).toContain('flows.json');
    expect(files.filter((f) => f.includes('.tmp-') || f.endsWith('.$$$'))).toEqual([]);
    const flows = JSON.parse(readFileSync(city.red.flowFile, 'utf8')) as { type: string }[];
    expect(flows.filter((n) => n.type === 'tab')).toHaveLength(3);
    const secret = readFileSync(join(city.red.userDir, 'credential-secret'), 'utf8').trim();
    expect(secret).toMatch(/^[0-9a-f]{64}$/);
    expect(
      existsSync(join(city.red.userDir, '.config.runtime.json'))
        ? readFileSync(join(city.red.userDir, '.config.runtime.json'), 'utf8')
        : '',
    ).not.toContain('_credentialSecret');
  });

  it('switches the lights off by day, on at sunset, and dims them at 23:00', async () => {
    // At noon the schedule in force is "sunrise: off".
    await until(() => light(1).get('on') === false && light(2).get('on') === false, 'lights off at noon');
    const sunset = city.red.services.nextTime({ sun: 'sunset' }, city.clock.now());
    city.clock.advance(sunset - city.clock.now() + 1000);
    await until(() => light(1).get('on') === true && light(1).get('dim') === 100, 'light on at sunset');
    expect(light(2).get('dim')).toBe(100);
    const eleven = city.red.services.nextTime({ time: '23:00' }, city.clock.now());
    city.clock.advance(eleven - city.clock.now() + 1000);
    await until(
      () => light(1).get('dim') === 60 && light(2).get('dim') === 60,
      'lights dimmed to 60 % at 23:00',
    );
    expect(light(1).get('on')).toBe(true);
  });

  it('starts a pump at high level, raises the high-level alarm, stops at low level', async () => {
    const pump = city.sim.device(PUMP_UNIT);
    simAction(pump, 'level', 0.5); // the well filled up while the evening passed: start low
    await until(
      () => pump.get('pump1-run') === false && pump.get('pump2-run') === false,
      'pumps stopped at 0.5 m',
    );
    simAction(pump, 'level', 2.5);
    await until(
      () => city.edge.latest.get('pump-station.wet-well-level')?.value === 2.5,
      'level read at 2.5 m',
    );
    expect(pump.get('pump1-run')).toBe(false);
    simAction(pump, 'level', 3.4);
    await until(() => pump.get('pump1-run') === true, 'pump 1 started at 3.4 m');
    expect(pump.get('pump2-run')).toBe(false);
    simAction(pump, 'level', 4.2);
    await until(() => pump.get('pump2-run') === true, 'pump 2 started at 4.2 m');
    await until(
      () =>
        city.alarms.some(
          ([k, a]) => k === 'raise' && typeof a === 'object' && a.id === 'well-high/pump-station',
        ),
      'well-high alarm',
    );
    simAction(pump, 'level', 0.5);
    await until(
      () => pump.get('pump1-run') === false && pump.get('pump2-run') === false,
      'pumps stopped at 0.5 m',
    );
    await until(
      () => city.alarms.some(([k, id]) => k === 'clear' && id === 'well-high/pump-station'),
      'well-high cleared',
    );
  });

  it('raises a bin-full alarm and sends the daily collection list at 05:00', async () => {
    const bin = city.sim.device(BIN_UNITS[0]!);
    simAction(city.sim.device(BIN_UNITS[1]!), 'fill', 10);
    simAction(bin, 'fill', 92);
    await until(
      () => city.alarms.some(([k, a]) => k === 'raise' && typeof a === 'object' && a.id === 'bin-full/bin-1'),
      'bin-full alarm for bin-1',
    );
    const five = city.red.services.nextTime({ time: '05:00' }, city.clock.now());
    city.clock.advance(five - city.clock.now() + 1000);
    await until(() => city.telemetry.some(([s]) => s === 'collection-list'), 'collection list');
    const [, list] = city.telemetry.find(([s]) => s === 'collection-list')!;
    expect(list).toMatchObject({ threshold: 70, bins: [{ device: 'bin-1' }] });
    expect((list as { bins: { fill: number }[] }).bins[0]!.fill).toBeGreaterThanOrEqual(92);
  });
});
