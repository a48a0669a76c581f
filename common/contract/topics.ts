/**
 * Topic layout, version 1. Every topic a gateway uses lives under its own namespace
 * `citygate/v1/<gatewayId>/…`, which is what the broker's ACL enforces.
 */
export const PROTOCOL_VERSION = 1;
export const TOPIC_ROOT = `citygate/v${PROTOCOL_VERSION}`;

/** Gateway, device and point ids: lower-case letters, digits and dashes; never MQTT wildcards or `/`. */
export const ID_PATTERN = '^[a-z0-9][a-z0-9-]{0,62}$';
const ID_RE = new RegExp(ID_PATTERN);

export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}

/** What a gateway publishes (all of it through its outbox, except `state`, which is also its Will). */
export const UPLINK_CHANNELS = [
  'telemetry',
  'events',
  'alarms',
  'state',
  'config/reported',
  'cmd/res',
  'update/progress',
  'flows/reported',
] as const;
/** What the fleet publishes to one gateway. */
export const DOWNLINK_CHANNELS = ['config/desired', 'cmd/req', 'update/control', 'flows/desired'] as const;

export type UplinkChannel = (typeof UPLINK_CHANNELS)[number];
export type DownlinkChannel = (typeof DOWNLINK_CHANNELS)[number];
export type Channel = UplinkChannel | DownlinkChannel;
export const CHANNELS: readonly Channel[] = [...UPLINK_CHANNELS, ...DOWNLINK_CHANNELS];

const topic = (channel: Channel) => (gatewayId: string) => `${TOPIC_ROOT}/${gatewayId}/${channel}`;

export const topics = {
  namespace: (gatewayId: string) => `${TOPIC_ROOT}/${gatewayId}/`,
  of: (gatewayId: string, channel: Channel) => `${TOPIC_ROOT}/${gatewayId}/${channel}`,
  telemetry: topic('telemetry'),
  events: topic('events'),
  alarms: topic('alarms'),
  state: topic('state'),
  configReported: topic('config/reported'),
  configDesired: topic('config/desired'),
  commandRequest: topic('cmd/req'),
  commandResponse: topic('cmd/res'),
  updateControl: topic('update/control'),
  updateProgress: topic('update/progress'),
  flowsDesired: topic('flows/desired'),
  flowsReported: topic('flows/reported'),
  /** What the fleet subscribes to: everything gateways publish. */
  fleetSubscriptions: UPLINK_CHANNELS.map((c) => `${TOPIC_ROOT}/+/${c}`),
  /** What a gateway subscribes to: what the fleet sends it. */
  gatewaySubscriptions: (gatewayId: string) =>
    DOWNLINK_CHANNELS.map((c) => `${TOPIC_ROOT}/${gatewayId}/${c}`),
} as const;

export function isUplinkChannel(c: Channel): c is UplinkChannel {
  return (UPLINK_CHANNELS as readonly string[]).includes(c);
}

/** Parse `citygate/v1/<gw>/<channel>`; undefined for anything else. */
export function parseTopic(topic: string): { gatewayId: string; channel: Channel } | undefined {
  const parts = topic.split('/');
  if (parts.length < 4 || parts.length > 5 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const gatewayId = parts[2]!;
  const channel = parts.slice(3).join('/');
  if (!isValidId(gatewayId) || !(CHANNELS as readonly string[]).includes(channel)) return undefined;
  return { gatewayId, channel: channel as Channel };
}
