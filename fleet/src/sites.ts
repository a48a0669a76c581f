import { openModuleDb, type Db, type SqlDb } from '../../common/sqlite.js';

/** Where a gateway's cabinet stands: named and placed on the map by a fleet admin (or the demo). */
export interface Site {
  id: string;
  name: string;
  lat: number;
  lon: number;
  /** Group the gateway belongs to, e.g. a district or a pilot zone. */
  zone?: string;
}

/** The latest commissioning of a gateway, from the report it sent through its outbox. */
export interface Commissioning {
  gateway: string;
  at: number;
  by: string;
  passed: boolean;
  /** Titles of the checks that failed. */
  failed: string[];
}

/**
 * The site registry: in the fleet's SQLite file (its own connection and tables), or in a shared
 * database given as `SqlDb` (PostgreSQL: tables from the numbered migrations; the caller closes it).
 */
export class SiteStore {
  private constructor(
    private readonly db: SqlDb,
    private readonly owned: Db | undefined,
  ) {}

  static async open(at: string | SqlDb): Promise<SiteStore> {
    // PostgreSQL: the tables come from the numbered migrations (fleet/src/pg/schema.ts).
    const { db, owned } = await openModuleDb(at, {
      pragmas: 'PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;',
      sqliteSchema: `
      CREATE TABLE IF NOT EXISTS sites (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        zone TEXT
      );
      CREATE TABLE IF NOT EXISTS gateway_health (
        gateway TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        body TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS commissioning (
        gateway TEXT PRIMARY KEY,
        at INTEGER NOT NULL,
        by TEXT NOT NULL,
        passed INTEGER NOT NULL,
        failed TEXT NOT NULL
      );`,
    });
    return new SiteStore(db, owned);
  }

  async upsert(s: Site): Promise<void> {
    await this.db.run(
      `INSERT INTO sites (id, name, lat, lon, zone) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (id) DO UPDATE SET name = excluded.name, lat = excluded.lat, lon = excluded.lon, zone = excluded.zone`,
      [s.id, s.name, s.lat, s.lon, s.zone ?? null],
    );
  }

  async list(): Promise<Site[]> {
    const rows = await this.db.all<{
      id: string;
      name: string;
      lat: number;
      lon: number;
      zone: string | null;
    }>('SELECT id, name, lat, lon, zone FROM sites ORDER BY id');
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      lat: r.lat,
      lon: r.lon,
      ...(r.zone ? { zone: r.zone } : {}),
    }));
  }

  async get(id: string): Promise<Site | undefined> {
    return (await this.list()).find((s) => s.id === id);
  }

  /** Keep a gateway's latest health report (outbox, uplink, lines). */
  async recordHealth(gateway: string, at: number, body: Record<string, unknown>): Promise<void> {
    await this.db.run(
      `INSERT INTO gateway_health (gateway, at, body) VALUES (?, ?, ?)
       ON CONFLICT (gateway) DO UPDATE SET at = excluded.at, body = excluded.body WHERE excluded.at >= gateway_health.at`,
      [gateway, at, JSON.stringify(body)],
    );
  }

  async health(gateway: string): Promise<{ at: number; [k: string]: unknown } | undefined> {
    const row = await this.db.get<{ at: number; body: string }>(
      'SELECT at, body FROM gateway_health WHERE gateway = ?',
      [gateway],
    );
    return row ? { at: row.at, ...(JSON.parse(row.body) as Record<string, unknown>) } : undefined;
  }

  /** Keep a gateway's latest commissioning report (by its finishing time). */
  async recordCommissioning(gateway: string, c: Omit<Commissioning, 'gateway'>): Promise<void> {
    await this.db.run(
      `INSERT INTO commissioning (gateway, at, by, passed, failed) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (gateway) DO UPDATE SET at = excluded.at, by = excluded.by, passed = excluded.passed, failed = excluded.failed
       WHERE excluded.at >= commissioning.at`,
      [gateway, c.at, c.by, c.passed ? 1 : 0, JSON.stringify(c.failed)],
    );
  }

  async commissioning(): Promise<Commissioning[]> {
    const rows = await this.db.all<{
      gateway: string;
      at: number;
      by: string;
      passed: number;
      failed: string;
    }>('SELECT gateway, at, by, passed, failed FROM commissioning ORDER BY gateway');
    return rows.map((r) => ({
      gateway: r.gateway,
      at: r.at,
      by: r.by,
      passed: r.passed === 1,
      failed: JSON.parse(r.failed) as string[],
    }));
  }

  async close(): Promise<void> {
    await this.owned?.close();
  }
}
