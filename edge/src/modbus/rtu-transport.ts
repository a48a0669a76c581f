import { SerialPort } from 'serialport';
import { realClock, type Clock, type Timer } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import {
  crcOk,
  expectedResponseLength,
  frameTimeMs,
  interFrameSilenceMs,
  responseLength,
  rtuFrame,
  scheduleAt,
  type CharFormat,
  type Parity,
} from '../../../hardware/src/modbus-rtu.js';
import type { Table } from '../../../hardware/src/profile.js';
import { exceptionError, ModbusError } from './errors.js';
import type { ModbusTransport } from './transport.js';

export { frameTimeMs, interFrameSilenceMs } from '../../../hardware/src/modbus-rtu.js';

export interface RtuOptions {
  /** Serial device, e.g. /dev/ttyUSB0 or one end of a pty pair. */
  path: string;
  /** Default 19200. */
  baudRate?: number;
  /** Default 'even' (Modbus RTU's default format is 8E1). */
  parity?: Parity;
  /** RTU needs 8 data bits; anything else is refused. */
  dataBits?: 5 | 6 | 7 | 8;
  /** Default 1 (use 2 with parity 'none' for spec-conformant 8N2). */
  stopBits?: 1 | 2;
  /** Per-transaction response timeout, counted from the end of the request on the wire. Default 1000. */
  timeoutMs?: number;
  /** Quiet time after a broadcast so every slave can act on it before the next request. Default 100. */
  broadcastTurnaroundMs?: number;
  /**
   * After a request whose reply may still come (timeout, foreign or undelimitable frame), keep the
   * line quiet this long past its deadline and discard whatever arrives. Default: timeoutMs.
   */
  recoveryMs?: number;
  /**
   * Timers for line timing, which is physical: leave it real (never a sped-up demo clock); a fake one
   * is for testing the transport itself. With a clock other than the real one, `now` defaults to its now().
   */
  clock?: Clock;
  /** Fine-grained time in ms for measuring line silence; default performance.now(). */
  now?: () => number;
}

export interface RtuStats {
  transactions: number;
  timeouts: number;
  crcErrors: number;
  framingErrors: number;
  exceptions: number;
  /** Bytes that arrived with no transaction to take them (late replies, noise), thrown away. */
  discardedBytes: number;
}

interface InFlight {
  unit: number;
  fc: number;
  request: Buffer;
  expectLen: number;
  where: string;
  rx: Buffer;
  /** When a reply that is still on time must have arrived. */
  deadline: number;
  timer: Timer | undefined;
  /** Set once a complete, valid frame is in; the outcome stands if t3.5 of silence follows. */
  settling: { timer: Timer; outcome: ModbusError | Buffer } | undefined;
  finish(outcome: ModbusError | Buffer): void;
}

const READ_FC: Record<Table, number> = { coil: 1, discrete: 2, holding: 3, input: 4 };
const hex = (b: Uint8Array): string =>
  Buffer.from(b)
    .toString('hex')
    .replace(/(..)(?!$)/g, '$1 ');

function invalid(message: string): CityGateError {
  return new CityGateError('invalid-request', message);
}

/**
 * Modbus RTU master over a serial port, framing its own ADUs (CRC-16/Modbus, expected reply length per
 * function code). One transaction at a time. Every frame, and so every reply, must be followed by the
 * inter-frame silence t3.5 before it counts; bytes that arrive with no request in flight are discarded,
 * and after a failure the line is flushed and kept quiet until a late reply would have come, so a reply
 * is never attributed to the wrong request. (Modbus RTU has no transaction id: a reply later than
 * timeoutMs + recoveryMs to a request for the same unit, function and length as the next one cannot be
 * told apart from that one's reply; raise recoveryMs for slaves that slow.)
 */
export class RtuTransport implements ModbusTransport {
  readonly description: string;
  readonly stats: RtuStats = {
    transactions: 0,
    timeouts: 0,
    crcErrors: 0,
    framingErrors: 0,
    exceptions: 0,
    discardedBytes: 0,
  };
  private readonly format: CharFormat;
  private readonly silenceMs: number;
  private readonly timeoutMs: number;
  private readonly recoveryMs: number;
  private readonly broadcastTurnaroundMs: number;
  private readonly clock: Clock;
  private readonly now: () => number;
  private port: SerialPort | undefined;
  private inflight: InFlight | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  /** Last time a byte was seen on the line (received, or our own request sent). */
  private lastActivity = -Infinity;
  /** No request before this time (broadcast turnaround, recovery after a failure). */
  private quietUntil = -Infinity;
  /** Input must be flushed before the next request. */
  private dirty = false;

