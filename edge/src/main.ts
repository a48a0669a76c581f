import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { realClock, type Clock, type Timer } from '../../common/clock.js';
import { CityGateError, errorMessage } from '../../common/errors.js';
import { createLogger, type Logger } from '../../common/log.js';
import { packageVersion } from '../../common/package-root.js';
import type { Profile } from '../../hardware/src/profile.js';
import { controlConfig, type GatewayConfig, type LineConfig } from './config.js';
import { ModbusLine, type PointReading } from './modbus/line.js';
import { GpioDevice } from './gpio/device.js';
import { openGpioBackend } from './gpio/onoff-backend.js';
import type { GpioBackend } from './gpio/types.js';
import type { CommissioningReport } from './commission/report.js';
import { runCommand } from './commands.js';
import { configDesiredHandler } from './config-report.js';
import { ConfigVerifier } from './config-verify.js';
import { healthFile } from './service/ecosystem.js';
import { startHealthReporter } from './updater/health.js';
import { remoteUpdates } from './updater/remote.js';
import { startLocalApi } from './local-api.js';
import { RuleRunner } from './rules/runner.js';
import { RtuTransport } from './modbus/rtu-transport.js';
import { TcpTransport, type ModbusTransport } from './modbus/transport.js';
import { Outbox } from './outbox.js';
import { Uplink } from './uplink.js';

export interface EdgeOptions {
  config: GatewayConfig;
  profiles: ReadonlyMap<string, Profile>;
  /** Overrides config.dataDir. */
  dataDir?: string;
  clock?: Clock;
  log?: Logger;
  /** Swap the Modbus transport (tests); default: Modbus TCP via modbus-serial, RTU via serialport. */
  transportFor?: (line: LineConfig) => ModbusTransport;
  /** GPIO backend for cabinet I/O; default: onoff on /sys/class/gpio (a fake board in tests and the demo). */
  gpio?: GpioBackend | (() => Promise<GpioBackend>);
  /**
   * Running as an installed service (pm2): where the release tree is, and the CLI to start the
   * updater with. Enables fleet-driven updates and the health file the updater's health window reads.
   */
  updates?: { installRoot: string; cli: string };
  /**
   * Provisioned: verify and apply the fleet's signed desired config (signature, schema, anti-rollback),
   * report applied/rejected through the outbox. `apply` stores the config and puts it in force.
   */
  desiredConfig?: { publicKeyPem: string; apply: (config: GatewayConfig, version: number) => Promise<void> };
  /** How often the gateway reports its health (outbox depth and age, uplink, lines) to the fleet. Default 60 s. */
  healthEveryMs?: number;
  /** The loopback API for technicians (port 0 = any free port; false = none). Default: on, any port. */
  localApi?: { port?: number; host?: string } | false;
}

export interface EdgeEvents extends EventEmitter {
  on(event: 'readings', listener: (readings: PointReading[]) => void): this;
  on(event: 'device', listener: (device: string, online: boolean, reason: string) => void): this;
  off(event: 'readings', listener: (readings: PointReading[]) => void): this;
  off(event: 'device', listener: (device: string, online: boolean, reason: string) => void): this;
  emit(event: 'readings', readings: PointReading[]): boolean;
  emit(event: 'device', device: string, online: boolean, reason: string): boolean;
  on(event: 'commissioning', listener: (report: CommissioningReport) => void): this;
  emit(event: 'commissioning', report: CommissioningReport): boolean;
}

export interface EdgeRuntime {
  readonly id: string;
  readonly dataDir: string;
  readonly profiles: ReadonlyMap<string, Profile>;
  /** Local control: rules, alarms, interlocks, overrides. */
  readonly rules: RuleRunner;
  readonly clock: Clock;
  /** GPIO device id → its profile (Modbus devices are listed by their lines). */
  readonly gpioProfiles: ReadonlyMap<string, Profile>;
  readonly outbox: Outbox;
  readonly uplink: Uplink;
  readonly lines: ReadonlyMap<string, ModbusLine>;
  /** Latest value of every point, as last read. */
  readonly latest: ReadonlyMap<string, PointReading>;
  /** Every reported reading and device state change, for in-process consumers (rules, Node-RED nodes). */
  readonly events: EdgeEvents;
  write(device: string, point: string, value: number | boolean): Promise<void>;
  stop(): Promise<void>;
}

const defaultTransport = (line: LineConfig): ModbusTransport => {
  if (line.type === 'tcp') return new TcpTransport(line.host, line.port, line.timeoutMs ?? 1000);
  return new RtuTransport({
    path: line.path,
    baudRate: line.baudRate,
    parity: line.parity ?? 'even',
    dataBits: line.dataBits ?? 8,
    stopBits: line.stopBits ?? 1,
    timeoutMs: line.timeoutMs ?? 1000,
    broadcastTurnaroundMs: line.turnaroundMs,
  });
};

