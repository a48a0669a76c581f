import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../common/clock.js';
import {
  charBits,
  crc16,
  crcOk,
  expectedResponseLength,
  frameTimeMs,
  interFrameSilenceMs,
  requestLength,
  responseLength,
  RtuRequestParser,
  rtuFrame,
  scheduleAt,
} from '../../hardware/src/modbus-rtu.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('CRC-16/Modbus', () => {
  it('matches the standard check value and a textbook frame', () => {
    expect(crc16(Buffer.from('123456789'))).toBe(0x4b37);
    // Read 10 holding registers from unit 1 at 0: the classic example frame ends C5 CD.
    expect(rtuFrame(1, hex('03 0000 000a'))).toEqual(hex('01 03 0000 000a c5cd'));
  });

  it('accepts a good frame and rejects any single flipped bit', () => {
    const f = rtuFrame(17, hex('10 0001 0002 04 000a 0102'));
    expect(crcOk(f)).toBe(true);
    for (let i = 0; i < f.length * 8; i++) {
      const g = Buffer.from(f);
      g[i >> 3]! ^= 1 << (i & 7);
      expect(crcOk(g)).toBe(false);
    }
    expect(crcOk(hex('0103'))).toBe(false); // too short to carry a CRC
  });
});

describe('wire time', () => {
  it('counts 11 bits per character for 8E1 and 8N2, 10 for 8N1', () => {
    expect(charBits({ parity: 'even', stopBits: 1 })).toBe(11);
    expect(charBits({ parity: 'none', stopBits: 2 })).toBe(11);
    expect(charBits({ parity: 'none', stopBits: 1 })).toBe(10);
    expect(frameTimeMs(8, { baud: 19200, parity: 'even', stopBits: 1 })).toBeCloseTo(
      (8 * 11 * 1000) / 19200,
      9,
    );
    expect(frameTimeMs(25, { baud: 9600, parity: 'none', stopBits: 1 })).toBeCloseTo(
      (25 * 10 * 1000) / 9600,
      9,
    );
    expect(frameTimeMs(10, { baud: 115200, parity: 'odd', stopBits: 2 })).toBeCloseTo(
      (10 * 12 * 1000) / 115200,
      9,
    );
  });

  it('uses 3.5 character times of silence up to 19200 baud and 1.75 ms above', () => {
    expect(interFrameSilenceMs(9600)).toBeCloseTo(4.0104, 3);
    expect(interFrameSilenceMs(19200)).toBeCloseTo(2.0052, 3);
    expect(interFrameSilenceMs(38400)).toBe(1.75);
    expect(interFrameSilenceMs(115200)).toBe(1.75);
  });
});

describe('frame lengths', () => {
  it('knows request lengths per function code, once the byte count is in', () => {
    expect(requestLength(hex('01 03 0000'))).toBe(8);
    expect(requestLength(hex('01 05'))).toBe(8);
    expect(requestLength(hex('01 10 0000 0002'))).toBeUndefined(); // byte count not yet here
    expect(requestLength(hex('01 10 0000 0002 04'))).toBe(13);
    expect(requestLength(hex('01 0f 0000 000a 02'))).toBe(11);
    expect(requestLength(hex('01'))).toBeUndefined();
    expect(requestLength(hex('01 63'))).toBeNull(); // unknown function
    expect(requestLength(hex('f8 03'))).toBeNull(); // reserved unit id
  });

  it('reads response lengths from their own header, exceptions included', () => {
    expect(responseLength(hex('01 03 14'))).toBe(25);
    expect(responseLength(hex('01 01 02'))).toBe(7);
    expect(responseLength(hex('01 83'))).toBe(5);
    expect(responseLength(hex('01 06'))).toBe(8);
    expect(responseLength(hex('01 03'))).toBeUndefined();
    expect(responseLength(hex('01 63 00'))).toBeNull();
    expect(expectedResponseLength(3, 10)).toBe(25);
    expect(expectedResponseLength(1, 9)).toBe(7);
    expect(expectedResponseLength(16, 50)).toBe(8);
  });
});

describe('RtuRequestParser', () => {
  const read = rtuFrame(1, hex('03 0000 000a'));
  const write = rtuFrame(2, hex('10 0010 0002 04 1234 5678'));

  it('assembles frames split at any point and several frames in one chunk', () => {
    const stream = Buffer.concat([read, write, read]);
    for (let cut = 1; cut < stream.length; cut++) {
      const p = new RtuRequestParser();
      const frames = [...p.push(stream.subarray(0, cut)), ...p.push(stream.subarray(cut))];
      expect(frames).toEqual([read, write, read]);
      expect(p.garbageBytes).toBe(0);
      expect(p.pending).toBe(0);
    }
  });

  it('feeds byte by byte', () => {
    const p = new RtuRequestParser();
    const frames = [...Buffer.concat([write, read])].flatMap((b) => p.push(Buffer.from([b])));
    expect(frames).toEqual([write, read]);
  });

  it('skips garbage before, between and after frames and resynchronises', () => {
    const p = new RtuRequestParser();
    const junk = hex('ff fe 00 63 99');
    const frames = p.push(Buffer.concat([junk, read, hex('fa'), write, hex('ff')]));
    expect(frames).toEqual([read, write]);
    expect(p.garbageBytes).toBe(junk.length + 1 + 1);
  });

  it('drops a frame with a bad CRC and still finds the next one', () => {
    const bad = Buffer.from(read);
    bad[bad.length - 1]! ^= 0xff;
    const p = new RtuRequestParser();
    expect(p.push(Buffer.concat([bad, write]))).toEqual([write]);
    expect(p.garbageBytes).toBe(bad.length);
  });

  it('gives up on a partial frame when a complete valid one follows it', () => {
    // "01 10 ... ff": a write-multiple header claiming 255 data bytes, never completed.
    const p = new RtuRequestParser();
    expect(p.push(hex('01 10 0000 0002 ff'))).toEqual([]);
    expect(p.pending).toBe(7);
    expect(p.push(read)).toEqual([read]);
    expect(p.pending).toBe(0);
    expect(p.garbageBytes).toBe(7);
  });

  it('keeps a partial frame until it completes', () => {
    const p = new RtuRequestParser();
    expect(p.push(write.subarray(0, 5))).toEqual([]);
    expect(p.pending).toBe(5);
    expect(p.push(write.subarray(5))).toEqual([write]);
  });
});

describe('scheduleAt', () => {
  it('runs at the due time on a fake clock, and not after cancel', () => {
    const clock = new FakeClock(0);
    const now = () => clock.now();
    const fired: number[] = [];
    scheduleAt(clock, now, 10, () => fired.push(clock.now()));
    const t = scheduleAt(clock, now, 5, () => fired.push(-1));
    t.cancel();
    clock.advance(9);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([10]);
    scheduleAt(clock, now, 3, () => fired.push(99)); // already due: runs at once
    expect(fired).toEqual([10, 99]);
  });
});
