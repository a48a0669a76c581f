import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { realClock } from '../../../common/clock.js';
import { decode, topics } from '../../../common/contract/index.js';
import { CityGateError } from '../../../common/errors.js';
import { memoryLogger } from '../../../common/log.js';
import { Outbox } from '../../../edge/src/outbox.js';
import { Uplink } from '../../../edge/src/uplink.js';
import { RowRate } from '../../../edge/src/uplink-rate.js';
import { tempDir, waitFor } from '../../helpers.js';

describe('wire contract v1 channels', () => {
  const env = { v: 1, gateway: 'gw-1', epoch: '0123456789abcdef', session: 2, seq: 3, sentAt: 5 };
  it('accepts each channel and names what is wrong otherwise', () => {
    expect(decode('alarms', 'gw-1', JSON.stringify({ ...env, alarms: [] })).ok).toBe(true);
    expect(
      decode(
        'events',
        'gw-1',
        JSON.stringify({ ...env, events: [{ id: 1, ts: 1, type: 'x', data: { a: 1 } }] }),
      ).ok,
    ).toBe(true);
    expect(decode('cmd/res', 'gw-1', JSON.stringify({ ...env, tx: 't1', status: 'ok', result: 3 })).ok).toBe(
      true,
    );
    expect(decode('cmd/res', 'gw-1', JSON.stringify({ ...env, tx: 't1', status: 'error' }))).toEqual({
      ok: false,
      error: 'cmd/res payload: error: is required',
    });
    const ctl = { v: 1, gateway: 'gw-1', tx: 'u1', action: 'install', ts: 1 };
    expect(decode('update/control', 'gw-1', JSON.stringify(ctl))).toEqual({
      ok: false,
      error: 'update/control payload: release: is required',
    });
    expect(
      decode(
        'cmd/req',
        'gw-1',
        JSON.stringify({ v: 1, gateway: 'gw-1', tx: 'a b', name: 'x', args: {}, ts: 1 }),
      ),
    ).toMatchObject({ ok: false, error: expect.stringMatching(/tx: must match pattern/) as unknown });
    expect(
      decode(
        'config/desired',
        'gw-1',
        JSON.stringify({ v: 1, gateway: 'gw-1', version: 2, ts: 1, config: {} }),
      ).ok,
    ).toBe(true);
  });
});

describe('backlog rate limit', () => {
  it('refills at the rate, up to the burst', () => {
    const r = new RowRate(1000, 500, 0);
    expect(r.available(0)).toBe(500);
    r.consume(500);
    expect(r.available(100)).toBe(100);
    expect(r.waitMs(300)).toBe(200);
    expect(r.available(10_000)).toBe(500);
    expect(new RowRate(Infinity, 1, 0).available(0)).toBe(Infinity);
  });
});

