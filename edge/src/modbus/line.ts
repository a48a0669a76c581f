import type { Clock, Timer } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { decodePoint, encodePoint } from '../../../hardware/src/codec.js';
import { isWritableTable, pointWidth, type Profile } from '../../../hardware/src/profile.js';
import type { DeviceConfig } from '../config.js';
import { ModbusError } from './errors.js';
import { planReads, type ReadBlock } from './plan.js';
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

interface DeviceState {
  cfg: DeviceConfig;
  profile: Profile;
  blocks: ReadBlock[];
  failures: number;
  online: boolean | undefined;
  /** While quarantined, polls are skipped until this time. */
  retryAt: number;
  backoffMs: number;
}

interface Job {
  device: DeviceState;
  run: () => Promise<void>;
  block?: ReadBlock;
}

const FAILURES_BEFORE_OFFLINE = 3;
export const DEFAULT_BACKOFF = { minMs: 1000, maxMs: 60_000 };

/**
 * The single owner of one physical line (a TCP endpoint now, a serial port with the device-layer
 * work): every poll and write goes through its queue, one transaction in flight, writes first.
 * A device that keeps failing is quarantined with exponential backoff so the others keep their rates.
 */
export class ModbusLine {
  private readonly devices = new Map<string, DeviceState>();
  private readonly queue: Job[] = [];
  private readonly queuedBlocks = new Set<ReadBlock>();
  private readonly timers = new Set<Timer>();
  private busy = false;
  private running = false;
  private reconnectAt = 0;
  private connectBackoffMs: number;
  stats = { transactions: 0, failures: 0 };

  constructor(
    readonly id: string,
    private readonly transport: ModbusTransport,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly events: LineEvents,
    private readonly backoff = DEFAULT_BACKOFF,
  ) {
    this.connectBackoffMs = backoff.minMs;
  }

  addDevice(cfg: DeviceConfig, profile: Profile): void {
    const blocks = planReads(profile, cfg.pollMs);
    this.devices.set(cfg.id, {
      cfg,
      profile,
      blocks,
      failures: 0,
      online: undefined,
      retryAt: 0,
      backoffMs: this.backoff.minMs,
    });
  }

  start(): void {
    this.running = true;
    const all = [...this.devices.values()].flatMap((d) => d.blocks.map((b) => ({ d, b })));
    // Stagger first polls over the shortest period so the line is not hit by everything at once.
    const spread = Math.min(...all.map((x) => x.b.periodMs), 1000);
    all.forEach(({ d, b }, i) => this.schedule(d, b, Math.floor((spread * i) / Math.max(1, all.length))));
  }

  async stop(): Promise<void> {
    this.running = false;
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.queue.length = 0;
    await this.transport.close();
  }

  private schedule(d: DeviceState, b: ReadBlock, delayMs: number): void {
    const t = this.clock.setTimeout(() => {
      this.timers.delete(t);
      if (!this.running) return;
      this.schedule(d, b, b.periodMs);
      if (this.clock.now() < d.retryAt || this.queuedBlocks.has(b)) return;
      this.queuedBlocks.add(b);
      this.queue.push({ device: d, block: b, run: () => this.poll(d, b) });
      this.pump();
    }, delayMs);
    this.timers.add(t);
  }

  /** Write one point through the line's queue, ahead of queued polls. Resolves when the device confirmed. */
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
    let words: number[];
    try {
      const enc = encodePoint(p, value, d.profile.modbus);
      words = typeof enc === 'boolean' ? [enc ? 1 : 0] : enc;
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise((resolve, reject) => {
      const job: Job = {
        device: d,
        run: async () => {
          try {
            await this.transport.write(d.cfg.unitId, p.table as 'coil' | 'holding', p.address, words);
            this.succeeded(d);
            resolve();
          } catch (err) {
            this.failed(d, err);
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        },
      };
      const firstPoll = this.queue.findIndex((j) => j.block !== undefined);
      this.queue.splice(firstPoll < 0 ? this.queue.length : firstPoll, 0, job);
      this.pump();
    });
  }

  private async poll(d: DeviceState, b: ReadBlock): Promise<void> {
    try {
      const raw = await this.transport.read(d.cfg.unitId, b.table, b.address, b.count);
      const ts = this.clock.now();
      const readings: PointReading[] = [];
      for (const p of b.points) {
        const off = p.address - b.address;
        const value = decodePoint(p, raw.slice(off, off + pointWidth(p)), d.profile.modbus);
        readings.push({ device: d.cfg.id, point: p.id, value, ...(p.unit ? { unit: p.unit } : {}), ts });
      }
      this.succeeded(d);
      this.events.readings(readings);
    } catch (err) {
      this.failed(d, err);
    }
  }

  private succeeded(d: DeviceState): void {
    this.stats.transactions++;
    d.failures = 0;
    d.backoffMs = this.backoff.minMs;
    d.retryAt = 0;
    if (d.online !== true) {
      d.online = true;
      this.events.deviceState(d.cfg.id, true, 'answered');
    }
  }

  private failed(d: DeviceState, err: unknown): void {
    this.stats.transactions++;
    this.stats.failures++;
    d.failures++;
    if (err instanceof ModbusError && err.code === 'connection') {
      this.log.warn(`line ${this.id}: ${errorMessage(err)}`);
      this.reconnectAt = this.clock.now() + this.connectBackoffMs;
      void this.transport.close();
    } else {
      this.log.debug(`device ${d.cfg.id}: ${errorMessage(err)}`);
    }
    if (d.failures >= FAILURES_BEFORE_OFFLINE) {
      d.retryAt = this.clock.now() + d.backoffMs;
      d.backoffMs = Math.min(d.backoffMs * 2, this.backoff.maxMs);
      if (d.online !== false) {
        d.online = false;
        this.log.warn(`device ${d.cfg.id} offline: ${errorMessage(err)}; retrying with backoff`);
        this.events.deviceState(d.cfg.id, false, errorMessage(err));
      }
    }
  }

  /** Run queued jobs one at a time; (re)connect first when the transport is closed. */
  private pump(): void {
    if (this.busy || !this.running || this.queue.length === 0) return;
    this.busy = true;
    void (async () => {
      try {
        while (this.running && this.queue.length > 0) {
          if (!this.transport.isOpen()) {
            if (this.clock.now() < this.reconnectAt) {
              this.dropPolls();
              break;
            }
            try {
              await this.transport.open();
              this.connectBackoffMs = this.backoff.minMs;
              this.log.info(`line ${this.id}: connected to ${this.transport.description}`);
            } catch (err) {
              this.reconnectAt = this.clock.now() + this.connectBackoffMs;
              this.connectBackoffMs = Math.min(this.connectBackoffMs * 2, this.backoff.maxMs);
              this.log.warn(
                `line ${this.id}: ${errorMessage(err)}; retry in ${this.reconnectAt - this.clock.now()} ms`,
              );
              for (const d of this.devices.values()) this.failed(d, err);
              this.dropPolls();
              break;
            }
          }
          const job = this.queue.shift()!;
          if (job.block) this.queuedBlocks.delete(job.block);
          await job.run();
        }
      } finally {
        this.busy = false;
      }
    })();
  }

  /** Polls are periodic: when the line is down, drop queued ones (they come back on their period). */
  private dropPolls(): void {
    for (let i = this.queue.length - 1; i >= 0; i--) {
      const j = this.queue[i]!;
      if (j.block) {
        this.queuedBlocks.delete(j.block);
        this.queue.splice(i, 1);
      } else {
        this.queue.splice(i, 1);
        void j.run(); // a write fails fast with the connection error rather than hanging
      }
    }
  }
}
