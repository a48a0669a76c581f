/**
 * The outbox's units: items put, rows taken, batches carried by one MQTT message, and what is in flight.
 * A telemetry row is a block of readings (outbox-blocks.ts); an alarm or event row is one item.
 */
import { RANK, type OutboxChannel, type OutboxClass } from './outbox-classes.js';

/**
 * One thing to send. `key` is stored with alarm and event rows; telemetry is grouped for downsampling
 * by its body's `device.point` (a block row holds readings of many points).
 */
export interface OutboxItem {
  body: Record<string, unknown>;
  ts: number;
  key?: string;
}

/** A taken item (an event row, or one reading of a parsed batch): `json` is its body without id and ts. */
export class OutboxRow {
  constructor(
    readonly id: number,
    readonly ts: number,
    readonly json: string,
  ) {}

  get body(): Record<string, unknown> {
    return JSON.parse(this.json) as Record<string, unknown>;
  }
}

/**
 * What one MQTT message carries: rows of one channel, in id order — every row of its class with an id
 * in [first, last] (row ids), `count` items in all (readings for telemetry). Telemetry and alarm batches
 * come as `items`, the UTF-8 bytes of the wire items (`id` and `ts` in them, so no per-item objects are
 * made); `rows` parses them into items when needed.
 */
export class OutboxBatch {
  constructor(
    readonly channel: OutboxChannel,
    readonly cls: OutboxClass,
    /** Telemetry older than the current session (rate-limited by the uplink). */
    readonly backlog: boolean,
    readonly first: number,
    readonly last: number,
    readonly count: number,
    readonly bytes: number,
    /** The joined wire items as bytes: SQLite hands them over as a BLOB, so no UTF-8 decoding here. */
    readonly items: Buffer | undefined,
    private readonly parsed: OutboxRow[] | undefined,
  ) {}

  /** The joined wire items as text (`{…},{…}`). */
  get itemsJson(): string | undefined {
    return this.items?.toString('utf8');
  }

  get rows(): OutboxRow[] {
    if (this.parsed) return this.parsed;
    const items = JSON.parse(`[${this.itemsJson ?? ''}]`) as Record<string, unknown>[];
    return items.map(
      ({ id, ts, ...body }) => new OutboxRow(id as number, ts as number, JSON.stringify(body)),
    );
  }
}

/** Which rows are in flight (taken, not yet confirmed): whole batches, by class and id range. */
export class InFlight {
  private readonly batches = new Set<OutboxBatch>();
  add(b: OutboxBatch): void {
    this.batches.add(b);
  }
  delete(b: OutboxBatch): boolean {
    return this.batches.delete(b);
  }
  clear(): void {
    this.batches.clear();
  }
  /** Items in flight (readings, not telemetry rows). */
  rows(): number {
    let n = 0;
    for (const b of this.batches) n += b.count;
    return n;
  }
  has(clsRank: number, id: number): boolean {
    for (const b of this.batches) if (RANK[b.cls] === clsRank && id >= b.first && id <= b.last) return true;
    return false;
  }
}
