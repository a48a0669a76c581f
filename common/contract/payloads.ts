import { ID_PATTERN, PROTOCOL_VERSION } from './topics.js';

/**
 * What every message a gateway sends through its outbox carries, so the fleet can dedupe and
 * detect gaps: `epoch` (random id of the outbox database), `session` (incremented at every MQTT
 * connect and persisted, like Sparkplug's bdSeq) and `seq` (message number within the session;
 * 0 is the birth). `evicted` are the outbox's cumulative eviction counters for this epoch.
 */
export interface Envelope {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  epoch: string;
  session: number;
  seq: number;
  sentAt: number;
  evicted?: EvictedCounts;
  /** Single-item messages (cmd/res, config/reported, update/progress): the outbox row id, for dedupe. */
  id?: number;
}

/** Cumulative rows the outbox dropped (or thinned out) to stay within its disk budget. Alarms never are. */
export interface EvictedCounts {
  telemetry: number;
  events: number;
}

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

export interface TelemetryBatch extends Envelope {
  readings: Reading[];
}

/** Something that happened on the gateway (rule fired, device went offline, commissioning report…). */
export interface EventRecord {
  id: number;
  ts: number;
  type: string;
  data?: Record<string, unknown>;
}

export interface EventBatch extends Envelope {
  events: EventRecord[];
}

export type Severity = 'critical' | 'major' | 'minor' | 'warning';

export interface AlarmRecord {
  id: number;
  ts: number;
  alarm: string;
  key: string;
  device?: string;
  severity: Severity;
  state: 'raised' | 'cleared';
  message: string;
}

export interface AlarmBatch extends Envelope {
  alarms: AlarmRecord[];
}

/** Birth (`online`, seq 0 of a session), death (`offline`: the Will, or a clean stop). Retained. */
export interface GatewayState {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  session: number;
  state: 'online' | 'offline';
  ts: number;
  version?: string;
  epoch?: string;
  /** Birth: 0. A clean stop: the last seq of the session, so the fleet can see a lost tail. Wills: absent. */
  seq?: number;
  evicted?: EvictedCounts;
  /** Birth only: the previous session of this process and its last acknowledged seq (a lost tail shows). */
  previous?: { session: number; seq: number };
}

const id = { type: 'string', pattern: ID_PATTERN } as const;
const timestamp = { type: 'integer', minimum: 0 } as const;
const counter = { type: 'integer', minimum: 0 } as const;

export const evictedSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['telemetry', 'events'],
  properties: { telemetry: counter, events: counter },
} as const;

export const envelopeProperties = {
  v: { const: PROTOCOL_VERSION },
  gateway: id,
  epoch: { type: 'string', pattern: '^[0-9a-f]{16}$' },
  session: counter,
  seq: counter,
  sentAt: timestamp,
  evicted: evictedSchema,
  id: { type: 'integer', minimum: 1 },
} as const;
export const envelopeRequired = ['v', 'gateway', 'epoch', 'session', 'seq', 'sentAt'] as const;

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
  required: [...envelopeRequired, 'readings'],
  properties: {
    ...envelopeProperties,
    readings: { type: 'array', maxItems: 10000, items: readingSchema },
  },
} as const;

export const eventBatchSchema = {
  $id: 'citygate/v1/events',
  type: 'object',
  additionalProperties: false,
  required: [...envelopeRequired, 'events'],
  properties: {
    ...envelopeProperties,
    events: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'ts', 'type'],
        properties: {
          id: { type: 'integer', minimum: 1 },
          ts: timestamp,
          type: { type: 'string', minLength: 1, maxLength: 64 },
          data: { type: 'object' },
        },
      },
    },
  },
} as const;

export const alarmBatchSchema = {
  $id: 'citygate/v1/alarms',
  type: 'object',
  additionalProperties: false,
  required: [...envelopeRequired, 'alarms'],
  properties: {
    ...envelopeProperties,
    alarms: {
      type: 'array',
      maxItems: 1000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'ts', 'alarm', 'key', 'severity', 'state', 'message'],
        properties: {
          id: { type: 'integer', minimum: 1 },
          ts: timestamp,
          alarm: { type: 'string', minLength: 1, maxLength: 128 },
          key: { type: 'string', minLength: 1, maxLength: 200 },
          device: id,
          severity: { enum: ['critical', 'major', 'minor', 'warning'] },
          state: { enum: ['raised', 'cleared'] },
          message: { type: 'string', maxLength: 1000 },
        },
      },
    },
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
    session: counter,
    state: { enum: ['online', 'offline'] },
    ts: timestamp,
    version: { type: 'string', maxLength: 64 },
    epoch: envelopeProperties.epoch,
    seq: counter,
    evicted: evictedSchema,
    previous: {
      type: 'object',
      additionalProperties: false,
      required: ['session', 'seq'],
      properties: { session: counter, seq: counter },
    },
  },
} as const;
