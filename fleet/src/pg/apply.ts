import type pg from 'pg';
import type { ApplyResult, UplinkMessage } from '../store.js';
import { eventItems } from './items.js';

type Q = pg.PoolClient;

const key = (...parts: (string | number)[]): string => parts.join('\u0000');
const byKey = <T>(m: Map<string, T>): [string, T][] =>
  [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/** Rows inserted per message index, from a statement returning (m, n). */
const countsOf = (rows: { m: number; n: number }[]): Map<number, number> =>
  new Map(rows.map((r) => [r.m, r.n]));

/**
 * Store a group of messages in the caller's transaction, idempotent on (gateway, epoch, session,
 * seq) per message and on item ids: every uniqueness decision is PostgreSQL's (ON CONFLICT), so it
 * holds across fleet workers. Statements touch the shared counter rows (hourly roll-up, sessions,
 * epochs, gateways) last and in key order, so concurrent workers queue on them briefly and never
 * deadlock.
 */

/**
 * The exact hourly roll-up of the readings a preceding CTE `ins` inserted (gateway, device, point,
 * ts, value, unit), in key order: the live write path and `citygate fleet import` both use it.
 */
export const ROLL_UP_INSERTED = `
  INSERT INTO readings_hourly AS h (gateway, device, point, hour, unit, count, sum, min, max)
  SELECT gateway, device, point, (ts / 3600000) * 3600000, max(unit COLLATE "C"), count(*), sum(value),
         min(value), max(value)
  FROM ins GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
  ON CONFLICT (gateway, device, point, hour) DO UPDATE SET
    count = h.count + excluded.count, sum = h.sum + excluded.sum,
    min = LEAST(h.min, excluded.min), max = GREATEST(h.max, excluded.max),
    unit = GREATEST(h.unit COLLATE "C", excluded.unit COLLATE "C")`;
export async function applyGroup(
  c: Q,
  messages: readonly UplinkMessage[],
  at: number,
  worker: string | null,
): Promise<ApplyResult[]> {
  // 1. Which messages are new: one INSERT … ON CONFLICT DO NOTHING, in key order.
  const msgKeys = messages.map((m) => key(m.value.gateway, m.value.epoch, m.value.session, m.value.seq));
  const unique = [...new Map(messages.map((m, i) => [msgKeys[i]!, m.value])).entries()].sort(([a], [b]) =>
    a < b ? -1 : 1,
  );
  const ins = await c.query<{ gateway: string; epoch: string; session: number; seq: number }>(
    `INSERT INTO messages (gateway, epoch, session, seq, worker)
     SELECT *, $5::text FROM unnest($1::text[], $2::text[], $3::int[], $4::int[])
     ON CONFLICT DO NOTHING RETURNING gateway, epoch, session, seq`,
    [
      unique.map(([, e]) => e.gateway),
      unique.map(([, e]) => e.epoch),
      unique.map(([, e]) => e.session),
      unique.map(([, e]) => e.seq),
      worker,
    ],
  );
  const freshKeys = new Set(ins.rows.map((r) => key(r.gateway, r.epoch, r.session, r.seq)));
  const fresh = msgKeys.map((k) => freshKeys.delete(k)); // first occurrence only

  // 2. Items of new messages: events/alarms/others, then readings with the hourly roll-up.
  // Column arrays for unnest(): one array per column, one entry per row.
  const ev: [string[], string[], number[], string[], string[], number[], string[], number[]] = [
    [],
    [],
    [],
    [],
    [],
    [],
    [],
    [],
  ];
  const rd: [
    string[],
    string[],
    number[],
    string[],
    string[],
    number[],
    boolean[],
    (string | null)[],
    number[],
    number[],
  ] = [[], [], [], [], [], [], [], [], [], []];
  const totals = messages.map(() => 0);
  messages.forEach((m, i) => {
    if (!fresh[i]) return;
    const e = m.value;
    if (m.channel === 'telemetry') {
      totals[i] = m.value.readings.length;
      for (const r of m.value.readings) {
        const isBool = typeof r.value === 'boolean';
        const row = [
          e.gateway,
          e.epoch,
          r.id,
          r.device,
          r.point,
          Number(r.value),
          isBool,
          r.unit ?? null,
          r.ts,
          i,
        ];
        row.forEach((v, k) => (rd[k] as unknown[]).push(v));
      }
      return;
    }
    const items = eventItems(m);
    totals[i] = items.length;
    for (const x of items) {
      const row = [e.gateway, e.epoch, x.id, m.channel, x.type, x.ts, JSON.stringify(x.body), i];
      row.forEach((v, k) => (ev[k] as unknown[]).push(v));
    }
  });
  const inserted = messages.map(() => 0);
  if (ev[0].length > 0) {
    const r = await c.query<{ m: number; n: number }>(
      `WITH src AS (
         SELECT DISTINCT ON (gateway, epoch, rid) * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[],
           $5::text[], $6::bigint[], $7::text[], $8::int[]) AS s(gateway, epoch, rid, channel, type, ts, body, m)
         ORDER BY gateway, epoch, rid, m),
       ins AS (
         INSERT INTO events (gateway, epoch, rid, channel, type, ts, body, received)
         SELECT gateway, epoch, rid, channel, type, ts, body, $9 FROM src ORDER BY gateway, epoch, rid
         ON CONFLICT DO NOTHING RETURNING gateway, epoch, rid)
       SELECT src.m, count(*)::int AS n FROM ins JOIN src USING (gateway, epoch, rid) GROUP BY src.m`,
      [...ev, at],
    );
    for (const [m, n] of countsOf(r.rows)) inserted[m] = n;
  }
  if (rd[0].length > 0) {
    const r = await c.query<{ m: number; n: number }>(
      `WITH src AS (
         SELECT DISTINCT ON (gateway, epoch, rid, ts) * FROM unnest($1::text[], $2::text[], $3::bigint[],
           $4::text[], $5::text[], $6::float8[], $7::bool[], $8::text[], $9::bigint[], $10::int[])
           AS s(gateway, epoch, rid, device, point, value, is_bool, unit, ts, m)
         ORDER BY gateway, epoch, rid, ts, m),
       ins AS (
         INSERT INTO readings (gateway, epoch, rid, device, point, value, is_bool, unit, ts, received)
         SELECT gateway, epoch, rid, device, point, value, is_bool, unit, ts, $11 FROM src
         ON CONFLICT DO NOTHING RETURNING gateway, epoch, rid, ts, device, point, value, unit),
       hourly AS (${ROLL_UP_INSERTED})
       SELECT src.m, count(*)::int AS n FROM ins JOIN src USING (gateway, epoch, rid, ts) GROUP BY src.m`,
      [...rd, at],
    );
    for (const [m, n] of countsOf(r.rows)) inserted[m] = n;
  }

  // 3. Counters, aggregated per row and written in key order.
  const sessions = new Map<
    string,
    { g: string; e: string; s: number; max: number; received: number; dups: number }
  >();
  const epochs = new Map<string, { g: string; e: string; t: number; ev: number }>();
  const gateways = new Map<string, { readings: number; dups: number; dupMessages: number }>();
  const results: ApplyResult[] = messages.map((m, i) => {
    const e = m.value;
    const s = sessions.get(key(e.gateway, e.epoch, e.session)) ?? {
      g: e.gateway,
      e: e.epoch,
      s: e.session,
      max: 0,
      received: 0,
      dups: 0,
    };
    sessions.set(key(e.gateway, e.epoch, e.session), s);
    const ep = epochs.get(key(e.gateway, e.epoch)) ?? { g: e.gateway, e: e.epoch, t: 0, ev: 0 };
    epochs.set(key(e.gateway, e.epoch), ep);
    ep.t = Math.max(ep.t, e.evicted?.telemetry ?? 0);
    ep.ev = Math.max(ep.ev, e.evicted?.events ?? 0);
    const g = gateways.get(e.gateway) ?? { readings: 0, dups: 0, dupMessages: 0 };
    gateways.set(e.gateway, g);
    if (!fresh[i]) {
      s.dups++;
      g.dupMessages++;
      return { inserted: 0, duplicates: 0, duplicateMessage: true };
    }
    s.max = Math.max(s.max, e.seq);
    s.received++;
    if (m.channel === 'telemetry') g.readings += inserted[i]!;
    g.dups += totals[i]! - inserted[i]!;
    return { inserted: inserted[i]!, duplicates: totals[i]! - inserted[i]!, duplicateMessage: false };
  });
  const ss = byKey(sessions).map(([, s]) => s);
  await c.query(
    `INSERT INTO sessions AS x (gateway, epoch, session, max_seq, declared_seq, received, duplicates, first_at, last_at)
     SELECT g, e, s, mx, 0, rc, d, $7, $7 FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::int[], $6::int[])
       AS u(g, e, s, mx, rc, d)
     ON CONFLICT (gateway, epoch, session) DO UPDATE SET
       max_seq = GREATEST(x.max_seq, excluded.max_seq), received = x.received + excluded.received,
       duplicates = x.duplicates + excluded.duplicates, last_at = GREATEST(x.last_at, excluded.last_at)`,
    [
      ss.map((s) => s.g),
      ss.map((s) => s.e),
      ss.map((s) => s.s),
      ss.map((s) => s.max),
      ss.map((s) => s.received),
      ss.map((s) => s.dups),
      at,
    ],
  );
  const es = byKey(epochs).map(([, e]) => e);
  await c.query(
    `INSERT INTO epochs AS x (gateway, epoch, evicted_telemetry, evicted_events, first_at)
     SELECT g, e, t, ev, $5 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[]) AS u(g, e, t, ev)
     ON CONFLICT (gateway, epoch) DO UPDATE SET
       evicted_telemetry = GREATEST(x.evicted_telemetry, excluded.evicted_telemetry),
       evicted_events = GREATEST(x.evicted_events, excluded.evicted_events)`,
    [es.map((e) => e.g), es.map((e) => e.e), es.map((e) => e.t), es.map((e) => e.ev), at],
  );
  const gs = byKey(gateways);
  await c.query(
    `INSERT INTO gateways AS x (id, first_seen, last_seen, readings, duplicates, dup_messages)
     SELECT id, $5, $5, r, d, dm FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(id, r, d, dm)
     ON CONFLICT (id) DO UPDATE SET last_seen = GREATEST(x.last_seen, excluded.last_seen),
       readings = x.readings + excluded.readings, duplicates = x.duplicates + excluded.duplicates,
       dup_messages = x.dup_messages + excluded.dup_messages`,
    [
      gs.map(([id]) => id),
      gs.map(([, g]) => g.readings),
      gs.map(([, g]) => g.dups),
      gs.map(([, g]) => g.dupMessages),
      at,
    ],
  );
  return results;
}
