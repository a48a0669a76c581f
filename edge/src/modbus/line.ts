import type { Clock, Timer } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { decodePoint, encodePoint } from '../../../hardware/src/codec.js';
import { isWritableTable, pointWidth, type Profile } from '../../../hardware/src/profile.js';
import type { DeviceConfig } from '../config.js';
import { ModbusError } from './errors.js';
import { planReads, pointPeriod, type ReadBlock } from './plan.js';
import { ReportFilter } from './report.js';
import { DEFAULT_SCHEDULE, PollSchedule, type HealthChange } from './schedule.js';
import { LineStats } from './stats.js';
import type { ModbusTransport } from './transport.js';

export interface PointReading {
  device: string;
  point: string;
  value: number | boolean;
  unit?: string;
  ts: number;
}

export interface LineEvents {
  readings(readings: PointReading[]): void;
  deviceState(device: string, online: boolean, reason: string): void;
}

interface Device {
  cfg: DeviceConfig;
  profile: Profile;
}

interface Block extends ReadBlock {
  id: number;
  device: Device;
}

interface WriteJob {
  device: Device | undefined;
  run: () => Promise<void>;
}

/**
 * The single owner of one physical line (a serial port or a TCP endpoint): every poll and every
 * write goes through it, one transaction in flight. Writes go before any poll; polls follow the pure
 * PollSchedule (earliest due first, failing devices quarantined with backoff so the others keep
 * their rates). The transport enforces the wire's own timing (RTU silence, turnaround).
 */
export class ModbusLine {
  private readonly devices = new Map<string, Device>();
  private readonly blocks: Block[] = [];
  private readonly writes: WriteJob[] = [];
  private readonly reporter = new ReportFilter();
  private schedule: PollSchedule | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeTimer: Timer | undefined;
  private wake: (() => void) | undefined;
  private reconnectAt = 0;
  private connectBackoffMs: number;
  readonly stats: LineStats;

  constructor(
    readonly id: string,
    private readonly transport: ModbusTransport,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: LineEvents,
    private readonly backoff = DEFAULT_SCHEDULE.backoff,
    /** Immediate retries of a transaction that failed on the wire. */
    private readonly retries = 0,
  ) {
    this.connectBackoffMs = backoff.minMs;
    this.stats = new LineStats(clock);
  }

  addDevice(cfg: DeviceConfig, profile: Profile): void {
    if (this.running) throw new CityGateError('busy', `line ${this.id}: add devices before start()`);
    const device = { cfg, profile };
    this.devices.set(cfg.id, device);
    for (const b of planReads(profile, cfg.pollMs))
      this.blocks.push({ ...b, id: this.blocks.length, device });
  }

  /** Each device's state: online (true/false) or not yet known (undefined), and its profile. */
  devicesState(): { id: string; profile: string; unitId: number; online: boolean | undefined }[] {
    return [...this.devices.values()].map((d) => ({
      id: d.cfg.id,
      profile: d.profile.id,
      unitId: d.cfg.unitId,
      online: this.schedule?.health.get(d.cfg.id)?.online,
    }));
  }

  /** Transactions one full cycle of every block takes (for planning and benchmarks). */
  get blockCount(): number {
    return this.blocks.length;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule = new PollSchedule(
      this.blocks.map((b) => ({ id: b.id, device: b.device.cfg.id, periodMs: b.periodMs })),
      this.clock.now(),
      { failuresBeforeOffline: DEFAULT_SCHEDULE.failuresBeforeOffline, backoff: this.backoff },
    );
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    await this.transport.close(); // fails a transaction in flight instead of waiting for its timeout
    await this.loop;
    for (const w of this.writes.splice(0)) void w.run();
  }

