import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import {
  FileRolloutPersistence,
  RolloutRunner,
  type UpdateCommand,
} from '../../../fleet/src/rollout/runner.js';
import { tempDir } from '../../helpers.js';

const tmp = tempDir('citygate-runner-');
afterAll(() => tmp.cleanup());

describe('rollout runner', () => {
  it('persists every state; after a fleet restart, timeouts that passed while it was down are applied', async () => {
    const clock = new FakeClock();
    const sent: [string, UpdateCommand][] = [];
    const deps = {
      sender: { sendUpdate: (g: string, c: UpdateCommand) => (sent.push([g, c]), Promise.resolve()) },
      directory: { list: () => Promise.resolve([{ id: 'gw-a' }, { id: 'gw-b' }, { id: 'gw-c' }]) },
      persistence: new FileRolloutPersistence(join(tmp.path, 'rollouts')),
      clock,
      log: memoryLogger(),
    };
    const a = new RolloutRunner(deps);
    const s = await a.create({
      version: '1.0.0',
      target: { kind: 'all' },
      waves: [{ count: 1 }],
      successThresholdPercent: 100,
      maxFailures: 1,
      gatewayTimeoutMs: 60_000,
    });
    expect(sent.map(([g]) => g)).toEqual(['gw-a']);
    a.stop();
    clock.advance(120_000); // the fleet is down; the gateway never answers
    const b = new RolloutRunner({
      ...deps,
      persistence: new FileRolloutPersistence(join(tmp.path, 'rollouts')),
    });
    expect(b.get(s.id).gateways['gw-a']!.status).toBe('updating');
    b.start();
    expect(b.get(s.id)).toMatchObject({ status: 'halted' });
    expect(b.get(s.id).gateways['gw-a']).toMatchObject({ status: 'timed-out' });
    expect(sent).toHaveLength(1);
    b.stop();
  });

  it('wakes itself on the injected clock to time out a silent gateway', async () => {
    const clock = new FakeClock();
    const r = new RolloutRunner({
      sender: { sendUpdate: () => Promise.resolve() },
      directory: { list: () => Promise.resolve([{ id: 'gw-a' }]) },
      persistence: new FileRolloutPersistence(join(tmp.path, 'r2')),
      clock,
      log: memoryLogger(),
    });
    const s = await r.create({
      version: '1.0.0',
      target: { kind: 'all' },
      waves: [],
      successThresholdPercent: 100,
      maxFailures: 1,
      gatewayTimeoutMs: 5000,
    });
    clock.advance(4999);
    expect(r.get(s.id).gateways['gw-a']!.status).toBe('updating');
    clock.advance(1);
    expect(r.get(s.id).gateways['gw-a']!.status).toBe('timed-out');
    r.report('gw-a', { txId: `${s.id}:gw-a`, status: 'committed' }); // late, but the truth
    expect(r.get(s.id).gateways['gw-a']!.status).toBe('committed');
    r.stop();
  });
});
