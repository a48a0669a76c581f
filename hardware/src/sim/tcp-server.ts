import { createServer, type Server, type Socket } from 'node:net';
import { realClock, type Clock } from '../../../common/clock.js';
import type { Profile } from '../profile.js';
import { SimDevice } from './device.js';
import { rollFaults, truncatedLength } from './faults.js';
import { handlePdu } from './pdu.js';

export interface SimUnit {
  unitId: number;
  profile: Profile;
}

/**
 * Serves simulated devices over Modbus TCP (MBAP framing). Answers synchronously in the data
 * handler, so it is never the bottleneck; unknown unit ids get no answer, like a unit absent from a
 * serial line behind a gateway.
 */
export class TcpSimulator {
  private readonly devices = new Map<number, SimDevice>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  port = 0;

  constructor(
    units: readonly SimUnit[],
    clock: Clock = realClock,
    /** Random source for fault rates (see Faults). */
    private readonly random: () => number = Math.random,
  ) {
    for (const u of units) this.devices.set(u.unitId, new SimDevice(u.profile, u.unitId, clock));
  }

  device(unitId: number): SimDevice {
    const d = this.devices.get(unitId);
    if (!d) throw new Error(`no simulated unit ${unitId}`);
    return d;
  }

  units(): SimDevice[] {
    return [...this.devices.values()];
  }

  async listen(port = 0, host = '127.0.0.1'): Promise<number> {
    const server = createServer((sock) => this.serve(sock));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : port;
    return this.port;
  }

  private serve(sock: Socket): void {
    this.sockets.add(sock);
    sock.setNoDelay(true);
    let buf = Buffer.alloc(0);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      while (buf.length >= 7) {
        const len = buf.readUInt16BE(4);
        if (buf.readUInt16BE(2) !== 0 || len < 2 || len > 254) {
          sock.destroy(); // not Modbus TCP: drop the connection as real devices do
          return;
        }
        if (buf.length < 6 + len) break;
        const frame = buf.subarray(0, 6 + len);
        buf = buf.subarray(6 + len);
        this.answer(sock, frame);
      }
    });
  }

  private answer(sock: Socket, frame: Buffer): void {
    const unit = frame[6]!;
    const dev = this.devices.get(unit);
    if (!dev) return;
    dev.requests++;
    const f = rollFaults(dev.faults, unit, this.random); // badCrc does not apply: TCP has no CRC
    if (f.silent) return;
    const pdu =
      f.exception !== undefined
        ? Buffer.from([frame[7]! | 0x80, f.exception])
        : handlePdu(dev, frame.subarray(7));
    const out = Buffer.alloc(7 + pdu.length);
    frame.copy(out, 0, 0, 4); // transaction id + protocol id
    out.writeUInt16BE(pdu.length + 1, 4);
    out[6] = f.wrongUnit ?? unit;
    pdu.copy(out, 7);
    const data = f.truncate ? out.subarray(0, truncatedLength(out.length)) : out;
    if (f.delayMs > 0) setTimeout(() => !sock.destroyed && sock.write(data), f.delayMs).unref();
    else sock.write(data);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
