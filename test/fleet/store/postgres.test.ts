import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { dayOf, DAY_MS, partitionName, planPartitions } from '../../../fleet/src/pg/partitions.js';
import { MIGRATIONS } from '../../../fleet/src/pg/schema.js';
import { PgFleetStore } from '../../../fleet/src/pg/store.js';
import { startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { fleetStoreSuite, telemetry } from './suite.js';

let cluster: PostgresCluster;
let n = 0;
const freshUrl = () => cluster.createDatabase(`store_${++n}`);
const NOW = Date.UTC(2026, 11, 1, 8);

beforeAll(async () => {
  cluster = await startPostgres();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

fleetStoreSuite('PostgreSQL', async () => PgFleetStore.open(await freshUrl(), NOW));

describe('PostgreSQL store: schema, partitions, retention, several workers', () => {
  it('records each migration once in schema_version, also when workers start together', async () => {
    const url = await freshUrl();
    const stores = await Promise.all([1, 2, 3].map(() => PgFleetStore.open(url, NOW)));
    const r = await stores[0]!.pool.query<{ version: number }>(
      'SELECT version FROM schema_version ORDER BY version',
    );
    expect(r.rows.map((x) => x.version)).toEqual(MIGRATIONS.map((m) => m.version));
    await Promise.all(stores.map((s) => s.close()));
  });

  it('creates daily partitions ahead and on demand, drops old days, keeps the hourly roll-up longer', async () => {
    const store = await PgFleetStore.open(await freshUrl(), NOW, {
      retention: { rawDays: 7, rollupDays: 30 },
    });
    try {
      expect(await store.partitionDays()).toEqual([dayOf(NOW), dayOf(NOW) + 1]);
      // A gateway's backlog from ten days ago lands in a partition made for it.
      const old = NOW - 10 * DAY_MS;
      await store.apply(
        [
          telemetry('gw-p', 1, [
            { id: 1, value: 2, ts: old },
            { id: 2, value: 4, ts: old + 1 },
            { id: 3, value: 6, ts: NOW },
          ]),
        ],
        NOW,
      );
      expect(await store.partitionDays()).toEqual([dayOf(old), dayOf(NOW), dayOf(NOW) + 1]);
      const rel = await store.pool.query<{ n: number }>(
        `SELECT count(*) AS n FROM ${partitionName(dayOf(old))}`,
      );
      expect(rel.rows[0]!.n).toBe(2);
      const m = await store.maintain(NOW);
      expect(m.dropped).toEqual([dayOf(old)]);
      expect(m.created).toEqual([dayOf(NOW) + 2]);
      expect(await store.partitionDays()).toEqual([0, 1, 2].map((d) => dayOf(NOW) + d));
      expect((await store.telemetry({ gateway: 'gw-p', limit: 10 })).map((r) => r.value)).toEqual([6]);
      // The hour of the dropped day is still in the roll-up.
      const hourStart = Math.floor(old / 3_600_000) * 3_600_000;
      const b = await store.telemetryBuckets(
        { gateway: 'gw-p', since: hourStart, until: hourStart + 3_599_999, limit: 5 },
        3_600_000,
      );
      expect(b.map((x) => [x.ts, x.mean, x.count])).toEqual([[hourStart, 3, 2]]);
      // Past the roll-up's retention it goes too.
      expect((await store.maintain(NOW + 25 * DAY_MS)).rollupsDeleted).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('a worker whose partition another worker dropped re-creates it and stores the readings', async () => {
    const url = await freshUrl();
    const a = await PgFleetStore.open(url, NOW, { retention: { rawDays: 7 } });
    const b = await PgFleetStore.open(url, NOW, { retention: { rawDays: 7 } });
    try {
      const old = NOW - 9 * DAY_MS;
      await a.apply([telemetry('gw-r', 1, [{ id: 1, value: 1, ts: old }])], NOW);
      expect((await b.maintain(NOW)).dropped).toEqual([dayOf(old)]);
      // a still believes the partition exists; PostgreSQL says otherwise.
      const [r] = await a.apply([telemetry('gw-r', 2, [{ id: 2, value: 2, ts: old + 1 }])], NOW);
      expect(r).toEqual({ inserted: 1, duplicates: 0, duplicateMessage: false });
      expect((await a.telemetry({ gateway: 'gw-r', limit: 5 })).map((x) => x.value)).toEqual([2]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('plans partitions as a pure function of (existing, now, policy)', () => {
    const today = dayOf(NOW);
    expect(
      planPartitions(new Set([today - 3, today - 2, today]), NOW, {
        rawDays: 2,
        rollupDays: 9,
        aheadDays: 1,
      }),
    ).toEqual({
      create: [today + 1],
      drop: [today - 3],
    });
  });

  it('stores a message once when several workers apply it at the same moment', async () => {
    const url = await freshUrl();
    const workers = await Promise.all([1, 2, 3].map(() => PgFleetStore.open(url, NOW)));
    try {
      const msgs = Array.from({ length: 60 }, (_, i) =>
        telemetry(`gw-${i % 6}`, Math.floor(i / 6) + 1, [
          { id: i * 2 + 1, value: i, ts: NOW + i },
          { id: i * 2 + 2, value: i, ts: NOW + i },
        ]),
      );
      // Every worker gets every message, in different orders and groupings.
      const results = await Promise.all(
        workers.map(async (w, k) => {
          const order = k === 1 ? [...msgs].reverse() : msgs;
          const out = [];
          for (let i = 0; i < order.length; i += 7 + k)
            out.push(...(await w.apply(order.slice(i, i + 7 + k), NOW)));
          return out;
        }),
      );
      const fresh = results.flat().filter((r) => !r.duplicateMessage);
      expect(fresh.length).toBe(60);
      expect(fresh.reduce((s, r) => s + r.inserted, 0)).toBe(120);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      const counts = await c.query<{ readings: string; hourly: string }>(
        'SELECT (SELECT count(*) FROM readings) AS readings, (SELECT sum(count) FROM readings_hourly) AS hourly',
      );
      await c.end();
      expect(counts.rows[0]).toEqual({ readings: '120', hourly: '120' });
      const gws = await workers[0]!.listGateways();
      expect(gws.reduce((s, g) => s + g.readings, 0)).toBe(120);
      expect(gws.reduce((s, g) => s + g.duplicateMessages, 0)).toBe(120);
      expect(gws.every((g) => g.missingMessages === 0)).toBe(true);
    } finally {
      await Promise.all(workers.map((w) => w.close()));
    }
  });
});
