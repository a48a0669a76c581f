import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FakeClock } from '../../common/clock.js';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { FakeGpioBoard } from '../../edge/src/gpio/fake.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { tempDir, waitFor } from '../helpers.js';

const profiles = loadProfiles();
const config = (id: string) =>
  parseGatewayConfig(
    {
      version: 1,
      id,
      fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
      lines: [],
      devices: [],
      gpio: [{ id: 'cabinet', profile: 'citygate/cabinet-io' }],
    },
    profiles,
  );

describe('cabinet I/O on GPIO in the edge runtime', () => {
  const dir = tempDir();
  const edges: EdgeRuntime[] = [];
  afterAll(async () => {
    for (const e of edges) await e.stop();
    dir.cleanup();
  });

  it('reports the door switch and drives the contactor through the runtime', async () => {
    const clock = new FakeClock();
    const board = new FakeGpioBoard(clock);
    const edge = await startEdge({
      config: config('gw-gpio'),
      profiles,
      dataDir: join(dir.path, 'a'),
      clock,
      gpio: board.backend(),
      log: memoryLogger('warn'),
    });
    edges.push(edge);
    expect(edge.latest.get('cabinet.door-open')?.value).toBe(false);
    board.setLevel(5, 1); // door opens (switch no longer pulls to GND)
    clock.advance(60); // past the 50 ms debounce
    expect(edge.latest.get('cabinet.door-open')?.value).toBe(true);
    await edge.write('cabinet', 'contactor', true);
    expect(board.level(26)).toBe(0); // the relay input is active-low
    await waitFor('GPIO readings in the outbox', async () => (await edge.outbox.depth()) >= 5);
    await expect(edge.write('cabinet', 'door-open', true)).rejects.toThrow(/door-open/);
  });

  it('raises the flood alarm for a cabinet already wet at boot (the inputs report after the rules listen)', async () => {
    const clock = new FakeClock();
    const board = new FakeGpioBoard(clock);
    board.setLevel(16, 0); // the active-low flood sensor pulls low: water in the cabinet before start
    const cfg = parseGatewayConfig(
      {
        version: 1,
        id: 'gw-wet',
        fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
        lines: [],
        devices: [],
        gpio: [{ id: 'cabinet', profile: 'citygate/cabinet-io' }],
        alarms: [
          {
            id: 'flood',
            severity: 'critical',
            message: 'water in cabinet',
            raise: { point: 'cabinet.flood', op: '==', value: true },
          },
        ],
      },
      profiles,
    );
    const edge = await startEdge({
      config: cfg,
      profiles,
      dataDir: join(dir.path, 'wet'),
      clock,
      gpio: board.backend(),
      log: memoryLogger('warn'),
    });
    edges.push(edge);
    expect(edge.latest.get('cabinet.flood')?.value).toBe(true);
    await waitFor(
      'flood alarm in the outbox',
      async () => (await edge.outbox.health()).classes.alarm.depth >= 1,
    );
  });

  it('keeps running, with a clear error, where GPIO is not accessible', async () => {
    const log = memoryLogger('warn');
    const board = new FakeGpioBoard(new FakeClock(), { accessible: false });
    const edge = await startEdge({
      config: config('gw-nogpio'),
      profiles,
      dataDir: join(dir.path, 'b'),
      gpio: board.backend(),
      log,
    });
    edges.push(edge);
    expect(log.lines.join('\n')).toMatch(/GPIO devices not started: .*/);
    expect(edge.uplink.state).not.toBe('stopped');
  });
});
