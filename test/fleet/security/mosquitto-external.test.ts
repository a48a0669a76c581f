/**
 * External-broker mode against a real Mosquitto 2 (Debian): the fleet keeps Mosquitto's password
 * and ACL files up to date as gateways are provisioned and revoked; Mosquitto re-reads them on SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, topics } from '../../../common/contract/index.js';
import type { FleetCredentials } from '../../../edge/src/provision.js';
import type { Fleet } from '../../../fleet/src/main.js';
import { writeMosquittoFiles } from '../../../fleet/src/provisioning/mosquitto-files.js';
import { tempDir, waitFor } from '../../helpers.js';
import { api, provisionGateway, run, startSecureFleet } from './helpers.js';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });

const telemetry = (gateway: string, id: number) =>
  JSON.stringify({
    v: PROTOCOL_VERSION,
    gateway,
    epoch: '0123456789abcdef',
    session: 1,
    seq: id,
    sentAt: Date.now(),
    readings: [{ id, device: 'd-1', point: 'p', value: id, ts: Date.now() }],
  });

const state = (s: 'online' | 'offline') =>
  JSON.stringify({
    v: PROTOCOL_VERSION,
    gateway: 'gw-c',
    session: 1,
    state: s,
    ts: Date.now(),
    version: 't',
  });

describe('external Mosquitto with generated password and ACL files', () => {
  const dir = tempDir();
  const mdir = join(dir.path, 'mosquitto');
  const fleetUser = { username: 'citygate-fleet', password: 'fleet-secret-for-test-0123456789' };
  let port: number;
  let mosq: ChildProcess;
  let mlog = '';
  let fleet: Fleet;
  let admin: string;
  let a: FleetCredentials;
  let watcher: mqtt.MqttClient;
  const seen: string[] = [];
  let reloads = 0;
  /** While true, the fleet's file changes do not reach Mosquitto (a reload that has not happened yet). */
  let holdReload = false;

  const pub = (c: { id: string; pass: string }, topic: string, msg: string) =>
    run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-i',
      c.id,
      '-u',
      c.id,
      '-P',
      c.pass,
      '-q',
      '1',
      '-t',
      topic,
      '-m',
      msg,
    ]);

  beforeAll(async () => {
    port = await freePort();
    writeMosquittoFiles(mdir, [], { fleetUser: fleetUser.username, fleetPassword: fleetUser.password });
    const conf = join(dir.path, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous false',
        `password_file ${join(mdir, 'passwd')}`,
        `acl_file ${join(mdir, 'acl')}`,
        'persistence false',
        'log_dest stderr',
        'log_type all',
        'user root',
      ].join('\n') + '\n',
    );
    mosq = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    mosq.stderr!.on('data', (d: Buffer) => (mlog += d.toString()));
    await waitFor('mosquitto listening', () => mlog.includes('Opening ipv4 listen socket'));
    ({ fleet, adminToken: admin } = await startSecureFleet(dir.path, {
      externalBroker: { url: `mqtt://127.0.0.1:${port}`, ...fleetUser },
      mosquitto: {
        dir: mdir,
        onChange: () => {
          if (holdReload) return;
          reloads++;
          mosq.kill('SIGHUP');
        },
      },
    }));
    watcher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      clientId: 'citygate-fleet-test-watch',
      ...fleetUser,
      reconnectPeriod: 0,
    });
    watcher.on('message', (t, p) => seen.push(`${t} ${p.toString()}`));
    await watcher.subscribeAsync('citygate/v1/#', { qos: 1 });
  });
  afterAll(async () => {
    await watcher?.endAsync(true);
    await fleet?.stop();
    mosq?.kill('SIGTERM');
    dir.cleanup();
  });

  it('writes a password file in Mosquitto format and per-gateway ACL blocks, and reloads Mosquitto', async () => {
    const before = reloads;
    a = await provisionGateway(fleet, admin, 'gw-a', dir.path);
    await provisionGateway(fleet, admin, 'gw-b', dir.path);
    expect(reloads).toBeGreaterThanOrEqual(before + 2);
    const passwd = readFileSync(join(mdir, 'passwd'), 'utf8');
    expect(passwd).toMatch(/^gw-a:\$7\$101\$/m);
    expect(passwd).not.toContain(a.password);
    const acl = readFileSync(join(mdir, 'acl'), 'utf8');
    expect(acl).toContain('user gw-a\ntopic write citygate/v1/gw-a/telemetry');
    expect(acl).toContain('topic read citygate/v1/gw-a/config/desired');
    expect(acl).not.toMatch(/%u|%c/);
    // The gateway's credentials work once Mosquitto has re-read the files.
    await waitFor(
      'gw-a accepted',
      async () =>
        (await pub({ id: 'gw-a', pass: a.password }, topics.telemetry('gw-a'), telemetry('gw-a', 1))).code ===
        0,
    );
    await waitFor('own telemetry seen', () => seen.some((s) => s.startsWith(topics.telemetry('gw-a'))));
  });

  it("drops A's publish into B's namespace (Mosquitto logs the denial) and refuses a wrong password", async () => {
    await pub({ id: 'gw-a', pass: a.password }, topics.telemetry('gw-b'), telemetry('gw-b', 66));
    await pub({ id: 'gw-a', pass: a.password }, topics.configDesired('gw-b'), 'evil');
    await pub({ id: 'gw-a', pass: a.password }, topics.events('gw-a'), 'marker-after');
    await waitFor('marker', () => seen.some((s) => s.endsWith('marker-after')));
    expect(seen.filter((s) => s.includes('"id":66') || s.endsWith('evil'))).toEqual([]);
    expect(mlog).toMatch(/Denied PUBLISH from gw-a .*citygate\/v1\/gw-b\/telemetry/);
    const wrong = await pub({ id: 'gw-a', pass: 'wrong' }, topics.telemetry('gw-a'), 'x');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/not authori[sz]ed/i);
    // A subscribing to '#' receives nothing of B's.
    const sub = run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-i',
      'gw-a',
      '-u',
      'gw-a',
      '-P',
      a.password,
      '-t',
      '#',
      '-C',
      '1',
      '-W',
      '3',
    ]);
    await waitFor('subscription acknowledged', () => /Sending SUBACK to gw-a/.test(mlog));
    await watcher.publishAsync(topics.telemetry('gw-b'), telemetry('gw-b', 2), { qos: 1 });
    expect((await sub).stdout).toBe('');
  });

  it('revoking closes the live session, stores nothing more from it and closes it again if it comes back before the reload', async () => {
    const c = await provisionGateway(fleet, admin, 'gw-c', dir.path);
    const connect = () =>
      mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
        clientId: 'gw-c',
        username: 'gw-c',
        password: c.password,
        reconnectPeriod: 0,
        will: { topic: topics.state('gw-c'), payload: Buffer.from(state('offline')), qos: 1, retain: true },
      });
    let gw!: mqtt.MqttClient;
    await waitFor('gw-c accepted', async () => {
      gw = await connect().catch(() => undefined as unknown as mqtt.MqttClient);
      return gw !== undefined;
    });
    await gw.publishAsync(topics.telemetry('gw-c'), telemetry('gw-c', 1), { qos: 1 });
    await waitFor('gw-c reading stored', async () => (await fleet.store.getGateway('gw-c'))?.readings === 1);
    let closed = 0;
    gw.on('close', () => closed++);
    // Mosquitto does not re-read its files yet: only the fleet can end the session.
    holdReload = true;
    expect((await api(fleet, admin, 'POST', '/api/v1/gateways/gw-c/revoke')).status).toBe(200);
    await waitFor('gw-c connection closed by the fleet', () => closed > 0);
    // Back before the reload: its birth gets it closed again, and what it sends is not stored.
    const back = await connect();
    let closedAgain = false;
    back.on('close', () => (closedAgain = true));
    await back
      .publishAsync(topics.telemetry('gw-c'), telemetry('gw-c', 2), { qos: 1 })
      .catch(() => undefined);
    await back
      .publishAsync(topics.state('gw-c'), state('online'), { qos: 1, retain: true })
      .catch(() => undefined);
    await waitFor('gw-c closed again', () => closedAgain);
    expect((await fleet.store.getGateway('gw-c'))?.readings).toBe(1);
    holdReload = false;
    mosq.kill('SIGHUP');
    await waitFor(
      'gw-c refused after the reload',
      async () => (await pub({ id: 'gw-c', pass: c.password }, topics.telemetry('gw-c'), 'x')).code !== 0,
    );
  });

  it('revoking removes the gateway from the files and Mosquitto refuses it', async () => {
    expect((await api(fleet, admin, 'POST', '/api/v1/gateways/gw-a/revoke')).status).toBe(200);
    expect(readFileSync(join(mdir, 'passwd'), 'utf8')).not.toMatch(/^gw-a:/m);
    await waitFor(
      'gw-a refused',
      async () => (await pub({ id: 'gw-a', pass: a.password }, topics.telemetry('gw-a'), 'x')).code !== 0,
    );
  });
});
