import type { GatewayState, TelemetryBatch } from '../../common/contract/index.js';
import type { Clock, Timer } from '../../common/clock.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { Db } from '../../common/sqlite.js';
import {
  APPLY_SCHEMA,
  applyMessages,
  noteSession,
  type ApplyResult,
  type UplinkMessage,
} from './store-apply.js';
import { KEYS_SCHEMA, KeyScope } from './store-keys.js';
import { blockBuckets, blockLatest, blockTelemetry } from './store-blocks-query.js';
import {
  migrateReadings,
  SAMPLES_READINGS_VIEW,
  SAMPLES_SCHEMA,
  samplesToBlocks,
} from './store-blocks-migrate.js';
import {
  compactBlocks,
  COMPACTION_SCHEMA,
  loadMark,
  saveMark,
  type CompactOptions,
  type CompactResult,
} from './store-compact.js';
import { migrateSqlite, type SqliteMigration } from './store-migrations.js';
import { pruneMessageKeys } from './store-prune.js';
import { toEvent, toGap, toRecord, type GatewayRow } from './store-rows.js';

export type { ApplyResult, UplinkMessage } from './store-apply.js';
export type { CompactOptions, CompactResult } from './store-compact.js';

export interface GatewayRecord {
  id: string;
  online: boolean;
  session: number;
  version: string | null;
  firstSeen: number;
  lastSeen: number;
  readings: number;
  duplicates: number;
  /** Rows the gateway's outbox evicted to stay in its disk budget (all epochs), as it reported them. */
  evicted: { telemetry: number; events: number };
  /** Messages missing from the per-session sequence: lost between the gateway and this store. */
  missingMessages: number;
  /** Whole messages received more than once (broker redelivery); stored once. */
  duplicateMessages: number;
}

/** Where a gateway's sessions have holes in their sequence. */
export interface SessionGap {
  epoch: string;
  session: number;
  /** Highest seq seen, or declared by the gateway (clean stop, next birth). */
  lastSeq: number;
  received: number;
  missing: number;
}

export interface StoredEvent {
  channel: string;
  type: string;
  ts: number;
  body: unknown;
  receivedAt: number;
}

export interface StoredReading {
  device: string;
  point: string;
  value: number | boolean;
  unit: string | null;
  ts: number;
  receivedAt: number;
}

export interface TelemetryBucket {
  device: string;
  point: string;
  unit: string | null;
  /** Start of the bucket (ms since the epoch). */
  ts: number;
  mean: number;
  min: number;
  max: number;
  count: number;
}

export interface TelemetryQuery {
  gateway: string;
  device?: string;
  point?: string;
  since?: number;
  until?: number;
  limit: number;
}

/** The fleet's storage engine interface: SQLite here, PostgreSQL past one machine. */
export interface FleetStore {
  recordState(state: GatewayState, at: number): Promise<void>;
  /** Idempotent on (gateway, epoch, reading id): a re-sent reading is counted as a duplicate, not stored twice. */
  ingest(batch: TelemetryBatch, at: number): Promise<{ inserted: number; duplicates: number }>;
  /**
   * Store messages in one transaction (group commit), in order. Idempotent on (gateway, epoch,
   * session, seq) for messages and on (gateway, epoch, id) for the items they carry.
   */
  apply(messages: readonly UplinkMessage[], at: number): Promise<ApplyResult[]>;
  gaps(gateway: string): Promise<SessionGap[]>;
  events(q: { gateway: string; channel?: string; since?: number; limit: number }): Promise<StoredEvent[]>;
  listGateways(): Promise<GatewayRecord[]>;
  getGateway(id: string): Promise<GatewayRecord | undefined>;
  telemetry(q: TelemetryQuery): Promise<StoredReading[]>;
  /** The newest reading of each of a gateway's points read since `since`, by device then point. */
  latest(gateway: string, since: number): Promise<StoredReading[]>;
  /** Downsampled: per point and `bucketMs` time bucket, mean/min/max/count, newest buckets first. */
  telemetryBuckets(q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]>;
  close(): Promise<void>;
}

const GATEWAY_SELECT = `SELECT g.*,
  (SELECT SUM(evicted_telemetry) FROM epochs e WHERE e.gateway = g.id) AS evicted_telemetry,
  (SELECT SUM(evicted_events) FROM epochs e WHERE e.gateway = g.id) AS evicted_events,
  (SELECT SUM(MAX(max_seq, declared_seq) - received) FROM sessions s WHERE s.gateway = g.id) AS missing
  FROM gateways g`;

