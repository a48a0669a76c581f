import { SerialPort } from 'serialport';
import { realClock, type Clock, type Timer } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import { RtuRequestParser, rtuFrame, scheduleAt, type Parity } from '../modbus-rtu.js';
import { SimDevice } from './device.js';
import { rollFaults, truncatedLength } from './faults.js';
import { handlePdu } from './pdu.js';
import type { SimUnit } from './tcp-server.js';
import { EmulatedWire, type WireOptions } from './wire-time.js';

export interface RtuSimOptions {
  /** Clock for the devices' physics (may be fake or sped up). */
  clock?: Clock;
  /** Clock for line timing (late replies, wire emulation): physical, so real unless testing the timing. */
  lineClock?: Clock;
  /** Random source for fault rates (see Faults); inject a seeded one for repeatable tests. */
  random?: () => number;
  /** Emulate the wire time of this line format (a pty moves bytes at memory speed otherwise). */
  wire?: WireOptions;
  /** Fine-grained line time (ms); default performance.now() with the real line clock, else its now(). */
  now?: () => number;
}

export interface SerialSettings {
  baudRate?: number;
  parity?: Parity;
  stopBits?: 1 | 2;
}

export interface RtuSimStats {
  /** CRC-valid request frames heard. */
  frames: number;
  /** Replies written (including deliberately corrupted ones). */
  replies: number;
  broadcasts: number;
  /** Frames for unit ids nobody here serves. */
  ignored: number;
}

const WRITE_FCS = new Set([5, 6, 15, 16]);

/**
 * Serves simulated devices as Modbus RTU slaves on a serial port (typically one end of a pty pair),
 * misbehaving on request through each device's `faults`. Requests are cut by length with garbage
 * resync; without delays or wire emulation a reply is written synchronously in the data handler.
 */
export class RtuSimulator {
  private readonly devices = new Map<number, SimDevice>();
  private readonly parser = new RtuRequestParser();
  private readonly timers = new Set<Timer>();
  private readonly clock: Clock;
  private readonly lineClock: Clock;
  private readonly random: () => number;
  private readonly now: () => number;
  readonly wire: EmulatedWire | undefined;
  readonly stats: RtuSimStats = { frames: 0, replies: 0, broadcasts: 0, ignored: 0 };
  private port: SerialPort | undefined;
  private sink: ((adu: Buffer) => void) | undefined;

  constructor(units: readonly SimUnit[], options: RtuSimOptions = {}) {
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    const line = (this.lineClock = options.lineClock ?? realClock);
    this.now = options.now ?? (line === realClock ? () => performance.now() : () => line.now());
    this.wire = options.wire ? new EmulatedWire(options.wire, this.now) : undefined;
    for (const u of units) this.devices.set(u.unitId, new SimDevice(u.profile, u.unitId, this.clock));
  }

  device(unitId: number): SimDevice {
    const d = this.devices.get(unitId);
    if (!d) throw new CityGateError('unknown-unit', `no simulated unit ${unitId}`);
    return d;
  }

  units(): SimDevice[] {
    return [...this.devices.values()];
  }

  /** Bytes skipped while resynchronising on the request stream. */
  get garbageBytes(): number {
    return this.parser.garbageBytes;
  }

  /** Open a serial port (e.g. a pty end) and serve on it. */
  async open(path: string, settings: SerialSettings = {}): Promise<void> {
    const port = new SerialPort({
      path,
      baudRate: settings.baudRate ?? this.wire?.options.baud ?? 19200,
      parity: settings.parity ?? this.wire?.options.parity ?? 'even',
      stopBits: settings.stopBits ?? this.wire?.options.stopBits ?? 1,
      dataBits: 8,
      autoOpen: false,
    });
    await new Promise<void>((resolve, reject) =>
      port.open((err) =>
        err
          ? reject(new CityGateError('connection', `cannot open ${path}: ${err.message}`, { cause: err }))
          : resolve(),
      ),
    );
    port.on('error', () => undefined); // a vanished pty peer; close() tidies up
    this.port = port;
    this.attach((adu) => port.write(adu));
    port.on('data', (chunk: Buffer) => this.receive(chunk));
  }

  /** Serve through any byte sink instead of a serial port (tests, other transports). */
  attach(write: (adu: Buffer) => void): void {
    this.sink = write;
  }

  /** Bytes heard on the line. */
  receive(chunk: Buffer): void {
    for (const req of this.parser.push(chunk)) this.handle(req);
  }

  private handle(req: Buffer): void {
    this.stats.frames++;
    const unit = req[0]!;
    const pdu = req.subarray(1, req.length - 2);
    const requestEnd = this.wire?.request(req.length) ?? 0;
    if (unit === 0) {
      this.stats.broadcasts++;
      if (!WRITE_FCS.has(pdu[0]!)) return;
      for (const dev of this.devices.values()) {
        dev.requests++;
        handlePdu(dev, pdu);
      }
      return;
    }
    const dev = this.devices.get(unit);
    if (!dev) {
      this.stats.ignored++;
      return;
    }
    dev.requests++;
    const f = rollFaults(dev.faults, unit, this.random);
    if (f.silent) return;
    const reply =
      f.exception !== undefined ? Buffer.from([pdu[0]! | 0x80, f.exception]) : handlePdu(dev, pdu);
    let adu = rtuFrame(f.wrongUnit ?? unit, reply);
    if (f.badCrc) adu[adu.length - 1]! ^= 0x5a;
    if (f.truncate) adu = adu.subarray(0, truncatedLength(adu.length));
    if (this.wire) this.at(this.wire.reply(requestEnd, adu.length, f.delayMs), adu);
    else if (f.delayMs > 0) this.at(this.now() + f.delayMs, adu);
    else this.send(adu);
  }

  private send(adu: Buffer): void {
    this.stats.replies++;
    this.sink?.(adu);
  }

  /** Write at time `due` of now(): re-armed if a (coarse, possibly stale, ms) timer fires early. */
  private at(due: number, adu: Buffer): void {
    const t = scheduleAt(this.lineClock, this.now, due, () => {
      this.timers.delete(t);
      this.send(adu);
    });
    this.timers.add(t);
  }

  async close(): Promise<void> {
    for (const t of this.timers) t.cancel();
    this.timers.clear();
    this.sink = undefined;
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
