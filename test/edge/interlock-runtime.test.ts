import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { LocalApiClient, LocalApiError } from '../../edge/src/local-client.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { simAction } from '../../hardware/src/sim/models/index.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { tempDir, waitFor } from '../helpers.js';

/** Interlocks hold for every write that reaches the runtime, not only for the rules' own. */
describe('interlocks and overrides in the running gateway', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  const sim = new TcpSimulator([
    { unitId: 10, profile: profiles.get('citygate/psc-200')! },
    { unitId: 1, profile: profiles.get('citygate/slc-100')! },
  ]);
  let edge: EdgeRuntime;
  let api: LocalApiClient;

  beforeAll(async () => {
    const port = await sim.listen(0);
    const config = parseGatewayConfig(
      {
        version: 2,
        id: 'gw-ps',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
        lines: [{ id: 'bus', type: 'tcp', host: '127.0.0.1', port }],
        devices: [
          { id: 'ps', profile: 'citygate/psc-200', line: 'bus', unitId: 10, pollMs: 200 },
          { id: 'light-1', profile: 'citygate/slc-100', line: 'bus', unitId: 1, pollMs: 200 },
        ],
        interlocks: [
          {
            id: 'pump1-protect',
            if: {
              any: [
                { point: 'ps.pump1-thermal-trip', op: '==', value: true },
                { point: 'ps.pump1-dry-run', op: '==', value: true },
              ],
            },
            force: { 'ps.pump1-run': false },
          },
        ],
      },
      profiles,
    );
    edge = await startEdge({ config, profiles, dataDir: dir.path, log: memoryLogger('warn') });
    api = new LocalApiClient(dir.path);
    await waitFor('pump station read', () => edge.latest.get('ps.pump1-thermal-trip'));
  });
  afterAll(async () => {
    await edge?.stop();
    await sim.close();
    dir.cleanup();
  });

  it('refuses an operator command that would run a tripped pump', async () => {
    simAction(sim.device(10), 'thermal-trip', 1);
    await waitFor('trip seen', () => edge.latest.get('ps.pump1-thermal-trip')?.value === true);
    const err = await api
      .post('/local/v1/devices/ps/points/pump1-run', { value: true })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LocalApiError);
    expect((err as LocalApiError).message).toBe(
      "ps.pump1-run = true refused: interlock 'pump1-protect' is active",
    );
    await expect(edge.write('ps', 'pump1-run', true)).rejects.toThrow(/interlock 'pump1-protect'/);
    expect(sim.device(10).get('pump1-run')).toBe(false);
    // An override cannot break it either: it is accepted, blocked, and the pump stays off.
    await api.post('/local/v1/overrides', {
      who: 'operator',
      why: 'test',
      set: { 'ps.pump1-run': true },
      durationMs: 60_000,
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(sim.device(10).get('pump1-run')).toBe(false);
  });

  it('applies an override with an expiry, recorded with who and why, and validates its points', async () => {
    const o = await api.post<{ id: string; who: string; until: number }>('/local/v1/overrides', {
      who: 'festival desk',
      why: 'Tết festival',
      set: { 'light-1.dim': 30 },
      durationMs: 60_000,
    });
    expect(o.who).toBe('festival desk');
    await waitFor('dim applied', () => sim.device(1).get('dim') === 30);
    const list = await api.get<{ overrides: { id: string; why: string }[] }>('/local/v1/overrides');
    expect(list.overrides.find((x) => x.id === o.id)?.why).toBe('Tết festival');
    const bad = await api
      .post('/local/v1/overrides', { who: 'x', why: 'y', set: { 'light-1.colour': 1 }, durationMs: 5000 })
      .catch((e: unknown) => e);
    expect((bad as Error).message).toMatch(/override: .*light-1\.colour/);
  });
});

describe('gateway commands', () => {
  it('names an unknown command and bad arguments by path', async () => {
    const { runCommand } = await import('../../edge/src/commands.js');
    const rt = {} as Parameters<typeof runCommand>[0];
    await expect(runCommand(rt, 'reboot', {})).rejects.toThrow(
      "no command 'reboot' (known: write, override, cancel-override, read-points)",
    );
    await expect(runCommand(rt, 'write', { device: 'light-1', point: 'dim' })).rejects.toThrow(
      /command 'write' args is invalid:\s+- value: is required/,
    );
  });
});
