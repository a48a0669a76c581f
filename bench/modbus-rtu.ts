import ModbusSerial from 'modbus-serial';
import { realClock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import { ModbusLine } from '../edge/src/modbus/line.js';
import { RtuTransport } from '../edge/src/modbus/rtu-transport.js';
import { frameTimeMs, interFrameSilenceMs } from '../hardware/src/modbus-rtu.js';
import type { Profile } from '../hardware/src/profile.js';
import { openPtyPair } from '../hardware/src/sim/pty.js';
import { RtuSimulator } from '../hardware/src/sim/rtu-server.js';
import type { Row } from './table.js';

const BAUD = 19200;
const TURNAROUND_MS = 5;
const REGISTERS = 10;
const UNITS = 8;
const SECONDS = 5;

/** A device with 10 contiguous holding registers: one read of 10 registers per poll. */
const tenRegisters: Profile = {
  id: 'bench/ten-registers',
  vendor: 'bench',
  model: 'ten registers',
  kind: 'street-light',
  points: Array.from({ length: REGISTERS }, (_, i) => ({
    id: `r${i}`,
    name: `register ${i}`,
    table: 'holding' as const,
    address: i,
    type: 'uint16' as const,
    access: 'r' as const,
    pollMs: 50,
  })),
};

/** The Modbus serial-line limit: request + silence + turnaround + reply + silence, per transaction. */
export function theoreticalTxPerSecond(): number {
  const f = { baud: BAUD, parity: 'even' as const, stopBits: 1 as const };
  const request = frameTimeMs(8, f);
  const reply = frameTimeMs(5 + 2 * REGISTERS, f);
  return 1000 / (request + reply + 2 * interFrameSilenceMs(BAUD) + TURNAROUND_MS);
}

async function withWire<T>(fn: (path: string, sim: RtuSimulator) => Promise<T>): Promise<T> {
  const pty = await openPtyPair();
  const sim = new RtuSimulator(
    Array.from({ length: UNITS }, (_, i) => ({ unitId: i + 1, profile: tenRegisters })),
    { wire: { baud: BAUD, parity: 'even', stopBits: 1, turnaroundMs: TURNAROUND_MS } },
  );
  await sim.open(pty.b, { baudRate: BAUD, parity: 'even' });
  try {
    return await fn(pty.a, sim);
  } finally {
    await sim.close();
    await pty.close();
  }
}

async function ours(log: Logger): Promise<{ rate: number; violations: number }> {
  return withWire(async (path, sim) => {
    const transport = new RtuTransport({ path, baudRate: BAUD, parity: 'even', stopBits: 1, timeoutMs: 200 });
    let readings = 0;
    const line = new ModbusLine('rs485', transport, realClock, log, {
      readings: (r) => (readings += r.length),
      deviceState: () => undefined,
    });
    for (let u = 1; u <= UNITS; u++)
      line.addDevice({ id: `d${u}`, profile: tenRegisters.id, line: 'rs485', unitId: u }, tenRegisters);
    line.start();
    await new Promise((r) => setTimeout(r, 1000)); // warm-up
    const tx0 = line.stats.transactions;
    await new Promise((r) => setTimeout(r, SECONDS * 1000));
    const tx = line.stats.transactions - tx0;
    await line.stop();
    if (readings === 0) throw new Error('no readings');
    return { rate: tx / SECONDS, violations: sim.wire!.stats.silenceViolations + sim.wire!.stats.collisions };
  });
}

async function modbusSerialLoop(): Promise<{ rate: number; violations: number }> {
  const ModbusRTU = ModbusSerial as unknown as typeof ModbusSerial.default;
  return withWire(async (path, sim) => {
    const client = new ModbusRTU();
    await client.connectRTUBuffered(path, { baudRate: BAUD, parity: 'even', stopBits: 1, dataBits: 8 });
    client.setTimeout(200);
    let ok = 0;
    let unit = 0;
    const end = performance.now() + 1000 + SECONDS * 1000;
    const start = performance.now() + 1000;
    while (performance.now() < end) {
      client.setID((unit++ % UNITS) + 1);
      try {
        await client.readHoldingRegisters(0, REGISTERS);
        if (performance.now() >= start) ok++;
      } catch {
        /* counted as not ok */
      }
    }
    await new Promise<void>((r) => client.close(() => r()));
    return { rate: ok / SECONDS, violations: sim.wire!.stats.silenceViolations + sim.wire!.stats.collisions };
  });
}

export async function rtuWireBench(log: Logger): Promise<Row[]> {
  const limit = theoreticalTxPerSecond();
  const { rate: o, violations: ov } = await ours(log);
  const { rate: m, violations: mv } = await modbusSerialLoop();
  console.log(
    `RTU at ${BAUD} 8E1, ${TURNAROUND_MS} ms turnaround, ${REGISTERS} registers, ${UNITS} units polled flat out for ${SECONDS} s; ` +
      `serial-line limit ${limit.toFixed(1)} tx/s\n` +
      `requests sent before the 3.5-character silence or onto a busy wire: ours ${ov}, modbus-serial loop ${mv} ` +
      `(a loop that ignores the silence can exceed the limit, and a real bus would garble those frames)`,
  );
  return [
    {
      metric: 'RTU tx/s, line scheduler vs modbus-serial loop',
      ours: o,
      baseline: m,
      unit: 'tx/s',
      better: 'higher',
    },
    {
      metric: 'RTU tx/s as share of the serial-line limit',
      ours: (100 * o) / limit,
      baseline: (100 * m) / limit,
      unit: '%',
      better: 'higher',
      goal: '≥ 80 %',
    },
  ];
}
