import { spawn } from 'node:child_process';
import { existsSync, openSync, readSync, closeSync, statSync, readFileSync } from 'node:fs';
import type { Clock, Timer } from '../../../common/clock.js';
import type { UpdateControl } from '../../../common/contract/index.js';
import { errorMessage } from '../../../common/errors.js';
import { writeFileAtomic } from '../../../common/fs-atomic.js';
import type { Logger } from '../../../common/log.js';
import { progressFile } from '../service/ecosystem.js';
import type { UpdateProgress as UpdaterProgress } from './state.js';

/** The contract's `update/progress` body for one line of the updater's progress log. */
export function progressBody(p: UpdaterProgress): Record<string, unknown> {
  const base = { tx: p.id, ...(p.version ? { version: p.version } : {}) };
  switch (p.status) {
    case 'committed':
      return { ...base, step: 'commit', status: 'done' };
    case 'rolled-back':
      return {
        ...base,
        step: 'rollback',
        status: 'done',
        ...(p.reason ? { detail: p.reason.slice(0, 2000) } : {}),
      };
    case 'failed':
      return {
        ...base,
        step: p.step ?? 'failed',
        status: 'failed',
        ...(p.reason ? { detail: p.reason.slice(0, 2000) } : {}),
      };
    case 'busy':
      return { ...base, step: 'busy', status: 'done' };
    default:
      return { ...base, step: p.step ?? 'running', status: 'running' };
  }
}

/**
 * Fleet-driven updates on the gateway. An `install` starts `citygate edge update` as its own detached
 * process (the updater must outlive the runtime it restarts); the updater's progress log is followed
 * and each new line leaves through the outbox as `update/progress`. The read offset is kept on disk so
 * a restarted runtime neither loses nor repeats lines.
 */
export function remoteUpdates(o: {
  installRoot: string;
  /** The CLI script to run (process.argv[1] of the running runtime). */
  cli: string;
  put: (body: Record<string, unknown>, ts: number) => Promise<void>;
  clock: Clock;
  log: Logger;
  everyMs?: number;
  spawnUpdater?: (args: string[]) => void;
}): { handle(ctl: UpdateControl): void; stop(): void } {
  const file = progressFile(o.installRoot);
  const offsetFile = `${file}.sent`;
  let offset = existsSync(offsetFile) ? Number(readFileSync(offsetFile, 'utf8')) || 0 : 0;
  let timer: Timer | undefined;
  let busy = false;

  const follow = async (): Promise<void> => {
    if (busy || !existsSync(file)) return;
    busy = true;
    try {
      const size = statSync(file).size;
      if (size < offset) offset = 0; // the log was rotated
      if (size === offset) return;
      const fd = openSync(file, 'r');
      const buf = Buffer.alloc(size - offset);
      try {
        readSync(fd, buf, 0, buf.length, offset);
      } finally {
        closeSync(fd);
      }
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n') + 1; // whole lines only
      for (const line of text.slice(0, end).split('\n').filter(Boolean)) {
        try {
          const p = JSON.parse(line) as UpdaterProgress;
          await o.put(progressBody(p), p.at ?? o.clock.now());
        } catch (err) {
          o.log.warn(`update progress line skipped: ${errorMessage(err)}`);
        }
      }
      offset += Buffer.byteLength(text.slice(0, end));
      writeFileAtomic(offsetFile, String(offset), 0o600);
    } finally {
      busy = false;
    }
  };
  const tick = (): void => {
    timer = o.clock.setTimeout(tick, o.everyMs ?? 1000);
    follow().catch((err: unknown) => o.log.warn(`update progress not forwarded: ${errorMessage(err)}`));
  };
  tick();

  const spawnUpdater =
    o.spawnUpdater ??
    ((args: string[]) => {
      const child = spawn(process.execPath, [o.cli, ...args], { detached: true, stdio: 'ignore' });
      child.unref();
    });

  return {
    handle(ctl) {
      if (ctl.action !== 'install' || !ctl.release) {
        o.log.warn(`update ${ctl.tx}: '${ctl.action}' is not supported from the fleet yet (install only)`);
        return;
      }
      o.log.info(`update ${ctl.tx}: installing ${ctl.release.version}`);
      spawnUpdater(['edge', 'update', '--root', o.installRoot, '--bundle', ctl.release.url, '--id', ctl.tx]);
    },
    stop() {
      timer?.cancel();
    },
  };
}
