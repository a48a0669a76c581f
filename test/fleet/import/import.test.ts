/**
 * `citygate fleet import`: a single fleet built through its real API and modules on SQLite files,
 * imported into a real PostgreSQL 15, then served by a fleet started with `storeUrl` on it: same
 * gateway credentials (a real TLS MQTT connect with the old CA), API tokens, keys and history.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../../common/contract/index.js';
import { Db } from '../../../common/sqlite.js';
import { mqttOptions, type FleetCredentials } from '../../../edge/src/provision.js';
import { AlarmBoard } from '../../../fleet/src/alarms.js';
import { fleetDataFound, importFleet } from '../../../fleet/src/import/import.js';
import type { Fleet } from '../../../fleet/src/main.js';
import { migrate } from '../../../fleet/src/pg/schema.js';
import type { PgFleetStore } from '../../../fleet/src/pg/store.js';
import { PgSqlDb } from '../../../fleet/src/pg/sql-db.js';
import {
  SqliteFleetStore,
  type GatewayRecord,
  type StoredEvent,
  type StoredReading,
} from '../../../fleet/src/store.js';
import { runCli } from '../../cli/run-cli.js';
import { fakeBundle, testKey } from '../../edge/updater/fake-release.js';
import { tempDir } from '../../helpers.js';
import { startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { api, provisionGateway, startSecureFleet, tryConnect } from '../security/helpers.js';

// On an hour boundary, so the 30 minutes of readings fall in one hour (a fixed number of hourly roll-up rows).
const T0 = Math.floor((Date.now() - 3 * 3_600_000) / 3_600_000) * 3_600_000;
const env = (gateway: string, seq: number) => ({
  v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
  gateway,
  epoch: '00000000000000aa',
  session: 1,
  seq,
  sentAt: T0,
});

describe('fleet import: SQLite single fleet → PostgreSQL', () => {
  const dir = tempDir();
  const dataDir = join(dir.path, 'a', 'fleet');
  let pgc: PostgresCluster;
  let url = '';
  let b: Fleet;
  let creds: FleetCredentials;
  let opToken = '';
  let adminToken = '';
  let commandTx = '';
  let releaseSha = '';
  let rolloutId = '';
  let before: {
    caCert: string;
    configKey: string;
    gateways: GatewayRecord[];
    telemetry: StoredReading[];
    events: StoredEvent[];
    config: unknown;
    flowSets: unknown;
    command: unknown;
  };
  const progress: string[] = [];

  beforeAll(async () => {
    pgc = await startPostgres();
    url = await pgc.createDatabase('imported');
    const releaseKey = testKey();
    const { fleet: a, adminToken: admin } = await startSecureFleet(join(dir.path, 'a'), {
      releaseKeys: [releaseKey.publicKeyPem],
    });
    const build = await a.rollouts.releases.add(await fakeBundle(dir.path, releaseKey, '1.2.3', 'good'));
    releaseSha = build.sha256;
    adminToken = admin;
    creds = await provisionGateway(a, admin, 'gw-1', dir.path);
    await provisionGateway(a, admin, 'gw-2', dir.path);
    opToken = (await api(a, admin, 'POST', '/api/v1/tokens', { name: 'night', role: 'operator' })).body
      .token as string;
    expect(
      (await api(a, admin, 'PUT', '/api/v1/sites/main-st', { name: 'Main St', lat: 52.1, lon: 4.3 })).status,
    ).toBe(200);
    expect(
      (await api(a, admin, 'PUT', '/api/v1/gateways/gw-1/config', { lines: [], devices: [] })).status,
    ).toBe(200);
    const flows = [
      { id: 't1', type: 'tab' },
      { id: 'i1', type: 'inject', z: 't1', wires: [] },
    ];
    expect((await api(a, admin, 'POST', '/api/v1/flow-sets/street-lights', { flows })).status).toBe(201);
    const cmd = await api(a, admin, 'POST', '/api/v1/gateways/gw-1/commands', { name: 'ping', waitMs: 0 });
    commandTx = cmd.body.tx as string;
    const readings = Array.from({ length: 30 }, (_, i) => ({
      id: i + 1,
      ts: T0 + i * 60_000,
      device: i % 2 ? 'lamp-1' : 'meter-1',
      point: i % 2 ? 'on' : 'power',
      value: i % 2 ? i % 4 === 1 : i * 1.5,
      unit: i % 2 ? undefined : 'W',
    }));
    await a.store.apply(
      [
        { channel: 'telemetry', value: { ...env('gw-1', 1), readings: readings.slice(0, 20) } },
        { channel: 'telemetry', value: { ...env('gw-1', 3), readings: readings.slice(20) } }, // seq 2 lost
        {
          channel: 'events',
          value: { ...env('gw-1', 4), events: [{ id: 1, ts: T0, type: 'boot', data: { why: 'power' } }] },
        },
      ],
      T0 + 1000,
    );
    await a.store.apply(
      [{ channel: 'telemetry', value: { ...env('gw-1', 1), readings: readings.slice(0, 2) } }],
      T0 + 2000,
    ); // redelivered
    await a.store.recordState(
      { ...env('gw-2', 1), state: 'online', evicted: { telemetry: 7, events: 1 } } as never,
      T0,
    );
    rolloutId = (
      await a.rollouts.runner.create({
        version: '1.2.3',
        target: { kind: 'all' },
        waves: [{ percent: 100 }],
        successThresholdPercent: 100,
        maxFailures: 1,
        gatewayTimeoutMs: 60_000,
      })
    ).id;
    before = {
      caCert: a.admin!.pki.caCert,
      configKey: a.admin!.configPublicKey,
      gateways: await a.store.listGateways(),
      telemetry: await a.store.telemetry({ gateway: 'gw-1', limit: 1000 }),
      events: await a.store.events({ gateway: 'gw-1', limit: 100 }),
      config: (await api(a, admin, 'GET', '/api/v1/gateways/gw-1/config')).body,
      flowSets: (await api(a, admin, 'GET', '/api/v1/flow-sets')).body,
      command: (await api(a, admin, 'GET', `/api/v1/commands/${commandTx}`)).body,
    };
    await a.stop();
    const alarms = await AlarmBoard.open(join(dataDir, 'fleet.db'));
    await alarms.record('gw-1', [
      {
        id: 1,
        ts: T0,
        alarm: 'lamp-fault',
        key: 'lamp-fault:lamp-1',
        device: 'lamp-1',
        severity: 'major',
        state: 'raised',
        message: 'no current',
      },
    ]);
    expect(await alarms.acknowledge('gw-1', 'lamp-fault:lamp-1', 'night', T0 + 5000, 'crew sent')).toBe(true);
    await alarms.close();

    const summary = await importFleet({
      dataDir,
      storeUrl: url,
      now: Date.now(),
      progress: (what, done, total) => progress.push(`${what} ${done}/${total}`),
    });
    expect(summary.rows).toMatchObject({
      gateway_credentials: 2,
      api_tokens: 2,
      sites: 1,
      alarm_board: 1,
      readings: 30,
    });
    expect(summary.keys.sort()).toEqual(['ca.crt', 'ca.key', 'config-signing.key']);
    expect([summary.rollouts, summary.releases]).toEqual([1, 1]);
    b = (await startSecureFleet(join(dir.path, 'b'), { storeUrl: url })).fleet;
  }, 60_000);

  afterAll(async () => {
    await b?.stop();
    await pgc?.stop();
    dir.cleanup();
  });

  it('serves the same gateways with their old credentials, CA and config-signing key', async () => {
    expect(b.admin!.bootstrapToken).toBeUndefined(); // tokens came along: no new bootstrap token
    expect(b.admin!.pki.caCert).toBe(before.caCert);
    expect(b.admin!.configPublicKey).toBe(before.configKey);
    expect(await b.admin!.gatewayAuth('gw-1', creds.password)).toBe(true);
    expect(await b.admin!.gatewayAuth('gw-1', `${creds.password}x`)).toBe(false);
    // The gateway's stored CA verifies the new fleet's TLS listener; its password is accepted.
    expect(await tryConnect(b.mqttTlsUrl!, mqttOptions(creds))).toBe('connected');
  });

  it('keeps the API tokens with their roles', async () => {
    expect((await api(b, opToken, 'GET', '/api/v1/alarms')).status).toBe(200);
    expect((await api(b, opToken, 'GET', '/api/v1/tokens')).status).toBe(403);
    expect((await api(b, adminToken, 'GET', '/api/v1/tokens')).status).toBe(200);
  });

  it('returns the same telemetry, events, counters and gaps', async () => {
    expect(await b.store.telemetry({ gateway: 'gw-1', limit: 1000 })).toEqual(before.telemetry);
    expect(before.telemetry).toHaveLength(30);
    expect(await b.store.events({ gateway: 'gw-1', limit: 100 })).toEqual(before.events);
    const gws = await b.store.listGateways();
    expect(gws.map((g) => ({ ...g, online: false }))).toEqual(
      before.gateways.map((g) => ({ ...g, online: false })),
    );
    const gw1 = gws.find((g) => g.id === 'gw-1')!;
    expect([gw1.readings, gw1.duplicates, gw1.duplicateMessages, gw1.missingMessages]).toEqual([30, 0, 1, 1]);
    expect(gws.find((g) => g.id === 'gw-2')!.evicted).toEqual({ telemetry: 7, events: 1 });
    const hourly = await b.store.telemetryBuckets(
      { gateway: 'gw-1', device: 'meter-1', limit: 10 },
      3_600_000,
    );
    expect(hourly.reduce((n, x) => n + x.count, 0)).toBe(15);
  });

  it('keeps alarms, sites, desired config, flow sets and commands', async () => {
    const alarms = (await api(b, opToken, 'GET', '/api/v1/alarms')).body.alarms as Record<string, unknown>[];
    expect(alarms).toEqual([
      expect.objectContaining({ gateway: 'gw-1', key: 'lamp-fault:lamp-1', ackBy: 'night' }),
    ]);
    expect((await api(b, opToken, 'GET', '/api/v1/sites')).body.sites).toEqual([
      expect.objectContaining({ id: 'main-st', name: 'Main St', lat: 52.1, lon: 4.3 }),
    ]);
    expect((await api(b, adminToken, 'GET', '/api/v1/gateways/gw-1/config')).body).toEqual(before.config);
    expect((await api(b, adminToken, 'GET', '/api/v1/flow-sets')).body).toEqual(before.flowSets);
    expect((await api(b, adminToken, 'GET', `/api/v1/commands/${commandTx}`)).body).toEqual(before.command);
    expect(progress).toContain('readings 30/30');
  });

  it('stores rollouts and release bundles (byte for byte) for --share workers', async () => {
    const pool = (b.store as PgFleetStore).pool;
    const r = await pool.query<{ id: string; state: string }>('SELECT id, state FROM rollouts');
    expect(
      r.rows.map((x) => [x.id, (JSON.parse(x.state) as { spec: { version: string } }).spec.version]),
    ).toEqual([[rolloutId, '1.2.3']]);
    const chunks = await pool.query<{ data: Buffer }>(
      "SELECT data FROM release_chunks WHERE version = '1.2.3' ORDER BY n",
    );
    const sha = createHash('sha256');
    for (const c of chunks.rows) sha.update(c.data);
    expect(sha.digest('hex')).toBe(releaseSha);
    const builds = await pool.query<{ sha256: string }>(
      "SELECT sha256 FROM release_builds WHERE version = '1.2.3'",
    );
    expect(builds.rows).toEqual([{ sha256: releaseSha }]);
  });

  it('refuses a database that already holds fleet data, naming what it found', async () => {
    const busy = await pgc.createDatabase('busy');
    const pool = new pg.Pool({ connectionString: busy });
    await migrate(pool, Date.now());
    await pool.query("INSERT INTO sites (id, name, lat, lon) VALUES ('x', 'X', 0, 0)");
    await pool.end();
    await expect(importFleet({ dataDir, storeUrl: busy, now: Date.now() })).rejects.toThrow(
      `PostgreSQL database ${busy} already holds fleet data: sites (1 row); import needs an empty database`,
    );
  });

  it('refuses a directory that is not a fleet data directory, an older fleet.db, and a fleet that is running', async () => {
    const empty = join(dir.path, 'empty');
    mkdirSync(empty);
    await expect(importFleet({ dataDir: empty, storeUrl: url, now: 0 })).rejects.toThrow(
      `${empty} is not a fleet data directory: ${join(empty, 'fleet.db')} is missing (found: nothing)`,
    );
    const old = join(dir.path, 'old');
    mkdirSync(old);
    const oldDb = await Db.open(join(old, 'fleet.db'));
    await oldDb.exec(
      'CREATE TABLE gateways (id TEXT PRIMARY KEY); CREATE TABLE schema_version (version INTEGER)',
    );
    await oldDb.exec('INSERT INTO schema_version VALUES (3)');
    await oldDb.close();
    await expect(importFleet({ dataDir: old, storeUrl: url, now: 0 })).rejects.toThrow(
      `${join(old, 'fleet.db')} is at schema version 3, this citygate reads version 5: start the fleet once`,
    );
    const running = await SqliteFleetStore.open(join(dataDir, 'fleet.db'));
    await running.listGateways();
    try {
      await expect(importFleet({ dataDir, storeUrl: url, now: 0 })).rejects.toThrow(
        `${join(dataDir, 'fleet.db')} is in use by another process: the fleet looks running; stop it first`,
      );
    } finally {
      await running.close();
    }
  });

  it('runs as `citygate fleet import`: progress on stderr, a summary on stdout, no secrets', async () => {
    const target = await pgc.createDatabase('cli');
    const ok = await runCli(['fleet', 'import', '--data', dataDir, '--store', target], 30_000);
    expect(ok.code).toBe(0);
    const again = await runCli(['fleet', 'import', '--data', dataDir, '--store', target], 30_000);
    expect(again.code).toBe(1);
    const help = await runCli(['fleet', 'import', '--help']);
    expect(help.stdout).toContain('Usage: citygate fleet import --data DIR --store postgres://');
    const stderr = ok.stderr + again.stderr;
    const stdout = ok.stdout;
    expect(stderr).toContain('import: readings 30/30 (100%)');
    expect(stdout.split('\n')[0]).toBe(
      'imported: claim_tokens 2, gateway_credentials 2, api_tokens 2, config_layers 1, config_desired 1, ' +
        'commands 1, gateways 2, sessions 1, epochs 2, messages 3, events 1, sites 1, alarm_board 1, ' +
        'flow_sets 1, readings 30; keys: config-signing.key, ca.key, ca.crt; rollouts 1; release builds 1',
    );
    expect(again.stderr).toBe(
      `citygate fleet import: PostgreSQL database ${target} already holds fleet data: alarm_board (1 row), ` +
        'api_tokens (2 rows), claim_tokens (2 rows), commands (1 row), config_desired (1 row), config_layers (1 row), ' +
        'epochs (2 rows), events (1 row), flow_sets (1 row), gateway_credentials (2 rows), gateways (2 rows), ' +
        'messages (3 rows), readings (30 rows), readings_hourly (2 rows), release_builds (1 row), ' +
        'release_chunks (1 row), rollouts (1 row), sessions (1 row), shared_keys (3 rows), ' +
        'sites (1 row); import needs an empty database\n',
    );
    expect(stdout.split('\n')[2]).toBe(
      'also copy releases/, rollouts/ into NEW_DIR: trusted release keys are per process, ' +
        'and a fleet without --share keeps releases and rollouts in its data directory (docs/scaling.md)',
    );
    const secrets = [opToken, adminToken, creds.password];
    for (const s of secrets) expect(stdout + stderr).not.toContain(s);
  });

  it('a failed import leaves no fleet data behind (one transaction)', async () => {
    const target = await pgc.createDatabase('failed');
    mkdirSync(join(dataDir, 'rollouts'), { recursive: true });
    writeFileSync(join(dataDir, 'rollouts', 'r1.json'), '{not json');
    await expect(importFleet({ dataDir, storeUrl: target, now: Date.now() })).rejects.toThrow(
      `${join(dataDir, 'rollouts', 'r1.json')}: not JSON`,
    );
    const pool = new pg.Pool({ connectionString: target });
    try {
      expect(await fleetDataFound(new PgSqlDb(pool))).toEqual([]);
    } finally {
      await pool.end();
    }
  });
});
