import type { GatewayState, TelemetryBatch } from '../../common/contract/index.js';
import { Db } from '../../common/sqlite.js';

export interface GatewayRecord {
  id: string;
  online: boolean;
  session: number;
  version: string | null;
  firstSeen: number;
  lastSeen: number;
  readings: number;
  duplicates: number;
}

export interface StoredReading {
  device: string;
  point: string;
  value: number | boolean;
  unit: string | null;
  ts: number;
  receivedAt: number;
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
  listGateways(): Promise<GatewayRecord[]>;
  getGateway(id: string): Promise<GatewayRecord | undefined>;
  telemetry(q: TelemetryQuery): Promise<StoredReading[]>;
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
}

const toRecord = (r: GatewayRow): GatewayRecord => ({
  id: r.id,
  online: r.online === 1,
  session: r.session,
  version: r.version,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  readings: r.readings,
  duplicates: r.duplicates,
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
    });
  }

  async ingest(b: TelemetryBatch, at: number): Promise<{ inserted: number; duplicates: number }> {
    return this.db.transaction(async (db) => {
      await this.touch(db, b.gateway, at);
      const before = await db.get<{ n: number }>('SELECT total_changes() AS n');
      await db.insertMany(
        'INSERT OR IGNORE INTO readings (gateway, epoch, rid, device, point, value, is_bool, unit, ts, received)',
        10,
        b.readings.map((r) => [
          b.gateway,
          b.epoch,
          r.id,
          r.device,
          r.point,
          typeof r.value === 'boolean' ? Number(r.value) : r.value,
          typeof r.value === 'boolean' ? 1 : 0,
          r.unit ?? null,
          r.ts,
          at,
        ]),
      );
      const after = await db.get<{ n: number }>('SELECT total_changes() AS n');
      const inserted = after!.n - before!.n;
      const duplicates = b.readings.length - inserted;
      await db.run('UPDATE gateways SET readings = readings + ?, duplicates = duplicates + ? WHERE id = ?', [
        inserted,
        duplicates,
        b.gateway,
      ]);
      return { inserted, duplicates };
    });
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (await this.db.all<GatewayRow>('SELECT * FROM gateways ORDER BY id')).map(toRecord);
  }

  async getGateway(id: string): Promise<GatewayRecord | undefined> {
    const row = await this.db.get<GatewayRow>('SELECT * FROM gateways WHERE id = ?', [id]);
    return row ? toRecord(row) : undefined;
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
