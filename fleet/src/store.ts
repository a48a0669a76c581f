import type { GatewayState, TelemetryBatch } from '../../common/contract/index.js';
import { Db } from '../../common/sqlite.js';
import {
  APPLY_SCHEMA,
  applyMessage,
  noteSession,
  type ApplyResult,
  type UplinkMessage,
} from './store-apply.js';

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
  /** Downsampled: per point and `bucketMs` time bucket, mean/min/max/count, newest buckets first. */
  telemetryBuckets(q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]>;
  close(): Promise<void>;
}

interface GatewayRow {
  id: string;
  online: number;
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

const GATEWAY_SELECT = `SELECT g.*,
  (SELECT SUM(evicted_telemetry) FROM epochs e WHERE e.gateway = g.id) AS evicted_telemetry,
  (SELECT SUM(evicted_events) FROM epochs e WHERE e.gateway = g.id) AS evicted_events,
  (SELECT SUM(MAX(max_seq, declared_seq) - received) FROM sessions s WHERE s.gateway = g.id) AS missing
  FROM gateways g`;

const toRecord = (r: GatewayRow): GatewayRecord => ({
  id: r.id,
  online: r.online === 1,
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

export class SqliteFleetStore implements FleetStore {
  private constructor(private readonly db: Db) {}

  static async open(path: string): Promise<SqliteFleetStore> {
    const db = await Db.open(path);
    await db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA busy_timeout = 5000;
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
      CREATE TABLE IF NOT EXISTS readings (
        gateway TEXT NOT NULL,
        epoch TEXT NOT NULL,
        rid INTEGER NOT NULL,
        device TEXT NOT NULL,
        point TEXT NOT NULL,
        value REAL NOT NULL,
        is_bool INTEGER NOT NULL,
        unit TEXT,
        ts INTEGER NOT NULL,
        received INTEGER NOT NULL,
        PRIMARY KEY (gateway, epoch, rid)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS readings_by_point ON readings (gateway, device, point, ts);
      CREATE INDEX IF NOT EXISTS readings_by_time ON readings (gateway, ts);`);
    await db.exec(APPLY_SCHEMA);
    const cols = await db.all<{ name: string }>('PRAGMA table_info(gateways)');
    if (!cols.some((c) => c.name === 'dup_messages'))
      await db.exec('ALTER TABLE gateways ADD COLUMN dup_messages INTEGER NOT NULL DEFAULT 0');
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

  apply(messages: readonly UplinkMessage[], at: number): Promise<ApplyResult[]> {
    return this.db.transaction(async (db) => {
      const out: ApplyResult[] = [];
      for (const m of messages) out.push(await applyMessage(db, m, at));
      return out;
    });
  }

  async gaps(gateway: string): Promise<SessionGap[]> {
    const rows = await this.db.all<{ epoch: string; session: number; last: number; received: number }>(
      `SELECT epoch, session, MAX(max_seq, declared_seq) AS last, received FROM sessions
       WHERE gateway = ? AND MAX(max_seq, declared_seq) > received ORDER BY first_at, session`,
      [gateway],
    );
    return rows.map((r) => ({
      epoch: r.epoch,
      session: r.session,
      lastSeq: r.last,
      received: r.received,
      missing: r.last - r.received,
    }));
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
    return rows.map((r) => ({
      channel: r.channel,
      type: r.type,
      ts: r.ts,
      body: JSON.parse(r.body) as unknown,
      receivedAt: r.received,
    }));
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (await this.db.all<GatewayRow>(`${GATEWAY_SELECT} ORDER BY g.id`)).map(toRecord);
  }

  async getGateway(id: string): Promise<GatewayRecord | undefined> {
    const row = await this.db.get<GatewayRow>(`${GATEWAY_SELECT} WHERE g.id = ?`, [id]);
    return row ? toRecord(row) : undefined;
  }

  async telemetryBuckets(q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]> {
    const where = ['gateway = ?'];
    const params: (string | number)[] = [bucketMs, bucketMs, q.gateway];
    for (const [clause, value] of [
      ['device = ?', q.device],
      ['point = ?', q.point],
      ['ts >= ?', q.since],
      ['ts <= ?', q.until],
    ] as const) {
      if (value === undefined || value === '') continue;
      where.push(clause);
      params.push(value);
    }
    params.push(q.limit);
    return this.db.all<TelemetryBucket>(
      `SELECT device, point, MAX(unit) AS unit, (ts / ?) * ? AS ts, AVG(value) AS mean, MIN(value) AS min,
              MAX(value) AS max, COUNT(*) AS count
       FROM readings WHERE ${where.join(' AND ')} GROUP BY device, point, ts / ${Math.trunc(bucketMs)}
       ORDER BY ts DESC, device, point LIMIT ?`,
      params,
    );
  }

  async telemetry(q: TelemetryQuery): Promise<StoredReading[]> {
    const where = ['gateway = ?'];
    const params: (string | number)[] = [q.gateway];
    const add = (clause: string, value: string | number | undefined): void => {
      if (value === undefined || value === '') return;
      where.push(clause);
      params.push(value);
    };
    add('device = ?', q.device);
    add('point = ?', q.point);
    add('ts >= ?', q.since);
    add('ts <= ?', q.until);
    params.push(q.limit);
    // Newest first, so `limit` keeps the most recent readings.
    const rows = await this.db.all<{
      device: string;
      point: string;
      value: number;
      is_bool: number;
      unit: string | null;
      ts: number;
      received: number;
    }>(
      `SELECT device, point, value, is_bool, unit, ts, received FROM readings WHERE ${where.join(' AND ')} ORDER BY ts DESC, rid DESC LIMIT ?`,
      params,
    );
    return rows.map((r) => ({
      device: r.device,
      point: r.point,
      value: r.is_bool ? r.value !== 0 : r.value,
      unit: r.unit,
      ts: r.ts,
      receivedAt: r.received,
    }));
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
