import type { AlarmBatch, EventBatch } from '../../../common/contract/index.js';
import type { UplinkMessage } from '../store.js';

export interface EventItem {
  id: number;
  type: string;
  ts: number;
  body: unknown;
}

/**
 * The event rows a non-telemetry message carries, exactly as the SQLite store keeps them
 * (fleet/src/store-apply.ts): events and alarms item by item, any other channel as one row.
 */
export function eventItems(m: Exclude<UplinkMessage, { channel: 'telemetry' }>): EventItem[] {
  if (m.channel === 'events')
    return (m.value as EventBatch).events.map((x) => ({
      id: x.id,
      type: x.type,
      ts: x.ts,
      body: x.data ?? {},
    }));
  if (m.channel === 'alarms')
    return (m.value as AlarmBatch).alarms.map((x) => {
      const { id, ts, ...rest } = x;
      return { id, type: x.alarm, ts, body: rest };
    });
  const { v: _v, gateway: _g, epoch: _e, session, seq, sentAt, evicted: _x, id, ...body } = m.value;
  const type = 'tx' in body ? String(body.tx) : 'version' in body ? String(body.version) : m.channel;
  // Without an outbox row id (older senders), (session, seq) identifies it: a negative id.
  return [{ id: id ?? -(session * 1_000_000 + seq), type, ts: sentAt, body }];
}
