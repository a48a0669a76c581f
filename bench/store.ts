/**
 * npm run bench:store — the fleet's SQLite store (`fleet.db`) as the dashboard and API read it.
 * One gateway, 40 points, one reading each every 10 s for a day (345,600 readings) arriving as a
 * live gateway sends them: one poll cycle (each point once) per message, 4 messages a commit, so
 * every block holds one reading. Each query is timed (best of 5) on the file as ingested (the
 * baseline) and again after compaction merged the day into hour blocks (ours): what compaction buys.
 * Also: live-shaped ingest rate, compaction time and file pages in use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Db } from '../common/sqlite.js';
import { SqliteFleetStore, type UplinkMessage } from '../fleet/src/store.js';
import { printTable, type Row } from './table.js';

const POINTS = 40;
const STEP = 10_000;
const DAY = 86_400_000;
const T0 = Date.UTC(2026, 5, 1);
const GW = 'gw-bench';
const work = mkdtempSync(join(tmpdir(), 'citygate-bench-store-'));
const file = join(work, 'fleet.db');

function liveDay(): UplinkMessage[] {
  const msgs: UplinkMessage[] = [];
  let id = 0;
  let seq = 0;
  for (let t = T0; t < T0 + DAY; t += STEP) {
    const readings = Array.from({ length: POINTS }, (_, p) => ({
      id: ++id,
      device: `dev-${p >> 2}`,
      point: `p${p & 3}`,
      value: Math.round(Math.sin(t / 1e6 + p) * 1e6) / 1e3,
      unit: 'V',
      ts: t,
    }));
    msgs.push({
      channel: 'telemetry',
      value: {
        v: 1,
        gateway: GW,
        epoch: '0123456789abcdef',
        session: 1,
        seq: ++seq,
        sentAt: t,
        evicted: { telemetry: 0, events: 0 },
        readings,
      },
    } as UplinkMessage);
  }
  return msgs;
}

const queries: [string, (s: SqliteFleetStore) => Promise<unknown[]>][] = [
  ['one point, newest 1,000', (s) => s.telemetry({ gateway: GW, device: 'dev-3', point: 'p1', limit: 1000 })],
  [
    'one point, a whole day',
    (s) =>
      s.telemetry({ gateway: GW, device: 'dev-3', point: 'p1', since: T0, until: T0 + DAY, limit: 10_000 }),
  ],
  ['gateway, newest 500', (s) => s.telemetry({ gateway: GW, limit: 500 })],
  [
    'one point, day in 5-min buckets',
    (s) =>
      s.telemetryBuckets(
        { gateway: GW, device: 'dev-3', point: 'p1', since: T0, until: T0 + DAY, limit: 1000 },
        300_000,
      ),
  ],
  [
    '40 points, day in 5-min buckets',
    (s) => s.telemetryBuckets({ gateway: GW, since: T0, until: T0 + DAY, limit: 20_000 }, 300_000),
  ],
  ['latest per point', (s) => s.latest(GW, 0)],
];

async function timeQueries(s: SqliteFleetStore): Promise<Map<string, { ms: number; rows: number }>> {
  const out = new Map<string, { ms: number; rows: number }>();
  for (const [name, q] of queries) {
    let ms = Infinity;
    let rows = 0;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      rows = (await q(s)).length;
      ms = Math.min(ms, performance.now() - t0);
    }
    out.set(name, { ms, rows });
  }
  return out;
}

async function pagesInUse(): Promise<number> {
  const db = await Db.open(file);
  const r = await db.get<{ n: number; f: number }>(
    'SELECT (SELECT page_count FROM pragma_page_count) AS n, (SELECT freelist_count FROM pragma_freelist_count) AS f',
  );
  await db.close();
  return r!.n - r!.f;
}

try {
  const msgs = liveDay();
  const readings = msgs.length * POINTS;
  const s = await SqliteFleetStore.open(file);
  let t0 = performance.now();
  for (let i = 0; i < msgs.length; i += 4) await s.apply(msgs.slice(i, i + 4), T0 + DAY);
  const ingestS = (performance.now() - t0) / 1000;
  const before = await timeQueries(s);
  const pagesBefore = await pagesInUse();
  t0 = performance.now();
  let r;
  do r = await s.compact(T0 + 2 * DAY);
  while (!r.done);
  const compactS = (performance.now() - t0) / 1000;
  const after = await timeQueries(s);
  const pagesAfter = await pagesInUse();
  await s.close();
  const rows: Row[] = queries.map(([name]) => {
    const [a, b] = [after.get(name)!, before.get(name)!];
    if (a.rows !== b.rows) throw new Error(`${name}: ${a.rows} rows after compaction, ${b.rows} before`);
    return { metric: `${name} (${a.rows} rows)`, ours: a.ms, baseline: b.ms, unit: 'ms', better: 'lower' };
  });
  rows.push({
    metric: 'file pages in use',
    ours: pagesAfter,
    baseline: pagesBefore,
    unit: 'pages',
    better: 'lower',
  });
  printTable(
    `fleet.db reads, after compaction (ours) vs as ingested (baseline): ${readings.toLocaleString('en')} readings, ` +
      `ingested live-shaped at ${Math.round(readings / ingestS).toLocaleString('en')} readings/s, ` +
      `compacted in ${compactS.toFixed(1)} s`,
    rows,
  );
} finally {
  rmSync(work, { recursive: true, force: true });
}
