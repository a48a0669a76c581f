import { createLogger, type Level, type Logger } from '../common/log.js';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '../common/fs-atomic.js';
import { dirname, join } from 'node:path';
import { CityGateError, errorMessage } from '../common/errors.js';
import { controlConfig, parseGatewayConfig, type GatewayConfig } from '../edge/src/config.js';
import { attachNodeRed, outboxSinks } from '../edge/src/node-red/attach.js';
import { CREDENTIALS_FILE, loadCredentials, type FleetCredentials } from '../edge/src/provision.js';
import { ConfigStore } from '../edge/src/config-store.js';
import { startEdge } from '../edge/src/main.js';
import { startFleet } from '../fleet/src/main.js';
import { reloadMosquitto } from '../fleet/src/provisioning/mosquitto-reload.js';
import { loadProfiles } from '../hardware/src/profile.js';
import type { Parity } from '../hardware/src/modbus-rtu.js';
import { RtuSimulator } from '../hardware/src/sim/rtu-server.js';
import { TcpSimulator } from '../hardware/src/sim/tcp-server.js';
import { intOption, untilSignal, UsageError, type Command } from './args.js';

function readJsonFile(path: string, what: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CityGateError('config-unreadable', `cannot read ${what} ${path}: ${errorMessage(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new CityGateError('invalid', `${what} ${path} is not valid JSON: ${errorMessage(err)}`);
  }
}

const logLevel = (v: unknown): Level => {
  const l = (v ?? process.env.CITYGATE_LOG_LEVEL ?? 'info') as Level;
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(l))
    throw new UsageError(`--log-level: expected debug, info, warn, error or silent, got '${String(v)}'`);
  return l;
};

export const edgeCommand: Command = {
  name: 'edge',
  summary: 'run the gateway runtime: poll devices, keep readings in the outbox, publish to the fleet',
  usage: 'edge --config FILE [--data DIR]',
  options: {
    config: { type: 'string', short: 'c' },
    data: { type: 'string' },
    'log-level': { type: 'string' },
  },
  help: {
    config: 'gateway config (JSON, see docs/operations.md); required',
    data: 'data directory: config in force and last-known-good, outbox, state (default ./data/gateway)',
    'local-port':
      'loopback port of the local API for technician tools (default: any free port, see <data>/local-api.json)',
    'log-level': 'debug | info | warn | error (default info)',
  },
  async run(values) {
    const signal = untilSignal(); // handlers first: a signal during start-up still stops cleanly
    if (typeof values.config !== 'string')
      throw new UsageError("missing --config FILE. Run 'citygate edge --help' for usage.");
    const log = createLogger({ level: logLevel(values['log-level']) });
    const profiles = loadProfiles();
    // The config in force lives in <data>/config; --config offers a new one, which replaces it only if it
    // is valid. Otherwise the gateway keeps what it had (the newest stored, else the last-known-good);
    // with nothing stored yet (first install) a bad file is fatal, with the error naming the path.
    const dataDir = (values.data as string | undefined) ?? 'data/gateway';
    const store = new ConfigStore(
      join(dataDir, 'config'),
      (doc, where) => parseGatewayConfig(doc, profiles, where),
      log,
    );
    let config: GatewayConfig;
    // The file is offered once per change: a restart with the same file keeps what is in force (which
    // may be a newer desired config from the fleet).
    const offered = readJsonFile(values.config, 'gateway config');
    const offeredHash = createHash('sha256').update(JSON.stringify(offered)).digest('hex');
    const offeredFile = join(dataDir, 'config', 'offered.sha256');
    const sameAsLastTime =
      existsSync(offeredFile) && readFileSync(offeredFile, 'utf8').trim() === offeredHash;
    try {
      if (sameAsLastTime) config = store.load().config;
      else {
        config = store.apply(offered, `gateway config ${values.config}`);
        writeFileAtomic(offeredFile, offeredHash + '\n', 0o600);
      }
    } catch (err) {
      let kept: GatewayConfig;
      try {
        kept = store.load().config;
      } catch {
        throw err;
      }
      log.error(`new gateway config rejected, keeping the one in force: ${errorMessage(err)}`);
      config = kept;
    }
    // Provisioned (citygate provision): the fleet credentials replace what the config file says, and
    // the fleet's signed desired config is verified and applied.
    const credsDir = join(dataDir, 'credentials');
    let creds: FleetCredentials | undefined;
    if (existsSync(join(credsDir, CREDENTIALS_FILE))) {
      creds = loadCredentials(credsDir);
      config = {
        ...config,
        fleet: { mqttUrl: creds.mqttUrl, username: creds.username, password: creds.password },
      };
      if (creds.mqttUrl.startsWith('mqtts:') && !process.env.NODE_EXTRA_CA_CERTS)
        log.warn(
          `mqtts uplink: start with NODE_EXTRA_CA_CERTS=${join(credsDir, 'fleet-ca.crt')} so the fleet's CA is trusted`,
        );
    }
    let restart: (() => void) | undefined;
    const edge = await startEdge({
      ...(creds
        ? {
            desiredConfig: {
              publicKeyPem: creds.configPublicKey,
              apply: (next: GatewayConfig) => {
                store.apply(next, 'desired config from the fleet');
                const changedDevices =
                  JSON.stringify([next.lines, next.devices, next.gpio]) !==
                  JSON.stringify([config.lines, config.devices, config.gpio]);
                if (!changedDevices) edge.rules.reconfigure(controlConfig(next));
                else {
                  log.info('desired config changes lines or devices: restarting the runtime to apply it');
                  setTimeout(() => restart?.(), 500).unref();
                }
                return Promise.resolve();
              },
            },
          }
        : {}),
      config,
      profiles,
      dataDir,
      log,
      localApi: { port: intOption(values, 'local-port', 0, 0, 65535) },
      // Under pm2 (citygate edge install-service) the install root is where the health file lives.
      ...(process.env.CITYGATE_HEALTH_FILE
        ? { updates: { installRoot: dirname(process.env.CITYGATE_HEALTH_FILE), cli: process.argv[1]! } }
        : {}),
    });
    // Node-RED in the same process, so its nodes use the gateway's lines and interlocks.
    const nr = config.nodeRed;
    const nodeRed = nr?.enabled
      ? await attachNodeRed(edge, {
          port: nr.port ?? 1880,
          host: nr.host ?? '127.0.0.1',
          adminAuth: { username: nr.adminAuth!.username, passwordHash: nr.adminAuth!.passwordHash },
          sinks: outboxSinks(edge),
          // Provisioned: flow sets from the fleet, signed with the key the gateway trusts for config.
          ...(creds ? { flowSets: { publicKeyPem: creds.configPublicKey } } : {}),
          ...(controlConfig(config).location ? { location: controlConfig(config).location } : {}),
          ...(nr.defaultFlows ? {} : { initialFlows: [] }),
          log,
        })
      : undefined;
    store.markGood();
    process.send?.('ready');
    const restarting = new Promise<void>((r) => (restart = r));
    await Promise.race([signal, restarting]);
    await nodeRed?.stop();
    await edge.stop();
    return 0;
  },
};

