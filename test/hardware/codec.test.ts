import { describe, expect, it } from 'vitest';
import { CityGateError } from '../../common/errors.js';
import { decodePoint, encodePoint } from '../../hardware/src/codec.js';
import type { ModbusDefaults, PointDef } from '../../hardware/src/profile.js';

const reg = (over: Partial<PointDef>): PointDef => ({
  id: 'p',
  name: 'P',
  table: 'holding',
  address: 0,
  type: 'uint16',
  access: 'rw',
  ...over,
});

function rangeError(fn: () => unknown): CityGateError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CityGateError);
    expect((err as CityGateError).code).toBe('range');
    return err as CityGateError;
  }
  throw new Error('expected a range error');
}

describe('float32', () => {
  it('big word order puts the high word first (IEEE 754: 1.0 = 0x3F800000)', () => {
    const p = reg({ type: 'float32' });
    expect(encodePoint(p, 1)).toEqual([0x3f80, 0x0000]);
    expect(decodePoint(p, [0x42f7, 0x0000])).toBe(123.5);
  });

  it('vendor word-swapped ("wordOrder": "little") puts the low word first', () => {
    const p = reg({ type: 'float32', wordOrder: 'little' });
    expect(encodePoint(p, 1)).toEqual([0x0000, 0x3f80]);
    expect(decodePoint(p, [0x0000, 0x42f7])).toBe(123.5);
    // -12.75 = 0xC14C0000; 3.14159 ≈ 0x40490FD0
    expect(encodePoint(p, -12.75)).toEqual([0x0000, 0xc14c]);
    expect(decodePoint(p, [0x0fd0, 0x4049])).toBeCloseTo(3.14159, 5);
  });

  it('byte order little swaps the bytes inside each word, independently of word order', () => {
    expect(encodePoint(reg({ type: 'float32', byteOrder: 'little' }), 1)).toEqual([0x803f, 0x0000]);
    expect(encodePoint(reg({ type: 'float32', byteOrder: 'little', wordOrder: 'little' }), 1)).toEqual([
      0x0000, 0x803f,
    ]);
    expect(decodePoint(reg({ type: 'float32', byteOrder: 'little', wordOrder: 'little' }), [0, 0xf742])).toBe(
      123.5,
    );
  });

  it('returns a non-finite reading as is instead of scaling it', () => {
    const p = reg({ type: 'float32', scale: 10, offset: 1 });
    expect(decodePoint(p, [0x7fc0, 0x0000])).toBeNaN();
    expect(decodePoint(p, [0x7f80, 0x0000])).toBe(Infinity);
  });
});

describe('int32 and uint32', () => {
  it('big word order: high word first', () => {
    const p = reg({ type: 'int32' });
    expect(encodePoint(p, 0x12345678)).toEqual([0x1234, 0x5678]);
    expect(encodePoint(p, -2)).toEqual([0xffff, 0xfffe]);
    expect(decodePoint(p, [0xffff, 0xfffe])).toBe(-2);
    expect(decodePoint(p, [0x8000, 0x0000])).toBe(-0x80000000);
  });

  it('little word order: low word first', () => {
    const p = reg({ type: 'int32', wordOrder: 'little' });
    expect(encodePoint(p, 0x12345678)).toEqual([0x5678, 0x1234]);
    expect(encodePoint(p, -2)).toEqual([0xfffe, 0xffff]);
    expect(decodePoint(p, [0x0000, 0x8000])).toBe(-0x80000000);
  });

  it('takes the profile-wide order as default, a point-level order overrides it', () => {
    const d: ModbusDefaults = { wordOrder: 'little', byteOrder: 'little' };
    expect(encodePoint(reg({ type: 'int32' }), 0x12345678, d)).toEqual([0x7856, 0x3412]);
    expect(encodePoint(reg({ type: 'int32', wordOrder: 'big', byteOrder: 'big' }), 0x12345678, d)).toEqual([
      0x1234, 0x5678,
    ]);
  });

  it('uint32 above 2^31 stays positive; int32 with scale', () => {
    expect(decodePoint(reg({ type: 'uint32' }), [0xffff, 0xffff])).toBe(4294967295);
    expect(decodePoint(reg({ type: 'int32', scale: 0.1 }), [0xffff, 0xff9c])).toBe(-10);
    expect(encodePoint(reg({ type: 'int32', scale: 0.1 }), -10)).toEqual([0xffff, 0xff9c]);
  });
});

describe('16-bit types', () => {
  it('int16 decodes negative values (0.1 °C: 0xFF74 = -14.0 °C)', () => {
    const p = reg({ type: 'int16', scale: 0.1 });
    expect(decodePoint(p, [0xff74])).toBe(-14);
    expect(decodePoint(p, [0x8000])).toBe(-3276.8);
    expect(encodePoint(p, -14)).toEqual([0xff74]);
    expect(encodePoint(p, -0.1)).toEqual([0xffff]);
  });

  it('the same word as uint16 is positive', () => {
    expect(decodePoint(reg({ type: 'uint16' }), [0xff74])).toBe(65396);
  });

  it('byte order little swaps the two bytes', () => {
    const p = reg({ type: 'int16', byteOrder: 'little' });
    expect(encodePoint(p, 0x1234)).toEqual([0x3412]);
    expect(decodePoint(p, [0x74ff])).toBe(-140);
  });

  it('removes float noise from scaling', () => {
    expect(decodePoint(reg({ scale: 0.1 }), [3])).toBe(0.3);
    expect(decodePoint(reg({ scale: 0.01 }), [1146])).toBe(11.46);
  });
});

