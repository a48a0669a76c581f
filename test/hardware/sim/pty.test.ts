import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';
import { describe, expect, it } from 'vitest';
import { openPtyPair } from '../../../hardware/src/sim/pty.js';

function openPort(path: string): Promise<SerialPort> {
  const port = new SerialPort({ path, baudRate: 19200, autoOpen: false });
  return new Promise((resolve, reject) => port.open((err) => (err ? reject(err) : resolve(port))));
}

function nextData(port: SerialPort, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    let got = Buffer.alloc(0);
    const on = (d: Buffer) => {
      got = Buffer.concat([got, d]);
      if (got.length < bytes) return;
      port.off('data', on);
      resolve(got);
    };
    port.on('data', on);
  });
}

const close = (p: SerialPort) => new Promise<void>((r) => p.close(() => r()));

describe('openPtyPair', () => {
  it('links two ptys that pass raw bytes both ways, and removes them on close', async () => {
    const pair = await openPtyPair();
    expect(existsSync(pair.a) && existsSync(pair.b)).toBe(true);
    const [a, b] = await Promise.all([openPort(pair.a), openPort(pair.b)]);
    const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)); // raw: no byte is special
    const atB = nextData(b, all.length);
    a.write(all);
    expect(await atB).toEqual(all);
    const atA = nextData(a, 3);
    b.write(Buffer.from([0x0d, 0x0a, 0x03]));
    expect(await atA).toEqual(Buffer.from([0x0d, 0x0a, 0x03]));
    await Promise.all([close(a), close(b)]);
    await pair.close();
    expect(existsSync(pair.a) || existsSync(pair.b)).toBe(false);
  });

  it('says clearly when socat is missing', async () => {
    await expect(openPtyPair({ socat: 'socat-not-installed' })).rejects.toMatchObject({
      code: 'missing-dependency',
      message: expect.stringContaining('apt-get install socat'),
    });
  });
});
