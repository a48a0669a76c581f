import type { GatewayState, TelemetryBatch } from '../../common/contract/index.js';
import { Db } from '../../common/sqlite.js';
import {
  APPLY_SCHEMA,
  applyMessages,
  noteSession,
  type ApplyResult,
  type UplinkMessage,
} from './store-apply.js';
import { KEYS_SCHEMA, KeyScope } from './store-keys.js';
import { migrateSqlite, type SqliteMigration } from './store-migrations.js';
import {
  newestPerPoint,
  toEvent,
  toGap,
  toReading,
  toRecord,
  type GatewayRow,
  type ReadingRow,
} from './store-rows.js';

export type { ApplyResult, UplinkMessage } from './store-apply.js';

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
 * Readings, one row each with integer keys (store-keys.ts). The primary key (src, rid) is the dedupe;
 * (pt, ts) serves point queries and (gw, ts) gateway-wide ones. The `readings` view keeps the old
 * column names for ad-hoc SQL and tools.
 */
const SAMPLES_SCHEMA = `
  CREATE TABLE IF NOT EXISTS samples (
    src INTEGER NOT NULL, rid INTEGER NOT NULL, pt INTEGER NOT NULL, gw INTEGER NOT NULL,
    value REAL NOT NULL, is_bool INTEGER NOT NULL, ts INTEGER NOT NULL, received INTEGER NOT NULL,
    PRIMARY KEY (src, rid)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS samples_by_point ON samples (pt, ts);
  CREATE INDEX IF NOT EXISTS samples_by_time ON samples (gw, ts);`;

const READINGS_VIEW = `
  CREATE VIEW IF NOT EXISTS readings AS
  SELECT g.gateway AS gateway, s.epoch AS epoch, r.rid AS rid, p.device AS device, p.point AS point,
         r.value AS value, r.is_bool AS is_bool, NULLIF(p.unit, '') AS unit, r.ts AS ts, r.received AS received
  FROM samples r JOIN sources s ON s.id = r.src JOIN points p ON p.id = r.pt JOIN gateway_keys g ON g.id = r.gw;`;

/** fleet.db files from before integer keys: move their `readings` table into `samples` (in the caller's transaction). */
async function migrateReadings(db: Db): Promise<void> {
  const old = await db.get<{ type: string }>(`SELECT type FROM sqlite_master WHERE name = 'readings'`);
  if (old?.type !== 'table') return;
  await db.exec(`
      INSERT OR IGNORE INTO gateway_keys (gateway) SELECT DISTINCT gateway FROM readings;
      INSERT OR IGNORE INTO sources (gw, epoch)
        SELECT DISTINCT g.id, r.epoch FROM readings r JOIN gateway_keys g ON g.gateway = r.gateway;
      INSERT OR IGNORE INTO points (gw, device, point, unit)
        SELECT DISTINCT g.id, r.device, r.point, COALESCE(r.unit, '') FROM readings r
        JOIN gateway_keys g ON g.gateway = r.gateway;
      INSERT OR IGNORE INTO samples (src, rid, pt, gw, value, is_bool, ts, received)
        SELECT s.id, r.rid, p.id, g.id, r.value, r.is_bool, r.ts, r.received FROM readings r
        JOIN gateway_keys g ON g.gateway = r.gateway
        JOIN sources s ON s.gw = g.id AND s.epoch = r.epoch
        JOIN points p ON p.gw = g.id AND p.device = r.device AND p.point = r.point AND p.unit = COALESCE(r.unit, '');
      DROP TABLE readings;`);
}

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
      await db.exec(READINGS_VIEW);
    },
  },
];

export class SqliteFleetStore implements FleetStore {
  /** Integer keys by name (store-keys.ts), filled as transactions that created them commit. */
  private readonly keys = new Map<string, number>();

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

  /**
   * WHERE clauses over `samples r` for a query: the gateway by its key, named points through their
   * keys (so SQLite can walk `samples_by_point`), time on `ts`.
   */
  private filter(q: TelemetryQuery): { where: string; params: (string | number)[] } {
    const gw = '(SELECT id FROM gateway_keys WHERE gateway = ?)';
    const where = [`r.gw = ${gw}`];
    const params: (string | number)[] = [q.gateway];
    if (q.device || q.point) {
      const sub = [`gw = ${gw}`];
      params.push(q.gateway);
      for (const [col, v] of [
        ['device', q.device],
        ['point', q.point],
      ] as const)
        if (v) {
          sub.push(`${col} = ?`);
          params.push(v);
        }
      where.push(`r.pt IN (SELECT id FROM points WHERE ${sub.join(' AND ')})`);
    }
    for (const [clause, v] of [
      ['r.ts >= ?', q.since],
      ['r.ts <= ?', q.until],
    ] as const)
      if (v !== undefined) {
        where.push(clause);
        params.push(v);
      }
    return { where: where.join(' AND '), params };
  }

  async telemetryBuckets(q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]> {
    const f = this.filter(q);
    const b = Math.trunc(bucketMs);
    return this.db.all<TelemetryBucket>(
      `SELECT p.device AS device, p.point AS point, MAX(NULLIF(p.unit, '')) AS unit, (r.ts / ?) * ? AS ts,
              AVG(r.value) AS mean, MIN(r.value) AS min, MAX(r.value) AS max, COUNT(*) AS count
       FROM samples r JOIN points p ON p.id = r.pt WHERE ${f.where} GROUP BY p.device, p.point, r.ts / ${b}
       ORDER BY ts DESC, device, point LIMIT ?`,
      [b, b, ...f.params, q.limit],
    );
  }

  async telemetry(q: TelemetryQuery): Promise<StoredReading[]> {
    const f = this.filter(q);
    // Newest first, so `limit` keeps the most recent readings.
    const rows = await this.db.all<{
      device: string;
      point: string;
      value: number;
      is_bool: number;
      unit: string;
      ts: number;
      received: number;
    }>(
      `SELECT p.device AS device, p.point AS point, r.value AS value, r.is_bool AS is_bool, p.unit AS unit,
              r.ts AS ts, r.received AS received
       FROM samples r JOIN points p ON p.id = r.pt WHERE ${f.where} ORDER BY r.ts DESC, r.rid DESC LIMIT ?`,
      [...f.params, q.limit],
    );
    return rows.map(toReading);
  }

  async latest(gateway: string, since: number): Promise<StoredReading[]> {
    // One index probe per point (samples_by_point), not a scan of the day's readings.
    const rows = await this.db.all<ReadingRow>(
      `SELECT p.device AS device, p.point AS point, r.value AS value, r.is_bool AS is_bool, p.unit AS unit,
              r.ts AS ts, r.received AS received
       FROM gateway_keys g JOIN points p ON p.gw = g.id
       JOIN samples r ON r.pt = p.id AND r.ts = (SELECT MAX(ts) FROM samples WHERE pt = p.id)
       WHERE g.gateway = ? AND r.ts >= ?
       ORDER BY p.device, p.point, r.ts DESC, r.rid DESC`,
      [gateway, since],
    );
    return newestPerPoint(rows.map(toReading));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
