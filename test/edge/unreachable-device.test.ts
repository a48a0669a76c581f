import { afterAll, describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { tempDir, waitFor } from '../helpers.js';

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('an unreachable device', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  let edge: EdgeRuntime | undefined;
  let sim: TcpSimulator | undefined;
  afterAll(async () => {
    await edge?.stop();
    await sim?.close();
    dir.cleanup();
  });

  it('is logged and retried without crashing, and polled once it appears', async () => {
    const port = await freePort(); // nothing listens here yet
    const log = memoryLogger('debug');
    const config = parseGatewayConfig(
      {
        version: 1,
        id: 'gw-retry',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' }, // no broker either: readings stay in the outbox
        lines: [
          {
            id: 'eth0',
            type: 'tcp',
            host: '127.0.0.1',
            port,
            timeoutMs: 200,
            backoff: { minMs: 50, maxMs: 400 },
          },
        ],
        devices: [{ id: 'light-1', profile: 'citygate/slc-100', line: 'eth0', unitId: 1, pollMs: 100 }],
      },
      profiles,
    );
    edge = await startEdge({ config, profiles, dataDir: join(dir.path, 'gw'), log });
    await waitFor('connection failure logged', () =>
      log.lines.some((l) => l.includes(`cannot connect to tcp://127.0.0.1:${port}`)),
    );
    await waitFor('device marked offline', () => log.lines.some((l) => l.includes('device light-1 offline')));
    expect(edge.latest.size).toBe(0);

    sim = new TcpSimulator([{ unitId: 1, profile: profiles.get('citygate/slc-100')! }]);
    await sim.listen(port);
    await waitFor('reading after the device appeared', () => edge!.latest.get('light-1.power'), 15_000);
    expect(log.lines.some((l) => l.includes('device light-1 online'))).toBe(true);
    expect(await edge.outbox.depth()).toBeGreaterThan(0); // kept, since no broker is reachable
  });

  it('a silent unit (wrong unit id) goes offline while the line stays up', async () => {
    const log = memoryLogger('debug');
    const s = new TcpSimulator([{ unitId: 1, profile: profiles.get('citygate/slc-100')! }]);
    const port = await s.listen(0);
    const config = parseGatewayConfig(
      {
        version: 1,
        id: 'gw-silent',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
        lines: [{ id: 'eth0', type: 'tcp', host: '127.0.0.1', port, timeoutMs: 100 }],
        devices: [
          { id: 'light-1', profile: 'citygate/slc-100', line: 'eth0', unitId: 1, pollMs: 100 },
          { id: 'light-9', profile: 'citygate/slc-100', line: 'eth0', unitId: 9, pollMs: 100 },
        ],
      },
      profiles,
    );
    const e = await startEdge({ config, profiles, dataDir: join(dir.path, 'gw2'), log });
    try {
      await waitFor('light-9 offline', () => log.lines.some((l) => l.includes('device light-9 offline')));
      await waitFor('light-1 read', () => e.latest.get('light-1.power'));
      expect(log.lines.find((l) => l.includes('device light-9 offline'))).toMatch(
        /unit 9 .*no answer within 100 ms/,
      );
    } finally {
      await e.stop();
      await s.close();
    }
  });
});
