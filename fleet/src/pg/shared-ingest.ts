import mqtt, { type MqttClient } from 'mqtt';
import type pg from 'pg';
import { topics } from '../../../common/contract/index.js';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type { Ingest, IngestHandler } from '../ingest.js';
import { pipelineAcks } from '../ingest-acks.js';
import { Leases } from './leases.js';

export interface SharedIngestOptions {
  url: string;
  username?: string;
  password?: string;
  /** Shared-subscription group: `$share/<group>/citygate/v1/+/<channel>`. */
  group: string;
  /** MQTT connections (slots) this worker takes; each has one message in flight at a time. */
  connections: number;
  /** This worker's name in the lease table. */
  workerId: string;
  /** A slot whose worker stopped renewing for this long is adopted by another worker. */
  leaseMs: number;
  pool: pg.Pool;
  handler: IngestHandler;
  log: Logger;
}

export interface SharedIngest extends Ingest {
  /** Slots (MQTT sessions) this worker serves now, including adopted ones. */
  slots(): number[];
  /** Messages handled per slot since start. */
  readonly handled: Map<number, number>;
}

const MAX_SLOTS = 256;

/**
 * Telemetry ingest spread over several fleet workers with an MQTT shared subscription.
 *
 * Each connection is a *slot*: a persistent session (clean=false) with a fixed client id
 * `citygate-fleet-<group>-<n>`, held through a lease row in PostgreSQL. Messages are acknowledged
 * only after their transaction committed (pipelined, so one session's messages share commits).
 * Mosquitto 2.0 keeps a dead member's unacknowledged messages in its session, and keeps routing new
 * ones to it (measured: docs/scaling.md), so a slot whose lease expires is adopted by a live worker:
 * it connects with the same client id, Mosquitto hands it the session, and the messages are stored
 * after all.
 */
export async function startSharedIngest(o: SharedIngestOptions): Promise<SharedIngest> {
  const leases = new Leases(o.pool, o.workerId, o.leaseMs);
  const prefix = `ingest:${o.group}:`;
  const clients = new Map<number, MqttClient>();
  const handled = new Map<number, number>();
  let stopped = false;
  const subs = topics.fleetSubscriptions.map((t) => `$share/${o.group}/${t}`);

  const open = async (slot: number, adopted: boolean): Promise<void> => {
    const client = mqtt.connect(o.url, {
      clientId: `citygate-fleet-${o.group}-${slot}`,
      username: o.username,
      password: o.password,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 1000,
    });
    clients.set(slot, client);
    // PUBACK only after the commit, pipelined (ingest-acks.ts): the messages Mosquitto has in
    // flight for this session are stored together; unacknowledged ones stay in the session.
    pipelineAcks(
      client,
      (packet) => {
        handled.set(slot, (handled.get(slot) ?? 0) + 1);
        return o.handler.handle(packet.topic, packet.payload as Buffer);
      },
      (packet, err) => {
        o.log.error(`store failed for ${packet.topic}: ${errorMessage(err)}`);
        client.end(true, () => client.reconnect()); // unacknowledged: redelivered in this session
      },
    );
    client.on('error', (err) => o.log.warn(`ingest slot ${slot}: ${errorMessage(err)}`));
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync(subs, { qos: 1 });
    o.log.info(`ingest slot ${slot} ${adopted ? 'adopted' : 'taken'} (group ${o.group})`);
  };

  // Take the first free slots.
  for (let slot = 0; clients.size < o.connections && slot < MAX_SLOTS; slot++)
    if (await leases.acquire(`${prefix}${slot}`)) await open(slot, false);
  if (clients.size < o.connections)
    throw new Error(`ingest: only ${clients.size} of ${o.connections} slots free in group '${o.group}'`);

  const slotOf = (name: string) => Number(name.slice(prefix.length));
  let busy = false;
  const tick = async (): Promise<void> => {
    if (busy || stopped) return;
    busy = true;
    try {
      const held = await leases.renew([...clients.keys()].map((s) => `${prefix}${s}`));
      for (const [slot, c] of clients)
        if (!held.has(`${prefix}${slot}`)) {
          // Taken over while this worker stalled: the other one has the session now.
          o.log.warn(`ingest slot ${slot}: lease lost, closing`);
          clients.delete(slot);
          c.end(true);
        }
      // Not awaited: a broker that is slow to accept must not hold up the renewal of our leases.
      for (const name of await leases.claimExpired(prefix))
        if (!stopped)
          open(slotOf(name), true).catch((err: unknown) =>
            o.log.warn(`ingest slot ${slotOf(name)}: adoption failed: ${errorMessage(err)}`),
          );
    } catch (err) {
      o.log.warn(`ingest leases: ${errorMessage(err)}`);
    } finally {
      busy = false;
    }
  };
  const timer = setInterval(() => void tick(), Math.max(100, Math.floor(o.leaseMs / 3)));
  timer.unref();
  o.log.info(`ingesting from ${o.url} as ${o.workerId}: slots ${[...clients.keys()].join(',')}`);

  return {
    stats: o.handler.stats,
    handled,
    slots: () => [...clients.keys()].sort((a, b) => a - b),
    async close() {
      stopped = true;
      clearInterval(timer);
      // Leave the group first (no new messages are routed to these sessions), let what is in
      // flight be stored and acknowledged, then drop the sessions and free the slots.
      await Promise.all(
        [...clients.values()].map(async (c) => {
          await c.unsubscribeAsync(subs).catch(() => undefined);
          await c.endAsync().catch(() => undefined);
          const wipe = await mqtt
            .connectAsync(o.url, {
              clientId: c.options.clientId,
              username: o.username,
              password: o.password,
              clean: true,
              reconnectPeriod: 0,
              protocolVersion: 4,
            })
            .catch(() => undefined);
          await wipe?.endAsync();
        }),
      );
      await leases.release([...clients.keys()].map((s) => `${prefix}${s}`)).catch(() => undefined);
      clients.clear();
    },
  };
}
