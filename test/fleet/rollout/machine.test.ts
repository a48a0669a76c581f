import { describe, expect, it } from 'vitest';
import {
  inWindow,
  planRollout,
  stepRollout,
  summarize,
  windowOpensAt,
} from '../../../fleet/src/rollout/machine.js';
import type {
  GatewayInfo,
  RolloutEffect,
  RolloutEvent,
  RolloutSpec,
  RolloutState,
} from '../../../fleet/src/rollout/types.js';

const T0 = Date.UTC(2026, 5, 1, 3, 0); // 10:00 in Hà Nội
const fleet: GatewayInfo[] = Array.from({ length: 20 }, (_, i) => ({
  id: `gw-${String(i + 1).padStart(2, '0')}`,
  group: i < 16 ? 'hoan-kiem' : 'ba-dinh',
  tags: i % 2 === 0 ? ['pumps'] : ['lights'],
  zone: i < 3 ? 'sandbox' : 'city',
}));
const spec = (over: Partial<RolloutSpec> = {}): RolloutSpec => ({
  version: '1.4.0',
  target: { kind: 'all' },
  waves: [{ count: 2 }, { percent: 25 }],
  successThresholdPercent: 100,
  maxFailures: 2,
  gatewayTimeoutMs: 600_000,
  ...over,
});

/** Drive a rollout; `answer` decides what each gateway reports when it is sent the update. */
function drive(
  s0: RolloutState,
  answer: (gw: string) => 'committed' | 'rolled-back' | 'silent',
  maxSteps = 200,
): { state: RolloutState; sent: string[][] } {
  let s = s0;
  const sent: string[][] = [];
  let queue: RolloutEvent[] = [{ type: 'tick' }];
  let now = T0;
  for (let i = 0; i < maxSteps && queue.length; i++) {
    const ev = queue.shift()!;
    const r = stepRollout(s, ev, now);
    s = r.state;
    const sends = r.effects.filter(
      (e): e is Extract<RolloutEffect, { type: 'send-update' }> => e.type === 'send-update',
    );
    if (sends.length) sent.push(sends.map((e) => e.gateway));
    for (const e of sends) {
      const a = answer(e.gateway);
      if (a === 'silent') continue;
      queue.push({
        type: 'report',
        gateway: e.gateway,
        report: { txId: e.txId, status: 'running', step: 'health' },
      });
      queue.push({
        type: 'report',
        gateway: e.gateway,
        report: { txId: e.txId, status: a, ...(a === 'rolled-back' ? { reason: 'health: crash loop' } : {}) },
      });
    }
    if (!queue.length) {
      const wake = r.effects.filter((e) => e.type === 'wake-at').map((e) => (e as { at: number }).at);
      if (wake.length) {
        now = Math.max(now, Math.min(...wake));
        queue = [{ type: 'tick' }];
      }
    }
  }
  return { state: s, sent };
}

describe('rollout planning', () => {
  it('splits 20 gateways into a canary of 2, a 25 % wave and the rest', () => {
    const s = planRollout('r1', spec(), fleet, T0);
    expect(s.waves.map((w) => [w.name, w.gateways.length])).toEqual([
      ['canary', 2],
      ['wave 2', 5],
      ['wave 3', 13],
    ]);
    expect(new Set(s.waves.flatMap((w) => w.gateways)).size).toBe(20);
  });

  it('targets a group or a tag, and puts the pilot zone first', () => {
    expect(
      planRollout('r', spec({ target: { kind: 'group', group: 'ba-dinh' } }), fleet, T0).waves.flatMap(
        (w) => w.gateways,
      ),
    ).toEqual(['gw-17', 'gw-18', 'gw-19', 'gw-20']);
    const tag = planRollout('r', spec({ target: { kind: 'tag', tag: 'pumps' } }), fleet, T0);
    expect(Object.keys(tag.gateways)).toHaveLength(10);
    const pilot = planRollout('r', spec({ pilotZone: 'sandbox' }), fleet, T0);
    expect(pilot.waves[0]).toEqual({ name: 'pilot (sandbox)', gateways: ['gw-01', 'gw-02', 'gw-03'] });
    expect(pilot.waves[1]!.name).toBe('canary');
    expect(() => planRollout('r', spec({ target: { kind: 'tag', tag: 'nope' } }), fleet, T0)).toThrow(
      /no gateway matches/,
    );
    expect(() => planRollout('r', spec({ pilotZone: 'mars' }), fleet, T0)).toThrow(/pilot zone 'mars'/);
  });
});

