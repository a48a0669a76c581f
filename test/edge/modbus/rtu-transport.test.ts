import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ModbusError } from '../../../edge/src/modbus/errors.js';
import { RtuTransport } from '../../../edge/src/modbus/rtu-transport.js';
import type { Table } from '../../../hardware/src/profile.js';
import { openPtyPair, type PtyPair } from '../../../hardware/src/sim/pty.js';
import { RtuSimulator } from '../../../hardware/src/sim/rtu-server.js';
import {
  BANK_SIZE,
  bankProfile,
  expectedBank,
  fillBank,
  seededRandom,
} from '../../fixtures/register-bank.js';

async function failure(p: Promise<unknown>): Promise<ModbusError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ModbusError);
  return err as ModbusError;
}

describe('RtuTransport against the RTU simulator over a pty pair', () => {
  let pair: PtyPair;
  let sim: RtuSimulator;
  let rtu: RtuTransport;
  const random = seededRandom(2026);

  beforeAll(async () => {
    pair = await openPtyPair();
    sim = new RtuSimulator(
      [
        { unitId: 1, profile: bankProfile },
        { unitId: 2, profile: bankProfile },
      ],
      { random },
    );
    sim.units().forEach(fillBank);
    await sim.open(pair.b);
    rtu = new RtuTransport({ path: pair.a, baudRate: 115200, parity: 'none', timeoutMs: 100 });
    await rtu.open();
  });
  afterEach(() => sim.units().forEach((d) => (d.faults = {})));
  afterAll(async () => {
    await rtu?.close();
    await sim?.close();
    await pair?.close();
  });

  it('reads all four tables', async () => {
    expect(rtu.isOpen()).toBe(true);
    expect(rtu.description).toBe(`rtu:${pair.a}@115200/8N1`);
    expect(await rtu.read(1, 'holding', 3, 10)).toEqual(expectedBank('holding', 3, 10));
    expect(await rtu.read(1, 'input', 70, 125)).toEqual(expectedBank('input', 70, 125));
    expect(await rtu.read(2, 'coil', 1, 19)).toEqual(expectedBank('coil', 1, 19, 2));
    expect(await rtu.read(2, 'discrete', 0, 64)).toEqual(expectedBank('discrete', 0, 64, 2));
  });

  it('queues concurrent calls one at a time, each getting its own reply', async () => {
    const calls = Array.from({ length: 20 }, (_, i) => rtu.read(1 + (i % 2), 'holding', i * 5, 5));
    const results = await Promise.all(calls);
    results.forEach((r, i) => expect(r).toEqual(expectedBank('holding', i * 5, 5, 1 + (i % 2))));
  });

  it('writes a coil, a register, and several of each', async () => {
    const dev = sim.device(1);
    await rtu.write(1, 'coil', 2, [1]);
    await rtu.write(1, 'holding', 150, [0xbeef]);
    await rtu.write(1, 'holding', 160, [1, 2, 3, 65535]);
    await rtu.write(1, 'coil', 30, [1, 0, 1, 1, 0, 0, 0, 0, 1, 1]);
    expect(dev.tables.coil.get(2)).toBe(1);
    expect(dev.tables.holding.get(150)).toBe(0xbeef);
    expect([160, 161, 162, 163].map((a) => dev.tables.holding.get(a))).toEqual([1, 2, 3, 65535]);
    expect(await rtu.read(1, 'coil', 30, 10)).toEqual([1, 0, 1, 1, 0, 0, 0, 0, 1, 1]);
    await rtu.write(1, 'coil', 2, [0]);
    expect(dev.tables.coil.get(2)).toBe(0);
    fillBank(dev);
  });

  it('maps an exception reply to its code and name', async () => {
    const err = await failure(rtu.read(1, 'holding', BANK_SIZE.holding, 2));
    expect(err.code).toBe('exception');
    expect(err.modbusCode).toBe(2);
    expect(err.message).toContain('illegal data address');
    sim.device(2).faults = { exception: 6 };
    const busy = await failure(rtu.write(2, 'holding', 0, [1]));
    expect(busy.modbusCode).toBe(6);
    expect(busy.message).toMatch(/unit 2 write holding 0.*server device busy/);
  });

  it('reports a bad CRC as a crc error, then recovers', async () => {
    sim.device(1).faults = { badCrc: true };
    const err = await failure(rtu.read(1, 'holding', 0, 4));
    expect(err.code).toBe('crc');
    sim.device(1).faults = {};
    expect(await rtu.read(1, 'holding', 0, 4)).toEqual(expectedBank('holding', 0, 4));
  });

  it('reports a reply from the wrong unit as a framing error and never returns its data', async () => {
    sim.device(1).faults = { wrongUnit: 2 };
    const err = await failure(rtu.read(1, 'input', 10, 3));
    expect(err.code).toBe('framing');
    expect(err.message).toContain('reply from unit 2');
    sim.device(1).faults = {};
    expect(await rtu.read(1, 'input', 10, 3)).toEqual(expectedBank('input', 10, 3));
  });

  it('times out on a truncated reply or silence, naming unit and address', async () => {
    sim.device(2).faults = { truncate: true };
    const cut = await failure(rtu.read(2, 'holding', 40, 2));
    expect(cut.code).toBe('timeout');
    expect(cut.message).toMatch(/unit 2 read holding 40\+2 .*no answer within 100 ms \(incomplete reply/);
    sim.device(2).faults = { silent: true };
    const silent = await failure(rtu.read(2, 'coil', 7, 1));
    expect(silent.code).toBe('timeout');
    expect(silent.message).toMatch(/^unit 2 read coil 7\+1 on rtu:.*no answer within 100 ms$/);
    sim.device(2).faults = {};
    expect(await rtu.read(2, 'holding', 40, 2)).toEqual(expectedBank('holding', 40, 2, 2));
  });

  it('never hands a late reply to the next request', async () => {
    const before = rtu.stats.discardedBytes;
    sim.device(1).faults = { delayMs: 160 }; // timeout is 100 ms: this reply comes after it
    const err = await failure(rtu.read(1, 'holding', 0, 10));
    expect(err.code).toBe('timeout');
    // Same unit, function and length as the late reply, and slow enough to be in flight when it lands.
    sim.device(1).faults = { delayMs: 60 };
    expect(await rtu.read(1, 'holding', 100, 10)).toEqual(expectedBank('holding', 100, 10));
    expect(rtu.stats.discardedBytes - before).toBe(25); // the late reply, thrown away
  });

  it('broadcasts a write to every unit and keeps the line quiet for the turnaround', async () => {
    const bc = new RtuTransport({
      path: pair.a,
      baudRate: 115200,
      parity: 'none',
      broadcastTurnaroundMs: 80,
    });
    await rtu.close();
    await bc.open();
    try {
      const t0 = performance.now();
      await bc.write(0, 'holding', 199, [4242]);
      expect(await bc.read(2, 'holding', 199, 1)).toEqual([4242]);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(80);
      expect(sim.device(1).tables.holding.get(199)).toBe(4242);
      await expect(bc.read(0, 'holding', 0, 1)).rejects.toMatchObject({ code: 'invalid-request' });
    } finally {
      await bc.close();
      sim.units().forEach(fillBank);
      await rtu.open();
    }
  });

  it('keeps every value on its own register through 1 % bad CRCs and late replies', async () => {
    const soak = new RtuTransport({ path: pair.a, baudRate: 115200, parity: 'none', timeoutMs: 40 });
    await rtu.close();
    await soak.open();
    try {
      for (const d of sim.units()) d.faults = { badCrcRate: 0.01, delayMs: 60, delayRate: 0.03 };
      const pick = seededRandom(99);
      const tables: Table[] = ['holding', 'input', 'coil', 'discrete'];
      const outcome = { ok: 0, crc: 0, timeout: 0, framing: 0, other: 0 };
      let wrong = 0;
      for (let i = 0; i < 400; i++) {
        const table = tables[i % 4]!;
        const unit = 1 + Math.floor(pick() * 2);
        const count = 1 + Math.floor(pick() * 10);
        const address = Math.floor(pick() * (BANK_SIZE[table] - count));
        try {
          const got = await soak.read(unit, table, address, count);
          outcome.ok++;
          if (JSON.stringify(got) !== JSON.stringify(expectedBank(table, address, count, unit))) wrong++;
        } catch (err) {
          const code = (err as ModbusError).code;
          if (code === 'crc' || code === 'timeout' || code === 'framing') outcome[code]++;
          else outcome.other++;
        }
      }
      expect(wrong).toBe(0);
      expect(outcome.ok).toBeGreaterThan(350);
      expect(outcome.crc).toBeGreaterThan(0);
      expect(outcome.timeout).toBeGreaterThan(3);
      expect(outcome.other).toBe(0);
      expect(outcome.framing).toBeLessThan(5); // a stale frame caught in flight is fine, not the rule
      expect(soak.stats.discardedBytes).toBeGreaterThan(0); // late replies did arrive, and went nowhere
    } finally {
      await soak.close();
      await rtu.open();
    }
  });
});
