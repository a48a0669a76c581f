import type pg from 'pg';

/** PostgreSQL's own clock in ms: every worker judges lease expiry by the same clock. */
const NOW_MS = '(extract(epoch from clock_timestamp()) * 1000)::bigint';

/**
 * Named leases in the `leases` table: held by one worker until `until_ms`, renewed while it lives,
 * taken over by another once expired. What must happen once across workers (an ingest slot's
 * MQTT session, rollout leadership) is decided by these rows, never by in-process state.
 */
export class Leases {
  constructor(
    private readonly pool: pg.Pool,
    readonly holder: string,
    readonly ttlMs: number,
  ) {}

  /** Take `name` if it is free, expired or already ours; true when we hold it now. */
  async acquire(name: string, data?: string): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO leases AS l (name, holder, until_ms, data) VALUES ($1, $2, ${NOW_MS} + $3, $4)
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms,
         data = COALESCE(excluded.data, l.data)
       WHERE l.until_ms < ${NOW_MS} OR l.holder = excluded.holder
       RETURNING name`,
      [name, this.holder, this.ttlMs, data ?? null],
    );
    return (r.rowCount ?? 0) > 0;
  }

  /** Extend the leases we still hold; returns the names we hold (a missing one was taken over). */
  async renew(names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const r = await this.pool.query<{ name: string }>(
      `UPDATE leases SET until_ms = ${NOW_MS} + $3 WHERE name = ANY($1) AND holder = $2 RETURNING name`,
      [names, this.holder, this.ttlMs],
    );
    return new Set(r.rows.map((x) => x.name));
  }

  /** Take over every expired lease whose name starts with `prefix`; returns their names. */
  async claimExpired(prefix: string): Promise<string[]> {
    const r = await this.pool.query<{ name: string }>(
      `UPDATE leases SET holder = $2, until_ms = ${NOW_MS} + $3
       WHERE name LIKE $1 || '%' AND until_ms < ${NOW_MS} AND holder <> $2 RETURNING name`,
      [prefix, this.holder, this.ttlMs],
    );
    return r.rows.map((x) => x.name).sort();
  }

  async release(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.pool.query('DELETE FROM leases WHERE name = ANY($1) AND holder = $2', [names, this.holder]);
  }

  async holderOf(name: string): Promise<{ holder: string; expired: boolean } | undefined> {
    const r = await this.pool.query<{ holder: string; expired: boolean }>(
      `SELECT holder, until_ms < ${NOW_MS} AS expired FROM leases WHERE name = $1`,
      [name],
    );
    return r.rows[0];
  }
}
