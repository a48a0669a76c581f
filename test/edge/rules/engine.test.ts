import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { RuleEngine } from '../../../edge/src/rules/engine.js';
import { RuleRunner } from '../../../edge/src/rules/runner.js';
import type { ControlConfig, Effect, ThresholdRule, WriteEffect } from '../../../edge/src/rules/types.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { simAction } from '../../../hardware/src/sim/models/index.js';
import { cityControl, HANOI } from './fixtures.js';
import { SimPlant } from './sim-harness.js';

const T0 = Date.UTC(2026, 2, 10, 5, 0); // 12:00 in Hanoi
const writes = (fx: Effect[]) => fx.filter((e): e is WriteEffect => e.type === 'write');
const wv = (fx: Effect[]) => writes(fx).map((w) => [`${w.device}.${w.point}`, w.value]);
const level = (value: number) => [{ device: 'ps', point: 'level', value }];

const pumpRule = (extra: Partial<ThresholdRule> = {}): ThresholdRule => ({
  id: 'well',
  kind: 'threshold',
  input: 'ps.level',
  high: 2,
  low: 0.5,
  whenOn: { 'ps.run': true },
  whenOff: { 'ps.run': false },
  ...extra,
});

describe('threshold rules', () => {
  it('starts at ≥ high, stops at ≤ low, and does not chatter in between', () => {
    const e = new RuleEngine({ rules: [pumpRule()] });
    e.start(T0);
    expect(wv(e.readings(level(1.0), T0))).toEqual([['ps.run', false]]);
    expect(wv(e.readings(level(1.99), T0 + 1))).toEqual([]);
    expect(wv(e.readings(level(2.0), T0 + 2))).toEqual([['ps.run', true]]);
    for (const v of [1.9, 1.2, 0.6, 1.5, 0.51]) expect(wv(e.readings(level(v), T0 + 3))).toEqual([]);
    expect(wv(e.readings(level(0.5), T0 + 4))).toEqual([['ps.run', false]]);
  });

  it('keeps the minimum run time, then stops on a timer even without a new reading', () => {
    const e = new RuleEngine({ rules: [pumpRule({ minOnMs: 60_000 })] });
    e.start(T0);
    e.readings(level(2.1), T0);
    expect(wv(e.readings(level(0.3), T0 + 10_000))).toEqual([]);
    expect(e.nextWakeAt()).toBe(T0 + 60_000);
    expect(wv(e.tick(T0 + 59_999))).toEqual([]);
    const fx = e.tick(T0 + 60_000);
    expect(wv(fx)).toEqual([['ps.run', false]]);
    expect(writes(fx)[0]!.reason).toMatchObject({ source: 'rule', rule: 'well' });
  });

  it('caps starts per hour and reports the deferred start once', () => {
    const e = new RuleEngine({ rules: [pumpRule({ maxStartsPerHour: 2 })] });
    e.start(T0);
    const starts: number[] = [];
    let t = T0;
    for (let k = 0; k < 2; k++) {
      t += 60_000;
      if (wv(e.readings(level(2.5), t)).length) starts.push(t);
      t += 60_000;
      e.readings(level(0.2), t);
    }
    expect(starts).toHaveLength(2);
    // The third demand within the hour waits; more readings do not repeat the report.
    const fx = [2.5, 2.6, 2.7].flatMap((v) => e.readings(level(v), (t += 1000)));
    expect(wv(fx)).toEqual([]);
    expect(fx.filter((x) => x.type === 'event').map((x) => x.body.type)).toEqual(['start-deferred']);
    // Once the first start is an hour old, the pump starts without a new reading.
    expect(e.nextWakeAt()).toBe(starts[0]! + 3_600_000);
    expect(wv(e.tick(starts[0]! + 3_600_000))).toEqual([['ps.run', true]]);
  });
});

