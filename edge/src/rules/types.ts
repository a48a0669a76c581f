/**
 * Local control as data: the `rules`, `alarms`, `interlocks`, `overrides` and `failSafe` sections of
 * a gateway config. A point is named by a ref `device.point` (ids never contain dots). Inside an
 * alarm with `devices`, `$.point` means "this point of each listed device".
 */
export type Value = number | boolean;
export type Ref = string;

export type SunEvent = 'sunrise' | 'sunset' | 'dawn' | 'dusk';
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/** When a schedule entry fires: a local wall-clock time, or a sun event with an offset in minutes. */
export type TimeSpec = { time: string } | { sun: SunEvent; offsetMin?: number };

export interface ScheduleEntry {
  at: TimeSpec;
  /** Point id (of every device in the rule) → value; `null` releases the point. */
  set: Record<string, Value | null>;
}

export interface ScheduleRule {
  id: string;
  kind: 'schedule';
  /** Higher wins when two rules drive the same point (default 0). */
  priority?: number;
  devices: string[];
  entries: ScheduleEntry[];
  /** Fire only on these local weekdays (default every day). */
  days?: Weekday[];
  /** Fire only on these local dates: `YYYY-MM-DD` or `MM-DD` (every year). */
  dates?: string[];
  /** Never fire on these local dates. */
  except?: string[];
}

/** A pump (or any run/stop output) a duty/standby group can pick. */
export interface DutyMember {
  run: Ref;
  /** Trip flags: while any is true the member is unavailable (interlocks also count). */
  faults?: Ref[];
}

/**
 * Start when `input` ≥ `high`, stop when ≤ `low` (or the other way round with `direction:
 * 'falling'`): hysteresis, minimum on/off times and a cap on starts per hour. The output is either
 * fixed values (`whenOn`/`whenOff`) or a duty/standby group that rotates on every start and hands
 * over to the standby when the duty member faults.
 */
export interface ThresholdRule {
  id: string;
  kind: 'threshold';
  priority?: number;
  input: Ref;
  high: number;
  low: number;
  direction?: 'rising' | 'falling';
  minOnMs?: number;
  minOffMs?: number;
  maxStartsPerHour?: number;
  whenOn?: Record<Ref, Value>;
  whenOff?: Record<Ref, Value>;
  duty?: { members: DutyMember[]; rotate?: boolean };
}

export type Rule = ScheduleRule | ThresholdRule;

export type Op = '==' | '!=' | '>' | '>=' | '<' | '<=';
export type Condition =
  | { point: Ref; op: Op; value: Value }
  /** What the engine currently commands for a point (e.g. "should be on"). */
  | { desired: Ref; op: Op; value: Value }
  /** Between sunset and sunrise (or the reverse) at the gateway's location. */
  | { sun: 'night' | 'day' }
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition };

export type Severity = 'critical' | 'major' | 'minor' | 'warning';

export interface AlarmRule {
  id: string;
  severity: Severity;
  message: string;
  /** Expand the alarm per device; `$.point` refs in the conditions are this device's points. */
  devices?: string[];
  raise: Condition;
  /** Clears when this holds (hysteresis); default: when `raise` no longer holds. */
  clear?: Condition;
  /** The raise condition must hold this long before the alarm is raised (default 0). */
  forMs?: number;
}

/** Forces points while `if` holds; wins over every rule, override and node command. */
export interface Interlock {
  id: string;
  if: Condition;
  force: Record<Ref, Value>;
}

export interface Override {
  id: string;
  /** Operator or fleet user, recorded with every actuation it causes. */
  who: string;
  why: string;
  set: Record<Ref, Value>;
  /** Epoch ms at which it reverts by itself. */
  until: number;
  createdAt?: number;
}

/**
 * Where a device goes when control is lost (its rule's input went stale, or the runtime stops):
 * `set` always, `night` on top of it between sunset and sunrise.
 */
export interface FailSafe {
  device: string;
  set: Record<string, Value>;
  night?: Record<string, Value>;
}

export interface Location {
  lat: number;
  lon: number;
  /** IANA zone for calendar times (default Asia/Ho_Chi_Minh). */
  timeZone?: string;
}

export interface ControlConfig {
  location?: Location;
  rules?: Rule[];
  alarms?: AlarmRule[];
  interlocks?: Interlock[];
  overrides?: Override[];
  failSafe?: FailSafe[];
}

/** Why a point was written. */
export type Reason =
  | { source: 'rule'; rule: string; detail?: string }
  | { source: 'override'; override: string; who: string; why: string }
  | { source: 'interlock'; interlock: string }
  | { source: 'fail-safe'; detail: string };

export interface WriteEffect {
  type: 'write';
  device: string;
  point: string;
  value: Value;
  reason: Reason;
}

export interface EventEffect {
  type: 'event';
  body: Record<string, unknown> & { type: string; ts: number };
}

export interface AlarmEffect {
  type: 'alarm';
  body: {
    alarm: string;
    key: string;
    device?: string;
    severity: Severity;
    state: 'raised' | 'cleared';
    message: string;
    ts: number;
  };
}

export type Effect = WriteEffect | EventEffect | AlarmEffect;

export const DEFAULT_TIME_ZONE = 'Asia/Ho_Chi_Minh';

export function splitRef(ref: Ref): { device: string; point: string } {
  const i = ref.indexOf('.');
  return { device: ref.slice(0, i), point: ref.slice(i + 1) };
}
