import { alarmBody, stepAlarm, takeoverWatcher, type AlarmUnit } from './alarms.js';
import {
  arbitrate,
  buildGraph,
  indexUnit,
  sameMap,
  targetOf,
  type EngineMemory,
  type InterlockUnit,
  type RuleUnit,
  type Target,
  type Unit,
} from './graph.js';

export type { EngineMemory } from './graph.js';
import { Calendar, nextFiring, scheduleOutputs } from './calendar.js';
import type { ConditionContext, DepKey } from './conditions.js';
import { stepReport, stepThreshold, type ThresholdState } from './threshold.js';
import {
  DEFAULT_TIME_ZONE,
  splitRef,
  type ControlConfig,
  type DutyMember,
  type Effect,
  type FailSafe,
  type Override,
  type Reason,
  type Ref,
  type Value,
} from './types.js';

/** After a failed write, try again this much later. */
const RETRY_MS = 10_000;

/**
 * The rule evaluator. No I/O and no clock of its own: every input carries `now`, every output is an
 * effect (write, event, alarm) for the shell to perform. Evaluation is incremental — a reading
 * re-evaluates only the rules, interlocks and alarms that depend on that point — and time-driven
 * work (schedules, minimum run times, expiries, alarm delays, day/night) waits in a timer table the
 * shell polls through `nextWakeAt()`/`tick()`.
 */
export class RuleEngine {
  private readonly cal: Calendar;
  private readonly hasSun: boolean;
  private readonly values: Map<Ref, Value>;
  private readonly offline: Set<string>;
  private readonly overrides: Map<string, Override>;
  private readonly rules: RuleUnit[];
  private readonly interlocks: InterlockUnit[];
  private readonly alarms: AlarmUnit[];
  private readonly deps: Map<DepKey, Unit[]>;
  private readonly targets: Map<Ref, Target>;
  private readonly failSafe: Map<string, FailSafe>;
  private readonly timers = new Map<string, { at: number; fire: (fx: Effect[], now: number) => void }>();
  private now = 0;
  private nightCache: { at: number; night: boolean } | undefined;
  private readonly ctx: ConditionContext = {
    value: (ref) => this.values.get(ref),
    desired: (ref) => this.targets.get(ref)?.desired,
    night: () => this.isNight(this.now),
  };

  constructor(cfg: ControlConfig, memory?: EngineMemory) {
    // Clock-time schedules work without a location (default zone); sun times need one (validated).
    this.hasSun = cfg.location !== undefined;
    this.cal = new Calendar(cfg.location ?? { lat: 0, lon: 0, timeZone: DEFAULT_TIME_ZONE });
    this.values = new Map(memory?.values);
    this.offline = new Set(memory?.offline);
    this.overrides = new Map(memory?.overrides);
    const g = buildGraph(cfg, memory);
    this.rules = g.rules;
    this.interlocks = g.interlocks;
    this.alarms = g.alarms;
    this.deps = g.deps;
    this.targets = g.targets;
    this.failSafe = g.failSafe;
    for (const o of cfg.overrides ?? []) if (!this.overrides.has(o.id)) this.overrides.set(o.id, o);
  }

  /** First evaluation: everything once. */
  start(now: number): Effect[] {
    this.now = now;
    const fx: Effect[] = [];
    for (const o of this.overrides.values()) this.armOverride(o, fx, now);
    if (this.hasSun && this.deps.has('sun')) this.armSun(now);
    this.pass(now, new Set(), new Set<Unit>([...this.interlocks, ...this.rules, ...this.alarms]), fx);
    return fx;
  }

  memory(): EngineMemory {
    const commanded = new Map<Ref, Value>();
    for (const t of this.targets.values()) if (t.commanded !== undefined) commanded.set(t.ref, t.commanded);
    const thresholds = new Map<string, ThresholdState>();
    for (const u of this.rules) if (u.state) thresholds.set(u.rule.id, u.state);
    return {
      values: new Map(this.values),
      offline: new Set(this.offline),
      commanded,
      overrides: new Map(this.overrides),
      thresholds,
      alarms: new Map(this.alarms.map((a) => [a.key, a.active])),
    };
  }