describe('schedules', () => {
  it('run on clock times in the default zone (Asia/Ho_Chi_Minh) without a location', () => {
    const e = new RuleEngine({
      rules: [
        {
          id: 'pump-test',
          kind: 'schedule',
          devices: ['p'],
          days: ['mon'],
          entries: [
            { at: { time: '08:00' }, set: { run: true } },
            { at: { time: '08:05' }, set: { run: false } },
          ],
        },
      ],
    });
    const monday0759 = Date.UTC(2026, 2, 9, 0, 59); // 07:59 in Hanoi, Monday 9 March 2026
    e.start(monday0759);
    expect(e.nextWakeAt()).toBe(monday0759 + 60_000);
    expect(wv(e.tick(monday0759 + 60_000))).toEqual([['p.run', true]]);
    expect(e.nextWakeAt()).toBe(monday0759 + 6 * 60_000);
    expect(wv(e.tick(monday0759 + 6 * 60_000))).toEqual([['p.run', false]]);
    expect(e.nextWakeAt()).toBe(monday0759 + 7 * 24 * 3_600_000 + 60_000); // next Monday
  });
});

describe('interlocks', () => {
  const cfg: ControlConfig = {
    rules: [pumpRule()],
    interlocks: [
      {
        id: 'protect',
        if: {
          any: [
            { point: 'ps.dry-run', op: '==', value: true },
            { point: 'ps.thermal', op: '==', value: true },
          ],
        },
        force: { 'ps.run': false },
      },
    ],
  };

  it('hold against a rule and an operator override that try to run a tripped pump', () => {
    const e = new RuleEngine(cfg);
    // Fail closed: before the trip flags have been read, the interlock already holds the pump off.
    const boot = e.start(T0);
    expect(wv(boot)).toEqual([['ps.run', false]]);
    expect(writes(boot)[0]!.reason).toEqual({ source: 'interlock', interlock: 'protect' });
    e.readings(
      [
        { device: 'ps', point: 'thermal', value: true },
        { device: 'ps', point: 'dry-run', value: false },
      ],
      T0,
    );
    expect(wv(e.readings(level(3), T0 + 1))).toEqual([]);
    const ov = e.addOverride(
      { id: 'force-run', who: 'op:minh', why: 'test run', set: { 'ps.run': true }, until: T0 + 3_600_000 },
      T0 + 2,
    );
    expect(wv(ov)).toEqual([]);
    expect(ov.filter((x) => x.type === 'event').map((x) => x.body.type)).toEqual([
      'override-started',
      'override-blocked',
    ]);
    // More readings, time passing, the dry-run flag joining: still nothing but "off".
    e.readings([{ device: 'ps', point: 'dry-run', value: true }, ...level(3.5)], T0 + 3);
    e.readings([{ device: 'ps', point: 'thermal', value: false }], T0 + 4);
    expect(e.tick(T0 + 10_000)).toEqual([]);
    // Both trips gone: the override (newest command) runs the pump.
    expect(wv(e.readings([{ device: 'ps', point: 'dry-run', value: false }], T0 + 5))).toEqual([
      ['ps.run', true],
    ]);
  });

  it('hold on the simulated pump station: neither rule nor override runs a pump on thermal trip', async () => {
    const profiles = loadProfiles();
    const clock = new FakeClock(T0);
    const plant = new SimPlant(
      clock,
      [{ id: 'ps-1', profile: profiles.get('citygate/psc-200')!, pollMs: 2000 }],
      cityControl(),
    );
    simAction(plant.dev('ps-1'), 'thermal-trip', 1);
    simAction(plant.dev('ps-1'), 'thermal-trip', 2);
    simAction(plant.dev('ps-1'), 'level', 2.5);
    plant.runner.start();
    plant.runner.addOverride({
      id: 'op',
      who: 'op:an',
      why: 'manual start',
      set: { 'ps-1.pump1-run': true },
      until: T0 + 3_600_000,
    });
    await plant.run(600_000, 10_000);
    expect(plant.writes.filter((w) => w.value === true)).toEqual([]);
    expect(plant.dev('ps-1').get('pump1-running')).toBe(false);
    expect(plant.dev('ps-1').get('pump2-running')).toBe(false);
    expect(plant.alarms('wet-well:none').map((a) => a.state)).toEqual(['raised']);
    expect(plant.events('override-blocked')).toHaveLength(1);
  });
});

