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
    await o.putReadings(readings(25));
    await o.beginSession(); // those 25 are backlog now
    await o.put('alarms', [
      {
        body: { alarm: 'door-open', key: 'door', severity: 'major', state: 'raised', message: 'open' },
        ts: 5,
      },
    ]);
    await o.putReadings(readings(7, 100)); // live

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
    // 25 backlog rows, 10 a batch, but an allowance of 22 rows: 10 + 10 + 2.
    const back = await o.takeMany(10, 4, 22);
    expect(back.map((b) => [b.count, b.backlog])).toEqual([
      [10, true],
      [10, true],
      [2, true],
    ]);
    const values = back.flatMap((b) => b.rows.map((r) => r.body.value as number));
    expect(values).toEqual(Array.from({ length: 22 }, (_, i) => i));
    // Each batch is every row of its class in [first, last], and they follow one another.
    for (const [i, b] of back.entries()) {
      expect(b.rows.map((r) => r.id)).toEqual(Array.from({ length: b.count }, (_, j) => b.first + j));
      if (i > 0) expect(b.first).toBe(back[i - 1]!.last + 1);
    }
    const rest = await o.takeMany(10, 4);
    expect(rest.map((b) => b.count)).toEqual([3]);
    expect(await o.takeMany(10, 4)).toEqual([]);
    for (const b of [...alarm, ...live, ...back, ...rest]) await o.confirm(b);
    expect(await o.depth()).toBe(0);
    await o.close();
  });
});
