import type { UplinkChannel } from '../../common/contract/index.js';

/** Priority classes, most urgent first: a lower rank is always sent before a higher one. */
export type OutboxClass = 'alarm' | 'event' | 'telemetry';
export const CLASSES: readonly OutboxClass[] = ['alarm', 'event', 'telemetry'];
export const RANK: Record<OutboxClass, number> = { alarm: 0, event: 1, telemetry: 2 };

/** Channels whose items travel through the outbox (`state` is the birth/Will, sent by the uplink). */
export type OutboxChannel = Exclude<UplinkChannel, 'state'>;

export const CLASS_OF: Record<OutboxChannel, OutboxClass> = {
  alarms: 'alarm',
  events: 'event',
  'config/reported': 'event',
  'cmd/res': 'event',
  'update/progress': 'event',
  'flows/reported': 'event',
  telemetry: 'telemetry',
};

/** Channels batching many items per message; the others send one item per message. */
export const BATCHED: ReadonlySet<OutboxChannel> = new Set(['telemetry', 'events', 'alarms']);

/**
 * Bytes per class (bodies + a per-item estimate of SQLite's overhead), what the disk budget counts. Per
 * item, not per row, whatever the telemetry blocks: the budget means the same as before blocks.
 */
export const ROW_OVERHEAD = 48;

export interface OutboxBudget {
  /** Bytes of telemetry; over it, the oldest telemetry is thinned out, then dropped. */
  telemetry?: number;
  /** Bytes of event-class rows; over it, the oldest events are dropped. */
  events?: number;
  /** Bytes of everything; over it, telemetry goes first, then events. Alarms are never evicted. */
  total?: number;
}

export interface ClassHealth {
  /** Items (readings, events, alarms) not yet confirmed, not rows. */
  depth: number;
  bytes: number;
  /** Age (ms) of the oldest unsent item, by its own timestamp; 0 when empty. */
  oldestAgeMs: number;
}

export interface OutboxHealth {
  classes: Record<OutboxClass, ClassHealth>;
  /** Items taken and not yet confirmed. */
  inFlight: number;
  evicted: { telemetry: number; events: number };
  /** Items refused because the disk was full and nothing could be evicted (never alarms: those wait in memory). */
  rejected: number;
  /** Alarm/event items waiting in memory for disk space. */
  heldInMemory: number;
  diskFull: boolean;
}
