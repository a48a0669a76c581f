import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { startFleet, type Fleet } from '../../fleet/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { tempDir, waitFor } from '../helpers.js';

interface ApiReading {
  device: string;
  point: string;
  value: number;
  unit: string | null;
  ts: number;
}

/** Simulated street light → edge (Modbus TCP) → MQTT (embedded aedes) → fleet (SQLite file) → HTTP API. */
describe('one reading end to end', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  const log = memoryLogger('info');
  let sim: TcpSimulator;
  let fleet: Fleet;
  let edge: EdgeRuntime;

  beforeAll(async () => {
    sim = new TcpSimulator([{ unitId: 7, profile: profiles.get('citygate/slc-100')! }]);
    const port = await sim.listen(0);
    fleet = await startFleet({
      dataDir: join(dir.path, 'fleet'),
      httpPort: 0,
      mqttPort: 0,
      security: 'open',
      log,
    });
    const config = parseGatewayConfig(
      {
        version: 1,
        id: 'gw-e2e',
        fleet: { mqttUrl: fleet.mqttUrl },
        lines: [{ id: 'eth0', type: 'tcp', host: '127.0.0.1', port, timeoutMs: 500 }],
        devices: [{ id: 'light-1', profile: 'citygate/slc-100', line: 'eth0', unitId: 7, pollMs: 100 }],
      },
      profiles,
    );
    edge = await startEdge({ config, profiles, dataDir: join(dir.path, 'gw-e2e'), log });
  });

  afterAll(async () => {
    await edge?.stop();
    await fleet?.stop();
    await sim?.close();
    dir.cleanup();
  });

  const powerReadings = async (since: number): Promise<ApiReading[]> => {
    const res = await fetch(
      `${fleet.httpUrl}/api/v1/gateways/gw-e2e/telemetry?device=light-1&point=power&since=${since}`,
    );
    expect(res.status).toBe(200);
    return ((await res.json()) as { readings: ApiReading[] }).readings;
  };

  it('stores readings in SQLite files on disk at both ends', () => {
    expect(existsSync(join(dir.path, 'fleet', 'fleet.db'))).toBe(true);
    expect(existsSync(join(dir.path, 'gw-e2e', 'outbox.db'))).toBe(true);
  });

  it('returns the new power reading after the dim level is set on the device', async () => {
    await waitFor('first power reading', async () => (await powerReadings(0)).length > 0);
    const changedAt = Date.now();
    sim.device(7).set('dim', 40); // 120 W rated × 40 %
    const r = await waitFor('48 W at the fleet', async () =>
      (await powerReadings(changedAt)).find((x) => Math.abs(x.value - 48) < 1e-6),
    );
    expect(r.unit).toBe('W');
    expect(r.ts).toBeGreaterThanOrEqual(changedAt);
    expect(r.ts).toBeLessThanOrEqual(Date.now());
  });

  it('carries a write through the edge to the device and back as a reading', async () => {
    const before = Date.now();
    await edge.write('light-1', 'dim', 75);
    expect(sim.device(7).get('dim')).toBe(75);
    await waitFor('90 W at the fleet', async () => (await powerReadings(before)).some((x) => x.value === 90));
  });

  it('lists the gateway as online with its readings counted', async () => {
    const res = await fetch(`${fleet.httpUrl}/api/v1/gateways`);
    const body = (await res.json()) as { gateways: { id: string; online: boolean; readings: number }[] };
    const gw = body.gateways.find((g) => g.id === 'gw-e2e');
    expect(gw?.online).toBe(true);
    expect(gw?.readings).toBeGreaterThan(0);
  });

  it('drains the outbox once the broker has acknowledged', async () => {
    await waitFor('empty outbox', async () => (await edge.outbox.depth()) === 0 || undefined);
  });

  it('never logs a secret', () => {
    expect(log.lines.join('\n')).not.toMatch(/password":"(?!\[redacted\])/);
  });
});
