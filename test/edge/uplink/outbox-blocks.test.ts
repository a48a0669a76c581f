import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Db } from '../../../common/sqlite.js';
import { BLOCK, packBatches, thinWindow, toBlocks } from '../../../edge/src/outbox-blocks.js';
import { Outbox, type OutboxBatch } from '../../../edge/src/outbox.js';
import { tempDir } from '../../helpers.js';

const readings = (n: number, from = 0, points = 4) =>
  Array.from({ length: n }, (_, i) => ({
    device: 'meter-1',
    point: `p${(from + i) % points}`,
    value: from + i,
    ts: 1_000_000 + from + i,
  }));

/** What the file holds: rows, readings (SUM(n)) and body bytes of the telemetry class. */
async function stored(path: string): Promise<{ rows: number; readings: number; bytes: number }> {
  const db = await Db.open(path);
  try {
    const r = await db.get<{ rows: number; readings: number | null; bytes: number | null }>(
      'SELECT COUNT(*) AS rows, SUM(n) AS readings, SUM(bytes) AS bytes FROM outbox WHERE cls = 2',
    );
    return { rows: r!.rows, readings: r!.readings ?? 0, bytes: r!.bytes ?? 0 };
  } finally {
    await db.close();
  }
}

const ids = (batches: readonly OutboxBatch[]) => batches.flatMap((b) => b.rows.map((r) => r.id));