/** `--mosquitto-dir` and `--mosquitto-pid`: where the files go and how Mosquitto hears of changes. */
function mosquittoOptions(
  values: Record<string, unknown>,
  log: Logger,
): { dir: string; onChange?: () => void } | undefined {
  const dir = values['mosquitto-dir'];
  const pid = values['mosquitto-pid'];
  if (typeof pid === 'string' && typeof dir !== 'string')
    throw new UsageError('--mosquitto-pid needs --mosquitto-dir (the files Mosquitto is to re-read)');
  if (typeof dir !== 'string') return undefined;
  return {
    dir,
    onChange: typeof pid === 'string' ? reloadMosquitto(pid, log.child('mosquitto')) : undefined,
  };
}

export const fleetCommand: Command = {
  name: 'fleet',
  summary: 'run the fleet service: MQTT broker (embedded by default), telemetry store, HTTP API',
  usage:
    'fleet [--data DIR] [--host ADDR] [--http-port N] [--mqtt-port N] [--broker URL] [--store postgres://…] [--share GROUP]\n       citygate fleet import --data DIR --store postgres://…  (one machine to several: docs/scaling.md)',
  options: {
    data: { type: 'string' },
    host: { type: 'string' },
    'http-port': { type: 'string' },
    'mqtt-port': { type: 'string' },
    broker: { type: 'string' },
    'mqtts-port': { type: 'string' },
    'tls-hosts': { type: 'string' },
    'public-mqtt-url': { type: 'string' },
    'mosquitto-dir': { type: 'string' },
    'mosquitto-pid': { type: 'string' },
    insecure: { type: 'boolean' },
    'log-level': { type: 'string' },
    store: { type: 'string' },
    share: { type: 'string' },
    'ingest-connections': { type: 'string' },
    'lease-ms': { type: 'string' },
    'worker-id': { type: 'string' },
  },
  help: {
    data: 'data directory (fleet.db); default ./data/fleet',
    store: 'keep the fleet store in PostgreSQL (postgres://user:pass@host:port/db) instead of fleet.db',
    share:
      'with --broker and --store: one of several workers; uplink through $share/GROUP/…, admin state shared in PostgreSQL (docs/scaling.md)',
    'ingest-connections': 'with --share: MQTT sessions this worker ingests on (default 8)',
    'lease-ms': "with --share: a dead worker's sessions are adopted after this long (default 10000)",
    'worker-id': "with --share: this worker's name in leases and stored messages (default random)",
    host: 'address to listen on (default 127.0.0.1)',
    'http-port': 'HTTP API port (default 8080)',
    'mqtt-port': 'embedded MQTT broker port (default 1883)',
    broker: 'use an external broker (mqtt://user:pass@host:port) instead of the embedded one',
    'mqtts-port': 'embedded broker TLS port (default 8883)',
    'tls-hosts': 'comma-separated names/IPs for the server certificate (default localhost,127.0.0.1)',
    'public-mqtt-url': 'broker URL handed to gateways at provisioning (default the TLS listener)',
    'mosquitto-dir':
      'with --broker: keep Mosquitto password and ACL files here (reload Mosquitto after changes)',
    'mosquitto-pid':
      "with --mosquitto-dir: Mosquitto's pid_file; the fleet sends it SIGHUP after each change (same user or root)",
    insecure: 'no gateway credentials, no API tokens, no TLS listener (local experiments only)',
    'log-level': 'debug | info | warn | error (default info)',
  },
  async run(values) {
    const signal = untilSignal(); // handlers first: a signal during start-up still stops cleanly
    const log = createLogger({ level: logLevel(values['log-level']) });
    let externalBroker;
    if (typeof values.broker === 'string') {
      let u: URL;
      try {
        u = new URL(values.broker);
      } catch {
        throw new UsageError(`--broker: '${values.broker}' is not a URL (expected mqtt://host:port)`);
      }
      if (!/^mqtts?:$/.test(u.protocol))
        throw new UsageError(`--broker: expected an mqtt:// or mqtts:// URL, got '${u.protocol}'`);
      externalBroker = {
        url: `${u.protocol}//${u.host}`,
        username: u.username ? decodeURIComponent(u.username) : undefined,
        password: u.password ? decodeURIComponent(u.password) : undefined,
      };
    }
    const { storeUrl, share } = scaleOptions(values, externalBroker !== undefined);
    const fleet = await startFleet({
      storeUrl,
      share,
      dataDir: (values.data as string | undefined) ?? 'data/fleet',
      host: (values.host as string | undefined) ?? '127.0.0.1',
      httpPort: intOption(values, 'http-port', 8080, 0, 65535),
      mqttPort: intOption(values, 'mqtt-port', 1883, 0, 65535),
      mqttTlsPort: intOption(values, 'mqtts-port', 8883, 0, 65535),
      tlsHosts:
        typeof values['tls-hosts'] === 'string' ? values['tls-hosts'].split(',').filter(Boolean) : undefined,
      publicMqttUrl: values['public-mqtt-url'] as string | undefined,
      mosquitto: mosquittoOptions(values, log),
      security: values.insecure === true ? 'open' : 'enforced',
      externalBroker,
      log,
    });
    process.send?.('ready');
    await signal;
    await fleet.stop();
    return 0;
  },
};

