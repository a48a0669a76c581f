import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { SharedRolloutRunner } from '../../../fleet/src/pg/rollout-leader.js';
import { PgFleetStore } from '../../../fleet/src/pg/store.js';
import type { RolloutSpec } from '../../../fleet/src/rollout/types.js';
import { waitFor } from '../../helpers.js';
import { startPostgres, type PostgresCluster } from '../../helpers/postgres.js';

const GATEWAYS = ['gw-a', 'gw-b', 'gw-c'];
const spec: RolloutSpec = {
  version: '2.0.0',
  target: { kind: 'all' },
  waves: [{ count: 1 }],
  successThresholdPercent: 100,
  maxFailures: 1,
  gatewayTimeoutMs: 600_000,
};

describe('rollout leadership through PostgreSQL', () => {
  let cluster: PostgresCluster;
  let store: PgFleetStore;
  const runners: SharedRolloutRunner[] = [];

  beforeAll(async () => {
    cluster = await startPostgres();
    store = await PgFleetStore.open(await cluster.createDatabase('rollouts'), Date.now());
  }, 60_000);
  afterAll(async () => {
    await Promise.all(runners.map((r) => r.shutdown()));
    await store?.close();
    await cluster?.stop();
  });

  /** One worker's rollout side; `sent` records the updates it put on the wire. */
  const worker = (workerId: string) => {
    const sent: string[] = [];
    const r = new SharedRolloutRunner({
      pool: store.pool,
      workerId,
      leaseMs: 800,
      pollMs: 50,
      sender: { sendUpdate: async (gw) => void sent.push(gw) },
      directory: { list: async () => GATEWAYS.map((id) => ({ id })) },
      hasRelease: () => true,
      clock: realClock,
      log: memoryLogger('debug'),
    });
    runners.push(r);
    r.start();
    return { r, sent };
  };

  it('a rollout started through one worker is advanced by another when the first dies', async () => {
    const a = worker('worker-a');
    await waitFor('worker-a leads', () => a.r.isLeader);
    const b = worker('worker-b');
    await new Promise((r) => setTimeout(r, 200));
    expect(b.r.isLeader).toBe(false);

    // Asked through the follower: the leader plans it and sends the canary wave.
    const created = await b.r.create(spec);
    await waitFor('canary sent by the leader', () => a.sent.length === 1);
    const canary = a.sent[0]!;
    expect(created.waves[0]!.gateways).toEqual([canary]);
    expect(b.sent).toEqual([]);
    const view = await waitFor('follower sees the canary updating', () =>
      b.r.get(created.id).gateways[canary]?.status === 'updating' ? b.r.get(created.id) : undefined,
    );
    const txId = view.gateways[canary]!.txId!;

    // The leader dies without a word (its lease is not released); the canary's report arrives at b.
    await a.r.shutdown(false);
    b.r.report(canary, { txId, status: 'committed', step: 'commit' });
    await waitFor('worker-b takes over', () => b.r.isLeader, 10_000);
    await waitFor('next wave sent by worker-b', () => b.sent.length === 2, 10_000);
    expect(b.sent.sort()).toEqual(GATEWAYS.filter((g) => g !== canary).sort());
    expect(a.sent).toEqual([canary]);

    for (const gw of b.sent)
      b.r.report(gw, { txId: b.r.get(created.id).gateways[gw]!.txId!, status: 'committed', step: 'commit' });
    const done = await waitFor('rollout completed', () =>
      b.r.get(created.id).status === 'completed' ? b.r.get(created.id) : undefined,
    );
    expect(Object.values(done.gateways).map((g) => g.status)).toEqual([
      'committed',
      'committed',
      'committed',
    ]);
    await waitFor('saved in PostgreSQL', async () => {
      const r = await store.pool.query<{ state: string }>('SELECT state FROM rollouts WHERE id = $1', [
        created.id,
      ]);
      return (JSON.parse(r.rows[0]!.state) as { status: string }).status === 'completed';
    });
  });

  it('a follower refuses a rollout of a release it does not know, naming the version', async () => {
    const c = new SharedRolloutRunner({
      pool: store.pool,
      workerId: 'worker-c',
      leaseMs: 800,
      sender: { sendUpdate: async () => undefined },
      directory: { list: async () => [] },
      hasRelease: (v) => v !== '9.9.9',
      clock: realClock,
      log: memoryLogger('debug'),
    });
    runners.push(c);
    await expect(c.create({ ...spec, version: '9.9.9' })).rejects.toThrow(
      'release 9.9.9 is not in the release store',
    );
  });
});
