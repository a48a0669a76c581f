import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { createLogger, type Level } from '../common/log.js';
import { parseGatewayConfig, type GatewayConfig } from '../edge/src/config.js';
import { startEdge, type EdgeRuntime } from '../edge/src/main.js';
import { startFleet } from '../fleet/src/main.js';
import { loadProfiles } from '../hardware/src/profile.js';
import { TcpSimulator } from '../hardware/src/sim/tcp-server.js';
import { intOption, untilSignal, type Command } from './args.js';

const LIGHT = 'citygate/slc-100';

/** The city in a box: one fleet, N gateways, each with simulated street lights on its own Modbus TCP line. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the city in a box: a fleet, gateways and their simulated street lights on loopback',
  usage: 'demo [--data DIR] [--gateways N] [--lights N] [--http-port N] [--mqtt-port N]',
  options: {
    data: { type: 'string' },
    gateways: { type: 'string' },
    lights: { type: 'string' },
    'http-port': { type: 'string' },
    'mqtt-port': { type: 'string' },
    'log-level': { type: 'string' },
  },
  help: {
    data: 'directory for all demo data (default ./data/demo)',
    gateways: 'number of gateways (default 3)',
    lights: 'street lights per gateway (default 4)',
    'http-port': 'fleet HTTP API port (default 8080; 0 = any free port)',
    'mqtt-port': 'embedded MQTT broker port (default 1883; 0 = any free port)',
    'log-level': 'component log level (default warn, so the live line stays readable)',
  },
  async run(values) {
    const dataDir = resolve((values.data as string | undefined) ?? 'data/demo');
    const nGateways = intOption(values, 'gateways', 3, 1, 200);
    const nLights = intOption(values, 'lights', 4, 1, 247);
    const log = createLogger({ level: (values['log-level'] as Level | undefined) ?? 'warn' });
    const profiles = loadProfiles();
    const profile = profiles.get(LIGHT)!;

    const fleet = await startFleet({
      dataDir: join(dataDir, 'fleet'),
      httpPort: intOption(values, 'http-port', 8080, 0, 65535),
      mqttPort: intOption(values, 'mqtt-port', 1883, 0, 65535),
      log,
    });
    const sims: TcpSimulator[] = [];
    const edges: EdgeRuntime[] = [];
    for (let g = 1; g <= nGateways; g++) {
      const sim = new TcpSimulator(Array.from({ length: nLights }, (_, i) => ({ unitId: i + 1, profile })));
      const port = await sim.listen(0);
      sims.push(sim);
      const id = `gw-${g}`;
      const doc: GatewayConfig = {
        version: 1,
        id,
        name: `Demo cabinet ${g}`,
        location: { lat: 21.0285 + g * 0.002, lon: 105.8542 + g * 0.002 },
        fleet: { mqttUrl: fleet.mqttUrl },
        lines: [{ id: 'eth0', type: 'tcp', host: '127.0.0.1', port, timeoutMs: 500 }],
        devices: Array.from({ length: nLights }, (_, i) => ({
          id: `light-${i + 1}`,
          profile: LIGHT,
          line: 'eth0',
          unitId: i + 1,
          pollMs: 1000,
        })),
      };
      const gwDir = join(dataDir, id);
      mkdirSync(gwDir, { recursive: true });
      writeFileSync(join(gwDir, 'config.json'), JSON.stringify(doc, null, 2) + '\n');
      edges.push(
        await startEdge({ config: parseGatewayConfig(doc, profiles), profiles, dataDir: gwDir, log }),
      );
    }

    const out = process.stdout;
    out.write(
      `CityGate demo: ${nGateways} gateway(s) × ${nLights} street light(s), data in ${dataDir}\n` +
        `  fleet API   ${fleet.httpUrl}/api/v1/gateways\n` +
        `  telemetry   ${fleet.httpUrl}/api/v1/gateways/gw-1/telemetry?device=light-1&point=power&limit=5\n` +
        `  MQTT        ${fleet.mqttUrl}\n` +
        `Every 10 s the demo dims one light through its gateway. Ctrl-C stops everything.\n`,
    );

    // Exercise the write path: dim lights in turn, as a control rule would.
    let tick = 0;
    const dimmer = setInterval(() => {
      const edge = edges[tick % edges.length]!;
      const light = `light-${(Math.floor(tick / edges.length) % nLights) + 1}`;
      const level = [100, 50, 20, 80][tick % 4]!;
      tick++;
      edge
        .write(light, 'dim', level)
        .catch((err: unknown) => log.warn(`dim ${edge.id}/${light}: ${errorMessage(err)}`));
    }, 10_000);
    const status = setInterval(
      () => {
        void (async () => {
          const gws = await fleet.store.listGateways();
          const online = gws.filter((g) => g.online).length;
          const stored = gws.reduce((s, g) => s + g.readings, 0);
          const depth = (await Promise.all(edges.map((e) => e.outbox.depth()))).reduce((a, b) => a + b, 0);
          const p = edges[0]?.latest.get('light-1.power');
          const line =
            `${new Date().toISOString().slice(11, 19)}  gateways ${online}/${nGateways} online · ` +
            `${stored.toLocaleString('en')} readings stored · outbox ${depth}` +
            (p ? ` · gw-1/light-1 power ${Number(p.value).toFixed(1)} W` : '');
          out.write(out.isTTY ? `\r${line.padEnd(100)}` : `${line}\n`);
        })().catch((err: unknown) => log.warn(`status: ${errorMessage(err)}`));
      },
      out.isTTY ? 1000 : 5000,
    );

    process.send?.('ready');
    const sig = await untilSignal();
    clearInterval(dimmer);
    clearInterval(status);
    out.write(`\n${sig}: stopping…\n`);
    for (const e of edges) await e.stop();
    for (const s of sims) await s.close();
    await fleet.stop();
    out.write('stopped cleanly.\n');
    return 0;
  },
};
