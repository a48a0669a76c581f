import { join } from 'node:path';
import type { HealthWindow } from '../updater/health.js';
import type { AppSpec } from '../updater/supervisor.js';

/**
 * How a gateway runs under pm2. One description feeds both the ecosystem file that
 * `citygate edge install-service` writes and the updater, which restarts the runtime from `current`.
 *
 *   citygate-edge     the runtime (`citygate edge --config …`) from <root>/current; restarted on crash
 *   citygate-updater  one-shot at boot: resumes an update a power cut interrupted (`edge update --resume`)
 */
export interface ServiceOptions {
  /** Install root: releases/, current, downloads/, update-state.json, health.json, keys/. */
  root: string;
  /** Gateway config file (outside the release, so it survives updates). */
  config: string;
  /** Script pm2 runs, relative to a release (the CLI in dist/). */
  entry?: string;
  /** Extra environment for the runtime. */
  env?: Record<string, string>;
}

export const RUNTIME_APP = 'citygate-edge';
export const UPDATER_APP = 'citygate-updater';
export const DEFAULT_ENTRY = join('dist', 'cli', 'main.js');

/** Production health window: 2 minutes to become healthy, healthy for 30 s, at most 3 crashes. */
export const PRODUCTION_HEALTH: HealthWindow = {
  windowMs: 120_000,
  settleMs: 30_000,
  maxCrashes: 3,
  pollMs: 1000,
};

export const healthFile = (root: string): string => join(root, 'health.json');
/** Update progress, one JSON `UpdateProgress` per line, appended by the updater process. */
export const progressFile = (root: string): string => join(root, 'update-progress.jsonl');
export const trustedKeysDir = (root: string): string => join(root, 'keys', 'releases');

/** The runtime as the updater restarts it (script and cwd come from the release being started). */
export function runtimeApp(o: ServiceOptions): Omit<AppSpec, 'script' | 'cwd'> {
  return {
    name: RUNTIME_APP,
    args: ['edge', '--config', o.config],
    env: { NODE_ENV: 'production', CITYGATE_HEALTH_FILE: healthFile(o.root), ...o.env },
    minUptimeMs: 10_000,
    maxRestarts: 10,
    restartDelayMs: 2000,
    killTimeoutMs: 10_000,
  };
}

/** The pm2 ecosystem file (CommonJS) for this gateway. */
export function ecosystemFile(o: ServiceOptions): string {
  const current = join(o.root, 'current');
  const script = join(current, o.entry ?? DEFAULT_ENTRY);
  const rt = runtimeApp(o);
  const apps = [
    {
      name: RUNTIME_APP,
      script,
      cwd: current,
      args: rt.args,
      env: rt.env,
      exec_mode: 'fork',
      autorestart: true,
      // `citygate edge` sends 'ready' once lines, outbox and uplink are started.
      wait_ready: true,
      listen_timeout: 30_000,
      min_uptime: rt.minUptimeMs,
      max_restarts: rt.maxRestarts,
      restart_delay: rt.restartDelayMs,
      kill_timeout: rt.killTimeoutMs,
      merge_logs: true,
      time: true,
    },
    {
      name: UPDATER_APP,
      script,
      cwd: current,
      args: ['edge', 'update', '--resume', '--root', o.root, '--config', o.config],
      env: { NODE_ENV: 'production' },
      exec_mode: 'fork',
      autorestart: false,
      merge_logs: true,
      time: true,
    },
  ];
  return `// Written by 'citygate edge install-service'. pm2 runs the release that ${current} points to.\nmodule.exports = ${JSON.stringify({ apps }, null, 2)};\n`;
}
