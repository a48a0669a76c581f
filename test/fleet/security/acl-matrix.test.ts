/**
 * The broker ACL, exercised with an independent client (Debian's mosquitto_pub/mosquitto_sub over
 * TLS with the fleet's CA) and with mqtt.js: gateway A against gateway B's namespace.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, topics, type TelemetryBatch } from '../../../common/contract/index.js';
import { mqttOptions, type FleetCredentials } from '../../../edge/src/provision.js';
import type { Fleet } from '../../../fleet/src/main.js';
import { tempDir, waitFor } from '../../helpers.js';
import { api, hostPort, provisionGateway, run, startSecureFleet, tryConnect } from './helpers.js';

const batch = (gateway: string, id: number): string =>
  JSON.stringify({
    v: PROTOCOL_VERSION,
    gateway,
    epoch: '0123456789abcdef',
    session: 1,
    seq: id,
    sentAt: Date.now(),
    readings: [{ id, device: 'light-1', point: 'power', value: id, ts: Date.now() }],
  } satisfies TelemetryBatch);

describe('broker ACL matrix', () => {
  const dir = tempDir();
  let fleet: Fleet;
  let adminToken: string;
  let log: { lines: string[] };
  let a: FleetCredentials;
  let b: FleetCredentials;
  let cafile: string;
  let bWatch: mqtt.MqttClient;
  const seenByB: string[] = [];

  /** mosquitto_pub/sub as gateway `c` (or anyone) over TLS. */
  const mosq = (
    prog: 'mosquitto_pub' | 'mosquitto_sub',
    c: { id: string; user?: string; pass?: string },
    args: string[],
  ) => {
    const { host, port } = hostPort(fleet.mqttTlsUrl!);
    return run(prog, [
      '-h',
      host,
      '-p',
      port,
      '--cafile',
      cafile,
      '-i',
      c.id,
      ...(c.user ? ['-u', c.user] : []),
      ...(c.pass ? ['-P', c.pass] : []),
      '-V',
      'mqttv311',
      ...args,
    ]);
  };
  const asA = () => ({ id: 'gw-a', user: 'gw-a', pass: a.password });
  const asB = () => ({ id: 'gw-b', user: 'gw-b', pass: b.password });
  const denials = (who: string) => log.lines.filter((l) => l.includes(`denied publish by ${who}`)).length;

  beforeAll(async () => {
    ({ fleet, adminToken, log } = await startSecureFleet(dir.path));
    a = await provisionGateway(fleet, adminToken, 'gw-a', dir.path);
    b = await provisionGateway(fleet, adminToken, 'gw-b', dir.path);
    cafile = join(dir.path, 'ca.crt');
    writeFileSync(cafile, a.caCert);
    // B watches its own namespace through a second client id it may not have… so it uses its own id
    // from mqtt.js and the mosquitto tools act as A.
    bWatch = await mqtt.connectAsync(b.mqttUrl, { ...mqttOptions(b), reconnectPeriod: 0 });
    bWatch.on('message', (t, p) => seenByB.push(`${t} ${p.toString()}`));
    await bWatch.subscribeAsync(`${topics.namespace('gw-b')}#`, { qos: 1 });
  });
  afterAll(async () => {
    await bWatch?.endAsync(true);
    await fleet?.stop();
    dir.cleanup();
  });

  /** B publishes a marker to itself; once it is back, anything A managed to slip in would be too. */
  const barrier = async (marker: string) => {
    await bWatch.publishAsync(topics.events('gw-b'), marker, { qos: 1 });
    await waitFor(`marker ${marker}`, () => seenByB.some((m) => m.endsWith(marker)));
  };

  it('mosquitto_pub: A publishes its own telemetry but not into B (and the attempt is logged)', async () => {
    const own = await mosq('mosquitto_pub', asA(), [
      '-q',
      '1',
      '-t',
      topics.telemetry('gw-a'),
      '-m',
      batch('gw-a', 1),
    ]);
    expect(own.code, own.stderr).toBe(0);
    await waitFor('A reading stored', async () => (await fleet.store.getGateway('gw-a'))?.readings === 1);

    const before = denials('gw-a');
    await mosq('mosquitto_pub', asA(), ['-q', '1', '-t', topics.telemetry('gw-b'), '-m', batch('gw-b', 7)]);
    await mosq('mosquitto_pub', asA(), ['-q', '1', '-t', topics.configDesired('gw-b'), '-m', 'evil']);
    await barrier('after-a-into-b');
    expect(seenByB.filter((m) => m.includes('evil') || m.includes('"gateway":"gw-b","epoch"'))).toEqual([]);
    expect(denials('gw-a')).toBe(before + 2);
    expect(await fleet.store.getGateway('gw-b')).toBeUndefined();
  });

  it('mosquitto_pub: A may not publish retained outside its state topic, nor to its own downlink', async () => {
    const before = denials('gw-a');
    await mosq('mosquitto_pub', asA(), [
      '-q',
      '1',
      '-r',
      '-t',
      topics.telemetry('gw-a'),
      '-m',
      batch('gw-a', 2),
    ]);
    await mosq('mosquitto_pub', asA(), ['-q', '1', '-r', '-t', topics.state('gw-b'), '-m', 'fake-offline']);
    await mosq('mosquitto_pub', asA(), ['-q', '1', '-t', topics.configDesired('gw-a'), '-m', 'self-config']);
    await waitFor('3 denials', () => denials('gw-a') === before + 3);
    expect(log.lines.join('\n')).toMatch(/denied publish by gw-a: retained publish outside its state topic/);
    expect(log.lines.join('\n')).toMatch(
      /denied publish by gw-a: 'config\/desired' is a fleet → gateway channel/,
    );
    // Nothing retained landed on A's telemetry: a fresh subscriber sees no retained message.
    const sub = await mosq('mosquitto_sub', asA(), ['-t', topics.telemetry('gw-a'), '-C', '1', '-W', '2']);
    expect(sub.stdout).toBe('');
    // Retained on its own state topic is allowed (the birth/Will channel).
    const state = await mosq('mosquitto_pub', asA(), [
      '-q',
      '1',
      '-r',
      '-t',
      topics.state('gw-a'),
      '-m',
      'x',
    ]);
    expect(state.code, state.stderr).toBe(0);
  });

  it("mosquitto_sub: A cannot subscribe to '#' or to B's config; B can", async () => {
    const put = await api(fleet, adminToken, 'PUT', '/api/v1/gateways/gw-b/config', {
      lines: [],
      devices: [],
    });
    expect(put.status, JSON.stringify(put.body)).toBe(200);
    // B (its own config, retained): positive control.
    await bWatch.endAsync(true);
    const own = await mosq('mosquitto_sub', asB(), [
      '-t',
      topics.configDesired('gw-b'),
      '-C',
      '1',
      '-W',
      '5',
    ]);
    expect(own.stdout).toContain('"gateway":"gw-b"');
    bWatch = await mqtt.connectAsync(b.mqttUrl, { ...mqttOptions(b), reconnectPeriod: 0 });
    bWatch.on('message', (t, p) => seenByB.push(`${t} ${p.toString()}`));
    await bWatch.subscribeAsync(`${topics.namespace('gw-b')}#`, { qos: 1 });

    const foreign = await mosq('mosquitto_sub', asA(), [
      '-t',
      topics.configDesired('gw-b'),
      '-C',
      '1',
      '-W',
      '3',
    ]);
    expect(foreign.stdout).toBe('');
    const all = await mosq('mosquitto_sub', asA(), ['-t', '#', '-C', '1', '-W', '3']);
    expect(all.stdout).toBe('');
    expect(log.lines.filter((l) => l.includes('denied subscribe by gw-a')).length).toBeGreaterThanOrEqual(2);
  });

  it('mosquitto_pub: a Will on a foreign topic, a wrong password and bad ids are refused', async () => {
    const will = await mosq('mosquitto_pub', asA(), [
      '--will-topic',
      topics.state('gw-b'),
      '--will-payload',
      'offline',
      '-t',
      topics.telemetry('gw-a'),
      '-m',
      batch('gw-a', 3),
    ]);
    expect(will.code).not.toBe(0);
    const ownWill = await mosq('mosquitto_pub', asA(), [
      '--will-topic',
      topics.state('gw-a'),
      '--will-payload',
      'offline',
      '-t',
      topics.telemetry('gw-a'),
      '-m',
      batch('gw-a', 4),
    ]);
    expect(ownWill.code, ownWill.stderr).toBe(0);
    const wrong = await mosq('mosquitto_pub', { id: 'gw-a', user: 'gw-a', pass: 'not-it' }, [
      '-t',
      topics.telemetry('gw-a'),
      '-m',
      'x',
    ]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/not authori[sz]ed|refused/i);
    for (const id of ['gw+a', 'gw/a', '#', 'GW-A']) {
      const r = await mosq('mosquitto_pub', { id, user: id, pass: a.password }, [
        '-t',
        topics.telemetry('gw-a'),
        '-m',
        'x',
      ]);
      expect(r.code, `client id ${id}`).not.toBe(0);
    }
    // A's password under B's name.
    const swapped = await mosq('mosquitto_pub', { id: 'gw-b', user: 'gw-b', pass: a.password }, [
      '-t',
      topics.telemetry('gw-b'),
      '-m',
      'x',
    ]);
    expect(swapped.code).not.toBe(0);
  });

  it('mqtt.js: the same matrix from a library client', async () => {
    const opts = { ...mqttOptions(a), reconnectPeriod: 0 };
    // Subscribe to '#' and to B's config: SUBACK failure (128).
    const c = await mqtt.connectAsync(a.mqttUrl, opts);
    await expect(c.subscribeAsync('#', { qos: 1 })).rejects.toThrow(/Subscribe error/);
    await expect(c.subscribeAsync(topics.configDesired('gw-b'), { qos: 1 })).rejects.toThrow(
      /Subscribe error/,
    );
    const granted = await c.subscribeAsync(topics.configDesired('gw-a'), { qos: 1 });
    expect(granted.map((g) => g.qos)).toEqual([1]);
    // Publishing into B closes A's connection.
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish(topics.telemetry('gw-b'), batch('gw-b', 9), { qos: 1 });
    await closed;
    c.end(true);
    await barrier('after-mqttjs');
    expect(seenByB.some((m) => m.includes('"id":9'))).toBe(false);
    // Will on B's state topic: refused at connect.
    expect(
      await tryConnect(a.mqttUrl, {
        ...opts,
        will: { topic: topics.state('gw-b'), payload: Buffer.from('x'), qos: 1, retain: true },
      }),
    ).toBe('refused');
    expect(
      await tryConnect(a.mqttUrl, {
        ...opts,
        will: { topic: topics.state('gw-a'), payload: Buffer.from('x'), qos: 1, retain: true },
      }),
    ).toBe('connected');
    // Retained telemetry in its own namespace closes the connection too.
    const r = await mqtt.connectAsync(a.mqttUrl, opts);
    const closed2 = new Promise<void>((res) => r.once('close', () => res()));
    r.publish(topics.telemetry('gw-a'), batch('gw-a', 5), { qos: 1, retain: true });
    await closed2;
    r.end(true);
  });
});
