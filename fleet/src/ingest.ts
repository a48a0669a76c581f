import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import { decode, parseTopic, topics } from '../../common/contract/index.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { FleetStore } from './store.js';

export interface IngestOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
}

export interface Ingest {
  readonly stats: { batches: number; readings: number; duplicates: number; rejected: number };
  close(): Promise<void>;
}

/**
 * Subscribes to every gateway's telemetry and state through the broker (embedded or external) and
 * stores what it receives. Each message is acknowledged to the broker only after the store has
 * committed it (persistent session, QoS 1), so a fleet crash does not lose what the broker accepted.
 * Bad payloads are logged with the reason and dropped; they never reach storage.
 */
export async function startIngest(
  opts: IngestOptions,
  store: FleetStore,
  clock: Clock,
  log: Logger,
): Promise<Ingest> {
  const stats = { batches: 0, readings: 0, duplicates: 0, rejected: 0 };
  const client: MqttClient = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });
  client.handleMessage = (packet, done) => {
    const parsed = parseTopic(packet.topic);
    if (!parsed) {
      stats.rejected++;
      log.warn(`ignored message on unexpected topic`, { topic: packet.topic.slice(0, 200) });
      return done();
    }
    const payload = packet.payload as Buffer;
    const work = async (): Promise<void> => {
      if (parsed.channel === 'telemetry') {
        const msg = decode('telemetry', parsed.gatewayId, payload);
        if (!msg.ok) {
          stats.rejected++;
          log.warn(`rejected telemetry from ${parsed.gatewayId}: ${msg.error}`);
          return;
        }
        const r = await store.ingest(msg.value, clock.now());
        stats.batches++;
        stats.readings += r.inserted;
        stats.duplicates += r.duplicates;
      } else {
        if (payload.length === 0) return; // a cleared retained message
        const msg = decode('state', parsed.gatewayId, payload);
        if (!msg.ok) {
          stats.rejected++;
          log.warn(`rejected state from ${parsed.gatewayId}: ${msg.error}`);
          return;
        }
        await store.recordState(msg.value, clock.now());
        log.info(`gateway ${parsed.gatewayId} ${msg.value.state} (session ${msg.value.session})`);
      }
    };
    work().then(
      () => done(),
      (err: unknown) => {
        // Not acknowledged: the broker redelivers on the next session. Logged, never thrown.
        log.error(`store failed for ${packet.topic}: ${errorMessage(err)}`);
        client.end(true, () => client.reconnect());
      },
    );
  };
  client.on('error', (err) => log.warn(`ingest mqtt: ${errorMessage(err)}`));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  await client.subscribeAsync(
    topics.fleetSubscriptions.map((t) => t),
    { qos: 1 },
  );
  log.info(`ingesting from ${opts.url}`);
  return {
    stats,
    async close() {
      await client.endAsync();
    },
  };
}
