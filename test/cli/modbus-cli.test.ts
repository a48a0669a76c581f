import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../hardware/src/profile.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { runCli } from './run-cli.js';

describe('technician CLI over Modbus TCP against the simulator', () => {
  const profile = loadProfiles().get('citygate/slc-100')!;
  const sim = new TcpSimulator([2, 5, 6].map((unitId) => ({ unitId, profile })));
  let tcp = '';
  beforeAll(async () => {
    tcp = `127.0.0.1:${await sim.listen(0)}`;
  });
  afterAll(() => sim.close());

  it('scan lists exactly the units that answered', async () => {
    const r = await runCli(['modbus', 'scan', '--tcp', tcp, '--units', '1-8', '--timeout', '50']);
    expect(r.code).toBe(0);
    const units = r.stdout
      .split('\n')
      .map((l) => /^(\d+)\s+holding 0 = 100$/.exec(l)?.[1])
      .filter(Boolean);
    expect(units).toEqual(['2', '5', '6']);
    expect(r.stdout).toContain('3 of 8 unit(s) answered');
  });

  it('device read prints every point with its unit', async () => {
    sim.device(5).set('dim', 25);
    const r = await runCli(['device', 'read', '--profile', 'citygate/slc-100', '--unit', '5', '--tcp', tcp]);
    expect(r.code).toBe(0);
    for (const p of profile.points) expect(r.stdout).toMatch(new RegExp(`^${p.id}\\s`, 'm'));
    expect(r.stdout).toMatch(/^power\s+Active power\s+30\s+W\s+r$/m);
    expect(r.stdout).toMatch(/^dim\s+Dim level\s+25\s+%\s+rw$/m);
  });

  it('write then read a raw register, with types and word order', async () => {
    const w = await runCli([
      'modbus',
      'write',
      '--tcp',
      tcp,
      '--unit',
      '6',
      '--address',
      '0',
      '--value',
      '42',
    ]);
    expect(w.code).toBe(0);
    expect(sim.device(6).get('dim')).toBe(42);
    const r = await runCli([
      'modbus',
      'read',
      '--tcp',
      tcp,
      '--unit',
      '6',
      '--table',
      'input',
      '--address',
      '0',
      '--type',
      'float32',
    ]);
    expect(r.stdout).toMatch(/^0\s+0x[0-9a-f]{4} 0x[0-9a-f]{4}\s+50\.4$/m); // 120 W × 42 %
    const swapped = await runCli([
      'modbus',
      'read',
      '--tcp',
      tcp,
      '--unit',
      '6',
      '--table',
      'input',
      '--address',
      '0',
      '--type',
      'float32',
      '--word-order',
      'little',
    ]);
    expect(swapped.stdout).not.toMatch(/\s50\.4$/m);
  });

  it('names the exception, the unit and the address on errors', async () => {
    const exc = await runCli(['modbus', 'read', '--tcp', tcp, '--unit', '2', '--address', '900']);
    expect(exc.code).toBe(1);
    expect(exc.stderr).toContain('unit 2 read holding 900+1');
    expect(exc.stderr).toContain('Modbus exception 2 (illegal data address)');
    const range = await runCli([
      'modbus',
      'write',
      '--tcp',
      tcp,
      '--unit',
      '2',
      '--address',
      '0',
      '--value',
      '250',
    ]);
    expect(range.code).toBe(1);
    expect(range.stderr).toContain('Modbus exception 3 (illegal data value)');
    const timeout = await runCli([
      'modbus',
      'read',
      '--tcp',
      tcp,
      '--unit',
      '9',
      '--address',
      '3',
      '--timeout',
      '50',
    ]);
    expect(timeout.code).toBe(1);
    expect(timeout.stderr).toContain('unit 9 read holding 3+1');
    expect(timeout.stderr).toContain('no answer within 50 ms');
  });

  it('rejects bad arguments with a usage error naming them', async () => {
    const cases: [string[], string][] = [
      [['modbus', 'read', '--unit', '1'], 'say where the bus is'],
      [['modbus', 'read', '--tcp', 'nohost', '--unit', '1'], "--tcp: expected HOST:PORT, got 'nohost'"],
      [['modbus', 'read', '--tcp', tcp, '--unit', '300'], '--unit: expected an integer from 0 to 247'],
      [['modbus', 'read', '--tcp', tcp, '--unit', '1', '--type', 'float64'], '--type: expected one of'],
      [
        ['modbus', 'write', '--tcp', tcp, '--unit', '1', '--table', 'input', '--value', '1'],
        'only holding registers and coils',
      ],
      [['modbus', 'write', '--tcp', tcp, '--unit', '1', '--value', 'abc'], "--value: 'abc' is not a number"],
      [['modbus', 'frob'], "expected a subcommand: scan, read or write (got 'frob')"],
      [
        ['device', 'read', '--profile', 'acme/none', '--unit', '1', '--tcp', tcp],
        "unknown profile 'acme/none'",
      ],
    ];
    for (const [args, msg] of cases) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(msg);
    }
  });
});
