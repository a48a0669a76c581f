import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../common/package-root.js';

/** Run the citygate CLI from source (as a separate process) and collect its output. */
export function runCli(
  args: string[],
  timeoutMs = 20_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = startCli(args);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(`citygate ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`),
      );
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const root = packageRoot();
  return spawn(process.execPath, ['--import', 'tsx', join(root, 'cli', 'main.ts'), ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** `citygate demo` on any free ports with its output collected; `output()` is everything so far. */
export function startDemo(
  dataDir: string,
  gateways: number,
  extra: string[] = [],
): { child: ChildProcess; output: () => string } {
  const child = startCli([
    'demo',
    '--data',
    dataDir,
    '--gateways',
    String(gateways),
    '--http-port',
    '0',
    '--mqtt-port',
    '0',
    '--mqtt-tls-port',
    '0',
    '--node-red-port',
    '0',
    ...extra,
  ]);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}
