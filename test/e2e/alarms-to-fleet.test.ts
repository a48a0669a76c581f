import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { realClock } from '../../common/clock.js';
import { memoryLogger } from '../../common/log.js';
import { parseGatewayConfig } from '../../edge/src/config.js';
import { FakeGpioBoard } from '../../edge/src/gpio/fake.js';
import { startEdge, type EdgeRuntime } from '../../edge/src/main.js';
import { startFleet, type Fleet } from '../../fleet/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { tempDir, waitFor } from '../helpers.js';

interface Alarm {
  gateway: string;
  key: string;
  state: string;
  severity: string;
  ackBy: string | null;
}

/** An alarm raised by the gateway's local rules shows on the fleet's alarm board, is acknowledged and clears. */
describe('alarms at the fleet', () => {
  const dir = tempDir();
  const profiles = loadProfiles();
  const board = new FakeGpioBoard(realClock);
  let fleet: Fleet;
  let edge: EdgeRuntime;

  beforeAll(async () => {
    fleet = await startFleet({
      dataDir: join(dir.path, 'fleet'),
      httpPort: 0,
      mqttPort: 0,
      security: 'open',
      log: memoryLogger('warn'),
    });
    const config = parseGatewayConfig(
      {
        version: 2,
        id: 'gw-alarm',
        fleet: { mqttUrl: fleet.mqttUrl },
        lines: [],
        devices: [],
        gpio: [{ id: 'cabinet', profile: 'citygate/cabinet-io' }],
        alarms: [
          {
            id: 'door',
            severity: 'major',
            message: 'cabinet door open',
            raise: { point: 'cabinet.door-open', op: '==', value: true },
          },
        ],
      },
      profiles,
    );
    edge = await startEdge({
      config,
      profiles,
      dataDir: join(dir.path, 'gw'),
      log: memoryLogger('warn'),
      gpio: board.backend(),
    });
  });
  afterAll(async () => {
    await edge?.stop();
    await fleet?.stop();
    dir.cleanup();
  });

  const alarms = async (): Promise<Alarm[]> =>
    ((await (await fetch(`${fleet.httpUrl}/api/v1/alarms?gateway=gw-alarm`)).json()) as { alarms: Alarm[] })
      .alarms;

  it('raises, acknowledges and clears the cabinet door alarm', async () => {
    board.setLevel(5, 1); // door opened
    const raised = await waitFor('door alarm raised at the fleet', async () =>
      (await alarms()).find((a) => a.state === 'raised'),
    );
    expect(raised).toMatchObject({ gateway: 'gw-alarm', severity: 'major', ackBy: null });
    const ack = await fetch(`${fleet.httpUrl}/api/v1/alarms/gw-alarm/${encodeURIComponent(raised.key)}/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ note: 'technician on site' }),
    });
    expect(ack.status).toBe(200);
    expect((await alarms())[0]!.ackBy).toBe('operator');
    board.setLevel(5, 0); // door closed
    await waitFor('door alarm cleared at the fleet', async () => (await alarms())[0]?.state === 'cleared');
    const unknown = await fetch(`${fleet.httpUrl}/api/v1/alarms/gw-alarm/nope/ack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(unknown.status).toBe(404);
  });
});
