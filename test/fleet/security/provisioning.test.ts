import { statSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, topics, type TelemetryBatch } from '../../../common/contract/index.js';
import { CREDENTIALS_FILE, mqttOptions, provision } from '../../../edge/src/provision.js';
import type { Fleet } from '../../../fleet/src/main.js';
import { tempDir, waitFor } from '../../helpers.js';
import { api, claimToken, provisionGateway, startSecureFleet, tryConnect } from './helpers.js';

const batch = (gateway: string, id: number): TelemetryBatch => ({
  v: PROTOCOL_VERSION,
  gateway,
  epoch: '0123456789abcdef',
  session: 1,
  seq: 1,
  sentAt: Date.now(),
  readings: [{ id, device: 'light-1', point: 'power', value: 42, ts: Date.now() }],
});

describe('provisioning over TLS', () => {
  const dir = tempDir();
  let fleet: Fleet;
  let adminToken: string;
  let log: { lines: string[] };

  beforeAll(async () => {
    ({ fleet, adminToken, log } = await startSecureFleet(dir.path));
  });
  afterAll(async () => {
    await fleet?.stop();
    dir.cleanup();
  });

  it('writes the bootstrap admin token 0600 and never logs it', () => {
    const file = join(dir.path, 'fleet', 'admin-token');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(log.lines.join('\n')).not.toContain(adminToken);
    expect(statSync(join(dir.path, 'fleet', 'pki', 'ca.key')).mode & 0o777).toBe(0o600);
  });

  it('exchanges a claim token for credentials and connects over mqtts with the CA it received', async () => {
    const creds = await provisionGateway(fleet, adminToken, 'gw-a', dir.path);
    expect(creds.mqttUrl).toBe(fleet.mqttTlsUrl);
    expect(creds.mqttUrl).toMatch(/^mqtts:\/\//);
    expect(statSync(join(dir.path, 'gw-gw-a', CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
    expect(creds.caCert).toContain('BEGIN CERTIFICATE');

    const c = await mqtt.connectAsync(creds.mqttUrl, { ...mqttOptions(creds), reconnectPeriod: 0 });
    await c.publishAsync(topics.telemetry('gw-a'), JSON.stringify(batch('gw-a', 1)), { qos: 1 });
    await waitFor('reading stored', async () => (await fleet.store.getGateway('gw-a'))?.readings === 1);
    await c.endAsync();

    // Without the fleet's CA the server certificate is not trusted.
    expect(
      await tryConnect(creds.mqttUrl, { clientId: 'gw-a', username: 'gw-a', password: creds.password }),
    ).toBe('refused');
    // The secret is stored hashed, never logged.
    expect(log.lines.join('\n')).not.toContain(creds.password);
  });

  it('refuses a used, an unknown and an expired-looking claim token', async () => {
    const token = await claimToken(fleet, adminToken);
    await provision({ fleetUrl: fleet.httpUrl, token, gatewayId: 'gw-b', dir: join(dir.path, 'b') });
    await expect(
      provision({ fleetUrl: fleet.httpUrl, token, gatewayId: 'gw-c', dir: join(dir.path, 'c') }),
    ).rejects.toThrow(/403.*already used or expired/);
    await expect(
      provision({
        fleetUrl: fleet.httpUrl,
        token: 'cgc_nonsense-token',
        gatewayId: 'gw-c',
        dir: join(dir.path, 'c'),
      }),
    ).rejects.toThrow(/403/);
    const again = await claimToken(fleet, adminToken);
    await expect(
      provision({ fleetUrl: fleet.httpUrl, token: again, gatewayId: 'gw-b', dir: join(dir.path, 'b2') }),
    ).rejects.toThrow(/409.*revoke them first/);
    const claims = (await api(fleet, adminToken, 'GET', '/api/v1/claim-tokens')).body.claimTokens as {
      usedBy?: string;
      token?: string;
    }[];
    expect(claims.some((c) => c.usedBy === 'gw-b')).toBe(true);
    expect(claims.every((c) => c.token === undefined)).toBe(true);
  });

  it('refuses a wrong password, a username that is not the client id, and no credentials', async () => {
    const url = fleet.mqttTlsUrl!;
    const creds = await provisionGateway(fleet, adminToken, 'gw-d', dir.path);
    const base = { ca: creds.caCert };
    expect(await tryConnect(url, { ...base, clientId: 'gw-d', username: 'gw-d', password: 'wrong' })).toBe(
      'refused',
    );
    expect(
      await tryConnect(url, { ...base, clientId: 'gw-e', username: 'gw-d', password: creds.password }),
    ).toBe('refused');
    expect(await tryConnect(url, { ...base, clientId: 'gw-d' })).toBe('refused');
    expect(await tryConnect(fleet.mqttUrl, { clientId: 'gw-d' })).toBe('refused');
    expect(await tryConnect(url, { ...base, ...mqttOptions(creds) })).toBe('connected');
    expect(await tryConnect(fleet.mqttUrl, mqttOptions(creds))).toBe('connected');
  });

  it('revoking disconnects the gateway and it cannot reconnect; re-provisioning gives a new secret', async () => {
    const creds = await provisionGateway(fleet, adminToken, 'gw-r', dir.path);
    const c = await mqtt.connectAsync(creds.mqttUrl, { ...mqttOptions(creds), reconnectPeriod: 0 });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const r = await api(fleet, adminToken, 'POST', '/api/v1/gateways/gw-r/revoke');
    expect(r.status).toBe(200);
    await closed;
    expect(await tryConnect(creds.mqttUrl, mqttOptions(creds))).toBe('refused');
    expect(log.lines.some((l) => l.includes('refused gateway connection gw-r: bad credentials'))).toBe(true);
    expect((await api(fleet, adminToken, 'POST', '/api/v1/gateways/gw-r/revoke')).status).toBe(404);

    const again = await provisionGateway(fleet, adminToken, 'gw-r', join(dir.path, 'again'));
    expect(again.password).not.toBe(creds.password);
    expect(await tryConnect(again.mqttUrl, mqttOptions(again))).toBe('connected');
    expect(await tryConnect(creds.mqttUrl, mqttOptions(creds))).toBe('refused');
    c.end(true);
  });
});