describe('bits', () => {
  it('bit fields of a status register', () => {
    const word = 0b1_0110;
    const bits = [0, 1, 2, 3, 4].map((bit) =>
      decodePoint(reg({ type: 'bool', bit, table: 'input' }), [word]),
    );
    expect(bits).toEqual([false, true, true, false, true]);
    expect(decodePoint(reg({ type: 'bool', bit: 15, table: 'input' }), [0x8000])).toBe(true);
    expect(decodePoint(reg({ type: 'bool', bit: 14, table: 'input' }), [0x8000])).toBe(false);
  });

  it('coils and discrete inputs are booleans', () => {
    expect(encodePoint(reg({ table: 'coil', type: 'bool' }), true)).toBe(true);
    expect(encodePoint(reg({ table: 'coil', type: 'bool' }), 0)).toBe(false);
    expect(decodePoint(reg({ table: 'discrete', type: 'bool' }), [1])).toBe(true);
    expect(decodePoint(reg({ table: 'discrete', type: 'bool' }), [false])).toBe(false);
  });
});

describe('scale and offset: a 4-20 mA level sensor read as µA (4000 µA = 0 m, 20000 µA = 5 m)', () => {
  const level = reg({ table: 'input', access: 'r', scale: 5 / 16000, offset: -1.25, unit: 'm' });

  it('decodes the span end points, mid-scale and an under-range fault current', () => {
    expect(decodePoint(level, [4000])).toBe(0);
    expect(decodePoint(level, [20000])).toBe(5);
    expect(decodePoint(level, [12000])).toBe(2.5);
    expect(decodePoint(level, [3800])).toBe(-0.0625);
  });

  it('encodes metres back to µA', () => {
    expect(encodePoint(level, 0)).toEqual([4000]);
    expect(encodePoint(level, 5)).toEqual([20000]);
    expect(encodePoint(level, 1.2345)).toEqual([7950]); // nearest µA
  });
});

describe('round trips', () => {
  const cases: [Partial<PointDef>, number][] = [
    [{ type: 'uint16' }, 65535],
    [{ type: 'int16' }, -32768],
    [{ type: 'int16', byteOrder: 'little' }, -1234],
    [{ type: 'uint32', wordOrder: 'little' }, 4000000000],
    [{ type: 'int32', wordOrder: 'little', byteOrder: 'little' }, -123456789],
    [{ type: 'int32', scale: 0.1 }, -214748364.8],
    [{ type: 'float32', wordOrder: 'little' }, 0.15625],
    [{ type: 'float32', byteOrder: 'little' }, -1e-3],
    [{ type: 'uint16', scale: 0.1, min: 25, max: 50 }, 47.3],
    [{ type: 'uint16', scale: 5 / 16000, offset: -1.25 }, 3.125],
    [{ type: 'uint32', scale: 0.01 }, 42949672.95],
  ];
  it.each(cases)('%j: %d', (over, value) => {
    const p = reg(over);
    const words = encodePoint(p, value) as number[];
    expect(words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff)).toBe(true);
    const back = decodePoint(p, words);
    if (p.type === 'float32') expect(back).toBeCloseTo(value, 6);
    else expect(back).toBe(value);
  });
});

describe('range errors', () => {
  it('respects the point min and max', () => {
    const sp = reg({ scale: 0.1, min: 25, max: 50 });
    expect(rangeError(() => encodePoint(sp, 24.9)).message).toMatch(/below the minimum 25/);
    expect(rangeError(() => encodePoint(sp, 50.1)).message).toMatch(/above the maximum 50/);
    expect(encodePoint(sp, 50)).toEqual([500]);
  });

  it('rejects values that do not fit the register type', () => {
    expect(rangeError(() => encodePoint(reg({ type: 'uint16' }), 65536)).message).toMatch(
      /does not fit uint16/,
    );
    rangeError(() => encodePoint(reg({ type: 'uint16' }), -1));
    rangeError(() => encodePoint(reg({ type: 'int16' }), 32768));
    rangeError(() => encodePoint(reg({ type: 'int16' }), -32769));
    rangeError(() => encodePoint(reg({ type: 'int32' }), 2 ** 31));
    rangeError(() => encodePoint(reg({ type: 'uint32' }), 2 ** 32));
    rangeError(() => encodePoint(reg({ type: 'uint16', scale: 0.1 }), 6553.6));
    // -1.26 m is below 0 µA, which a uint16 cannot carry
    rangeError(() => encodePoint(reg({ type: 'uint16', scale: 5 / 16000, offset: -1.25 }), -1.26));
  });

  it('rejects NaN and infinities instead of writing garbage', () => {
    rangeError(() => encodePoint(reg({ type: 'uint16' }), NaN));
    rangeError(() => encodePoint(reg({ type: 'float32' }), NaN));
    rangeError(() => encodePoint(reg({ type: 'float32' }), Infinity));
    rangeError(() => encodePoint(reg({ type: 'int16' }), -Infinity));
  });

  it('fails to decode when too few registers are given', () => {
    expect(() => decodePoint(reg({ type: 'float32' }), [0x3f80])).toThrow(
      expect.objectContaining({ code: 'decode' }) as Error,
    );
  });
});
