import { ID_PATTERN, PROTOCOL_VERSION } from './topics.js';

/** One sampled value of one point of one device. `ts` is when it was read, ms since the epoch. */
export interface Reading {
  /** Outbox row id: unique and increasing per (gateway, epoch); the fleet dedupes on it. */
  id: number;
  device: string;
  point: string;
  value: number | boolean;
  unit?: string;
  ts: number;
}

export interface TelemetryBatch {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  /** Random id of the gateway's outbox database; changes only if the outbox is recreated. */
  epoch: string;
  /** Incremented at every MQTT connect (like Sparkplug's bdSeq). */
  session: number;
  /** Message sequence number within the session. */
  seq: number;
  sentAt: number;
  readings: Reading[];
}

export interface GatewayState {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  session: number;
  state: 'online' | 'offline';
  ts: number;
  version?: string;
}

const id = { type: 'string', pattern: ID_PATTERN } as const;
const timestamp = { type: 'integer', minimum: 0 } as const;

export const readingSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'device', 'point', 'value', 'ts'],
  properties: {
    id: { type: 'integer', minimum: 1 },
    device: id,
    point: id,
    value: { type: ['number', 'boolean'] },
    unit: { type: 'string', maxLength: 16 },
    ts: timestamp,
  },
} as const;

export const telemetryBatchSchema = {
  $id: 'citygate/v1/telemetry',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gateway', 'epoch', 'session', 'seq', 'sentAt', 'readings'],
  properties: {
    v: { const: PROTOCOL_VERSION },
    gateway: id,
    epoch: { type: 'string', pattern: '^[0-9a-f]{16}$' },
    session: { type: 'integer', minimum: 0 },
    seq: { type: 'integer', minimum: 0 },
    sentAt: timestamp,
    readings: { type: 'array', maxItems: 10000, items: readingSchema },
  },
} as const;

export const gatewayStateSchema = {
  $id: 'citygate/v1/state',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gateway', 'session', 'state', 'ts'],
  properties: {
    v: { const: PROTOCOL_VERSION },
    gateway: id,
    session: { type: 'integer', minimum: 0 },
    state: { enum: ['online', 'offline'] },
    ts: timestamp,
    version: { type: 'string', maxLength: 64 },
  },
} as const;
