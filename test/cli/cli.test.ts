import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers.js';
import { runCli, startDemo } from './run-cli.js';

describe('citygate CLI', () => {
  it('lists its commands with --help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    for (const c of ['demo', 'edge', 'fleet', 'sim']) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it.each(['demo', 'edge', 'fleet', 'sim'])('%s --help describes its options', async (cmd) => {
    const r = await runCli([cmd, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Usage: citygate ${cmd}`);
    expect(r.stdout).toMatch(/--\w[\w-]* /);
  });

  it('names an unknown command and an unknown option', async () => {
    const a = await runCli(['fly']);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown command 'fly'");
    const b = await runCli(['fleet', '--colour', 'red']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/Unknown option '--colour'/);
    const c = await runCli(['fleet', '--http-port', 'eighty']);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("--http-port: expected an integer from 0 to 65535, got 'eighty'");
  });

  it('edge refuses a malformed config, naming the file and field', async () => {
    const dir = tempDir();
    const path = join(dir.path, 'gw.json');
    writeFileSync(
      path,
      JSON.stringify({
        version: 1,
        id: 'gw-1',
        fleet: { mqttUrl: 'http://x' },
        lines: [],
        devices: [{ id: 'l1', profile: 'citygate/slc-100', line: 'eth0', unitId: 1 }],
      }),
    );
    const r = await runCli(['edge', '--config', path]);
    dir.cleanup();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`gateway config ${path} is invalid`);
    expect(r.stderr).toContain('fleet.mqttUrl: must match pattern');
    const missing = await runCli(['edge']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('missing --config FILE');
  });

  it('demo runs a secured fleet with three gateways, stops cleanly on Ctrl-C, and restarts on its saved credentials', async () => {
    const dir = tempDir();
    const run = async (): Promise<string> => {
      const { child, output } = startDemo(dir.path, 3);
      const api = await waitFor(
        'API URL',
        () => /fleet API\s+(http:\/\/\S+)\/api\/v1\/gateways/.exec(output())?.[1],
        25_000,
      );
      // Security is on: no token, no data; the viewer's token from the demo's 0600 file reads.
      expect((await fetch(`${api}/api/v1/gateways`)).status).toBe(401);
      const tokenFile = join(dir.path, 'api-tokens.json');
      expect(statSync(tokenFile).mode & 0o777).toBe(0o600);
      const { viewer } = JSON.parse(readFileSync(tokenFile, 'utf8')) as { viewer: string };
      const gws = await waitFor(
        'three gateways online with readings',
        async () => {
          const body = (await (
            await fetch(`${api}/api/v1/gateways`, { headers: { authorization: `Bearer ${viewer}` } })
          ).json()) as { gateways: { id: string; online: boolean; readings: number }[] };
          return body.gateways.length === 3 && body.gateways.every((g) => g.online && g.readings > 0)
            ? body.gateways
            : undefined;
        },
        25_000,
      );
      expect(gws.map((g) => g.id)).toEqual(['gw-1', 'gw-2', 'gw-3']);
      // gw-2 (it has the pump station) runs the default Node-RED flows; the editor needs the saved login.
      const editor = await waitFor(
        'Node-RED URL',
        () => /Node-RED\s+(http:\/\/\S+?)\/? \(gw-2 runs the default flows/.exec(output())?.[1],
        5_000,
      );
      expect((await fetch(`${editor}/flows`)).status).toBe(401);
      const loginFile = join(dir.path, 'node-red-login.json');
      expect(statSync(loginFile).mode & 0o777).toBe(0o600);
      const login = JSON.parse(readFileSync(loginFile, 'utf8')) as { username: string; password: string };
      expect(output()).not.toContain(login.password);
      const auth = (await (
        await fetch(`${editor}/auth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ client_id: 'node-red-admin', grant_type: 'password', scope: '*', ...login }),
        })
      ).json()) as { access_token: string };
      const flows = (await (
        await fetch(`${editor}/flows`, { headers: { authorization: `Bearer ${auth.access_token}` } })
      ).json()) as { type: string; label?: string }[];
      const types = new Set(flows.map((n) => n.type));
      for (const t of ['citygate-device-in', 'citygate-device-out', 'citygate-schedule', 'citygate-alarm'])
        expect(types, t).toContain(t);
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(output()).toContain('stopped cleanly');
      return viewer;
    };
    const first = await run();
    const creds = join(dir.path, 'credentials', 'gw-1.json');
    const secret = readFileSync(creds, 'utf8');
    expect(statSync(creds).mode & 0o777).toBe(0o600);
    // Second start on the same data: same tokens; the gateways' saved credentials are still accepted
    // (not re-provisioned).
    expect(await run()).toBe(first);
    expect(readFileSync(creds, 'utf8')).toBe(secret);
    // No process left behind holding the demo's data directory.
    const stray = execFileSync('ps', ['-eo', 'args'])
      .toString()
      .split('\n')
      .filter((l) => l.includes(dir.path));
    expect(stray).toEqual([]);
    dir.cleanup();
  });
});
