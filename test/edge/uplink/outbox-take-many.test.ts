import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Outbox } from '../../../edge/src/outbox.js';
import { tempDir } from '../../helpers.js';

const readings = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => ({ device: 'd', point: 'p', value: from + i, ts: 1000 + from + i }));

describe('outbox takeMany', () => {
  const dirs: { cleanup: () => void }[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it('hands out several batches of one stream at once, in order, within the backlog allowance', async () => {
    const d = tempDir();
    dirs.push(d);
    const o = await Outbox.open(join(d.path, 'o.db'));
    for (let i = 0; i < 25; i += 5) await o.putReadings(readings(5, i)); // five blocks of 5
    await o.beginSession(); // those 25 are backlog now
    await o.put('alarms', [
      {
        body: { alarm: 'door-open', key: 'door', severity: 'major', state: 'raised', message: 'open' },
        ts: 5,
      },
    ]);
    for (const [from, n] of [
      [100, 3],
      [103, 3],
      [106, 1],
    ] as const)
      await o.putReadings(readings(n, from)); // live

    // The alarm comes alone, then live telemetry (several batches), then the backlog.
    const alarm = await o.takeMany(10, 4);
    expect(alarm.map((b) => b.channel)).toEqual(['alarms']);
    const live = await o.takeMany(3, 4);
    expect(live.map((b) => b.rows.map((r) => r.body.value))).toEqual([
      [100, 101, 102],
      [103, 104, 105],
      [106],
    ]);
    expect(live.every((b) => !b.backlog)).toBe(true);
    // 25 backlog readings in blocks of 5, 10 a batch, but an allowance of 22 readings: 10 + 10
    // (a third block would overrun it).
    const back = await o.takeMany(10, 4, 22);
    expect(back.map((b) => [b.count, b.backlog])).toEqual([
      [10, true],
      [10, true],
    ]);
    const values = back.flatMap((b) => b.rows.map((r) => r.body.value as number));
    expect(values).toEqual(Array.from({ length: 20 }, (_, i) => i));
    // Reading ids follow put order without a gap; batches are row id ranges that follow one another.
    expect(back.flatMap((b) => b.rows.map((r) => r.id))).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    for (const [i, b] of back.entries()) {
      expect(b.rows.every((r) => r.id <= b.last && (i === 0 || r.id > back[i - 1]!.last))).toBe(true);
      if (i > 0) expect(b.first).toBeGreaterThan(back[i - 1]!.last);
    }
    const rest = await o.takeMany(10, 4);
    expect(rest.map((b) => b.count)).toEqual([5]);
    expect(await o.takeMany(10, 4)).toEqual([]);
    for (const b of [...alarm, ...live, ...back, ...rest]) await o.confirm(b);
    expect(await o.depth()).toBe(0);
    await o.close();
  });
});
