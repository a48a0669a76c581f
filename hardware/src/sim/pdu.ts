import type { Table } from '../profile.js';
import { ModbusException, type SimDevice } from './device.js';

/** Answers one Modbus PDU (function code + data) against a simulated device. Pure apart from the device. */

const READS: Record<number, { table: Table; max: number }> = {
  1: { table: 'coil', max: 2000 },
  2: { table: 'discrete', max: 2000 },
  3: { table: 'holding', max: 125 },
  4: { table: 'input', max: 125 },
};

function exception(fc: number, code: number): Buffer {
  return Buffer.from([fc | 0x80, code]);
}

function packBits(bits: readonly number[]): Buffer {
  const out = Buffer.alloc(Math.ceil(bits.length / 8));
  bits.forEach((b, i) => {
    if (b) out[i >> 3]! |= 1 << (i & 7);
  });
  return out;
}

export function handlePdu(dev: SimDevice, pdu: Buffer): Buffer {
  const fc = pdu[0] ?? 0;
  try {
    const read = READS[fc];
    if (read) {
      if (pdu.length !== 5) return exception(fc, 3);
      const address = pdu.readUInt16BE(1);
      const count = pdu.readUInt16BE(3);
      if (count < 1 || count > read.max) return exception(fc, 3);
      const values = dev.read(read.table, address, count);
      if (fc <= 2) {
        const bytes = packBits(values);
        return Buffer.concat([Buffer.from([fc, bytes.length]), bytes]);
      }
      const out = Buffer.alloc(2 + count * 2);
      out[0] = fc;
      out[1] = count * 2;
      values.forEach((v, i) => out.writeUInt16BE(v, 2 + i * 2));
      return out;
    }
    switch (fc) {
      case 5: {
        if (pdu.length !== 5) return exception(fc, 3);
        const value = pdu.readUInt16BE(3);
        if (value !== 0xff00 && value !== 0x0000) return exception(fc, 3);
        dev.write('coil', pdu.readUInt16BE(1), [value === 0xff00 ? 1 : 0]);
        return Buffer.from(pdu);
      }
      case 6: {
        if (pdu.length !== 5) return exception(fc, 3);
        dev.write('holding', pdu.readUInt16BE(1), [pdu.readUInt16BE(3)]);
        return Buffer.from(pdu);
      }
      case 15: {
        const address = pdu.readUInt16BE(1);
        const count = pdu.readUInt16BE(3);
        const bytes = pdu[5] ?? 0;
        if (count < 1 || count > 1968 || bytes !== Math.ceil(count / 8) || pdu.length !== 6 + bytes)
          return exception(fc, 3);
        const bits = Array.from({ length: count }, (_, i) => ((pdu[6 + (i >> 3)]! >> (i & 7)) & 1) as number);
        dev.write('coil', address, bits);
        return pdu.subarray(0, 5);
      }
      case 16: {
        const address = pdu.readUInt16BE(1);
        const count = pdu.readUInt16BE(3);
        const bytes = pdu[5] ?? 0;
        if (count < 1 || count > 123 || bytes !== count * 2 || pdu.length !== 6 + bytes)
          return exception(fc, 3);
        const words = Array.from({ length: count }, (_, i) => pdu.readUInt16BE(6 + i * 2));
        dev.write('holding', address, words);
        return pdu.subarray(0, 5);
      }
      default:
        return exception(fc, 1);
    }
  } catch (err) {
    if (err instanceof ModbusException) return exception(fc, err.modbusCode);
    if (err instanceof RangeError) return exception(fc, 3);
    return exception(fc, 4);
  }
}