/** `--store`, `--share` and their companions, checked: a bad value names the option and what was expected. */
function scaleOptions(
  values: Record<string, unknown>,
  hasBroker: boolean,
): { storeUrl?: string; share?: { group: string; connections: number; leaseMs: number; workerId?: string } } {
  let storeUrl: string | undefined;
  if (typeof values.store === 'string') {
    let u: URL;
    try {
      u = new URL(values.store);
    } catch {
      throw new UsageError(
        `--store: '${values.store.replace(/\/\/[^@/]*@/, '//…@')}' is not a URL (expected postgres://…)`,
      );
    }
    if (!/^postgres(ql)?:$/.test(u.protocol))
      throw new UsageError(`--store: expected a postgres:// URL, got '${u.protocol}'`);
    storeUrl = values.store;
  }
  if (typeof values.share !== 'string') return { storeUrl };
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(values.share))
    throw new UsageError(`--share: '${values.share}' is not a group name ([A-Za-z0-9_-], at most 64)`);
  if (!hasBroker || !storeUrl) throw new UsageError('--share needs --broker URL and --store postgres://…');
  const workerId = values['worker-id'];
  if (workerId !== undefined && (typeof workerId !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(workerId)))
    throw new UsageError(`--worker-id: '${String(workerId)}' is not a name ([A-Za-z0-9_-], at most 64)`);
  return {
    storeUrl,
    share: {
      group: values.share,
      connections: intOption(values, 'ingest-connections', 8, 1, 64),
      leaseMs: intOption(values, 'lease-ms', 10_000, 500, 600_000),
      ...(workerId ? { workerId } : {}),
    },
  };
}

