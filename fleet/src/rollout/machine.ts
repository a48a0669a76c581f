import { CityGateError } from '../../../common/errors.js';
import {
  FAILED,
  TERMINAL,
  type GatewayInfo,
  type GatewayProgress,
  type RolloutEffect,
  type RolloutEvent,
  type RolloutSpec,
  type RolloutState,
  type UpdateWindow,
  type Wave,
  type WaveSummary,
} from './types.js';

/**
 * The rollout state machine: a pure function of (state, event, time) → (state, effects).
 *
 *   running ⇄ paused          (operator; or automatically after the pilot wave)
 *   running/paused → halted   (a wave below its success threshold, or too many failures overall)
 *   running/paused → aborted  (operator)
 *   running → completed       (the last wave passed)
 *
 * Only gateways of the current wave are ever sent an update; once halted or aborted nothing more is
 * sent, while gateways already updating finish on their own (commit or roll back) and are recorded.
 * Every gateway that was sent an update reaches a final status: its report, or timed-out.
 */
export class RolloutError extends CityGateError {
  constructor(message: string) {
    super('rollout-invalid', message);
  }
}

const DAY = 86_400_000;
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

function minutes(hhmm: string): number {
  const m = HHMM.exec(hhmm);
  if (!m) throw new RolloutError(`window time '${hhmm}' is not HH:MM`);
  return Number(m[1]) * 60 + Number(m[2]);
}

export function inWindow(w: UpdateWindow, now: number): boolean {
  const t = (((now + w.utcOffsetMinutes * 60_000) % DAY) + DAY) % DAY;
  const from = minutes(w.from) * 60_000;
  const to = minutes(w.to) * 60_000;
  return from <= to ? t >= from && t < to : t >= from || t < to;
}

/** When the window next opens (now, if open). */
export function windowOpensAt(w: UpdateWindow, now: number): number {
  if (inWindow(w, now)) return now;
  const t = (((now + w.utcOffsetMinutes * 60_000) % DAY) + DAY) % DAY;
  return now + ((minutes(w.from) * 60_000 - t + DAY) % DAY);
}