describe('alarms', () => {
  it('raise once, clear once, with hysteresis', () => {
    const e = new RuleEngine({
      alarms: [
        {
          id: 'full',
          severity: 'minor',
          message: 'full',
          devices: ['b1', 'b2'],
          raise: { point: '$.fill', op: '>=', value: 80 },
          clear: { point: '$.fill', op: '<', value: 50 },
        },
      ],
    });
    e.start(T0);
    const states: string[] = [];
    for (const v of [10, 80, 85, 79, 90, 60, 49, 30, 20]) {
      for (const x of e.readings([{ device: 'b1', point: 'fill', value: v }], T0))
        if (x.type === 'alarm') states.push(`${x.body.key}:${x.body.state}`);
    }
    expect(states).toEqual(['full:b1:raised', 'full:b1:cleared']);
  });
});

describe('cabinet alarms from GPIO readings', () => {
  it('raise door-open and flood once each with their severity, and clear them', () => {
    const e = new RuleEngine({
      alarms: [
        {
          id: 'door',
          severity: 'warning',
          message: 'cabinet door open',
          raise: { point: 'cab.door-open', op: '==', value: true },
        },
        {
          id: 'flood',
          severity: 'critical',
          message: 'water in cabinet',
          raise: { point: 'cab.flood', op: '==', value: true },
        },
      ],
    });
    e.start(T0);
    const seen: string[] = [];
    const feed = (point: string, value: boolean) => {
      for (const x of e.readings([{ device: 'cab', point, value }], T0))
        if (x.type === 'alarm') seen.push(`${x.body.key}:${x.body.severity}:${x.body.state}`);
    };
    feed('door-open', true);
    feed('flood', true);
    feed('door-open', true); // repeated reading: no new alarm
    feed('door-open', false);
    feed('flood', false);
    expect(seen).toEqual([
      'door:warning:raised',
      'flood:critical:raised',
      'door:warning:cleared',
      'flood:critical:cleared',
    ]);
  });
});