  /** New readings (any source: Modbus, GPIO). Only changed values trigger evaluation. */
  readings(rs: readonly { device: string; point: string; value: Value }[], now: number): Effect[] {
    const keys = new Set<DepKey>();
    for (const r of rs) {
      const ref = `${r.device}.${r.point}`;
      if (this.values.get(ref) === r.value) continue;
      this.values.set(ref, r.value);
      if (this.deps.has(`p:${ref}`)) keys.add(`p:${ref}`);
    }
    const fx: Effect[] = [];
    if (keys.size) this.pass(now, keys, new Set(), fx);
    return fx;
  }

  /** A device went offline (its values are stale: rules reading them lose control) or came back. */
  deviceState(device: string, online: boolean, now: number): Effect[] {
    if (online ? !this.offline.delete(device) : this.offline.has(device)) return [];
    if (!online) this.offline.add(device);
    const keys = new Set<DepKey>();
    for (const k of this.deps.keys()) if (k.startsWith(`p:${device}.`)) keys.add(k);
    const fx: Effect[] = [];
    const dirty = new Set<Target>();
    if (online)
      for (const t of this.targets.values())
        if (t.device === device) {
          t.commanded = undefined; // we cannot know what it did meanwhile: assert again
          dirty.add(t);
        }
    this.pass(now, keys, new Set(), fx, dirty);
    return fx;
  }

  /** Run whatever time-driven work is due. */
  tick(now: number): Effect[] {
    const fx: Effect[] = [];
    const due = [...this.timers].filter(([, t]) => t.at <= now).sort((a, b) => a[1].at - b[1].at);
    for (const [key, t] of due) {
      if (this.timers.get(key) !== t) continue;
      this.timers.delete(key);
      t.fire(fx, now);
    }
    return fx;
  }

  nextWakeAt(): number {
    let at = Infinity;
    for (const t of this.timers.values()) if (t.at < at) at = t.at;
    return at;
  }

  addOverride(o: Override, now: number): Effect[] {
    const fx: Effect[] = [];
    const created = { ...o, createdAt: o.createdAt ?? now };
    this.overrides.set(o.id, created);
    this.armOverride(created, fx, now);
    return fx;
  }

  cancelOverride(id: string, by: string, now: number): Effect[] {
    const o = this.overrides.get(id);
    if (!o) return [];
    const fx: Effect[] = [];
    this.endOverride(o, fx, now, 'override-cancelled', { by });
    return fx;
  }

  activeOverrides(): Override[] {
    return [...this.overrides.values()];
  }

  /** A write failed: forget what we think the device holds and try again later. */
  writeFailed(device: string, point: string, now: number): Effect[] {
    const t = this.targets.get(`${device}.${point}`);
    if (!t) return [];
    t.commanded = undefined;
    this.timers.set(`retry:${t.ref}`, {
      at: now + RETRY_MS,
      fire: (fx, at) => this.pass(at, new Set(), new Set(), fx, new Set([t])),
    });
    return [];
  }

  /** Ids of the rules that drive a point (write it); empty when no rule does. */
  driversOf(device: string, point: string): string[] {
    return this.targets.get(`${device}.${point}`)?.owners.map((o) => o.rule.id) ?? [];
  }

  /**
   * A write from outside the rules (operator, fleet command, Node-RED node, local API): the id of the
   * active interlock it would break, or undefined when it may go to the device.
   */
  interlockBlocking(device: string, point: string, value: Value): string | undefined {
    const t = this.targets.get(`${device}.${point}`);
    const il = t?.interlocks.find((i) => i.active && i.il.force[`${device}.${point}`] !== value);
    return il?.il.id;
  }

  /**
   * The runtime is losing control (stopping, crashed evaluation): put every device with a declared
   * fail-safe into it. Interlocks still hold.
   */
  failSafeAll(now: number, why: string): Effect[] {
    this.now = now;
    const fx: Effect[] = [];
    for (const fs of this.failSafe.values()) {
      const vals = { ...fs.set, ...(this.isNight(now) ? fs.night : {}) };
      for (const [point, v] of Object.entries(vals)) {
        const ref = `${fs.device}.${point}`;
        const t = this.target(ref);
        const il = t.interlocks.find((i) => i.active);
        const value = il ? il.il.force[ref]! : v;
        const reason: Reason = il
          ? { source: 'interlock', interlock: il.il.id }
          : { source: 'fail-safe', detail: why };
        t.desired = value;
        t.commanded = value;
        t.reasonKey = 'fail-safe';
        fx.push({ type: 'write', device: fs.device, point, value, reason });
        fx.push({
          type: 'event',
          body: { type: 'actuation', device: fs.device, point, value, reason, ts: now },
        });
      }
    }
    return fx;
  }

