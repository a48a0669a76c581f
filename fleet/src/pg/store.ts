import pg from 'pg';
import type { GatewayState, TelemetryBatch } from '../../../common/contract/index.js';
import type { Clock, Timer } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type {
  ApplyResult,
  FleetStore,
  GatewayRecord,
  SessionGap,
  StoredEvent,
  StoredReading,
  TelemetryBucket,
  TelemetryQuery,
  UplinkMessage,
} from '../store.js';
import { newestPerPoint, toEvent, toGap, toReading, toRecord, type GatewayRow } from '../store-rows.js';
import { applyGroup } from './apply.js';
import { DAY_MS, dayOf, DEFAULT_RETENTION, HOUR_MS, Partitions, type RetentionPolicy } from './partitions.js';
import { migrate } from './schema.js';

/** bigint and numeric come back as JS numbers: every value the store keeps (ms, counts) is < 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === 20 || oid === 1700
      ? (v: string) => Number(v)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** The URL without its password, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(not a URL)';
  }
}

export function createPool(url: string, max = 10): pg.Pool {
  return new pg.Pool({ connectionString: url, max, types, application_name: 'citygate-fleet' });
}

const GATEWAY_SELECT = `SELECT g.*,
  (SELECT SUM(evicted_telemetry) FROM epochs e WHERE e.gateway = g.id) AS evicted_telemetry,
  (SELECT SUM(evicted_events) FROM epochs e WHERE e.gateway = g.id) AS evicted_events,
  (SELECT SUM(GREATEST(max_seq, declared_seq) - received) FROM sessions s WHERE s.gateway = g.id) AS missing
  FROM gateways g`;

/** SQLSTATE 23514: "no partition of relation … found for row" (a partition another worker dropped). */
const noPartition = (err: unknown): boolean =>
  (err as { code?: string }).code === '23514' && /partition/.test(errorMessage(err));

export interface PgStoreOptions {
  retention?: Partial<RetentionPolicy>;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** Recorded with each message this store instance stores (which worker took it). */
  workerId?: string;
}

/**
 * The fleet store on PostgreSQL: the same contract as SqliteFleetStore, safe for several fleet
 * workers at once (every idempotency decision is a PostgreSQL constraint), telemetry in daily
 * partitions with retention, and an hourly roll-up kept longer than raw readings.
 */
export class PgFleetStore implements FleetStore {
  readonly retention: RetentionPolicy;
  private readonly partitions: Partitions;
  private maintenanceTimer: Timer | undefined;

  private constructor(
    readonly pool: pg.Pool,
    retention: RetentionPolicy,
    private readonly workerId: string | null,
  ) {
    this.retention = retention;
    this.partitions = new Partitions(pool);
  }

