import { beforeAll, describe, expect, it } from 'vitest';
import { getTimes } from 'suncalc';
import { FakeClock } from '../../../common/clock.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { simAction } from '../../../hardware/src/sim/models/index.js';
import { BINS, cityControl, HANOI, LIGHTS } from './fixtures.js';
import { SimPlant } from './sim-harness.js';

const H = 3_600_000;
const profiles = loadProfiles();
const profile = (id: string) => profiles.get(id)!;
/** 2026-03-10 12:00 in Hanoi (UTC+7). */
const START = Date.UTC(2026, 2, 10, 5, 0);

interface LevelSample {
  t: number;
  level: number;
  dryRun: boolean;
}

/**
 * Three days of a street, a lift station and three bins run by the rule engine alone (no uplink,
 * no operator except where noted), on a fake clock with the simulators' physics.
 */
describe('72 simulated hours offline', () => {
  const clock = new FakeClock(START);
  const plant = new SimPlant(
    clock,
    [
      ...LIGHTS.map((id) => ({ id, profile: profile('citygate/slc-100'), pollMs: 10_000 })),
      { id: 'ps-1', profile: profile('citygate/psc-200'), pollMs: 2_000 },
      ...BINS.map((id) => ({ id, profile: profile('citygate/wbs-10'), pollMs: 900_000 })),
    ],
    cityControl(),
  );
  const levels: LevelSample[] = [];
  plant.onPoll = (id, dev) => {
    if (id === 'ps-1')
      levels.push({
        t: clock.now(),
        level: Number(dev.get('wet-well-level')),
        dryRun: dev.get('pump1-dry-run') === true || dev.get('pump2-dry-run') === true,
      });
  };
  const at = (hours: number) => START + hours * H;
  let faultAt = 0;
  let faulted = '';

  beforeAll(async () => {
    simAction(plant.dev('bin-1'), 'fill', 60);
    simAction(plant.dev('bin-2'), 'fill', 10);
    plant.runner.start();
    await plant.run(20 * H); // 20 h: bin-1 (≥ 80 % since ~13 h) is collected
    simAction(plant.dev('bin-1'), 'collect');
    await plant.run(2 * H);
    // 22 h = 10:00 local on day 2: a festival needs all lights at 100 % for two hours.
    plant.runner.addOverride({
      id: 'festival',
      who: 'operator:lan',
      why: 'festival in the square',
      set: Object.fromEntries(
        LIGHTS.flatMap((d) => [
          [`${d}.on`, true],
          [`${d}.dim`, 100],
        ]),
      ),
      until: at(24),
    });
    await plant.run(10 * H); // 32 h = 20:00 local: a lamp fails in the dark
    plant.dev('light-2').setRaw('lamp-fault', true);
    await plant.run(2 * H);
    plant.dev('light-2').setRaw('lamp-fault', false);
    await plant.run(6 * H); // 40 h: trip the running pump
    while (plant.dev('ps-1').get('pump1-running') !== true && plant.dev('ps-1').get('pump2-running') !== true)
      await plant.run(10_000, 10_000);
    const n = plant.dev('ps-1').get('pump1-running') === true ? 1 : 2;
    faulted = `ps-1.pump${n}-run`;
    faultAt = clock.now();
    simAction(plant.dev('ps-1'), 'thermal-trip', n);
    await plant.run(4 * H);
    simAction(plant.dev('ps-1'), 'clear-faults');
    await plant.run(6 * H); // 50 h
    simAction(plant.dev('bin-2'), 'collect');
    await plant.run(10 * H); // 60 h
    simAction(plant.dev('bin-3'), 'collect');
    await plant.run(at(72) - clock.now());
  });

  it('switches the lights within a minute of the computed sunset and sunrise, every day', () => {
    const ons = plant.writesTo('light-1', 'on').filter((w) => w.t < at(22) || w.t > at(24));
    const sunEvents: { t: number; on: boolean }[] = [];
    for (let day = 0; day < 4; day++) {
      // suncalc gives the times of the solar day containing the instant: ask at local noon.
      const times = getTimes(new Date(START + day * 24 * H), HANOI.lat, HANOI.lon);
      for (const [t, on] of [
        [times.sunrise!.getTime(), false] as const,
        [times.sunset!.getTime(), true] as const,
      ])
        if (t > START && t < at(72)) sunEvents.push({ t, on });
    }
    expect(sunEvents).toHaveLength(6);
    for (const e of sunEvents) {
      const w = ons.find((x) => x.value === e.on && Math.abs(x.t - e.t) <= 60_000);
      expect(w, `light-1 on=${e.on} near ${new Date(e.t).toISOString()}`).toBeDefined();
    }
    // Exactly the initial write plus one per sun event (outside the override window).
    expect(ons).toHaveLength(1 + 6);
    // 50 % from 23:00 local (16:00 UTC) each night, back to 100 % at 05:00 (22:00 UTC).
    const dims = plant.writesTo('light-1', 'dim').filter((w) => w.t < at(22) || w.t > at(24));
    const hhmm = (t: number) => new Date(t).toISOString().slice(11, 16);
    expect(dims.slice(1).map((w) => [hhmm(w.t), w.value])).toEqual([
      ['16:00', 50],
      ['22:00', 100],
      ['16:00', 50],
      ['22:00', 100],
      ['16:00', 50],
      ['22:00', 100],
    ]);
    // Every actuation is an event with its reason.
    const acts = plant.events('actuation');
    expect(acts.length).toBe(plant.writes.length);
    for (const a of acts)
      expect(a.reason).toMatchObject({ source: expect.stringMatching(/rule|override|interlock|fail-safe/) });
  });

  it('keeps the wet well between the thresholds with minimum run times respected', () => {
    expect(levels.length).toBeGreaterThan(100_000);
    const min = levels.reduce((m, l) => Math.min(m, l.level), Infinity);
    const max = levels.reduce((m, l) => Math.max(m, l.level), -Infinity);
    expect(min).toBeGreaterThan(0.45);
    expect(max).toBeLessThan(2.05);
    expect(levels.some((l) => l.dryRun)).toBe(false);
    for (const pump of ['pump1-run', 'pump2-run']) {
      const ws = plant.writesTo('ps-1', pump);
      let startedAt: number | undefined;
      let runs = 0;
      for (const w of ws) {
        if (w.value === true) startedAt = w.t;
        else if (startedAt !== undefined) {
          // A run cut short by the thermal trip is the interlock's doing, not the rule's.
          if (!(`ps-1.${pump}` === faulted && w.t >= faultAt && w.t < faultAt + 10_000))
            expect(w.t - startedAt).toBeGreaterThanOrEqual(60_000);
          startedAt = undefined;
          runs++;
        }
      }
      expect(runs, `${pump} is used (duty rotation)`).toBeGreaterThan(20);
    }
  });

  it('raises each bin alarm once and clears it once', () => {
    for (const bin of ['bin-1', 'bin-2', 'bin-3']) {
      const a = plant.alarms(`bin-full:${bin}`);
      expect(
        a.map((x) => x.state),
        bin,
      ).toEqual(['raised', 'cleared']);
    }
    const [raised] = plant.alarms('bin-full:bin-1');
    // 60 % + 1.5 %/h reads 80 % (rounded) after 13 h.
    expect(raised!.ts as number).toBeGreaterThanOrEqual(at(13));
    expect(raised!.ts as number).toBeLessThan(at(14) + 900_000);
  });

  it('expires the festival override on time and goes back to the schedule', () => {
    const on = plant.writesTo('light-2', 'on').filter((w) => w.t >= at(22) && w.t <= at(24));
    expect(on.map((w) => [w.t - at(22), w.value])).toEqual([
      [0, true],
      [2 * H, false],
    ]);
    const started = plant.events('override-started');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({
      override: 'festival',
      who: 'operator:lan',
      why: 'festival in the square',
    });
    expect(plant.events('override-expired')).toEqual([
      expect.objectContaining({ override: 'festival', ts: at(24) }),
    ]);
    const byOverride = plant
      .events('actuation')
      .filter((a) => (a.reason as { source: string }).source === 'override');
    // Only `on` changes: by day the schedule already holds dim at 100 %.
    expect(byOverride.map((a) => [a.device, a.point, a.value])).toEqual([
      ['light-1', 'on', true],
      ['light-2', 'on', true],
    ]);
    expect(byOverride[0]!.reason).toMatchObject({ override: 'festival', who: 'operator:lan' });
    expect(plant.runner.overrides()).toEqual([]);
  });

  it('raises lamp-fault and dark-street for the failed lamp at night, each once, and clears them', () => {
    expect(plant.alarms('lamp-fault:light-2').map((a) => a.state)).toEqual(['raised', 'cleared']);
    const dark = plant.alarms('dark-street:light-2');
    expect(dark.map((a) => a.state)).toEqual(['raised', 'cleared']);
    expect((dark[0]!.ts as number) - at(32)).toBeGreaterThanOrEqual(120_000);
    expect(plant.alarms('dark-street:light-1')).toEqual([]);
    expect(plant.alarms('lamp-fault:light-1')).toEqual([]);
  });

  it('hands over to the standby pump when the running one trips, and raises an alarm', () => {
    expect(faultAt).toBeGreaterThan(0);
    const other = faulted === 'ps-1.pump1-run' ? 'pump2-run' : 'pump1-run';
    const takeover = plant.writesTo('ps-1', other).find((w) => w.value === true && w.t >= faultAt);
    expect(takeover).toBeDefined();
    expect(takeover!.t - faultAt).toBeLessThanOrEqual(4_000);
    expect(plant.events('duty-takeover')).toEqual([
      expect.objectContaining({ from: faulted, to: `ps-1.${other}` }),
    ]);
    const alarms = plant.alarms('wet-well:takeover');
    expect(alarms.map((a) => a.state)).toEqual(['raised', 'cleared']);
    expect((alarms[1]!.ts as number) - faultAt).toBeGreaterThanOrEqual(4 * H - 60_000);
    // The interlock held the tripped pump off until the fault was cleared.
    const tripped = faulted.split('.')[1]!;
    const during = plant
      .writesTo('ps-1', tripped)
      .filter((w) => w.t > faultAt && w.t < faultAt + 4 * H - 60_000);
    expect(during.every((w) => w.value === false)).toBe(true);
    expect(plant.events('interlock-engaged').length).toBeGreaterThanOrEqual(1);
    expect(plant.alarms('high-level')).toEqual([]);
  });
});
