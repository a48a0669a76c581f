import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import type { TelemetryBatch } from '../../../common/contract/index.js';
import { memoryLogger } from '../../../common/log.js';
import { Db } from '../../../common/sqlite.js';
import { startFleet } from '../../../fleet/src/main.js';
import { SqliteFleetStore, type StoredReading, type UplinkMessage } from '../../../fleet/src/store.js';
import { tempDir, waitFor } from '../../helpers.js';

const dir = tempDir();
afterAll(() => dir.cleanup());

const H = 3_600_000;
const T0 = Date.UTC(2026, 5, 1); // an hour boundary
const EPOCH = '0123456789abcdef';
const SETTLE = 600_000;
let files = 0;

type Reading = TelemetryBatch['readings'][number];
let seq = 0;
const msg = (readings: Reading[], gateway = 'gw-c'): UplinkMessage =>
  ({
    channel: 'telemetry',
    value: {
      v: 1,
      gateway,
      epoch: EPOCH,
      session: 1,
      seq: ++seq,
      sentAt: T0,
      evicted: { telemetry: 0, events: 0 },
      readings,
    },
  }) as UplinkMessage;

/** Live-shaped: every `step` ms a message with each point once (point 5 boolean), from id `id0`. */
function liveDay(from: number, to: number, step: number, id0 = 0): { msgs: UplinkMessage[]; at: number[] } {
  const msgs: UplinkMessage[] = [];
  const at: number[] = [];
  let id = id0;
  for (let t = from; t < to; t += step) {
    const readings: Reading[] = [];
    for (let p = 0; p < 6; p++)
      readings.push({
        id: ++id,
        device: `dev-${p >> 1}`,
        point: `p${p & 1}`,
        value: p === 5 ? (t / step) % 3 === 0 : Math.round(Math.sin(t / 1e6 + p) * 1e6) / 1e3,
        unit: p === 5 ? undefined : 'V',
        ts: t,
      });
    msgs.push(msg(readings));
    at.push(t + 500);
  }
  return { msgs, at };
}

const open = () => SqliteFleetStore.open(join(dir.path, `f${++files}.db`));
const path = () => join(dir.path, `f${files}.db`);

async function applyAll(s: SqliteFleetStore, d: { msgs: UplinkMessage[]; at: number[] }): Promise<void> {
  for (let i = 0; i < d.msgs.length; i += 4)
    await s.apply(d.msgs.slice(i, i + 4), d.at[Math.min(i + 3, d.at.length - 1)]!);
}

/** Every reading through the `readings` view, without `received`. */
async function allReadings(file: string): Promise<unknown[]> {
  const db = await Db.open(file);
  try {
    return await db.all(
      'SELECT gateway, epoch, rid, device, point, value, is_bool, unit, ts FROM readings ORDER BY epoch, rid',
    );
  } finally {
    await db.close();
  }
}

async function blockRows(
  file: string,
): Promise<{ id: number; pt: number; n: number; ts0: number; ts1: number; received: number }[]> {
  const db = await Db.open(file);
  try {
    return await db.all('SELECT id, pt, n, ts0, ts1, received FROM blocks ORDER BY id');
  } finally {
    await db.close();
  }
}

const noReceived = (rs: StoredReading[]) => rs.map(({ receivedAt: _r, ...x }) => x);

async function answers(s: SqliteFleetStore, end: number) {
  const one = { gateway: 'gw-c', device: 'dev-1', point: 'p0' };
  return {
    last50: await s.telemetry({ ...one, limit: 50 }),
    all: await s.telemetry({ ...one, limit: -1 }),
    window: await s.telemetry({ ...one, since: T0 + 1.5 * H, until: T0 + 2.5 * H, limit: 100 }),
    bools: await s.telemetry({ gateway: 'gw-c', device: 'dev-2', point: 'p1', limit: 30 }),
    gateway: await s.telemetry({ gateway: 'gw-c', limit: 200 }),
    gatewayUntil: await s.telemetry({ gateway: 'gw-c', until: T0 + 2 * H, limit: 77 }),
    buckets: await s.telemetryBuckets({ ...one, since: T0, until: end, limit: 1000 }, 300_000),
    allBuckets: await s.telemetryBuckets({ gateway: 'gw-c', since: T0, until: end, limit: 10_000 }, 300_000),
    latest: await s.latest('gw-c', 0),
  };
}

