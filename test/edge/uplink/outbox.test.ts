import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { FakeClock } from '../../../common/clock.js';
import { Db } from '../../../common/sqlite.js';
import { Outbox, type OutboxBatch } from '../../../edge/src/outbox.js';
import { tempDir, waitFor } from '../../helpers.js';

const readings = (n: number, from = 0, points = 2) =>
  Array.from({ length: n }, (_, i) => ({
    device: 'light-1',
    point: `p${(from + i) % points}`,
    value: from + i,
    ts: 1_000_000 + from + i,
  }));

const alarm = (i: number) => ({
  body: { alarm: 'door-open', key: `door-open:${i}`, severity: 'major', state: 'raised', message: `#${i}` },
  ts: 2_000_000 + i,
});

async function drain(o: Outbox, max = 500, backlog = Infinity): Promise<OutboxBatch[]> {
  const out: OutboxBatch[] = [];
  for (let b = await o.take(max, backlog); b; b = await o.take(max, backlog)) out.push(b);
  return out;
}

describe('outbox', () => {
  const dirs: { cleanup: () => void }[] = [];
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  };
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it('sends alarms, then events, then live telemetry, then the backlog, each in order', async () => {
    const o = await Outbox.open(join(dir(), 'o.db'));
    // Five puts, five blocks of 10: a batch carries whole blocks, up to its size in readings.
    for (let i = 0; i < 50; i += 10) await o.putReadings(readings(10, i));
    await o.put('events', [{ body: { type: 'device-offline', device: 'light-1' }, ts: 5 }]);
    await o.put('cmd/res', [{ body: { tx: 'a1', status: 'ok' }, ts: 6 }]);
    await o.put('alarms', [alarm(1), alarm(2)]);
    await o.beginSession();
    await o.putReadings(readings(5, 1000)); // live, after the session began
    const batches = await drain(o, 20);
    expect(batches.map((b) => [b.channel, b.rows.length, b.backlog])).toEqual([
      ['alarms', 2, false],
      ['events', 1, false],
      ['cmd/res', 1, false],
      ['telemetry', 5, false],
      ['telemetry', 20, true],
      ['telemetry', 20, true],
      ['telemetry', 10, true],
    ]);
    const backlogIds = batches.filter((b) => b.backlog).flatMap((b) => b.rows.map((r) => r.id));
    expect(backlogIds).toEqual([...backlogIds].sort((a, b) => a - b));
    expect((await o.health()).inFlight).toBe(59);
    await o.close();
  });

  it('limits the backlog per take, never live rows, and re-sends everything unconfirmed next session', async () => {
    const o = await Outbox.open(join(dir(), 'o.db'));
    for (let i = 0; i < 30; i += 10) await o.putReadings(readings(10, i)); // three blocks of 10
    await o.beginSession();
    expect(await o.take(500, 0)).toBeUndefined();
    const first = (await o.take(500, 10))!;
    expect(first.rows.length).toBe(10);
    await o.confirm(first);
    await o.beginSession(); // the connection dropped: what was not confirmed goes again
    const again = await drain(o);
    expect(again.flatMap((b) => b.rows.map((r) => r.body.value))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 10),
    );
    expect(await o.depth()).toBe(20);
    await o.close();
  });

  it('keeps a telemetry budget by thinning the oldest readings, counts it, never evicts alarms', async () => {
    const path = join(dir(), 'o.db');
    const o = await Outbox.open(path, { budget: { telemetry: 40_000, total: 60_000 } });
    await o.put(
      'alarms',
      Array.from({ length: 100 }, (_, i) => alarm(i)),
    );
    for (let i = 0; i < 20; i++) await o.putReadings(readings(100, i * 100));
    const h = await o.health();
    expect(h.classes.telemetry.bytes).toBeLessThanOrEqual(40_000);
    expect(h.classes.alarm.depth).toBe(100);
    expect(h.evicted.telemetry).toBeGreaterThan(0);
    expect(h.evicted.telemetry + h.classes.telemetry.depth).toBe(2000);
    await o.beginSession();
    const rows = (await drain(o, 5000)).flatMap((b) => (b.channel === 'telemetry' ? b.rows : []));
    // Downsampled, not truncated: the newest readings are all there, the oldest are thinned out.
    const values = rows.map((r) => r.body.value as number);
    expect(values.slice(-100)).toEqual(Array.from({ length: 100 }, (_, i) => 1900 + i));
    expect(values.some((v) => v < 500)).toBe(true);
    await o.close();
    const again = await Outbox.open(path);
    expect(again.evictedCounts().telemetry).toBe(h.evicted.telemetry); // persisted
    await again.close();
  });

  it('survives a full disk: evicts telemetry for alarms, holds alarms in memory, recovers', async () => {
    const path = join(dir(), 'o.db');
    const clock = new FakeClock();
    const o = await Outbox.open(path, { maxPageCount: 40, clock });
    let refused = 0;
    for (let i = 0; i < 60; i++) await o.putReadings(readings(200, i * 200)).catch(() => refused++);
    let h = await o.health();
    expect(refused).toBe(0); // older telemetry made room
    expect(h.evicted.telemetry).toBeGreaterThan(0);
    // Alarms take the room of telemetry…
    await o.put(
      'alarms',
      Array.from({ length: 200 }, (_, i) => alarm(i)),
    );
    // …and when nothing is left to evict, they wait in memory instead of crashing or vanishing.
    for (let i = 0; i < 30 && (await o.health()).heldInMemory === 0; i++)
      await o.put(
        'alarms',
        Array.from({ length: 100 }, (_, j) => alarm(1000 + i * 100 + j)),
      );
    h = await o.health();
    expect(h.heldInMemory).toBeGreaterThan(0);
    expect(h.diskFull).toBe(true);
    expect(h.classes.telemetry.depth).toBe(0);
    const held = h.heldInMemory;
    const onDisk = h.classes.alarm.depth;
    // Space returns when the broker acknowledges rows: held alarms go to disk, in order.
    await o.beginSession();
    let confirmed = 0;
    while (confirmed < onDisk) {
      const b = (await o.take(Math.min(500, onDisk - confirmed)))!;
      await o.confirm(b);
      confirmed += b.rows.length;
    }
    clock.advance(1000);
    await waitFor('held alarms on disk', async () => (await o.health()).heldInMemory === 0);
    expect((await o.health()).classes.alarm.depth).toBe(held);
    await o.putReadings(readings(10));
    expect((await o.health()).diskFull).toBe(false);
    await o.beginSession();
    const alarms = (await drain(o, 5000)).flatMap((b) => (b.channel === 'alarms' ? b.rows : []));
    const keys = alarms.map((r) => Number(String(r.body.key).split(':')[1]));
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
    await o.close();
    const db = await Db.open(path);
    expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
    await db.close();
  });

  it('rewrites telemetry of an outbox from before wire-form bodies, keeping ids, and ids keep growing', async () => {
    const path = join(dir(), 'old.db');
    const db = await Db.open(path);
    await db.exec(`
      CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
      CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, cls INTEGER NOT NULL, channel TEXT NOT NULL,
        key TEXT, body TEXT NOT NULL, ts INTEGER NOT NULL, bytes INTEGER NOT NULL);
      INSERT INTO outbox (id, cls, channel, key, body, ts, bytes) VALUES
        (7, 2, 'telemetry', 'd.a', '{"device":"d","point":"a","value":1}', 70, 36),
        (9, 2, 'telemetry', 'd.b', '{"device":"d","point":"b","value":2}', 90, 36);
      DELETE FROM outbox WHERE id = 9;
      INSERT INTO outbox (id, cls, channel, key, body, ts, bytes) VALUES
        (8, 2, 'telemetry', 'd.b', '{"device":"d","point":"b","value":2}', 80, 36);`);
    await db.close();
    const o = await Outbox.open(path);
    await o.putReadings([{ device: 'd', point: 'c', value: 3, ts: 100 }]);
    await o.beginSession();
    const [b] = await drain(o);
    expect(JSON.parse(`[${b!.itemsJson}]`)).toEqual([
      { device: 'd', point: 'a', value: 1, id: 7, ts: 70 },
      { device: 'd', point: 'b', value: 2, id: 8, ts: 80 },
      // 9 was used once (AUTOINCREMENT): the next id is 10, never 9 again.
      { device: 'd', point: 'c', value: 3, id: 10, ts: 100 },
    ]);
    expect((await o.health()).classes.telemetry).toMatchObject({ depth: 3, bytes: 3 * (36 + 48) });
    await o.close();
  });

  it('refuses items the fleet would reject, and drops non-finite readings instead of a whole batch', async () => {
    const o = await Outbox.open(join(dir(), 'o.db'));
    await expect(
      o.put('alarms', [
        { body: { alarm: 'x', key: 'x', severity: 'urgent', state: 'raised', message: '' }, ts: 1 },
      ]),
    ).rejects.toThrow(/alarms item is invalid:\n {2}- \[0\] alarms\[0\]\.severity: must be one of/);
    await expect(o.put('cmd/res', [{ body: { tx: 'a', status: 'error' }, ts: 1 }])).rejects.toThrow(
      /error: is required/,
    );
    await o.putReadings([
      { device: 'd', point: 'a', value: Number.NaN, ts: 1 },
      { device: 'd', point: 'b', value: 2, ts: 1 },
      { device: 'd', point: 'c', value: Infinity, ts: 1 },
    ]);
    expect(await o.depth()).toBe(1);
    await o.close();
  });
});
