import type { ControlConfig } from './types.js';

/** What a gateway drives, by role: the input to the default control template. */
export interface SiteDevices {
  location: { lat: number; lon: number; timeZone?: string };
  lights: string[];
  /** A two-pump station (PSC-200 point names). */
  pumpStation?: string;
  bins: string[];
  cabinet?: string;
}

/**
 * The default control for a cabinet: astronomical street lighting (100 % at sunset, 50 % from 23:00
 * to 05:00, off at sunrise), duty/standby wet-well level control with dry-run and thermal interlocks,
 * and the alarms operators expect (full bins, lamp faults, dark street, high level, door, flood).
 * A starting point the fleet's configuration can replace.
 */
export function defaultControl(s: SiteDevices): ControlConfig {
  const ps = s.pumpStation;
  const protect = (n: 1 | 2) => ({
    id: `pump${n}-protect`,
    if: {
      any: [
        { point: `${ps}.pump${n}-dry-run`, op: '==' as const, value: true },
        { point: `${ps}.pump${n}-thermal-trip`, op: '==' as const, value: true },
      ],
    },
    force: { [`${ps}.pump${n}-run`]: false },
  });
  return {
    location: { timeZone: 'Asia/Ho_Chi_Minh', ...s.location },
    rules: [
      ...(s.lights.length
        ? [
            {
              id: 'street-lights',
              kind: 'schedule' as const,
              devices: s.lights,
              entries: [
                { at: { sun: 'sunset' as const }, set: { on: true, dim: 100 } },
                { at: { time: '23:00' }, set: { dim: 50 } },
                { at: { time: '05:00' }, set: { dim: 100 } },
                { at: { sun: 'sunrise' as const }, set: { on: false } },
              ],
            },
          ]
        : []),
      ...(ps
        ? [
            {
              id: 'wet-well',
              kind: 'threshold' as const,
              input: `${ps}.wet-well-level`,
              high: 2.0,
              low: 0.5,
              minOnMs: 60_000,
              minOffMs: 60_000,
              maxStartsPerHour: 6,
              duty: {
                members: [1, 2].map((n) => ({
                  run: `${ps}.pump${n}-run`,
                  faults: [`${ps}.pump${n}-dry-run`, `${ps}.pump${n}-thermal-trip`],
                })),
              },
            },
          ]
        : []),
    ],
    interlocks: ps ? [protect(1), protect(2)] : [],
    alarms: [
      ...(s.bins.length
        ? [
            {
              id: 'bin-full',
              severity: 'minor' as const,
              message: 'bin ≥ 80 % full',
              devices: s.bins,
              raise: { point: '$.fill', op: '>=' as const, value: 80 },
              clear: { point: '$.fill', op: '<' as const, value: 50 },
            },
          ]
        : []),
      ...(s.lights.length
        ? [
            {
              id: 'lamp-fault',
              severity: 'minor' as const,
              message: 'lamp fault',
              devices: s.lights,
              raise: { point: '$.lamp-fault', op: '==' as const, value: true },
            },
            {
              id: 'dark-street',
              severity: 'major' as const,
              message: 'lamp off while it should be on',
              devices: s.lights,
              raise: {
                all: [
                  { sun: 'night' as const },
                  { desired: '$.on', op: '==' as const, value: true },
                  { point: '$.power', op: '<' as const, value: 5 },
                ],
              },
              forMs: 120_000,
            },
          ]
        : []),
      ...(ps
        ? [
            {
              id: 'high-level',
              severity: 'critical' as const,
              message: 'wet well high level',
              raise: { point: `${ps}.wet-well-level`, op: '>=' as const, value: 3.5 },
              clear: { point: `${ps}.wet-well-level`, op: '<' as const, value: 3.0 },
            },
          ]
        : []),
      ...(s.cabinet
        ? [
            {
              id: 'door',
              severity: 'major' as const,
              message: 'cabinet door open',
              raise: { point: `${s.cabinet}.door-open`, op: '==' as const, value: true },
            },
            {
              id: 'flood',
              severity: 'critical' as const,
              message: 'water in cabinet',
              raise: { point: `${s.cabinet}.flood`, op: '==' as const, value: true },
            },
          ]
        : []),
    ],
    failSafe: s.lights.map((device) => ({ device, set: { on: false }, night: { on: true, dim: 100 } })),
  };
}