/** The edge composition root: config → lines and devices → outbox → uplink. */
export async function startEdge(opts: EdgeOptions): Promise<EdgeRuntime> {
  const { config, profiles } = opts;
  const clock = opts.clock ?? realClock;
  const log = (opts.log ?? createLogger()).child(`edge:${config.id}`);
  const dataDir = resolve(opts.dataDir ?? config.dataDir ?? join('data', config.id));
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });

  const outbox = await Outbox.open(join(dataDir, 'outbox.db'));
  const uplink = new Uplink(
    {
      gatewayId: config.id,
      mqttUrl: config.fleet.mqttUrl,
      username: config.fleet.username,
      password: config.fleet.password,
      version: packageVersion(),
    },
    outbox,
    clock,
    log.child('uplink'),
  );
  const latest = new Map<string, PointReading>();
  const deviceLine = new Map<string, ModbusLine>();
  const lines = new Map<string, ModbusLine>();

  const events = new EventEmitter() as EdgeEvents;
  events.setMaxListeners(0);
  // A commissioning report leaves through the outbox like every other event.
  events.on('commissioning', (report) => {
    outbox
      .put('events', [{ body: { type: 'commissioning', report }, ts: report.finishedAt }])
      .then(() => uplink.notify())
      .catch((err: unknown) => log.error(`outbox: commissioning report not stored: ${errorMessage(err)}`));
  });
  const onReadings = (readings: PointReading[]): void => {
    for (const r of readings) latest.set(`${r.device}.${r.point}`, r);
    events.emit('readings', readings);
    outbox
      .putReadings(readings)
      .then(() => uplink.notify())
      .catch((err: unknown) =>
        log.error(`outbox write failed; readings dropped (reported as evicted): ${errorMessage(err)}`),
      );
  };

  for (const lc of config.lines) {
    const line = new ModbusLine(
      lc.id,
      (opts.transportFor ?? defaultTransport)(lc),
      clock,
      log.child(`line:${lc.id}`),
      {
        readings: onReadings,
        deviceState: (device, online, reason) => {
          log.info(`device ${device} ${online ? 'online' : 'offline'}`, { reason });
          events.emit('device', device, online, reason);
          outbox
            .put('events', [
              {
                body: { type: online ? 'device-online' : 'device-offline', device, reason },
                ts: clock.now(),
              },
            ])
            .then(() => uplink.notify())
            .catch((err: unknown) => log.error(`outbox: device event not stored: ${errorMessage(err)}`));
        },
      },
      lc.backoff,
      lc.retries ?? 1,
    );
    lines.set(lc.id, line);
  }
  for (const dc of config.devices) {
    const line = lines.get(dc.line)!;
    line.addDevice(dc, profiles.get(dc.profile)!);
    deviceLine.set(dc.id, line);
  }
  const gpioDevices = new Map<string, GpioDevice>();
  if (config.gpio?.length) {
    try {
      const backend =
        typeof opts.gpio === 'function' ? await opts.gpio() : (opts.gpio ?? (await openGpioBackend()));
      for (const g of config.gpio) {
        const dev = new GpioDevice({
          device: g.id,
          profile: profiles.get(g.profile)!,
          backend,
          clock,
          events: { readings: onReadings },
          log: log.child(`gpio:${g.id}`),
        });
        gpioDevices.set(g.id, dev);
      }
    } catch (err) {
      // The Modbus lines and everything else keep running; the cabinet I/O is reported missing.
      log.error(`GPIO devices not started: ${errorMessage(err)}`);
    }
  }
  // Local control: rules, alarms, interlocks and fail-safes run on the gateway, uplink or not.
  // Rule writes go straight to the device layer; every other write passes the interlocks first.
  const deviceWrite = (device: string, point: string, value: number | boolean): Promise<void> => {
    const gpioDevice = gpioDevices.get(device);
    if (gpioDevice) return gpioDevice.write(point, value === true || value === 1);
    const line = deviceLine.get(device);
    if (!line)
      return Promise.reject(
        new CityGateError('unknown-device', `gateway ${config.id} has no device '${device}'`),
      );
    return line.write(device, point, value);
  };
  const rules = new RuleRunner(controlConfig(config), {
    clock,
    log: log.child('rules'),
    write: deviceWrite,
    emit: (kind, body) => {
      outbox
        .put(kind === 'alarm' ? 'alarms' : 'events', [{ body, ts: clock.now() }])
        .then(() => uplink.notify())
        .catch((err: unknown) => log.error(`outbox: ${kind} not stored: ${errorMessage(err)}`));
    },
  });
  events.on('readings', (rs) => rules.readings(rs));
  events.on('device', (d, online) => rules.deviceState(d, online));
  // Lines first: the rules' first writes (fail-safe state) then queue on running lines instead of failing.
  for (const line of lines.values()) line.start();
  rules.start();
  // GPIO inputs report their state once at start: after the rules listen, so a cabinet already open
  // or flooded at boot raises its alarm (it used to go unseen until the input changed).
  for (const [id, dev] of gpioDevices)
    try {
      dev.start();
    } catch (err) {
      log.error(`GPIO devices not started: ${errorMessage(err)} (${id})`);
      gpioDevices.delete(id);
    }
  uplink.start();
  log.info(
    `started: ${config.devices.length} device(s) on ${config.lines.length} line(s), data in ${dataDir}`,
  );

  const runtime: EdgeRuntime = {
    id: config.id,
    profiles,
    clock,
    gpioProfiles: new Map((config.gpio ?? []).map((g) => [g.id, profiles.get(g.profile)!])),
    dataDir,
    outbox,
    uplink,
    lines,
    latest,
    events,
    rules,
    write(device, point, value) {
      try {
        rules.checkWrite(device, point, value);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      return deviceWrite(device, point, value);
    },
    async stop() {
      healthTimer?.cancel();
      updates?.stop();
      healthFileReporter?.stop();
      await localApi?.close();
      await rules.stop({ failSafe: 'gateway stopping' });
      for (const g of gpioDevices.values()) g.stop();
      await Promise.all([...lines.values()].map((l) => l.stop()));
      await uplink.stop();
      await outbox.close();
      log.info('stopped');
    },
  };
  // Health for the fleet (outbox depth and oldest unsent age, uplink, line utilisation), through the outbox.
  let healthTimer: Timer | undefined;
  const reportHealth = (): void => {
    healthTimer = clock.setTimeout(reportHealth, opts.healthEveryMs ?? 60_000);
    void (async () => {
      const body = {
        type: 'health',
        outbox: await outbox.health(),
        uplink: uplink.health(),
        lines: [...lines.values()].map((l) => ({
          id: l.id,
          utilisation: Number(l.stats.utilisation().toFixed(4)),
          transactions: l.stats.transactions,
        })),
      };
      await outbox.put('events', [{ body, ts: clock.now() }]);
      uplink.notify();
    })().catch((err: unknown) => log.warn(`health report not stored: ${errorMessage(err)}`));
  };
  healthTimer = clock.setTimeout(reportHealth, Math.min(5_000, opts.healthEveryMs ?? 60_000));

  // Installed under pm2: write the health the updater checks after a switch, and take updates from the fleet.
  let updates: { stop(): void } | undefined;
  let healthFileReporter: { stop(): void } | undefined;
  if (opts.updates) {
    const { installRoot, cli } = opts.updates;
    healthFileReporter = startHealthReporter({
      file: healthFile(installRoot),
      version: packageVersion(),
      everyMs: 2000,
      clock,
      checks: () => {
        const all = [...lines.values()];
        const polls = all.length === 0 || all.some((l) => l.devicesState().some((d) => d.online === true));
        return { checks: { uplink: uplink.state === 'online', polls, rules: true } };
      },
    });
    const remote = remoteUpdates({
      installRoot,
      cli,
      clock,
      log: log.child('updates'),
      put: async (body, ts) => {
        await outbox.put('update/progress', [{ body, ts }]);
        uplink.notify();
      },
    });
    uplink.handlers.updateControl = (ctl) => remote.handle(ctl);
    updates = remote;
  }

  if (opts.desiredConfig) {
    const verifier = new ConfigVerifier({
      gatewayId: config.id,
      publicKeyPem: opts.desiredConfig.publicKeyPem,
      stateFile: join(dataDir, 'desired-config-state.json'),
      profiles,
      localFleet: config.fleet,
      apply: opts.desiredConfig.apply,
    });
    uplink.handlers.configDesired = configDesiredHandler({
      verifier,
      outbox,
      now: () => clock.now(),
      log: log.child('config'),
      afterReport: () => uplink.notify(),
    });
  }

  // Commands from the fleet (cmd/req) run through the same registry as the local API.
  uplink.handlers.command = (req) => runCommand(runtime, req.name, req.args);
  let localApi: { close(): Promise<void> } | undefined;
  if (opts.localApi !== false) {
    localApi = await startLocalApi({ runtime, log: log.child('local-api'), ...(opts.localApi ?? {}) });
  }
  return runtime;
}