describe('fleet.db block compaction', () => {
  it('merges settled in-hour small blocks, keeps every reading and every query answer', async () => {
    const s = await open();
    const end = T0 + 4 * H;
    const day = liveDay(T0, end, 30_000);
    await applyAll(s, day);
    // A message straddling the 1h boundary of point dev-0.p0: its block stays as it is.
    const straddle = [T0 + H - 1000, T0 + H + 1000].map((ts, i) => ({
      id: 100_000 + i,
      device: 'dev-0',
      point: 'p0',
      value: i,
      unit: 'V',
      ts,
    }));
    await s.apply([msg(straddle)], end);
    const now = end + SETTLE + 1;
    // Unsettled: received less than the settle time before `now`.
    const late = liveDay(end, end + 5 * 60_000, 30_000, 200_000);
    await applyAll(s, { msgs: late.msgs, at: late.msgs.map(() => now - SETTLE + 1) });
    const before = await answers(s, end + H);
    const rowsBefore = await allReadings(path());
    const blocksBefore = await blockRows(path());
    expect(rowsBefore.length).toBe(480 * 6 + 2 + 10 * 6);

    const r = await s.compact(now, { settleMs: SETTLE, perTransaction: 200 });
    expect(r).toMatchObject({ merged: 480 * 6, written: 4 * 6, readings: 480 * 6, done: true });
    expect(r.transactions).toBeGreaterThan(1);
    const after = await answers(s, end + H);
    expect(await allReadings(path())).toEqual(rowsBefore);
    for (const k of Object.keys(before) as (keyof typeof before)[]) {
      const [b, a] = [before[k], after[k]];
      if (k === 'buckets' || k === 'allBuckets') expect(a, k).toEqual(b);
      else {
        expect(noReceived(a as StoredReading[]), k).toEqual(noReceived(b as StoredReading[]));
        (a as StoredReading[]).forEach((x, i) =>
          expect(x.receivedAt).toBeGreaterThanOrEqual((b as StoredReading[])[i]!.receivedAt),
        );
      }
    }
    const blocks = await blockRows(path());
    const kept = (x: { id: number }) => blocks.some((b) => b.id === x.id);
    // The straddling block and the unsettled ones are the same rows as before.
    const straddling = blocksBefore.filter((b) => Math.floor(b.ts0 / H) !== Math.floor(b.ts1 / H));
    expect(straddling).toHaveLength(1);
    expect(straddling.every(kept)).toBe(true);
    const unsettled = blocksBefore.filter((b) => b.received > now - SETTLE);
    expect(unsettled).toHaveLength(60);
    expect(unsettled.every(kept)).toBe(true);
    // Merged: one block per point and hour, 120 readings each, `received` the latest merged.
    const merged = blocks.filter((b) => !blocksBefore.some((x) => x.id === b.id));
    expect(merged.map((b) => b.n)).toEqual(new Array(24).fill(120));
    for (const m of merged) {
      const src = blocksBefore.filter((b) => b.pt === m.pt && b.ts0 >= m.ts0 && b.ts1 <= m.ts1 && !kept(b));
      expect(m.received).toBe(Math.max(...src.map((b) => b.received)));
    }
    // Nothing left to do: a second call merges nothing.
    expect(await s.compact(now, { settleMs: SETTLE })).toMatchObject({ merged: 0, written: 0 });
    await s.close();
  });

  it('leaves an hour that is still filling alone, then merges it once it ended and settled', async () => {
    const s = await open();
    // 40 minutes of the hour T0+H..T0+2H, received as they came.
    const part = liveDay(T0 + H, T0 + H + 40 * 60_000, 60_000);
    await applyAll(s, part);
    const blocks = (await blockRows(path())).length;
    // 20 minutes later everything received is settled, but the hour has not ended: nothing merges.
    expect(await s.compact(T0 + H + 60 * 60_000 - 1, { settleMs: SETTLE })).toMatchObject({ merged: 0 });
    expect(await blockRows(path())).toHaveLength(blocks);
    // The rest of the hour arrives; once the hour ended and settled, it is merged in one go.
    const rest = liveDay(T0 + H + 40 * 60_000, T0 + 2 * H, 60_000, 10_000);
    await applyAll(s, rest);
    const r = await s.compact(T0 + 2 * H + SETTLE, { settleMs: SETTLE });
    expect(r).toMatchObject({ merged: 60 * 6, written: 6, readings: 60 * 6 });
    expect((await blockRows(path())).map((b) => b.n)).toEqual(new Array(6).fill(60));
    await s.close();
  });

  it('dedupes re-sends exactly after compaction, and merges late blocks into the hour', async () => {
    const s = await open();
    const day = liveDay(T0, T0 + 2 * H, 60_000);
    await applyAll(s, day);
    const now = T0 + 2 * H + SETTLE;
    expect((await s.compact(now, { settleMs: SETTLE })).written).toBe(12);
    const before = await allReadings(path());
    // All readings again, split differently (one message), plus two new ones inside the first hour.
    const again = day.msgs.flatMap((m) => (m.value as TelemetryBatch).readings);
    const fresh = [1, 2].map((i) => ({
      id: 50_000 + i,
      device: 'dev-0',
      point: 'p1',
      value: i,
      unit: 'V',
      ts: T0 + i,
    }));
    const [res] = await s.apply([msg([...again.slice(0, 300), ...fresh, ...again.slice(300)])], now);
    expect(res).toMatchObject({ inserted: 2, duplicates: again.length });
    const resent = await allReadings(path());
    expect(resent).toHaveLength(before.length + 2);
    expect(new Set(resent.map((x) => (x as { rid: number }).rid)).size).toBe(resent.length);
    const gw = await s.getGateway('gw-c');
    expect(gw).toMatchObject({ readings: again.length + 2, duplicates: again.length });
    // The two new readings form one late block, merged into dev-0.p1's first-hour block later on.
    const r = await s.compact(now + SETTLE, { settleMs: SETTLE });
    expect(r).toMatchObject({ merged: 2, written: 1, readings: 62 });
    expect(await allReadings(path())).toEqual(resent);
    await s.close();
  });

  it('loses nothing when apply runs while compaction is in progress', async () => {
    const s = await open();
    const old = liveDay(T0, T0 + 3 * H, 60_000);
    await applyAll(s, old);
    const now = T0 + 3 * H + SETTLE;
    const live = liveDay(T0 + 3 * H, T0 + 4 * H, 60_000, 10_000);
    let done = false;
    let appliedMeanwhile = 0;
    const compacting = s.compact(now, { settleMs: SETTLE, perTransaction: 20 }).finally(() => (done = true));
    const applying = (async () => {
      for (let i = 0; i < live.msgs.length; i++) {
        // Each live message together with a re-send of an old one (new seq): new readings stored, old ones counted duplicate.
        const o = old.msgs[i]!.value as TelemetryBatch;
        await s.apply([live.msgs[i]!, msg(o.readings)], now);
        if (!done) appliedMeanwhile++;
      }
    })();
    const [r] = await Promise.all([compacting, applying]);
    expect(r.merged).toBe(180 * 6);
    // The two interleaved: commits of apply went in between compaction's transactions.
    expect(r.transactions).toBeGreaterThan(10);
    expect(appliedMeanwhile).toBeGreaterThan(0);
    const rows = (await allReadings(path())) as { rid: number }[];
    expect(rows.map((x) => x.rid)).toEqual([
      ...Array.from({ length: 180 * 6 }, (_, i) => i + 1),
      ...Array.from({ length: 60 * 6 }, (_, i) => 10_001 + i),
    ]);
    expect(await s.getGateway('gw-c')).toMatchObject({ readings: 240 * 6, duplicates: 60 * 6 });
    await s.close();
  });

  it('stops at the budget and carries on where it stopped', async () => {
    const s = await open();
    await applyAll(s, liveDay(T0, T0 + 3 * H, 60_000));
    let t = 0;
    const first = await s.compact(T0 + 4 * H, {
      settleMs: SETTLE,
      perTransaction: 6,
      budgetMs: 2,
      elapsed: () => t++,
    });
    expect(first.done).toBe(false);
    expect(first.transactions).toBe(2);
    const rest = await s.compact(T0 + 4 * H, { settleMs: SETTLE });
    expect(rest.done).toBe(true);
    expect(first.written + rest.written).toBe(18);
    expect((await blockRows(path())).length).toBe(18);
    await s.close();
  });

  it('keeps where its scan starts in the file: a reopened store scans only newer blocks', async () => {
    let s = await open();
    await applyAll(s, liveDay(T0, T0 + H, 60_000));
    expect((await s.compact(T0 + 2 * H)).written).toBe(6);
    await s.close();
    const db = await Db.open(path());
    const mark = await db.get<{ next: number }>('SELECT next_block AS next FROM compaction');
    const max = await db.get<{ id: number }>('SELECT MAX(id) AS id FROM blocks');
    await db.close();
    // The first block not scanned: the six merged ones are looked at again next time.
    expect(mark?.next).toBe(361);
    expect(max?.id).toBe(366);
    s = await SqliteFleetStore.open(path());
    await applyAll(s, liveDay(T0 + H, T0 + 2 * H, 60_000, 1000));
    expect(await s.compact(T0 + 3 * H)).toMatchObject({ merged: 360, written: 6 });
    expect((await blockRows(path())).length).toBe(12);
    await s.close();
  });

  it('leaves a bucket with an unreadable block as it is, names it, and merges the others', async () => {
    const s = await open();
    await applyAll(s, liveDay(T0, T0 + H, 60_000));
    const db = await Db.open(path());
    const bad = await db.get<{ id: number; pt: number }>(
      'SELECT id, pt FROM blocks ORDER BY id LIMIT 1 OFFSET 100',
    );
    await db.run(`UPDATE blocks SET rid_offsets = '[0,1', n = 2 WHERE id = ?`, [bad!.id]);
    await db.close();
    const clock = new FakeClock(T0 + 2 * H);
    const log = memoryLogger('info');
    s.startCompaction(clock, log, 60_000);
    clock.advance(60_000);
    await waitFor('compaction summary', () => log.lines.find((l) => l.includes('merged into')));
    expect(log.lines.filter((l) => l.includes('WARN'))).toEqual([
      expect.stringContaining(
        `fleet.db compaction: bucket left as it is: point key ${bad!.pt}, hour from 2026-06-01T00:00:00.000Z: block ${bad!.id}: `,
      ),
    ]);
    expect(log.lines.find((l) => l.includes('merged into'))).toMatch(/300 blocks merged into 5 /);
    // The store keeps working: the next tick runs, a new message is stored.
    expect(
      (
        await s.apply([msg([{ id: 9999, device: 'x', point: 'y', value: 1, ts: T0 + 2 * H }])], T0 + 2 * H)
      )[0],
    ).toMatchObject({ inserted: 1 });
    expect((await blockRows(path())).length).toBe(60 + 5 + 1);
    await s.close();
  });

  it('runs on the store timer: one summary line, nothing after close', async () => {
    const s = await open();
    const clock = new FakeClock(T0 + 2 * H);
    const log = memoryLogger('info');
    await applyAll(s, liveDay(T0, T0 + H, 60_000));
    s.startCompaction(clock, log, 300_000);
    clock.advance(299_999);
    expect((await blockRows(path())).length).toBe(360);
    clock.advance(1);
    await waitFor('compaction summary', () => log.lines.find((l) => l.includes('fleet.db compaction:')));
    expect(log.lines.filter((l) => l.includes('compaction'))).toEqual([
      expect.stringMatching(/INFO .*360 blocks merged into 6 \(360 readings, 1 transactions\)$/),
    ]);
    expect((await blockRows(path())).length).toBe(6);
    await s.close();
    clock.advance(3_000_000);
    expect(log.lines.filter((l) => /WARN|ERROR/.test(l))).toEqual([]);
  });

  it('the fleet compacts its SQLite store periodically', async () => {
    const clock = new FakeClock(T0 + 2 * H);
    const data = tempDir();
    const fleet = await startFleet({
      dataDir: data.path,
      httpPort: 0,
      mqttPort: 0,
      security: 'open',
      clock,
      log: memoryLogger('warn'),
    });
    try {
      await applyAll(fleet.store as SqliteFleetStore, liveDay(T0, T0 + H, 300_000));
      const file = join(data.path, 'fleet.db');
      expect((await blockRows(file)).length).toBe(72);
      clock.advance(300_000);
      await waitFor('blocks merged by the fleet', async () => (await blockRows(file)).length === 6);
    } finally {
      await fleet.stop();
      data.cleanup();
    }
  });
});
