import { compareVersions } from '../../../common/release/manifest.js';

/**
 * The updater's state machine, kept on disk so that a kill at any point resumes where it stopped.
 * A pure function of (state, event, time) → (state, effects); the shell in updater.ts runs the steps.
 *
 *   check → download → verify → unpack → switch → reload → health → commit      (target: committed)
 *   a failure before `switch` ends the job with nothing touched                 (target: failed)
 *   a failure from `switch` on goes to rollback → back on the previous release  (target: rolled-back)
 */
export const STEPS = [
  'check',
  'download',
  'verify',
  'unpack',
  'switch',
  'reload',
  'health',
  'commit',
] as const;
export type ForwardStep = (typeof STEPS)[number];
export type Step = ForwardStep | 'rollback';

/** Steps before the running system is touched: failing one just drops the job. */
const HARMLESS: ReadonlySet<Step> = new Set(['check', 'download', 'verify', 'unpack']);

/** A step that keeps getting interrupted (the updater killed, OOM, power cut) gives up after this many starts. */
export const MAX_STEP_STARTS = 3;

export interface UpdateJob {
  /** The fleet's transaction id for this update. */
  id: string;
  /** A local file path or an http(s) URL to the bundle. */
  source: string;
  /** Bundle size if the fleet said so (for the disk check before download). */
  size?: number;
  /** Known after `verify`. */
  version?: string;
  /** The committed version when the job started: what a rollback returns to. */
  previous?: string;
  step: Step;
  /** How many times the current step was started (resumes count). */
  starts: number;
  startedAt: number;
  stepStartedAt: number;
  /** Why a rollback is happening. */
  reason?: string;
}

export type Outcome = 'committed' | 'rolled-back' | 'failed';

export interface UpdaterState {
  /** The version running and committed (undefined before the first install). */
  committed?: string;
  /** The highest version ever committed here: a bundle must be newer. */
  highestCommitted?: string;
  job?: UpdateJob;
  last?: { id: string; version?: string; outcome: Outcome; reason?: string; at: number };
}

export type UpdateEvent =
  | { type: 'request'; id: string; source: string; size?: number }
  | { type: 'resume' }
  | { type: 'step-done'; step: Step; version?: string }
  | { type: 'step-failed'; step: Step; reason: string };

export interface UpdateProgress {
  id: string;
  version?: string;
  step?: Step;
  status: 'running' | Outcome | 'busy';
  reason?: string;
  at: number;
}

export type Effect =
  | { type: 'run'; step: Step }
  | { type: 'report'; progress: UpdateProgress }
  /** Remove the job's download and, if not live, its unpacked release directory. */
  | { type: 'discard'; id: string; version?: string };

export interface Transition {
  state: UpdaterState;
  effects: Effect[];
}

const report = (job: UpdateJob, status: UpdateProgress['status'], now: number, reason?: string): Effect => ({
  type: 'report',
  progress: {
    id: job.id,
    ...(job.version ? { version: job.version } : {}),
    step: job.step,
    status,
    ...(reason ? { reason } : {}),
    at: now,
  },
});

function enter(
  state: UpdaterState,
  job: UpdateJob,
  step: Step,
  now: number,
  extra: Effect[] = [],
): Transition {
  const next: UpdateJob = { ...job, step, starts: 1, stepStartedAt: now };
  return {
    state: { ...state, job: next },
    effects: [...extra, report(next, 'running', now), { type: 'run', step }],
  };
}

function finish(
  state: UpdaterState,
  job: UpdateJob,
  outcome: Outcome,
  now: number,
  reason?: string,
): Transition {
  const committed = outcome === 'committed' ? job.version : state.committed;
  const highest =
    outcome === 'committed' && job.version
      ? !state.highestCommitted || compareVersions(job.version, state.highestCommitted) > 0
        ? job.version
        : state.highestCommitted
      : state.highestCommitted;
  const last = {
    id: job.id,
    ...(job.version ? { version: job.version } : {}),
    outcome,
    ...(reason ? { reason } : {}),
    at: now,
  };
  const { job: _done, ...rest } = state;
  return {
    state: {
      ...rest,
      ...(committed ? { committed } : {}),
      ...(highest ? { highestCommitted: highest } : {}),
      last,
    },
    effects: [
      report(job, outcome, now, reason),
      {
        type: 'discard',
        id: job.id,
        ...(outcome !== 'committed' && job.version ? { version: job.version } : {}),
      },
    ],
  };
}

function fail(state: UpdaterState, job: UpdateJob, reason: string, now: number): Transition {
  if (HARMLESS.has(job.step)) return finish(state, job, 'failed', now, `${job.step}: ${reason}`);
  if (job.step === 'rollback') {
    // Keep trying: the previous release was working; the shell backs off between attempts.
    const next = { ...job, starts: job.starts + 1 };
    return {
      state: { ...state, job: next },
      effects: [report(next, 'running', now, reason), { type: 'run', step: 'rollback' }],
    };
  }
  if (!job.previous)
    return finish(state, job, 'failed', now, `${job.step}: ${reason} (no previous release to return to)`);
  return enter(state, { ...job, reason: `${job.step}: ${reason}` }, 'rollback', now);
}

export function transition(state: UpdaterState, event: UpdateEvent, now: number): Transition {
  const job = state.job;
  switch (event.type) {
    case 'request': {
      if (job)
        return {
          state,
          effects: [
            {
              type: 'report',
              progress: { id: event.id, status: 'busy', reason: `update ${job.id} is in progress`, at: now },
            },
          ],
        };
      const fresh: UpdateJob = {
        id: event.id,
        source: event.source,
        ...(event.size !== undefined ? { size: event.size } : {}),
        ...(state.committed ? { previous: state.committed } : {}),
        step: 'check',
        starts: 0,
        startedAt: now,
        stepStartedAt: now,
      };
      return enter(state, fresh, 'check', now);
    }
    case 'resume': {
      if (!job) return { state, effects: [] };
      if (job.step !== 'rollback' && job.starts >= MAX_STEP_STARTS)
        return fail(state, job, `interrupted ${job.starts} times`, now);
      const next = { ...job, starts: job.starts + 1, stepStartedAt: now };
      return {
        state: { ...state, job: next },
        effects: [report(next, 'running', now, 'resumed'), { type: 'run', step: job.step }],
      };
    }
    case 'step-done': {
      if (!job || event.step !== job.step) return { state, effects: [] };
      if (job.step === 'rollback')
        return finish(state, { ...job, version: job.version }, 'rolled-back', now, job.reason);
      const withVersion = event.version ? { ...job, version: event.version } : job;
      if (job.step === 'commit') return finish(state, withVersion, 'committed', now);
      const i = STEPS.indexOf(job.step);
      return enter(state, withVersion, STEPS[i + 1]!, now);
    }
    case 'step-failed': {
      if (!job || event.step !== job.step) return { state, effects: [] };
      return fail(state, job, event.reason, now);
    }
  }
}