describe('rollout over 20 simulated gateways', () => {
  it('canaries fail: the rollout halts and no gateway outside the canary wave is touched', () => {
    const s0 = planRollout('r1', spec(), fleet, T0);
    const canary = s0.waves[0]!.gateways;
    const { state, sent } = drive(s0, () => 'rolled-back');
    expect(state.status).toBe('halted');
    expect(state.reason).toBe(
      '2 gateway(s) failed (limit 2): gw-01: health: crash loop; gw-02: health: crash loop',
    );
    expect(sent.flat().sort()).toEqual(canary);
    for (const [id, g] of Object.entries(state.gateways))
      expect(g.status, id).toBe(canary.includes(id) ? 'rolled-back' : 'pending');
    expect(summarize(state).map((w) => w.state)).toEqual(['failed', 'waiting', 'waiting']);
  });

  it('one canary of two fails: below the 100 % success threshold halts before wave 2', () => {
    const { state, sent } = drive(planRollout('r1', spec({ maxFailures: 5 }), fleet, T0), (g) =>
      g === 'gw-02' ? 'rolled-back' : 'committed',
    );
    expect(state.status).toBe('halted');
    expect(state.reason).toBe('canary: 1 of 2 committed (50%, needs 100%)');
    expect(sent).toEqual([['gw-01', 'gw-02']]);
  });

  it('all succeed: completes wave by wave, each wave sent only after the previous one passed', () => {
    const { state, sent } = drive(planRollout('r1', spec(), fleet, T0), () => 'committed');
    expect(state.status).toBe('completed');
    expect(sent.map((w) => w.length)).toEqual([2, 5, 13]);
    expect(sent.flat()).toEqual(state.waves.flatMap((w) => w.gateways));
    expect(Object.values(state.gateways).every((g) => g.status === 'committed')).toBe(true);
    expect(summarize(state).map((w) => [w.state, w.committed])).toEqual([
      ['passed', 2],
      ['passed', 5],
      ['passed', 13],
    ]);
  });

  it('a gateway that never answers times out (nothing stays in progress) and counts as a failure', () => {
    const { state } = drive(planRollout('r1', spec({ maxFailures: 1 }), fleet, T0), (g) =>
      g === 'gw-01' ? 'silent' : 'committed',
    );
    expect(state.status).toBe('halted');
    expect(state.gateways['gw-01']).toMatchObject({
      status: 'timed-out',
      reason: 'no result within 600000 ms',
    });
    expect(state.updatedAt).toBe(T0 + 600_000);
    expect(Object.values(state.gateways).filter((g) => g.status === 'updating')).toEqual([]);
  });

  it('a pilot zone goes first, then the rollout waits for a person to resume', () => {
    const s0 = planRollout('r1', spec({ pilotZone: 'sandbox' }), fleet, T0);
    const a = drive(s0, () => 'committed');
    expect(a.state.status).toBe('paused');
    expect(a.state.reason).toBe('pilot (sandbox) passed: resume to continue beyond the pilot zone');
    expect(a.sent).toEqual([['gw-01', 'gw-02', 'gw-03']]);
    const r = stepRollout(a.state, { type: 'resume' }, T0 + 1000);
    expect(
      r.effects.filter((e) => e.type === 'send-update').map((e) => (e as { gateway: string }).gateway),
    ).toEqual(['gw-04', 'gw-05']);
  });

  it('pause stops new sends, resume continues, abort stops for good; in-flight results are still recorded', () => {
    let s = planRollout('r1', spec({ maxInFlight: 1 }), fleet, T0);
    let r = stepRollout(s, { type: 'tick' }, T0);
    expect(r.effects.filter((e) => e.type === 'send-update')).toHaveLength(1);
    s = stepRollout(r.state, { type: 'pause' }, T0 + 1).state;
    r = stepRollout(
      s,
      { type: 'report', gateway: 'gw-01', report: { txId: 'r1:gw-01', status: 'committed' } },
      T0 + 2,
    );
    expect(r.state.gateways['gw-01']!.status).toBe('committed');
    expect(r.effects.filter((e) => e.type === 'send-update')).toEqual([]);
    r = stepRollout(r.state, { type: 'resume' }, T0 + 3);
    expect(r.effects.filter((e) => e.type === 'send-update')).toEqual([
      { type: 'send-update', gateway: 'gw-02', txId: 'r1:gw-02', version: '1.4.0' },
    ]);
    r = stepRollout(r.state, { type: 'abort', reason: 'wrong build' }, T0 + 4);
    expect(r.state).toMatchObject({ status: 'aborted', reason: 'wrong build' });
    r = stepRollout(
      r.state,
      { type: 'report', gateway: 'gw-02', report: { txId: 'r1:gw-02', status: 'committed' } },
      T0 + 5,
    );
    expect(r.state.status).toBe('aborted');
    expect(r.state.gateways['gw-02']!.status).toBe('committed');
    expect(r.effects.filter((e) => e.type === 'send-update')).toEqual([]);
    expect(stepRollout(r.state, { type: 'resume' }, T0 + 6).state.status).toBe('aborted');
  });

  it('a report from another transaction is ignored', () => {
    const r = stepRollout(planRollout('r1', spec(), fleet, T0), { type: 'tick' }, T0);
    const r2 = stepRollout(
      r.state,
      { type: 'report', gateway: 'gw-01', report: { txId: 'r0:gw-01', status: 'rolled-back' } },
      T0 + 1,
    );
    expect(r2.state.gateways['gw-01']!.status).toBe('updating');
  });
});

describe('update window', () => {
  // Not while street lights switch at dusk: updates only 22:00–05:00 Hà Nội time (UTC+7).
  const window = { from: '22:00', to: '05:00', utcOffsetMinutes: 420 };

  it('sends nothing outside the window and wakes when it opens', () => {
    const r = stepRollout(planRollout('r1', spec({ window }), fleet, T0), { type: 'tick' }, T0);
    expect(r.effects).toEqual([{ type: 'wake-at', at: Date.UTC(2026, 5, 1, 15, 0) }]);
    const open = stepRollout(r.state, { type: 'tick' }, Date.UTC(2026, 5, 1, 15, 0));
    expect(open.effects.filter((e) => e.type === 'send-update')).toHaveLength(2);
  });

  it('window arithmetic spans midnight', () => {
    expect(inWindow(window, Date.UTC(2026, 5, 1, 21, 59))).toBe(true); // 04:59 local
    expect(inWindow(window, Date.UTC(2026, 5, 1, 22, 0))).toBe(false); // 05:00 local
    expect(inWindow(window, Date.UTC(2026, 5, 1, 14, 59))).toBe(false); // 21:59 local
    expect(windowOpensAt(window, Date.UTC(2026, 5, 1, 22, 0))).toBe(Date.UTC(2026, 5, 2, 15, 0));
  });
});
