import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import pg from 'pg';
import { encode, PROTOCOL_VERSION, topics, type UpdateControl } from '../../../common/contract/index.js';
import { fakeBundle, testKey } from '../../edge/updater/fake-release.js';
import { Mosquitto } from '../../e2e/loss/harness.js';
import { tempDir, waitFor } from '../../helpers.js';
import { freePort, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { startWorker, type Worker } from './cluster.js';

const GATEWAYS = ['gw-r1', 'gw-r2', 'gw-r3'];

/** Real worker processes: the rollout leader is killed with SIGKILL between two waves. */
describe('a rollout across fleet workers', () => {
  const dir = tempDir();
  const key = testKey();
  let cluster: PostgresCluster;
  let mosquitto: Mosquitto;
  let url: string;
  const workers: Worker[] = [];
  const clients: mqtt.MqttClient[] = [];
  const received = new Map<string, UpdateControl>();
  /** Gateways that answer an update at once; the canary waits for the test. */
  const answering = new Set<string>();
  let seq = 0;

  const progress = (
    c: mqtt.MqttClient,
    gw: string,
    ctl: UpdateControl,
    step: string,
    status: 'running' | 'done',
  ) =>
    c.publishAsync(
      topics.updateProgress(gw),
      encode('update/progress', {
        v: PROTOCOL_VERSION,
        gateway: gw,
        epoch: '0123456789abcdef',
        session: 1,
        seq: ++seq,
        sentAt: Date.now(),
        tx: ctl.tx,
        step,
        status,
        version: ctl.release!.version,
      }),
      { qos: 1 },
    );
  const answer = async (gw: string) => {
    const ctl = received.get(gw)!;
    const c = clients[GATEWAYS.indexOf(gw)]!;
    await progress(c, gw, ctl, 'download', 'running');
    await progress(c, gw, ctl, 'commit', 'done');
  };

  beforeAll(async () => {
    cluster = await startPostgres();
    url = await cluster.createDatabase('rollout_workers');
    mosquitto = new Mosquitto(dir.path, await freePort());
    await mosquitto.start();
  }, 60_000);
  afterAll(async () => {
    for (const c of clients) await c.endAsync();
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await mosquitto?.stop();
    await cluster?.stop();
    dir.cleanup();
  });

  it('a rollout started through one worker is advanced by another when the first dies', async () => {
    for (const id of ['ra', 'rb'])
      workers.push(
        await startWorker({
          id,
          brokerUrl: mosquitto.url,
          storeUrl: url,
          group: 'ro',
          releaseKeyPem: key.publicKeyPem,
        }),
      );
    // Bundles are shared through PostgreSQL (docs/scaling.md): uploaded to one worker only.
    const bundle = await fakeBundle(dir.path, key, '3.1.0', 'good');
    const uploadedTo = workers[1]!;
    const up = await fetch(`${uploadedTo.httpUrl}/api/v1/releases`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(bundle),
    });
    expect(up.status, await up.text()).toBeLessThan(300);
    for (const gw of GATEWAYS) {
      const c = await mqtt.connectAsync(mosquitto.url, { clientId: gw, reconnectPeriod: 0 });
      clients.push(c);
      await c.subscribeAsync(topics.updateControl(gw), { qos: 1 });
      c.on('message', (_t, payload) => {
        received.set(gw, JSON.parse(payload.toString()) as UpdateControl);
        if (answering.has(gw)) void answer(gw);
      });
      await c.publishAsync(
        topics.state(gw),
        JSON.stringify({ v: 1, gateway: gw, session: 1, state: 'online', ts: Date.now() }),
        { qos: 1 },
      );
    }
    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      await waitFor('gateways known', async () => (await db.query('SELECT id FROM gateways')).rowCount === 3);
      const leaderId = await waitFor('a rollout leader', async () => {
        const r = await db.query<{ holder: string }>(
          "SELECT holder FROM leases WHERE name = 'rollouts:leader'",
        );
        return r.rows[0]?.holder;
      });
      const leader = workers.find((w) => w.id === leaderId)!;
      const other = workers.find((w) => w.id !== leaderId)!;

      // The worker that did not take the upload serves the same bundle (mirrored from PostgreSQL).
      const mirrored = workers.find((w) => w !== uploadedTo)!;
      const served = await waitFor('bundle mirrored', async () => {
        const r = await fetch(`${mirrored.httpUrl}/api/v1/releases/3.1.0/bundle`);
        return r.ok ? Buffer.from(await r.arrayBuffer()) : undefined;
      });
      expect(served.equals(readFileSync(bundle))).toBe(true);

      const res = await fetch(`${leader.httpUrl}/api/v1/rollouts`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          version: '3.1.0',
          target: { kind: 'all' },
          waves: [{ count: 1 }],
          successThresholdPercent: 100,
          maxFailures: 1,
          gatewayTimeoutMs: 120_000,
        }),
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const { rollout } = (await res.json()) as { rollout: { id: string } };
      const canary = await waitFor('the canary got its update', () => [...received.keys()][0]);
      expect(received.size).toBe(1);

      await leader.kill('SIGKILL');
      for (const gw of GATEWAYS) if (gw !== canary) answering.add(gw);
      await answer(canary); // its report reaches the surviving worker

      const status = async () =>
        (
          (await (await fetch(`${other.httpUrl}/api/v1/rollouts/${rollout.id}`)).json()) as {
            rollout: { status: string };
          }
        ).rollout.status;
      await waitFor(
        'rollout completed through the other worker',
        async () => (await status()) === 'completed',
        30_000,
        100,
      );
      expect([...received.keys()].sort()).toEqual(GATEWAYS);
      const r = await db.query<{ holder: string }>(
        "SELECT holder FROM leases WHERE name = 'rollouts:leader'",
      );
      expect(r.rows[0]!.holder).toBe(other.id);
    } finally {
      await db.end();
    }
  }, 120_000);
});