  private kick(): void {
    this.wakeTimer?.cancel();
    this.wakeTimer = undefined;
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  private sleepUntil(at: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      if (Number.isFinite(at))
        this.wakeTimer = this.clock.setTimeout(() => this.kick(), Math.max(0, at - this.clock.now()));
    });
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (!this.transport.isOpen() && !(await this.connect())) {
        await this.sleepUntil(this.reconnectAt);
        continue;
      }
      const write = this.writes.shift();
      if (write) {
        await write.run();
        continue;
      }
      const next = this.schedule!.next(this.clock.now());
      if ('block' in next) {
        this.schedule!.started(next.block.id, this.clock.now());
        await this.poll(this.blocks[next.block.id]!);
      } else {
        await this.sleepUntil('wakeAt' in next ? next.wakeAt : Infinity);
      }
    }
  }

  private async connect(): Promise<boolean> {
    if (this.clock.now() < this.reconnectAt) return false;
    try {
      await this.transport.open();
      this.connectBackoffMs = this.backoff.minMs;
      this.log.info(`line ${this.id}: connected to ${this.transport.description}`);
      return true;
    } catch (err) {
      this.reconnectAt = this.clock.now() + this.connectBackoffMs;
      this.connectBackoffMs = Math.min(this.connectBackoffMs * 2, this.backoff.maxMs);
      this.log.warn(
        `line ${this.id}: ${errorMessage(err)}; retry in ${this.reconnectAt - this.clock.now()} ms`,
      );
      for (const d of this.devices.values())
        this.health(this.schedule!.failed(d.cfg.id, this.clock.now()), err);
      for (const w of this.writes.splice(0)) void w.run(); // writes fail fast rather than wait for the line
      return false;
    }
  }

  /**
   * Run a raw transaction (technician read/write/scan through a running gateway) in the line's
   * queue, ahead of polls, so nothing ever opens the port behind the scheduler's back.
   */
  transact<T>(what: string, fn: (t: ModbusTransport) => Promise<T>): Promise<T> {
    if (!this.running) return Promise.reject(new CityGateError('stopped', `line ${this.id} is not running`));
    return new Promise((resolve, reject) => {
      this.writes.push({
        device: undefined,
        run: async () => {
          try {
            if (!this.running || !this.transport.isOpen())
              throw new ModbusError('connection', `line ${this.id} is not connected; ${what} not sent`);
            resolve(await fn(this.transport));
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      });
      this.kick();
    });
  }

  /** Write one point through the line, ahead of every queued poll. Resolves when the device confirmed. */
  write(deviceId: string, pointId: string, value: number | boolean): Promise<void> {
    const d = this.devices.get(deviceId);
    if (!d)
      return Promise.reject(
        new CityGateError('unknown-device', `no device '${deviceId}' on line '${this.id}'`),
      );
    const p = d.profile.points.find((x) => x.id === pointId);
    if (!p)
      return Promise.reject(
        new CityGateError(
          'unknown-point',
          `device '${deviceId}' (${d.profile.id}) has no point '${pointId}'`,
        ),
      );
    if (p.access !== 'rw' || !isWritableTable(p.table))
      return Promise.reject(new CityGateError('read-only', `point '${deviceId}.${pointId}' is read-only`));
    if (!this.running) return Promise.reject(new CityGateError('stopped', `line ${this.id} is not running`));
    let words: number[];
    try {
      const enc = encodePoint(p, value, d.profile.modbus);
      words = typeof enc === 'boolean' ? [enc ? 1 : 0] : enc;
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise((resolve, reject) => {
      this.writes.push({
        device: d,
        run: async () => {
          const t0 = this.clock.now();
          try {
            if (!this.running || !this.transport.isOpen())
              throw new ModbusError(
                'connection',
                `line ${this.id} is not connected; write to ${deviceId}.${pointId} not sent`,
              );
            await this.retrying(() =>
              this.transport.write(d.cfg.unitId, p.table as 'coil' | 'holding', p.address, words),
            );
            this.stats.record(deviceId, true, this.clock.now() - t0);
            this.health(this.schedule!.succeeded(deviceId));
            resolve();
          } catch (err) {
            this.onFailure(d, err, t0);
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      });
      this.kick();
    });
  }

  private async poll(b: Block): Promise<void> {
    const d = b.device;
    const t0 = this.clock.now();
    let raw: number[];
    try {
      raw = await this.retrying(() => this.transport.read(d.cfg.unitId, b.table, b.address, b.count));
    } catch (err) {
      this.onFailure(d, err, t0);
      return;
    }
    const ts = this.clock.now();
    this.stats.record(d.cfg.id, true, ts - t0);
    this.health(this.schedule!.succeeded(d.cfg.id));
    const readings: PointReading[] = [];
    for (const p of b.points) {
      const off = p.address - b.address;
      const value = decodePoint(p, raw.slice(off, off + pointWidth(p)), d.profile.modbus);
      const key = `${d.cfg.id}.${p.id}`;
      if (!this.reporter.shouldReport(key, p, pointPeriod(p, d.cfg.pollMs), value, ts, b.periodMs / 2))
        continue;
      readings.push({ device: d.cfg.id, point: p.id, value, ...(p.unit ? { unit: p.unit } : {}), ts });
    }
    if (readings.length) this.events.readings(readings);
  }

  /**
   * Retry a transaction that failed on the wire (timeout, CRC, framing) right away, up to `retries`
   * times; an exception is the device's answer and a connection error is the line's, so neither is retried.
   */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const transient = err instanceof ModbusError && ['timeout', 'crc', 'framing'].includes(err.code);
        if (!transient || attempt >= this.retries || !this.running) throw err;
        this.stats.retries++;
      }
    }
  }

  private onFailure(d: Device, err: unknown, t0: number): void {
    if (!this.running) return; // cut short by stop(): not the device's failure
    this.stats.record(d.cfg.id, false, this.clock.now() - t0);
    if (err instanceof ModbusError && err.code === 'connection') {
      this.log.warn(`line ${this.id}: ${errorMessage(err)}`);
      this.reconnectAt = this.clock.now() + this.connectBackoffMs;
      void this.transport.close();
    } else {
      this.log.debug(`device ${d.cfg.id}: ${errorMessage(err)}`);
    }
    this.health(this.schedule?.failed(d.cfg.id, this.clock.now()), err);
  }

  private health(change: HealthChange, err?: unknown): void {
    if (!change) return;
    const reason = change.online ? 'answered' : errorMessage(err);
    if (!change.online) this.log.warn(`device ${change.device} offline: ${reason}; retrying with backoff`);
    this.events.deviceState(change.device, change.online, reason);
  }
}