/**
 * fleet.db's numbered migrations (recorded in `schema_version`, like PostgreSQL's in pg/schema.ts).
 * Every step is also safe on a file from before versioning, which has some of it already.
 */
export const STORE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'gateways, integer keys, samples, messages and sessions',
    up: (db) =>
      db.exec(`
        CREATE TABLE IF NOT EXISTS gateways (
          id TEXT PRIMARY KEY,
          online INTEGER NOT NULL DEFAULT 0,
          session INTEGER NOT NULL DEFAULT 0,
          version TEXT,
          first_seen INTEGER NOT NULL,
          last_seen INTEGER NOT NULL,
          readings INTEGER NOT NULL DEFAULT 0,
          duplicates INTEGER NOT NULL DEFAULT 0
        );
        ${KEYS_SCHEMA}${SAMPLES_SCHEMA}${APPLY_SCHEMA}`),
  },
  {
    version: 2,
    name: 'gateways.dup_messages: whole messages received twice',
    up: async (db) => {
      const cols = await db.all<{ name: string }>('PRAGMA table_info(gateways)');
      if (!cols.some((c) => c.name === 'dup_messages'))
        await db.exec('ALTER TABLE gateways ADD COLUMN dup_messages INTEGER NOT NULL DEFAULT 0');
    },
  },
  {
    version: 3,
    name: 'readings with text keys moved into samples; readings becomes a view',
    up: async (db) => {
      await migrateReadings(db);
      await db.exec(SAMPLES_READINGS_VIEW);
    },
  },
  {
    version: 4,
    name: 'samples moved into blocks (one row per message, point and value type); readings view over blocks',
    up: samplesToBlocks,
  },
  {
    version: 5,
    name: 'compaction: where the next scan for small blocks starts',
    up: (db) => db.exec(COMPACTION_SCHEMA),
  },
];

export class SqliteFleetStore implements FleetStore {
  /** Integer keys by name (store-keys.ts), filled as transactions that created them commit. */
  private readonly keys = new Map<string, number>();
  /** Compaction: the rowid its next scan starts from, the call in flight, the periodic timer. */
  private compactFrom: number | undefined;
  private compacting: Promise<CompactResult> | undefined;
  private compactTimer: Timer | undefined;
  private closed = false;

  private constructor(private readonly db: Db) {}

