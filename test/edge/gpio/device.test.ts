import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import { memoryLogger } from '../../../common/log.js';
import { GpioDevice, type GpioReading } from '../../../edge/src/gpio/device.js';
import { FakeGpioBoard } from '../../../edge/src/gpio/fake.js';
import type { Direction, Edge, GpioOptions } from '../../../edge/src/gpio/types.js';
import { loadProfiles, type Profile } from '../../../hardware/src/profile.js';

const cabinet = loadProfiles().get('citygate/cabinet-io')!;
// cabinet-io: door-open BCM 5 (50 ms), tamper BCM 6 (50 ms), flood BCM 16 (active-low, 500 ms),
// contactor BCM 26 (output, active-low, initial false).

function setup(opts: { base?: number; accessible?: boolean; profile?: Profile; board?: FakeGpioBoard } = {}) {
  const clock = opts.board ? (opts.board.clock as FakeClock) : new FakeClock();
  const board = opts.board ?? new FakeGpioBoard(clock, { base: opts.base, accessible: opts.accessible });
  const readings: GpioReading[] = [];
  const log = memoryLogger();
  const dev = new GpioDevice({
    device: 'cab-1',
    profile: opts.profile ?? cabinet,
    backend: board.backend(),
    clock,
    log,
    events: { readings: (r) => readings.push(...r) },
  });
  return { clock, board, dev, readings, log };
}

const values = (rs: GpioReading[]) => Object.fromEntries(rs.map((r) => [r.point, r.value]));