describe('fail-safe and loss of control', () => {
  const lightsCfg = (): ControlConfig => ({
    location: HANOI,
    rules: [
      {
        id: 'photocell',
        kind: 'threshold',
        input: 'cab.lux',
        high: 50,
        low: 10,
        direction: 'falling',
        whenOn: { 'l1.on': true },
        whenOff: { 'l1.on': false },
      },
    ],
    failSafe: [{ device: 'l1', set: { on: false }, night: { on: true, dim: 100 } }],
  });
  const night = Date.UTC(2026, 2, 10, 15, 0); // 22:00 in Hanoi

  it('applies the fail-safe when a rule loses its input, and resumes when it returns', () => {
    const e = new RuleEngine(lightsCfg());
    // No photocell reading yet: at night the lamp starts in its fail-safe, fully on.
    expect(wv(e.start(night))).toEqual([
      ['l1.on', true],
      ['l1.dim', 100],
    ]);
    expect(wv(e.readings([{ device: 'cab', point: 'lux', value: 100 }], night))).toEqual([['l1.on', false]]);
    // The photocell's device goes offline: the rule cannot decide; the lamp goes back on.
    const lost = e.deviceState('cab', false, night + 1);
    expect(wv(lost)).toEqual([['l1.on', true]]);
    expect(writes(lost)[0]!.reason).toMatchObject({ source: 'fail-safe' });
    expect(wv(e.deviceState('cab', true, night + 2))).toEqual([['l1.on', false]]);
  });

  it('reasserts commands to a device that comes back online', () => {
    const e = new RuleEngine(lightsCfg());
    e.start(night);
    e.readings([{ device: 'cab', point: 'lux', value: 100 }], night);
    expect(wv(e.deviceState('l1', false, night + 1))).toEqual([]);
    expect(wv(e.deviceState('l1', true, night + 2))).toEqual([['l1.on', false]]);
  });

  it('puts every device into its fail-safe when the runtime stops', async () => {
    const clock = new FakeClock(night);
    const out: [string, string, unknown][] = [];
    const runner = new RuleRunner(lightsCfg(), {
      clock,
      write: async (d, p, v) => void out.push([d, p, v]),
      emit: () => {},
    });
    runner.start();
    runner.readings([{ device: 'cab', point: 'lux', value: 100 }]);
    await runner.stop({ failSafe: 'runtime shutting down' });
    expect(out).toEqual([
      // Before the photocell was read the rule had no input: fail-safe (night: on).
      ['l1', 'on', true],
      ['l1', 'dim', 100],
      ['l1', 'on', false],
      // Stopping: fail-safe again.
      ['l1', 'on', true],
      ['l1', 'dim', 100],
    ]);
  });

  it('raises an alarm and applies fail-safes when evaluation itself fails', () => {
    const clock = new FakeClock(night);
    const out: unknown[] = [];
    const alarms: unknown[] = [];
    const cfg = lightsCfg();
    // A schedule time no validated config could carry makes the calendar throw.
    cfg.rules!.push({
      id: 'broken',
      kind: 'schedule',
      devices: ['l2'],
      entries: [{ at: { time: 'xx:yy' }, set: { on: true } }],
    });
    const runner = new RuleRunner(cfg, {
      clock,
      write: async (d, p, v) => void out.push([d, p, v]),
      emit: (k, b) => void (k === 'alarm' && alarms.push(b)),
    });
    runner.start();
    expect(alarms).toEqual([
      expect.objectContaining({ alarm: 'rules-fault', severity: 'critical', state: 'raised' }),
    ]);
    expect(out).toEqual([
      ['l1', 'on', true],
      ['l1', 'dim', 100],
    ]);
  });

  it('retries a failed write and reports it', async () => {
    const clock = new FakeClock(T0);
    let fail = true;
    const tries: number[] = [];
    const events: string[] = [];
    const runner = new RuleRunner(
      { rules: [pumpRule()] },
      {
        clock,
        write: (_d, _p, _v) => {
          tries.push(clock.now());
          return fail ? Promise.reject(new Error('timeout')) : Promise.resolve();
        },
        emit: (_k, b) => void events.push(String(b.type)),
      },
    );
    runner.start();
    runner.readings(level(2.5));
    await new Promise((r) => setImmediate(r));
    expect(events).toContain('write-failed');
    fail = false;
    clock.advance(10_000);
    await new Promise((r) => setImmediate(r));
    expect(tries).toEqual([T0, T0 + 10_000]);
    await runner.stop();
  });

  it('keeps state across a config reload: no repeated writes, the running pump keeps running', () => {
    const clock = new FakeClock(T0);
    const out: unknown[] = [];
    const runner = new RuleRunner(
      { rules: [pumpRule({ minOnMs: 60_000 })] },
      { clock, write: async (d, p, v) => void out.push([d, p, v]), emit: () => {} },
    );
    runner.start();
    runner.readings(level(2.5));
    expect(out).toEqual([['ps', 'run', true]]);
    runner.reconfigure({ rules: [pumpRule({ minOnMs: 60_000, low: 0.8 })] });
    runner.readings(level(0.7));
    expect(out).toEqual([['ps', 'run', true]]); // min run time carried over
    clock.advance(60_000);
    expect(out).toEqual([
      ['ps', 'run', true],
      ['ps', 'run', false],
    ]);
  });
});
