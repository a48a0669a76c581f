import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryLogger } from '../../../common/log.js';
import { reloadMosquitto } from '../../../fleet/src/provisioning/mosquitto-reload.js';
import { freePort } from '../../e2e/loss/harness.js';
import { tempDir, waitFor } from '../../helpers.js';

describe('--mosquitto-pid: the fleet reloads Mosquitto after changing its files', () => {
  const dir = tempDir();
  const pidFile = join(dir.path, 'mosquitto.pid');
  let mosq: ChildProcess;
  let mlog = '';
  beforeAll(async () => {
    const conf = join(dir.path, 'mosquitto.conf');
    writeFileSync(
      conf,
      [
        `listener ${await freePort()} 127.0.0.1`,
        'allow_anonymous false',
        `pid_file ${pidFile}`,
        'log_dest stderr',
        'log_type all',
        'user root',
      ].join('\n') + '\n',
    );
    mosq = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    mosq.stderr!.on('data', (d: Buffer) => (mlog += d.toString()));
    await waitFor('mosquitto running', () => mlog.includes('running'));
  });
  afterAll(() => {
    mosq?.kill('SIGTERM');
    dir.cleanup();
  });

  it('sends SIGHUP to the pid in Mosquitto’s pid_file, and Mosquitto re-reads its config', async () => {
    const log = memoryLogger('info');
    reloadMosquitto(pidFile, log)();
    await waitFor('Mosquitto reloaded', () => mlog.includes('Reloading config.'));
    expect(log.lines.join('\n')).toMatch(/Mosquitto \(pid \d+\) told to re-read/);
  });

  it('names a missing or garbled pid file in the log and keeps going', () => {
    const log = memoryLogger('info');
    const missing = join(dir.path, 'nope.pid');
    expect(() => reloadMosquitto(missing, log)()).not.toThrow();
    const garbled = join(dir.path, 'garbled.pid');
    writeFileSync(garbled, 'not-a-pid\n');
    reloadMosquitto(garbled, log)();
    const text = log.lines.join('\n');
    expect(text).toContain(`cannot read its pid file ${missing}`);
    expect(text).toContain(`${garbled} holds 'not-a-pid', not a process id`);
  });
});
