/**
 * The fleet's control connection for configuration: publishes signed desired configs (retained,
 * QoS 1) and records what gateways report on `config/reported`.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../../common/clock.js';
import {
  decode,
  encode,
  parseTopic,
  topics,
  TOPIC_ROOT,
  type CommandRequest,
  type CommandResponse,
  type ConfigDesired,
} from '../../../common/contract/index.js';
import type { Logger } from '../../../common/log.js';
import type { DesiredConfigService } from './service.js';

export interface ConfigLink {
  publish(gateway: string, msg: ConfigDesired): Promise<void>;
  /** Send a command (`cmd/req`, QoS 1, not retained). */
  sendCommand(gateway: string, req: CommandRequest): Promise<void>;
  /** Called with every valid `cmd/res`. */
  onCommandResponse(fn: (res: CommandResponse) => void): void;
  /** Reports recorded since start (applied + rejected). */
  readonly stats: { applied: number; rejected: number; invalid: number };
  attach(service: DesiredConfigService): void;
  close(): Promise<void>;
}

export async function startConfigLink(
  opts: { url: string; clientId: string; username?: string; password?: string; ca?: string },
  clock: Clock,
  log: Logger,
): Promise<ConfigLink> {
  const client: MqttClient = await mqtt.connectAsync(opts.url, {
    clientId: opts.clientId,
    username: opts.username,
    password: opts.password,
    ...(opts.ca ? { ca: opts.ca } : {}),
    clean: true,
    reconnectPeriod: 1000,
  });
  let service: DesiredConfigService | undefined;
  const stats = { applied: 0, rejected: 0, invalid: 0 };
  const responseListeners: ((res: CommandResponse) => void)[] = [];
  client.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (t?.channel === 'cmd/res') {
      const d = decode('cmd/res', t.gatewayId, payload);
      if (d.ok) for (const fn of responseListeners) fn(d.value);
      else log.warn(`rejected cmd/res from ${t.gatewayId}: ${d.error}`);
      return;
    }
    if (!t || t.channel !== 'config/reported') return;
    const d = decode('config/reported', t.gatewayId, payload);
    if (!d.ok) {
      stats.invalid++;
      log.warn(`rejected config/reported from ${t.gatewayId}: ${d.error}`);
      return;
    }
    stats[d.value.status]++;
    if (d.value.status === 'rejected')
      log.warn(
        `gateway ${t.gatewayId} rejected config v${d.value.version}: ${d.value.error ?? '(no reason)'}`,
      );
    service
      ?.recordReported(d.value, clock.now())
      .catch((err: unknown) => log.error(`cannot record report: ${String(err)}`));
  });
  await client.subscribeAsync([`${TOPIC_ROOT}/+/config/reported`, `${TOPIC_ROOT}/+/cmd/res`], { qos: 1 });
  return {
    stats,
    async sendCommand(gateway, req) {
      await client.publishAsync(topics.commandRequest(gateway), encode('cmd/req', req), { qos: 1 });
    },
    onCommandResponse(fn) {
      responseListeners.push(fn);
    },
    attach(s) {
      service = s;
    },
    async publish(gateway, msg) {
      await client.publishAsync(topics.configDesired(gateway), encode('config/desired', msg), {
        qos: 1,
        retain: true,
      });
    },
    async close() {
      await client.endAsync();
    },
  };
}
