import type pg from 'pg';

/**
 * PostgreSQL schema migrations, applied in order; `schema_version` holds one row per applied step.
 * Several fleet workers may start at once: the whole run holds a transaction-level advisory lock, so
 * exactly one applies each step and the others find it done.
 */
export const MIGRATIONS: readonly { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'fleet store: gateways, messages, sessions, epochs, events, partitioned readings, hourly roll-up',
    sql: `
      CREATE TABLE gateways (
        id text PRIMARY KEY,
        online boolean NOT NULL DEFAULT false,
        session integer NOT NULL DEFAULT 0,
        version text,
        first_seen bigint NOT NULL,
        last_seen bigint NOT NULL,
        readings bigint NOT NULL DEFAULT 0,
        duplicates bigint NOT NULL DEFAULT 0,
        dup_messages bigint NOT NULL DEFAULT 0
      );
      CREATE TABLE messages (
        gateway text NOT NULL, epoch text NOT NULL, session integer NOT NULL, seq integer NOT NULL,
        worker text, -- the fleet worker that stored it (several share one database)
        PRIMARY KEY (gateway, epoch, session, seq)
      );
      CREATE TABLE sessions (
        gateway text NOT NULL, epoch text NOT NULL, session integer NOT NULL,
        max_seq integer NOT NULL DEFAULT 0, declared_seq integer NOT NULL DEFAULT 0,
        received integer NOT NULL DEFAULT 0, duplicates integer NOT NULL DEFAULT 0,
        first_at bigint NOT NULL, last_at bigint NOT NULL,
        PRIMARY KEY (gateway, epoch, session)
      );
      CREATE TABLE epochs (
        gateway text NOT NULL, epoch text NOT NULL,
        evicted_telemetry bigint NOT NULL DEFAULT 0, evicted_events bigint NOT NULL DEFAULT 0,
        first_at bigint NOT NULL,
        PRIMARY KEY (gateway, epoch)
      );
      CREATE TABLE events (
        gateway text NOT NULL, epoch text NOT NULL, rid bigint NOT NULL,
        channel text NOT NULL, type text NOT NULL, ts bigint NOT NULL, body text NOT NULL,
        received bigint NOT NULL,
        PRIMARY KEY (gateway, epoch, rid)
      );
      CREATE INDEX events_by_time ON events (gateway, channel, ts);
      -- Partitioned by day on ts (ms since the epoch). A partitioned table's unique key must hold the
      -- partition key: a re-sent reading carries the same (epoch, id) AND the same ts (both come
      -- from the gateway's outbox row), so (gateway, epoch, rid, ts) identifies it as well.
      CREATE TABLE readings (
        gateway text NOT NULL, epoch text NOT NULL, rid bigint NOT NULL,
        device text NOT NULL, point text NOT NULL, value double precision NOT NULL,
        is_bool boolean NOT NULL, unit text, ts bigint NOT NULL, received bigint NOT NULL,
        PRIMARY KEY (gateway, epoch, rid, ts)
      ) PARTITION BY RANGE (ts);
      CREATE INDEX readings_by_point ON readings (gateway, device, point, ts);
      CREATE INDEX readings_by_time ON readings (gateway, ts);
      -- Hourly roll-up, maintained in the same transaction as the readings it counts (exact, and
      -- idempotent because only newly inserted readings are added); kept longer than raw readings.
      CREATE TABLE readings_hourly (
        gateway text NOT NULL, device text NOT NULL, point text NOT NULL, hour bigint NOT NULL,
        unit text, count bigint NOT NULL, sum double precision NOT NULL,
        min double precision NOT NULL, max double precision NOT NULL,
        PRIMARY KEY (gateway, device, point, hour)
      );`,
  },
  {
    version: 2,
    name: 'coordination: leases (ingest slots, rollout leadership) and rollout state',
    sql: `
      CREATE TABLE leases (
        name text PRIMARY KEY,
        holder text NOT NULL,
        until_ms bigint NOT NULL,
        data text
      );
      CREATE TABLE rollouts (
        id text PRIMARY KEY,
        created_at bigint NOT NULL,
        state text NOT NULL
      );
      -- What any worker asks of the rollout leader (create, pause, resume, abort, a gateway's report):
      -- processed in id order, at least once (the rollout machine ignores a repeated report).
      CREATE TABLE rollout_commands (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        body text NOT NULL,
        done boolean NOT NULL DEFAULT false,
        result text,
        error text
      );`,
  },
  {
    version: 3,
    name: 'shared admin state: credentials registry, API tokens, desired config, commands, sites, alarm board, shared keys',
    sql: `
      CREATE TABLE claim_tokens (
        digest text PRIMARY KEY, id text NOT NULL UNIQUE, group_id text,
        created_at bigint NOT NULL, expires_at bigint NOT NULL, used_at bigint, used_by text);
      CREATE TABLE gateway_credentials (
        gateway text PRIMARY KEY, group_id text, secret_hash text NOT NULL, mosquitto_hash text,
        created_at bigint NOT NULL, revoked_at bigint);
      CREATE TABLE api_tokens (
        digest text PRIMARY KEY, id text NOT NULL UNIQUE, name text NOT NULL, role text NOT NULL,
        created_at bigint NOT NULL);
      CREATE TABLE config_layers (scope text PRIMARY KEY, doc text NOT NULL, updated_at bigint NOT NULL);
      CREATE TABLE gateway_groups (gateway text PRIMARY KEY, group_id text NOT NULL);
      CREATE TABLE config_desired (gateway text PRIMARY KEY, version integer NOT NULL,
        ts bigint NOT NULL, config text NOT NULL, message text NOT NULL);
      CREATE TABLE config_reported (gateway text PRIMARY KEY, version integer NOT NULL,
        status text NOT NULL, error text, ts bigint NOT NULL);
      CREATE TABLE commands (
        tx text PRIMARY KEY, gateway text NOT NULL, name text NOT NULL, args text NOT NULL, by_name text NOT NULL,
        sent_at bigint NOT NULL, expires_at bigint NOT NULL, status text NOT NULL, result text, answered_at bigint);
      CREATE INDEX commands_gateway ON commands (gateway, sent_at);
      CREATE TABLE sites (
        id text PRIMARY KEY, name text NOT NULL, lat double precision NOT NULL, lon double precision NOT NULL,
        zone text);
      CREATE TABLE gateway_health (gateway text PRIMARY KEY, at bigint NOT NULL, body text NOT NULL);
      CREATE TABLE commissioning (
        gateway text PRIMARY KEY, at bigint NOT NULL, by text NOT NULL, passed integer NOT NULL,
        failed text NOT NULL);
      CREATE TABLE alarm_board (
        gateway text NOT NULL, key text NOT NULL, alarm text NOT NULL, device text, severity text NOT NULL,
        state text NOT NULL, message text NOT NULL, raised_at bigint NOT NULL, cleared_at bigint,
        ack_by text, ack_at bigint, ack_note text, updated_ts bigint NOT NULL,
        PRIMARY KEY (gateway, key));
      -- Keys every worker must share (config-signing key, the fleet CA): the first worker's are kept.
      CREATE TABLE shared_keys (name text PRIMARY KEY, value text NOT NULL, created_at bigint NOT NULL);`,
  },
  {
    version: 4,
    name: 'release bundles shared by workers (1 MiB bytea chunks)',
    sql: `
      CREATE TABLE release_builds (
        version text NOT NULL, name text NOT NULL, sha256 text NOT NULL, size bigint NOT NULL,
        build text NOT NULL,
        PRIMARY KEY (version, name));
      CREATE TABLE release_chunks (
        version text NOT NULL, name text NOT NULL, n integer NOT NULL, data bytea NOT NULL,
        PRIMARY KEY (version, name, n));`,
  },
  {
    version: 5,
    name: "flow sets (fleet/src/flows/flow-set-db.ts's tables; used once FlowSetDb takes a SqlDb)",
    sql: `
      CREATE TABLE flow_sets (
        name text NOT NULL, version integer NOT NULL, created_at text NOT NULL, flows_hash text NOT NULL,
        nodes integer NOT NULL, source text NOT NULL, body text NOT NULL,
        PRIMARY KEY (name, version));
      CREATE TABLE flow_assignments (
        gateway text PRIMARY KEY, name text NOT NULL, version integer NOT NULL, assigned_at bigint NOT NULL);
      CREATE TABLE flow_reports (gateway text PRIMARY KEY, body text NOT NULL, received_at bigint NOT NULL);`,
  },
];

/** Advisory-lock key for migrations: any constant the fleet uses nowhere else. */
const MIGRATE_LOCK = 0x43_47_4d_31; // 'CGM1'

/** Bring the database up to the newest schema; returns the versions applied by this call. */
export async function migrate(pool: pg.Pool, now: number): Promise<number[]> {
  const c = await pool.connect();
  const applied: number[] = [];
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock($1)', [MIGRATE_LOCK]);
    await c.query(
      'CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
    );
    const r = await c.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_version');
    const current = r.rows[0]?.v ?? 0;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await c.query(m.sql);
      await c.query('INSERT INTO schema_version (version, name, applied_at) VALUES ($1, $2, $3)', [
        m.version,
        m.name,
        now,
      ]);
      applied.push(m.version);
    }
    await c.query('COMMIT');
    return applied;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}
