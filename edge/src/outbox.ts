import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { Db } from '../../common/sqlite.js';
import {
  BATCHED,
  CLASSES,
  RANK,
  type OutboxBudget,
  type OutboxChannel,
  type OutboxClass,
  type OutboxHealth,
} from './outbox-classes.js';
import { migrate, SCHEMA } from './outbox-sql.js';
import { OutboxSpace } from './outbox-space.js';
import { finiteReadings, validateItems } from './outbox-validate.js';

export * from './outbox-classes.js';

/** One thing to send; `key` groups telemetry of one point for downsampling (`device.point`). */
export interface OutboxItem {
  body: Record<string, unknown>;
  ts: number;
  key?: string;
}

/** A taken row: `json` is the body as stored (the uplink splices it into payloads unparsed). */
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
 * in [first, last]. Telemetry and alarm batches come as `itemsJson` (the wire items, `id` and `ts`
 * spliced in by SQLite, so no per-row objects are made); `rows` parses them when needed.
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
    readonly itemsJson: string | undefined,
    private readonly parsed: OutboxRow[] | undefined,
  ) {}

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

export interface OutboxOptions {
  budget?: OutboxBudget;
  /** `PRAGMA max_page_count`: a hard size limit for the database file (tests use it to fill the "disk"). */
  maxPageCount?: number;
  clock?: Clock;
  log?: Logger;
  /** Alarm/event items kept in memory while the disk is full (beyond that, they are refused). */
  heldLimit?: number;
}

/**
 * Store-and-forward outbox on SQLite: put → take a batch → confirm (delete) only after the broker
 * acknowledged. WAL with synchronous=FULL: a committed row survives power loss (docs/architecture.md).
 * AUTOINCREMENT ids are never reused, so (epoch, id) identifies a row for the fleet's dedupe forever.
 *
 * Every database operation runs through one queue (`serial`), so a reader never sees another
 * operation's uncommitted rows. Per session, rows are taken once: alarms, then events, then live
 * telemetry (ids above the session's boundary), then the telemetry backlog, each class in id order.
 */
export class Outbox {
  private lock: Promise<unknown> = Promise.resolve();
  private readonly inflight = new InFlight();
  private boundary = 0;
  private readonly cursor = { alarm: 0, event: 0, telemetry: 0, live: 0 };
  private pendingConfirm: OutboxBatch[] = [];
  private confirmQueued: Promise<void> | undefined;
  private readonly clock: Clock;
  private readonly space: OutboxSpace;

  private constructor(
    private readonly db: Db,
    readonly epoch: string,
    private readonly opts: OutboxOptions,
  ) {
    this.clock = opts.clock ?? realClock;
    this.space = new OutboxSpace(db, opts, this.clock, this.inflight, (fn) => this.serial(fn));
  }