  isNight(t: number): boolean {
    if (!this.hasSun) return false;
    if (this.nightCache?.at !== t) this.nightCache = { at: t, night: this.cal.isNight(t) };
    return this.nightCache.night;
  }

  // ---------------------------------------------------------------------------------------------

  private index(u: Unit): void {
    indexUnit(this.deps, u);
  }

  private target(ref: Ref): Target {
    return targetOf(this.targets, ref);
  }

  private armSun(now: number): void {
    this.timers.set('sun', {
      at: this.cal.nextSunTransition(now),
      fire: (fx, at) => {
        this.armSun(at);
        const dirty = new Set<Target>();
        for (const t of this.targets.values()) if (t.reasonKey === 'fail-safe') dirty.add(t);
        this.pass(at, new Set(['sun']), new Set(), fx, dirty);
      },
    });
  }

  private armOverride(o: Override, fx: Effect[], now: number): void {
    if (o.until <= now) {
      this.endOverride(o, fx, now, 'override-expired', {});
      return;
    }
    const { id, who, why, set, until } = o;
    fx.push({
      type: 'event',
      body: { type: 'override-started', override: id, who, why, set, until, ts: now },
    });
    this.timers.set(`ov:${id}`, {
      at: until,
      fire: (f, at) => this.endOverride(o, f, at, 'override-expired', {}),
    });
    this.pass(now, new Set(), new Set(), fx, new Set(Object.keys(set).map((r) => this.target(r))));
  }

  private endOverride(o: Override, fx: Effect[], now: number, type: string, extra: object): void {
    if (this.overrides.get(o.id) !== o) return;
    this.overrides.delete(o.id);
    this.timers.delete(`ov:${o.id}`);
    fx.push({ type: 'event', body: { type, override: o.id, who: o.who, why: o.why, ...extra, ts: now } });
    this.pass(now, new Set(), new Set(), fx, new Set(Object.keys(o.set).map((r) => this.target(r))));
  }

  private overrideFor(ref: Ref): Override | undefined {
    let best: Override | undefined;
    for (const o of this.overrides.values())
      if (ref in o.set && (!best || (o.createdAt ?? 0) >= (best.createdAt ?? 0))) best = o;
    return best;
  }

  private pass(
    now: number,
    keys: Set<DepKey>,
    units: Set<Unit>,
    fx: Effect[],
    targets = new Set<Target>(),
  ): void {
    this.now = now;
    for (const k of keys) for (const u of this.deps.get(k) ?? []) units.add(u);
    for (const u of units) if (u.kind === 'interlock') this.evalInterlock(u, now, fx, units, targets);
    for (const u of units) if (u.kind === 'rule') this.evalRule(u, now, fx, targets);
    const alarmKeys = new Set<DepKey>();
    for (const t of targets) if (this.resolve(t, now, fx)) alarmKeys.add(`d:${t.ref}`);
    for (const k of alarmKeys) for (const u of this.deps.get(k) ?? []) units.add(u);
    for (const u of units) if (u.kind === 'alarm') this.evalAlarm(u, now, fx);
  }

  private evalInterlock(
    u: InterlockUnit,
    now: number,
    fx: Effect[],
    units: Set<Unit>,
    targets: Set<Target>,
  ): void {
    // Fail closed: a trip flag we cannot read (not yet polled, device offline) counts as tripped.
    const unknown = u.inputs.some((r) => !this.values.has(r) || this.offline.has(splitRef(r).device));
    const active = unknown || u.cond(this.ctx);
    if (active === u.active) return;
    u.active = active;
    fx.push({
      type: 'event',
      body: {
        type: active ? 'interlock-engaged' : 'interlock-released',
        interlock: u.il.id,
        force: u.il.force,
        ...(active && unknown ? { unknownInputs: true } : {}),
        ts: now,
      },
    });
    for (const ref of Object.keys(u.il.force)) {
      const t = this.target(ref);
      targets.add(t);
      for (const o of t.owners) units.add(o);
    }
  }

