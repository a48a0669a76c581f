import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { LOCAL_API_FILE, type LocalApiInfo } from '../../edge/src/local-api.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { runCli } from '../cli/run-cli.js';
import { tempDir, waitFor } from '../helpers.js';

/** Technician tools through a running gateway: the line that owns the bus runs every transaction. */
describe('the gateway local API', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  const slc = profiles.get('citygate/slc-100')!;
  const sim = new TcpSimulator([{ unitId: 3, profile: slc }]);
  let edge: EdgeRuntime;
  let info: LocalApiInfo;

  beforeAll(async () => {
    const port = await sim.listen(0);
    const config = parseGatewayConfig(
      {
        version: 1,
        id: 'gw-local',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
        lines: [{ id: 'bus', type: 'tcp', host: '127.0.0.1', port }],
        devices: [{ id: 'light-3', profile: slc.id, line: 'bus', unitId: 3, pollMs: 200 }],
      },
      profiles,
    );
    edge = await startEdge({ config, profiles, dataDir: dir.path, log: memoryLogger('warn') });
    info = JSON.parse(readFileSync(join(dir.path, LOCAL_API_FILE), 'utf8')) as LocalApiInfo;
    await waitFor('first poll', () => edge.latest.get('light-3.power'));
  });
  afterAll(async () => {
    await edge?.stop();
    await sim.close();
    dir.cleanup();
  });

  it('keeps its token in a file only the gateway user can read', () => {
    expect(statSync(join(dir.path, LOCAL_API_FILE)).mode & 0o777).toBe(0o600);
    expect(info.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('refuses requests without the token', async () => {
    const res = await fetch(`${info.url}/local/v1/status`);
    expect(res.status).toBe(401);
  });

  it('reports line utilisation and per-device stats', async () => {
    const res = await fetch(`${info.url}/local/v1/status`, {
      headers: { authorization: `Bearer ${info.token}` },
    });
    const body = (await res.json()) as {
      lines: { id: string; utilisation: number; devices: Record<string, { ok: number }> }[];
    };
    expect(body.lines[0]!.id).toBe('bus');
    expect(body.lines[0]!.devices['light-3']!.ok).toBeGreaterThan(0);
    expect(body.lines[0]!.utilisation).toBeGreaterThan(0);
  });

  it('serves citygate modbus read/write and device read through the running line', async () => {
    const w = await runCli([
      'modbus',
      'write',
      '--gateway',
      dir.path,
      '--unit',
      '3',
      '--address',
      '0',
      '--value',
      '35',
    ]);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    expect(sim.device(3).get('dim')).toBe(35);
    const r = await runCli([
      'modbus',
      'read',
      '--gateway',
      dir.path,
      '--unit',
      '3',
      '--table',
      'input',
      '--type',
      'float32',
    ]);
    expect(r.stdout).toMatch(/^0\s+0x\w{4} 0x\w{4}\s+42$/m);
    const d = await runCli(['device', 'read', '--gateway', dir.path, '--profile', slc.id, '--unit', '3']);
    expect(d.stdout).toMatch(/^dim\s+Dim level\s+35\s+%/m);
  });

  it('passes device errors and bad requests back with their names', async () => {
    const exc = await runCli(['modbus', 'read', '--gateway', dir.path, '--unit', '3', '--address', '999']);
    expect(exc.code).toBe(1);
    expect(exc.stderr).toContain('illegal data address');
    const line = await runCli(['modbus', 'read', '--gateway', dir.path, '--line', 'nope', '--unit', '3']);
    expect(line.code).toBe(1);
    expect(line.stderr).toContain("gateway gw-local has no line 'nope'");
    const none = await runCli(['modbus', 'read', '--gateway', join(dir.path, 'missing'), '--unit', '3']);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('no running gateway found');
  });
});
