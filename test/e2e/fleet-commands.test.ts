import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import type { Fleet } from '../../fleet/src/main.js';
import { provisionGateway, startSecureFleet } from '../fleet/security/helpers.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { simAction } from '../../hardware/src/sim/models/index.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { tempDir, waitFor } from '../helpers.js';

/** A provisioned gateway takes commands and overrides from the fleet over MQTT (cmd/req → cmd/res). */
describe('commands and overrides from the fleet', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  const sim = new TcpSimulator([
    { unitId: 1, profile: profiles.get('citygate/slc-100')! },
    { unitId: 10, profile: profiles.get('citygate/psc-200')! },
  ]);
  let fleet: Fleet;
  let edge: EdgeRuntime;
  let token = '';

  beforeAll(async () => {
    const port = await sim.listen(0);
    const secure = await startSecureFleet(dir.path);
    fleet = secure.fleet;
    token = secure.adminToken;
    const creds = await provisionGateway(fleet, token, 'gw-cmd', join(dir.path, 'creds'));
    const config = parseGatewayConfig(
      {
        version: 2,
        id: 'gw-cmd',
        fleet: { mqttUrl: fleet.mqttUrl, username: creds.username, password: creds.password },
        lines: [{ id: 'bus', type: 'tcp', host: '127.0.0.1', port }],
        devices: [
          { id: 'light-1', profile: 'citygate/slc-100', line: 'bus', unitId: 1, pollMs: 200 },
          { id: 'ps', profile: 'citygate/psc-200', line: 'bus', unitId: 10, pollMs: 200 },
        ],
        interlocks: [
          {
            id: 'pump1-protect',
            if: { point: 'ps.pump1-thermal-trip', op: '==', value: true },
            force: { 'ps.pump1-run': false },
          },
        ],
      },
      profiles,
    );
    edge = await startEdge({ config, profiles, dataDir: join(dir.path, 'gw'), log: memoryLogger('warn') });
    await waitFor(
      'gateway online at the fleet',
      async () => (await fleet.store.getGateway('gw-cmd'))?.online,
    );
    await waitFor('trip flag read', () => edge.latest.get('ps.pump1-thermal-trip'));
  });
  afterAll(async () => {
    await edge?.stop();
    await fleet?.stop();
    await sim.close();
    dir.cleanup();
  });

  const post = async (path: string, body: unknown) => {
    const res = await fetch(`${fleet.httpUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('writes a point and answers with the result', async () => {
    const r = await post('/api/v1/gateways/gw-cmd/commands', {
      name: 'write',
      args: { device: 'light-1', point: 'dim', value: 33 },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(JSON.stringify(r.body)).toContain('"status":"ok"');
    expect(sim.device(1).get('dim')).toBe(33);
  });

  it('applies an override recorded with who and why', async () => {
    const r = await post('/api/v1/gateways/gw-cmd/overrides', {
      why: 'festival',
      set: { 'light-1.dim': 90 },
      durationMs: 60_000,
    });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    await waitFor('override applied', () => sim.device(1).get('dim') === 90);
    expect(edge.rules.overrides().some((o) => o.why === 'festival')).toBe(true);
  });

  it('answers a command an interlock refuses with the reason, and the pump stays off', async () => {
    simAction(sim.device(10), 'thermal-trip', 1);
    await waitFor('trip seen', () => edge.latest.get('ps.pump1-thermal-trip')?.value === true);
    const r = await post('/api/v1/gateways/gw-cmd/commands', {
      name: 'write',
      args: { device: 'ps', point: 'pump1-run', value: true },
    });
    expect(JSON.stringify(r.body)).toContain("interlock 'pump1-protect' is active");
    expect(sim.device(10).get('pump1-run')).toBe(false);
  });
});