  constructor(private readonly options: RtuOptions) {
    const dataBits = options.dataBits ?? 8;
    if (dataBits !== 8) throw invalid(`Modbus RTU needs 8 data bits, got ${dataBits}`);
    this.format = {
      baud: options.baudRate ?? 19200,
      parity: options.parity ?? 'even',
      stopBits: options.stopBits ?? 1,
      dataBits: 8,
    };
    this.silenceMs = interFrameSilenceMs(this.format.baud);
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.recoveryMs = options.recoveryMs ?? this.timeoutMs;
    this.broadcastTurnaroundMs = options.broadcastTurnaroundMs ?? 100;
    const clock = (this.clock = options.clock ?? realClock);
    this.now = options.now ?? (clock === realClock ? () => performance.now() : () => clock.now());
    const p = this.format.parity![0]!.toUpperCase();
    this.description = `rtu:${options.path}@${this.format.baud}/8${p}${this.format.stopBits}`;
  }

  async open(): Promise<void> {
    if (this.port?.isOpen) return;
    const port = new SerialPort({
      path: this.options.path,
      baudRate: this.format.baud,
      parity: this.format.parity!,
      stopBits: this.format.stopBits!,
      dataBits: 8,
      autoOpen: false,
    });
    await new Promise<void>((resolve, reject) =>
      port.open((err) =>
        err
          ? reject(
              new ModbusError('connection', `cannot open ${this.description}: ${err.message}`, undefined, {
                cause: err,
              }),
            )
          : resolve(),
      ),
    );
    port.on('data', (chunk: Buffer) => this.onData(chunk));
    port.on('error', () => undefined); // reported through write callbacks and 'close'
    port.on('close', () => {
      const tx = this.inflight;
      if (tx && this.port === port) tx.finish(new ModbusError('connection', `${tx.where}: port closed`));
    });
    this.port = port;
    this.dirty = true; // whatever sat in the driver's buffer is not ours
  }

  isOpen(): boolean {
    return this.port?.isOpen ?? false;
  }

  async close(): Promise<void> {
    const port = this.port;
    if (!port?.isOpen) return;
    await new Promise<void>((resolve) => port.close(() => resolve()));
    const tx = this.inflight;
    if (tx) tx.finish(new ModbusError('connection', `${tx.where}: port closed`));
  }

  async read(unit: number, table: Table, address: number, count: number): Promise<number[]> {
    const fc = READ_FC[table];
    const max = fc <= 2 ? 2000 : 125;
    const where = `unit ${unit} read ${table} ${address}+${count} on ${this.description}`;
    if (unit < 1 || unit > 247) throw invalid(`${where}: unit id must be 1-247 (0 is broadcast, write only)`);
    if (count < 1 || count > max || address < 0 || address + count > 0x10000)
      throw invalid(`${where}: count must be 1-${max} within addresses 0-65535`);
    const pdu = Buffer.from([fc, address >> 8, address & 0xff, count >> 8, count & 0xff]);
    const adu = await this.transact(unit, pdu, expectedResponseLength(fc, count), where);
    if (fc <= 2) return Array.from({ length: count }, (_, i) => (adu[3 + (i >> 3)]! >> (i & 7)) & 1);
    return Array.from({ length: count }, (_, i) => adu.readUInt16BE(3 + 2 * i));
  }

