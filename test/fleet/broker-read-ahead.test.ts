import mqtt from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.js';
import { topics } from '../../common/contract/index.js';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../fleet/src/broker.js';

describe('embedded broker: a gateway’s burst shares one commit', () => {
  let broker: EmbeddedBroker | undefined;
  afterEach(async () => {
    await broker?.close();
    broker = undefined;
  });

  it('hands the store every message the gateway has in flight at once, not one read of 16 KiB at a time', async () => {
    let pending = 0;
    let most = 0;
    broker = await startEmbeddedBroker({
      port: 0,
      host: '127.0.0.1',
      fleet: { clientIdPrefix: 'citygate-fleet-', username: 'citygate-fleet', password: 'x'.repeat(32) },
      log: createLogger({ level: 'error' }),
      // A slow store (an fsync on a busy disk): each message is held 150 ms before its PUBACK.
      sink: () => {
        most = Math.max(most, ++pending);
        return new Promise<void>((r) => setTimeout(() => (pending--, r()), 150));
      },
    });
    const c = await mqtt.connectAsync(broker.url, { clientId: 'gw-burst', reconnectPeriod: 0 });
    const payload = Buffer.alloc(40_000, 'x'); // about a 500-reading telemetry message
    // A gateway's window: 16 messages published without waiting.
    await Promise.all(
      Array.from({ length: 16 }, () =>
        c.publishAsync(`${topics.namespace('gw-burst')}telemetry`, payload, { qos: 1 }),
      ),
    );
    await c.endAsync();
    // aedes reads a connection again only when everything from its last read is stored; reading
    // ahead lets the messages that arrived meanwhile reach the store together (1–2 at 16 KiB).
    expect(most).toBeGreaterThanOrEqual(8);
  });
});
