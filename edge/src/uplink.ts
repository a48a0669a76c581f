import mqtt, { type MqttClient } from 'mqtt';
import type { Clock, Timer } from '../../common/clock.js';
import { PROTOCOL_VERSION, topics, type Envelope, type GatewayState } from '../../common/contract/index.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Outbox, OutboxBatch } from './outbox.js';
import { eventRecord } from './outbox-validate.js';
import { Downlink, type DownlinkHandlers } from './uplink-downlink.js';
import { RowRate } from './uplink-rate.js';

const CLOSE_ARRAY = Buffer.from(']}');
/** Batches taken from the outbox in one statement, at most. */
const TAKE_BATCHES = 8;

export interface UplinkOptions {
  gatewayId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  version: string;
  /** Readings per telemetry message, at most (default 500); messages carry whole outbox blocks. */
  batchSize?: number;
  /** Messages published and not yet acknowledged (default 16). */
  window?: number;
  /** Telemetry backlog readings per second (default 2000; Infinity = no limit). Live readings are never limited. */
  backlogRowsPerSec?: number;
  minRetryMs?: number;
  maxRetryMs?: number;
  handlers?: DownlinkHandlers;
  /** Called for every acknowledged message (metrics, tests), after its rows were deleted. */
  onAck?: (ack: UplinkAck) => void;
}

export interface UplinkAck {
  channel: OutboxBatch['channel'];
  session: number;
  seq: number;
  /** The rows it carried: every row of its class with an id in [first, last]; `count` items (readings). */
  first: number;
  last: number;
  count: number;
  backlog: boolean;
}

/**
 * Lifecycle: stopped → connecting → online ⇄ offline (→ connecting on each retry) → stopped.
 * `connecting`/`offline` are transient; `online` and `stopped` are targets.
 */
export type UplinkState = 'stopped' | 'connecting' | 'online' | 'offline';

export interface UplinkHealth {
  state: UplinkState;
  session: number;
  seq: number;
  inFlightMessages: number;
  sentRows: number;
  rejectedDownlink: number;
}

/**
 * Publishes what the outbox holds. One MQTT connection per session: each connect increments the
 * persistent session number and sets a Will carrying it; reconnects are ours (jittered backoff), so
 * every session has its own Will. Up to `window` messages are in flight; rows are confirmed (deleted)
 * only in the PUBACK callback of the message that carried them.
 */
export class Uplink {
  private client: MqttClient | undefined;
  private session = 0;
  private seq = 0;
  /** Highest seq the broker acknowledged in this session; reported in the next birth. */
  private ackedSeq = 0;
  private previous: { session: number; seq: number } | undefined;
  private generation = 0;
  private inFlight = 0;
  private pumping = false;
  private pumpAgain = false;
  private retryMs: number;
  private retryTimer: Timer | undefined;
  private rateTimer: Timer | undefined;
  private readonly rate: RowRate;
  private readonly downlink: Downlink;
  state: UplinkState = 'stopped';
  sent = 0;

  constructor(
    private readonly opts: UplinkOptions,
    private readonly outbox: Outbox,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    this.retryMs = opts.minRetryMs ?? 500;
    const perSec = opts.backlogRowsPerSec ?? 2000;
    this.rate = new RowRate(perSec, Math.max(this.batchSize, perSec), clock.now());
    this.downlink = new Downlink(opts.gatewayId, outbox, () => clock.now(), log, opts.handlers);
  }

  private get batchSize(): number {
    return this.opts.batchSize ?? 500;
  }

  get handlers(): DownlinkHandlers {
    return this.downlink.handlers;
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.state = 'connecting';
    this.reconnect();
  }

  health(): UplinkHealth {
    return {
      state: this.state,
      session: this.session,
      seq: this.seq,
      inFlightMessages: this.inFlight,
      sentRows: this.sent,
      rejectedDownlink: this.downlink.rejected,
    };
  }

