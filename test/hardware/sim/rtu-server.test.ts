import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { crcOk, frameTimeMs, interFrameSilenceMs, rtuFrame } from '../../../hardware/src/modbus-rtu.js';
import { rollFaults } from '../../../hardware/src/sim/faults.js';
import { RtuSimulator } from '../../../hardware/src/sim/rtu-server.js';
import { bankProfile, bankValue, fillBank, seededRandom } from '../../fixtures/register-bank.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const readHolding = (unit: number, address: number, count: number): Buffer =>
  rtuFrame(unit, Buffer.from([3, address >> 8, address & 0xff, count >> 8, count & 0xff]));

function setup(options: ConstructorParameters<typeof RtuSimulator>[1] = {}) {
  const sim = new RtuSimulator(
    [
      { unitId: 1, profile: bankProfile },
      { unitId: 2, profile: bankProfile },
    ],
    options,
  );
  sim.units().forEach(fillBank);
  const out: Buffer[] = [];
  sim.attach((adu) => out.push(adu));
  return { sim, out };
}

describe('RtuSimulator (bytes in, bytes out)', () => {
  it('answers a read synchronously, without waiting for a timer', () => {
    const { sim, out } = setup();
    sim.receive(readHolding(1, 4, 2));
    expect(out).toHaveLength(1);
    const reply = out[0]!;
    expect(crcOk(reply)).toBe(true);
    expect([...reply.subarray(0, 3)]).toEqual([1, 3, 4]);
    expect(reply.readUInt16BE(3)).toBe(bankValue('holding', 4));
    expect(reply.readUInt16BE(5)).toBe(bankValue('holding', 5));
    expect(sim.device(1).requests).toBe(1);
  });

  it('serves a request split over chunks and skips garbage around it', () => {
    const { sim, out } = setup();
    const req = readHolding(2, 0, 1);
    sim.receive(Buffer.concat([hex('ff 00'), req.subarray(0, 3)]));
    expect(out).toHaveLength(0);
    sim.receive(Buffer.concat([req.subarray(3), hex('fe')]));
    expect(out).toHaveLength(1);
    expect(out[0]!.readUInt16BE(3)).toBe(bankValue('holding', 0, 2));
    expect(sim.garbageBytes).toBe(3);
  });

  it('stays silent for units it does not serve and for broadcasts, but applies broadcast writes', () => {
    const { sim, out } = setup();
    sim.receive(readHolding(9, 0, 1));
    sim.receive(rtuFrame(0, hex('06 0003 beef')));
    expect(out).toHaveLength(0);
    expect(sim.stats).toMatchObject({ frames: 2, ignored: 1, broadcasts: 1 });
    expect(sim.device(1).tables.holding.get(3)).toBe(0xbeef);
    expect(sim.device(2).tables.holding.get(3)).toBe(0xbeef);
  });

  it('commits each fault on request', () => {
    const { sim, out } = setup();
    const dev = sim.device(1);
    dev.faults = { badCrc: true };
    sim.receive(readHolding(1, 0, 1));
    expect(crcOk(out.pop()!)).toBe(false);
    dev.faults = { wrongUnit: true };
    sim.receive(readHolding(1, 0, 1));
    const wrong = out.pop()!;
    expect(crcOk(wrong)).toBe(true);
    expect(wrong[0]).toBe(2);
    dev.faults = { wrongUnit: 42 };
    sim.receive(readHolding(1, 0, 1));
    expect(out.pop()![0]).toBe(42);
    dev.faults = { exception: 6 };
    sim.receive(readHolding(1, 0, 1));
    expect(out.pop()).toEqual(rtuFrame(1, hex('83 06')));
    dev.faults = { truncate: true };
    sim.receive(readHolding(1, 0, 1));
    expect(out.pop()).toEqual(Buffer.from([1, 3, 2, bankValue('holding', 0) >> 8])); // 7 bytes cut to 4
    dev.faults = { silent: true };
    sim.receive(readHolding(1, 0, 1));
    expect(out).toHaveLength(0);
    sim.receive(readHolding(1, 900, 1)); // silence beats everything
    dev.faults = {};
    sim.receive(readHolding(1, 900, 1));
    expect(out.pop()).toEqual(rtuFrame(1, hex('83 02'))); // the device's own exception
  });

  it('answers late on its clock when told to', () => {
    const clock = new FakeClock(0);
    const { sim, out } = setup({ clock, lineClock: clock });
    sim.device(1).faults = { delayMs: 50 };
    sim.receive(readHolding(1, 0, 1));
    clock.advance(49);
    expect(out).toHaveLength(0);
    clock.advance(1);
    expect(out).toHaveLength(1);
  });

  it('applies fault rates from the injected random source', () => {
    const { sim, out } = setup({ random: seededRandom(7) });
    sim.device(1).faults = { badCrcRate: 0.25 };
    for (let i = 0; i < 2000; i++) sim.receive(readHolding(1, i % 100, 1));
    const bad = out.filter((f) => !crcOk(f)).length;
    expect(out).toHaveLength(2000);
    expect(bad).toBeGreaterThan(400);
    expect(bad).toBeLessThan(600);
  });

  it('writes a reply when its last byte would have crossed the emulated wire', () => {
    const clock = new FakeClock(0);
    const wire = { baud: 9600, parity: 'none' as const, stopBits: 2 as const, turnaroundMs: 3 };
    const { sim, out } = setup({ clock, lineClock: clock, wire });
    sim.receive(readHolding(1, 0, 10));
    const due = frameTimeMs(8, wire) + interFrameSilenceMs(9600) + 3 + frameTimeMs(25, wire);
    clock.advance(Math.floor(due));
    expect(out).toHaveLength(0);
    clock.advance(1);
    expect(out).toHaveLength(1);
    expect(sim.wire!.busyUntil).toBeCloseTo(due, 9);
  });
});

describe('rollFaults', () => {
  it('applies a fault without a rate always, a rate alone enables it, false disables it', () => {
    const never = () => 0.99;
    const always = () => 0;
    expect(rollFaults({ silent: true }, 1, never).silent).toBe(true);
    expect(rollFaults({ silentRate: 0.5 }, 1, never).silent).toBe(false);
    expect(rollFaults({ silentRate: 0.5 }, 1, always).silent).toBe(true);
    expect(rollFaults({ badCrc: false, badCrcRate: 1 }, 1, always).badCrc).toBe(false);
    expect(rollFaults({ delayMs: 30, delayRate: 0.1 }, 1, never).delayMs).toBe(0);
    expect(rollFaults({ delayMs: 30, delayRate: 0.1 }, 1, always).delayMs).toBe(30);
    expect(rollFaults({ exception: 4 }, 1, never).exception).toBe(4);
    expect(rollFaults({ wrongUnitRate: 1 }, 247, always).wrongUnit).toBe(1);
    expect(rollFaults({}, 1, always)).toEqual({
      silent: false,
      delayMs: 0,
      exception: undefined,
      badCrc: false,
      wrongUnit: undefined,
      truncate: false,
    });
  });
});