  static async open(path: string): Promise<SqliteFleetStore> {
    const db = await Db.open(path);
    await db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA busy_timeout = 5000;`);
    await migrateSqlite(db, STORE_MIGRATIONS, Date.now());
    return new SqliteFleetStore(db);
  }

  private touch(db: Db, gateway: string, at: number): Promise<unknown> {
    return db.run(
      `INSERT INTO gateways (id, first_seen, last_seen) VALUES (?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)`,
      [gateway, at, at],
    );
  }

  async recordState(s: GatewayState, at: number): Promise<void> {
    await this.db.transaction(async (db) => {
      await this.touch(db, s.gateway, at);
      // A Will from an older session must not mark a newer session offline.
      await db.run(
        `UPDATE gateways SET online = ?, session = ?, version = COALESCE(?, version) WHERE id = ? AND session <= ?`,
        [s.state === 'online' ? 1 : 0, s.session, s.version ?? null, s.gateway, s.session],
      );
      // A clean stop declares its last seq; a birth declares the previous session's: a lost tail shows.
      if (s.epoch && s.state === 'offline' && s.seq !== undefined)
        await noteSession(db, s.gateway, s.epoch, s.session, at, { declared: s.seq });
      if (s.epoch && s.previous)
        await noteSession(db, s.gateway, s.epoch, s.previous.session, at, { declared: s.previous.seq });
      if (s.epoch && s.evicted)
        await db.run(
          `INSERT INTO epochs (gateway, epoch, evicted_telemetry, evicted_events, first_at) VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (gateway, epoch) DO UPDATE SET
             evicted_telemetry = MAX(evicted_telemetry, excluded.evicted_telemetry),
             evicted_events = MAX(evicted_events, excluded.evicted_events)`,
          [s.gateway, s.epoch, s.evicted.telemetry, s.evicted.events, at],
        );
    });
  }

  async ingest(b: TelemetryBatch, at: number): Promise<{ inserted: number; duplicates: number }> {
    const [r] = await this.apply([{ channel: 'telemetry', value: b }], at);
    return { inserted: r!.inserted, duplicates: r!.duplicates };
  }

  async apply(messages: readonly UplinkMessage[], at: number): Promise<ApplyResult[]> {
    const keys = new KeyScope(this.keys);
    const out = await this.db.transaction((db) => applyMessages(db, keys, messages, at));
    keys.commit();
    return out;
  }

  async gaps(gateway: string): Promise<SessionGap[]> {
    const rows = await this.db.all<{ epoch: string; session: number; last: number; received: number }>(
      `SELECT epoch, session, MAX(max_seq, declared_seq) AS last, received FROM sessions
       WHERE gateway = ? AND MAX(max_seq, declared_seq) > received ORDER BY first_at, session`,
      [gateway],
    );
    return rows.map(toGap);
  }

  async events(q: {
    gateway: string;
    channel?: string;
    since?: number;
    limit: number;
  }): Promise<StoredEvent[]> {
    const rows = await this.db.all<{
      channel: string;
      type: string;
      ts: number;
      body: string;
      received: number;
    }>(
      `SELECT channel, type, ts, body, received FROM events WHERE gateway = ? AND (? IS NULL OR channel = ?)
       AND ts >= ? ORDER BY ts DESC, rid DESC LIMIT ?`,
      [q.gateway, q.channel ?? null, q.channel ?? null, q.since ?? 0, q.limit],
    );
    return rows.map(toEvent);
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (await this.db.all<GatewayRow>(`${GATEWAY_SELECT} ORDER BY g.id`)).map(toRecord);
  }

  async getGateway(id: string): Promise<GatewayRecord | undefined> {
    const row = await this.db.get<GatewayRow>(`${GATEWAY_SELECT} WHERE g.id = ?`, [id]);
    return row ? toRecord(row) : undefined;
  }

  /** Blocks of readings (store-blocks-query.ts): newest first, at most `limit`. */
  telemetry(q: TelemetryQuery): Promise<StoredReading[]> {
    return blockTelemetry(this.db, q);
  }

  telemetryBuckets(q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]> {
    return blockBuckets(this.db, q, bucketMs);
  }

  /** One index probe per point key (`blocks_by_point`), then the newest reading of that block. */
  latest(gateway: string, since: number): Promise<StoredReading[]> {
    return blockLatest(this.db, gateway, since);
  }

  /**
   * Merge settled small blocks (store-compact.ts). Only blocks added since the previous call are
   * scanned (from a mark kept in the file); calls do not overlap (a second waits for the first).
   * Then drop the message keys of long-silent sessions (store-prune.ts).
   */
  async compact(now: number, o?: CompactOptions): Promise<CompactResult & { messageKeys: number }> {
    while (this.compacting) await this.compacting.catch(() => undefined);
    if (this.closed) throw new Error('fleet.db compaction: the store is closed');
    const run = (async () => {
      const { next, ...r } = await compactBlocks(
        this.db,
        now,
        (this.compactFrom ??= await loadMark(this.db)),
        o,
      );
      if (next !== this.compactFrom) await saveMark(this.db, next);
      this.compactFrom = next;
      return { ...r, messageKeys: await pruneMessageKeys(this.db, now) };
    })();
    this.compacting = run;
    try {
      return await run;
    } finally {
      if (this.compacting === run) this.compacting = undefined;
    }
  }

  /**
   * Compact every `everyMs` (default 5 min) until `close()`: a one-line summary when something was
   * merged, failures logged (the next tick tries again), never thrown.
   */
  startCompaction(clock: Clock, log: Logger, everyMs = 300_000, o?: CompactOptions): void {
    const tick = (): void => {
      this.compactTimer = undefined;
      if (this.closed) return;
      this.compact(clock.now(), o)
        .then((r) => {
          for (const what of r.skipped) log.warn(`fleet.db compaction: bucket left as it is: ${what}`);
          if (r.merged > 0)
            log.info(
              `fleet.db compaction: ${r.merged} blocks merged into ${r.written} (${r.readings} readings, ${r.transactions} transactions${r.done ? '' : ', more next time'})`,
            );
          if (r.messageKeys > 0)
            log.info(`fleet.db: dropped ${r.messageKeys} message keys of sessions silent for 30 days`);
        })
        .then(
          () => undefined,
          (err: unknown) => {
            if (!this.closed) log.warn(`fleet.db compaction failed: ${errorMessage(err)}`);
          },
        )
        .finally(() => {
          if (!this.closed) this.compactTimer = clock.setTimeout(tick, everyMs);
        });
    };
    this.compactTimer?.cancel();
    this.compactTimer = clock.setTimeout(tick, everyMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.compactTimer?.cancel();
    await this.compacting?.catch(() => undefined);
    return this.db.close();
  }
}
