import { CityGateError } from '../../common/errors.js';
import { isBitTable, pointWidth, type ModbusDefaults, type PointDef } from './profile.js';

/**
 * Converts between raw Modbus registers/bits and engineering values, as the profile describes:
 * type, byte and word order, bit, scale and offset. Pure functions.
 */

function toBytes(regs: readonly number[], p: PointDef, d: ModbusDefaults): Buffer {
  const buf = Buffer.alloc(regs.length * 2);
  const words = (p.wordOrder ?? d.wordOrder ?? 'big') === 'little' ? [...regs].reverse() : regs;
  words.forEach((w, i) => buf.writeUInt16BE(w & 0xffff, i * 2));
  if ((p.byteOrder ?? d.byteOrder ?? 'big') === 'little') {
    for (let i = 0; i < buf.length; i += 2) {
      const a = buf[i]!;
      buf[i] = buf[i + 1]!;
      buf[i + 1] = a;
    }
  }
  return buf;
}

function fromBytes(buf: Buffer, p: PointDef, d: ModbusDefaults): number[] {
  if ((p.byteOrder ?? d.byteOrder ?? 'big') === 'little') {
    for (let i = 0; i < buf.length; i += 2) {
      const a = buf[i]!;
      buf[i] = buf[i + 1]!;
      buf[i + 1] = a;
    }
  }
  const words: number[] = [];
  for (let i = 0; i < buf.length; i += 2) words.push(buf.readUInt16BE(i));
  return (p.wordOrder ?? d.wordOrder ?? 'big') === 'little' ? words.reverse() : words;
}

function rawOf(buf: Buffer, type: PointDef['type']): number {
  switch (type) {
    case 'int16':
      return buf.readInt16BE(0);
    case 'uint16':
    case 'bool':
      return buf.readUInt16BE(0);
    case 'int32':
      return buf.readInt32BE(0);
    case 'uint32':
      return buf.readUInt32BE(0);
    case 'float32':
      return buf.readFloatBE(0);
  }
}

/** Round away float noise from scaling (0.1 * 3 = 0.30000000000000004). */
const tidy = (x: number): number => (Number.isInteger(x) ? x : Number(x.toPrecision(12)));

/** Decode one point from the words (or bits) starting at its own address. */
export function decodePoint(
  p: PointDef,
  raw: readonly (number | boolean)[],
  d: ModbusDefaults = {},
): number | boolean {
  const width = pointWidth(p);
  if (raw.length < width)
    throw new CityGateError('decode', `point '${p.id}' needs ${width} value(s), got ${raw.length}`);
  if (isBitTable(p.table)) return Boolean(raw[0]);
  const regs = raw.slice(0, width).map(Number);
  if (p.type === 'bool') return p.bit === undefined ? regs[0] !== 0 : ((regs[0]! >> p.bit) & 1) === 1;
  const value = rawOf(toBytes(regs, p, d), p.type);
  if (p.type === 'float32') {
    if (!Number.isFinite(value)) return value;
    // A float32 carries ~7 significant digits; don't report float noise (50.4 reads as 50.400001525…).
    return tidy(Number(value.toPrecision(7)) * (p.scale ?? 1) + (p.offset ?? 0));
  }
  return tidy(value * (p.scale ?? 1) + (p.offset ?? 0));
}

/** Encode an engineering value into the registers (or one bit) to write at the point's address. */
export function encodePoint(
  p: PointDef,
  value: number | boolean,
  d: ModbusDefaults = {},
): number[] | boolean {
  if (isBitTable(p.table)) return Boolean(value);
  if (typeof value === 'boolean') value = value ? 1 : 0;
  if (!Number.isFinite(value)) throw new CityGateError('range', `${p.id}: ${value} is not a finite number`);
  if (p.min !== undefined && value < p.min)
    throw new CityGateError('range', `${p.id}: ${value} is below the minimum ${p.min}`);
  if (p.max !== undefined && value > p.max)
    throw new CityGateError('range', `${p.id}: ${value} is above the maximum ${p.max}`);
  const raw = (value - (p.offset ?? 0)) / (p.scale ?? 1);
  const buf = Buffer.alloc(pointWidth(p) * 2);
  const int = Math.round(raw);
  const limits: Partial<Record<PointDef['type'], [number, number]>> = {
    int16: [-0x8000, 0x7fff],
    uint16: [0, 0xffff],
    int32: [-0x80000000, 0x7fffffff],
    uint32: [0, 0xffffffff],
  };
  const lim = limits[p.type];
  if (lim && (int < lim[0] || int > lim[1])) {
    throw new CityGateError('range', `${p.id}: ${value} does not fit ${p.type}`);
  }
  switch (p.type) {
    case 'int16':
      buf.writeInt16BE(int);
      break;
    case 'uint16':
    case 'bool':
      buf.writeUInt16BE(int);
      break;
    case 'int32':
      buf.writeInt32BE(int);
      break;
    case 'uint32':
      buf.writeUInt32BE(int);
      break;
    case 'float32':
      buf.writeFloatBE(raw);
      break;
  }
  return fromBytes(buf, p, d);
}
