import { compileAlarms, type AlarmUnit } from './alarms.js';
import { compileCondition, type Compiled, type DepKey } from './conditions.js';
import { newThresholdState, type ThresholdState } from './threshold.js';
import {
  splitRef,
  type ControlConfig,
  type FailSafe,
  type Interlock,
  type Override,
  type Reason,
  type Ref,
  type Rule,
  type Value,
} from './types.js';

/**
 * The evaluation graph compiled from a control config: rules, interlocks and alarms as units, the
 * points (targets) they drive, and which units depend on which readings — plus the arbitration
 * that decides each target's value.
 */

/** A rule and what it currently asks for. */
export interface RuleUnit {
  kind: 'rule';
  rule: Rule;
  deps: Set<DepKey>;
  outputs: ReadonlyMap<Ref, Value>;
  detail: string;
  lost: boolean;
  /** Precomputed: the input's device and the timer key. */
  inputDevice?: string;
  timerKey: string;
  noneAlarm: boolean;
  state?: ThresholdState;
}

export interface InterlockUnit {
  kind: 'interlock';
  il: Interlock;
  cond: Compiled;
  deps: Set<DepKey>;
  /** The points the condition reads: while any is unknown or its device offline, the interlock holds. */
  inputs: Ref[];
  active: boolean;
}

export interface Target {
  ref: Ref;
  device: string;
  point: string;
  owners: RuleUnit[];
  interlocks: InterlockUnit[];
  desired?: Value;
  commanded?: Value;
  reasonKey?: string;
  blocked?: string;
}

export interface Decision {
  value: Value | undefined;
  reason: Reason | undefined;
  reasonKey: string | undefined;
  /** An override the interlock refused (reported once per override and point). */
  blocked?: Record<string, unknown> & { type: 'override-blocked' };
}

/**
 * Who drives a point, in order: an active interlock (nothing overrides it), then the newest
 * operator/fleet override, then the highest-priority rule with an output, then — if a rule that
 * owns the point lost its input — the device's fail-safe (its night values at night). Pure apart
 * from remembering on `t` which override it already reported as blocked.
 */
export function arbitrate(
  t: Target,
  ov: Override | undefined,
  fs: FailSafe | undefined,
  night: boolean,
): Decision {
  const il = t.interlocks.find((i) => i.active);
  if (il) {
    const value = il.il.force[t.ref];
    const d: Decision = {
      value,
      reason: { source: 'interlock', interlock: il.il.id },
      reasonKey: `il:${il.il.id}`,
    };
    if (ov && ov.set[t.ref] !== value && t.blocked !== ov.id) {
      t.blocked = ov.id;
      d.blocked = {
        type: 'override-blocked',
        override: ov.id,
        who: ov.who,
        ref: t.ref,
        wanted: ov.set[t.ref],
        interlock: il.il.id,
      };
    }
    return d;
  }
  t.blocked = undefined;
  if (ov)
    return {
      value: ov.set[t.ref],
      reason: { source: 'override', override: ov.id, who: ov.who, why: ov.why },
      reasonKey: `ov:${ov.id}`,
    };
  const owner = t.owners.find((o) => o.outputs.has(t.ref));
  if (owner)
    return {
      value: owner.outputs.get(t.ref),
      reason: { source: 'rule', rule: owner.rule.id, detail: owner.detail },
      reasonKey: `rule:${owner.rule.id}`,
    };
  const lost = t.owners.find((o) => o.lost);
  const v = lost && fs ? ((night ? fs.night?.[t.point] : undefined) ?? fs.set[t.point]) : undefined;
  if (v === undefined) return { value: undefined, reason: undefined, reasonKey: undefined };
  return {
    value: v,
    reason: { source: 'fail-safe', detail: `input of ${lost!.rule.id} lost` },
    reasonKey: 'fail-safe',
  };
}