export const simCommand: Command = {
  name: 'sim',
  summary: 'serve simulated devices of one profile over Modbus TCP, or Modbus RTU on a serial port',
  usage:
    'sim --profile ID [--units FIRST-LAST] [--port N] [--host ADDR] | [--serial PATH [--baud N] [--parity P]]',
  options: {
    profile: { type: 'string' },
    units: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    serial: { type: 'string' },
    baud: { type: 'string' },
    parity: { type: 'string' },
    'wire-time': { type: 'boolean' },
    turnaround: { type: 'string' },
  },
  help: {
    profile: 'device profile id, e.g. citygate/slc-100; required',
    units: 'unit ids to serve, e.g. 1-8 (default 1)',
    port: 'TCP port (default 1502; 0 = any free port)',
    host: 'address to listen on (default 127.0.0.1)',
    serial: 'serve Modbus RTU on this serial port (e.g. one end of a socat pty pair) instead of TCP',
    baud: 'RTU baud rate (default 19200)',
    parity: 'RTU parity: none | even | odd (default even)',
    'wire-time':
      'RTU: emulate the wire time of --baud/--parity (a pty moves bytes at memory speed otherwise)',
    turnaround: 'RTU with --wire-time: slave turnaround in ms (default 5)',
  },
  async run(values) {
    const signal = untilSignal(); // handlers first: a signal during start-up still stops cleanly
    const profiles = loadProfiles();
    const id = values.profile;
    if (typeof id !== 'string')
      throw new UsageError("missing --profile ID. Run 'citygate sim --help' for usage.");
    const profile = profiles.get(id);
    if (!profile)
      throw new UsageError(`--profile: unknown profile '${id}' (known: ${[...profiles.keys()].join(', ')})`);
    const m = /^(\d+)(?:-(\d+))?$/.exec(String(values.units ?? '1'));
    const first = Number(m?.[1]);
    const last = Number(m?.[2] ?? m?.[1]);
    if (!m || first < 1 || last > 247 || first > last)
      throw new UsageError(`--units: expected N or FIRST-LAST within 1-247, got '${String(values.units)}'`);
    const units = Array.from({ length: last - first + 1 }, (_, i) => ({ unitId: first + i, profile }));
    if (typeof values.serial === 'string') {
      const parity = (values.parity ?? 'even') as Parity;
      if (!['none', 'even', 'odd'].includes(parity))
        throw new UsageError(`--parity: expected none, even or odd, got '${String(values.parity)}'`);
      const baudRate = intOption(values, 'baud', 19200, 50, 4_000_000);
      const wire =
        values['wire-time'] === true
          ? {
              baud: baudRate,
              parity,
              stopBits: 1 as const,
              turnaroundMs: intOption(values, 'turnaround', 5, 0, 1000),
            }
          : undefined;
      const rtu = new RtuSimulator(units, { wire });
      await rtu.open(values.serial, { baudRate, parity });
      console.log(
        `serving ${units.length} × ${id} (units ${first}-${last}) on modbus-rtu:${values.serial} @${baudRate} 8${parity[0]!.toUpperCase()}1${wire ? `, wire time emulated (${wire.turnaroundMs} ms turnaround)` : ''}`,
      );
      process.send?.('ready');
      await signal;
      await rtu.close();
      return 0;
    }
    const sim = new TcpSimulator(units);
    const port = await sim.listen(
      intOption(values, 'port', 1502, 0, 65535),
      (values.host as string | undefined) ?? '127.0.0.1',
    );
    console.log(
      `serving ${last - first + 1} × ${id} (units ${first}-${last}) on modbus-tcp://${(values.host as string | undefined) ?? '127.0.0.1'}:${port}`,
    );
    process.send?.('ready');
    await signal;
    await sim.close();
    return 0;
  },
};
