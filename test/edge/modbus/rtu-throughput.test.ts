import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameTimeMs, interFrameSilenceMs, RtuTransport } from '../../../edge/src/modbus/rtu-transport.js';
import { openPtyPair, type PtyPair } from '../../../hardware/src/sim/pty.js';
import { RtuSimulator } from '../../../hardware/src/sim/rtu-server.js';
import { bankProfile, expectedBank, fillBank } from '../../fixtures/register-bank.js';

/** Read 10 holding registers `n` times back to back; returns transactions per second. */
async function pollRate(rtu: RtuTransport, n: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const address = (i * 10) % 190;
    expect(await rtu.read(1, 'holding', address, 10)).toEqual(expectedBank('holding', address, 10));
  }
  return (n * 1000) / (performance.now() - t0);
}

describe('RtuTransport <-> RTU simulator throughput over a pty pair', () => {
  let pair: PtyPair;
  beforeAll(async () => {
    pair = await openPtyPair();
  });
  afterAll(async () => {
    await pair?.close();
  });

  it('without wire emulation: bounded only by the enforced t3.5 silence (1.75 ms at 115200)', async () => {
    const sim = new RtuSimulator([{ unitId: 1, profile: bankProfile }]);
    sim.units().forEach(fillBank);
    await sim.open(pair.b);
    const rtu = new RtuTransport({ path: pair.a, baudRate: 115200, parity: 'even', timeoutMs: 500 });
    await rtu.open();
    try {
      const rate = await pollRate(rtu, 1000);
      console.log(`RTU over pty, no wire emulation: ${rate.toFixed(0)} tx/s (10 registers each)`);
      expect(rate).toBeLessThanOrEqual(1000 / interFrameSilenceMs(115200)); // the silence is really kept
      expect(rate).toBeGreaterThan(100);
      expect(rtu.stats).toMatchObject({ timeouts: 0, crcErrors: 0, framingErrors: 0 });
    } finally {
      await rtu.close();
      await sim.close();
    }
  });

  it('with 19200 8E1 and 5 ms turnaround emulated: close to, never above, the wire limit', async () => {
    const wire = { baud: 19200, parity: 'even' as const, stopBits: 1 as const, turnaroundMs: 5 };
    const sim = new RtuSimulator([{ unitId: 1, profile: bankProfile }], { wire });
    sim.units().forEach(fillBank);
    await sim.open(pair.b);
    const rtu = new RtuTransport({ path: pair.a, baudRate: 19200, parity: 'even', timeoutMs: 500 });
    await rtu.open();
    try {
      // Request 8 bytes + reply 25 bytes at 11 bits/char, 2 × t3.5, turnaround: 27.9 ms -> 35.8 tx/s.
      const cycleMs = frameTimeMs(8 + 25, wire) + 2 * interFrameSilenceMs(19200) + 5;
      const limit = 1000 / cycleMs;
      const rate = await pollRate(rtu, 120);
      console.log(
        `RTU 19200 8E1, 5 ms turnaround, 10 registers: ${rate.toFixed(1)} tx/s = ${((100 * rate) / limit).toFixed(1)} % of the ${limit.toFixed(1)} tx/s wire limit`,
      );
      expect(rate).toBeLessThanOrEqual(limit * 1.005);
      expect(rate).toBeGreaterThan(limit * 0.7);
      expect(sim.wire!.stats).toEqual({ collisions: 0, silenceViolations: 0 }); // t3.5 before each request
    } finally {
      await rtu.close();
      await sim.close();
    }
  });
});
