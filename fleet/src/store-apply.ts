import type {
  AlarmBatch,
  Envelope,
  EventBatch,
  PayloadByChannel,
  TelemetryBatch,
  UplinkChannel,
} from '../../common/contract/index.js';
import type { Db } from '../../common/sqlite.js';
import { insertTelemetry } from './store-blocks-write.js';
import type { KeyScope } from './store-keys.js';

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

/** Store the items a fresh message carries; how many were new, of how many. */
async function applyItems(
  db: Db,
  m: Exclude<UplinkMessage, { channel: 'telemetry' }>,
  at: number,
): Promise<{ inserted: number; total: number }> {
  const e = m.value;
  switch (m.channel) {
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
      return { inserted: await insertEvents(db, e, m.channel, items, at), total: items.length };
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
      // Without an outbox row id (older senders), (session, seq) identifies it: use a negative id.
      const rid = id ?? -(e.session * 1_000_000 + e.seq);
      return {
        inserted: await insertEvents(db, e, m.channel, [{ id: rid, type, ts: sentAt, body }], at),
        total: 1,
      };
    }
  }
}

const tuples = (n: number, width: number): string =>
  new Array<string>(n).fill(`(${new Array<string>(width).fill('?').join(',')})`).join(',');

/** Group `items` by `key`, folding each group with `fold` from `init`. */
function groupBy<T, A>(
  items: readonly T[],
  key: (t: T) => string,
  init: (t: T) => A,
  fold: (a: A, t: T) => void,
): A[] {
  const out = new Map<string, A>();
  for (const t of items) {
    const k = key(t);
    let a = out.get(k);
    if (!a) out.set(k, (a = init(t)));
    fold(a, t);
  }
  return [...out.values()];
}

/**
 * Store messages inside the caller's transaction (one group commit), idempotent on (gateway, epoch,
 * session, seq) and item ids. The bookkeeping is one statement per group, not per message: which
 * messages are new (one INSERT … RETURNING), epochs, sessions and gateway counters (one upsert
 * each); the group's readings are one probe and one INSERT (store-blocks-write.ts); events and
 * alarms take a statement per message.
 */
export async function applyMessages(
  db: Db,
  keys: KeyScope,
  messages: readonly UplinkMessage[],
  at: number,
): Promise<ApplyResult[]> {
  if (messages.length === 0) return [];
  const envs = messages.map((m) => m.value as Envelope);
  const key = (e: Pick<Envelope, 'gateway' | 'epoch' | 'session' | 'seq'>) =>
    `${e.gateway}\0${e.epoch}\0${e.session}\0${e.seq}`;
  const inserted = await db.all<Pick<Envelope, 'gateway' | 'epoch' | 'session' | 'seq'>>(
    `INSERT OR IGNORE INTO messages (gateway, epoch, session, seq) VALUES ${tuples(envs.length, 4)}
     RETURNING gateway, epoch, session, seq`,
    envs.flatMap((e) => [e.gateway, e.epoch, e.session, e.seq]),
  );
  // New now, and only its first copy within this group.
  const fresh = new Set(inserted.map(key));
  const results: ApplyResult[] = [];
  // Telemetry of the whole group goes in together (one probe, one INSERT), the rest item by item.
  const telemetry: { i: number; b: TelemetryBatch }[] = [];
  for (const [i, m] of messages.entries()) {
    const k = key(envs[i]!);
    if (!fresh.delete(k)) {
      results.push({ inserted: 0, duplicates: 0, duplicateMessage: true });
      continue;
    }
    if (m.channel === 'telemetry') {
      telemetry.push({ i, b: m.value });
      results.push({ inserted: 0, duplicates: 0, duplicateMessage: false });
      continue;
    }
    const r = await applyItems(db, m, at);
    results.push({ inserted: r.inserted, duplicates: r.total - r.inserted, duplicateMessage: false });
  }
  const { inserted: stored, written } = await insertTelemetry(
    db,
    keys,
    telemetry.map((t) => t.b),
    at,
  );
  // The readings' INSERT and the three upserts below are independent: issued together, awaited
  // together (all settled before the caller may roll back).
  const writes: Promise<unknown>[] = [written];
  telemetry.forEach(({ i, b }, j) => {
    results[i] = {
      inserted: stored[j]!,
      duplicates: b.readings.length - stored[j]!,
      duplicateMessage: false,
    };
  });
  const epochs = groupBy(
    envs,
    (e) => `${e.gateway}\0${e.epoch}`,
    (e) => ({ gateway: e.gateway, epoch: e.epoch, t: 0, ev: 0 }),
    (a, e) => {
      a.t = Math.max(a.t, e.evicted?.telemetry ?? 0);
      a.ev = Math.max(a.ev, e.evicted?.events ?? 0);
    },
  );
  writes.push(
    db.run(
      `INSERT INTO epochs (gateway, epoch, evicted_telemetry, evicted_events, first_at) VALUES ${tuples(epochs.length, 5)}
     ON CONFLICT (gateway, epoch) DO UPDATE SET
       evicted_telemetry = MAX(evicted_telemetry, excluded.evicted_telemetry),
       evicted_events = MAX(evicted_events, excluded.evicted_events)`,
      epochs.flatMap((a) => [a.gateway, a.epoch, a.t, a.ev, at]),
    ),
  );
  const sessions = groupBy(
    envs.map((e, i) => ({ e, dup: results[i]!.duplicateMessage })),
    ({ e }) => `${e.gateway}\0${e.epoch}\0${e.session}`,
    ({ e }) => ({ e, maxSeq: 0, received: 0, dups: 0 }),
    (a, { e, dup }) => {
      if (dup) {
        a.dups++;
      } else {
        a.received++;
        a.maxSeq = Math.max(a.maxSeq, e.seq);
      }
    },
  );
  writes.push(
    db.run(
      `INSERT INTO sessions (gateway, epoch, session, max_seq, declared_seq, received, duplicates, first_at, last_at)
     VALUES ${tuples(sessions.length, 9)}
     ON CONFLICT (gateway, epoch, session) DO UPDATE SET
       max_seq = MAX(max_seq, excluded.max_seq), received = received + excluded.received,
       duplicates = duplicates + excluded.duplicates, last_at = MAX(last_at, excluded.last_at)`,
      sessions.flatMap((a) => [a.e.gateway, a.e.epoch, a.e.session, a.maxSeq, 0, a.received, a.dups, at, at]),
    ),
  );
  const gateways = groupBy(
    messages.map((m, i) => ({ m, r: results[i]! })),
    ({ m }) => m.value.gateway,
    ({ m }) => ({ id: m.value.gateway, readings: 0, duplicates: 0, dupMessages: 0 }),
    (a, { m, r }) => {
      if (r.duplicateMessage) a.dupMessages++;
      if (m.channel === 'telemetry') a.readings += r.inserted;
      a.duplicates += r.duplicates;
    },
  );
  writes.push(
    db.run(
      `INSERT INTO gateways (id, first_seen, last_seen, readings, duplicates, dup_messages)
       VALUES ${tuples(gateways.length, 6)}
       ON CONFLICT (id) DO UPDATE SET last_seen = MAX(last_seen, excluded.last_seen),
         readings = readings + excluded.readings, duplicates = duplicates + excluded.duplicates,
         dup_messages = dup_messages + excluded.dup_messages`,
      gateways.flatMap((a) => [a.id, at, at, a.readings, a.duplicates, a.dupMessages]),
    ),
  );
  // No await between issuing them and this: every rejection has its handler at once.
  const failed = (await Promise.allSettled(writes)).find((w) => w.status === 'rejected');
  if (failed) throw failed.reason;
  return results;
}
