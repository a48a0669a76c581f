import type { Clock, Timer } from '../../common/clock.js';
import { CityGateError, errorMessage } from '../../common/errors.js';
import type { Db, SqlValue } from '../../common/sqlite.js';
import {
  CLASS_OF,
  CLASSES,
  RANK,
  ROW_OVERHEAD,
  type OutboxChannel,
  type OutboxClass,
} from './outbox-classes.js';
import { toBlocks } from './outbox-blocks.js';
import { evictEvents, evictTelemetry, type Gone } from './outbox-sql.js';
import type { InFlight, OutboxItem, OutboxOptions } from './outbox.js';

export const isDiskFull = (err: unknown): boolean => {
  const e = err as { code?: string; message?: string };
  return (
    e.code === 'SQLITE_FULL' ||
    e.code === 'ENOSPC' ||
    (e.code === 'SQLITE_IOERR' && /disk|space|write/i.test(e.message ?? '')) ||
    /database or disk is full/i.test(e.message ?? '')
  );
};

/**
 * The outbox's disk space: what each class holds, the budget and its evictions, and what to do
 * when the disk is full. Runs inside the outbox's operation queue (`serial`). Counts are items
 * (readings, events, alarms), not rows: a telemetry row is a block of readings (outbox-blocks.ts);
 * bytes are the items' bodies plus ROW_OVERHEAD per item, whatever the blocks.
 */
export class OutboxSpace {
  readonly bytes: Record<OutboxClass, number> = { alarm: 0, event: 0, telemetry: 0 };
  readonly count: Record<OutboxClass, number> = { alarm: 0, event: 0, telemetry: 0 };
  readonly evicted = { telemetry: 0, events: 0 };
  rejected = 0;
  diskFull = false;
  /**
   * The highest id handed out, to a reading or a row (a telemetry row's id is its last reading's).
   * Ids are assigned here (inside the queue) rather than by SQLite, so telemetry bodies can carry their
   * id; the table keeps AUTOINCREMENT, so `sqlite_sequence` follows in the same transaction and no id
   * is ever handed out twice. Ids of a rolled-back insert are skipped, never reused within a run
   * (nobody saw them anyway).
   */
  lastId = 0;
  held: { channel: OutboxChannel; items: readonly OutboxItem[] }[] = [];
  private unreported = 0;
  private heldTimer: Timer | undefined;

  constructor(
    private readonly db: Db,
    private readonly opts: OutboxOptions,
    private readonly clock: Clock,
    private readonly inflight: InFlight,
    private readonly serial: <T>(fn: () => Promise<T>) => Promise<T>,
  ) {}

  async recount(): Promise<void> {
    for (const c of CLASSES) this.bytes[c] = this.count[c] = 0;
    const rows = await this.db.all<{ cls: number; n: number; b: number }>(
      'SELECT cls, SUM(n) AS n, SUM(bytes) AS b FROM outbox GROUP BY cls',
    );
    for (const r of rows) {
      const c = CLASSES[r.cls]!;
      this.count[c] = r.n;
      this.bytes[c] = r.b + r.n * ROW_OVERHEAD;
    }
    const meta = await this.db.all<{ k: string; v: string }>(
      "SELECT k, v FROM meta WHERE k IN ('evicted.telemetry', 'evicted.events')",
    );
    for (const m of meta) this.evicted[m.k === 'evicted.telemetry' ? 'telemetry' : 'events'] = Number(m.v);
    const seq = await this.db.get<{ m: number | null }>(
      `SELECT MAX(m) AS m FROM (SELECT seq AS m FROM sqlite_sequence WHERE name = 'outbox'
         UNION ALL SELECT MAX(id) FROM outbox)`,
    );
    this.lastId = Math.max(this.lastId, seq?.m ?? 0);
  }

  /** Account for deleted items: `readings` items of class rank `cls` whose bodies took `bytes`. */
  forget(groups: readonly Gone[]): void {
    for (const g of groups) {
      const c = CLASSES[g.cls]!;
      this.count[c] -= g.readings;
      this.bytes[c] -= g.bytes + g.readings * ROW_OVERHEAD;
    }
  }

  /** The body of `Outbox.put`, inside the queue. */
  async store(channel: OutboxChannel, items: readonly OutboxItem[]): Promise<void> {
    const cls = CLASS_OF[channel];
    if (cls !== 'telemetry' && this.held.length > 0) {
      this.hold(channel, items);
      await this.flushHeld();
      return;
    }
    try {
      await this.insertWithRoom(channel, items);
    } catch (err) {
      if (!(err instanceof CityGateError && err.code === 'outbox-full') || cls === 'telemetry') {
        if (cls === 'telemetry') {
          this.rejected += items.length;
          this.unreported += items.length;
        }
        throw err;
      }
      this.hold(channel, items);
    }
    await this.enforceBudget();
  }

  heldCount(): number {
    return this.held.reduce((n, h) => n + h.items.length, 0);
  }

  cancelTimer(): void {
    this.heldTimer?.cancel();
  }

  private hold(channel: OutboxChannel, items: readonly OutboxItem[]): void {
    const heldItems = this.held.reduce((n, h) => n + h.items.length, 0);
    if (heldItems + items.length > (this.opts.heldLimit ?? 10_000)) {
      this.rejected += items.length;
      throw new CityGateError('outbox-full', `outbox full and ${heldItems} items already held in memory`);
    }
    this.held.push({ channel, items });
    this.opts.log?.warn(`disk full: ${items.length} ${channel} item(s) held in memory until there is room`);
    this.heldTimer ??= this.clock.setTimeout(() => {
      this.heldTimer = undefined;
      this.serial(() => this.flushHeld()).catch(() => undefined);
    }, 1000);
  }

