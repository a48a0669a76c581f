import { isWritableTable, type Profile } from '../../../hardware/src/profile.js';
import { isTimeZone } from './calendar.js';
import type { Condition, ControlConfig, Value } from './types.js';

/** What a rule may do with one point of one device. */
interface PointInfo {
  readable: boolean;
  writable: boolean;
  bool: boolean;
  min?: number;
  max?: number;
}

function pointsOf(profile: Profile): Map<string, PointInfo> {
  const out = new Map<string, PointInfo>();
  for (const p of profile.points)
    out.set(p.id, {
      readable: true,
      writable: p.access === 'rw' && isWritableTable(p.table),
      bool: p.type === 'bool',
      min: p.min,
      max: p.max,
    });
  for (const pin of profile.gpio?.pins ?? [])
    out.set(pin.id, { readable: true, writable: pin.direction === 'out', bool: true });
  return out;
}

const key = (k: string): string => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`);

/**
 * Cross-reference checks the schema cannot express, each naming its JSON path: every device and
 * point a rule, alarm, interlock, override or fail-safe reads or writes exists (and is writable where
 * written, with a value of the right type and range), ids are unique, sun times have a location.
 */
export function controlIssues(cfg: ControlConfig, devices: ReadonlyMap<string, Profile>): string[] {
  const issues: string[] = [];
  const cache = new Map<string, Map<string, PointInfo>>();
  const info = (device: string): Map<string, PointInfo> | undefined => {
    let m = cache.get(device);
    const profile = devices.get(device);
    if (!m && profile) cache.set(device, (m = pointsOf(profile)));
    return m;
  };
  const known = (): string => [...devices.keys()].join(', ') || 'none';
  const checkDevice = (path: string, device: string): boolean => {
    if (info(device)) return true;
    issues.push(`${path}: no device '${device}' (known: ${known()})`);
    return false;
  };
  const checkPoint = (
    path: string,
    device: string,
    point: string,
    write: boolean,
    value?: Value | null,
  ): void => {
    if (!checkDevice(path, device)) return;
    const p = info(device)!.get(point);
    if (!p) return void issues.push(`${path}: device '${device}' has no point '${point}'`);
    if (write && !p.writable) return void issues.push(`${path}: point '${device}.${point}' is read-only`);
    if (value === undefined || value === null) return;
    if (p.bool !== (typeof value === 'boolean'))
      return void issues.push(`${path}: '${device}.${point}' takes ${p.bool ? 'true/false' : 'a number'}`);
    if (
      typeof value === 'number' &&
      ((p.min !== undefined && value < p.min) || (p.max !== undefined && value > p.max))
    )
      issues.push(`${path}: ${value} is outside ${p.min ?? '-∞'}..${p.max ?? '∞'} of '${device}.${point}'`);
  };
  const checkRef = (path: string, ref: string, write: boolean, value?: Value): void => {
    const i = ref.indexOf('.');
    checkPoint(path, ref.slice(0, i), ref.slice(i + 1), write, value);
  };
  const unique = (section: string, ids: string[]): void => {
    const seen = new Set<string>();
    ids.forEach((id, i) => {
      if (seen.has(id)) issues.push(`${section}[${i}].id: duplicate id '${id}'`);
      seen.add(id);
    });
  };
  const needSun = (path: string): void => {
    if (!cfg.location) issues.push(`${path}: sun times need the gateway's location (location.lat/lon)`);
  };

  const checkCondition = (path: string, c: Condition, device: string | undefined): void => {
    const kinds = ['point', 'desired', 'sun', 'all', 'any', 'not'].filter((k) => k in c);
    if (kinds.length !== 1)
      return void issues.push(
        `${path}: needs exactly one of point, desired, sun, all, any, not (has ${kinds.join(', ') || 'none'})`,
      );
    if ('point' in c || 'desired' in c) {
      const field = 'point' in c ? 'point' : 'desired';
      let ref = 'point' in c ? c.point : c.desired;
      if (ref.startsWith('$.')) {
        if (!device) return void issues.push(`${path}.${field}: '$.' refs need the alarm's devices`);
        ref = `${device}${ref.slice(1)}`;
      }
      checkRef(`${path}.${field}`, ref, field === 'desired', c.value);
    } else if ('sun' in c) needSun(`${path}.sun`);
    else if ('all' in c) c.all.forEach((x, i) => checkCondition(`${path}.all[${i}]`, x, device));
    else if ('any' in c) c.any.forEach((x, i) => checkCondition(`${path}.any[${i}]`, x, device));
    else checkCondition(`${path}.not`, c.not, device);
  };

  if (cfg.location?.timeZone !== undefined && !isTimeZone(cfg.location.timeZone))
    issues.push(
      `location.timeZone: unknown time zone '${cfg.location.timeZone}' (an IANA name, e.g. Asia/Ho_Chi_Minh)`,
    );

  const rules = cfg.rules ?? [];
  unique(
    'rules',
    rules.map((r) => r.id),
  );
  rules.forEach((r, i) => {
    const at = `rules[${i}]`;
    if (r.kind === 'schedule') {
      r.devices.forEach((d, j) => checkDevice(`${at}.devices[${j}]`, d));
      r.entries.forEach((e, k) => {
        const ep = `${at}.entries[${k}]`;
        const hasTime = 'time' in e.at;
        if (hasTime === 'sun' in e.at) issues.push(`${ep}.at: needs exactly one of time, sun`);
        else if ('sun' in e.at) needSun(`${ep}.at.sun`);
        else if ('offsetMin' in e.at) issues.push(`${ep}.at.offsetMin: only with sun`);
        for (const [point, v] of Object.entries(e.set))
          for (const d of r.devices) if (info(d)) checkPoint(`${ep}.set${key(point)}`, d, point, true, v);
      });
    } else {
      checkRef(`${at}.input`, r.input, false);
      const input = r.input.split('.');
      if (info(input[0]!)?.get(input[1]!)?.bool) issues.push(`${at}.input: '${r.input}' is not a number`);
      if (!(r.high > r.low)) issues.push(`${at}.high: must be greater than low (${r.low}) for hysteresis`);
      if (r.duty && (r.whenOn || r.whenOff)) issues.push(`${at}.duty: use either duty or whenOn/whenOff`);
      if (!r.duty && !r.whenOn && !r.whenOff) issues.push(`${at}: needs duty or whenOn/whenOff`);
      for (const [ref, v] of Object.entries(r.whenOn ?? {}))
        checkRef(`${at}.whenOn${key(ref)}`, ref, true, v);
      for (const [ref, v] of Object.entries(r.whenOff ?? {}))
        checkRef(`${at}.whenOff${key(ref)}`, ref, true, v);
      r.duty?.members.forEach((m, j) => {
        checkRef(`${at}.duty.members[${j}].run`, m.run, true, true);
        m.faults?.forEach((f, k) => checkRef(`${at}.duty.members[${j}].faults[${k}]`, f, false, true));
      });
    }
  });

  const alarms = cfg.alarms ?? [];
  unique(
    'alarms',
    alarms.map((a) => a.id),
  );
  alarms.forEach((a, i) => {
    a.devices?.forEach((d, j) => checkDevice(`alarms[${i}].devices[${j}]`, d));
    for (const d of a.devices ?? [undefined]) {
      if (d !== undefined && !info(d)) continue;
      checkCondition(`alarms[${i}].raise`, a.raise, d);
      if (a.clear) checkCondition(`alarms[${i}].clear`, a.clear, d);
    }
  });

  const interlocks = cfg.interlocks ?? [];
  unique(
    'interlocks',
    interlocks.map((x) => x.id),
  );
  interlocks.forEach((x, i) => {
    checkCondition(`interlocks[${i}].if`, x.if, undefined);
    for (const [ref, v] of Object.entries(x.force))
      checkRef(`interlocks[${i}].force${key(ref)}`, ref, true, v);
  });

  const overrides = cfg.overrides ?? [];
  unique(
    'overrides',
    overrides.map((o) => o.id),
  );
  overrides.forEach((o, i) => {
    for (const [ref, v] of Object.entries(o.set)) checkRef(`overrides[${i}].set${key(ref)}`, ref, true, v);
  });

  const seen = new Set<string>();
  (cfg.failSafe ?? []).forEach((f, i) => {
    if (seen.has(f.device)) issues.push(`failSafe[${i}].device: duplicate fail-safe for '${f.device}'`);
    seen.add(f.device);
    if (!checkDevice(`failSafe[${i}].device`, f.device)) return;
    for (const [p, v] of Object.entries(f.set))
      checkPoint(`failSafe[${i}].set${key(p)}`, f.device, p, true, v);
    if (f.night) needSun(`failSafe[${i}].night`);
    for (const [p, v] of Object.entries(f.night ?? {}))
      checkPoint(`failSafe[${i}].night${key(p)}`, f.device, p, true, v);
  });
  return issues;
}

/** Override check at run time (from an operator or the fleet): the same rules as in a config. */
export function overrideIssues(set: Record<string, Value>, devices: ReadonlyMap<string, Profile>): string[] {
  return controlIssues({ overrides: [{ id: 'o', who: '-', why: '-', set, until: 0 }] }, devices).map((s) =>
    s.replace(/^overrides\[0\]\./, ''),
  );
}