describe('GpioDevice on the cabinet-io profile', () => {
  it('the profile is what these tests assume', () => {
    expect(cabinet.gpio?.pins.map((p) => [p.id, p.bcm, p.direction])).toEqual([
      ['door-open', 5, 'in'],
      ['tamper', 6, 'in'],
      ['flood', 16, 'in'],
      ['contactor', 26, 'out'],
    ]);
  });

  it('exports every pin and reports each once at start, honouring active-low', () => {
    const { board, dev, readings, clock } = setup();
    board.setLevel(5, 0); // door shut (switch to GND)
    board.setLevel(16, 1); // flood sensor idle high = dry
    dev.start();
    expect(readings.every((r) => r.device === 'cab-1' && r.ts === clock.now())).toBe(true);
    expect(values(readings)).toEqual({ 'door-open': false, tamper: false, flood: false, contactor: false });
    expect(board.info(5)).toMatchObject({ exported: true, direction: 'in', edge: 'both', activeLow: false });
    expect(board.info(16)).toMatchObject({ activeLow: true });
    // contactor: initial false on an active-low relay = wire high, set at export (no glitch low).
    expect(board.info(26)).toMatchObject({ direction: 'out', level: 1, activeLow: true });
  });

  it('reports a debounced edge once, at the time it settled', () => {
    const { board, dev, readings, clock } = setup();
    dev.start();
    readings.length = 0;
    const t0 = clock.now();
    board.setLevel(5, 1);
    clock.advance(5);
    board.setLevel(5, 0);
    clock.advance(5);
    board.setLevel(5, 1); // door opens, contacts bouncing for 10 ms
    clock.advance(49);
    expect(readings).toEqual([]);
    clock.advance(1);
    expect(readings).toEqual([{ device: 'cab-1', point: 'door-open', value: true, ts: t0 + 60 }]);
  });

  it('drops a bounce that settles back on the reported level', () => {
    const { board, dev, readings, clock } = setup();
    dev.start();
    readings.length = 0;
    board.setLevel(6, 1);
    clock.advance(20);
    board.setLevel(6, 0); // a knock on the cabinet, not a cut loop
    clock.advance(100);
    expect(readings).toEqual([]);
  });

  it('flood sensor: active-low with a 500 ms debounce', () => {
    const { board, dev, readings, clock } = setup();
    board.setLevel(16, 1);
    dev.start();
    readings.length = 0;
    board.setLevel(16, 0); // wet
    clock.advance(499);
    expect(readings).toEqual([]);
    clock.advance(1);
    expect(values(readings)).toEqual({ flood: true });
    expect(dev.read('flood')).toBe(true);
  });

  it('writes the contactor, reporting the new value; the relay sees the inverted wire level', async () => {
    const { board, dev, readings, clock } = setup();
    dev.start();
    readings.length = 0;
    clock.advance(1000);
    await dev.write('contactor', true);
    expect(board.level(26)).toBe(0);
    expect(dev.read('contactor')).toBe(true);
    expect(readings).toEqual([{ device: 'cab-1', point: 'contactor', value: true, ts: clock.now() }]);
    await dev.write('contactor', false);
    expect(board.level(26)).toBe(1);
  });

  it('refuses to write an input or an unknown pin, naming it', async () => {
    const { dev } = setup();
    dev.start();
    await expect(dev.write('door-open', true)).rejects.toThrow(
      "device cab-1 pin 'door-open' (BCM 5) is an input; only outputs can be written",
    );
    const err = await dev.write('siren', true).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CityGateError);
    expect((err as CityGateError).code).toBe('unknown-point');
    expect((err as Error).message).toBe(
      "device cab-1 has no GPIO pin 'siren' (pins: door-open, tamper, flood, contactor)",
    );
    expect(() => dev.read('siren')).toThrow(/no GPIO pin 'siren'/);
  });

  it('stop unexports inputs and keeps the contactor; a restart keeps its level instead of `initial`', async () => {
    const { board, dev } = setup();
    dev.start();
    await dev.write('contactor', true);
    dev.stop();
    expect([5, 6, 16].map((n) => board.info(n).exported)).toEqual([false, false, false]);
    expect(board.info(26)).toMatchObject({ exported: true, level: 0 });
    const again = setup({ board });
    again.dev.start();
    expect(values(again.readings).contactor).toBe(true);
    expect(board.level(26)).toBe(0);
    again.dev.stop({ releaseOutputs: true });
    expect(board.info(26).exported).toBe(false);
  });

  it('after stop, edges are no longer reported and writes are refused', async () => {
    const { board, dev, readings, clock } = setup();
    dev.start();
    dev.stop();
    readings.length = 0;
    board.setLevel(5, 1);
    clock.advance(100);
    expect(readings).toEqual([]);
    await expect(dev.write('contactor', true)).rejects.toThrow(/not started/);
  });

  it('uses the backend mapping: on a Pi 5 kernel BCM 5 is gpio 576', () => {
    const { board, dev } = setup({ base: 571 });
    dev.start();
    expect(board.info(576).exported).toBe(true);
    expect(board.info(5).exported).toBe(false);
  });

  it('fails to start where GPIO is not accessible, naming device and pin, and leaves nothing exported', () => {
    const { board, dev } = setup({ accessible: false });
    expect(() => dev.start()).toThrow(/device cab-1 pin 'door-open' \(BCM 5, gpio 5\): ENOENT/);
    board.accessible = true;
    expect(board.info(5).exported).toBe(false);
  });

  it('a pin that fails half way releases those already opened', () => {
    const clock = new FakeClock();
    const board = new FakeGpioBoard(clock);
    const Busy = class extends board.Gpio {
      constructor(gpio: number, direction: Direction, edge?: Edge, options?: GpioOptions) {
        if (gpio === 26) throw new Error('EBUSY: resource busy');
        super(gpio, direction, edge, options);
      }
    };
    const dev = new GpioDevice({
      device: 'cab-1',
      profile: cabinet,
      backend: { ...board.backend(), Gpio: Busy },
      clock,
      events: { readings: () => undefined },
    });
    expect(() => dev.start()).toThrow(/pin 'contactor' \(BCM 26, gpio 26\): EBUSY/);
    expect([5, 6, 16].map((p) => board.info(p).exported)).toEqual([false, false, false]);
  });

  it('rejects a profile without GPIO pins', () => {
    const light = loadProfiles().get('citygate/slc-100')!;
    expect(() => setup({ profile: light })).toThrow(/profile citygate\/slc-100 has no GPIO pins/);
  });
});
