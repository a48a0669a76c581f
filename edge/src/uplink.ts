import mqtt, { type MqttClient } from 'mqtt';
import type { Clock, Timer } from '../../common/clock.js';
import {
  encode,
  PROTOCOL_VERSION,
  topics,
  type GatewayState,
  type Reading,
} from '../../common/contract/index.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Outbox } from './outbox.js';

export interface UplinkOptions {
  gatewayId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  version: string;
  batchSize?: number;
}

export type UplinkState = 'stopped' | 'connecting' | 'online' | 'offline';

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 30_000;

/**
 * Publishes what the outbox holds. One MQTT connection per session: each connect increments the
 * persistent session number and sets a Will carrying it; reconnects are ours (jittered backoff),
 * so every session has its own Will. Rows are confirmed only after the broker's PUBACK.
 */
export class Uplink {
  private client: MqttClient | undefined;
  private session = 0;
  private seq = 0;
  private draining = false;
  private retryMs = MIN_RETRY_MS;
  private retryTimer: Timer | undefined;
  state: UplinkState = 'stopped';
  sent = 0;

  constructor(
    private readonly opts: UplinkOptions,
    private readonly outbox: Outbox,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  start(): void {
    if (this.state !== 'stopped') return;
    this.state = 'connecting';
    this.reconnect();
  }

  private stateMessage(state: 'online' | 'offline'): string {
    const msg: GatewayState = {
      v: PROTOCOL_VERSION,
      gateway: this.opts.gatewayId,
      session: this.session,
      state,
      ts: this.clock.now(),
      version: this.opts.version,
    };
    return encode('state', msg);
  }

  private reconnect(): void {
    this.connect().catch((err: unknown) => {
      if (this.state !== 'stopped') this.log.error(`uplink cannot start a session: ${errorMessage(err)}`);
    });
  }

  private async connect(): Promise<void> {
    if (this.state === 'stopped') return;
    this.session = await this.outbox.nextCounter('session');
    this.seq = 0;
    if ((this.state as UplinkState) === 'stopped') return;
    const { gatewayId } = this.opts;
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
      this.state = 'online';
      this.retryMs = MIN_RETRY_MS;
      this.log.info(`connected to ${this.opts.mqttUrl} (session ${this.session})`);
      client.publish(topics.state(gatewayId), this.stateMessage('online'), { qos: 1, retain: true });
      this.notify();
    });
    client.on('error', (err) => this.log.warn(`mqtt: ${errorMessage(err)}`));
    client.on('close', () => {
      if (this.client !== client) return;
      client.removeAllListeners('close');
      client.end(true);
      this.client = undefined;
      if (this.state === 'stopped') return;
      this.state = 'offline';
      const delay = Math.round(this.retryMs * (0.5 + Math.random()));
      this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
      this.log.debug(`uplink closed; reconnecting in ${delay} ms`);
      this.retryTimer = this.clock.setTimeout(() => this.reconnect(), delay);
    });
  }

  /** New rows are in the outbox: publish them if connected. */
  notify(): void {
    if (this.draining || this.state !== 'online' || !this.client) return;
    this.draining = true;
    const client = this.client;
    void (async () => {
      try {
        for (;;) {
          if (this.client !== client || this.state !== 'online') break;
          const rows = await this.outbox.readBatch<Omit<Reading, 'id' | 'ts'>>(
            'reading',
            this.opts.batchSize ?? 500,
          );
          if (rows.length === 0) break;
          const payload = encode('telemetry', {
            v: PROTOCOL_VERSION,
            gateway: this.opts.gatewayId,
            epoch: this.outbox.epoch,
            session: this.session,
            seq: ++this.seq,
            sentAt: this.clock.now(),
            readings: rows.map((r) => ({ ...r.body, id: r.id, ts: r.ts })),
          });
          await client.publishAsync(topics.telemetry(this.opts.gatewayId), payload, { qos: 1 });
          await this.outbox.confirm(rows.map((r) => r.id));
          this.sent += rows.length;
        }
      } catch (err) {
        this.log.warn(`publish failed, will retry after reconnect: ${errorMessage(err)}`);
      } finally {
        this.draining = false;
      }
    })();
  }

  async stop(): Promise<void> {
    this.state = 'stopped';
    this.retryTimer?.cancel();
    const client = this.client;
    this.client = undefined;
    if (client?.connected) {
      // A clean stop is still "offline" for the fleet: publish it, then disconnect.
      await client
        .publishAsync(topics.state(this.opts.gatewayId), this.stateMessage('offline'), {
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
