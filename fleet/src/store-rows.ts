/** Row → record mappings both store engines share (fleet/src/store.ts, fleet/src/pg/store.ts). */
import type { GatewayRecord, SessionGap, StoredEvent, StoredReading } from './store.js';

/** A `gateways` row with its epochs' and sessions' sums (both engines: GATEWAY_SELECT). */
export interface GatewayRow {
  id: string;
  /** SQLite: 0/1; PostgreSQL: boolean. */
  online: number | boolean;
  session: number;
  version: string | null;
  first_seen: number;
  last_seen: number;
  readings: number;
  duplicates: number;
  dup_messages: number;
  evicted_telemetry: number | null;
  evicted_events: number | null;
  missing: number | null;
}

export const toRecord = (r: GatewayRow): GatewayRecord => ({
  id: r.id,
  online: r.online === 1 || r.online === true,
  session: r.session,
  version: r.version,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  readings: r.readings,
  duplicates: r.duplicates,
  evicted: { telemetry: r.evicted_telemetry ?? 0, events: r.evicted_events ?? 0 },
  missingMessages: Math.max(0, r.missing ?? 0),
  duplicateMessages: r.dup_messages,
});

export interface ReadingRow {
  device: string;
  point: string;
  value: number;
  is_bool: number | boolean;
  unit: string | null;
  ts: number;
  received: number;
}

export const toEvent = (r: {
  channel: string;
  type: string;
  ts: number;
  body: string;
  received: number;
}): StoredEvent => ({
  channel: r.channel,
  type: r.type,
  ts: r.ts,
  body: JSON.parse(r.body) as unknown,
  receivedAt: r.received,
});

export const toGap = (r: { epoch: string; session: number; last: number; received: number }): SessionGap => ({
  epoch: r.epoch,
  session: r.session,
  lastSeq: r.last,
  received: r.received,
  missing: r.last - r.received,
});

export const toReading = (r: ReadingRow): StoredReading => ({
  device: r.device,
  point: r.point,
  value: r.is_bool ? r.value !== 0 : r.value,
  unit: r.unit === '' ? null : r.unit,
  ts: r.ts,
  receivedAt: r.received,
});

/** Rows ordered by device, point, newest first → the first of each point (a unit change makes two keys). */
export function newestPerPoint(rows: readonly StoredReading[]): StoredReading[] {
  const out = new Map<string, StoredReading>();
  for (const r of rows) {
    const k = `${r.device}\u0000${r.point}`;
    const had = out.get(k);
    if (!had || r.ts > had.ts) out.set(k, r);
  }
  return [...out.values()];
}