describe('uplink against a broker', () => {
  const dir = tempDir();
  let server: Server;
  let broker: Aedes;
  let url: string;
  let fleet: mqtt.MqttClient;
  let outbox: Outbox;
  let uplink: Uplink;
  const seen: { topic: string; body: Record<string, unknown> }[] = [];
  const log = memoryLogger('debug');

  beforeAll(async () => {
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    fleet = await mqtt.connectAsync(url, { clientId: 'fleet-test', reconnectPeriod: 0 });
    await fleet.subscribeAsync(topics.fleetSubscriptions, { qos: 1 });
    fleet.on('message', (topic, payload) => {
      if (payload.length)
        seen.push({ topic, body: JSON.parse(payload.toString()) as Record<string, unknown> });
    });
    outbox = await Outbox.open(join(dir.path, 'o.db'));
    await outbox.putReadings([{ device: 'd-1', point: 'p', value: 1, unit: 'W', ts: 1000 }]);
    uplink = new Uplink(
      { gatewayId: 'gw-u', mqttUrl: url, version: '9.9.9', minRetryMs: 50 },
      outbox,
      realClock,
      log,
    );
    uplink.handlers.command = (req) => {
      if (req.name === 'fail') throw new CityGateError('nope', 'it failed');
      return Promise.resolve({ echoed: req.args });
    };
    uplink.start();
  });

  afterAll(async () => {
    await uplink?.stop();
    await outbox?.close();
    await fleet?.endAsync();
    await new Promise<void>((r) => broker.close(() => r()));
    server.close();
    dir.cleanup();
  });

  it('sends a birth (seq 0) and then numbered messages with the session and epoch', async () => {
    const t = await waitFor('telemetry', () => seen.find((m) => m.topic === topics.telemetry('gw-u')));
    const birth = seen.find((m) => m.topic === topics.state('gw-u') && m.body.state === 'online')!;
    expect(birth.body).toMatchObject({ seq: 0, session: 1, epoch: outbox.epoch, version: '9.9.9' });
    expect(t.body).toMatchObject({
      session: 1,
      seq: 1,
      epoch: outbox.epoch,
      evicted: { telemetry: 0, events: 0 },
    });
    expect(decode('telemetry', 'gw-u', JSON.stringify(t.body)).ok).toBe(true);
    expect((t.body.readings as unknown[])[0]).toEqual({
      device: 'd-1',
      point: 'p',
      value: 1,
      unit: 'W',
      id: 1,
      ts: 1000,
    });
    await waitFor('outbox empty', async () => (await outbox.depth()) === 0);
  });

  it('answers each command once on cmd/res, through the outbox, and rejects bad ones with a reason', async () => {
    const req = (tx: string, name: string) =>
      JSON.stringify({ v: 1, gateway: 'gw-u', tx, name, args: { a: 1 }, ts: Date.now() });
    await fleet.publishAsync(topics.commandRequest('gw-u'), req('tx-1', 'echo'), { qos: 1 });
    await fleet.publishAsync(topics.commandRequest('gw-u'), req('tx-1', 'echo'), { qos: 1 }); // redelivered
    await fleet.publishAsync(topics.commandRequest('gw-u'), req('tx-2', 'fail'), { qos: 1 });
    await fleet.publishAsync(topics.commandRequest('gw-u'), '{"v":1}', { qos: 1 });
    const answers = await waitFor('two answers', () => {
      const a = seen.filter((m) => m.topic === topics.commandResponse('gw-u'));
      return a.length >= 2 ? a : undefined;
    });
    await waitFor('rejection', () => uplink.health().rejectedDownlink === 1);
    expect(answers.map((a) => [a.body.tx, a.body.status])).toEqual([
      ['tx-1', 'ok'],
      ['tx-2', 'error'],
    ]);
    expect(answers[0]!.body.result).toEqual({ echoed: { a: 1 } });
    expect(answers[1]!.body.error).toEqual({ code: 'nope', message: 'it failed' });
    for (const a of answers) expect(decode('cmd/res', 'gw-u', JSON.stringify(a.body)).ok).toBe(true);
    expect(log.lines.join('\n')).toMatch(
      /rejected cmd\/req from the fleet: cmd\/req payload: gateway: is required/,
    );
  });

  it('publishes events with their fields under data, and alarms', async () => {
    await outbox.put('events', [
      { body: { type: 'device-offline', device: 'd-1', reason: 'timeout' }, ts: 2000 },
    ]);
    await outbox.put('alarms', [
      {
        body: {
          alarm: 'hot',
          key: 'hot:d-1',
          severity: 'major',
          state: 'raised',
          message: 'too hot',
          ts: 2500,
        },
        ts: 2600,
      },
    ]);
    uplink.notify();
    const ev = await waitFor('event', () => seen.find((m) => m.topic === topics.events('gw-u')));
    expect((ev.body.events as unknown[])[0]).toMatchObject({
      type: 'device-offline',
      ts: 2000,
      data: { device: 'd-1', reason: 'timeout' },
    });
    const al = await waitFor('alarm', () => seen.find((m) => m.topic === topics.alarms('gw-u')));
    expect(decode('alarms', 'gw-u', JSON.stringify(al.body)).ok).toBe(true);
    expect((al.body.alarms as { ts: number }[])[0]!.ts).toBe(2500); // the alarm's own time
  });
});
