/**
 * Two secured fleet workers (security enforced, `share`) on one PostgreSQL and one real Mosquitto
 * that authenticates gateways from the password/ACL files the workers write: API tokens, claim
 * tokens, provisioning, telemetry, alarms, commands and flow sets work whichever worker is asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  PROTOCOL_VERSION,
  topics,
  type CommandResponse,
} from '../../../common/contract/index.js';
import { ed25519Verifier, verifyFlowSet, type FlowSet } from '../../../common/flow-set.js';
import { memoryLogger } from '../../../common/log.js';
import { mqttOptions, provision } from '../../../edge/src/provision.js';
import { startFleet, type Fleet } from '../../../fleet/src/main.js';
import { writeMosquittoFiles } from '../../../fleet/src/provisioning/mosquitto-files.js';
import { tempDir, waitFor } from '../../helpers.js';
import { freePort, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { api, TEST_SCRYPT } from '../security/helpers.js';
import { startWorker } from './cluster.js';

const envelope = (gateway: string, seq: number) => ({
  v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
  gateway,
  epoch: '00000000000000bb',
  session: 1,
  seq,
  sentAt: Date.now(),
});

describe('two secured workers sharing PostgreSQL and Mosquitto', () => {
  const dir = tempDir();
  const mdir = join(dir.path, 'mosquitto');
  const fleetUser = { username: 'citygate-fleet', password: 'fleet-secret-for-test-0123456789' };
  let pgc: PostgresCluster;
  let mosq: ChildProcess;
  let mlog = '';
  let brokerUrl = '';
  let a: Fleet;
  let b: Fleet;
  let admin = '';
  let storeUrl = '';

  // B writes the files Mosquitto reads; A keeps its own copy (as on another host) and must catch up.
  const worker = async (id: string, storeUrl: string, filesDir: string) =>
    startFleet({
      dataDir: join(dir.path, id),
      httpPort: 0,
      externalBroker: { url: brokerUrl, ...fleetUser },
      storeUrl,
      share: { group: 'fleet', connections: 2, leaseMs: 3000, workerId: id },
      mosquitto: { dir: filesDir, onChange: () => filesDir === mdir && mosq.kill('SIGHUP') },
      scryptCost: TEST_SCRYPT,
      log: memoryLogger('warn'),
    });

  beforeAll(async () => {
    pgc = await startPostgres();
    storeUrl = await pgc.createDatabase('secured');
    const port = await freePort();
    brokerUrl = `mqtt://127.0.0.1:${port}`;
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
        'log_type error',
        'log_type warning',
        'log_type notice',
        'log_type information',
        'user root',
      ].join('\n') + '\n',
    );
    mosq = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    mosq.stderr!.on('data', (d: Buffer) => (mlog = (mlog + d.toString()).slice(-20_000)));
    await waitFor('mosquitto listening', () => mlog.includes('Opening ipv4 listen socket'), 20_000);
    a = await worker('wa', storeUrl, join(dir.path, 'mosquitto-a'));
    b = await worker('wb', storeUrl, mdir);
    admin = a.admin!.bootstrapToken!;
  }, 90_000);
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    mosq?.kill('SIGTERM');
    await pgc?.stop();
    dir.cleanup();
  });

  it('shares one bootstrap token, one config-signing key and one CA; a token made on A works on B', async () => {
    expect(b.admin!.bootstrapToken).toBeUndefined();
    expect(b.admin!.configPublicKey).toBe(a.admin!.configPublicKey);
    expect(b.admin!.pki.caCert).toBe(a.admin!.pki.caCert);
    const made = await api(a, admin, 'POST', '/api/v1/tokens', { name: 'night-shift', role: 'operator' });
    expect(made.status).toBe(201);
    const op = made.body.token as string;
    expect((await api(b, op, 'GET', '/api/v1/alarms')).status).toBe(200);
    expect((await api(b, op, 'GET', '/api/v1/tokens')).status).toBe(403); // operator, not admin
    expect((await api(b, 'cgt_not-a-token', 'GET', '/api/v1/alarms')).status).toBe(401);
  });

  it('a flow set published on A is listed on B and signed with the shared config key', async () => {
    const flows = [
      { id: 't1', type: 'tab' },
      { id: 'i1', type: 'inject', z: 't1', wires: [] },
    ];
    expect((await api(a, admin, 'POST', '/api/v1/flow-sets/street-lights', { flows })).status).toBe(201);
    const listed = await api(b, admin, 'GET', '/api/v1/flow-sets');
    expect(listed.body.flowSets).toEqual([
      { name: 'street-lights', versions: [expect.objectContaining({ version: 1, nodes: 2 })] },
    ]);
    const set = (await api(b, admin, 'GET', '/api/v1/flow-sets/street-lights/versions/1'))
      .body as unknown as FlowSet;
    expect(a.flows.publicKeyPem).toBe(a.admin!.configPublicKey);
    expect(b.flows.publicKeyPem).toBe(a.admin!.configPublicKey);
    expect(() => verifyFlowSet(set, ed25519Verifier(b.admin!.configPublicKey))).not.toThrow();
  });

  it('a claim token made on A and redeemed on A and B at once: exactly one 201', async () => {
    const claim = await api(a, admin, 'POST', '/api/v1/claim-tokens', {});
    expect(claim.status).toBe(201);
    const token = claim.body.token as string;
    const results = await Promise.all(
      [a, b].map((w, i) =>
        api(w, undefined, 'POST', '/api/v1/provision', { token, gateway: `gw-race-${i}` }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 403]);
    const creds = (await api(b, admin, 'GET', '/api/v1/credentials')).body.credentials as {
      gateway: string;
    }[];
    expect(creds.filter((c) => c.gateway.startsWith('gw-race-'))).toHaveLength(1);
  });

  it(
    'a gateway provisioned through B connects to Mosquitto; its telemetry, alarm and command answer are shared',
    {
      timeout: 90_000,
    },
    async () => {
      const claim = await api(a, admin, 'POST', '/api/v1/claim-tokens', {});
      const creds = await provision({
        fleetUrl: b.httpUrl,
        token: claim.body.token as string,
        gatewayId: 'gw-1',
        dir: join(dir.path, 'gw-1'),
      });
      expect(creds.mqttUrl).toBe(brokerUrl);
      // A did not provision it, yet its copy of the files follows the database.
      await waitFor(
        'A rewrote its Mosquitto files',
        () => /^gw-1:\$7\$/m.test(readFileSync(join(dir.path, 'mosquitto-a', 'passwd'), 'utf8')),
        30_000,
        100,
      );
      // Mosquitto accepts it once a worker has rewritten the files and Mosquitto re-read them.
      let gw: mqtt.MqttClient | undefined;
      await waitFor(
        'gw-1 accepted by Mosquitto',
        async () => {
          gw = await mqtt
            .connectAsync(brokerUrl, { ...mqttOptions(creds), reconnectPeriod: 0, connectTimeout: 3000 })
            .catch(() => undefined);
          return gw !== undefined;
        },
        20_000,
        200,
      );
      const client = gw!;
      try {
        client.on('message', (_t, p) => {
          const d = decode('cmd/req', 'gw-1', p);
          if (!d.ok) return;
          const res: CommandResponse = {
            ...envelope('gw-1', 100),
            tx: d.value.tx,
            status: 'ok',
            result: { echo: d.value.args },
          };
          void client.publishAsync(topics.commandResponse('gw-1'), encode('cmd/res', res), { qos: 1 });
        });
        await client.subscribeAsync(topics.commandRequest('gw-1'), { qos: 1 });

        const now = Date.now();
        await client.publishAsync(
          topics.telemetry('gw-1'),
          encode('telemetry', {
            ...envelope('gw-1', 1),
            readings: [{ id: 1, device: 'lamp-1', point: 'power', value: 42, unit: 'W', ts: now }],
          }),
          { qos: 1 },
        );
        await waitFor(
          'telemetry stored',
          async () => {
            const g = await api(a, admin, 'GET', '/api/v1/gateways/gw-1');
            return g.status === 200 && (g.body as { readings?: number }).readings === 1;
          },
          30_000,
          100,
        );

        await client.publishAsync(
          topics.alarms('gw-1'),
          encode('alarms', {
            ...envelope('gw-1', 2),
            alarms: [
              {
                id: 1,
                ts: now,
                alarm: 'lamp-fault',
                key: 'lamp-1/fault',
                device: 'lamp-1',
                severity: 'major',
                state: 'raised',
                message: 'lamp 1 does not light',
              },
            ],
          }),
          { qos: 1 },
        );
        const alarmsOn = async (w: Fleet) =>
          (await api(w, admin, 'GET', '/api/v1/alarms?gateway=gw-1')).body.alarms as {
            state: string;
            ackBy: string | null;
          }[];
        await waitFor('alarm on A', async () => (await alarmsOn(a)).length === 1, 30_000, 100);
        expect((await alarmsOn(a))[0]).toMatchObject({ state: 'raised', ackBy: null });
        const ack = await api(b, admin, 'POST', '/api/v1/alarms/gw-1/lamp-1%2Ffault/ack', {
          note: 'crew sent',
        });
        expect(ack.status).toBe(200);
        expect((await alarmsOn(a))[0]).toMatchObject({ ackBy: 'bootstrap-admin' });

        const cmd = await api(a, admin, 'POST', '/api/v1/gateways/gw-1/commands', {
          name: 'write',
          args: { device: 'lamp-1', point: 'on', value: true },
        });
        expect(cmd.status).toBe(200);
        expect(cmd.body).toMatchObject({ status: 'ok', result: { echo: { device: 'lamp-1' } } });
        const onB = await api(b, admin, 'GET', `/api/v1/commands/${String(cmd.body.tx)}`);
        expect(onB.body).toMatchObject({ status: 'ok', gateway: 'gw-1' });
      } finally {
        await client.endAsync(true);
      }
    },
  );

  it('a worker process started by the CLI without --insecure joins them: tokens required, shared ones accepted', async () => {
    const c = await startWorker({
      id: 'wc',
      brokerUrl: brokerUrl.replace('mqtt://', `mqtt://${fleetUser.username}:${fleetUser.password}@`),
      storeUrl,
      group: 'fleet',
      secure: {},
    });
    try {
      const get = (token?: string) =>
        fetch(`${c.httpUrl}/api/v1/alarms`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      expect((await get()).status).toBe(401);
      const res = await get(admin);
      expect(res.status).toBe(200);
      const { alarms } = (await res.json()) as { alarms: { gateway: string; ackBy: string | null }[] };
      expect(alarms.find((x) => x.gateway === 'gw-1')).toMatchObject({ ackBy: 'bootstrap-admin' });
      expect(c.log()).not.toContain(fleetUser.password);
    } finally {
      await c.kill();
    }
  });
});
