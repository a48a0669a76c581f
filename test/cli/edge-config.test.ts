import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, waitFor } from '../helpers.js';
import { runCli, startCli } from './run-cli.js';

async function runEdgeUntilStarted(args: string[]): Promise<string> {
  const child = startCli(['edge', ...args, '--log-level', 'info']);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', r));
  await waitFor('edge started', () => out.includes('] started:') || child.exitCode !== null, 20_000);
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  return out;
}

describe('citygate edge and its stored configuration', () => {
  it('keeps the config in force when offered an invalid one, and refuses a bad one on first install', async () => {
    const dir = tempDir();
    const data = join(dir.path, 'data');
    const doc = {
      version: 2,
      id: 'gw-cfg',
      fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
      lines: [],
      devices: [],
    };
    const good = join(dir.path, 'good.json');
    const bad = join(dir.path, 'bad.json');
    writeFileSync(good, JSON.stringify(doc));
    writeFileSync(
      bad,
      JSON.stringify({
        ...doc,
        devices: [{ id: 'x', profile: 'citygate/slc-100', line: 'nope', unitId: 1 }],
      }),
    );

    const first = await runCli(['edge', '--config', bad, '--data', join(dir.path, 'fresh')]);
    expect(first.code).toBe(1);
    expect(first.stderr).toContain("devices[0].line: no line 'nope'");

    const ok = await runEdgeUntilStarted(['--config', good, '--data', data]);
    expect(ok).toContain('] started:');
    expect(existsSync(join(data, 'config', 'gateway.last-good.json'))).toBe(true);

    const kept = await runEdgeUntilStarted(['--config', bad, '--data', data]);
    expect(kept).toMatch(
      /new gateway config rejected, keeping the one in force: .*devices\[0\]\.line: no line 'nope'/s,
    );
    expect(kept).toContain('] started:');
    dir.cleanup();
  }, 60_000);
});

describe('citygate edge with the Node-RED editor enabled', () => {
  it('serves the editor behind a login made with citygate node-red hash', async () => {
    const dir = tempDir();
    const hashRun = startCli(['node-red', 'hash']);
    let hash = '';
    hashRun.stdout!.on('data', (d: Buffer) => (hash += d.toString()));
    hashRun.stdin?.end('correct horse battery\n');
    await new Promise((r) => hashRun.on('exit', r));
    expect(hash.trim()).toMatch(/^\$2[aby]\$10\$.{53}$/);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const cfg = join(dir.path, 'gw.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        version: 2,
        id: 'gw-nr',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
        lines: [],
        devices: [],
        nodeRed: { enabled: true, port, adminAuth: { username: 'operator', passwordHash: hash.trim() } },
      }),
    );
    const child = startCli(['edge', '--config', cfg, '--data', join(dir.path, 'data')]);
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    try {
      await waitFor(
        'editor up',
        async () =>
          (await fetch(`http://127.0.0.1:${port}/auth/login`).catch(() => undefined))?.status === 200,
        30_000,
      );
      expect((await fetch(`http://127.0.0.1:${port}/flows`)).status).toBe(401);
      const token = await fetch(`http://127.0.0.1:${port}/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: 'node-red-admin',
          grant_type: 'password',
          scope: '*',
          username: 'operator',
          password: 'correct horse battery',
        }),
      });
      expect(token.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      dir.cleanup();
    }
  }, 60_000);
});