  static async open(url: string, now: number, opts: PgStoreOptions = {}): Promise<PgFleetStore> {
    const pool = createPool(url, opts.poolSize);
    pool.on('error', () => undefined); // an idle client's error: the next query reports it
    try {
      await migrate(pool, now);
      const store = new PgFleetStore(
        pool,
        { ...DEFAULT_RETENTION, ...opts.retention },
        opts.workerId ?? null,
      );
      await store.partitions.load();
      await store.partitions.ensure([dayOf(now), dayOf(now) + 1]);
      return store;
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new CityGateError(
        'store-unavailable',
        `PostgreSQL store ${redactUrl(url)}: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
  }

  /** Create partitions ahead, drop those past retention, delete old roll-ups. */
  maintain(now: number): ReturnType<Partitions['maintain']> {
    return this.partitions.maintain(now, this.retention);
  }

  /** Run `maintain` now and every `everyMs` (default hourly) on the injected clock. */
  startMaintenance(clock: Clock, log: Logger, everyMs = HOUR_MS): void {
    const tick = (): void => {
      this.maintain(clock.now()).then(
        (r) => {
          if (r.created.length + r.dropped.length > 0)
            log.info(`telemetry partitions: created ${r.created.length}, dropped ${r.dropped.length}`);
        },
        (err: unknown) => log.warn(`telemetry maintenance failed: ${errorMessage(err)}`),
      );
      this.maintenanceTimer = clock.setTimeout(tick, everyMs);
    };
    tick();
  }

  async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      const r = await fn(c);
      await c.query('COMMIT');
      return r;
    } catch (err) {
      await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  private touch(c: pg.PoolClient, gateway: string, at: number): Promise<unknown> {
    return c.query(
      `INSERT INTO gateways AS g (id, first_seen, last_seen) VALUES ($1, $2, $2)
       ON CONFLICT (id) DO UPDATE SET last_seen = GREATEST(g.last_seen, excluded.last_seen)`,
      [gateway, at],
    );
  }

  private noteDeclared(c: pg.PoolClient, s: GatewayState, session: number, declared: number, at: number) {
    return c.query(
      `INSERT INTO sessions AS x (gateway, epoch, session, declared_seq, first_at, last_at) VALUES ($1, $2, $3, $4, $5, $5)
       ON CONFLICT (gateway, epoch, session) DO UPDATE SET
         declared_seq = GREATEST(x.declared_seq, excluded.declared_seq), last_at = GREATEST(x.last_at, excluded.last_at)`,
      [s.gateway, s.epoch, session, declared, at],
    );
  }

  async recordState(s: GatewayState, at: number): Promise<void> {
    await this.tx(async (c) => {
      await this.touch(c, s.gateway, at);
      // A Will from an older session must not mark a newer session offline.
      await c.query(
        'UPDATE gateways SET online = $1, session = $2, version = COALESCE($3, version) WHERE id = $4 AND session <= $2',
        [s.state === 'online', s.session, s.version ?? null, s.gateway],
      );
      if (s.epoch && s.state === 'offline' && s.seq !== undefined)
        await this.noteDeclared(c, s, s.session, s.seq, at);
      if (s.epoch && s.previous) await this.noteDeclared(c, s, s.previous.session, s.previous.seq, at);
      if (s.epoch && s.evicted)
        await c.query(
          `INSERT INTO epochs AS x (gateway, epoch, evicted_telemetry, evicted_events, first_at) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (gateway, epoch) DO UPDATE SET
             evicted_telemetry = GREATEST(x.evicted_telemetry, excluded.evicted_telemetry),
             evicted_events = GREATEST(x.evicted_events, excluded.evicted_events)`,
          [s.gateway, s.epoch, s.evicted.telemetry, s.evicted.events, at],
        );
    });
  }

  async ingest(b: TelemetryBatch, at: number): Promise<{ inserted: number; duplicates: number }> {
    const [r] = await this.apply([{ channel: 'telemetry', value: b }], at);
    return { inserted: r!.inserted, duplicates: r!.duplicates };
  }

  async apply(messages: readonly UplinkMessage[], at: number): Promise<ApplyResult[]> {
    if (messages.length === 0) return [];
    const days = new Set<number>();
    for (const m of messages)
      if (m.channel === 'telemetry') for (const r of m.value.readings) days.add(dayOf(r.ts));
    await this.partitions.ensure(days);
    try {
      return await this.tx((c) => applyGroup(c, messages, at, this.workerId));
    } catch (err) {
      if (!noPartition(err)) throw err;
      this.partitions.forget(); // another worker dropped a partition this one still knew
      await this.partitions.load();
      await this.partitions.ensure(days);
      return this.tx((c) => applyGroup(c, messages, at, this.workerId));
    }
  }

  async gaps(gateway: string): Promise<SessionGap[]> {
    const r = await this.pool.query<{ epoch: string; session: number; last: number; received: number }>(
      `SELECT epoch, session, GREATEST(max_seq, declared_seq) AS last, received FROM sessions
       WHERE gateway = $1 AND GREATEST(max_seq, declared_seq) > received ORDER BY first_at, session`,
      [gateway],
    );
    return r.rows.map(toGap);
  }

  async events(q: {
    gateway: string;
    channel?: string;
    since?: number;
    limit: number;
  }): Promise<StoredEvent[]> {
    const r = await this.pool.query<{
      channel: string;
      type: string;
      ts: number;
      body: string;
      received: number;
    }>(
      `SELECT channel, type, ts, body, received FROM events WHERE gateway = $1 AND ($2::text IS NULL OR channel = $2)
       AND ts >= $3 ORDER BY ts DESC, rid DESC LIMIT $4`,
      [q.gateway, q.channel ?? null, q.since ?? 0, q.limit],
    );
    return r.rows.map(toEvent);
  }

  async listGateways(): Promise<GatewayRecord[]> {
    return (await this.pool.query<GatewayRow>(`${GATEWAY_SELECT} ORDER BY g.id COLLATE "C"`)).rows.map(
      toRecord,
    );
  }

  async getGateway(id: string): Promise<GatewayRecord | undefined> {
    const r = await this.pool.query<GatewayRow>(`${GATEWAY_SELECT} WHERE g.id = $1`, [id]);
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  private where(q: TelemetryQuery, column: string, params: (string | number)[]): string {
    const where = [`gateway = $${params.push(q.gateway)}`];
    if (q.device) where.push(`device = $${params.push(q.device)}`);
    if (q.point) where.push(`point = $${params.push(q.point)}`);
    if (q.since !== undefined) where.push(`${column} >= $${params.push(q.since)}`);
    if (q.until !== undefined) where.push(`${column} <= $${params.push(q.until)}`);
    return where.join(' AND ');
  }

  /**
   * Buckets of whole hours over hour-aligned ranges come from the roll-up (which outlives raw
   * readings); anything else is computed from raw readings, like the SQLite store does.
   */
  async telemetryBuckets(q: TelemetryQuery, bucketMs: number): Promise<TelemetryBucket[]> {
    const b = Math.trunc(bucketMs);
    const aligned =
      b % HOUR_MS === 0 &&
      (q.since === undefined || q.since % HOUR_MS === 0) &&
      (q.until === undefined || (q.until + 1) % HOUR_MS === 0);
    const params: (string | number)[] = [];
    const sql = aligned
      ? `SELECT device, point, max(unit COLLATE "C") AS unit, (hour / ${b}) * ${b} AS ts,
           sum(sum) / sum(count) AS mean, min(min) AS min, max(max) AS max, sum(count) AS count
         FROM readings_hourly WHERE ${this.where(q, 'hour', params)}
         GROUP BY device, point, hour / ${b}`
      : `SELECT device, point, max(unit COLLATE "C") AS unit, (ts / ${b}) * ${b} AS ts, avg(value) AS mean,
           min(value) AS min, max(value) AS max, count(*) AS count
         FROM readings WHERE ${this.where(q, 'ts', params)} GROUP BY device, point, ts / ${b}`;
    const r = await this.pool.query<TelemetryBucket>(
      `${sql} ORDER BY ts DESC, device COLLATE "C", point COLLATE "C" LIMIT $${params.push(q.limit)}`,
      params,
    );
    return r.rows;
  }

  async telemetry(q: TelemetryQuery): Promise<StoredReading[]> {
    const params: (string | number)[] = [];
    const where = this.where(q, 'ts', params);
    const r = await this.pool.query<{
      device: string;
      point: string;
      value: number;
      is_bool: boolean;
      unit: string | null;
      ts: number;
      received: number;
    }>(
      `SELECT device, point, value, is_bool, unit, ts, received FROM readings WHERE ${where}
       ORDER BY ts DESC, rid DESC LIMIT $${params.push(q.limit)}`,
      params,
    );
    return r.rows.map(toReading);
  }

  async latest(gateway: string, since: number): Promise<StoredReading[]> {
    const r = await this.pool.query<Parameters<typeof toReading>[0]>(
      `SELECT DISTINCT ON (device, point) device, point, value, is_bool, unit, ts, received
       FROM readings WHERE gateway = $1 AND ts >= $2 ORDER BY device, point, ts DESC, rid DESC`,
      [gateway, since],
    );
    return newestPerPoint(r.rows.map(toReading));
  }

  /** Days that have a raw-readings partition (for operators and tests). */
  async partitionDays(): Promise<number[]> {
    return [...(await this.partitions.load())].sort((a, b) => a - b);
  }

  async close(): Promise<void> {
    this.maintenanceTimer?.cancel();
    await this.pool.end();
  }
}

export { DAY_MS };
