import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import {
  decode,
  isUplinkChannel,
  parseTopic,
  topics,
  type UplinkChannel,
} from '../../common/contract/index.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { pipelineAcks } from './ingest-acks.js';
import type { ApplyResult, FleetStore, UplinkMessage } from './store.js';

export interface IngestOptions {
  url: string;
  clientId: string;
  username?: string;
  password?: string;
  /** Channels taken from the subscription (default: all). With the embedded broker, only `state`. */
  channels?: readonly UplinkChannel[];
}

export interface IngestStats {
  batches: number;
  readings: number;
  duplicates: number;
  duplicateMessages: number;
  rejected: number;
}

export interface Ingest {
  readonly stats: IngestStats;
  close(): Promise<void>;
}

/**
 * Validates and stores what gateways publish. Data messages go through a group-commit queue: all
 * messages waiting while the store commits go into the next transaction, in arrival order. The
 * promise `handle` returns settles once the message is durably stored (or rejected as invalid: a
 * bad payload is logged, counted and acknowledged, so it can neither poison storage nor loop).
 */
export class IngestHandler {
  readonly stats: IngestStats = { batches: 0, readings: 0, duplicates: 0, duplicateMessages: 0, rejected: 0 };
  private queue: { m: UplinkMessage; resolve: (r: ApplyResult) => void; reject: (e: unknown) => void }[] = [];
  private running = false;
  /**
   * Set by the composition root: why a gateway's messages must not be stored (it was revoked), or
   * undefined. Asked for every data message and for births; a death is always recorded.
   */
  refuse?: (gatewayId: string, channel: UplinkChannel) => string | undefined;
  /** Called once per newly stored message (not for duplicates): rollouts follow update progress here. */
  readonly listeners: ((gateway: string, m: UplinkMessage) => void)[] = [];

  constructor(
    private readonly store: FleetStore,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly maxGroup = 64,
  ) {}

  /** Undefined when the topic is not something a gateway publishes (nothing to store). */
  handle(topic: string, payload: Buffer): Promise<void> | undefined {
    const parsed = parseTopic(topic);
    if (!parsed) {
      this.stats.rejected++;
      this.log.warn(`ignored message on unexpected topic`, { topic: topic.slice(0, 200) });
      return undefined;
    }
    const { gatewayId, channel } = parsed;
    if (!isUplinkChannel(channel)) return undefined;
    if (channel === 'state') {
      if (payload.length === 0) return Promise.resolve(); // a cleared retained message
      const msg = decode('state', gatewayId, payload);
      if (!msg.ok) return this.reject(gatewayId, channel, msg.error);
      const refused = msg.value.state === 'online' ? this.refuse?.(gatewayId, channel) : undefined;
      if (refused) return this.reject(gatewayId, channel, refused);
      return this.store.recordState(msg.value, this.clock.now()).then(() => {
        this.log.info(`gateway ${gatewayId} ${msg.value.state} (session ${msg.value.session})`);
      });
    }
    const refused = this.refuse?.(gatewayId, channel);
    if (refused) return this.reject(gatewayId, channel, refused);
    const msg = decode(channel, gatewayId, payload);
    if (!msg.ok) return this.reject(gatewayId, channel, msg.error);
    const m = { channel, value: msg.value } as UplinkMessage;
    return this.enqueue(m).then((r) => {
      if (!r.duplicateMessage)
        for (const l of this.listeners) {
          try {
            l(gatewayId, m);
          } catch (err) {
            this.log.error(`listener for ${channel} from ${gatewayId} failed: ${errorMessage(err)}`);
          }
        }
      this.stats.batches++;
      if (r.duplicateMessage) this.stats.duplicateMessages++;
      if (channel === 'telemetry') this.stats.readings += r.inserted;
      this.stats.duplicates += r.duplicates;
    });
  }

  private reject(gatewayId: string, channel: string, error: string): Promise<void> {
    this.stats.rejected++;
    this.log.warn(`rejected ${channel} from ${gatewayId}: ${error}`);
    return Promise.resolve();
  }

  private enqueue(m: UplinkMessage): Promise<ApplyResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ m, resolve, reject });
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, this.maxGroup);
      try {
        const results = await this.store.apply(
          group.map((g) => g.m),
          this.clock.now(),
        );
        group.forEach((g, i) => g.resolve(results[i]!));
      } catch (err) {
        // One bad message must not sink the others: retry them one by one.
        for (const g of group) {
          try {
            g.resolve((await this.store.apply([g.m], this.clock.now()))[0]!);
          } catch (e) {
            g.reject(e);
          }
        }
        if (group.length === 1) this.log.error(`store failed: ${errorMessage(err)}`);
      }
    }
    this.running = false;
  }
}

/**
 * Subscribes to gateways' messages through the broker (embedded or external) with a persistent
 * session, QoS 1, and acknowledges each message only after it is stored, so a fleet crash does
 * not lose what the broker accepted. Acks are pipelined (ingest-acks.ts), so messages arriving
 * while a commit runs share the next one.
 */
export async function startIngest(opts: IngestOptions, handler: IngestHandler, log: Logger): Promise<Ingest> {
  const client: MqttClient = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });
  // PUBACK only after the commit, but pipelined: messages stored meanwhile share a group commit.
  pipelineAcks(
    client,
    (packet) => handler.handle(packet.topic, packet.payload as Buffer),
    (packet, err) => {
      // Not acknowledged: the broker redelivers on the next session. Logged, never thrown.
      log.error(`store failed for ${packet.topic}: ${errorMessage(err)}`);
      client.end(true, () => client.reconnect());
    },
  );
  client.on('error', (err) => log.warn(`ingest mqtt: ${errorMessage(err)}`));
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const channels = opts.channels;
  const subs = channels
    ? channels.map((c) => `${topics.namespace('+')}${c}`)
    : [...topics.fleetSubscriptions];
  await client.subscribeAsync(subs, { qos: 1 });
  log.info(`ingesting from ${opts.url}`);
  return {
    stats: handler.stats,
    async close() {
      await client.endAsync();
    },
  };
}
