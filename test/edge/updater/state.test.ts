import { describe, expect, it } from 'vitest';
import { transition, type Effect, type UpdaterState } from '../../../edge/src/updater/state.js';

const T = 1_000_000;
const runs = (fx: Effect[]) => fx.filter((e) => e.type === 'run').map((e) => (e as { step: string }).step);
const reports = (fx: Effect[]) =>
  fx.filter((e) => e.type === 'report').map((e) => (e as { progress: { status: string } }).progress.status);

/** Run the machine with every step succeeding until `failAt`, which fails with `reason`. */
function runTo(state: UpdaterState, failAt?: string): UpdaterState {
  let t = transition(state, { type: 'request', id: 'u', source: '/b' }, T);
  for (let i = 0; i < 20 && runs(t.effects).length; i++) {
    const step = runs(t.effects)[0] as never;
    t = transition(
      t.state,
      step === failAt
        ? { type: 'step-failed', step, reason: 'boom' }
        : { type: 'step-done', step, ...(step === 'verify' ? { version: '2.0.0' } : {}) },
      T + i,
    );
    if (step === failAt) failAt = undefined; // fail once
  }
  return t.state;
}

describe('updater state machine', () => {
  const live: UpdaterState = { committed: '1.0.0', highestCommitted: '1.0.0' };

  it('goes through every step to committed and records the highest version', () => {
    const s = runTo(live);
    expect(s).toMatchObject({
      committed: '2.0.0',
      highestCommitted: '2.0.0',
      last: { outcome: 'committed', version: '2.0.0' },
    });
    expect(s.job).toBeUndefined();
  });

  it.each(['check', 'download', 'verify', 'unpack'])(
    'a failure at %s drops the job; nothing to roll back',
    (step) => {
      const s = runTo(live, step);
      expect(s.last).toMatchObject({ outcome: 'failed', reason: `${step}: boom` });
      expect(s.committed).toBe('1.0.0');
    },
  );

  it.each(['switch', 'reload', 'health', 'commit'])(
    'a failure at %s rolls back to the previous release',
    (step) => {
      const s = runTo(live, step);
      expect(s.last).toMatchObject({ outcome: 'rolled-back', reason: `${step}: boom`, version: '2.0.0' });
      expect(s).toMatchObject({ committed: '1.0.0', highestCommitted: '1.0.0' });
    },
  );

  it('a failing rollback is retried, never abandoned', () => {
    let t = transition(
      {
        ...live,
        job: {
          id: 'u',
          source: '/b',
          version: '2.0.0',
          previous: '1.0.0',
          step: 'rollback',
          starts: 1,
          startedAt: T,
          stepStartedAt: T,
          reason: 'health: x',
        },
      },
      { type: 'step-failed', step: 'rollback', reason: 'pm2 down' },
      T,
    );
    expect(runs(t.effects)).toEqual(['rollback']);
    expect(t.state.job?.starts).toBe(2);
    t = transition(t.state, { type: 'step-done', step: 'rollback' }, T + 1);
    expect(t.state.last).toMatchObject({ outcome: 'rolled-back', reason: 'health: x' });
  });

  it('a second request while one runs is answered busy; resume with no job does nothing', () => {
    const t = transition(live, { type: 'request', id: 'a', source: '/a' }, T);
    const busy = transition(t.state, { type: 'request', id: 'b', source: '/b' }, T);
    expect(busy.state).toBe(t.state);
    expect(reports(busy.effects)).toEqual(['busy']);
    expect(transition(live, { type: 'resume' }, T).effects).toEqual([]);
  });

  it('a report for a step other than the current one is ignored (a stale result after a kill)', () => {
    const t = transition(live, { type: 'request', id: 'a', source: '/a' }, T);
    expect(transition(t.state, { type: 'step-done', step: 'commit' }, T).state).toBe(t.state);
  });
});
