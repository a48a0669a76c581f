import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../../../common/clock.js';
import { createLogger } from '../../../common/log.js';
import { parseGatewayConfig } from '../../../edge/src/config.js';
import { startEdge, type EdgeRuntime } from '../../../edge/src/main.js';
import {
  attachNodeRed,
  type AttachedNodeRed,
  type AttachOptions,
} from '../../../edge/src/node-red/attach.js';
import type { AlarmRaise } from '../../../edge/src/node-red/services.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { TcpSimulator } from '../../../hardware/src/sim/tcp-server.js';

export const LIGHT_UNITS = [1, 2];
export const PUMP_UNIT = 10;
export const BIN_UNITS = [21, 22];
/** 2026-06-01 12:00 in Hanoi. */
export const NOON = Date.UTC(2026, 5, 1, 5, 0);
export const HANOI = { lat: 21.0285, lon: 105.8542, timeZone: 'Asia/Ho_Chi_Minh' };

export interface City {
  dir: string;
  sim: TcpSimulator;
  edge: EdgeRuntime;
  red: AttachedNodeRed;
  /** Drives the Node-RED schedules (and the simulated world); the lines poll in real time. */
  clock: FakeClock;
  alarms: (['raise', AlarmRaise] | ['clear', string])[];
  telemetry: [string, unknown][];
  stop(): Promise<void>;
}

/**
 * The demo gateway's devices (two lights, the pump station, two bins) on a Modbus TCP simulator,
 * a real edge runtime polling it every 100 ms, and Node-RED with the CityGate palette attached.
 */
export async function startCity(
  opts: Partial<Pick<AttachOptions, 'adminAuth' | 'initialFlows' | 'port' | 'flowSets'>> & {
    /** The fleet's broker (default: an unreachable port, no uplink). */
    mqttUrl?: string;
  } = {},
): Promise<City> {
  const dir = mkdtempSync(join(tmpdir(), 'citygate-nr-'));
  const profiles = loadProfiles();
  const clock = new FakeClock(NOON);
  const units = [
    ...LIGHT_UNITS.map((u) => ({ unitId: u, profile: profiles.get('citygate/slc-100')! })),
    { unitId: PUMP_UNIT, profile: profiles.get('citygate/psc-200')! },
    ...BIN_UNITS.map((u) => ({ unitId: u, profile: profiles.get('citygate/wbs-10')! })),
  ];
  const sim = new TcpSimulator(units, clock);
  const port = await sim.listen(0);
  const config = parseGatewayConfig(
    {
      version: 1,
      id: 'gw-nr',
      fleet: { mqttUrl: opts.mqttUrl ?? 'mqtt://127.0.0.1:1' },
      lines: [{ id: 'eth0', type: 'tcp', host: '127.0.0.1', port, timeoutMs: 500 }],
      devices: [
        ...LIGHT_UNITS.map((u) => ({
          id: `light-${u}`,
          profile: 'citygate/slc-100',
          line: 'eth0',
          unitId: u,
          pollMs: 100,
        })),
        { id: 'pump-station', profile: 'citygate/psc-200', line: 'eth0', unitId: PUMP_UNIT, pollMs: 100 },
        ...BIN_UNITS.map((u, i) => ({
          id: `bin-${i + 1}`,
          profile: 'citygate/wbs-10',
          line: 'eth0',
          unitId: u,
          pollMs: 100,
        })),
      ],
    },
    profiles,
  );
  const log = createLogger({ level: 'silent' });
  const edge = await startEdge({ config, profiles, dataDir: join(dir, 'gw-nr'), log, localApi: false });
  const alarms: City['alarms'] = [];
  const telemetry: City['telemetry'] = [];
  let red: AttachedNodeRed | undefined;
  try {
    red = await attachNodeRed(edge, {
      port: opts.port ?? 0,
      adminAuth: opts.adminAuth ?? false,
      location: HANOI,
      log,
      ...(opts.initialFlows ? { initialFlows: opts.initialFlows } : {}),
      ...(opts.flowSets ? { flowSets: opts.flowSets } : {}),
      sinks: {
        raiseAlarm: (a) => void alarms.push(['raise', a]),
        clearAlarm: (id) => void alarms.push(['clear', id]),
        publishTelemetry: (stream, body) => void telemetry.push([stream, body]),
      },
      services: (base) => ({ ...base, clock }),
    });
  } catch (err) {
    await edge.stop();
    await sim.close();
    throw err;
  }
  return {
    dir,
    sim,
    edge,
    red: red!,
    clock,
    alarms,
    telemetry,
    async stop() {
      await red?.stop();
      await edge.stop();
      await sim.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once `cond()` holds (checked every 10 ms), or fails after `ms` naming `what`. */
export async function until(cond: () => boolean, what: string, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
