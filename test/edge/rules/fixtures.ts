import type { ControlConfig } from '../../../edge/src/rules/types.js';

/** Hanoi, Hoàn Kiếm: 21.0285 N, 105.8542 E. */
export const HANOI = { lat: 21.0285, lon: 105.8542, timeZone: 'Asia/Ho_Chi_Minh' };

export const LIGHTS = ['light-1', 'light-2'];
export const BINS = ['bin-1', 'bin-2', 'bin-3'];

const pumpProtect = (n: 1 | 2) => ({
  id: `pump${n}-protect`,
  if: {
    any: [
      { point: `ps-1.pump${n}-dry-run`, op: '==' as const, value: true },
      { point: `ps-1.pump${n}-thermal-trip`, op: '==' as const, value: true },
    ],
  },
  force: { [`ps-1.pump${n}-run`]: false },
});

/** A street of lights, a sewage lift station and three bins: the control the issue describes. */
export function cityControl(): ControlConfig {
  return {
    location: HANOI,
    rules: [
      {
        id: 'street-lights',
        kind: 'schedule',
        devices: LIGHTS,
        entries: [
          { at: { sun: 'sunset' }, set: { on: true, dim: 100 } },
          { at: { time: '23:00' }, set: { dim: 50 } },
          { at: { time: '05:00' }, set: { dim: 100 } },
          { at: { sun: 'sunrise' }, set: { on: false } },
        ],
      },
      {
        id: 'wet-well',
        kind: 'threshold',
        input: 'ps-1.wet-well-level',
        high: 2.0,
        low: 0.5,
        minOnMs: 60_000,
        minOffMs: 60_000,
        maxStartsPerHour: 6,
        duty: {
          members: [
            { run: 'ps-1.pump1-run', faults: ['ps-1.pump1-dry-run', 'ps-1.pump1-thermal-trip'] },
            { run: 'ps-1.pump2-run', faults: ['ps-1.pump2-dry-run', 'ps-1.pump2-thermal-trip'] },
          ],
        },
      },
    ],
    interlocks: [pumpProtect(1), pumpProtect(2)],
    alarms: [
      {
        id: 'bin-full',
        severity: 'minor',
        message: 'bin ≥ 80 % full',
        devices: BINS,
        raise: { point: '$.fill', op: '>=', value: 80 },
        clear: { point: '$.fill', op: '<', value: 50 },
      },
      {
        id: 'lamp-fault',
        severity: 'minor',
        message: 'lamp fault',
        devices: LIGHTS,
        raise: { point: '$.lamp-fault', op: '==', value: true },
      },
      {
        id: 'dark-street',
        severity: 'major',
        message: 'lamp off while it should be on',
        devices: LIGHTS,
        raise: {
          all: [
            { sun: 'night' },
            { desired: '$.on', op: '==', value: true },
            { point: '$.power', op: '<', value: 5 },
          ],
        },
        forMs: 120_000,
      },
      {
        id: 'high-level',
        severity: 'critical',
        message: 'wet well high level',
        raise: { point: 'ps-1.wet-well-level', op: '>=', value: 3.5 },
        clear: { point: 'ps-1.wet-well-level', op: '<', value: 3.0 },
      },
    ],
    failSafe: [
      // Lights: on at night, off by day. The PSC-200 has no local-float mode point, so the pump
      // station declares none: losing its level input leaves the pumps as they were commanded.
      ...LIGHTS.map((device) => ({ device, set: { on: false }, night: { on: true, dim: 100 } })),
    ],
  };
}

/** A version-2 gateway document carrying the city's control sections. */
export function cityDoc(): Record<string, unknown> {
  return {
    version: 2,
    id: 'gw-hanoi-1',
    fleet: { mqttUrl: 'mqtt://127.0.0.1:1883' },
    lines: [{ id: 'rs485', type: 'tcp', host: '127.0.0.1', port: 1502 }],
    devices: [
      ...LIGHTS.map((id, i) => ({ id, profile: 'citygate/slc-100', line: 'rs485', unitId: i + 1 })),
      { id: 'ps-1', profile: 'citygate/psc-200', line: 'rs485', unitId: 10 },
      ...BINS.map((id, i) => ({ id, profile: 'citygate/wbs-10', line: 'rs485', unitId: 20 + i })),
    ],
    gpio: [{ id: 'cabinet', profile: 'citygate/cabinet-io' }],
    ...cityControl(),
    nodeRed: { enabled: false },
  };
}
