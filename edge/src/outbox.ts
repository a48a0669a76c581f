import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../../common/clock.js';
import type { Logger } from '../../common/log.js';
import { Db } from '../../common/sqlite.js';
import { CLASSES, RANK, type OutboxBudget, type OutboxChannel, type OutboxHealth } from './outbox-classes.js';
import { INDEXES, migrate, SCHEMA, type Gone } from './outbox-sql.js';
import { OutboxSpace } from './outbox-space.js';
import { finiteReadings, validateItems } from './outbox-validate.js';
import { InFlight, type OutboxBatch, type OutboxItem } from './outbox-batch.js';
import { takeAlarms, takeEvents, takeTelemetry } from './outbox-take.js';

export * from './outbox-classes.js';
export * from './outbox-batch.js';

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
 * Telemetry is stored in blocks: one row per put chunk of up to BLOCK readings (outbox-blocks.ts).
 * Every reading, event and alarm gets an id that is never reused (AUTOINCREMENT ids; a block's row id
 * is its last reading's id), so (epoch, id) identifies an item for the fleet's dedupe forever. Counts
 * (depth, in flight, evicted, rejected, batch `count`) are items; `first`/`last` are row ids.
 *
 * Every database operation runs through one queue (`serial`), so a reader never sees another
 * operation's uncommitted rows. Per session, rows are taken once: alarms, then events, then live
 * telemetry (ids above the session's boundary), then the telemetry backlog, each class in id order.
 */
/** Telemetry puts waiting for their turn in the queue, committed together. */
interface TelemetryGroup {
  items: OutboxItem[];
  done: Promise<void>;
}

export class Outbox {
  private lock: Promise<unknown> = Promise.resolve();
  private telemetryGroup: TelemetryGroup | undefined;
  private readonly inflight = new InFlight();
  private boundary = 0;
  private readonly cursor = { alarm: 0, event: 0, telemetry: 0, live: 0 };
  private pendingConfirm: OutboxBatch[] = [];
  private confirmQueued: Promise<void> | undefined;
  /** The confirm deletes, one after another on their own connection. */
  private confirming: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;
  private readonly space: OutboxSpace;

  private constructor(
    private readonly db: Db,
    /** A second connection for confirm deletes, with synchronous=NORMAL (see `confirm`). */
    private readonly deletes: Db,
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
    await db.exec(INDEXES);
    await db.run(`INSERT OR IGNORE INTO meta (k, v) VALUES ('epoch', ?)`, [randomBytes(8).toString('hex')]);
    const row = await db.get<{ v: string }>(`SELECT v FROM meta WHERE k = 'epoch'`);
    const deletes = await Db.open(path);
    await deletes.exec(`PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;`);
    const outbox = new Outbox(db, deletes, row!.v, opts);
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
    if (channel === 'telemetry') return this.putTelemetry(items);
    return this.serial(() => this.space.store(channel, items));
  }

  /**
   * Group commit for telemetry: puts that arrive while the queue is busy wait together and go into
   * one transaction (one fsync, fuller blocks) when their turn comes, in put order. A gateway whose
   * lines poll many devices a second would otherwise pay a durable commit per device poll.
   */
  private putTelemetry(items: readonly OutboxItem[]): Promise<void> {
    let group = this.telemetryGroup;
    if (!group) {
      const g: TelemetryGroup = { items: [], done: Promise.resolve() };
      g.done = this.serial(() => {
        if (this.telemetryGroup === g) this.telemetryGroup = undefined;
        return this.space.store('telemetry', g.items);
      });
      group = this.telemetryGroup = g;
    }
    for (const it of items) group.items.push(it);
    return group.done;
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
   * `backlogRows` readings of telemetry backlog. Taken rows stay in flight until confirmed. A batch
   * holds at most `maxRows` items, except a telemetry block larger than that, which goes alone.
   */
  take(maxRows: number, backlogRows = Infinity): Promise<OutboxBatch | undefined> {
    return this.takeMany(maxRows, 1, backlogRows).then((b) => b[0]);
  }

  /**
   * Up to `maxBatches` batches of the same stream at once, in order (one snapshot for the items):
   * several batches of live telemetry or of backlog, but only ever one alarm or event batch, so a
   * class never overtakes a more urgent one. `backlogRows` bounds all backlog readings (the first
   * block is taken even when larger, so a small allowance never stalls the backlog).
   */
  takeMany(maxRows: number, maxBatches: number, backlogRows = Infinity): Promise<OutboxBatch[]> {
    return this.serial(async () => {
      const taken = await this.next(maxRows, maxBatches, backlogRows);
      for (const b of taken) this.inflight.add(b);
      return taken;
    });
  }

  /** The batches `takeMany` hands out (inside the queue), cursors moved past them. */
  private async next(maxRows: number, maxBatches: number, backlogRows: number): Promise<OutboxBatch[]> {
    if (this.space.count.alarm > 0) {
      const b = await takeAlarms(this.db, this.cursor.alarm, Math.min(maxRows, 1000));
      if (b) return ((this.cursor.alarm = b.last), [b]);
    }
    if (this.space.count.event > 0) {
      const b = await takeEvents(this.db, this.cursor.event, Math.min(maxRows, 1000));
      if (b) return ((this.cursor.event = b.last), [b]);
    }
    if (this.space.count.telemetry === 0) return [];
    const batches = Math.max(1, Math.floor(maxBatches));
    // Ids are handed out in this queue: nothing above the live cursor means no live rows to look for.
    const live =
      this.space.lastId > this.cursor.live
        ? await takeTelemetry(this.db, this.cursor.live, Infinity, maxRows, batches, false)
        : [];
    if (live.length) return ((this.cursor.live = live.at(-1)!.last), live);
    const n = Math.min(maxRows * batches, Math.floor(backlogRows));
    if (n < 1 || this.cursor.telemetry >= this.boundary) return [];
    const back = await takeTelemetry(
      this.db,
      this.cursor.telemetry,
      this.boundary,
      maxRows,
      batches,
      true,
      n,
    );
    this.cursor.telemetry = back.length ? back.at(-1)!.last : this.boundary;
    return back;
  }

  /**
   * Remove a batch the broker has acknowledged (batches confirmed meanwhile go in one DELETE).
   * Deleted by class and id range on a second connection with synchronous=NORMAL: one statement,
   * no fsync. A delete lost to a power cut only means the rows are sent again (the fleet dedupes);
   * the next FULL commit of a put syncs the WAL, deletes included.
   *
   * Deletes run beside the operation queue, not in it, so SQLite deletes on one thread while it
   * takes the next batch on another: a take reads its own WAL snapshot and only rows above its
   * cursors, never rows being confirmed; eviction leaves in-flight rows alone, and a batch stays
   * in flight until its delete committed. Two writers (a put and a delete) wait for each other
   * through SQLite's lock (busy_timeout). The delete returns what it removed (`RETURNING`: a few
   * rows per batch, blocks), so the counts follow exactly, also for a batch confirmed twice.
   */
  confirm(batch: OutboxBatch): Promise<void> {
    this.pendingConfirm.push(batch);
    if (this.confirmQueued) return this.confirmQueued;
    const run = this.confirming.then(async () => {
      this.confirmQueued = undefined;
      const batches = this.pendingConfirm;
      this.pendingConfirm = [];
      const ranges = batches.map((b) => {
        const [cls, first, last] = [RANK[b.cls], b.first, b.last];
        if (![cls, first, last].every(Number.isSafeInteger))
          throw new Error(`bad batch range ${first}..${last}`);
        return `(cls = ${cls} AND id BETWEEN ${first} AND ${last})`;
      });
      let gone: { cls: number; n: number; bytes: number }[];
      try {
        gone = await this.deletes.all(
          `DELETE FROM outbox WHERE ${ranges.join(' OR ')} RETURNING cls, n, bytes`,
        );
      } finally {
        for (const b of batches) this.inflight.delete(b);
      }
      // What was deleted, exactly: nothing for a batch confirmed twice (re-sent) or evicted meanwhile.
      const forget = new Map<number, Gone>();
      for (const g of gone) {
        const f = forget.get(g.cls) ?? forget.set(g.cls, { cls: g.cls, readings: 0, bytes: 0 }).get(g.cls)!;
        f.readings += g.n;
        f.bytes += g.bytes;
      }
      this.space.forget([...forget.values()]);
      if (this.space.held.length) await this.serial(() => this.space.flushHeld());
    });
    this.confirmQueued = run;
    this.confirming = run.catch(() => undefined);
    return run;
  }

  /** Forget what is in flight (the connection closed): those rows go again next session. */
  releaseInFlight(): void {
    this.inflight.clear();
  }

  evictedCounts(): { telemetry: number; events: number } {
    return { ...this.space.evicted };
  }

  async depth(): Promise<number> {
    await this.confirming;
    await this.lock;
    return this.space.count.alarm + this.space.count.event + this.space.count.telemetry;
  }

  health(): Promise<OutboxHealth> {
    return this.serial(async () => {
      const now = this.clock.now();
      const classes = {} as OutboxHealth['classes'];
      for (const c of CLASSES) {
        const row = this.space.count[c]
          ? await this.db.get<{ ts: number }>(
              `SELECT ts FROM outbox WHERE cls = ${RANK[c]} ORDER BY id LIMIT 1`,
            )
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
    await this.confirming;
    await this.lock;
    const held = this.space.heldCount();
    if (held) this.opts.log?.error(`outbox closed with ${held} item(s) held in memory (disk was full)`);
    await this.deletes.close();
    await this.db.close();
  }
}