describe('outbox telemetry blocks', () => {
  const dirs: { cleanup: () => void }[] = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  };
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it('commits telemetry puts that wait for the queue together: one transaction, put order kept', async () => {
    const path = join(dir(), 'o.db');
    const o = await Outbox.open(path);
    // 20 device polls of 3 readings land in the same moment (and 2 more after an event put).
    const puts = Array.from({ length: 20 }, (_, i) => o.putReadings(readings(3, i * 3)));
    const event = o.put('events', [{ body: { type: 'door', open: true }, ts: 5 }]);
    const later = [o.putReadings(readings(3, 60)), o.putReadings(readings(3, 63))];
    await Promise.all([...puts, event, ...later]);
    // 66 readings in one group: one row (a block holds up to BLOCK), not 22 rows from 22 commits.
    expect(await stored(path)).toMatchObject({ rows: 1, readings: 66 });
    await o.beginSession();
    const batches: OutboxBatch[] = [];
    for (let b = await o.takeMany(500, 4); b.length; b = await o.takeMany(500, 4)) batches.push(...b);
    expect(batches.filter((b) => b.channel === 'events')).toHaveLength(1);
    const tele = batches.filter((b) => b.channel === 'telemetry');
    expect(tele.flatMap((b) => b.rows.map((r) => r.body.value))).toEqual(
      Array.from({ length: 66 }, (_, i) => i),
    );
    await o.close();
  });

  it('stores a put as blocks, takes whole blocks up to the batch size, confirms them away', async () => {
    const path = join(dir(), 'o.db');
    const o = await Outbox.open(path);
    await o.putReadings(readings(1000));
    expect(await stored(path)).toMatchObject({ rows: Math.ceil(1000 / BLOCK), readings: 1000 });
    expect(await o.depth()).toBe(1000);
    await o.beginSession();
    const batchSize = 250;
    const batches: OutboxBatch[] = [];
    for (let b = await o.takeMany(batchSize, 3); b.length; b = await o.takeMany(batchSize, 3))
      batches.push(...b);
    expect(batches.every((b) => b.count <= batchSize && b.count === b.rows.length)).toBe(true);
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(1000);
    // Unique, ascending in put order, and the readings in put order.
    expect(ids(batches)).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    expect(batches.flatMap((b) => b.rows.map((r) => r.body.value))).toEqual(
      Array.from({ length: 1000 }, (_, i) => i),
    );
    expect((await o.health()).inFlight).toBe(1000);
    for (const b of batches) await o.confirm(b);
    expect(await o.depth()).toBe(0);
    expect(await stored(path)).toMatchObject({ rows: 0, readings: 0 });
    expect((await o.health()).inFlight).toBe(0);
    await o.close();
  });

  it('sends a block larger than the batch size alone, and counts readings in depth and health', async () => {
    const path = join(dir(), 'o.db');
    const o = await Outbox.open(path);
    await o.putReadings(readings(250)); // blocks of 100, 100, 50
    await o.putReadings(readings(3, 250));
    const h = await o.health();
    expect(await o.depth()).toBe(253);
    expect(h.classes.telemetry.depth).toBe(253);
    const file = await stored(path);
    expect(file).toMatchObject({ rows: 4, readings: 253 });
    expect(h.classes.telemetry.bytes).toBe(file.bytes + 253 * 48); // per reading, as before blocks
    await o.beginSession();
    const counts: number[] = [];
    for (let b = await o.take(40); b; b = await o.take(40)) counts.push(b.count);
    expect(counts).toEqual([100, 100, 50, 3]);
    expect((await o.health()).inFlight).toBe(253);
    await o.close();
  });

  it('packs many small blocks (puts of one reading) into full batches', async () => {
    const o = await Outbox.open(join(dir(), 'o.db'));
    for (let i = 0; i < 60; i++) await o.putReadings(readings(1, i));
    await o.beginSession();
    const batches = await o.takeMany(20, 3);
    expect(batches.map((b) => b.count)).toEqual([20, 20, 20]);
    expect(ids(batches)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await o.takeMany(20, 3)).toEqual([]);
    await o.close();
  });

  it('upgrades a per-reading outbox: its ids are kept, new ids come after every id ever used', async () => {
    const path = join(dir(), 'old.db');
    const db = await Db.open(path);
    // The schema and wire-form rows of an outbox from before blocks (format 2, no `n`).
    await db.exec(`
      CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      INSERT INTO meta (k, v) VALUES ('format', '2'), ('epoch', '00112233aabbccdd');
      CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, cls INTEGER NOT NULL, channel TEXT NOT NULL,
        key TEXT, body TEXT NOT NULL, ts INTEGER NOT NULL, bytes INTEGER NOT NULL);
      INSERT INTO outbox (id, cls, channel, key, body, ts, bytes) VALUES
        (40, 2, 'telemetry', 'd.a', '{"device":"d","point":"a","value":1,"id":40,"ts":400}', 400, 36),
        (41, 2, 'telemetry', 'd.b', '{"device":"d","point":"b","value":2,"id":41,"ts":410}', 410, 36),
        (42, 0, 'alarms', NULL, '{"alarm":"x","key":"x","severity":"major","state":"raised","message":""}', 420, 70),
        (43, 2, 'telemetry', 'd.a', '{"device":"d","point":"a","value":3,"id":43,"ts":430}', 430, 36);
      UPDATE sqlite_sequence SET seq = 57 WHERE name = 'outbox';`);
    await db.close();
    const o = await Outbox.open(path);
    expect(o.epoch).toBe('00112233aabbccdd');
    expect(await o.depth()).toBe(4);
    await o.putReadings(readings(150, 0, 2));
    expect(await o.depth()).toBe(154);
    await o.beginSession();
    const batches: OutboxBatch[] = [];
    for (let b = await o.take(500); b; b = await o.take(500)) batches.push(b);
    const tele = batches.filter((b) => b.channel === 'telemetry');
    const got = ids(tele);
    expect(got.slice(0, 3)).toEqual([40, 41, 43]);
    // 57 was used once (sqlite_sequence): new readings start above it.
    expect(got.slice(3)).toEqual(Array.from({ length: 150 }, (_, i) => 58 + i));
    expect(batches.find((b) => b.channel === 'alarms')!.rows.map((r) => r.id)).toEqual([42]);
    for (const b of batches) await o.confirm(b);
    await o.putReadings(readings(1));
    await o.close();
    const again = await Db.open(path);
    expect(await again.get(`SELECT v FROM meta WHERE k = 'format'`)).toEqual({ v: '3' });
    expect(await again.all('SELECT id, n FROM outbox')).toEqual([{ id: 208, n: 1 }]);
    await again.close();
  });

  it('thins a window of blocks to every other reading of each point, counting readings exactly', () => {
    const { rows } = toBlocks(
      readings(200).map((r) => ({ body: { device: r.device, point: r.point, value: r.value }, ts: r.ts })),
      0,
    );
    expect(rows.map((r) => [r.id, r.n])).toEqual([
      [100, 100],
      [200, 100],
    ]);
    const t = thinWindow(rows, 100);
    expect(t.deletes).toEqual([]);
    expect(t.readings).toBe(100);
    const kept = t.updates.flatMap((u) => JSON.parse(`[${u.body}]`) as { point: string; value: number }[]);
    // Per point p: its readings are p, p+4, p+8, …; every other one stays: p, p+8, p+16, …
    for (let p = 0; p < 4; p++)
      expect(kept.filter((k) => k.point === `p${p}`).map((k) => k.value)).toEqual(
        Array.from({ length: 25 }, (_, i) => p + 8 * i),
      );
    expect(t.updates.map((u) => [u.id, u.n, u.ts])).toEqual([
      [100, 52, 1_000_000], // 0, 8, …, 96 of p0 and likewise for p1..p3: 13 each
      [200, 48, 1_000_104], // 104 is the first reading kept after 99
    ]);
    const bodyBytes = (v: number) =>
      JSON.stringify({ device: 'meter-1', point: `p${v % 4}`, value: v }).length;
    expect(t.updates.map((u) => u.bytes)).toEqual([
      kept.slice(0, 52).reduce((s, k) => s + bodyBytes(k.value), 0),
      kept.slice(52).reduce((s, k) => s + bodyBytes(k.value), 0),
    ]);
    expect(t.bytes).toBe(rows[0]!.bytes + rows[1]!.bytes - t.updates[0]!.bytes - t.updates[1]!.bytes);
    // Each point once in the window: nothing to thin, so the oldest blocks go whole.
    const once = toBlocks(
      readings(6, 0, 6).map((r) => ({
        body: { device: r.device, point: r.point, value: r.value },
        ts: r.ts,
      })),
      0,
      2,
    ).rows;
    expect(thinWindow(once, 3)).toMatchObject({ updates: [], deletes: [2, 4], readings: 4 });
    // Readings without a device and point are series of their own: never thinned, dropped whole.
    const anon = toBlocks(
      [1, 2, 3, 4].map((v) => ({ body: { value: v }, ts: v })),
      0,
      2,
    ).rows;
    expect(thinWindow(anon, 1)).toMatchObject({ updates: [], deletes: [2], readings: 2 });
  });

  it('packs whole blocks: at most the batch size (a larger block alone), within the allowance', () => {
    const rows = [3, 3, 5, 1, 12, 2, 2].map((n, i) => ({ id: (i + 1) * 100, n }));
    expect(packBatches(rows, 6, 10, Infinity).map((s) => [s.first, s.last, s.n])).toEqual([
      [100, 200, 6],
      [300, 400, 6],
      [500, 500, 12],
      [600, 700, 4],
    ]);
    expect(packBatches(rows, 6, 2, Infinity).map((s) => s.n)).toEqual([6, 6]);
    expect(packBatches(rows, 6, 10, 10).map((s) => s.n)).toEqual([6]); // the 5 would overrun 10
    expect(packBatches(rows.slice(4), 6, 10, 3).map((s) => s.n)).toEqual([12]); // first block always
  });

  it('keeps a budget by thinning blocks in the file: evicted + left = put, bytes match the rows', async () => {
    const path = join(dir(), 'o.db');
    const o = await Outbox.open(path, { budget: { telemetry: 60_000 } });
    for (let i = 0; i < 30; i++) await o.putReadings(readings(100, i * 100));
    const h = await o.health();
    const file = await stored(path);
    expect(h.evicted.telemetry).toBeGreaterThan(0);
    expect(h.classes.telemetry.depth).toBe(file.readings);
    expect(h.evicted.telemetry + file.readings).toBe(3000);
    expect(h.classes.telemetry.bytes).toBe(file.bytes + file.readings * 48);
    expect(h.classes.telemetry.bytes).toBeLessThanOrEqual(60_000);
    await o.beginSession();
    const batches: OutboxBatch[] = [];
    for (let b = await o.take(500); b; b = await o.take(500)) batches.push(b);
    const got = ids(batches);
    expect(got).toEqual([...new Set(got)].sort((a, b) => a - b)); // unique, ascending
    const values = batches.flatMap((b) => b.rows.map((r) => r.body.value as number));
    // Downsampled from the oldest end: the newest put is whole, the oldest is thinned.
    expect(values.slice(-100)).toEqual(Array.from({ length: 100 }, (_, i) => 2900 + i));
    expect(values.filter((v) => v < 100).length).toBeLessThan(100);
    await o.close();
  });
});