  async flushHeld(): Promise<void> {
    while (this.held.length > 0) {
      const h = this.held[0]!;
      try {
        await this.insertWithRoom(h.channel, h.items);
      } catch (err) {
        if (!(err instanceof CityGateError && err.code === 'outbox-full')) throw err;
        this.heldTimer ??= this.clock.setTimeout(() => {
          this.heldTimer = undefined;
          this.serial(() => this.flushHeld()).catch(() => undefined);
        }, 1000);
        return;
      }
      this.held.shift();
    }
  }

  private async insertWithRoom(channel: OutboxChannel, items: readonly OutboxItem[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.insert(channel, items);
        // Still "full" while writes only fit after evicting; clear once one fits as it is.
        if (attempt === 0) this.diskFull = false;
        if (this.unreported > 0) await this.countDropped();
        return;
      } catch (err) {
        if (!isDiskFull(err)) throw err;
        if (!this.diskFull) this.opts.log?.error(`outbox disk full: ${errorMessage(err)}`);
        this.diskFull = true;
        // Make room: the lowest class first, never alarms; telemetry never displaces events.
        let freed = attempt < 8 ? await this.evict('telemetry', items.length * 2).catch(() => 0) : 0;
        if (!freed && CLASS_OF[channel] === 'alarm' && attempt < 8)
          freed = await this.evict('event', items.length * 2).catch(() => 0);
        if (!freed)
          throw new CityGateError(
            'outbox-full',
            `outbox full: no room for ${items.length} ${channel} item(s)`,
            {
              cause: err,
            },
          );
      }
    }
  }

  /** Telemetry refused while the disk was full counts as evicted, once there is room to record it. */
  private async countDropped(): Promise<void> {
    const n = this.unreported;
    try {
      await this.db.transaction(async (db) => {
        await db.run(`INSERT OR IGNORE INTO meta (k, v) VALUES ('evicted.telemetry', '0')`);
        await db.run(
          `UPDATE meta SET v = CAST(CAST(v AS INTEGER) + ? AS TEXT) WHERE k = 'evicted.telemetry'`,
          [n],
        );
      });
      this.unreported -= n;
      this.evicted.telemetry += n;
    } catch {
      // Still no room: counted next time.
    }
  }

  private async insert(channel: OutboxChannel, items: readonly OutboxItem[]): Promise<void> {
    const cls = CLASS_OF[channel];
    if (cls === 'telemetry') return this.insertBlocks(items);
    let bytes = 0;
    let id = this.lastId;
    const rows: SqlValue[][] = items.map((i) => {
      let ts = i.ts;
      let b = i.body;
      if ('ts' in b) {
        // The row's ts is the item's own time; the wire carries it once, beside the id.
        const { ts: own, ...rest } = b;
        if (typeof own === 'number') ts = own;
        b = rest;
      }
      const body = JSON.stringify(b);
      bytes += body.length;
      return [++id, RANK[cls], channel, i.key ?? null, body, ts, body.length];
    });
    this.lastId = id;
    await this.db.transaction((db) =>
      db.insertMany('INSERT INTO outbox (id, cls, channel, key, body, ts, bytes)', 7, rows),
    );
    this.count[cls] += rows.length;
    this.bytes[cls] += bytes + rows.length * ROW_OVERHEAD;
  }

  /** Readings as block rows in wire form (id and ts spliced in): taking a batch only joins bodies. */
  private async insertBlocks(items: readonly OutboxItem[]): Promise<void> {
    const { rows, lastId } = toBlocks(items, this.lastId);
    this.lastId = lastId;
    await this.db.transaction((db) =>
      db.insertMany(
        'INSERT INTO outbox (id, cls, n, channel, body, ts, bytes)',
        7,
        rows.map((r) => [r.id, RANK.telemetry, r.n, 'telemetry', r.body, r.ts, r.bytes]),
      ),
    );
    this.count.telemetry += items.length;
    this.bytes.telemetry += rows.reduce((s, r) => s + r.bytes, 0) + items.length * ROW_OVERHEAD;
  }

  private total(): number {
    return this.bytes.alarm + this.bytes.event + this.bytes.telemetry;
  }

  /** Evict about `items` items of a class (thinning telemetry first); returns how many went. */
  private async evict(cls: 'telemetry' | 'event', items: number): Promise<number> {
    const n = Math.max(64, Math.ceil(items));
    const gone =
      cls === 'telemetry'
        ? await evictTelemetry(this.db, n, this.inflight)
        : await evictEvents(this.db, n, this.inflight);
    this.forget(gone);
    const counter = cls === 'telemetry' ? 'telemetry' : 'events';
    const went = gone.reduce((s, g) => s + g.readings, 0);
    this.evicted[counter] += went;
    if (went) this.opts.log?.warn(`outbox evicted ${went} ${counter} item(s) (budget or disk full)`);
    return went;
  }

  private async enforceBudget(): Promise<void> {
    const b = this.opts.budget ?? {};
    const avg = (c: OutboxClass) => (this.count[c] ? this.bytes[c] / this.count[c] : 100);
    const over = (x: number, limit: number | undefined) => (limit === undefined ? 0 : x - limit);
    let o: number;
    while ((o = over(this.bytes.telemetry, b.telemetry)) > 0)
      if (!(await this.evict('telemetry', o / avg('telemetry')))) break;
    while ((o = over(this.bytes.event, b.events)) > 0)
      if (!(await this.evict('event', o / avg('event')))) break;
    while ((o = over(this.total(), b.total)) > 0) {
      if (await this.evict('telemetry', o / avg('telemetry'))) continue;
      if (!(await this.evict('event', o / avg('event')))) break;
    }
  }
}
