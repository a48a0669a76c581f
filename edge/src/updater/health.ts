import { readFile } from 'node:fs/promises';
import { writeJsonAtomic } from './layout.js';
import type { Supervisor } from './supervisor.js';

/**
 * The runtime writes this file every few seconds (path from CITYGATE_HEALTH_FILE); the updater reads it
 * during the health window. A report counts only if its pid is the process pm2 runs now and its
 * version is the release being checked.
 */
export interface HealthReport {
  pid: number;
  version: string;
  at: number;
  checks: { uplink: boolean; polls: boolean; rules: boolean };
  detail?: Record<string, string>;
}

export function writeHealthReport(file: string, report: HealthReport): void {
  writeJsonAtomic(file, report);
}

export interface HealthWindow {
  /** Give up (and roll back) if not healthy within this long after the restart. */
  windowMs: number;
  /** Healthy and not restarted for this long counts as good. */
  settleMs: number;
  /** More restarts than this within the window is a crash loop. */
  maxCrashes: number;
  pollMs: number;
}

export type HealthVerdict = { ok: true } | { ok: false; reason: string };

async function readReport(file: string): Promise<HealthReport | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as HealthReport;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Watch `app` (just restarted by the supervisor) until it is healthy for `settleMs`, or the window ends,
 * or it crash-loops (more than `maxCrashes` restarts since it was started: pm2 restarts it on a crash).
 * With `requireReport: false` (rollback to a known-good release) a stable process is enough.
 */
export async function awaitHealthy(opts: {
  supervisor: Supervisor;
  app: string;
  healthFile: string;
  version: string;
  window: HealthWindow;
  requireReport?: boolean;
  now?: () => number;
}): Promise<HealthVerdict> {
  const now = opts.now ?? Date.now;
  const { window: w } = opts;
  const start = now();
  let healthySince: number | undefined;
  let healthyPid: number | undefined;
  let why = 'no health report from the new process yet';
  for (;;) {
    const info = await opts.supervisor.info(opts.app);
    const crashes = info.restarts;
    const elapsed = now() - start;
    if (info.status === 'errored' || info.status === 'stopped' || info.status === 'missing')
      return { ok: false, reason: `process ${info.status} after ${crashes} restart(s) in ${elapsed} ms` };
    if (crashes > w.maxCrashes)
      return { ok: false, reason: `crash loop: ${crashes} restarts in ${elapsed} ms` };
    let healthy = false;
    if (info.status === 'online' && info.pid) {
      if (opts.requireReport === false) {
        healthy = true;
      } else {
        const r = await readReport(opts.healthFile);
        if (r && r.pid === info.pid && r.version === opts.version) {
          const failing = Object.entries(r.checks)
            .filter(([, ok]) => !ok)
            .map(([k]) => k);
          healthy = failing.length === 0;
          if (!healthy)
            why = failing.map((k) => `${k} failing${r.detail?.[k] ? ` (${r.detail[k]})` : ''}`).join(', ');
        } else if (r && r.pid === info.pid) {
          why = `process reports version ${r.version}, expected ${opts.version}`;
        }
      }
    } else {
      why = `process ${info.status}`;
    }
    if (healthy && healthyPid === info.pid && healthySince !== undefined) {
      if (now() - healthySince >= w.settleMs) return { ok: true };
    } else if (healthy) {
      healthySince = now();
      healthyPid = info.pid;
    } else {
      healthySince = undefined;
    }
    if (elapsed > w.windowMs) return { ok: false, reason: `not healthy within ${w.windowMs} ms: ${why}` };
    await sleep(w.pollMs);
  }
}

/**
 * For the runtime (edge/src/main.ts): write the health report now and every `everyMs` while running.
 * `checks` reads the live state: uplink connected, device polls succeeding recently, rules evaluating.
 */
export function startHealthReporter(opts: {
  file: string;
  version: string;
  everyMs: number;
  clock: { now(): number; setTimeout(fn: () => void, ms: number): { cancel(): void } };
  checks: () => Pick<HealthReport, 'checks' | 'detail'>;
}): { stop(): void } {
  let timer: { cancel(): void } | undefined;
  let stopped = false;
  const tick = () => {
    if (stopped) return;
    try {
      writeHealthReport(opts.file, {
        pid: process.pid,
        version: opts.version,
        at: opts.clock.now(),
        ...opts.checks(),
      });
    } catch {
      // A full disk must not stop the runtime; the updater then sees no fresh report and rolls back.
    }
    timer = opts.clock.setTimeout(tick, opts.everyMs);
  };
  tick();
  return {
    stop() {
      stopped = true;
      timer?.cancel();
    },
  };
}