  private evalRule(u: RuleUnit, now: number, fx: Effect[], targets: Set<Target>): void {
    const before = u.outputs;
    const wasLost = u.lost;
    const rule = u.rule;
    if (rule.kind === 'schedule') {
      u.outputs = scheduleOutputs(rule, now, this.cal);
      u.lost = false;
      u.detail = 'schedule';
      const at = nextFiring(rule, now, this.cal);
      if (at !== Infinity)
        this.timers.set(`rule:${rule.id}`, { at, fire: (f, t) => this.pass(t, new Set(), new Set([u]), f) });
    } else {
      const v = this.values.get(rule.input);
      const lost = typeof v !== 'number' || this.offline.has(u.inputDevice!);
      u.lost = lost;
      if (lost) u.outputs = new Map();
      else {
        const members = rule.duty?.members ?? [];
        const available = rule.duty ? (i: number) => this.memberAvailable(members[i]!) : () => true;
        const step = stepThreshold(rule, u.state!, v, now, available);
        u.outputs = step.outputs;
        u.detail = step.detail;
        const key = u.timerKey;
        if (step.wakeAt !== undefined)
          this.timers.set(key, { at: step.wakeAt, fire: (f, t) => this.pass(t, new Set(), new Set([u]), f) });
        else this.timers.delete(key);
        fx.push(...stepReport(rule, step, now));
        if (step.takeover && this.watchTakeover(u, step.takeover.from)) {
          const [from, to] = [members[step.takeover.from]!.run, members[step.takeover.to]!.run];
          const msg = `${from} faulted while running; ${to} took over`;
          fx.push(alarmBody('duty-takeover', `${rule.id}:takeover`, 'major', 'raised', msg, now));
        }
        const none = step.noneAvailable === true;
        if (none !== u.noneAlarm) {
          u.noneAlarm = none;
          const msg = `${rule.id}: demand but no member can run`;
          fx.push(
            alarmBody(
              'no-member-available',
              `${rule.id}:none`,
              'critical',
              none ? 'raised' : 'cleared',
              msg,
              now,
            ),
          );
        }
      }
    }
    if (wasLost !== u.lost || !sameMap(before, u.outputs)) {
      for (const ref of new Set([...before.keys(), ...u.outputs.keys()])) targets.add(this.target(ref));
      if (u.lost && !wasLost) for (const t of this.targets.values()) if (t.owners.includes(u)) targets.add(t);
    }
  }

  /** A duty member may run: no trip flag set, its device online, no interlock holding it off. */
  private memberAvailable(m: DutyMember): boolean {
    if ((m.faults ?? []).some((f) => this.values.get(f) === true)) return false;
    if (this.offline.has(splitRef(m.run).device)) return false;
    return !this.target(m.run).interlocks.some((il) => il.active && il.il.force[m.run] === false);
  }

  /**
   * Watch for the faulted member to be available again, which clears the takeover alarm. False when
   * the alarm is already raised (de-duplication).
   */
  private watchTakeover(u: RuleUnit, member: number): boolean {
    if (u.rule.kind !== 'threshold' || !u.rule.duty) return false;
    const key = `${u.rule.id}:takeover`;
    if (this.alarms.some((a) => a.key === key && a.active)) return false;
    const watcher = takeoverWatcher(key, u.rule.duty.members[member]!);
    this.alarms.push(watcher);
    this.index(watcher);
    return true;
  }

  private resolve(t: Target, now: number, fx: Effect[]): boolean {
    const d = arbitrate(t, this.overrideFor(t.ref), this.failSafe.get(t.device), this.isNight(now));
    if (d.blocked) fx.push({ type: 'event', body: { ...d.blocked, ts: now } });
    const changed = d.value !== t.desired;
    t.desired = d.value;
    t.reasonKey = d.reasonKey;
    if (d.value !== undefined && d.value !== t.commanded && !this.offline.has(t.device)) {
      t.commanded = d.value;
      const { value, reason } = d as { value: Value; reason: Reason };
      fx.push({ type: 'write', device: t.device, point: t.point, value, reason });
      fx.push({
        type: 'event',
        body: { type: 'actuation', device: t.device, point: t.point, value, reason, ts: now },
      });
    }
    return changed;
  }

  private evalAlarm(a: AlarmUnit, now: number, fx: Effect[]): void {
    const { effect, wakeAt } = stepAlarm(a, this.ctx, now);
    if (effect) fx.push(effect);
    const key = `alarm:${a.key}`;
    if (wakeAt !== undefined)
      this.timers.set(key, { at: wakeAt, fire: (f, t) => this.pass(t, new Set(), new Set([a]), f) });
    else this.timers.delete(key);
  }
}
