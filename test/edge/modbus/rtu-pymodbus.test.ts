import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageRoot } from '../../../common/package-root.js';
import { RtuTransport } from '../../../edge/src/modbus/rtu-transport.js';
import { openPtyPair, type PtyPair } from '../../../hardware/src/sim/pty.js';
import { expectedBank } from '../../fixtures/register-bank.js';

/** Start the pymodbus RTU slave fixture on `port`; resolves once it printed "ready". */
function startPymodbus(port: string, units: string): Promise<ChildProcess> {
  const script = join(packageRoot(), 'test', 'fixtures', 'pymodbus_rtu_server.py');
  const child = spawn(
    '/usr/bin/python3',
    [script, '--port', port, '--baud', '19200', '--parity', 'N', '--stopbits', '2', '--units', units],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`pymodbus slave did not start within 10 s:\n${out}`));
    }, 10_000);
    const seen = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on('data', seen);
    child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', (err) => reject(new Error(`cannot run /usr/bin/python3: ${err.message}`)));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`pymodbus slave exited (${code}) before it was ready:\n${out}`));
    });
  });
}

describe('RtuTransport against an independent slave (pymodbus 3.x) over a pty pair', () => {
  let pair: PtyPair;
  let slave: ChildProcess | undefined;
  let rtu: RtuTransport;

  beforeAll(async () => {
    pair = await openPtyPair();
    slave = await startPymodbus(pair.b, '1,2');
    // 8N2: pyserial cannot set parity on a pty (see the fixture)
    rtu = new RtuTransport({ path: pair.a, baudRate: 19200, parity: 'none', stopBits: 2, timeoutMs: 500 });
    await rtu.open();
  });
  afterAll(async () => {
    await rtu?.close();
    if (slave && slave.exitCode === null) {
      slave.kill('SIGTERM');
      await new Promise((r) => slave!.once('exit', r));
    }
    await pair?.close();
  });

  it('reads all four tables', async () => {
    expect(await rtu.read(1, 'holding', 0, 10)).toEqual(expectedBank('holding', 0, 10, 1));
    expect(await rtu.read(2, 'input', 150, 40)).toEqual(expectedBank('input', 150, 40, 2));
    expect(await rtu.read(1, 'coil', 5, 21)).toEqual(expectedBank('coil', 5, 21, 1));
    expect(await rtu.read(2, 'discrete', 0, 33)).toEqual(expectedBank('discrete', 0, 33, 2));
  });

  it('writes single and multiple coils and registers', async () => {
    await rtu.write(1, 'holding', 20, [777]);
    await rtu.write(1, 'holding', 30, [1, 65535, 32768]);
    await rtu.write(2, 'coil', 10, [1]);
    await rtu.write(2, 'coil', 40, [1, 1, 0, 1, 0, 0, 1, 0, 1]);
    expect(await rtu.read(1, 'holding', 20, 1)).toEqual([777]);
    expect(await rtu.read(1, 'holding', 30, 3)).toEqual([1, 65535, 32768]);
    expect(await rtu.read(2, 'coil', 10, 1)).toEqual([1]);
    expect(await rtu.read(2, 'coil', 40, 9)).toEqual([1, 1, 0, 1, 0, 0, 1, 0, 1]);
  });

  it('maps its exception and times out on a unit it does not serve', async () => {
    await expect(rtu.read(1, 'holding', 500, 2)).rejects.toMatchObject({
      code: 'exception',
      modbusCode: 2,
      message: expect.stringContaining('illegal data address'),
    });
    await expect(rtu.read(9, 'holding', 0, 1)).rejects.toMatchObject({ code: 'timeout' });
    expect(await rtu.read(2, 'holding', 199, 1)).toEqual(expectedBank('holding', 199, 1, 2));
  });
});
