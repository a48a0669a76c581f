import { getTimes } from 'suncalc';
import { CityGateError } from '../../../common/errors.js';
import {
  DEFAULT_TIME_ZONE,
  type Ref,
  type Value,
  type Location,
  type ScheduleRule,
  type SunEvent,
  type TimeSpec,
  type Weekday,
} from './types.js';

const DAY_MS = 86_400_000;
const WEEKDAYS: Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

export interface LocalDay {
  /** Days since 1970-01-01 in the local calendar. */
  n: number;
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
}

export interface SunDay {
  sunrise: number | null;
  sunset: number | null;
  dawn: number | null;
  dusk: number | null;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
    } catch {
      throw new CityGateError('invalid', `unknown time zone '${timeZone}'`);
    }
    formatters.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

/** Local calendar and sun times at one place; results cached per local day. */
export class Calendar {
  readonly timeZone: string;
  private readonly sunCache = new Map<number, SunDay>();

  constructor(readonly location: Location) {
    this.timeZone = location.timeZone ?? DEFAULT_TIME_ZONE;
    formatter(this.timeZone);
  }

  /** Offset of local time from UTC at instant `t`, ms. */
  offsetAt(t: number): number {
    const parts = formatter(this.timeZone).formatToParts(new Date(t));
    const get = (type: string): number => Number(parts.find((p) => p.type === type)?.value ?? 0);
    const local = Date.UTC(
      get('year'),
      get('month') - 1,
      get('day'),
      get('hour'),
      get('minute'),
      get('second'),
    );
    return Math.round((local - Math.floor(t / 1000) * 1000) / 60_000) * 60_000;
  }

  dayOf(t: number): LocalDay {
    return this.day(Math.floor((t + this.offsetAt(t)) / DAY_MS));
  }

  day(n: number): LocalDay {
    const d = new Date(n * DAY_MS);
    return {
      n,
      year: d.getUTCFullYear(),
      month: d.getUTCMonth() + 1,
      day: d.getUTCDate(),
      weekday: WEEKDAYS[(((n + 4) % 7) + 7) % 7]!,
    };
  }

  /** The instant of local wall-clock `minutes` after midnight on local day `n`. */
  localInstant(n: number, minutes: number): number {
    const guess = n * DAY_MS + minutes * 60_000;
    let t = guess - this.offsetAt(guess);
    const again = guess - this.offsetAt(t);
    if (again !== t) t = again;
    return t;
  }

  sun(n: number): SunDay {
    let s = this.sunCache.get(n);
    if (!s) {
      const noon = this.localInstant(n, 12 * 60);
      const times = getTimes(new Date(noon), this.location.lat, this.location.lon);
      const ms = (d: Date | null): number | null => (d && !Number.isNaN(d.getTime()) ? d.getTime() : null);
      s = {
        sunrise: ms(times.sunrise),
        sunset: ms(times.sunset),
        dawn: ms(times.dawn),
        dusk: ms(times.dusk),
      };
      if (this.sunCache.size > 64) this.sunCache.clear();
      this.sunCache.set(n, s);
    }
    return s;
  }

  /** When `spec` happens on local day `n` (null: the sun event does not happen that day). */
  at(n: number, spec: TimeSpec): number | null {
    if ('time' in spec) {
      const [h, m] = spec.time.split(':').map(Number) as [number, number];
      return this.localInstant(n, h * 60 + m);
    }
    const base = this.sun(n)[spec.sun as SunEvent];
    return base === null ? null : base + (spec.offsetMin ?? 0) * 60_000;
  }

  /** Between sunset and the next sunrise. */
  isNight(t: number): boolean {
    const n = this.dayOf(t).n;
    const { sunrise, sunset } = this.sun(n);
    if (sunrise === null || sunset === null) return false;
    return t < sunrise || t >= sunset;
  }

  /** The next sunrise or sunset strictly after `t`. */
  nextSunTransition(t: number): number {
    const n = this.dayOf(t).n;
    let best = Infinity;
    for (let k = n; k <= n + 2; k++) {
      for (const x of [this.sun(k).sunrise, this.sun(k).sunset])
        if (x !== null && x > t && x < best) best = x;
    }
    return best === Infinity ? t + DAY_MS : best;
  }
}

const pad = (x: number): string => String(x).padStart(2, '0');

export function firesOn(rule: ScheduleRule, d: LocalDay): boolean {
  if (rule.days && !rule.days.includes(d.weekday)) return false;
  const full = `${d.year}-${pad(d.month)}-${pad(d.day)}`;
  const md = `${pad(d.month)}-${pad(d.day)}`;
  const hit = (list: string[]): boolean => list.includes(full) || list.includes(md);
  if (rule.dates && !hit(rule.dates)) return false;
  if (rule.except && hit(rule.except)) return false;
  return true;
}

/** How far back a schedule looks for the entry still in force (a weekly rule must carry over). */
const LOOKBACK_DAYS = 8;

/**
 * The value a schedule gives `point` at `t`: the latest entry setting it that fired at or before
 * `t`. `undefined` when none fired in the look-back, `null` when the latest one released it.
 */
export function scheduleValue(
  rule: ScheduleRule,
  point: string,
  t: number,
  cal: Calendar,
): { value: number | boolean | null; at: number; entry: number } | undefined {
  const today = cal.dayOf(t).n;
  for (let n = today; n >= today - LOOKBACK_DAYS; n--) {
    const day = cal.day(n);
    if (!firesOn(rule, day)) continue;
    let best: { value: number | boolean | null; at: number; entry: number } | undefined;
    rule.entries.forEach((e, i) => {
      if (!(point in e.set)) return;
      const at = cal.at(n, e.at);
      if (at === null || at > t) return;
      if (!best || at >= best.at) best = { value: e.set[point]!, at, entry: i };
    });
    if (best) return best;
  }
  return undefined;
}

/** The first firing of any entry strictly after `t` (Infinity if none in the next 9 days). */
export function nextFiring(rule: ScheduleRule, t: number, cal: Calendar): number {
  const today = cal.dayOf(t).n;
  let best = Infinity;
  for (let n = today - 1; n <= today + LOOKBACK_DAYS; n++) {
    const day = cal.day(n);
    if (!firesOn(rule, day)) continue;
    for (const e of rule.entries) {
      const at = cal.at(n, e.at);
      if (at !== null && at > t && at < best) best = at;
    }
    if (best !== Infinity && n > today) break;
  }
  return best;
}

/** What a schedule asks of every device and point it names at `t` (released points left out). */
export function scheduleOutputs(rule: ScheduleRule, t: number, cal: Calendar): Map<Ref, Value> {
  const out = new Map<Ref, Value>();
  const points = new Set(rule.entries.flatMap((e) => Object.keys(e.set)));
  for (const p of points) {
    const v = scheduleValue(rule, p, t, cal);
    if (v && v.value !== null) for (const d of rule.devices) out.set(`${d}.${p}`, v.value);
  }
  return out;
}
