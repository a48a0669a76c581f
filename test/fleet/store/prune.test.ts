import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TelemetryBatch } from '../../../common/contract/index.js';
import { Db } from '../../../common/sqlite.js';
import { SqliteFleetStore, type UplinkMessage } from '../../../fleet/src/store.js';
import { MESSAGE_KEYS_KEPT_MS } from '../../../fleet/src/store-prune.js';
import { tempDir } from '../../helpers.js';

const dir = tempDir();
afterAll(() => dir.cleanup());

const T0 = Date.UTC(2026, 5, 1);
const DAY = 86_400_000;
const msg = (session: number, seq: number, id: number): UplinkMessage =>
  ({
    channel: 'telemetry',
    value: {
      v: 1,
      gateway: 'gw-p',
      epoch: '0123456789abcdef',
      session,
      seq,
      sentAt: T0,
      evicted: { telemetry: 0, events: 0 },
      readings: [{ id, device: 'dev-1', point: 'p', value: id, ts: T0 + id }],
    } satisfies TelemetryBatch,
  }) as UplinkMessage;

describe('fleet.db: message keys of long-silent sessions are dropped', () => {
  it('drops only old sessions’ keys; an old message delivered again still stores nothing twice', async () => {
    const file = join(dir.path, 'f.db');
    const s = await SqliteFleetStore.open(file);
    const old = [1, 2, 3].map((q) => msg(1, q, q));
    await s.apply(old, T0);
    const now = T0 + MESSAGE_KEYS_KEPT_MS + DAY;
    const recent = [1, 2].map((q) => msg(2, q, 10 + q));
    await s.apply(recent, now - DAY);

    const r = await s.compact(now);
    expect(r.messageKeys).toBe(3);
    const db = await Db.open(file);
    expect(await db.all('SELECT session, seq FROM messages ORDER BY session, seq')).toEqual([
      { session: 2, seq: 1 },
      { session: 2, seq: 2 },
    ]);
    await db.close();
    // A recent message again: recognised whole. An old one again: no longer recognised whole, but
    // its reading is a duplicate by its id, so nothing is stored twice.
    expect((await s.apply([recent[0]!], now))[0]).toMatchObject({ duplicateMessage: true });
    expect((await s.apply([old[0]!], now))[0]).toMatchObject({
      duplicateMessage: false,
      inserted: 0,
      duplicates: 1,
    });
    expect((await s.getGateway('gw-p'))?.readings).toBe(5);
    // Nothing left to drop.
    expect((await s.compact(now)).messageKeys).toBe(0);
    await s.close();
  });
});