export function targets(spec: RolloutSpec, fleet: readonly GatewayInfo[]): GatewayInfo[] {
  const t = spec.target;
  return fleet
    .filter((g) =>
      t.kind === 'all' ? true : t.kind === 'group' ? g.group === t.group : (g.tags ?? []).includes(t.tag),
    )
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function validate(spec: RolloutSpec): void {
  if (!(spec.successThresholdPercent >= 0 && spec.successThresholdPercent <= 100))
    throw new RolloutError('successThresholdPercent must be 0..100');
  if (!(Number.isInteger(spec.maxFailures) && spec.maxFailures >= 1))
    throw new RolloutError('maxFailures must be ≥ 1');
  if (!(spec.gatewayTimeoutMs > 0)) throw new RolloutError('gatewayTimeoutMs must be > 0');
  if (spec.maxInFlight !== undefined && !(Number.isInteger(spec.maxInFlight) && spec.maxInFlight >= 1))
    throw new RolloutError('maxInFlight must be ≥ 1');
  for (const w of spec.waves)
    if ('count' in w ? !(Number.isInteger(w.count) && w.count >= 1) : !(w.percent > 0 && w.percent <= 100))
      throw new RolloutError(`wave size ${JSON.stringify(w)}: a count ≥ 1 or a percent in (0, 100]`);
  if (spec.window) {
    minutes(spec.window.from);
    minutes(spec.window.to);
  }
}

/** Resolve targets into waves: pilot zone first, then the canary and the larger waves. */
export function planRollout(
  id: string,
  spec: RolloutSpec,
  fleet: readonly GatewayInfo[],
  now: number,
): RolloutState {
  validate(spec);
  const all = targets(spec, fleet);
  if (all.length === 0)
    throw new RolloutError(`no gateway matches the target ${JSON.stringify(spec.target)}`);
  const waves: Wave[] = [];
  let rest = all.map((g) => g.id);
  if (spec.pilotZone !== undefined) {
    const pilot = all.filter((g) => g.zone === spec.pilotZone).map((g) => g.id);
    if (pilot.length === 0)
      throw new RolloutError(`no targeted gateway is in pilot zone '${spec.pilotZone}'`);
    waves.push({ name: `pilot (${spec.pilotZone})`, gateways: pilot });
    rest = rest.filter((g) => !pilot.includes(g));
  }
  const base = rest.length;
  for (const size of spec.waves) {
    if (rest.length === 0) break;
    const n = 'count' in size ? size.count : Math.max(1, Math.ceil((size.percent / 100) * base));
    waves.push({
      name: waves.length === (spec.pilotZone !== undefined ? 1 : 0) ? 'canary' : `wave ${waves.length + 1}`,
      gateways: rest.slice(0, n),
    });
    rest = rest.slice(n);
  }
  if (rest.length > 0) waves.push({ name: `wave ${waves.length + 1}`, gateways: rest });
  const gateways: Record<string, GatewayProgress> = {};
  waves.forEach((w, i) => w.gateways.forEach((g) => (gateways[g] = { wave: i, status: 'pending' })));
  return { id, spec, status: 'running', waves, current: 0, gateways, createdAt: now, updatedAt: now };
}

export function summarize(s: RolloutState): WaveSummary[] {
  return s.waves.map((w, i) => {
    const st = w.gateways.map((g) => s.gateways[g]!.status);
    const count = (f: (x: (typeof st)[number]) => boolean) => st.filter(f).length;
    const done = st.every((x) => TERMINAL.has(x));
    const passed = i < s.current || (s.status === 'completed' && done);
    return {
      name: w.name,
      total: st.length,
      pending: count((x) => x === 'pending'),
      updating: count((x) => x === 'updating'),
      committed: count((x) => x === 'committed'),
      failed: count((x) => FAILED.has(x)),
      state: passed
        ? 'passed'
        : i === s.current && s.status === 'halted' && done
          ? 'failed'
          : i === s.current && st.some((x) => x !== 'pending')
            ? 'active'
            : 'waiting',
    };
  });
}

function applyEvent(s: RolloutState, e: RolloutEvent, now: number, fx: RolloutEffect[]): RolloutState {
  switch (e.type) {
    case 'tick':
      return s;
    case 'pause':
      return s.status === 'running'
        ? { ...s, status: 'paused', reason: e.reason ?? 'paused by operator' }
        : s;
    case 'resume':
      if (s.status !== 'paused') return s;
      fx.push({ type: 'log', message: `rollout ${s.id} resumed` });
      return { ...s, status: 'running', reason: undefined };
    case 'abort':
      if (s.status !== 'running' && s.status !== 'paused') return s;
      fx.push({ type: 'log', message: `rollout ${s.id} aborted` });
      return { ...s, status: 'aborted', reason: e.reason ?? 'aborted by operator' };
    case 'report': {
      const g = s.gateways[e.gateway];
      if (!g || g.txId !== e.report.txId) return s; // not ours, or an old transaction
      const r = e.report;
      let next: GatewayProgress;
      if (r.status === 'running') {
        if (g.status !== 'updating') return s;
        next = { ...g, ...(r.step ? { step: r.step } : {}) };
      } else {
        // A late final report (after a timeout) is the truth and replaces `timed-out`.
        if (TERMINAL.has(g.status) && g.status !== 'timed-out') return s;
        const status = r.status === 'busy' ? 'failed' : r.status;
        const reason =
          r.status === 'busy' ? `gateway busy: ${r.reason ?? 'another update in progress'}` : r.reason;
        next = {
          ...g,
          status,
          finishedAt: now,
          ...(r.step ? { step: r.step } : {}),
          ...(reason ? { reason } : {}),
        };
      }
      return { ...s, gateways: { ...s.gateways, [e.gateway]: next } };
    }
  }
}

export function stepRollout(
  state: RolloutState,
  event: RolloutEvent,
  now: number,
): { state: RolloutState; effects: RolloutEffect[] } {
  const fx: RolloutEffect[] = [];
  let s = applyEvent(state, event, now, fx);
  const gateways = { ...s.gateways };
  const spec = s.spec;

  // Nothing stays "updating" forever.
  for (const [id, g] of Object.entries(gateways))
    if (g.status === 'updating' && now - g.sentAt! >= spec.gatewayTimeoutMs)
      gateways[id] = {
        ...g,
        status: 'timed-out',
        finishedAt: now,
        reason: `no result within ${spec.gatewayTimeoutMs} ms${g.step ? ` (last step: ${g.step})` : ''}`,
      };
  s = { ...s, gateways };

  const failed = Object.entries(gateways).filter(([, g]) => FAILED.has(g.status));
  if ((s.status === 'running' || s.status === 'paused') && failed.length >= spec.maxFailures) {
    const which = failed.map(([id, g]) => `${id}: ${g.reason ?? g.status}`).join('; ');
    s = {
      ...s,
      status: 'halted',
      reason: `${failed.length} gateway(s) failed (limit ${spec.maxFailures}): ${which}`,
    };
    fx.push({ type: 'log', message: `rollout ${s.id} halted: ${s.reason}` });
  }

  // Advance through finished waves.
  while (s.status === 'running') {
    const wave = s.waves[s.current]!;
    const st = wave.gateways.map((g) => gateways[g]!.status);
    if (!st.every((x) => TERMINAL.has(x))) break;
    const ok = st.filter((x) => x === 'committed').length;
    const pct = (100 * ok) / st.length;
    if (pct < spec.successThresholdPercent) {
      s = {
        ...s,
        status: 'halted',
        reason: `${wave.name}: ${ok} of ${st.length} committed (${pct.toFixed(0)}%, needs ${spec.successThresholdPercent}%)`,
      };
      fx.push({ type: 'log', message: `rollout ${s.id} halted: ${s.reason}` });
      break;
    }
    if (s.current === s.waves.length - 1) {
      s = { ...s, status: 'completed', reason: undefined };
      fx.push({ type: 'log', message: `rollout ${s.id} completed` });
      break;
    }
    const pilotDone = spec.pilotZone !== undefined && s.current === 0;
    s = { ...s, current: s.current + 1 };
    fx.push({ type: 'log', message: `rollout ${s.id}: ${wave.name} passed (${ok}/${st.length})` });
    if (pilotDone)
      s = { ...s, status: 'paused', reason: `${wave.name} passed: resume to continue beyond the pilot zone` };
  }

  // Send updates to the current wave only, within the window and the in-flight limit.
  if (s.status === 'running') {
    const wave = s.waves[s.current]!;
    const pending = wave.gateways.filter((g) => gateways[g]!.status === 'pending');
    if (pending.length > 0) {
      if (spec.window && !inWindow(spec.window, now)) {
        fx.push({ type: 'wake-at', at: windowOpensAt(spec.window, now) });
      } else {
        const inFlight = Object.values(gateways).filter((g) => g.status === 'updating').length;
        const room = Math.max(0, (spec.maxInFlight ?? Infinity) - inFlight);
        for (const g of pending.slice(0, room)) {
          const txId = `${s.id}:${g}`;
          gateways[g] = {
            ...gateways[g]!,
            status: 'updating',
            txId,
            sentAt: now,
            step: undefined,
            reason: undefined,
          };
          fx.push({ type: 'send-update', gateway: g, txId, version: spec.version });
        }
      }
    }
  }

  const deadlines = Object.values(gateways)
    .filter((g) => g.status === 'updating')
    .map((g) => g.sentAt! + spec.gatewayTimeoutMs);
  if (deadlines.length > 0) fx.push({ type: 'wake-at', at: Math.min(...deadlines) });
  return { state: { ...s, gateways, updatedAt: now }, effects: fx };
}
