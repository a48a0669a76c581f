import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Fleet } from '../../../fleet/src/main.js';
import { provision } from '../../../edge/src/provision.js';
import { tempDir, waitFor } from '../../helpers.js';
import { configGateway } from './gateway-sim.js';
import { api, claimToken, startSecureFleet } from './helpers.js';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';

describe('signed desired configuration, fleet → group → gateway', () => {
  const dir = tempDir();
  let fleet: Fleet;
  let admin: string;
  let gwA: Awaited<ReturnType<typeof configGateway>>;
  const state = async (gw: string) =>
    (await api(fleet, admin, 'GET', `/api/v1/gateways/${gw}/config`)).body as {
      drift: string;
      desired?: { version: number; config: Record<string, unknown> };
      reported?: { version: number; status: string; error?: string };
    };

  beforeAll(async () => {
    ({ fleet, adminToken: admin } = await startSecureFleet(dir.path));
    const creds = await provision({
      fleetUrl: fleet.httpUrl,
      token: await claimToken(fleet, admin, 'north'),
      gatewayId: 'gw-a',
      dir: join(dir.path, 'a'),
    });
    expect(creds.group).toBe('north');
    gwA = await configGateway(creds, dir.path);
  });
  afterAll(async () => {
    await gwA?.client.endAsync(true);
    await fleet?.stop();
    dir.cleanup();
  });

  it('merges the layers in order, signs, and the gateway applies and reports (drift in-sync)', async () => {
    expect(
      (
        await api(fleet, admin, 'PUT', '/api/v1/config/fleet', {
          name: 'fleet-default',
          location: { lat: 10.8, lon: 106.7 },
        })
      ).status,
    ).toBe(200);
    expect(
      (await api(fleet, admin, 'PUT', '/api/v1/groups/north/config', { name: 'north district' })).status,
    ).toBe(200);
    expect(await state('gw-a')).toMatchObject({ drift: 'unmanaged' });
    const put = await api(fleet, admin, 'PUT', '/api/v1/gateways/gw-a/config', { lines: [], devices: [] });
    expect(put.body).toEqual({ published: ['gw-a'] });
    await waitFor('gw-a in sync', async () => (await state('gw-a')).drift === 'in-sync');
    const s = await state('gw-a');
    expect(s.desired).toMatchObject({
      version: 1,
      config: { name: 'north district', location: { lat: 10.8 }, id: 'gw-a' },
    });
    expect(gwA.applied.at(-1)).toMatchObject({ version: 1, cfg: { name: 'north district' } });
    // The gateway kept its own credentials; the fleet never put a password in the desired config.
    expect(JSON.stringify(s.desired)).not.toMatch(/password/);
    expect(gwA.applied.at(-1)!.cfg.fleet.password).toBeTruthy();

    await api(fleet, admin, 'PUT', '/api/v1/gateways/gw-a/config', {
      lines: [],
      devices: [],
      name: 'pump-7',
    });
    await waitFor('v2 applied', async () => (await state('gw-a')).reported?.version === 2);
    expect((await state('gw-a')).desired!.config.name).toBe('pump-7');
    // An unchanged merge does not make a new version.
    expect(
      (await api(fleet, admin, 'PUT', '/api/v1/groups/north/config', { name: 'north district' })).body,
    ).toEqual({
      published: [],
    });
  });

  it('refuses a layer that would make a gateway config invalid, naming gateway and path', async () => {
    const r = await api(fleet, admin, 'PUT', '/api/v1/groups/north/config', {
      location: { lat: 999, lon: 0 },
    });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      error: {
        code: 'config-invalid',
        issues: [expect.stringMatching(/^gw-a: location\.lat: must be <= 90/)],
      },
    });
    expect((await state('gw-a')).desired!.version).toBe(2);
  });

  it('a gateway that has seen a higher version rejects an older one, and the fleet shows the drift and reason', async () => {
    const creds = await provision({
      fleetUrl: fleet.httpUrl,
      token: await claimToken(fleet, admin),
      gatewayId: 'gw-old',
      dir: join(dir.path, 'old'),
    });
    // This gateway once applied version 50 (e.g. before the fleet's database was restored from a backup).
    writeFileSync(join(dir.path, 'gw-old-config-state.json'), JSON.stringify({ highestVersion: 50 }));
    const g = await configGateway(creds, dir.path);
    await api(fleet, admin, 'PUT', '/api/v1/gateways/gw-old/config', { lines: [], devices: [] });
    await waitFor('rejected', async () => (await state('gw-old')).drift === 'rejected');
    expect((await state('gw-old')).reported).toMatchObject({
      version: 1,
      status: 'rejected',
      error: expect.stringMatching(/rollback refused/) as string,
    });
    expect(g.applied).toEqual([]);
    await g.client.endAsync(true);
    const metrics = await fetch(`${fleet.httpUrl}/metrics`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const text = await metrics.text();
    expect(text).toMatch(/citygate_fleet_config_gateways\{drift="rejected"\} 1/);
    expect(text).toMatch(/citygate_fleet_config_gateways\{drift="in-sync"\} 1/);
    expect(text).toMatch(/citygate_fleet_gateways_provisioned\{state="active"\} 2/);
  });

  it('a reconnecting gateway gets the retained config again and answers it without re-applying', async () => {
    const creds = gwA.creds;
    await gwA.client.endAsync(true);
    gwA = await configGateway(creds, dir.path);
    await waitFor('retained config answered', () => gwA.verdicts.length === 1);
    expect(gwA.verdicts[0]).toEqual({ status: 'applied', version: 2, unchanged: true });
    expect(gwA.applied).toEqual([]);
  });
});
