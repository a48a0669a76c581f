import { afterEach, describe, expect, it } from 'vitest';
import { realClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { ModbusLine, type PointReading } from '../../../edge/src/modbus/line.js';
import { RtuTransport } from '../../../edge/src/modbus/rtu-transport.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { openPtyPair, type PtyPair } from '../../../hardware/src/sim/pty.js';
import { RtuSimulator } from '../../../hardware/src/sim/rtu-server.js';

const slc = loadProfiles().get('citygate/slc-100')!;
const BAUD = 19200;

/**
 * The device-layer fault requirements on a real pseudo-terminal pair with the wire time of a
 * 19200 8E1 RS-485 line emulated (5 ms slave turnaround), through the real line scheduler.
 */
describe('an RS-485 line with misbehaving units (socat pty, emulated 19200 8E1)', () => {
  let pty: PtyPair | undefined;
  let sim: RtuSimulator | undefined;
  let line: ModbusLine | undefined;
  afterEach(async () => {
    await line?.stop();
    await sim?.close();
    await pty?.close();
  });

  async function start(seed: number, setup: (sim: RtuSimulator) => void, timeoutMs = 100) {
    pty = await openPtyPair();
    let s = seed;
    const random = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    sim = new RtuSimulator(
      Array.from({ length: 8 }, (_, i) => ({ unitId: i + 1, profile: slc })),
      { random, wire: { baud: BAUD, parity: 'even', stopBits: 1, turnaroundMs: 5 } },
    );
    setup(sim);
    await sim.open(pty.b, { baudRate: BAUD, parity: 'even' });
    const readings: PointReading[] = [];
    const offline: string[] = [];
    line = new ModbusLine(
      'rs485',
      new RtuTransport({ path: pty.a, baudRate: BAUD, parity: 'even', stopBits: 1, timeoutMs }),
      realClock,
      memoryLogger('warn'),
      { readings: (r) => readings.push(...r), deviceState: (d, online) => !online && offline.push(d) },
      { minMs: 500, maxMs: 4000 },
    );
    for (let u = 1; u <= 8; u++)
      line.addDevice({ id: `light-${u}`, profile: slc.id, line: 'rs485', unitId: u, pollMs: 1000 }, slc);
    line.start();
    return { readings, offline, line };
  }

  it('keeps ≥ 90 % of the configured poll rate on healthy units while one unit is dead', async () => {
    const { offline, line: l } = await start(1, (s) => (s.device(4).faults = { silent: true }));
    const seconds = 6;
    await new Promise((r) => setTimeout(r, 1500)); // past start-up staggering and the dead unit's first timeouts
    const before = new Map([1, 2, 3, 5, 6, 7, 8].map((u) => [u, l.stats.device(`light-${u}`).ok]));
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const expected = (l.blockCount / 8) * seconds; // 2 blocks per device, each every second
    for (const [u, n0] of before) {
      const rate = (l.stats.device(`light-${u}`).ok - n0) / expected;
      expect(rate, `light-${u}`).toBeGreaterThanOrEqual(0.9);
    }
    expect(offline).toEqual(['light-4']);
    expect(l.stats.utilisation()).toBeGreaterThan(0);
  });

  it('attributes no reading to the wrong device or register with 1 % bad CRC and late replies', async () => {
    const { readings } = await start(
      7,
      (s) => {
        for (const d of s.units()) {
          d.set('dim', d.unitId * 10); // every unit holds distinct values: a mix-up would show
          d.faults = { badCrcRate: 0.01, delayMs: 150, delayRate: 0.01 };
        }
      },
      60,
    );
    await new Promise((r) => setTimeout(r, 8000));
    const dims = readings.filter((r) => r.point === 'dim');
    const powers = readings.filter((r) => r.point === 'power');
    expect(dims.length).toBeGreaterThan(20);
    for (const r of dims) expect(r.value, r.device).toBe(Number(r.device.split('-')[1]) * 10);
    for (const r of powers)
      expect(r.value, r.device).toBeCloseTo((120 * Number(r.device.split('-')[1]) * 10) / 100, 3);
    // Faults did happen and were survived.
    const failures = [...Array(8).keys()].reduce(
      (n, i) => n + line!.stats.device(`light-${i + 1}`).failed,
      0,
    );
    expect(failures).toBeGreaterThan(0);
  }, 20_000);
});
