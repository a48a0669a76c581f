import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { LocalApiClient } from '../../edge/src/local-client.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { startFleet, type Fleet } from '../../fleet/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { tempDir, waitFor } from '../helpers.js';

/** A commissioning report stored on the gateway reaches the fleet through the outbox. */
describe('commissioning reports and health at the fleet', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  let fleet: Fleet;
  let edge: EdgeRuntime;

  beforeAll(async () => {
    fleet = await startFleet({
      dataDir: join(dir.path, 'fleet'),
      httpPort: 0,
      mqttPort: 0,
      security: 'open',
      log: memoryLogger('warn'),
    });
    const config = parseGatewayConfig(
      { version: 2, id: 'gw-com', fleet: { mqttUrl: fleet.mqttUrl }, lines: [], devices: [] },
      profiles,
    );
    edge = await startEdge({
      config,
      profiles,
      dataDir: join(dir.path, 'gw'),
      log: memoryLogger('warn'),
      healthEveryMs: 200,
    });
  });
  afterAll(async () => {
    await edge?.stop();
    await fleet?.stop();
    dir.cleanup();
  });

  it('shows the gateway health it reported: outbox depth and oldest unsent age, uplink', async () => {
    const h = await waitFor('health at the fleet', async () => {
      const res = await fetch(`${fleet.httpUrl}/api/v1/gateways/gw-com/health`);
      return res.status === 200
        ? ((await res.json()) as {
            outbox: Record<string, { depth: number; oldestAgeMs: number }>;
            uplink: unknown;
            online: boolean;
          })
        : undefined;
    });
    expect(h.online).toBe(true);
    expect((h.outbox as unknown as { classes: Record<string, unknown> }).classes.telemetry).toMatchObject({
      depth: expect.any(Number),
      oldestAgeMs: expect.any(Number),
    });
    expect(h.uplink).toBeTruthy();
  });

  it('shows which gateways are commissioned, by whom, and what failed', async () => {
    const report = {
      by: 'Trần Thị Bình',
      startedAt: 1_800_000_000_000,
      finishedAt: 1_800_000_060_000,
      passed: false,
      items: [
        {
          id: 'light-2/answers',
          title: 'light-2 answers and reads plausibly',
          status: 'fail',
          detail: 'reports a lamp fault',
        },
        { id: 'uplink', title: 'uplink to the fleet', status: 'pass', detail: 'connected' },
      ],
      readings: [],
    };
    await new LocalApiClient(join(dir.path, 'gw')).post('/local/v1/commissioning', report);
    const c = await waitFor('report at the fleet', async () => {
      const body = (await (await fetch(`${fleet.httpUrl}/api/v1/commissioning`)).json()) as {
        commissioning: { gateway: string }[];
      };
      return body.commissioning.find((x) => x.gateway === 'gw-com');
    });
    expect(c).toEqual({
      gateway: 'gw-com',
      at: 1_800_000_060_000,
      by: 'Trần Thị Bình',
      passed: false,
      failed: ['light-2 answers and reads plausibly'],
    });
  });
});
