import type {
  AlarmBatch,
  Envelope,
  EventBatch,
  PayloadByChannel,
  TelemetryBatch,
  UplinkChannel,
} from '../../common/contract/index.js';
import type { Db } from '../../common/sqlite.js';

/** One decoded message a gateway published through its outbox. */
export type UplinkMessage = {
  [C in Exclude<UplinkChannel, 'state'>]: { channel: C; value: PayloadByChannel[C] };
}[Exclude<UplinkChannel, 'state'>];

export interface ApplyResult {
  /** Items stored for the first time. */
  inserted: number;
  /** Items already stored (re-sent after a restart or reconnect). */
  duplicates: number;
  /** The whole message had been stored before (same gateway, epoch, session, seq). */
  duplicateMessage: boolean;
}

export const APPLY_SCHEMA = `
  CREATE TABLE IF NOT EXISTS messages (
    gateway TEXT NOT NULL, epoch TEXT NOT NULL, session INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (gateway, epoch, session, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS sessions (
    gateway TEXT NOT NULL, epoch TEXT NOT NULL, session INTEGER NOT NULL,
    max_seq INTEGER NOT NULL DEFAULT 0, declared_seq INTEGER NOT NULL DEFAULT 0,
    received INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,
    first_at INTEGER NOT NULL, last_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, epoch, session)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS epochs (
    gateway TEXT NOT NULL, epoch TEXT NOT NULL,
    evicted_telemetry INTEGER NOT NULL DEFAULT 0, evicted_events INTEGER NOT NULL DEFAULT 0,
    first_at INTEGER NOT NULL,
    PRIMARY KEY (gateway, epoch)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS events (
    gateway TEXT NOT NULL, epoch TEXT NOT NULL, rid INTEGER NOT NULL,
    channel TEXT NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL, body TEXT NOT NULL,
    received INTEGER NOT NULL,
    PRIMARY KEY (gateway, epoch, rid)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS events_by_time ON events (gateway, channel, ts);`;

async function touchEpoch(db: Db, e: Envelope, at: number): Promise<void> {
  await db.run(
    `INSERT INTO epochs (gateway, epoch, evicted_telemetry, evicted_events, first_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (gateway, epoch) DO UPDATE SET
       evicted_telemetry = MAX(evicted_telemetry, excluded.evicted_telemetry),
       evicted_events = MAX(evicted_events, excluded.evicted_events)`,
    [e.gateway, e.epoch, e.evicted?.telemetry ?? 0, e.evicted?.events ?? 0, at],
  );
}

/** Session bookkeeping for gap detection: seqs 1..max_seq should all have arrived once. */
export async function noteSession(
  db: Db,
  gateway: string,
  epoch: string,
  session: number,
  at: number,
  change: { seq?: number; declared?: number; duplicate?: boolean },
): Promise<void> {
  await db.run(
    `INSERT INTO sessions (gateway, epoch, session, max_seq, declared_seq, received, duplicates, first_at, last_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (gateway, epoch, session) DO UPDATE SET
       max_seq = MAX(max_seq, excluded.max_seq), declared_seq = MAX(declared_seq, excluded.declared_seq),
       received = received + excluded.received, duplicates = duplicates + excluded.duplicates,
       last_at = MAX(last_at, excluded.last_at)`,
    [
      gateway,
      epoch,
      session,
      change.duplicate ? 0 : (change.seq ?? 0),
      change.declared ?? 0,
      change.seq !== undefined && !change.duplicate ? 1 : 0,
      change.duplicate ? 1 : 0,
      at,
      at,
    ],
  );
}

