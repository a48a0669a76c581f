import { createRequire } from 'node:module';
import { CityGateError } from '../../../common/errors.js';

/** What the updater needs from a process supervisor: pm2 in production, pm2 in tests too. */
export interface AppSpec {
  name: string;
  /** Path to the script; through the `current` symlink so a restart runs whatever is live. */
  script: string;
  cwd: string;
  args?: string[];
  env?: Record<string, string>;
  /** A process up for less than this and exiting counts as a crash (pm2 `min_uptime`). */
  minUptimeMs?: number;
  /** After this many quick crashes pm2 gives up and marks the app errored. */
  maxRestarts?: number;
  restartDelayMs?: number;
  killTimeoutMs?: number;
}

export interface ProcessInfo {
  /** pm2's status (`online`, `stopped`, `errored`, `launching`, …) or `missing`. */
  status: string;
  pid?: number;
  /** Restarts since `restart()` last started it: crashes, as pm2 restarts a crashed app by itself. */
  restarts: number;
  script?: string;
}

export interface Supervisor {
  /** Start the app, or restart it (a new process) if it runs; re-registers it if the spec changed. */
  restart(spec: AppSpec): Promise<void>;
  stop(name: string): Promise<void>;
  info(name: string): Promise<ProcessInfo>;
  /** Disconnect from the supervisor (never hangs: bounded by a timeout). */
  close(): Promise<void>;
}

interface Pm2Description {
  name?: string;
  pid?: number;
  pm2_env?: { status?: string; restart_time?: number; pm_exec_path?: string };
}
type Cb<T> = (err: Error | null, v: T) => void;
interface Pm2Api {
  connect(cb: (err: Error | null) => void): void;
  disconnect(): void;
  start(opts: Record<string, unknown>, cb: Cb<unknown>): void;
  restart(name: string, cb: Cb<unknown>): void;
  stop(name: string, cb: Cb<unknown>): void;
  delete(name: string, cb: Cb<unknown>): void;
  reset(name: string, cb: Cb<unknown>): void;
  describe(name: string, cb: Cb<Pm2Description[]>): void;
  killDaemon(cb: Cb<unknown>): void;
}

/** Resolve `p` or fail after `ms` (pm2's disconnect/killDaemon can hang: FIELD-NOTES). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new CityGateError('timeout', `${what} took longer than ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(t);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

const call = <T>(what: string, fn: (cb: Cb<T>) => void, ms = 20_000): Promise<T> =>
  withTimeout(
    new Promise<T>((resolve, reject) =>
      fn((err, v) =>
        err ? reject(new CityGateError('supervisor', `pm2 ${what}: ${err.message}`)) : resolve(v),
      ),
    ),
    ms,
    `pm2 ${what}`,
  );

/** pm2 through its programmatic API, with its own PM2_HOME (one per process: pm2 keeps paths globally). */
export class Pm2Supervisor implements Supervisor {
  private constructor(private readonly pm2: Pm2Api) {}

  static async connect(pm2Home?: string): Promise<Pm2Supervisor> {
    // pm2 reads PM2_HOME when first loaded (and creates the directory): set it before.
    if (pm2Home) process.env.PM2_HOME = pm2Home;
    const require = createRequire(import.meta.url);
    const PM2 = require('pm2') as { custom: new (opts: Record<string, unknown>) => Pm2Api };
    const api = new PM2.custom(pm2Home ? { pm2_home: pm2Home } : {});
    await call<void>('connect', (cb) => api.connect((err) => cb(err, undefined)));
    return new Pm2Supervisor(api);
  }

  async info(name: string): Promise<ProcessInfo> {
    const list = await call<Pm2Description[]>('describe', (cb) => this.pm2.describe(name, cb));
    const d = list[0];
    if (!d) return { status: 'missing', restarts: 0 };
    return {
      status: d.pm2_env?.status ?? 'unknown',
      ...(d.pid ? { pid: d.pid } : {}),
      restarts: d.pm2_env?.restart_time ?? 0,
      ...(d.pm2_env?.pm_exec_path ? { script: d.pm2_env.pm_exec_path } : {}),
    };
  }

  async restart(spec: AppSpec): Promise<void> {
    const now = await this.info(spec.name);
    if (now.status !== 'missing' && now.script === spec.script) {
      await call('restart', (cb) => this.pm2.restart(spec.name, cb));
      // Reset pm2's counters: `restarts` (and pm2's own max_restarts) then count crashes of this start only.
      await call('reset', (cb) => this.pm2.reset(spec.name, cb));
      return;
    }
    if (now.status !== 'missing') await call('delete', (cb) => this.pm2.delete(spec.name, cb));
    await call('start', (cb) =>
      this.pm2.start(
        {
          name: spec.name,
          script: spec.script,
          cwd: spec.cwd,
          args: spec.args ?? [],
          env: spec.env ?? {},
          exec_mode: 'fork',
          autorestart: true,
          min_uptime: spec.minUptimeMs ?? 5000,
          max_restarts: spec.maxRestarts ?? 10,
          restart_delay: spec.restartDelayMs ?? 1000,
          kill_timeout: spec.killTimeoutMs ?? 5000,
          merge_logs: true,
        },
        cb,
      ),
    );
  }

  async stop(name: string): Promise<void> {
    if ((await this.info(name)).status === 'missing') return;
    await call('stop', (cb) => this.pm2.stop(name, cb));
  }

  async close(): Promise<void> {
    this.pm2.disconnect();
    return Promise.resolve();
  }

  /** Stop the pm2 daemon itself (tests, uninstall). Bounded: killDaemon can hang. */
  async killDaemon(ms = 5000): Promise<void> {
    await call('killDaemon', (cb) => this.pm2.killDaemon(cb), ms).catch(() => undefined);
    this.pm2.disconnect();
  }
}
