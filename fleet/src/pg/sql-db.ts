import type pg from 'pg';
import type { SqlDb, SqlValue } from '../../../common/sqlite.js';

const converted = new Map<string, string>();

/** `?` placeholders → `$1, $2, …` (outside quoted strings and identifiers); cached per statement. */
export function toPgPlaceholders(sql: string): string {
  const hit = converted.get(sql);
  if (hit !== undefined) return hit;
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else out += ch === '?' ? `$${++n}` : ch;
  }
  if (converted.size > 2000) converted.clear();
  converted.set(sql, out);
  return out;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

class PgQueries {
  readonly dialect = 'postgres' as const;
  constructor(protected readonly q: Queryable) {}

  async run(sql: string, params: readonly SqlValue[] = []): Promise<{ changes: number; lastID: number }> {
    const r = await this.q.query(toPgPlaceholders(sql), params as unknown[]);
    return { changes: r.rowCount ?? 0, lastID: 0 };
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    const r = await this.q.query(toPgPlaceholders(sql), params as unknown[]);
    return r.rows as T[];
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.all<T>(sql, params))[0];
  }

  async exec(sql: string): Promise<void> {
    await this.q.query(sql);
  }
}

/** Statements of one transaction, on its client; a nested `transaction` joins it. */
class PgTxDb extends PgQueries implements SqlDb {
  transaction<T>(fn: (db: SqlDb) => Promise<T>): Promise<T> {
    return fn(this);
  }
}

/**
 * `SqlDb` over a `pg` pool (the fleet store's, so bigint comes back as a JS number): `?` becomes
 * `$n`, `changes` is the row count, a transaction runs on one pooled client (READ COMMITTED; the
 * modules' once-only decisions are single conditional statements, see docs/scaling.md).
 */
export class PgSqlDb extends PgQueries implements SqlDb {
  constructor(readonly pool: pg.Pool) {
    super(pool);
  }

  async transaction<T>(fn: (db: SqlDb) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(new PgTxDb(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }
}

/**
 * Run `fn` so that no other worker runs the same-named section at the same time: on PostgreSQL
 * inside a transaction holding `pg_advisory_xact_lock(hashtext(name))`; on SQLite (one process)
 * in order behind earlier calls of this process.
 */
export function exclusive<T>(db: SqlDb, name: string, fn: (db: SqlDb) => Promise<T>): Promise<T> {
  if (db.dialect === 'postgres')
    return db.transaction(async (tx) => {
      await tx.run('SELECT pg_advisory_xact_lock(hashtext(?))', [name]);
      return fn(tx);
    });
  const prev = localChains.get(name) ?? Promise.resolve();
  const next = prev.then(() => fn(db));
  localChains.set(
    name,
    next.catch(() => undefined),
  );
  return next;
}
const localChains = new Map<string, Promise<unknown>>();