  async write(
    unit: number,
    table: 'coil' | 'holding',
    address: number,
    values: readonly number[],
  ): Promise<void> {
    const n = values.length;
    const where = `unit ${unit} write ${table} ${address}+${n} on ${this.description}`;
    const max = table === 'coil' ? 1968 : 123;
    if (unit < 0 || unit > 247) throw invalid(`${where}: unit id must be 0-247`);
    if (n < 1 || n > max || address < 0 || address + n > 0x10000)
      throw invalid(`${where}: 1-${max} values within addresses 0-65535`);
    let pdu: Buffer;
    if (n === 1) {
      const v = table === 'coil' ? (values[0] ? 0xff00 : 0) : values[0]! & 0xffff;
      pdu = Buffer.from([table === 'coil' ? 5 : 6, address >> 8, address & 0xff, v >> 8, v & 0xff]);
    } else {
      const bytes = table === 'coil' ? Math.ceil(n / 8) : 2 * n;
      pdu = Buffer.alloc(6 + bytes);
      pdu.writeUInt8(table === 'coil' ? 15 : 16, 0);
      pdu.writeUInt16BE(address, 1);
      pdu.writeUInt16BE(n, 3);
      pdu[5] = bytes;
      values.forEach((v, i) => {
        if (table === 'holding') pdu.writeUInt16BE(v & 0xffff, 6 + 2 * i);
        else if (v) pdu[6 + (i >> 3)]! |= 1 << (i & 7);
      });
    }
    await this.transact(unit, pdu, 8, where);
  }

