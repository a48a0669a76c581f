import type { Profile } from '../../../hardware/src/profile.js';
import type { PointReading } from '../modbus/line.js';

/** One line of the technician's commissioning checklist. */
export interface CheckItem {
  id: string;
  title: string;
  status: 'pass' | 'fail' | 'warn' | 'pending';
  detail: string;
}

export interface GatewaySnapshot {
  gateway: string;
  devices: { id: string; profile: string; online: boolean | undefined }[];
  points: PointReading[];
  uplink: string;
  /** true / false from the OS (NTP synchronised), undefined when it cannot tell. */
  timeSynced?: boolean;
}

type Values = Map<string, number | boolean>;

/** Plausibility checks by device kind: named building blocks, picked by the profile's `kind`. */
const plausibility: Record<string, (v: Values) => { status: CheckItem['status']; detail: string }[]> = {
  'street-light': (v) => {
    const out: { status: CheckItem['status']; detail: string }[] = [];
    const on = v.get('on');
    const dim = Number(v.get('dim') ?? 0);
    const power = Number(v.get('power') ?? NaN);
    if (on === true && dim > 0)
      out.push(
        power > 0.5
          ? { status: 'pass', detail: `draws ${power} W at ${dim} %` }
          : { status: 'fail', detail: `switched on at ${dim} % but draws ${power} W: lamp or driver fault?` },
      );
    if (v.get('lamp-fault') === true) out.push({ status: 'fail', detail: 'reports a lamp fault' });
    if (v.get('driver-fault') === true) out.push({ status: 'fail', detail: 'reports a driver fault' });
    const volts = v.get('voltage');
    if (typeof volts === 'number' && (volts < 180 || volts > 260))
      out.push({ status: 'warn', detail: `supply ${volts} V is outside 180–260 V` });
    return out;
  },
  'pump-station': (v) => {
    const out: { status: CheckItem['status']; detail: string }[] = [];
    const level = v.get('wet-well-level');
    if (typeof level === 'number')
      out.push(
        level >= -0.1 && level <= 5.1
          ? { status: 'pass', detail: `wet-well level ${level} m is within the sensor's range` }
          : { status: 'fail', detail: `wet-well level ${level} m is outside 0–5 m: check the 4–20 mA loop` },
      );
    for (const f of ['pump1-thermal-trip', 'pump2-thermal-trip', 'pump1-dry-run', 'pump2-dry-run'])
      if (v.get(f) === true) out.push({ status: 'fail', detail: `${f} is active` });
    return out;
  },
  'waste-bin': (v) => {
    const out: { status: CheckItem['status']; detail: string }[] = [];
    const fill = v.get('fill');
    if (typeof fill === 'number')
      out.push(
        fill >= 0 && fill <= 100
          ? { status: 'pass', detail: `fill ${fill} %` }
          : { status: 'fail', detail: `fill ${fill} % is impossible: sensor mounted wrong?` },
      );
    const battery = v.get('battery');
    if (typeof battery === 'number' && battery < 20)
      out.push({ status: 'warn', detail: `battery at ${battery} %` });
    if (v.get('fire') === true) out.push({ status: 'fail', detail: 'fire alarm active' });
    if (v.get('tilt') === true) out.push({ status: 'fail', detail: 'bin reports tilted' });
    return out;
  },
};

const worst = (a: CheckItem['status'], b: CheckItem['status']): CheckItem['status'] => {
  const order = ['pass', 'warn', 'pending', 'fail'];
  return order.indexOf(a) >= order.indexOf(b) ? a : b;
};

/** The checklist from what the gateway reports now. Pure. */
export function checklist(s: GatewaySnapshot, profiles: ReadonlyMap<string, Profile>): CheckItem[] {
  const items: CheckItem[] = [];
  for (const d of s.devices) {
    const values: Values = new Map(s.points.filter((p) => p.device === d.id).map((p) => [p.point, p.value]));
    if (d.online !== true) {
      items.push({
        id: `${d.id}/answers`,
        title: `${d.id} answers`,
        status: d.online === false ? 'fail' : 'pending',
        detail:
          d.online === false ? 'no answer: check address, wiring, termination and power' : 'not polled yet',
      });
      continue;
    }
    const profile = profiles.get(d.profile);
    const checks = profile ? (plausibility[profile.kind]?.(values) ?? []) : [];
    const status = checks.reduce<CheckItem['status']>((acc, c) => worst(acc, c.status), 'pass');
    items.push({
      id: `${d.id}/answers`,
      title: `${d.id} answers and reads plausibly`,
      status,
      detail: ['answers', ...checks.map((c) => c.detail)].join('; '),
    });
  }
  items.push({
    id: 'uplink',
    title: 'uplink to the fleet',
    status: s.uplink === 'online' ? 'pass' : 'warn',
    detail:
      s.uplink === 'online' ? 'connected' : `${s.uplink}: readings are kept in the outbox until it connects`,
  });
  items.push({
    id: 'time',
    title: 'time synchronised',
    status: s.timeSynced === true ? 'pass' : s.timeSynced === false ? 'fail' : 'warn',
    detail:
      s.timeSynced === true
        ? 'NTP synchronised'
        : s.timeSynced === false
          ? 'clock not synchronised: schedules and timestamps will drift'
          : 'cannot tell (no timedatectl)',
  });
  return items;
}
