import { realClock, type Clock, type Timer } from '../../common/clock.js';

/**
 * Modbus RTU framing shared by the edge's RTU master and the RTU simulator: CRC-16/Modbus, frame
 * lengths per function code, request-stream parsing with resync, wire time, and line timing.
 */

export type Parity = 'none' | 'even' | 'odd';

/** How characters travel on the line. RTU proper is 8E1, 8O1 or 8N2 (11 bits); 8N1 is common too. */
export interface CharFormat {
  baud: number;
  parity?: Parity;
  stopBits?: 1 | 2;
  dataBits?: 7 | 8;
}

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xa001 : c >>> 1;
    t[i] = c;
  }
  return t;
})();

/** CRC-16/Modbus (poly 0xA001 reflected, init 0xFFFF) of buf[start, end). */
export function crc16(buf: Uint8Array, start = 0, end = buf.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ buf[i]!) & 0xff]!;
  return crc;
}

/** True when the last two bytes of buf[start, start+len) are the CRC (low byte first) of the rest. */
export function crcOk(buf: Uint8Array, start = 0, len = buf.length - start): boolean {
  if (len < 4) return false;
  const end = start + len;
  const crc = crc16(buf, start, end - 2);
  return buf[end - 2] === (crc & 0xff) && buf[end - 1] === crc >>> 8;
}

/** An RTU ADU: unit id, PDU, CRC (low byte first). */
export function rtuFrame(unit: number, pdu: Uint8Array): Buffer {
  const out = Buffer.alloc(pdu.length + 3);
  out[0] = unit;
  out.set(pdu, 1);
  const crc = crc16(out, 0, out.length - 2);
  out[out.length - 2] = crc & 0xff;
  out[out.length - 1] = crc >>> 8;
  return out;
}

/** Bits one character takes on the wire: start + data + parity + stop (11 for 8E1 and 8N2, 10 for 8N1). */
export function charBits(f: Omit<CharFormat, 'baud'>): number {
  return 1 + (f.dataBits ?? 8) + (f.parity && f.parity !== 'none' ? 1 : 0) + (f.stopBits ?? 1);
}

/** Time `bytes` characters take on the wire, in ms. */
export function frameTimeMs(bytes: number, f: CharFormat): number {
  return (bytes * charBits(f) * 1000) / f.baud;
}

/** The RTU inter-frame silence t3.5: 3.5 character times of 11 bits, fixed at 1.75 ms above 19200 baud. */
export function interFrameSilenceMs(baud: number): number {
  return baud > 19200 ? 1.75 : (3.5 * 11 * 1000) / baud;
}

/**
 * Length of the request ADU starting at buf[at]: a number once known, undefined while more bytes are
 * needed to tell, null if these bytes cannot start a request (unknown function, reserved unit id).
 */
export function requestLength(buf: Uint8Array, at = 0): number | undefined | null {
  const avail = buf.length - at;
  if (avail < 1) return undefined;
  if (buf[at]! > 247) return null;
  if (avail < 2) return undefined;
  switch (buf[at + 1]) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 8: // diagnostics: sub-function + one data word
      return 8;
    case 7:
    case 11:
    case 12:
    case 17:
      return 4;
    case 15:
    case 16:
      return avail < 7 ? undefined : 9 + buf[at + 6]!;
    case 20:
    case 21:
      return avail < 3 ? undefined : 5 + buf[at + 2]!;
    case 22:
      return 10;
    case 23:
      return avail < 11 ? undefined : 13 + buf[at + 10]!;
    case 24:
      return 6;
    case 43: // encapsulated interface: read device identification
      return 7;
    default:
      return null;
  }
}

/**
 * Length of a response ADU starting at buf[at], as its own header describes it: a number, undefined
 * while more bytes are needed, null for a function code whose replies we cannot delimit.
 */
export function responseLength(buf: Uint8Array, at = 0): number | undefined | null {
  const avail = buf.length - at;
  if (avail < 2) return undefined;
  const fc = buf[at + 1]!;
  if (fc & 0x80) return 5;
  switch (fc) {
    case 1:
    case 2:
    case 3:
    case 4:
    case 17:
    case 20:
    case 21:
    case 23:
      return avail < 3 ? undefined : 5 + buf[at + 2]!;
    case 5:
    case 6:
    case 8:
    case 15:
    case 16:
      return 8;
    default:
      return null;
  }
}

/** Length of the normal (non-exception) reply ADU to a request for `count` bits or registers. */
export function expectedResponseLength(fc: number, count: number): number {
  if (fc === 1 || fc === 2) return 5 + Math.ceil(count / 8);
  if (fc === 3 || fc === 4) return 5 + 2 * count;
  return 8;
}

/** Longest RTU ADU (256 bytes); a parser never needs to hold much more than this. */
export const MAX_ADU = 256;

/**
 * Splits the byte stream a slave hears into CRC-checked request frames. RTU requests have
 * deterministic lengths (FC15/16 carry a byte count), so frames are cut by length rather than by
 * timing; bytes that cannot start a valid frame are skipped one at a time (garbage resync), and a
 * partial frame gives way to a complete valid frame found further on.
 */
export class RtuRequestParser {
  private buf: Buffer = Buffer.alloc(0);
  garbageBytes = 0;

  /** Bytes held while waiting for the rest of a frame. */
  get pending(): number {
    return this.buf.length;
  }

  push(chunk: Uint8Array): Buffer[] {
    const b = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: Buffer[] = [];
    let at = 0;
    while (at < b.length) {
      const len = requestLength(b, at);
      if (len === null) {
        at++;
        this.garbageBytes++;
        continue;
      }
      if (len === undefined || at + len > b.length) {
        const next = this.nextValid(b, at + 1);
        if (next < 0) break;
        this.garbageBytes += next - at;
        at = next;
        continue;
      }
      if (crcOk(b, at, len)) {
        out.push(Buffer.from(b.subarray(at, at + len)));
        at += len;
      } else {
        at++;
        this.garbageBytes++;
      }
    }
    let rest = b.subarray(at);
    if (rest.length > 2 * MAX_ADU) {
      this.garbageBytes += rest.length - MAX_ADU;
      rest = rest.subarray(rest.length - MAX_ADU);
    }
    this.buf = rest;
    return out;
  }

  /** Forget any partial frame (e.g. after line silence). Returns how many bytes were dropped. */
  reset(): number {
    const n = this.buf.length;
    this.garbageBytes += n;
    this.buf = Buffer.alloc(0);
    return n;
  }

  private nextValid(b: Buffer, from: number): number {
    for (let i = from; i < b.length; i++) {
      const len = requestLength(b, i);
      if (typeof len === 'number' && i + len <= b.length && crcOk(b, i, len)) return i;
    }
    return -1;
  }
}

/**
 * Run `fn` once `now()` reaches `due` (ms). Line timing needs sub-ms precision but timers fire on a
 * coarse, possibly stale, ms clock, early or late: so a clock timer covers the bulk and, on the real
 * clock, event-loop turns (setImmediate) the last millisecond. Runs `fn` at once if `due` has passed.
 */
export function scheduleAt(clock: Clock, now: () => number, due: number, fn: () => void): Timer {
  let cancelled = false;
  let timer: Timer | undefined;
  const precise = clock === realClock;
  const step = (): void => {
    if (cancelled) return;
    const left = due - now();
    if (left <= 0) fn();
    else if (precise && left <= 1) setImmediate(step);
    else timer = clock.setTimeout(step, precise ? left - 1 : left);
  };
  step();
  return {
    cancel: () => {
      cancelled = true;
      timer?.cancel();
    },
  };
}