  /** Queue one transaction behind the previous; resolves with the reply ADU. */
  private transact(unit: number, pdu: Buffer, expectLen: number, where: string): Promise<Buffer> {
    const run = this.tail.then(() => this.exchange(unit, pdu, expectLen, where));
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async exchange(unit: number, pdu: Buffer, expectLen: number, where: string): Promise<Buffer> {
    if (!this.port?.isOpen) throw new ModbusError('connection', `${where}: port is not open`);
    await this.waitQuiet();
    const port = this.port;
    if (!port?.isOpen) throw new ModbusError('connection', `${where}: port is not open`);
    if (this.dirty) {
      await new Promise<void>((resolve) => port.flush(() => resolve()));
      this.dirty = false;
      await this.waitQuiet(); // bytes read before the flush still count as line activity
    }
    const request = rtuFrame(unit, pdu);
    const wireMs = frameTimeMs(request.length, this.format);
    this.stats.transactions++;
    if (unit === 0) {
      await new Promise<void>((resolve, reject) =>
        port.write(request, (err) =>
          err
            ? reject(new ModbusError('connection', `${where}: ${err.message}`, undefined, { cause: err }))
            : resolve(),
        ),
      );
      const now = this.now();
      this.lastActivity = now + wireMs;
      this.quietUntil = now + wireMs + this.broadcastTurnaroundMs;
      return request;
    }
    return new Promise<Buffer>((resolve, reject) => {
      const now = this.now();
      const tx: InFlight = {
        unit,
        fc: pdu[0]!,
        request,
        expectLen,
        where,
        rx: Buffer.alloc(0),
        deadline: now + wireMs + this.timeoutMs,
        timer: undefined,
        settling: undefined,
        finish: (outcome) => {
          if (this.inflight !== tx) return;
          this.inflight = undefined;
          tx.timer?.cancel();
          tx.settling?.timer.cancel();
          if (outcome instanceof Buffer) resolve(outcome);
          else reject(outcome);
        },
      };
      this.inflight = tx;
      this.lastActivity = now; // a reply can only follow the request, so its bytes move this on
      tx.timer = this.clock.setTimeout(() => this.onTimeout(tx), wireMs + this.timeoutMs);
      port.write(request, (err) => {
        if (err)
          tx.finish(new ModbusError('connection', `${where}: ${err.message}`, undefined, { cause: err }));
      });
    });
  }

  /** Wait until any quiet period is over and the line has been silent for t3.5. */
  private async waitQuiet(): Promise<void> {
    for (;;) {
      const until = Math.max(this.quietUntil, this.lastActivity + this.silenceMs);
      if (this.now() >= until) return;
      await new Promise<void>((resolve) => scheduleAt(this.clock, this.now, until, resolve));
    }
  }

  private onData(chunk: Buffer): void {
    this.lastActivity = Math.max(this.lastActivity, this.now());
    const tx = this.inflight;
    if (!tx) {
      this.stats.discardedBytes += chunk.length;
      return;
    }
    if (tx.settling) {
      this.stats.discardedBytes += tx.rx.length + chunk.length;
      return this.fail(tx, 'framing', `${tx.where}: more bytes followed the reply within t3.5`, 'late');
    }
    tx.rx = tx.rx.length ? Buffer.concat([tx.rx, chunk]) : chunk;
    this.evaluate(tx);
  }

  /** Decide what the bytes received so far are: not enough yet, a bad frame, or the reply. */
  private evaluate(tx: InFlight): void {
    const rx = tx.rx;
    if (rx.length < 2) return;
    const [unit, fc] = [rx[0]!, rx[1]!];
    const ours = unit === tx.unit && (fc === tx.fc || fc === (tx.fc | 0x80));
    const len = ours ? (fc === tx.fc ? tx.expectLen : 5) : responseLength(rx);
    if (len === null)
      return this.fail(tx, 'framing', `${tx.where}: unexpected bytes ${hex(rx.subarray(0, 8))}`, 'late');
    if (len === undefined || rx.length < len) return;
    const frame = rx.subarray(0, len);
    if (!crcOk(frame)) {
      // Our own reply damaged on the way: nothing more is coming. Anything else: ours may still be.
      const selfLen = responseLength(frame);
      return this.fail(
        tx,
        'crc',
        `${tx.where}: CRC mismatch in reply ${hex(frame)}`,
        ours && selfLen === len ? 'silence' : 'late',
      );
    }
    if (unit !== tx.unit)
      return this.fail(tx, 'framing', `${tx.where}: reply from unit ${unit} (${hex(frame)})`, 'late');
    if (fc !== tx.fc && fc !== (tx.fc | 0x80))
      return this.fail(tx, 'framing', `${tx.where}: reply with function ${fc} (${hex(frame)})`, 'late');
    const problem = fc === tx.fc ? this.checkContent(tx, frame) : undefined;
    if (problem) return this.fail(tx, 'framing', `${tx.where}: ${problem} (${hex(frame)})`, 'late');
    if (rx.length > len)
      return this.fail(tx, 'framing', `${tx.where}: ${rx.length - len} bytes after the reply`, 'late');
    let outcome: ModbusError | Buffer = Buffer.from(frame);
    if (fc !== tx.fc) {
      this.stats.exceptions++;
      outcome = exceptionError(frame[2]!, tx.where);
    }
    tx.timer?.cancel();
    // Any byte before t3.5 has passed fails the transaction in onData, so this deadline never moves.
    tx.settling = {
      outcome,
      timer: scheduleAt(this.clock, this.now, this.lastActivity + this.silenceMs, () => tx.finish(outcome)),
    };
  }

  /** A CRC-valid frame with our unit and function: is it the reply to this very request? */
  private checkContent(tx: InFlight, frame: Buffer): string | undefined {
    const req = tx.request;
    if (tx.fc <= 4)
      return frame[2] === tx.expectLen - 5
        ? undefined
        : `byte count ${frame[2]}, expected ${tx.expectLen - 5}`;
    const echoLen = tx.fc === 5 || tx.fc === 6 ? 6 : 4; // FC5/6 echo address+value, FC15/16 address+count
    return frame.subarray(2, 2 + echoLen).equals(req.subarray(2, 2 + echoLen))
      ? undefined
      : 'reply does not echo the request';
  }

  private onTimeout(tx: InFlight): void {
    const got = tx.rx.length ? ` (incomplete reply: ${tx.rx.length} bytes ${hex(tx.rx.subarray(0, 8))})` : '';
    this.stats.discardedBytes += tx.rx.length;
    this.fail(tx, 'timeout', `${tx.where}: no answer within ${this.timeoutMs} ms${got}`, 'late');
  }

  /**
   * End a transaction with an error and protect the next one: 'silence' when the bad frame was our
   * reply (wait for t3.5 as usual), 'late' when our reply may still arrive (stay quiet past its
   * deadline + recoveryMs and flush).
   */
  private fail(
    tx: InFlight,
    code: 'timeout' | 'crc' | 'framing',
    message: string,
    recovery: 'silence' | 'late',
  ): void {
    if (code === 'timeout') this.stats.timeouts++;
    else if (code === 'crc') this.stats.crcErrors++;
    else this.stats.framingErrors++;
    this.dirty = true;
    if (recovery === 'late') this.quietUntil = Math.max(this.quietUntil, tx.deadline + this.recoveryMs);
    tx.finish(new ModbusError(code, message));
  }
}
