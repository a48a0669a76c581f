import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import {
  RELEASE_MANIFEST,
  readHeader,
  unpackBundle,
  verifyBundle,
  type InstallPolicy,
} from '../../../common/release/bundle.js';
import type { ReleaseManifest } from '../../../common/release/manifest.js';
import { download } from './download.js';
import { awaitHealthy, type HealthWindow } from './health.js';
import { readJson, UpdaterLayout, writeJsonAtomic } from './layout.js';
import { measure, shortage } from './preflight.js';
import {
  transition,
  type Effect,
  type Step,
  type UpdateEvent,
  type UpdateProgress,
  type UpdaterState,
} from './state.js';
import type { AppSpec, Supervisor } from './supervisor.js';

export interface UpdaterOptions {
  /** Holds releases/, current, downloads/ and update-state.json. */
  root: string;
  /** Ed25519 public keys (PEM) whose signatures this gateway accepts. */
  trustedKeys: readonly string[];
  supervisor: Supervisor;
  /** The runtime as pm2 runs it; script and cwd come from the live release. */
  app: Omit<AppSpec, 'script' | 'cwd'>;
  healthFile: string;
  health: HealthWindow;
  minFreeDiskBytes?: number;
  minFreeMemBytes?: number;
  /** Platform/arch/ABI overrides (tests); default: this process's. */
  policy?: Pick<InstallPolicy, 'platform' | 'arch' | 'nodeAbi'>;
  /** Every progress report, for the fleet (through the outbox). */
  report?: (p: UpdateProgress) => void;
  /** Called as each step starts and ends, after the state is on disk (a kill here must be survivable). */
  onStep?: (step: Step, phase: 'start' | 'end') => void | Promise<void>;
  /** Extra headers for bundle downloads (the gateway's fleet credentials). */
  downloadHeaders?: Record<string, string>;
  now?: () => number;
  log?: Logger;
}

type StepResult = { ok: true; version?: string } | { ok: false; reason: string };

/**
 * The shell around the pure state machine in state.ts: persist the state, then perform the effects.
 * It runs in its own process (not the runtime it restarts) and `resume()` continues whatever a kill
 * interrupted.
 */
export class Updater {
  readonly layout: UpdaterLayout;
  private readonly now: () => number;

  constructor(private readonly opts: UpdaterOptions) {
    this.layout = new UpdaterLayout(opts.root);
    this.now = opts.now ?? Date.now;
    mkdirSync(this.layout.releases, { recursive: true, mode: 0o750 });
    mkdirSync(this.layout.downloads, { recursive: true, mode: 0o750 });
  }

  state(): UpdaterState {
    return readJson<UpdaterState>(this.layout.stateFile) ?? {};
  }

  /** Start an update and run it to its end (committed, rolled back or failed). */
  async request(id: string, source: string, size?: number): Promise<UpdaterState> {
    return this.drive({ type: 'request', id, source, ...(size !== undefined ? { size } : {}) });
  }

  /** Continue an interrupted update, if any (run at boot and whenever the updater starts). */
  async resume(): Promise<UpdaterState> {
    return this.drive({ type: 'resume' });
  }

  private async drive(first: UpdateEvent): Promise<UpdaterState> {
    let state = this.state();
    let event: UpdateEvent | undefined = first;
    while (event) {
      const t = transition(state, event, this.now());
      if (t.state !== state) writeJsonAtomic(this.layout.stateFile, t.state);
      state = t.state;
      event = await this.perform(state, t.effects);
    }
    return state;
  }

  private async perform(state: UpdaterState, effects: Effect[]): Promise<UpdateEvent | undefined> {
    let next: UpdateEvent | undefined;
    for (const e of effects) {
      if (e.type === 'report') {
        this.opts.log?.info(`update ${e.progress.id}: ${e.progress.step ?? ''} ${e.progress.status}`, {
          ...(e.progress.version ? { version: e.progress.version } : {}),
          ...(e.progress.reason ? { reason: e.progress.reason } : {}),
        });
        this.opts.report?.(e.progress);
      } else if (e.type === 'discard') {
        await rm(this.layout.bundle(e.id), { force: true });
        await rm(`${this.layout.bundle(e.id)}.part`, { force: true });
        if (e.version && e.version !== state.committed && (await this.layout.currentVersion()) !== e.version)
          await rm(this.layout.release(e.version), { recursive: true, force: true });
        if (e.version)
          await rm(`${this.layout.release(e.version)}.partial`, { recursive: true, force: true });
      } else {
        await this.opts.onStep?.(e.step, 'start');
        if (e.step === 'rollback' && (state.job?.starts ?? 1) > 1)
          await new Promise((r) => setTimeout(r, Math.min(30_000, 500 * 2 ** (state.job!.starts - 2))));
        const r = await this.run(e.step, state).catch((err: unknown): StepResult => ({
          ok: false,
          reason: errorMessage(err),
        }));
        await this.opts.onStep?.(e.step, 'end');
        next = r.ok
          ? { type: 'step-done', step: e.step, ...(r.version ? { version: r.version } : {}) }
          : { type: 'step-failed', step: e.step, reason: r.reason };
      }
    }
    return next;
  }