  private stateMessage(state: 'online' | 'offline', seq?: number): string {
    const msg: GatewayState = {
      v: PROTOCOL_VERSION,
      gateway: this.opts.gatewayId,
      session: this.session,
      state,
      ts: this.clock.now(),
      version: this.opts.version,
      epoch: this.outbox.epoch,
      ...(seq === undefined ? {} : { seq }),
      ...(state === 'online' ? { evicted: this.outbox.evictedCounts() } : {}),
      ...(state === 'online' && this.previous ? { previous: this.previous } : {}),
    };
    return JSON.stringify(msg);
  }

  private reconnect(): void {
    this.connect().catch((err: unknown) => {
      if (this.state === 'stopped') return;
      this.log.error(`uplink cannot start a session: ${errorMessage(err)}`);
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    const delay = Math.round(this.retryMs * (0.5 + Math.random()));
    this.retryMs = Math.min(this.retryMs * 2, this.opts.maxRetryMs ?? 30_000);
    this.log.debug(`uplink reconnecting in ${delay} ms`);
    this.retryTimer = this.clock.setTimeout(() => this.reconnect(), delay);
  }

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const session = await this.outbox.nextCounter('session');
    if (this.session > 0) this.previous = { session: this.session, seq: this.ackedSeq };
    this.session = session;
    this.seq = 0;
    this.ackedSeq = 0;
    await this.outbox.beginSession();
    if ((this.state as UplinkState) === 'stopped') return;
    const { gatewayId } = this.opts;
    const gen = ++this.generation;
    this.inFlight = 0;
    const client = mqtt.connect(this.opts.mqttUrl, {
      clientId: gatewayId,
      username: this.opts.username,
      password: this.opts.password,
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      will: {
        topic: topics.state(gatewayId),
        payload: Buffer.from(this.stateMessage('offline')),
        qos: 1,
        retain: true,
      },
    });
    this.client = client;
    client.on('connect', () => {
      if (gen !== this.generation) return;
      this.state = 'online';
      this.retryMs = this.opts.minRetryMs ?? 500;
      this.log.info(`connected to ${this.opts.mqttUrl} (session ${this.session})`);
      client.publish(topics.state(gatewayId), this.stateMessage('online', 0), { qos: 1, retain: true });
      client.subscribe(topics.gatewaySubscriptions(gatewayId), { qos: 1 }, (err) => {
        if (err) this.log.warn(`cannot subscribe to fleet messages: ${errorMessage(err)}`);
      });
      this.pump();
    });
    client.on('message', (topic, payload) => this.downlink.handle(topic, payload, () => this.pump()));
    client.on('error', (err) => this.log.warn(`mqtt: ${errorMessage(err)}`));
    client.on('close', () => {
      if (this.client !== client) return;
      client.removeAllListeners('close');
      client.end(true);
      this.client = undefined;
      this.generation++;
      this.inFlight = 0;
      this.outbox.releaseInFlight();
      if (this.state === 'stopped') return;
      this.state = 'offline';
      this.scheduleReconnect();
    });
  }

  /** New rows are in the outbox: publish them if connected. */
  notify(): void {
    this.pump();
  }

  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    const client = this.client;
    if (this.state !== 'online' || !client) return;
    const gen = this.generation;
    this.pumping = true;
    const window = this.opts.window ?? 16;
    void (async () => {
      try {
        do {
          this.pumpAgain = false;
          // Several batches per take when the window has room (one SQLite statement for them all),
          // and the next take asked for before these are published, so the outbox's SQLite work
          // overlaps this thread's publishing.
          let next: Promise<OutboxBatch[]> | undefined;
          while (gen === this.generation && (next || this.inFlight < window)) {
            const batches = await (next ?? this.takeNext(window - this.inFlight));
            next = undefined;
            if (batches.length === 0 || gen !== this.generation) break;
            for (const b of batches) if (b.backlog) this.rate.consume(b.count);
            const room = window - this.inFlight - batches.length;
            if (room > 0) {
              next = this.takeNext(room);
              next.catch(() => undefined); // awaited next round, unless the connection changed first
            }
            for (const b of batches) this.publish(client, gen, b);
          }
        } while (this.pumpAgain && gen === this.generation);
      } catch (err) {
        this.log.warn(`outbox read failed: ${errorMessage(err)}`);
      } finally {
        this.pumping = false;
      }
    })();
  }

