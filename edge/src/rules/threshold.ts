import type { EventEffect, Ref, ThresholdRule, Value } from './types.js';

const HOUR_MS = 3_600_000;

/** The evolving state of one threshold rule (kept across config reloads by rule id). */
export interface ThresholdState {
  on: boolean;
  /** When the output (or the running duty member) last changed; min on/off times count from here. */
  changedAt: number;
  starts: number[];
  /** Index of the member to try first on the next start. */
  nextDuty: number;
  /** The member running now (duty groups), -1 when none. */
  active: number;
  deferred: string | undefined;
  /** Why the output last changed (the reading and the threshold crossed), for actuation reasons. */
  detail: string;
}

export const newThresholdState = (): ThresholdState => ({
  on: false,
  changedAt: -Infinity,
  starts: [],
  nextDuty: 0,
  active: -1,
  deferred: undefined,
  detail: '',
});

/** whenOn/whenOff as Maps, built once per rule (outputs are compared by identity first). */
const fixedOutputs = new WeakMap<ThresholdRule, { on: Map<Ref, Value>; off: Map<Ref, Value> }>();
function fixed(rule: ThresholdRule): { on: Map<Ref, Value>; off: Map<Ref, Value> } {
  let f = fixedOutputs.get(rule);
  if (!f) {
    f = { on: new Map(Object.entries(rule.whenOn ?? {})), off: new Map(Object.entries(rule.whenOff ?? {})) };
    fixedOutputs.set(rule, f);
  }
  return f;
}

export interface ThresholdStep {
  /** Output per target ref; absent targets are not driven by this rule. */
  outputs: ReadonlyMap<Ref, Value>;
  detail: string;
  /** Ask to be evaluated again at this time (min on/off time or start cap running out). */
  wakeAt?: number;
  /** A start was refused (reported once per reason). */
  deferred?: string;
  /** The duty member faulted while running and another took over (from, to: member indexes). */
  takeover?: { from: number; to: number };
  /** Demand is on but no member is available. */
  noneAvailable?: boolean;
}

/**
 * One step of a threshold rule: pure apart from updating `s`. `available(i)` says whether duty
 * member i may run (no trip flag, no interlock holding it).
 */
export function stepThreshold(
  rule: ThresholdRule,
  s: ThresholdState,
  v: number,
  now: number,
  available: (member: number) => boolean,
): ThresholdStep {
  const rising = (rule.direction ?? 'rising') === 'rising';
  const wantOn = s.on ? (rising ? v > rule.low : v < rule.high) : rising ? v >= rule.high : v <= rule.low;
  let wakeAt: number | undefined;
  let deferred: string | undefined;
  if (wantOn !== s.on) {
    if (s.on) {
      const minOn = rule.minOnMs ?? 0;
      if (now - s.changedAt < minOn) wakeAt = s.changedAt + minOn;
      else {
        s.on = false;
        s.changedAt = now;
        s.detail = `${rule.input} = ${round(v)} ${rising ? '≤' : '≥'} ${rising ? rule.low : rule.high}: stop`;
      }
    } else {
      const minOff = rule.minOffMs ?? 0;
      while (s.starts.length && s.starts[0]! <= now - HOUR_MS) s.starts.shift();
      if (now - s.changedAt < minOff) wakeAt = s.changedAt + minOff;
      else if (rule.maxStartsPerHour !== undefined && s.starts.length >= rule.maxStartsPerHour) {
        wakeAt = s.starts[0]! + HOUR_MS;
        deferred = `${s.starts.length} starts in the last hour (max ${rule.maxStartsPerHour})`;
      } else {
        s.on = true;
        s.changedAt = now;
        s.starts.push(now);
        s.detail = `${rule.input} = ${round(v)} ${rising ? '≥' : '≤'} ${rising ? rule.high : rule.low}: start`;
      }
    }
  }
  const step: ThresholdStep = { outputs: EMPTY, detail: s.detail, wakeAt };
  if (deferred && deferred !== s.deferred) step.deferred = deferred;
  s.deferred = deferred;

  if (rule.duty) {
    const members = rule.duty.members;
    if (!s.on) {
      if (s.active >= 0)
        s.nextDuty = rule.duty.rotate === false ? s.nextDuty : (s.active + 1) % members.length;
      s.active = -1;
    } else if (s.active < 0 || !available(s.active)) {
      const from = s.active;
      const startAt = from < 0 ? s.nextDuty : from + 1;
      let pick = -1;
      for (let k = 0; k < members.length; k++) {
        const i = (startAt + k) % members.length;
        if (available(i)) {
          pick = i;
          break;
        }
      }
      if (from >= 0 && pick >= 0 && pick !== from) {
        step.takeover = { from, to: pick };
        s.changedAt = now; // the standby gets its own minimum run time
      }
      if (pick < 0) step.noneAvailable = true;
      s.active = pick;
    }
    step.outputs = new Map(members.map((m, i) => [m.run, s.on && i === s.active]));
    if (s.on && s.active >= 0) step.detail += ` (duty: ${members[s.active]!.run})`;
  } else {
    step.outputs = s.on ? fixed(rule).on : fixed(rule).off;
  }
  return step;
}

const round = (v: number): number => Math.round(v * 1000) / 1000;
const EMPTY: ReadonlyMap<Ref, Value> = new Map();

/** Events a step reports: a refused start (once per reason) and a duty/standby takeover. */
export function stepReport(rule: ThresholdRule, step: ThresholdStep, now: number): EventEffect[] {
  const out: EventEffect[] = [];
  if (step.deferred)
    out.push({ type: 'event', body: { type: 'start-deferred', rule: rule.id, why: step.deferred, ts: now } });
  if (step.takeover && rule.duty) {
    const from = rule.duty.members[step.takeover.from]!.run;
    const to = rule.duty.members[step.takeover.to]!.run;
    out.push({ type: 'event', body: { type: 'duty-takeover', rule: rule.id, from, to, ts: now } });
  }
  return out;
}
