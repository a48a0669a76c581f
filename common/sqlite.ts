import sqlite3 from 'sqlite3';

export type SqlValue = string | number | bigint | null | Buffer;

/**
 * What the fleet's admin modules (registry, tokens, desired config, commands, sites, alarms) use of
 * a database, so they run on SQLite (`Db`) or PostgreSQL (`fleet/src/pg/sql-db.ts`). Statements
 * use `?` placeholders and SQL both engines accept (`INSERT … ON CONFLICT … DO UPDATE`, `RETURNING`,
 * no `INSERT OR REPLACE`); schema DDL is per dialect (PostgreSQL's comes from numbered migrations).
 */
export interface SqlDb {
  readonly dialect: 'sqlite' | 'postgres';
  /** `changes`: rows inserted/updated/deleted. `lastID` is SQLite's rowid (0 on PostgreSQL). */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number; lastID: number }>;
  all<T>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  exec(sql: string): Promise<void>;
  /** All statements of `fn` in one transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: one pooled client). */
  transaction<T>(fn: (db: SqlDb) => Promise<T>): Promise<T>;
}

/**
 * A promise wrapper over one `sqlite3` connection, in sqlite3's serialized mode: statements execute
 * in the order they were issued. `transaction` holds a JS-side lock so two async transactions never
 * interleave, and statements issued on the `Db` itself while a transaction is open wait until it
 * ends — otherwise they would run inside it and vanish with its rollback. Inside `fn`, use the handle
 * it is given (calling the outer `Db` from there would wait for the transaction it is part of).
 */
export class Db implements SqlDb {
  readonly dialect = 'sqlite' as const;
  private chain: Promise<unknown> = Promise.resolve();
  /** Transactions queued or running. */
  private open = 0;
  /** The handle a transaction's `fn` receives: its statements go straight to the connection. */
  private readonly inside: Db;

  private constructor(
    private readonly db: sqlite3.Database,
    readonly path: string,
    outer?: Db,
  ) {
    this.inside = outer ? this : new Db(db, path, this);
  }

  static open(path: string): Promise<Db> {
    return new Promise((resolve, reject) => {
      const db = new sqlite3.Database(path, (err) => {
        if (err) return reject(err);
        db.serialize();
        resolve(new Db(db, path));
      });
    });
  }

  /** Standalone statements wait for open transactions (the inside handle never has any). */
  private when<T>(op: () => Promise<T>): Promise<T> {
    return this.open > 0 ? this.chain.then(op) : op();
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number; lastID: number }> {
    return this.when(
      () =>
        new Promise((resolve, reject) => {
          this.db.run(sql, params, function (this: sqlite3.RunResult, err: Error | null) {
            if (err) reject(err);
            else resolve({ changes: this.changes, lastID: this.lastID });
          });
        }),
    );
  }

  all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return this.when(
      () =>
        new Promise((resolve, reject) => {
          this.db.all(sql, params, (err, rows) => (err ? reject(err) : resolve(rows as T[])));
        }),
    );
  }

  get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return this.when(
      () =>
        new Promise((resolve, reject) => {
          this.db.get(sql, params, (err, row) => (err ? reject(err) : resolve(row as T | undefined)));
        }),
    );
  }

  exec(sql: string): Promise<void> {
    return this.when(
      () => new Promise((resolve, reject) => this.db.exec(sql, (err) => (err ? reject(err) : resolve()))),
    );
  }

  /** Run `fn` inside BEGIN IMMEDIATE … COMMIT; rolls back if it throws. Serialised per connection. */
  transaction<T>(fn: (db: Db) => Promise<T>): Promise<T> {
    if (this.inside === this) return Promise.reject(new Error('nested transaction on one SQLite connection'));
    const tx = this.inside;
    this.open++;
    const next = this.chain.then(async () => {
      await tx.exec('BEGIN IMMEDIATE');
      try {
        const result = await fn(tx);
        await tx.exec('COMMIT');
        return result;
      } catch (err) {
        await tx.exec('ROLLBACK').catch(() => undefined);
        throw err;
      }
    });
    this.chain = next.catch(() => undefined).finally(() => this.open--);
    return next;
  }

  /** Multi-row INSERT in chunks that stay under SQLite's 32766 bound-parameter limit. */
  async insertMany(prefix: string, columns: number, rows: readonly (readonly SqlValue[])[]): Promise<void> {
    const perChunk = Math.max(1, Math.floor(32000 / columns));
    const tuple = `(${new Array<string>(columns).fill('?').join(',')})`;
    for (let i = 0; i < rows.length; i += perChunk) {
      const chunk = rows.slice(i, i + perChunk);
      await this.run(`${prefix} VALUES ${chunk.map(() => tuple).join(',')}`, chunk.flat());
    }
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => this.db.close((err) => (err ? reject(err) : resolve())));
  }
}

/**
 * A module's database: a SQLite file path (its own connection, with `pragmas`, tables from
 * `sqliteSchema`) or a shared database (PostgreSQL: tables from the numbered migrations; the caller
 * owns and closes it). `owned` is the connection to close, if the module opened one.
 */
export async function openModuleDb(
  at: string | SqlDb,
  o: { pragmas: string; sqliteSchema: string },
): Promise<{ db: SqlDb; owned: Db | undefined }> {
  const owned = typeof at === 'string' ? await Db.open(at) : undefined;
  const db = owned ?? (at as SqlDb);
  if (owned) await owned.exec(o.pragmas);
  if (db.dialect === 'sqlite') await db.exec(o.sqliteSchema);
  return { db, owned };
}
