import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, watch } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CityGateError } from '../../../common/errors.js';

/** Two linked pseudo-terminals: bytes written to one end are read at the other, like a null-modem cable. */
export interface PtyPair {
  /** Path of one end (a symlink to /dev/pts/N). */
  readonly a: string;
  /** Path of the other end. */
  readonly b: string;
  /** Stop socat and remove the links. */
  close(): Promise<void>;
}

/**
 * Open a linked pty pair with `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B` in a fresh
 * temp dir. Resolves once both links exist and socat reports its transfer loop running (both watched,
 * no fixed sleep). Note that a pty does not enforce a baud rate: bytes arrive at memory speed.
 */
export function openPtyPair(options: { timeoutMs?: number; socat?: string } = {}): Promise<PtyPair> {
  const bin = options.socat ?? 'socat';
  const dir = mkdtempSync(join(tmpdir(), 'citygate-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child = spawn(bin, ['-d', '-d', `pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let exited = child.exitCode !== null;
  const exit = new Promise<void>((resolve) =>
    child.once('close', () => {
      exited = true;
      resolve();
    }),
  );
  const close = async (): Promise<void> => {
    if (!exited && child.pid !== undefined) {
      child.kill('SIGTERM');
      await exit;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  return new Promise<PtyPair>((resolve, reject) => {
    let stderr = '';
    let looping = false;
    let settled = false;
    const timeoutMs = options.timeoutMs ?? 5000;
    const watcher = watch(dir, () => check());
    const timer = setTimeout(
      () =>
        fail(new CityGateError('pty', `socat did not link ${a} and ${b} within ${timeoutMs} ms: ${stderr}`)),
      timeoutMs,
    );
    const done = (): void => {
      settled = true;
      clearTimeout(timer);
      watcher.close();
    };
    const fail = (err: Error): void => {
      if (settled) return;
      done();
      void close().finally(() => reject(err));
    };
    function check(): void {
      if (settled || !looping || !existsSync(a) || !existsSync(b)) return;
      done();
      resolve({ a, b, close });
    }
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      stderr += s;
      if (/starting data transfer loop/.test(stderr)) looping = true;
      check();
    });
    child.once('error', (err: NodeJS.ErrnoException) =>
      fail(
        err.code === 'ENOENT'
          ? new CityGateError(
              'missing-dependency',
              `'${bin}' not found: linked serial ports need socat (apt-get install socat)`,
            )
          : new CityGateError('pty', `cannot start socat: ${err.message}`, { cause: err }),
      ),
    );
    child.once('exit', (code, signal) =>
      fail(new CityGateError('pty', `socat exited (${signal ?? code}) before linking: ${stderr.trim()}`)),
    );
    check();
  });
}
