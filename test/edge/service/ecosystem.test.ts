import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { ecosystemFile, runtimeApp } from '../../../edge/src/service/ecosystem.js';
import { startHealthReporter, type HealthReport } from '../../../edge/src/updater/health.js';
import { runCli } from '../../cli/run-cli.js';
import { tempDir } from '../../helpers.js';

const tmp = tempDir('citygate-service-');
afterAll(() => tmp.cleanup());

describe('pm2 service files', () => {
  it('the ecosystem file runs the runtime from current, waits for ready, and resumes updates at boot', () => {
    const file = join(tmp.path, 'eco.cjs');
    writeFileSync(file, ecosystemFile({ root: '/opt/citygate', config: '/etc/citygate/gw.json' }));
    const { apps } = createRequire(import.meta.url)(file) as { apps: Record<string, unknown>[] };
    expect(apps.map((a) => a.name)).toEqual(['citygate-edge', 'citygate-updater']);
    expect(apps[0]).toMatchObject({
      script: '/opt/citygate/current/dist/cli/main.js',
      cwd: '/opt/citygate/current',
      args: ['edge', '--config', '/etc/citygate/gw.json'],
      wait_ready: true,
      autorestart: true,
      env: { CITYGATE_HEALTH_FILE: '/opt/citygate/health.json', NODE_ENV: 'production' },
    });
    expect(apps[1]).toMatchObject({
      autorestart: false,
      args: ['edge', 'update', '--resume', '--root', '/opt/citygate', '--config', '/etc/citygate/gw.json'],
    });
    expect(runtimeApp({ root: '/r', config: '/c' }).args).toEqual(['edge', '--config', '/c']);
  });

  it('citygate edge install-service --no-startup writes the ecosystem file and installs the release key', async () => {
    const root = join(tmp.path, 'gw');
    const pub = join(tmp.path, 'release-key.pub');
    writeFileSync(pub, 'PUBLIC KEY\n');
    const r = await runCli([
      'edge',
      'install-service',
      '--config',
      '/etc/gw.json',
      '--root',
      root,
      '--pub',
      pub,
      '--no-startup',
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(root, 'ecosystem.config.cjs'), 'utf8')).toContain(
      `"script": "${join(root, 'current', 'dist', 'cli', 'main.js')}"`,
    );
    expect(readFileSync(join(root, 'keys', 'releases', 'release-key.pub'), 'utf8')).toBe('PUBLIC KEY\n');
    const stray = await runCli(['edge', '--config', '/x.json', '--resume']);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toContain("--resume belongs to 'edge install-service' or 'edge update'");
  });

  it('the runtime health reporter writes a fresh report for the updater on every tick', () => {
    const clock = new FakeClock();
    const file = join(tmp.path, 'health.json');
    let uplink = false;
    const rep = startHealthReporter({
      file,
      version: '1.2.3',
      everyMs: 1000,
      clock,
      checks: () => ({ checks: { uplink, polls: true, rules: true } }),
    });
    const read = () => JSON.parse(readFileSync(file, 'utf8')) as HealthReport;
    expect(read()).toEqual({
      pid: process.pid,
      version: '1.2.3',
      at: clock.now(),
      checks: { uplink: false, polls: true, rules: true },
    });
    uplink = true;
    clock.advance(1000);
    expect(read().checks.uplink).toBe(true);
    rep.stop();
    expect(clock.pendingCount()).toBe(0);
  });
});
