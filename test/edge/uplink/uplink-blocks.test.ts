import { afterEach, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { FakeClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { Outbox } from '../../../edge/src/outbox.js';
import { Uplink, type UplinkAck } from '../../../edge/src/uplink.js';
import { tempDir, waitFor } from '../../helpers.js';

describe('uplink with telemetry blocks', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('rate-limits the backlog in readings, and a block larger than the allowance does not stall it', async () => {
    const dir = tempDir();
    cleanups.push(() => dir.cleanup());
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    cleanups.push(async () => {
      await new Promise<void>((r) => broker.close(() => r()));
      server.close();
    });
    const outbox = await Outbox.open(join(dir.path, 'o.db'));
    cleanups.push(() => outbox.close());
    for (let i = 0; i < 10; i++)
      await outbox.putReadings(
        Array.from({ length: 100 }, (_, j) => ({ device: 'd', point: 'p', value: i * 100 + j, ts: j })),
      );
    const clock = new FakeClock();
    const acks: UplinkAck[] = [];
    const acked = () => acks.reduce((n, a) => n + a.count, 0);
    const uplink = new Uplink(
      {
        gatewayId: 'gw-blocks',
        mqttUrl: `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`,
        version: '1.0.0',
        batchSize: 500,
        backlogRowsPerSec: 50, // burst = batchSize: 500 readings at once, then 50 readings/s
        onAck: (a) => acks.push(a),
      },
      outbox,
      clock,
      memoryLogger('warn'),
    );
    cleanups.push(() => uplink.stop());
    uplink.start();
    // The burst: five blocks of 100 in one message.
    await waitFor('the burst', () => acked() === 500);
    expect(acks.map((a) => [a.count, a.backlog])).toEqual([[500, true]]);
    // 100 ms later 5 readings are allowed: the next block (100) goes rather than stalling the backlog…
    clock.advance(100);
    await waitFor('one more block', () => acked() === 600);
    // …and the bucket, now 95 readings short, waits until 5 readings are allowed again: 2 s.
    clock.advance(1900);
    const h = await outbox.health(); // queued behind any take the advance started
    expect([h.inFlight, acked(), await outbox.depth()]).toEqual([0, 600, 400]);
    clock.advance(100);
    await waitFor('the next block after 2 s', () => acked() === 700);
    expect(acks.slice(1).map((a) => [a.count, a.backlog])).toEqual([
      [100, true],
      [100, true],
    ]);
  });
});