  private manifestOf(version: string): ReleaseManifest {
    return JSON.parse(
      readFileSync(join(this.layout.release(version), RELEASE_MANIFEST), 'utf8'),
    ) as ReleaseManifest;
  }

  private spec(version: string): AppSpec {
    const cwd = this.layout.current;
    return { ...this.opts.app, script: join(cwd, this.manifestOf(version).entry), cwd };
  }

  private async run(step: Step, state: UpdaterState): Promise<StepResult> {
    const job = state.job!;
    const file = this.layout.bundle(job.id);
    switch (step) {
      case 'check': {
        const local = /^https?:/.test(job.source)
          ? undefined
          : await stat(job.source.replace(/^file:\/\//, '')).catch(() => undefined);
        const why = shortage(await measure(this.opts.root), {
          bundleBytes: job.size ?? local?.size,
          minFreeDiskBytes: this.opts.minFreeDiskBytes ?? 64 * 1048576,
          minFreeMemBytes: this.opts.minFreeMemBytes ?? 32 * 1048576,
        });
        return why ? { ok: false, reason: why } : { ok: true };
      }
      case 'download': {
        if (
          await stat(file).then(
            () => true,
            () => false,
          )
        )
          return { ok: true };
        await download(job.source, file, this.opts.downloadHeaders);
        return { ok: true };
      }
      case 'verify': {
        const h = await verifyBundle(file, {
          trustedKeys: this.opts.trustedKeys,
          highestInstalled: state.highestCommitted,
          currentVersion: state.committed,
          ...this.opts.policy,
        });
        return { ok: true, version: h.manifest.version };
      }
      case 'unpack': {
        const v = job.version!;
        const dir = this.layout.release(v);
        const h = await readHeader(file);
        const there = await stat(join(dir, RELEASE_MANIFEST)).then(
          () => readFileSync(join(dir, RELEASE_MANIFEST)),
          () => undefined,
        );
        if (there?.equals(h.manifestBytes)) return { ok: true };
        rmSync(dir, { recursive: true, force: true });
        const why = shortage(await measure(this.opts.root), {
          bundleBytes: h.manifest.files.reduce((n, f) => n + f.size, 0),
          minFreeDiskBytes: this.opts.minFreeDiskBytes ?? 64 * 1048576,
          minFreeMemBytes: 0,
        });
        if (why) return { ok: false, reason: why };
        await unpackBundle(file, h, dir);
        return { ok: true };
      }
      case 'switch':
        this.layout.switchCurrent(job.version!);
        return { ok: true };
      case 'reload':
        await this.opts.supervisor.restart(this.spec(job.version!));
        return { ok: true };
      case 'health': {
        // A resumed health step restarts the process too: the window must watch a process we started.
        if (job.starts > 1) await this.opts.supervisor.restart(this.spec(job.version!));
        const v = await awaitHealthy({
          supervisor: this.opts.supervisor,
          app: this.opts.app.name,
          healthFile: this.opts.healthFile,
          version: job.version!,
          window: this.opts.health,
        });
        return v.ok ? { ok: true } : v;
      }
      case 'commit':
        await this.prune(job.version!, job.previous);
        return { ok: true };
      case 'rollback': {
        const prev = job.previous!;
        this.layout.switchCurrent(prev);
        await this.opts.supervisor.restart(this.spec(prev));
        const v = await awaitHealthy({
          supervisor: this.opts.supervisor,
          app: this.opts.app.name,
          healthFile: this.opts.healthFile,
          version: prev,
          window: this.opts.health,
          requireReport: false,
        });
        return v.ok ? { ok: true } : { ok: false, reason: `previous release ${prev}: ${v.reason}` };
      }
    }
  }

  /** Keep the live release and the one before it (the rollback target); remove the rest. */
  private async prune(keep: string, previous?: string): Promise<void> {
    for (const name of await readdir(this.layout.releases)) {
      if (name === keep || name === previous) continue;
      await rm(join(this.layout.releases, name), { recursive: true, force: true });
    }
  }
}
