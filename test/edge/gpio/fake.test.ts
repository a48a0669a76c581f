import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { FakeGpioBoard } from '../../../edge/src/gpio/fake.js';
import type { BinaryValue } from '../../../edge/src/gpio/types.js';

function setup(opts?: { accessible?: boolean; base?: number }) {
  const clock = new FakeClock();
  const board = new FakeGpioBoard(clock, opts);
  return { clock, board, Gpio: board.Gpio };
}

function collect() {
  const seen: { value: BinaryValue; at: number }[] = [];
  return {
    seen,
    cb: (clock: FakeClock) => (err: Error | null | undefined, value: BinaryValue) => {
      expect(err).toBeNull();
      seen.push({ value, at: clock.now() });
    },
  };
}

describe('FakeGpioBoard mirrors onoff', () => {
  it('has onoff statics and reports accessibility', () => {
    const { Gpio, board } = setup();
    expect([Gpio.HIGH, Gpio.LOW, Gpio.accessible]).toEqual([1, 0, true]);
    board.accessible = false;
    expect(Gpio.accessible).toBe(false);
  });

  it('throws like onoff (ENOENT on the export file) where GPIO is not accessible', () => {
    const { Gpio } = setup({ accessible: false });
    expect(() => new Gpio(17, 'in')).toThrow(
      /ENOENT: no such file or directory, open '\/sys\/class\/gpio\/export'/,
    );
  });

  it('exports on construction and reads the level a test drives, sync, promise and callback', async () => {
    const { Gpio, board } = setup();
    board.setLevel(17, 1);
    const pin = new Gpio(17, 'in');
    expect(board.info(17)).toMatchObject({ exported: true, direction: 'in', lines: 1 });
    expect(pin.readSync()).toBe(1);
    board.setLevel(17, 0);
    await expect(pin.read()).resolves.toBe(0);
    const viaCallback = await new Promise<BinaryValue>((resolve, reject) =>
      pin.read((err, v) => (err ? reject(err) : resolve(v))),
    );
    expect(viaCallback).toBe(0);
  });

  it('reports edges to watchers; rising/falling filter by the new value; unwatch stops them', () => {
    const { Gpio, board, clock } = setup();
    const both = new Gpio(17, 'in', 'both');
    const a = collect();
    both.watch(a.cb(clock));
    board.setLevel(17, 1);
    board.setLevel(17, 1); // no change, no edge
    board.setLevel(17, 0);
    expect(a.seen.map((s) => s.value)).toEqual([1, 0]);

    const rising = new Gpio(27, 'in', 'rising');
    const r = collect();
    rising.watch(r.cb(clock));
    board.setLevel(27, 1);
    board.setLevel(27, 0);
    board.setLevel(27, 1);
    expect(r.seen.map((s) => s.value)).toEqual([1, 1]);

    both.unwatch();
    board.setLevel(17, 1);
    expect(a.seen).toHaveLength(2);
  });

  it('an input exported with edge none raises no interrupts', () => {
    const { Gpio, board, clock } = setup();
    const pin = new Gpio(5, 'in', 'none');
    const c = collect();
    pin.watch(c.cb(clock));
    board.setLevel(5, 1);
    expect(c.seen).toEqual([]);
    expect(pin.readSync()).toBe(1);
  });

  it('debounces on the injected clock: bounces restart the timer, one report once quiet', () => {
    const { Gpio, board, clock } = setup();
    const pin = new Gpio(17, 'in', 'both', { debounceTimeout: 50 });
    const c = collect();
    pin.watch(c.cb(clock));
    const t0 = clock.now();
    for (const level of [1, 0, 1, 0, 1] as const) {
      board.setLevel(17, level);
      clock.advance(10);
    }
    expect(c.seen).toEqual([]); // still bouncing: 10 ms < 50 ms between changes
    clock.advance(39);
    expect(c.seen).toEqual([]);
    clock.advance(1); // 50 ms after the last bounce
    expect(c.seen).toEqual([{ value: 1, at: t0 + 90 }]);
    clock.advance(1000);
    expect(c.seen).toHaveLength(1);
    // A glitch that settles back is still reported by onoff (edge both, value 1): the consumer filters.
    board.setLevel(17, 0);
    board.setLevel(17, 1);
    clock.advance(50);
    expect(c.seen.map((s) => s.value)).toEqual([1, 1]);
    expect(clock.pendingCount()).toBe(0);
  });

  it('active-low inverts reads and writes and swaps rising/falling edges (as sysfs does)', () => {
    const { Gpio, board, clock } = setup();
    const input = new Gpio(16, 'in', 'rising', { activeLow: true });
    const c = collect();
    input.watch(c.cb(clock));
    expect(input.readSync()).toBe(1); // wire low
    board.setLevel(16, 1); // wire rising = logical falling: filtered out
    expect(c.seen).toEqual([]);
    board.setLevel(16, 0); // wire falling = logical rising
    expect(c.seen.map((s) => s.value)).toEqual([1]);

    const out = new Gpio(26, 'out', undefined, { activeLow: true });
    out.writeSync(1);
    expect(board.level(26)).toBe(0);
    expect(out.readSync()).toBe(1);
    expect(out.activeLow()).toBe(true);
  });

  it('"high"/"low" set the physical level at export, ignoring active-low (kernel semantics)', () => {
    const { Gpio, board } = setup();
    const out = new Gpio(26, 'high', undefined, { activeLow: true });
    expect(board.level(26)).toBe(1);
    expect(out.readSync()).toBe(0);
    expect(out.direction()).toBe('out');
  });

  it('writes outputs by promise and callback; writing an input fails with EPERM', async () => {
    const { Gpio, board } = setup();
    const out = new Gpio(26, 'out');
    await out.write(1);
    expect(board.level(26)).toBe(1);
    await new Promise<void>((resolve, reject) => out.write(0, (err) => (err ? reject(err) : resolve())));
    expect(board.level(26)).toBe(0);
    const input = new Gpio(17, 'in');
    expect(() => input.writeSync(1)).toThrow(/EPERM/);
    await expect(input.write(1)).rejects.toThrow(/EPERM/);
    expect(() => board.setLevel(26, 1)).toThrow(/is an output/);
  });

  it('reconfigureDirection false keeps an exported output and its level', () => {
    const { Gpio, board } = setup();
    new Gpio(26, 'high');
    const again = new Gpio(26, 'out', undefined, { reconfigureDirection: false });
    expect(board.level(26)).toBe(1);
    again.writeSync(0);
    expect(board.level(26)).toBe(0);
    new Gpio(26, 'out'); // default reconfigures: "out" drives low
    expect(board.level(26)).toBe(0);
  });

  it('accepts the options object in place of the edge, as onoff does', () => {
    const { Gpio, board } = setup();
    const pin = new Gpio(16, 'in', { activeLow: true } as never);
    expect(pin.activeLow()).toBe(true);
    expect(board.info(16).edge).toBe('none');
  });

  it('unexport stops watching, releases the pin and closes the object', () => {
    const { Gpio, board, clock } = setup();
    const pin = new Gpio(17, 'in', 'both', { debounceTimeout: 20 });
    const c = collect();
    pin.watch(c.cb(clock));
    board.setLevel(17, 1);
    pin.unexport();
    clock.advance(100);
    expect(c.seen).toEqual([]);
    expect(board.info(17)).toMatchObject({ exported: false, lines: 0 });
    expect(() => pin.readSync()).toThrow(/EBADF/);
    expect(() => pin.unexport()).toThrow(/EBADF/);
  });

  it('its backend maps BCM numbers with an offset, like a Pi 5 kernel', () => {
    const { board } = setup({ base: 571 });
    const backend = board.backend();
    expect(backend.gpioNumber(17)).toBe(588);
    expect(backend.exportedDirection(588)).toBeUndefined();
    new backend.Gpio(588, 'low');
    expect(backend.exportedDirection(588)).toBe('out');
  });
});
