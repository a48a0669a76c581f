import { Db } from '../../common/sqlite.js';

/** Where a gateway's cabinet stands: named and placed on the map by a fleet admin (or the demo). */
export interface Site {
  id: string;
  name: string;
  lat: number;
  lon: number;
  /** Group the gateway belongs to, e.g. a district or a pilot zone. */
  zone?: string;
}

/** The site registry, in the fleet database (its own connection and table). */
export class SiteStore {
  private constructor(private readonly db: Db) {}

  static async open(path: string): Promise<SiteStore> {
    const db = await Db.open(path);
    await db.exec(`
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS sites (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        lat REAL NOT NULL,
        lon REAL NOT NULL,
        zone TEXT
      );`);
    return new SiteStore(db);
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

  close(): Promise<void> {
    return this.db.close();
  }
}