export function sameMap(a: ReadonlyMap<Ref, Value>, b: ReadonlyMap<Ref, Value>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

export type Unit = RuleUnit | InterlockUnit | AlarmUnit;

/** Carried over when the config changes, so a reload neither restarts pumps nor repeats writes. */
export interface EngineMemory {
  values: Map<Ref, Value>;
  offline: Set<string>;
  commanded: Map<Ref, Value>;
  overrides: Map<string, Override>;
  thresholds: Map<string, ThresholdState>;
  alarms: Map<string, boolean>;
}

export interface Graph {
  rules: RuleUnit[];
  interlocks: InterlockUnit[];
  alarms: AlarmUnit[];
  deps: Map<DepKey, Unit[]>;
  targets: Map<Ref, Target>;
  failSafe: Map<string, FailSafe>;
}

export function indexUnit(deps: Map<DepKey, Unit[]>, u: Unit): void {
  for (const k of u.deps) {
    const list = deps.get(k);
    if (list) list.push(u);
    else deps.set(k, [u]);
  }
}

export function targetOf(targets: Map<Ref, Target>, ref: Ref): Target {
  let t = targets.get(ref);
  if (!t) {
    const { device, point } = splitRef(ref);
    t = { ref, device, point, owners: [], interlocks: [] };
    targets.set(ref, t);
  }
  return t;
}

export function buildGraph(cfg: ControlConfig, memory?: EngineMemory): Graph {
  const g: Graph = {
    rules: [],
    interlocks: [],
    alarms: [],
    deps: new Map(),
    targets: new Map(),
    failSafe: new Map(),
  };
  const target = (ref: Ref) => targetOf(g.targets, ref);
  for (const fs of cfg.failSafe ?? []) g.failSafe.set(fs.device, fs);
  for (const il of cfg.interlocks ?? []) {
    const deps = new Set<DepKey>();
    const cond = compileCondition(il.if, deps);
    const inputs = [...deps].filter((k) => k.startsWith('p:')).map((k) => k.slice(2));
    const u: InterlockUnit = { kind: 'interlock', il, cond, deps, inputs, active: false };
    g.interlocks.push(u);
    indexUnit(g.deps, u);
    for (const ref of Object.keys(il.force)) target(ref).interlocks.push(u);
  }
  for (const rule of cfg.rules ?? []) {
    const u: RuleUnit = {
      kind: 'rule',
      rule,
      deps: new Set(),
      outputs: new Map(),
      detail: '',
      lost: false,
      noneAlarm: false,
      timerKey: `rule:${rule.id}`,
    };
    if (rule.kind === 'threshold') {
      u.inputDevice = splitRef(rule.input).device;
      u.state = memory?.thresholds.get(rule.id) ?? newThresholdState();
      u.deps.add(`p:${rule.input}`);
      for (const m of rule.duty?.members ?? []) for (const f of m.faults ?? []) u.deps.add(`p:${f}`);
      const refs = rule.duty
        ? rule.duty.members.map((m) => m.run)
        : [...Object.keys(rule.whenOn ?? {}), ...Object.keys(rule.whenOff ?? {})];
      for (const ref of new Set(refs)) target(ref).owners.push(u);
    } else {
      const points = new Set(rule.entries.flatMap((e) => Object.keys(e.set)));
      for (const d of rule.devices) for (const p of points) target(`${d}.${p}`).owners.push(u);
    }
    g.rules.push(u);
    indexUnit(g.deps, u);
  }
  // A device whose rule lost control goes wholly into its fail-safe, points no rule drives included.
  for (const fs of g.failSafe.values()) {
    const owners = new Set<RuleUnit>();
    for (const t of g.targets.values()) if (t.device === fs.device) t.owners.forEach((o) => owners.add(o));
    for (const p of Object.keys({ ...fs.set, ...fs.night })) {
      const t = target(`${fs.device}.${p}`);
      for (const o of owners) if (!t.owners.includes(o)) t.owners.push(o);
    }
  }
  for (const t of g.targets.values()) {
    t.owners.sort((a, b) => (b.rule.priority ?? 0) - (a.rule.priority ?? 0));
    t.commanded = memory?.commanded.get(t.ref);
  }
  g.alarms = compileAlarms(cfg.alarms ?? []);
  for (const a of g.alarms) {
    a.active = memory?.alarms.get(a.key) ?? false;
    indexUnit(g.deps, a);
  }
  return g;
}
