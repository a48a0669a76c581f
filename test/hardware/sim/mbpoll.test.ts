import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPtyPair, type PtyPair } from '../../../hardware/src/sim/pty.js';
import { RtuSimulator } from '../../../hardware/src/sim/rtu-server.js';
import { TcpSimulator } from '../../../hardware/src/sim/tcp-server.js';
import { startCli } from '../../cli/run-cli.js';
import { bankProfile, expectedBank, fillBank } from '../../fixtures/register-bank.js';
import { waitFor } from '../../helpers.js';

/** Run mbpoll (an independent libmodbus master); resolves with its output whatever the exit code. */
function mbpoll(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) =>
    execFile('mbpoll', args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(new Error('mbpoll is not installed (apt-get install mbpoll)'));
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    }),
  );
}

/** "[5]: \t35056 (-30480)" -> Map(5 => 35056) */
function values(stdout: string): number[] {
  return [...stdout.matchAll(/^\[(\d+)\]:\s+(-?\d+)/gm)].map((m) => Number(m[2]));
}

const rtuBase = (unit: number, table: string, ref: number) => [
  '-m',
  'rtu',
  '-b',
  '19200',
  '-P',
  'even',
  '-a',
  String(unit),
  '-0',
  '-o',
  '1',
  '-t',
  table,
  '-r',
  String(ref),
];
const rtu = (path: string, unit: number, table: string, ref: number, count: number) => [
  ...rtuBase(unit, table, ref),
  ...['-1', '-c', String(count), path],
];

describe('mbpoll (independent master) against our RTU simulator over a pty', () => {
  let pair: PtyPair;
  let sim: RtuSimulator;
  beforeAll(async () => {
    pair = await openPtyPair();
    sim = new RtuSimulator([
      { unitId: 3, profile: bankProfile },
      { unitId: 4, profile: bankProfile },
    ]);
    sim.units().forEach(fillBank);
    await sim.open(pair.b);
  });
  afterAll(async () => {
    await sim?.close();
    await pair?.close();
  });

  it('reads all four tables', async () => {
    const cases = [
      ['4', 'holding', 10, 12],
      ['3', 'input', 190, 10],
      ['0', 'coil', 3, 20],
      ['1', 'discrete', 40, 17],
    ] as const;
    for (const [t, table, ref, count] of cases) {
      const { code, stdout } = await mbpoll(rtu(pair.a, 3, t, ref, count));
      expect(code, stdout).toBe(0);
      expect(values(stdout)).toEqual(expectedBank(table, ref, count, 3));
    }
    const other = await mbpoll(rtu(pair.a, 4, '4', 0, 3));
    expect(values(other.stdout)).toEqual(expectedBank('holding', 0, 3, 4));
  });

  it('writes registers and coils', async () => {
    const w = await mbpoll([...rtuBase(3, '4', 100), pair.a, '11', '22', '33']);
    expect(w.stdout, w.stderr).toContain('Written 3 references');
    expect([100, 101, 102].map((a) => sim.device(3).tables.holding.get(a))).toEqual([11, 22, 33]);
    const c = await mbpoll([...rtuBase(3, '0', 60), pair.a, '1']);
    expect(c.stdout).toContain('Written 1 references');
    expect(sim.device(3).tables.coil.get(60)).toBe(1);
  });

  it('sees our exception and our silence', async () => {
    const ex = await mbpoll(rtu(pair.a, 3, '4', 500, 1));
    expect(ex.code).not.toBe(0);
    expect(ex.stderr).toMatch(/Illegal data address/i);
    sim.device(4).faults = { badCrc: true };
    const bad = await mbpoll(rtu(pair.a, 4, '4', 0, 1));
    sim.device(4).faults = {};
    expect(bad.code).not.toBe(0);
    expect(values(bad.stdout)).toEqual([]);
    expect(bad.stderr).toMatch(/CRC/i);
  });
});

describe('mbpoll against our TCP simulator', () => {
  it('reads input and holding registers, and sees injected faults as failures', async () => {
    const sim = new TcpSimulator([{ unitId: 3, profile: bankProfile }]);
    sim.units().forEach(fillBank);
    const port = await sim.listen(0);
    try {
      const tcp = (t: string, ref: number, count: number) => [
        '-m',
        'tcp',
        '-p',
        String(port),
        '-a',
        '3',
        '-0',
        '-1',
        '-o',
        '1',
        '-t',
        t,
        '-r',
        String(ref),
        '-c',
        String(count),
        '127.0.0.1',
      ];
      const inputs = await mbpoll(tcp('3', 5, 8));
      expect(inputs.code, inputs.stdout).toBe(0);
      expect(values(inputs.stdout)).toEqual(expectedBank('input', 5, 8, 3));
      const holding = await mbpoll(tcp('4', 0, 4));
      expect(values(holding.stdout)).toEqual(expectedBank('holding', 0, 4, 3));
      sim.device(3).faults = { exception: 4 };
      const ex = await mbpoll(tcp('4', 0, 4));
      expect(ex.code).not.toBe(0);
      expect(ex.stderr).toMatch(/Slave device or server failure/i);
      sim.device(3).faults = { truncate: true };
      const cut = await mbpoll(tcp('4', 0, 4));
      expect(cut.code).not.toBe(0);
      expect(values(cut.stdout)).toEqual([]);
    } finally {
      await sim.close();
    }
  });
});

describe('citygate sim --serial', () => {
  it('serves RTU on a pty end, with wire time emulated, that mbpoll reads', async () => {
    const pair = await openPtyPair();
    const child = startCli([
      'sim',
      '--profile',
      'citygate/slc-100',
      '--units',
      '5',
      '--serial',
      pair.b,
      '--baud',
      '9600',
      '--parity',
      'none',
      '--wire-time',
    ]);
    try {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
      await waitFor('sim to start', () => out.includes('serving'), 15_000);
      expect(out).toContain(`modbus-rtu:${pair.b} @9600 8N1, wire time emulated (5 ms turnaround)`);
      const r = await mbpoll([
        '-m',
        'rtu',
        '-b',
        '9600',
        '-P',
        'none',
        '-a',
        '5',
        '-0',
        '-1',
        '-t',
        '3',
        '-r',
        '4',
        '-c',
        '1',
        pair.a,
      ]);
      expect(r.code, r.stdout).toBe(0);
      expect(values(r.stdout)[0]).toBeGreaterThan(2000); // supply voltage in 0.1 V: ~230 V
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
      await pair.close();
    }
  });
});
