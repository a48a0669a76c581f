import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { packageRoot } from '../../../common/package-root.js';
import type { UpdaterState } from '../../../edge/src/updater/state.js';
import { Pm2Supervisor } from '../../../edge/src/updater/supervisor.js';
import { tempDir } from '../../helpers.js';
import { fakeBundle, testKey } from './fake-release.js';

/**
 * For the kill tests: the updater runs as its own process (fixtures/updater-child.ts) and is
 * SIGKILLed at chosen steps; a fresh updater process resumes. Real pm2 with its own PM2_HOME.
 */
export interface KillHarness {
  tmp: string;
  root: string;
  key: ReturnType<typeof testKey>;
  sup: Pm2Supervisor;
  /** Start an update killed at `kills[0]`, then resume it, each resume killed at the next point. */
  killChain(id: string, bundle: string, kills: string[]): Promise<UpdaterState>;
  /** The version the process pm2 runs now reports (its pid must be pm2's). */
  running(): Promise<string>;
  close(): Promise<void>;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  state?: UpdaterState;
}

/** Set up a gateway root with release 1.0.0 installed and committed through a child updater. */
export async function killHarness(prefix: string): Promise<KillHarness> {
  const t = tempDir(prefix);
  const root = join(t.path, 'gw');
  const pm2Home = join(t.path, 'pm2');
  const keyFile = join(t.path, 'release.pub');
  const key = testKey();
  writeFileSync(keyFile, key.publicKeyPem);

  const child = (args: string[], killAt?: string): Promise<Run> => {
    const script = join(packageRoot(), 'test', 'edge', 'updater', 'fixtures', 'updater-child.ts');
    const p = spawn(
      process.execPath,
      ['--import', 'tsx', script, root, pm2Home, keyFile, ...args, ...(killAt ? ['--kill-at', killAt] : [])],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    return new Promise((resolve) =>
      p.on('exit', (code, signal) =>
        resolve({ code, signal, ...(out.trim() ? { state: JSON.parse(out) as UpdaterState } : {}) }),
      ),
    );
  };
  const stateOnDisk = () => JSON.parse(readFileSync(join(root, 'update-state.json'), 'utf8')) as UpdaterState;

  const sup = await Pm2Supervisor.connect(pm2Home);
  const first = await child(['request', 'u-1', await fakeBundle(t.path, key, '1.0.0', 'good')]);
  expect(first.state?.committed).toBe('1.0.0');

  return {
    tmp: t.path,
    root,
    key,
    sup,
    async killChain(id, bundle, kills) {
      const r0 = await child(['request', id, bundle], kills[0]);
      expect(r0.signal).toBe('SIGKILL');
      expect(stateOnDisk().job?.step).toBe(kills[0]!.split(':')[0]);
      for (const k of kills.slice(1)) {
        const r = await child(['resume'], k);
        expect(r.signal, `resume killed at ${k}`).toBe('SIGKILL');
        expect(stateOnDisk().job?.step).toBe(k.split(':')[0]);
      }
      const last = await child(['resume']);
      expect(last.code).toBe(0);
      return last.state!;
    },
    async running() {
      const info = await sup.info('citygate-edge');
      const r = JSON.parse(readFileSync(join(root, 'health.json'), 'utf8')) as {
        pid: number;
        version: string;
      };
      expect(info.status).toBe('online');
      expect(r.pid).toBe(info.pid);
      return r.version;
    },
    async close() {
      await sup.killDaemon();
      t.cleanup();
    },
  };
}
