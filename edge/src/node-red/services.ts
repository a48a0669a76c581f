/**
 * What the CityGate Node-RED nodes may do on a gateway. The nodes (nodes/*.js) reach these only
 * through Node-RED settings (`settings.citygate.services`), never through a module-level cache,
 * so several runtimes (or test helpers) in one process never share state.
 */
import type { Clock } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import type { EdgeRuntime } from '../main.js';
import type { PointReading } from '../modbus/line.js';
import { Calendar } from '../rules/calendar.js';
import type { Location, TimeSpec } from '../rules/types.js';

export interface DeviceInfo {
  id: string;
  profile: string;
  points: { id: string; access: string; unit?: string }[];
}

export interface AlarmRaise {
  /** Stable alarm id, e.g. `bin-full/bin-3`. */
  id: string;
  severity: 'critical' | 'major' | 'minor' | 'warning';
  message: string;
  device?: string;
  value?: unknown;
}

export type Unsubscribe = () => void;

export interface EdgeServices {
  readonly gatewayId: string;
  readonly clock: Clock;
  /** Where the gateway stands (sun times); undefined when the config has none. */
  readonly location?: Location;
  devices(): DeviceInfo[];
  latest(device: string, point: string): PointReading | undefined;
  onReadings(fn: (readings: PointReading[]) => void): Unsubscribe;
  onDeviceState(fn: (device: string, online: boolean, reason: string) => void): Unsubscribe;
  /**
   * Through the line scheduler and the interlocks; rejects with a CityGateError (also when a rule
   * drives the point: one automatic controller per point).
   */
  write(device: string, point: string, value: number | boolean): Promise<void>;
  raiseAlarm(alarm: AlarmRaise): Promise<void>;
  clearAlarm(id: string, device?: string): Promise<void>;
  /** Custom data through the store-and-forward outbox. */
  publishTelemetry(stream: string, body: unknown): Promise<void>;
  /** When `spec` next happens strictly after `t` (local calendar at the gateway's location). */
  nextTime(spec: TimeSpec, t: number): number;
  /** When `spec` last happened at or before `t` (null: not in the past two days). */
  lastTime(spec: TimeSpec, t: number): number | null;
}

/** How alarms and telemetry leave the gateway; the runtime passes these in (the outbox, later). */
export interface ServiceSinks {
  raiseAlarm(alarm: AlarmRaise): Promise<void> | void;
  clearAlarm(id: string, device?: string): Promise<void> | void;
  publishTelemetry(stream: string, body: unknown): Promise<void> | void;
  location?: Location;
}

/** Settings key the nodes read: `RED.settings.citygate.services`. */
export interface CityGateNodeSettings {
  services: EdgeServices;
}

const DAY_MS = 86_400_000;

/** Sun and wall-clock times at one location, for the `schedule` node. */
export function timeFunctions(location: Location | undefined): Pick<EdgeServices, 'nextTime' | 'lastTime'> {
  let cal: Calendar | undefined;
  const calendar = (): Calendar => {
    if (!location)
      throw new CityGateError('no-location', 'the gateway config has no location: sun times unknown');
    return (cal ??= new Calendar(location));
  };
  const occurrences = (spec: TimeSpec, t: number, from: number, to: number): number[] => {
    const c = calendar();
    const n = c.dayOf(t).n;
    const out: number[] = [];
    for (let k = n + from; k <= n + to; k++) {
      const x = c.at(k, spec);
      if (x !== null) out.push(x);
    }
    return out;
  };
  return {
    nextTime(spec, t) {
      const next = occurrences(spec, t, -1, 3).find((x) => x > t);
      return next ?? t + DAY_MS;
    },
    lastTime(spec, t) {
      const past = occurrences(spec, t, -2, 1).filter((x) => x <= t);
      return past.length ? past[past.length - 1]! : null;
    },
  };
}

/** EdgeServices over a running edge runtime; alarms and telemetry go to `sinks`. */
export function servicesFromRuntime(runtime: EdgeRuntime, sinks: ServiceSinks): EdgeServices {
  const devices = (): DeviceInfo[] => {
    const out: DeviceInfo[] = [];
    const add = (id: string, profileId: string): void => {
      const p = runtime.profiles.get(profileId);
      out.push({
        id,
        profile: profileId,
        points: (p?.points ?? []).map((pt) => ({
          id: pt.id,
          access: pt.access,
          ...(pt.unit ? { unit: pt.unit } : {}),
        })),
      });
    };
    for (const line of runtime.lines.values()) for (const d of line.devicesState()) add(d.id, d.profile);
    for (const [id, p] of runtime.gpioProfiles) add(id, p.id);
    return out;
  };
  return {
    gatewayId: runtime.id,
    clock: runtime.clock,
    ...(sinks.location ? { location: sinks.location } : {}),
    devices,
    latest: (device, point) => runtime.latest.get(`${device}.${point}`),
    onReadings(fn) {
      runtime.events.on('readings', fn);
      return () => runtime.events.off('readings', fn);
    },
    onDeviceState(fn) {
      runtime.events.on('device', fn);
      return () => runtime.events.off('device', fn);
    },
    write: (device, point, value) => {
      // One automatic controller per point: a flow writing what a rule drives would fight it.
      const rules = runtime.rules.driversOf(device, point);
      if (rules.length > 0)
        return Promise.reject(
          new CityGateError(
            'point-driven-by-rules',
            `${device}.${point} is driven by rule ${rules.join(', ')} on gateway ${runtime.id}; a flow may not ` +
              'write it as well (the two would fight): take the rule out of the gateway config, or use an override',
          ),
        );
      return runtime.write(device, point, value);
    },
    raiseAlarm: async (a) => sinks.raiseAlarm(a),
    clearAlarm: async (id, device) => sinks.clearAlarm(id, device),
    publishTelemetry: async (stream, body) => sinks.publishTelemetry(stream, body),
    ...timeFunctions(sinks.location),
  };
}
