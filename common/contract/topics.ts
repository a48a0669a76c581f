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

export type Channel = 'telemetry' | 'state';
export const CHANNELS: readonly Channel[] = ['telemetry', 'state'];

export const topics = {
  namespace: (gatewayId: string) => `${TOPIC_ROOT}/${gatewayId}/`,
  telemetry: (gatewayId: string) => `${TOPIC_ROOT}/${gatewayId}/telemetry`,
  state: (gatewayId: string) => `${TOPIC_ROOT}/${gatewayId}/state`,
  /** What the fleet subscribes to. */
  fleetSubscriptions: [`${TOPIC_ROOT}/+/telemetry`, `${TOPIC_ROOT}/+/state`],
} as const;

/** Parse `citygate/v1/<gw>/<channel>`; undefined for anything else. */
export function parseTopic(topic: string): { gatewayId: string; channel: Channel } | undefined {
  const parts = topic.split('/');
  if (parts.length !== 4 || `${parts[0]}/${parts[1]}` !== TOPIC_ROOT) return undefined;
  const [, , gatewayId, channel] = parts as [string, string, string, string];
  if (!isValidId(gatewayId) || !(CHANNELS as readonly string[]).includes(channel)) return undefined;
  return { gatewayId, channel: channel as Channel };
}