  /**
   * Up to `room` batches (at most TAKE_BATCHES) within the backlog allowance; when the allowance is
   * what stops it, wait for it.
   */
  private async takeNext(room: number): Promise<OutboxBatch[]> {
    const allowance = this.rate.available(this.clock.now());
    const minChunk = Math.min(this.batchSize, Math.max(1, Math.ceil(this.rate.rate / 10)));
    const batches = await this.outbox.takeMany(
      this.batchSize,
      Math.max(1, Math.min(room, TAKE_BATCHES)),
      allowance >= minChunk ? allowance : 0,
    );
    if (batches.length === 0 && allowance < minChunk) this.waitForRate(minChunk);
    return batches;
  }

  private waitForRate(rows: number): void {
    if (this.rateTimer) return;
    this.rateTimer = this.clock.setTimeout(() => {
      this.rateTimer = undefined;
      this.pump();
    }, this.rate.waitMs(rows));
  }

  private envelope(): Envelope {
    return {
      v: PROTOCOL_VERSION,
      gateway: this.opts.gatewayId,
      epoch: this.outbox.epoch,
      session: this.session,
      seq: ++this.seq,
      sentAt: this.clock.now(),
      evicted: this.outbox.evictedCounts(),
    };
  }

  private payload(env: Envelope, batch: OutboxBatch): string | Buffer {
    // Telemetry and alarm items come joined from the outbox as bytes: no parse/stringify per row, and
    // no decoding into a JS string and encoding back for the socket.
    const head = JSON.stringify(env).slice(0, -1);
    switch (batch.channel) {
      case 'telemetry':
      case 'alarms': {
        const open = Buffer.from(`${head},"${batch.channel === 'telemetry' ? 'readings' : 'alarms'}":[`);
        return Buffer.concat([open, batch.items ?? Buffer.alloc(0), CLOSE_ARRAY]);
      }
      case 'events':
        return JSON.stringify({ ...env, events: batch.rows.map((r) => eventRecord(r.id, r.ts, r.body)) });
      default:
        return JSON.stringify({ ...env, ...batch.rows[0]!.body, id: batch.rows[0]!.id });
    }
  }

  private publish(client: MqttClient, gen: number, batch: OutboxBatch): void {
    this.inFlight++;
    const env = this.envelope();
    client.publish(
      topics.of(this.opts.gatewayId, batch.channel),
      this.payload(env, batch),
      { qos: 1 },
      (err) => {
        if (gen === this.generation) this.inFlight--;
        if (err) return; // not acknowledged: the rows go again in the next session
        if (gen === this.generation) this.ackedSeq = Math.max(this.ackedSeq, env.seq);
        this.outbox.confirm(batch).then(
          () => {
            this.sent += batch.count;
            this.opts.onAck?.({
              channel: batch.channel,
              session: env.session,
              seq: env.seq,
              first: batch.first,
              last: batch.last,
              count: batch.count,
              backlog: batch.backlog,
            });
            this.pump();
          },
          (e: unknown) => this.log.warn(`confirm failed (rows will be re-sent): ${errorMessage(e)}`),
        );
      },
    );
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.retryTimer?.cancel();
    this.rateTimer?.cancel();
    const client = this.client;
    this.client = undefined;
    this.generation++;
    if (client?.connected) {
      // A clean stop is still "offline" for the fleet, with the last seq so a lost tail shows.
      await client
        .publishAsync(topics.state(this.opts.gatewayId), this.stateMessage('offline', this.seq), {
          qos: 1,
          retain: true,
        })
        .catch(() => undefined);
      await client.endAsync().catch(() => undefined);
    } else {
      client?.end(true);
    }
  }
}
