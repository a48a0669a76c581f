import { describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { parseGatewayConfig } from '../../../edge/src/config.js';
import { startEdge } from '../../../edge/src/main.js';
import { progressBody, remoteUpdates } from '../../../edge/src/updater/remote.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { tempDir, waitFor } from '../../helpers.js';

const flush = () => new Promise((r) => setImmediate(r));

describe('fleet-driven updates on the gateway', () => {
  it('starts the updater for an install and forwards its progress once, across restarts', async () => {
    const dir = tempDir();
    const clock = new FakeClock();
    const spawned: string[][] = [];
    const sent: Record<string, unknown>[] = [];
    const make = () =>
      remoteUpdates({
        installRoot: dir.path,
        cli: 'cli.js',
        clock,
        log: memoryLogger('warn'),
        put: (b) => Promise.resolve(void sent.push(b)),
        spawnUpdater: (a) => spawned.push(a),
      });
    const r = make();
    r.handle({
      v: 1,
      gateway: 'gw-1',
      tx: 'r-1_gw-1',
      action: 'install',
      release: { version: '1.2.0', url: 'http://fleet/api/v1/releases/1.2.0/bundle', sha256: 'a'.repeat(64) },
      ts: 1,
    });
    expect(spawned).toEqual([
      [
        'edge',
        'update',
        '--root',
        dir.path,
        '--bundle',
        'http://fleet/api/v1/releases/1.2.0/bundle',
        '--id',
        'r-1_gw-1',
      ],
    ]);
    const log = join(dir.path, 'update-progress.jsonl');
    appendFileSync(
      log,
      JSON.stringify({ id: 'r-1_gw-1', version: '1.2.0', step: 'download', status: 'running', at: 5 }) + '\n',
    );
    appendFileSync(
      log,
      JSON.stringify({
        id: 'r-1_gw-1',
        version: '1.2.0',
        step: 'health',
        status: 'rolled-back',
        reason: 'crash loop',
        at: 9,
      }) + '\n',
    );
    clock.advance(1000);
    await flush();
    await flush();
    expect(sent).toEqual([
      { tx: 'r-1_gw-1', version: '1.2.0', step: 'download', status: 'running' },
      { tx: 'r-1_gw-1', version: '1.2.0', step: 'rollback', status: 'done', detail: 'crash loop' },
    ]);
    r.stop();
    // A restarted runtime resumes after what it already sent.
    const again = make();
    appendFileSync(
      log,
      JSON.stringify({ id: 'r-2_gw-1', version: '1.3.0', status: 'committed', at: 20 }) + '\n',
    );
    clock.advance(1000);
    await flush();
    await flush();
    expect(sent.slice(2)).toEqual([{ tx: 'r-2_gw-1', version: '1.3.0', step: 'commit', status: 'done' }]);
    again.stop();
    expect(
      progressBody({ id: 't', status: 'failed', step: 'verify', reason: 'bad signature', at: 1 }),
    ).toEqual({ tx: 't', step: 'verify', status: 'failed', detail: 'bad signature' });
    dir.cleanup();
  });

  it('an installed runtime writes the health file the updater checks', async () => {
    const dir = tempDir();
    const profiles = loadProfiles();
    const config = parseGatewayConfig(
      { version: 2, id: 'gw-upd', fleet: { mqttUrl: 'mqtt://127.0.0.1:1' }, lines: [], devices: [] },
      profiles,
    );
    const edge = await startEdge({
      config,
      profiles,
      dataDir: join(dir.path, 'data'),
      log: memoryLogger('warn'),
      updates: { installRoot: dir.path, cli: 'cli.js' },
    });
    try {
      const file = join(dir.path, 'health.json');
      await waitFor('health file', () => existsSync(file));
      const h = JSON.parse(readFileSync(file, 'utf8')) as {
        pid: number;
        checks: { uplink: boolean; polls: boolean; rules: boolean };
      };
      expect(h.pid).toBe(process.pid);
      expect(h.checks).toEqual({ uplink: false, polls: true, rules: true }); // no broker here: not healthy
    } finally {
      await edge.stop();
      dir.cleanup();
    }
  });
});
