import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { encode, PROTOCOL_VERSION, topics, type UpdateControl } from '../../common/contract/index.js';
import { memoryLogger } from '../../common/log.js';
import { startFleet, type Fleet } from '../../fleet/src/main.js';
import { fakeBundle, testKey } from '../edge/updater/fake-release.js';
import { tempDir, waitFor } from '../helpers.js';

/**
 * A staged rollout through the running fleet: signed release uploaded over HTTP, update/control
 * sent to each gateway over MQTT, update/progress back through ingest, waves advancing on it.
 */
describe('rollout through the fleet over MQTT', () => {
  const dir = tempDir();
  const key = testKey();
  let fleet: Fleet;
  const gateways: mqtt.MqttClient[] = [];
  const received = new Map<string, UpdateControl>();
  let seq = 0;

  async function gateway(id: string, outcome: 'commit' | 'rollback') {
    const c = await mqtt.connectAsync(fleet.mqttUrl, { clientId: id, reconnectPeriod: 0 });
    gateways.push(c);
    // A gateway first appears at the fleet through its birth message.
    await c.publishAsync(
      topics.state(id),
      JSON.stringify({ v: 1, gateway: id, session: 1, state: 'online', ts: Date.now() }),
      { qos: 1, retain: true },
    );
    await c.subscribeAsync(topics.updateControl(id), { qos: 1 });
    c.on('message', (_t, payload) => {
      const ctl = JSON.parse(payload.toString()) as UpdateControl;
      received.set(id, ctl);
      const progress = (step: string, status: 'running' | 'done' | 'failed', detail?: string) =>
        c.publishAsync(
          topics.updateProgress(id),
          encode('update/progress', {
            v: PROTOCOL_VERSION,
            gateway: id,
            epoch: '0123456789abcdef',
            session: 1,
            seq: ++seq,
            sentAt: Date.now(),
            tx: ctl.tx,
            step,
            status,
            version: ctl.release!.version,
            ...(detail ? { detail } : {}),
          }),
          { qos: 1 },
        );
      void progress('download', 'running').then(() =>
        outcome === 'commit'
          ? progress('commit', 'done')
          : progress('rollback', 'done', 'health: not healthy'),
      );
    });
  }

  beforeAll(async () => {
    fleet = await startFleet({
      dataDir: dir.path,
      httpPort: 0,
      mqttPort: 0,
      security: 'open',
      releaseKeys: [key.publicKeyPem],
      log: memoryLogger('warn'),
    });
    const bundle = await fakeBundle(dir.path, key, '1.2.0', 'good');
    const up = await fetch(`${fleet.httpUrl}/api/v1/releases`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream' },
      body: readFileSync(bundle),
    });
    expect(up.status).toBeLessThan(300);
  });
  afterAll(async () => {
    for (const g of gateways) await g.endAsync();
    await fleet?.stop();
    dir.cleanup();
  });

  it('sends the release to each gateway wave by wave and completes on their reports', async () => {
    for (const id of ['gw-a', 'gw-b', 'gw-c', 'gw-d']) await gateway(id, 'commit');
    await waitFor('4 gateways known', async () => (await fleet.store.listGateways()).length === 4);
    const res = await fetch(`${fleet.httpUrl}/api/v1/rollouts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        version: '1.2.0',
        target: { kind: 'all' },
        waves: [{ count: 1 }],
        successThresholdPercent: 100,
        maxFailures: 1,
        gatewayTimeoutMs: 60_000,
      }),
    });
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    const { rollout } = (await res.json()) as { rollout: { id: string } };
    const done = await waitFor(
      'rollout completed',
      async () => {
        const r = (await (await fetch(`${fleet.httpUrl}/api/v1/rollouts/${rollout.id}`)).json()) as {
          rollout?: { phase?: string; status?: string };
          phase?: string;
          status?: string;
        };
        const s = r.rollout ?? r;
        return ['completed', 'done'].includes(String(s.phase ?? s.status)) ? s : undefined;
      },
      20_000,
    );
    expect(done).toBeTruthy();
    expect([...received.keys()].sort()).toEqual(['gw-a', 'gw-b', 'gw-c', 'gw-d']);
    const ctl = received.get('gw-a')!;
    expect(ctl.action).toBe('install');
    expect(ctl.release!.url).toMatch(new RegExp(`^${fleet.httpUrl}/api/v1/releases/1\\.2\\.0/bundle`));
    expect(ctl.release!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const bundle = await fetch(ctl.release!.url);
    expect(bundle.status).toBe(200);
  });
});