  static async open(path: string, opts: OutboxOptions = {}): Promise<Outbox> {
    const db = await Db.open(path);
    await db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;`);
    if (opts.maxPageCount) await db.exec(`PRAGMA max_page_count = ${Math.floor(opts.maxPageCount)}`);
    await db.exec(SCHEMA);
    await migrate(db);
    await db.run(`INSERT OR IGNORE INTO meta (k, v) VALUES ('epoch', ?)`, [randomBytes(8).toString('hex')]);
    const row = await db.get<{ v: string }>(`SELECT v FROM meta WHERE k = 'epoch'`);
    const outbox = new Outbox(db, row!.v, opts);
    await outbox.space.recount();
    return outbox;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  putReadings(
    readings: readonly {
      device: string;
      point: string;
      value: number | boolean;
      unit?: string;
      ts: number;
    }[],
  ): Promise<void> {
    return this.put(
      'telemetry',
      finiteReadings(readings).map((r) => ({
        body: { device: r.device, point: r.point, value: r.value, ...(r.unit ? { unit: r.unit } : {}) },
        ts: r.ts,
        key: `${r.device}.${r.point}`,
      })),
    );
  }

  /**
   * Commit items durably in one transaction; resolves once they are on disk. Over budget, older
   * rows of lower classes are evicted. With the disk full, room is made by evicting telemetry (then
   * events); alarms and events that still do not fit wait in memory and are retried; telemetry that
   * does not fit is refused with `outbox-full` (counted in `rejected`).
   */
  put(channel: OutboxChannel, items: readonly OutboxItem[]): Promise<void> {
    if (items.length === 0) return Promise.resolve();
    if (channel !== 'telemetry') {
      try {
        validateItems(channel, items);
      } catch (err) {
        return Promise.reject(err as Error);
      }
    }
    return this.serial(() => this.space.store(channel, items));
  }

  /** Start a new uplink session: everything unconfirmed is sent again, the backlog ends here. */
  beginSession(): Promise<void> {
    return this.serial(async () => {
      this.inflight.clear();
      const row = await this.db.get<{ m: number | null }>('SELECT MAX(id) AS m FROM outbox');
      this.boundary = row?.m ?? 0;
      Object.assign(this.cursor, { alarm: 0, event: 0, telemetry: 0, live: this.boundary });
    });
  }

  /**
   * The next batch to publish, or undefined. Alarms, then events, then live telemetry, then up to
   * `backlogRows` rows of telemetry backlog. Taken rows stay in flight until confirmed.
   */
  take(maxRows: number, backlogRows = Infinity): Promise<OutboxBatch | undefined> {
    return this.serial(async () => {
      if (this.space.count.alarm > 0) {
        const b = await this.aggregate('alarm', this.cursor.alarm, Infinity, Math.min(maxRows, 1000), false);
        if (b) return ((this.cursor.alarm = b.last), b);
      }
      if (this.space.count.event > 0) {
        const b = await this.selectEvents(this.cursor.event, Math.min(maxRows, 1000));
        if (b) return ((this.cursor.event = b.last), b);
      }
      if (this.space.count.telemetry === 0) return undefined;
      const live = await this.aggregate('telemetry', this.cursor.live, Infinity, maxRows, false);
      if (live) return ((this.cursor.live = live.last), live);
      const n = Math.min(maxRows, Math.floor(backlogRows));
      if (n < 1 || this.cursor.telemetry >= this.boundary) return undefined;
      const back = await this.aggregate('telemetry', this.cursor.telemetry, this.boundary, n, true);
      this.cursor.telemetry = back ? back.last : this.boundary;
      return back;
    });
  }

  /** One class with a single channel: SQLite builds the wire items and their join in one row. */
  private async aggregate(
    cls: 'alarm' | 'telemetry',
    after: number,
    upTo: number,
    limit: number,
    backlog: boolean,
  ): Promise<OutboxBatch | undefined> {
    const r = await this.db.get<{ n: number; first: number; last: number; bytes: number; items: string }>(
      `SELECT COUNT(*) AS n, MIN(id) AS first, MAX(id) AS last, SUM(bytes) AS bytes,
         group_concat(CASE WHEN length(body) > 2 THEN substr(body, 1, length(body) - 1) || ',' ELSE '{' END
           || '"id":' || id || ',"ts":' || ts || '}', ',' ORDER BY id) AS items
       FROM (SELECT id, body, ts, bytes FROM outbox WHERE cls = ? AND id > ? AND id <= ? ORDER BY id LIMIT ?)`,
      [RANK[cls], after, Number.isFinite(upTo) ? upTo : Number.MAX_SAFE_INTEGER, limit],
    );
    if (!r || r.n === 0) return undefined;
    const channel = cls === 'alarm' ? 'alarms' : 'telemetry';
    const b = new OutboxBatch(channel, cls, backlog, r.first, r.last, r.n, r.bytes, r.items, undefined);
    this.inflight.add(b);
    return b;
  }

  /** The event class mixes channels: rows of the first one (one row for single-item channels). */
  private async selectEvents(after: number, limit: number): Promise<OutboxBatch | undefined> {
    const rows = await this.db.all<{
      id: number;
      channel: OutboxChannel;
      body: string;
      ts: number;
      bytes: number;
    }>(`SELECT id, channel, body, ts, bytes FROM outbox WHERE cls = ? AND id > ? ORDER BY id LIMIT ?`, [
      RANK.event,
      after,
      limit,
    ]);
    if (rows.length === 0) return undefined;
    const channel = rows[0]!.channel;
    let end = rows.findIndex((r) => r.channel !== channel);
    if (end < 0) end = rows.length;
    if (!BATCHED.has(channel)) end = 1;
    const taken = rows.slice(0, end);
    const b = new OutboxBatch(
      channel,
      'event',
      false,
      taken[0]!.id,
      taken.at(-1)!.id,
      taken.length,
      taken.reduce((n, r) => n + r.bytes, 0),
      undefined,
      taken.map((r) => new OutboxRow(r.id, r.ts, r.body)),
    );
    this.inflight.add(b);
    return b;
  }

  /**
   * Remove a batch the broker has acknowledged (batches confirmed meanwhile share one transaction).
   * Deleted by class and id range, with synchronous=NORMAL: a delete lost to a power cut only means
   * the rows are sent again (the fleet dedupes); the next FULL commit syncs the WAL, deletes included.
   */
  confirm(batch: OutboxBatch): Promise<void> {
    this.pendingConfirm.push(batch);
    this.confirmQueued ??= this.serial(async () => {
      this.confirmQueued = undefined;
      const batches = this.pendingConfirm;
      this.pendingConfirm = [];
      let exact = true;
      await this.db.exec('PRAGMA synchronous = NORMAL');
      try {
        await this.db.transaction(async (db) => {
          for (const b of batches) {
            const r = await db.run('DELETE FROM outbox WHERE cls = ? AND id BETWEEN ? AND ?', [
              RANK[b.cls],
              b.first,
              b.last,
            ]);
            if (r.changes === b.count)
              this.space.forget([{ cls: RANK[b.cls], rows: b.count, bytes: b.bytes }]);
            else exact = false; // confirmed twice (a re-sent batch): count again
          }
        });
      } finally {
        await this.db.exec('PRAGMA synchronous = FULL');
      }
      for (const b of batches) this.inflight.delete(b);
      if (!exact) await this.space.recount();
      if (this.space.held.length) await this.space.flushHeld();
    });
    return this.confirmQueued;
  }

  /** Forget what is in flight (the connection closed): those rows go again next session. */
  releaseInFlight(): void {
    this.inflight.clear();
  }

  evictedCounts(): { telemetry: number; events: number } {
    return { ...this.space.evicted };
  }

  async depth(): Promise<number> {
    await this.lock;
    return this.space.count.alarm + this.space.count.event + this.space.count.telemetry;
  }

  health(): Promise<OutboxHealth> {
    return this.serial(async () => {
      const now = this.clock.now();
      const classes = {} as OutboxHealth['classes'];
      for (const c of CLASSES) {
        const row = this.space.count[c]
          ? await this.db.get<{ ts: number }>('SELECT ts FROM outbox WHERE cls = ? ORDER BY id LIMIT 1', [
              RANK[c],
            ])
          : undefined;
        classes[c] = {
          depth: this.space.count[c],
          bytes: this.space.bytes[c],
          oldestAgeMs: row ? Math.max(0, now - row.ts) : 0,
        };
      }
      return {
        classes,
        inFlight: this.inflight.rows(),
        evicted: { ...this.space.evicted },
        rejected: this.space.rejected,
        heldInMemory: this.space.heldCount(),
        diskFull: this.space.diskFull,
      };
    });
  }

  /** Persistent counter (e.g. the MQTT session number), incremented and returned. */
  nextCounter(name: string): Promise<number> {
    return this.serial(() =>
      this.db.transaction(async (db) => {
        const row = await db.get<{ v: string }>('SELECT v FROM meta WHERE k = ?', [name]);
        const next = (row ? Number(row.v) : 0) + 1;
        await db.run('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)', [name, String(next)]);
        return next;
      }),
    );
  }

  async close(): Promise<void> {
    this.space.cancelTimer();
    await this.lock;
    const held = this.space.heldCount();
    if (held) this.opts.log?.error(`outbox closed with ${held} item(s) held in memory (disk was full)`);
    await this.db.close();
  }
}
