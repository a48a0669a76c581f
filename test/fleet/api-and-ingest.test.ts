import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { memoryLogger } from '../../common/log.js';
import { PROTOCOL_VERSION, topics, type TelemetryBatch } from '../../common/contract/index.js';
import { startFleet, type Fleet } from '../../fleet/src/main.js';
import { tempDir, waitFor } from '../helpers.js';

/** Connect and report whether the broker accepted the connection (refusals may just close the socket). */
function tryConnect(url: string, opts: mqtt.IClientOptions): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 });
    const done = (r: 'connected' | 'refused') => {
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.end(true);
      resolve(r);
    };
    c.once('connect', () => done('connected'));
    c.once('error', () => done('refused'));
    c.once('close', () => done('refused'));
  });
}

let seq = 0;
const batch = (gateway: string, ids: number[], value = 1): TelemetryBatch => ({
  v: PROTOCOL_VERSION,
  gateway,
  epoch: '0123456789abcdef',
  session: 1,
  seq: ++seq,
  sentAt: Date.now(),
  readings: ids.map((id) => ({
    id,
    device: 'light-1',
    point: 'power',
    value,
    unit: 'W',
    ts: Date.now() - 1000 + id,
  })),
});

describe('fleet HTTP API and ingest', () => {
  const dir = tempDir();
  const log = memoryLogger('debug');
  let fleet: Fleet;
  let gw: mqtt.MqttClient;

  beforeAll(async () => {
    fleet = await startFleet({ dataDir: dir.path, httpPort: 0, mqttPort: 0, security: 'open', log });
    gw = await mqtt.connectAsync(fleet.mqttUrl, { clientId: 'gw-a', reconnectPeriod: 0 });
  });
  afterAll(async () => {
    await gw?.endAsync();
    await fleet?.stop();
    dir.cleanup();
  });

  const get = async (path: string) => {
    const res = await fetch(`${fleet.httpUrl}${path}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('answers an unknown gateway with 404 and a message naming it', async () => {
    const r = await get('/api/v1/gateways/gw-nope/telemetry');
    expect(r.status).toBe(404);
    expect(r.body).toEqual({
      status: 'error',
      error: { code: 'unknown-gateway', message: "no gateway 'gw-nope' has ever connected to this fleet" },
    });
  });

  it('stores a batch, and a re-sent batch only once', async () => {
    await gw.publishAsync(topics.telemetry('gw-a'), JSON.stringify(batch('gw-a', [1, 2, 3])), { qos: 1 });
    await gw.publishAsync(topics.telemetry('gw-a'), JSON.stringify(batch('gw-a', [2, 3, 4])), { qos: 1 });
    await waitFor('4 readings', async () => (await fleet.store.getGateway('gw-a'))?.readings === 4);
    const r = await get('/api/v1/gateways/gw-a/telemetry?device=light-1&point=power');
    expect(r.body.count).toBe(4);
    expect((await fleet.store.getGateway('gw-a'))?.duplicates).toBe(2);
  });

  it('downsamples into time buckets with mean, min, max and count', async () => {
    const r = await get('/api/v1/gateways/gw-a/telemetry?device=light-1&point=power&bucketMs=3600000');
    expect(r.status).toBe(200);
    const buckets = r.body.buckets as {
      count: number;
      mean: number;
      min: number;
      max: number;
      unit: string;
    }[];
    expect(buckets.reduce((n, b) => n + b.count, 0)).toBe(4);
    expect(buckets[0]).toMatchObject({ mean: 1, min: 1, max: 1, unit: 'W' });
    expect((await get('/api/v1/gateways/gw-a/telemetry?bucketMs=5')).status).toBe(400);
  });

  it('rejects bad query parameters with 400 naming the parameter', async () => {
    const since = await get('/api/v1/gateways/gw-a/telemetry?since=yesterday-ish');
    expect(since.status).toBe(400);
    expect(JSON.stringify(since.body)).toMatch(/'since'.*yesterday-ish/);
    const limit = await get('/api/v1/gateways/gw-a/telemetry?limit=0');
    expect(limit.status).toBe(400);
    expect(JSON.stringify(limit.body)).toMatch(/querystring\/limit must be >= 1/);
    const id = await get('/api/v1/gateways/GW%2B1/telemetry');
    expect(id.status).toBe(400);
    const extra = await get('/api/v1/gateways/gw-a/telemetry?colour=blue');
    expect(extra.status).toBe(400);
  });

  it('filters by time range', async () => {
    const all = (await get('/api/v1/gateways/gw-a/telemetry')).body.readings as { ts: number }[];
    const newest = Math.max(...all.map((r) => r.ts));
    const r = await get(`/api/v1/gateways/gw-a/telemetry?since=${new Date(newest).toISOString()}`);
    expect(r.body.count).toBe(1);
  });

  it('answers an unknown route with 404 in the error shape', async () => {
    const r = await get('/api/v1/nothing');
    expect(r.status).toBe(404);
    expect(r.body.status).toBe('error');
  });

  it('rejects malformed payloads with a logged reason and keeps running', async () => {
    const before = fleet.ingest.stats.rejected;
    await gw.publishAsync(topics.telemetry('gw-a'), 'not json', { qos: 1 });
    const wrong = batch('gw-a', [9]) as unknown as { readings: { value: unknown }[] };
    wrong.readings[0]!.value = 'high';
    await gw.publishAsync(topics.telemetry('gw-a'), JSON.stringify(wrong), { qos: 1 });
    await gw.publishAsync(topics.telemetry('gw-a'), JSON.stringify(batch('gw-b', [1])), { qos: 1 });
    await waitFor('3 rejections', () => fleet.ingest.stats.rejected === before + 3);
    const text = log.lines.join('\n');
    expect(text).toMatch(/rejected telemetry from gw-a: telemetry payload is not JSON/);
    expect(text).toMatch(/readings\[0\]\.value: must be number,boolean/);
    expect(text).toMatch(/names gateway 'gw-b' on gw-a's topic/);
    expect((await fleet.store.getGateway('gw-a'))?.readings).toBe(4);
    expect((await get('/api/v1/health')).body.status).toBe('ok');
  });

  it("refuses a gateway publishing into another gateway's namespace", async () => {
    const intruder = await mqtt.connectAsync(fleet.mqttUrl, { clientId: 'gw-c', reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => intruder.once('close', () => r()));
    intruder.publish(topics.telemetry('gw-a'), JSON.stringify(batch('gw-a', [100])), { qos: 1 });
    await closed; // aedes closes the connection on an authorizePublish error
    expect(log.lines.some((l) => l.includes('denied publish by gw-c'))).toBe(true);
    expect((await fleet.store.getGateway('gw-a'))?.readings).toBe(4);
    await intruder.endAsync(true);
  });

  it('refuses client ids that are not gateway ids and Wills outside the namespace', async () => {
    expect(await tryConnect(fleet.mqttUrl, { clientId: 'gw-ok' })).toBe('connected');
    expect(await tryConnect(fleet.mqttUrl, { clientId: 'gw/+' })).toBe('refused');
    expect(await tryConnect(fleet.mqttUrl, { clientId: '#' })).toBe('refused');
    expect(
      await tryConnect(fleet.mqttUrl, {
        clientId: 'gw-d',
        will: { topic: topics.state('gw-a'), payload: Buffer.from('x'), qos: 1, retain: true },
      }),
    ).toBe('refused');
    expect(
      await tryConnect(fleet.mqttUrl, {
        clientId: 'citygate-fleet-x',
        username: 'citygate-fleet',
        password: 'guess',
      }),
    ).toBe('refused');
    expect(log.lines.join('\n')).not.toContain('guess');
  });
});
