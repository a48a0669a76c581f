import { expect, it } from 'vitest';
import type { TelemetryBatch } from '../../../common/contract/index.js';
import type { FleetStore, UplinkMessage } from '../../../fleet/src/store.js';
import { telemetry } from './suite.js';

const T0 = Date.UTC(2026, 11, 1, 8);

interface R {
  id: number;
  value: number | boolean;
  ts: number;
  point?: string;
}

/** Readings `from`..`to` (ids), alternating over points a and b, value = id, one second apart. */
const span = (from: number, to: number): R[] =>
  Array.from({ length: to - from + 1 }, (_, i) => {
    const id = from + i;
    return { id, value: id, ts: T0 + id * 1000, point: id % 2 ? 'a' : 'b' };
  });

/** A deterministic pseudo-random sequence (LCG), so a failure reproduces. */
function random(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

const ids = (rows: { value: number | boolean }[]) => rows.map((r) => r.value);

/**
 * How readings are split into messages must not matter: re-sends split differently, live readings
 * before older backlog, both value types of one point, newest-first queries over many blocks.
 * Registered inside the FleetStore contract suite; `store()` is its open store.
 */
export function readingCases(store: () => FleetStore): void {
  it('stores re-sent readings once when a re-send splits them differently into messages', async () => {
    const s = store();
    const gw = 'gw-split';
    expect(await s.apply([telemetry(gw, 1, span(1, 10)), telemetry(gw, 2, span(11, 20))], T0)).toEqual([
      { inserted: 10, duplicates: 0, duplicateMessage: false },
      { inserted: 10, duplicates: 0, duplicateMessage: false },
    ]);
    // After a reconnect: other messages, other boundaries, the same reading ids.
    expect(await s.apply([telemetry(gw, 3, span(5, 14))], T0 + 1)).toEqual([
      { inserted: 0, duplicates: 10, duplicateMessage: false },
    ]);
    const withTwice = [...span(26, 27), ...span(27, 27)];
    expect(
      await s.apply(
        [
          telemetry(gw, 4, span(15, 25)),
          telemetry(gw, 5, [...span(1, 4), ...span(21, 21)]),
          telemetry(gw, 6, withTwice),
        ],
        T0 + 2,
      ),
    ).toEqual([
      { inserted: 5, duplicates: 6, duplicateMessage: false },
      { inserted: 0, duplicates: 5, duplicateMessage: false },
      { inserted: 2, duplicates: 1, duplicateMessage: false },
    ]);
    expect(await s.getGateway(gw)).toMatchObject({ readings: 27, duplicates: 22 });
    const all = await s.telemetry({ gateway: gw, limit: 100 });
    expect(ids(all)).toEqual(Array.from({ length: 27 }, (_, i) => 27 - i));
    // The first copy's receive time stays.
    expect(all.find((r) => r.value === 5)?.receivedAt).toBe(T0);
    expect(all.find((r) => r.value === 23)?.receivedAt).toBe(T0 + 2);
  });

  it('stores live readings that arrive before the older backlog, and the backlog re-sent', async () => {
    const s = store();
    const gw = 'gw-live';
    const live = (seq: number, from: number) => telemetry(gw, seq, span(from, from + 4), { session: 2 });
    await s.apply([live(1, 1001), live(2, 1006)], T0);
    // The backlog, older ids, drains while live messages keep coming.
    const backlog: UplinkMessage[] = [];
    for (let i = 0; i < 5; i++) backlog.push(telemetry(gw, 10 + i, span(1 + i * 100, 100 + i * 100)));
    const r1 = await s.apply([backlog[0]!, backlog[1]!, live(3, 1011)], T0 + 1);
    const r2 = await s.apply([backlog[2]!, backlog[3]!, backlog[4]!], T0 + 2);
    expect([...r1, ...r2].map((r) => r.inserted)).toEqual([100, 100, 5, 100, 100, 100]);
    // The gateway restarted before the acks arrived: part of the backlog again, split in two.
    const again = await s.apply(
      [
        telemetry(gw, 1, span(150, 260), { session: 3 }),
        telemetry(gw, 2, [...span(480, 500), ...span(1001, 1010), ...span(501, 502)], { session: 3 }),
      ],
      T0 + 3,
    );
    expect(again.map((r) => [r.inserted, r.duplicates])).toEqual([
      [0, 111],
      [2, 31],
    ]);
    expect(await s.getGateway(gw)).toMatchObject({ readings: 517, duplicates: 142 });
    const newest = await s.telemetry({ gateway: gw, limit: 3 });
    expect(ids(newest)).toEqual([1015, 1014, 1013]);
    const oldest = await s.telemetry({ gateway: gw, until: T0 + 3000, limit: 10 });
    expect(ids(oldest)).toEqual([3, 2, 1]);
  });

  it('keeps numbers and booleans of one point apart in one message', async () => {
    const s = store();
    const gw = 'gw-mixed';
    const m = telemetry(gw, 1, [
      { id: 1, value: true, ts: T0 + 1 },
      { id: 2, value: 3.5, ts: T0 + 2 },
      { id: 3, value: false, ts: T0 + 3 },
      { id: 4, value: 7, ts: T0 + 4 },
    ]);
    // The same point key for both types: one unit on all four.
    for (const r of (m.value as TelemetryBatch).readings) r.unit = 'state';
    expect(await s.apply([m], T0)).toEqual([{ inserted: 4, duplicates: 0, duplicateMessage: false }]);
    const rows = await s.telemetry({ gateway: gw, point: 'power', limit: 10 });
    expect(rows.map((r) => [r.value, r.unit])).toEqual([
      [7, 'state'],
      [false, 'state'],
      [3.5, 'state'],
      [true, 'state'],
    ]);
    expect((await s.latest(gw, T0)).map((r) => r.value)).toEqual([7]);
  });

  it('answers newest-first queries over many overlapping blocks like one sorted list', async () => {
    const s = store();
    const gw = 'gw-many';
    const next = random(7);
    const all: (R & { point: string })[] = [];
    const messages: UplinkMessage[] = [];
    for (let seq = 1, id = 1; seq <= 40; seq++) {
      const rs: (R & { point: string })[] = [];
      for (let j = 0; j < 30; j++, id++)
        // 600 distinct timestamps for 1200 readings: ties broken by reading id.
        rs.push({ id, value: id, ts: T0 + Math.floor(next() * 600) * 100, point: `p${id % 3}` });
      all.push(...rs);
      messages.push(telemetry(gw, seq, rs));
    }
    for (let i = 0; i < messages.length; i += 8) await s.apply(messages.slice(i, i + 8), T0);
    const expected = (f: (r: R & { point: string }) => boolean, limit: number) =>
      all
        .filter(f)
        .sort((a, b) => b.ts - a.ts || b.id - a.id)
        .slice(0, limit)
        .map((r) => r.id);
    for (const limit of [1, 7, 50, 2000])
      expect(ids(await s.telemetry({ gateway: gw, limit }))).toEqual(expected(() => true, limit));
    expect(ids(await s.telemetry({ gateway: gw, point: 'p1', limit: 20 }))).toEqual(
      expected((r) => r.point === 'p1', 20),
    );
    const since = T0 + 20_000;
    const until = T0 + 30_000;
    expect(ids(await s.telemetry({ gateway: gw, since, until, limit: 15 }))).toEqual(
      expected((r) => r.ts >= since && r.ts <= until, 15),
    );
    const buckets = await s.telemetryBuckets({ gateway: gw, point: 'p2', limit: 3 }, 10_000);
    const inBucket = (t: number) => all.filter((r) => r.point === 'p2' && r.ts - (r.ts % 10_000) === t);
    const newestBucket = Math.max(...all.map((r) => r.ts - (r.ts % 10_000)));
    expect(buckets.map((b) => b.ts)).toEqual([0, 1, 2].map((i) => newestBucket - i * 10_000));
    for (const b of buckets) {
      const rs = inBucket(b.ts).map((r) => r.value as number);
      expect([b.count, b.min, b.max, b.mean]).toEqual([
        rs.length,
        Math.min(...rs),
        Math.max(...rs),
        rs.reduce((x, y) => x + y, 0) / rs.length,
      ]);
    }
    // One timestamp for all, messages stored highest ids first: only reading ids order them.
    const tied: UplinkMessage[] = [];
    for (let seq = 1; seq <= 30; seq++)
      tied.push(
        telemetry(
          'gw-tied',
          seq,
          Array.from({ length: 10 }, (_, j) => ({
            id: 1000 - seq * 10 + j,
            value: 1000 - seq * 10 + j,
            ts: T0,
          })),
        ),
      );
    await s.apply(tied, T0);
    expect(ids(await s.telemetry({ gateway: 'gw-tied', limit: 5 }))).toEqual([999, 998, 997, 996, 995]);
    const latest = await s.latest(gw, 0);
    expect(latest.map((r) => [r.point, r.value])).toEqual(
      ['p0', 'p1', 'p2'].map((p) => [p, expected((r) => r.point === p, 1)[0]]),
    );
  });
}
