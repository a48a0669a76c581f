import { randomBytes } from 'node:crypto';
import { Db } from '../../common/sqlite.js';

/** What a gateway sends, committed on disk before it is published. */
export interface OutboxRow<T = unknown> {
  id: number;
  kind: string;
  body: T;
  ts: number;
}

/**
 * Store-and-forward outbox on SQLite: put → read a batch → confirm (delete) only after the broker
 * acknowledged. WAL with synchronous=FULL: a committed row survives power loss (see docs/architecture.md).
 * AUTOINCREMENT ids are never reused, so (epoch, id) identifies a row for the fleet's dedupe forever.
 */
export class Outbox {
  private constructor(
    private readonly db: Db,
    readonly epoch: string,
  ) {}

  static async open(path: string): Promise<Outbox> {
    const db = await Db.open(path);
    await db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        kind TEXT NOT NULL,
        body TEXT NOT NULL,
        ts INTEGER NOT NULL
      );`);
    await db.run(`INSERT OR IGNORE INTO meta (k, v) VALUES ('epoch', ?)`, [randomBytes(8).toString('hex')]);
    const row = await db.get<{ v: string }>(`SELECT v FROM meta WHERE k = 'epoch'`);
    return new Outbox(db, row!.v);
  }

  /** Commit rows durably in one transaction; resolves once they are on disk. */
  async put(kind: string, items: readonly { body: unknown; ts: number }[]): Promise<void> {
    if (items.length === 0) return;
    await this.db.transaction((db) =>
      db.insertMany(
        'INSERT INTO outbox (kind, body, ts)',
        3,
        items.map((i) => [kind, JSON.stringify(i.body), i.ts]),
      ),
    );
  }

  /** Oldest rows of a kind with id > afterId, up to `limit`. */
  async readBatch<T>(kind: string, limit: number, afterId = 0): Promise<OutboxRow<T>[]> {
    const rows = await this.db.all<{ id: number; kind: string; body: string; ts: number }>(
      'SELECT id, kind, body, ts FROM outbox WHERE kind = ? AND id > ? ORDER BY id LIMIT ?',
      [kind, afterId, limit],
    );
    return rows.map((r) => ({ id: r.id, kind: r.kind, body: JSON.parse(r.body) as T, ts: r.ts }));
  }

  /** Remove rows the broker has acknowledged. */
  async confirm(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.transaction(async (db) => {
      for (let i = 0; i < ids.length; i += 900) {
        const chunk = ids.slice(i, i + 900);
        await db.run(`DELETE FROM outbox WHERE id IN (${chunk.map(() => '?').join(',')})`, chunk);
      }
    });
  }

  async depth(): Promise<number> {
    return (await this.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox'))!.n;
  }

  /** Persistent counter (e.g. the MQTT session number), incremented and returned. */
  async nextCounter(name: string): Promise<number> {
    return this.db.transaction(async (db) => {
      const row = await db.get<{ v: string }>('SELECT v FROM meta WHERE k = ?', [name]);
      const next = (row ? Number(row.v) : 0) + 1;
      await db.run('INSERT OR REPLACE INTO meta (k, v) VALUES (?, ?)', [name, String(next)]);
      return next;
    });
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
