import { schemas } from '../../common/contract/index.js';
import { ValidationError } from '../../common/errors.js';
import { check } from '../../common/json-schema.js';
import type { OutboxChannel } from './outbox-classes.js';

/** Events are put as `{type, ...fields}`; on the wire the fields travel in `data`. */
export function eventRecord(id: number, ts: number, body: Record<string, unknown>): Record<string, unknown> {
  const { type, ts: _ts, data, ...rest } = body;
  const merged = { ...(data && typeof data === 'object' ? (data as Record<string, unknown>) : {}), ...rest };
  return {
    id,
    ts,
    type: typeof type === 'string' ? type : 'event',
    ...(Object.keys(merged).length ? { data: merged } : {}),
  };
}

const probe = { v: 1, gateway: 'gw', epoch: '0000000000000000', session: 0, seq: 1, sentAt: 0 };

/**
 * Refuse at the door what the fleet would reject: an item that fails the wire schema is an error
 * for the caller (logged there), instead of a batch the fleet drops whole.
 */
export function validateItems(
  channel: OutboxChannel,
  items: readonly { body: Record<string, unknown>; ts: number }[],
): void {
  const issues: string[] = [];
  items.forEach((item, i) => {
    const { ts: _own, ...body } = item.body;
    let msg: Record<string, unknown>;
    if (channel === 'alarms') msg = { ...probe, alarms: [{ ...body, id: 1, ts: item.ts }] };
    else if (channel === 'events') msg = { ...probe, events: [eventRecord(1, item.ts, item.body)] };
    else msg = { ...probe, ...body, id: 1 };
    const r = check(schemas[channel], msg);
    if (!r.ok) issues.push(...r.issues.map((x) => `[${i}] ${x}`));
  });
  if (issues.length) throw new ValidationError(`${channel} item`, issues);
}

/** Non-finite numbers cannot travel as JSON numbers: such readings are dropped, never the batch. */
export function finiteReadings<T extends { value: number | boolean }>(readings: readonly T[]): T[] {
  return readings.filter((r) => typeof r.value === 'boolean' || Number.isFinite(r.value));
}
