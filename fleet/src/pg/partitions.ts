import type pg from 'pg';

export const DAY_MS = 86_400_000;
export const HOUR_MS = 3_600_000;

/** Day number (days since 1970-01-01 UTC) of a timestamp in ms. */
export const dayOf = (ts: number): number => Math.floor(ts / DAY_MS);

/** `readings_d20261201`: the daily partition holding [day, day + 1). */
export function partitionName(day: number): string {
  const d = new Date(day * DAY_MS);
  const p = (n: number, w: number) => String(n).padStart(w, '0');
  return `readings_d${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1, 2)}${p(d.getUTCDate(), 2)}`;
}

export function dayOfPartition(name: string): number | undefined {
  const m = /^readings_d(\d{4})(\d{2})(\d{2})$/.exec(name);
  return m ? Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) / DAY_MS : undefined;
}

export interface RetentionPolicy {
  /** Raw readings: whole days older than this are dropped (default 30). */
  rawDays: number;
  /** Hourly roll-ups: deleted after this many days (default 400). */
  rollupDays: number;
  /** Daily partitions created ahead of today (default 2). */
  aheadDays: number;
}

export const DEFAULT_RETENTION: RetentionPolicy = { rawDays: 30, rollupDays: 400, aheadDays: 2 };

/** Pure: which partitions to create and which to drop at `now`, given those that exist. */
export function planPartitions(
  existing: ReadonlySet<number>,
  now: number,
  policy: RetentionPolicy,
): { create: number[]; drop: number[] } {
  const today = dayOf(now);
  const create: number[] = [];
  for (let d = today; d <= today + policy.aheadDays; d++) if (!existing.has(d)) create.push(d);
  // A day is dropped once all of it is older than rawDays: its end <= now - rawDays.
  const drop = [...existing]
    .filter((d) => (d + 1) * DAY_MS <= now - policy.rawDays * DAY_MS)
    .sort((a, b) => a - b);
  return { create, drop };
}

const PARTITION_LOCK = 0x43_47_50_31; // 'CGP1'

/**
 * Daily partitions of `readings`, created ahead and on demand (a gateway's backlog may carry
 * readings from days ago). Creation runs in its own short transaction under an advisory lock so two
 * workers never race on the same CREATE.
 */
export class Partitions {
  private known = new Set<number>();

  constructor(private readonly pool: pg.Pool) {}

  async load(): Promise<Set<number>> {
    const r = await this.pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
       WHERE i.inhparent = 'readings'::regclass`,
    );
    this.known = new Set(
      r.rows.map((x) => dayOfPartition(x.name)).filter((d): d is number => d !== undefined),
    );
    return new Set(this.known);
  }

  /** Make sure a partition exists for each of these days. */
  async ensure(days: Iterable<number>): Promise<number[]> {
    const missing = [...new Set(days)].filter((d) => !this.known.has(d)).sort((a, b) => a - b);
    if (missing.length === 0) return [];
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      for (const d of missing)
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${partitionName(d)} PARTITION OF readings FOR VALUES FROM (${d * DAY_MS}) TO (${(d + 1) * DAY_MS})`,
        );
      await c.query('COMMIT');
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
    for (const d of missing) this.known.add(d);
    return missing;
  }

  /** Create partitions ahead, drop raw days past retention, delete old roll-ups. */
  async maintain(
    now: number,
    policy: RetentionPolicy,
  ): Promise<{ created: number[]; dropped: number[]; rollupsDeleted: number }> {
    const existing = await this.load();
    const plan = planPartitions(existing, now, policy);
    const created = await this.ensure(plan.create);
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [PARTITION_LOCK]);
      for (const d of plan.drop) await c.query(`DROP TABLE IF EXISTS ${partitionName(d)}`);
      const del = await c.query('DELETE FROM readings_hourly WHERE hour < $1', [
        now - policy.rollupDays * DAY_MS,
      ]);
      await c.query('COMMIT');
      for (const d of plan.drop) this.known.delete(d);
      return { created, dropped: plan.drop, rollupsDeleted: del.rowCount ?? 0 };
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  forget(): void {
    this.known.clear();
  }
}
