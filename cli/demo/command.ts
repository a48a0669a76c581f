import { join, resolve } from 'node:path';
import { ScaledClock } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import { createLogger, type Level } from '../../common/log.js';
import { startFleet } from '../../fleet/src/main.js';
import { loadProfiles, type Profile } from '../../hardware/src/profile.js';
import { intOption, untilSignal, UsageError, type Command } from '../args.js';
import { BIN, startGateway, stopGateway, type SimulatedGateway } from './city.js';
import { district } from './district.js';
import { demoGatewayCredentials, demoNodeRedLogin, demoTokens } from './security.js';

/** The city in a box: one fleet and a district of gateways with simulated lights, pumps, bins and cabinets. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the city in a box: a fleet and a district of gateways with simulated devices, on loopback',
  usage:
    'demo [--data DIR] [--gateways N] [--lights N] [--speed X] [--http-port N] [--mqtt-port N] [--mqtt-tls-port N] [--node-red-port N] [--no-node-red] [--open] [--no-trouble]',
  options: {
    data: { type: 'string' },
    gateways: { type: 'string' },
    lights: { type: 'string' },
    speed: { type: 'string' },
    'http-port': { type: 'string' },
    'mqtt-port': { type: 'string' },
    'mqtt-tls-port': { type: 'string' },
    open: { type: 'boolean' },
    'node-red-port': { type: 'string' },
    'no-node-red': { type: 'boolean' },
    'no-trouble': { type: 'boolean' },
    'log-level': { type: 'string' },
  },
  help: {
    data: 'directory for all demo data (default ./data/demo)',
    gateways: 'number of gateways in the district (default 12)',
    lights: 'street lights per gateway (default 6)',
    speed: 'simulated time runs this many times faster than real time (default 1; e.g. 60: an hour a minute)',
    'http-port': 'fleet HTTP port: API and dashboard (default 8080; 0 = any free port)',
    'mqtt-port': 'embedded MQTT broker port (default 1883; 0 = any free port)',
    'mqtt-tls-port': 'embedded MQTT broker TLS port (default 8883; 0 = any free port)',
    'node-red-port':
      'Node-RED editor of gw-2, which runs the default flows instead of the default rules (default 1880; 0 = any free port)',
    'no-node-red': 'every gateway runs the default rules; no Node-RED',
    open: 'no security: gateways without credentials, dashboard and API without sign-in (loopback only)',
    'no-trouble': 'no failing lamp, filling bin or uplink outage',
    'log-level': 'component log level (default warn, so the live line stays readable)',
  },
  async run(values) {
    const signal = untilSignal(); // handlers first: a signal during start-up still stops cleanly
    const dataDir = resolve((values.data as string | undefined) ?? 'data/demo');
    const nGateways = intOption(values, 'gateways', 12, 1, 500);
    const nLights = intOption(values, 'lights', 6, 1, 9);
    const speed = Number(values.speed ?? 1);
    if (!Number.isFinite(speed) || speed < 0.1 || speed > 3600)
      throw new UsageError(`--speed: expected a number from 0.1 to 3600, got '${String(values.speed)}'`);
    const trouble = values['no-trouble'] !== true;
    const log = createLogger({ level: (values['log-level'] as Level | undefined) ?? 'warn' });
    const clock = new ScaledClock(speed);
    const profiles = loadProfiles();

    const open = values.open === true;
    const fleet = await startFleet({
      dataDir: join(dataDir, 'fleet'),
      httpPort: intOption(values, 'http-port', 8080, 0, 65535),
      mqttPort: intOption(values, 'mqtt-port', 1883, 0, 65535),
      mqttTlsPort: intOption(values, 'mqtt-tls-port', 8883, 0, 65535),
      // Security on, as in a city: per-gateway credentials, API tokens with roles (--open: none).
      security: open ? 'open' : 'enforced',
      clock,
      log,
    });
    const brokerPort = Number(new URL(fleet.mqttUrl).port);
    const specs = district(nGateways, nLights);
    const tokenFile = join(dataDir, 'api-tokens.json');
    const credentials = fleet.admin
      ? await demoGatewayCredentials(
          fleet.admin,
          join(dataDir, 'credentials'),
          specs.map((s) => s.id),
        )
      : undefined;
    if (fleet.admin) await demoTokens(fleet.admin, tokenFile);
    // Trouble on purpose, so the dashboard has something to show.
    const fastBin: Profile = structuredClone(profiles.get(BIN)!);
    fastBin.simulation!.params = { ...fastBin.simulation!.params, fillPctPerHour: 12, initialFillPct: 72 };
    const gateways: SimulatedGateway[] = [];
    // One gateway runs its control as the default Node-RED flows (Node-RED is one per process).
    const flowsGateway = values['no-node-red'] === true ? undefined : specs.find((g) => g.pump)?.id;
    const nodeRedPort = intOption(values, 'node-red-port', 1880, 0, 65535);
    const nodeRedLoginFile = join(dataDir, 'node-red-login.json');
    const nodeRedLogin = flowsGateway ? demoNodeRedLogin(nodeRedLoginFile) : undefined;
    for (const spec of specs) {
      const variants = trouble && spec.id === 'gw-5' ? { 'bin-1': fastBin } : undefined;
      const g = await startGateway({
        spec,
        profiles,
        variants,
        broker: { host: '127.0.0.1', port: brokerPort },
        credentials: credentials?.get(spec.id),
        ...(spec.id === flowsGateway && nodeRedLogin
          ? {
              nodeRed: {
                port: nodeRedPort,
                adminAuth: nodeRedLogin.adminAuth,
                ...(fleet.admin ? { flowSetsKey: fleet.admin.configPublicKey } : {}),
              },
            }
          : {}),
        dataDir,
        clock,
        log,
        pollMs: Math.round(2000 * Math.max(1, speed / 2)),
      });
      await fleet.sites.upsert({
        id: spec.id,
        name: spec.name,
        lat: spec.lat,
        lon: spec.lon,
        zone: spec.zone,
      });
      gateways.push(g);
    }
    if (trouble && gateways[2]) gateways[2].sim.device(2).set('lamp-fault', true);
    const outage = trouble ? gateways[6] : undefined;
    const timers: NodeJS.Timeout[] = [];
    if (outage) {
      timers.push(setTimeout(() => outage.link.cut(), 30_000));
      timers.push(setTimeout(() => outage.link.heal(), 90_000));
    }

    const nodeRedGw = gateways.find((g) => g.nodeRed);
    const out = process.stdout;
    out.write(
      `CityGate demo: ${specs.length} gateways in Hoàn Kiếm, Hanoi; data in ${dataDir}; simulated time ×${speed}\n` +
        `  dashboard   ${fleet.httpUrl}/\n` +
        `  fleet API   ${fleet.httpUrl}/api/v1/gateways\n` +
        `  MQTT        ${fleet.mqttUrl}${fleet.mqttTlsUrl ? ` (TLS ${fleet.mqttTlsUrl})` : ''}\n` +
        (nodeRedGw?.nodeRed
          ? `  Node-RED    ${nodeRedGw.nodeRed.url}/ (${nodeRedGw.spec.id} runs the default flows; login in ${nodeRedLoginFile})\n`
          : '') +
        (fleet.admin
          ? `  sign in     with a token from ${tokenFile} (viewer, operator, admin)\n`
          : `  security    off (--open): anyone on this machine may command the devices\n`) +
        (trouble
          ? `Trouble on purpose: a failed lamp at gw-3, a bin filling fast at gw-5, gw-7's uplink cut from 0:30 to 1:30.\n`
          : '') +
        `Ctrl-C stops everything.\n`,
    );
    const status = setInterval(
      () => {
        void (async () => {
          const gws = await fleet.store.listGateways();
          const online = gws.filter((g) => g.online).length;
          const stored = gws.reduce((s, g) => s + g.readings, 0);
          const depth = (await Promise.all(gateways.map((g) => g.edge.outbox.depth()))).reduce(
            (a, b) => a + b,
            0,
          );
          const simTime = new Date(clock.now()).toLocaleTimeString('en-GB', { timeZone: 'Asia/Ho_Chi_Minh' });
          const line = `${simTime} Hanoi  gateways ${online}/${specs.length} online · ${stored.toLocaleString('en')} readings stored · outbox ${depth}`;
          out.write(out.isTTY ? `\r${line.padEnd(100)}` : `${line}\n`);
        })().catch((err: unknown) => log.warn(`status: ${errorMessage(err)}`));
      },
      out.isTTY ? 1000 : 5000,
    );

    process.send?.('ready');
    const sig = await signal;
    clearInterval(status);
    for (const t of timers) clearTimeout(t);
    out.write(`\n${sig}: stopping…\n`);
    await Promise.all(gateways.map((g) => stopGateway(g)));
    await fleet.stop();
    out.write('stopped cleanly.\n');
    return 0;
  },
};