async function insertReadings(db: Db, b: TelemetryBatch, at: number): Promise<number> {
  let inserted = 0;
  const perChunk = 3000;
  for (let i = 0; i < b.readings.length; i += perChunk) {
    const chunk = b.readings.slice(i, i + perChunk);
    const r = await db.run(
      `INSERT OR IGNORE INTO readings (gateway, epoch, rid, device, point, value, is_bool, unit, ts, received) VALUES ${chunk
        .map(() => '(?,?,?,?,?,?,?,?,?,?)')
        .join(',')}`,
      chunk.flatMap((x) => [
        b.gateway,
        b.epoch,
        x.id,
        x.device,
        x.point,
        typeof x.value === 'boolean' ? Number(x.value) : x.value,
        typeof x.value === 'boolean' ? 1 : 0,
        x.unit ?? null,
        x.ts,
        at,
      ]),
    );
    inserted += r.changes;
  }
  return inserted;
}

async function insertEvents(
  db: Db,
  e: Envelope,
  channel: string,
  rows: { id: number; type: string; ts: number; body: unknown }[],
  at: number,
): Promise<number> {
  if (rows.length === 0) return 0;
  const r = await db.run(
    `INSERT OR IGNORE INTO events (gateway, epoch, rid, channel, type, ts, body, received) VALUES ${rows
      .map(() => '(?,?,?,?,?,?,?,?)')
      .join(',')}`,
    rows.flatMap((x) => [e.gateway, e.epoch, x.id, channel, x.type, x.ts, JSON.stringify(x.body), at]),
  );
  return r.changes;
}

/** Store one message inside the caller's transaction; idempotent on (gateway, epoch, session, seq) and item ids. */
export async function applyMessage(db: Db, m: UplinkMessage, at: number): Promise<ApplyResult> {
  const e = m.value;
  await db.run(
    `INSERT INTO gateways (id, first_seen, last_seen) VALUES (?, ?, ?)
     ON CONFLICT (id) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen)`,
    [e.gateway, at, at],
  );
  const fresh = await db.run(
    'INSERT OR IGNORE INTO messages (gateway, epoch, session, seq) VALUES (?, ?, ?, ?)',
    [e.gateway, e.epoch, e.session, e.seq],
  );
  await touchEpoch(db, e, at);
  if (fresh.changes === 0) {
    await noteSession(db, e.gateway, e.epoch, e.session, at, { seq: e.seq, duplicate: true });
    await db.run('UPDATE gateways SET dup_messages = dup_messages + 1 WHERE id = ?', [e.gateway]);
    return { inserted: 0, duplicates: 0, duplicateMessage: true };
  }
  await noteSession(db, e.gateway, e.epoch, e.session, at, { seq: e.seq });
  let total: number;
  let inserted: number;
  switch (m.channel) {
    case 'telemetry':
      total = m.value.readings.length;
      inserted = await insertReadings(db, m.value, at);
      await db.run('UPDATE gateways SET readings = readings + ?, duplicates = duplicates + ? WHERE id = ?', [
        inserted,
        total - inserted,
        e.gateway,
      ]);
      return { inserted, duplicates: total - inserted, duplicateMessage: false };
    case 'events':
    case 'alarms': {
      const items =
        m.channel === 'events'
          ? (m.value as EventBatch).events.map((x) => ({
              id: x.id,
              type: x.type,
              ts: x.ts,
              body: x.data ?? {},
            }))
          : (m.value as AlarmBatch).alarms.map((x) => {
              const { id, ts, ...rest } = x;
              return { id, type: x.alarm, ts, body: rest };
            });
      total = items.length;
      inserted = await insertEvents(db, e, m.channel, items, at);
      break;
    }
    default: {
      const {
        v: _v,
        gateway: _g,
        epoch: _e,
        session: _s,
        seq: _q,
        sentAt,
        evicted: _x,
        id,
        ...body
      } = m.value;
      const type = 'tx' in body ? String(body.tx) : 'version' in body ? String(body.version) : m.channel;
      total = 1;
      // Without an outbox row id (older senders), (session, seq) identifies it: use a negative id.
      const rid = id ?? -(e.session * 1_000_000 + e.seq);
      inserted = await insertEvents(db, e, m.channel, [{ id: rid, type, ts: sentAt, body }], at);
    }
  }
  await db.run('UPDATE gateways SET duplicates = duplicates + ? WHERE id = ?', [total - inserted, e.gateway]);
  return { inserted, duplicates: total - inserted, duplicateMessage: false };
}
