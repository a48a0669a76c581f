import { readFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pm2Supervisor } from '../../../edge/src/updater/supervisor.js';
import type { UpdateProgress } from '../../../edge/src/updater/state.js';
import { Updater } from '../../../edge/src/updater/updater.js';
import { tempDir } from '../../helpers.js';
import { fakeBundle, testKey, testUpdaterOptions } from './fake-release.js';

// Real pm2, its own PM2_HOME in a temp dir; the daemon is killed in afterAll.
const tmp = tempDir('citygate-pm2-update-');
const root = join(tmp.path, 'gw');
const key = testKey();
let sup: Pm2Supervisor;
let updater: Updater;
const reports: UpdateProgress[] = [];

/** The version the process pm2 runs now says it is (from its own health report). */
async function runningVersion(): Promise<string> {
  const info = await sup.info('citygate-edge');
  const r = JSON.parse(readFileSync(join(root, 'health.json'), 'utf8')) as { pid: number; version: string };
  expect(info.status).toBe('online');
  expect(r.pid).toBe(info.pid);
  return r.version;
}

beforeAll(async () => {
  sup = await Pm2Supervisor.connect(join(tmp.path, 'pm2'));
  updater = new Updater({
    ...testUpdaterOptions(root, sup, key.publicKeyPem),
    report: (p) => reports.push(p),
  });
  const first = await updater.request('u-1', await fakeBundle(tmp.path, key, '1.0.0', 'good'));
  expect(first.last).toMatchObject({ outcome: 'committed', version: '1.0.0' });
});

afterAll(async () => {
  await sup?.killDaemon();
  tmp.cleanup();
});

describe('updates under pm2', () => {
  it('a good release goes live and is committed', async () => {
    const s = await updater.request('u-2', await fakeBundle(tmp.path, key, '1.1.0', 'good'));
    expect(s.last).toMatchObject({ id: 'u-2', outcome: 'committed', version: '1.1.0' });
    expect(s.committed).toBe('1.1.0');
    expect(s.highestCommitted).toBe('1.1.0');
    expect(s.job).toBeUndefined();
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '1.1.0'));
    expect(await runningVersion()).toBe('1.1.0');
    const steps = reports.filter((r) => r.id === 'u-2' && r.status === 'running').map((r) => r.step);
    expect(steps).toEqual(['check', 'download', 'verify', 'unpack', 'switch', 'reload', 'health', 'commit']);
  });

  it('a release that crashes on start is rolled back by itself', async () => {
    const t0 = Date.now();
    const s = await updater.request('u-3', await fakeBundle(tmp.path, key, '1.2.0', 'crash'));
    expect(s.last).toMatchObject({ id: 'u-3', outcome: 'rolled-back', version: '1.2.0' });
    expect(s.last?.reason).toMatch(/^health: (crash loop|process errored)/);
    expect(s.committed).toBe('1.1.0');
    expect(s.highestCommitted).toBe('1.1.0');
    expect(await readlink(join(root, 'current'))).toBe(join('releases', '1.1.0'));
    expect(await runningVersion()).toBe('1.1.0');
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(reports.find((r) => r.id === 'u-3' && r.status === 'rolled-back')?.reason).toBe(s.last?.reason);
  });

  it('a release that starts but fails its health check is rolled back with the reason', async () => {
    const s = await updater.request('u-4', await fakeBundle(tmp.path, key, '1.3.0', 'unhealthy'));
    expect(s.last).toMatchObject({ id: 'u-4', outcome: 'rolled-back', version: '1.3.0' });
    expect(s.last?.reason).toBe('health: not healthy within 3000 ms: uplink failing (broker unreachable)');
    expect(s.committed).toBe('1.1.0');
    expect(await runningVersion()).toBe('1.1.0');
  });

  it('after rollbacks a newer good release still installs, and old releases are pruned', async () => {
    const s = await updater.request('u-5', await fakeBundle(tmp.path, key, '1.4.0', 'good'));
    expect(s.last).toMatchObject({ outcome: 'committed', version: '1.4.0' });
    expect(await runningVersion()).toBe('1.4.0');
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(root, 'releases')).sort()).toEqual(['1.1.0', '1.4.0']);
    expect(readdirSync(join(root, 'downloads'))).toEqual([]);
  });
});
