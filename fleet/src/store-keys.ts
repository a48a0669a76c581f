import type { Db } from '../../common/sqlite.js';

/**
 * Integer surrogate keys for the readings (`blocks`, store-blocks.ts): a gateway, a (gateway, epoch) source
 * and a (gateway, device, point, unit) point each get a small integer, so every block carries
 * integers instead of strings and its B-trees compare integers.
 */
export const KEYS_SCHEMA = `
  CREATE TABLE IF NOT EXISTS gateway_keys (id INTEGER PRIMARY KEY, gateway TEXT NOT NULL UNIQUE);
  CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY, gw INTEGER NOT NULL, epoch TEXT NOT NULL, UNIQUE (gw, epoch)
  );
  CREATE TABLE IF NOT EXISTS points (
    id INTEGER PRIMARY KEY, gw INTEGER NOT NULL, device TEXT NOT NULL, point TEXT NOT NULL,
    unit TEXT NOT NULL DEFAULT '', UNIQUE (gw, device, point, unit)
  );`;

/**
 * Resolves names to keys inside one transaction, creating missing ones. `committed` is the store's
 * shared cache; keys created in this transaction reach it only after the transaction commits
 * (`commit`). After a rollback the scope is dropped, so the cache never holds an id whose row was
 * rolled back, even when another transaction starts before this one's `commit` ran.
 */
export class KeyScope {
  private readonly pending = new Map<string, number>();

  constructor(private readonly committed: Map<string, number>) {}

  private async key(k: string, insert: () => Promise<number>): Promise<number> {
    const id = this.committed.get(k) ?? this.pending.get(k);
    if (id !== undefined) return id;
    const created = await insert();
    this.pending.set(k, created);
    return created;
  }

  gateway(db: Db, gateway: string): Promise<number> {
    return this.key(`g\0${gateway}`, async () => {
      const r = await db.get<{ id: number }>(
        `INSERT INTO gateway_keys (gateway) VALUES (?)
         ON CONFLICT (gateway) DO UPDATE SET gateway = excluded.gateway RETURNING id`,
        [gateway],
      );
      return r!.id;
    });
  }

  source(db: Db, gw: number, epoch: string): Promise<number> {
    return this.key(`s\0${gw}\0${epoch}`, async () => {
      const r = await db.get<{ id: number }>(
        `INSERT INTO sources (gw, epoch) VALUES (?, ?)
         ON CONFLICT (gw, epoch) DO UPDATE SET epoch = excluded.epoch RETURNING id`,
        [gw, epoch],
      );
      return r!.id;
    });
  }

  point(db: Db, gw: number, device: string, point: string, unit: string): Promise<number> {
    return this.key(`p\0${gw}\0${device}\0${point}\0${unit}`, async () => {
      const r = await db.get<{ id: number }>(
        `INSERT INTO points (gw, device, point, unit) VALUES (?, ?, ?, ?)
         ON CONFLICT (gw, device, point, unit) DO UPDATE SET unit = excluded.unit RETURNING id`,
        [gw, device, point, unit],
      );
      return r!.id;
    });
  }

  /** The transaction committed: its new keys are real. */
  commit(): void {
    for (const [k, v] of this.pending) this.committed.set(k, v);
  }
}
