/**
 * npm run bench:modbus
 * 1. 16 devices × their profile points over Modbus TCP (our simulator): transactions and wall time for
 *    one full cycle, our planned reads vs a naive one-read-per-point loop over the same transport.
 * 2. RTU over a socat pty with wire-time emulation at 19200 8E1, 5 ms turnaround, 10 registers polled
 *    flat out through the real line scheduler: achieved transactions/s vs the Modbus serial-line limit.
 */
import { FakeClock } from '../common/clock.js';
import { createLogger } from '../common/log.js';
import { planReads } from '../edge/src/modbus/plan.js';
import { TcpTransport, type ModbusTransport } from '../edge/src/modbus/transport.js';
import { loadProfiles, pointWidth, type Profile } from '../hardware/src/profile.js';
import { TcpSimulator } from '../hardware/src/sim/tcp-server.js';
import { printTable, type Row } from './table.js';
import { rtuWireBench } from './modbus-rtu.js';

async function cycle(
  t: ModbusTransport,
  devices: { unit: number; profile: Profile }[],
  naive: boolean,
): Promise<{ tx: number; ms: number }> {
  let tx = 0;
  const t0 = performance.now();
  for (const { unit, profile } of devices) {
    if (naive) {
      for (const p of profile.points) {
        await t.read(unit, p.table, p.address, pointWidth(p));
        tx++;
      }
    } else {
      for (const b of planReads(profile)) {
        await t.read(unit, b.table, b.address, b.count);
        tx++;
      }
    }
  }
  return { tx, ms: performance.now() - t0 };
}

async function coalescing(): Promise<Row[]> {
  const modbusProfiles = [...loadProfiles().values()].filter((p) => p.points.length > 0);
  const devices = Array.from({ length: 16 }, (_, i) => ({
    unit: i + 1,
    profile: modbusProfiles[i % modbusProfiles.length]!,
  }));
  const sim = new TcpSimulator(
    devices.map((d) => ({ unitId: d.unit, profile: d.profile })),
    new FakeClock(),
  );
  const port = await sim.listen(0);
  const t = new TcpTransport('127.0.0.1', port, 1000);
  await t.open();
  const runs = 20;
  let ours = { tx: 0, ms: 0 };
  let naive = { tx: 0, ms: 0 };
  await cycle(t, devices, false); // warm-up
  for (let i = 0; i < runs; i++) {
    const o = await cycle(t, devices, false);
    const n = await cycle(t, devices, true);
    ours = { tx: o.tx, ms: ours.ms + o.ms / runs };
    naive = { tx: n.tx, ms: naive.ms + n.ms / runs };
  }
  await t.close();
  await sim.close();
  const points = devices.reduce((s, d) => s + d.profile.points.length, 0);
  console.log(
    `16 devices (${[...new Set(devices.map((d) => d.profile.id))].join(', ')}), ${points} points, mean of ${runs} cycles`,
  );
  return [
    {
      metric: 'transactions per cycle (16 devices)',
      ours: ours.tx,
      baseline: naive.tx,
      unit: 'tx',
      better: 'lower',
      goal: '≥ 5× fewer',
    },
    {
      metric: 'cycle time, Modbus TCP loopback',
      ours: ours.ms,
      baseline: naive.ms,
      unit: 'ms',
      better: 'lower',
    },
  ];
}

const main = async () => {
  const rows = await coalescing();
  rows.push(...(await rtuWireBench(createLogger({ level: 'warn' }))));
  printTable('bench:modbus', rows);
};

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
