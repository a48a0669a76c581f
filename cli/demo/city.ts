import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { parseGatewayConfig, type GatewayConfig } from '../../edge/src/config.js';
import { FakeGpioBoard } from '../../edge/src/gpio/fake.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import type { Profile } from '../../hardware/src/profile.js';
import { TcpSimulator, type SimUnit } from '../../hardware/src/sim/tcp-server.js';
import { defaultControl } from '../../edge/src/rules/defaults.js';
import { attachNodeRed, outboxSinks, type AttachedNodeRed } from '../../edge/src/node-red/attach.js';
import type { GatewaySpec } from './district.js';
import { Link } from './link.js';

export const LIGHT = 'citygate/slc-100';
export const PUMP = 'citygate/psc-200';
export const BIN = 'citygate/wbs-10';
export const CABINET = 'citygate/cabinet-io';
export const PUMP_UNIT = 10;
export const BIN_UNIT = 21;

export interface SimulatedGateway {
  spec: GatewaySpec;
  edge: EdgeRuntime;
  sim: TcpSimulator;
  board: FakeGpioBoard;
  link: Link;
  config: GatewayConfig;
  /** Embedded Node-RED, on the gateway that runs the default flows instead of the default rules. */
  nodeRed?: AttachedNodeRed;
}

/** A gateway whose control runs as Node-RED flows: the editor, its login, and the key flow sets are signed with. */
export interface DemoNodeRed {
  port: number;
  adminAuth: { username: string; passwordHash: string };
  flowSetsKey?: string;
}

/** Device units and ids of one gateway: lights 1…n, the pump station at 10, bins from 21. */
export function gatewayConfig(
  spec: GatewaySpec,
  mqttUrl: string,
  simPort: number,
  pollMs: number,
  credentials?: { username: string; password: string },
  flows = false,
): unknown {
  const devices = [
    ...Array.from({ length: spec.lights }, (_, i) => ({
      id: `light-${i + 1}`,
      profile: LIGHT,
      line: 'eth0',
      unitId: i + 1,
      pollMs,
    })),
    ...(spec.pump ? [{ id: 'pump-station', profile: PUMP, line: 'eth0', unitId: PUMP_UNIT, pollMs }] : []),
    ...Array.from({ length: spec.bins }, (_, i) => ({
      id: `bin-${i + 1}`,
      profile: BIN,
      line: 'eth0',
      unitId: BIN_UNIT + i,
      pollMs: pollMs * 5,
    })),
  ];
  const control = defaultControl({
    location: { lat: spec.lat, lon: spec.lon },
    lights: devices.filter((d) => d.profile === LIGHT).map((d) => d.id),
    ...(spec.pump ? { pumpStation: 'pump-station' } : {}),
    bins: devices.filter((d) => d.profile === BIN).map((d) => d.id),
    cabinet: 'cabinet',
  });
  return {
    version: 2,
    id: spec.id,
    name: spec.name,
    fleet: { mqttUrl, ...credentials },
    lines: [
      {
        id: 'eth0',
        type: 'tcp',
        host: '127.0.0.1',
        port: simPort,
        timeoutMs: 500,
        backoff: { minMs: 500, maxMs: 10_000 },
      },
    ],
    devices,
    gpio: [{ id: 'cabinet', profile: CABINET }],
    ...control,
    // Control as Node-RED flows: the default flows replace the lighting, pump and bin rules (both
    // would drive the same points); alarms, interlocks and fail-safes stay in the rules engine.
    ...(flows ? { rules: [] } : {}),
  };
}

/** A simulated cabinet: devices behind a Modbus TCP simulator, a GPIO board, an uplink that can be cut. */
export async function startGateway(opts: {
  spec: GatewaySpec;
  profiles: ReadonlyMap<string, Profile>;
  /** Per-device profile variants (e.g. a bin that fills fast), by device id. */
  variants?: Record<string, Profile>;
  broker: { host: string; port: number };
  /** The gateway's fleet credentials (a fleet with security on). */
  credentials?: { username: string; password: string };
  /** Run the default Node-RED flows (and the editor) on this gateway instead of the default rules. */
  nodeRed?: DemoNodeRed;
  dataDir: string;
  clock: Clock;
  log: Logger;
  pollMs: number;
}): Promise<SimulatedGateway> {
  const { spec, profiles } = opts;
  const link = new Link(opts.broker.host, opts.broker.port);
  await link.listen();
  const units: SimUnit[] = [];
  const doc = gatewayConfig(
    spec,
    `mqtt://127.0.0.1:${link.port}`,
    0,
    opts.pollMs,
    opts.credentials,
    opts.nodeRed !== undefined,
  ) as GatewayConfig;
  for (const d of doc.devices)
    units.push({ unitId: d.unitId, profile: opts.variants?.[d.id] ?? profiles.get(d.profile)! });
  const sim = new TcpSimulator(units, opts.clock);
  const simPort = await sim.listen(0);
  const line = doc.lines[0]!;
  if (line.type === 'tcp') line.port = simPort;
  const gwDir = join(opts.dataDir, spec.id);
  mkdirSync(gwDir, { recursive: true });
  // The config holds the gateway's fleet secret: owner-only, like a provisioned gateway's.
  writeFileSync(join(gwDir, 'config.json'), JSON.stringify(doc, null, 2) + '\n', { mode: 0o600 });
  chmodSync(join(gwDir, 'config.json'), 0o600);
  const config = parseGatewayConfig(doc, profiles);
  const board = new FakeGpioBoard(opts.clock);
  // A dry, closed, untampered cabinet: each input idles at its inactive level (an active-low flood
  // sensor's output is high when dry; a floating fake pin would read low, i.e. "flooded").
  for (const pin of profiles.get(CABINET)?.gpio?.pins ?? [])
    if (pin.direction === 'in') board.setLevel(board.base + pin.bcm, pin.activeLow ? 1 : 0);
  const edge = await startEdge({
    config,
    profiles,
    dataDir: gwDir,
    clock: opts.clock,
    log: opts.log,
    gpio: board.backend(),
  });
  const nr = opts.nodeRed;
  const nodeRed = nr
    ? await attachNodeRed(edge, {
        port: nr.port,
        host: '127.0.0.1',
        adminAuth: nr.adminAuth,
        sinks: outboxSinks(edge),
        location: { lat: spec.lat, lon: spec.lon },
        ...(nr.flowSetsKey ? { flowSets: { publicKeyPem: nr.flowSetsKey } } : {}),
        log: opts.log,
      })
    : undefined;
  return { spec, edge, sim, board, link, config, ...(nodeRed ? { nodeRed } : {}) };
}

export async function stopGateway(g: SimulatedGateway): Promise<void> {
  await g.nodeRed?.stop();
  await g.edge.stop();
  await g.sim.close();
  await g.link.close();
}
