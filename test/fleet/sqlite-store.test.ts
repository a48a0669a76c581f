import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { PROTOCOL_VERSION, type Reading, type TelemetryBatch } from '../../common/contract/index.js';
import { migrateSqlite } from '../../fleet/src/store-migrations.js';
import { Db } from '../../common/sqlite.js';
import { SqliteFleetStore, STORE_MIGRATIONS, type UplinkMessage } from '../../fleet/src/store.js';
import { tempDir } from '../helpers.js';

const telemetry = (seq: number, readings: Partial<Reading>[], gateway = 'gw-s'): UplinkMessage => ({
  channel: 'telemetry',
  value: {
    v: PROTOCOL_VERSION,
    gateway,
    epoch: 'e1',
    session: 1,
    seq,
    sentAt: 1000,
    readings: readings.map((r, i) => ({
      id: seq * 100 + i,
      device: 'pump-1',
      point: 'flow',
      value: 1,
      unit: 'l/s',
      ts: 5000 + seq * 100 + i,
      ...r,
    })) as TelemetryBatch['readings'],
  },
});

describe('SQLite fleet store (integer keys, group apply)', () => {
  const dirs: { cleanup: () => void }[] = [];
  const open = async () => {
    const d = tempDir();
    dirs.push(d);
    const path = join(d.path, 'fleet.db');
    return { path, store: await SqliteFleetStore.open(path) };
  };
  afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

  it('stores a group once: a message repeated in the group and a re-sent reading count as duplicates', async () => {
    const { store } = await open();
    const m1 = telemetry(1, [{ value: 1 }, { value: 2, point: 'level', unit: 'm' }]);
    const m2 = telemetry(2, [{ value: true, point: 'running', unit: undefined }]);
    // m3 re-sends m1's first reading (same id) in a new message.
    const m3 = {
      ...telemetry(3, []),
      value: { ...telemetry(3, []).value, readings: [(m1.value as TelemetryBatch).readings[0]!] },
    };
    const r = await store.apply([m1, m2, m1, m3] as UplinkMessage[], 9000);
    expect(r).toEqual([
      { inserted: 2, duplicates: 0, duplicateMessage: false },
      { inserted: 1, duplicates: 0, duplicateMessage: false },
      { inserted: 0, duplicates: 0, duplicateMessage: true },
      { inserted: 0, duplicates: 1, duplicateMessage: false },
    ]);
    const g = await store.getGateway('gw-s');
    expect(g).toMatchObject({ readings: 3, duplicates: 1, duplicateMessages: 1, missingMessages: 0 });
    const rows = await store.telemetry({ gateway: 'gw-s', limit: 10 });
    expect(rows.map((x) => [x.point, x.value, x.unit])).toEqual([
      ['running', true, null],
      ['level', 2, 'm'],
      ['flow', 1, 'l/s'],
    ]);
    expect(
      await store.telemetry({ gateway: 'gw-s', device: 'pump-1', point: 'level', limit: 10 }),
    ).toHaveLength(1);
    expect(await store.telemetry({ gateway: 'gw-other', limit: 10 })).toEqual([]);
    await store.close();
  });

  it('forgets point keys of a rolled-back group, so the next group stores them again', async () => {
    const { store } = await open();
    // The second message is malformed (no `events`): the group fails after the first one created
    // the key of point `fresh` in the same transaction.
    const broken = { channel: 'events', value: { ...telemetry(9, []).value, readings: undefined } };
    await expect(
      store.apply([telemetry(1, [{ point: 'fresh', value: 3 }]), broken as unknown as UplinkMessage], 1),
    ).rejects.toThrow();
    expect(await store.telemetry({ gateway: 'gw-s', limit: 10 })).toEqual([]);
    await store.apply([telemetry(2, [{ point: 'fresh', value: 7 }])], 2);
    const rows = await store.telemetry({ gateway: 'gw-s', point: 'fresh', limit: 10 });
    expect(rows.map((x) => x.value)).toEqual([7]);
    await store.close();
  });

  it('moves readings of an older fleet.db into the integer-keyed table, keeping the readings view', async () => {
    const d = tempDir();
    dirs.push(d);
    const path = join(d.path, 'fleet.db');
    const db = await Db.open(path);
    await db.exec(`
      CREATE TABLE readings (
        gateway TEXT NOT NULL, epoch TEXT NOT NULL, rid INTEGER NOT NULL, device TEXT NOT NULL,
        point TEXT NOT NULL, value REAL NOT NULL, is_bool INTEGER NOT NULL, unit TEXT, ts INTEGER NOT NULL,
        received INTEGER NOT NULL, PRIMARY KEY (gateway, epoch, rid)) WITHOUT ROWID;
      CREATE INDEX readings_by_point ON readings (gateway, device, point, ts);
      INSERT INTO readings VALUES ('gw-old', 'e0', 1, 'light-1', 'power', 40, 0, 'W', 100, 150),
                                  ('gw-old', 'e0', 2, 'light-1', 'on', 1, 1, NULL, 101, 150);`);
    await db.close();
    const store = await SqliteFleetStore.open(path);
    const rows = await store.telemetry({ gateway: 'gw-old', limit: 10 });
    expect(rows).toEqual([
      { device: 'light-1', point: 'on', value: true, unit: null, ts: 101, receivedAt: 150 },
      { device: 'light-1', point: 'power', value: 40, unit: 'W', ts: 100, receivedAt: 150 },
    ]);
    // The same reading id again is a duplicate, not a second row.
    const again = telemetry(
      1,
      [{ id: 1, device: 'light-1', point: 'power', value: 40, unit: 'W' }],
      'gw-old',
    );
    const [r] = await store.apply(
      [{ ...again, value: { ...again.value, epoch: 'e0' } } as UplinkMessage],
      200,
    );
    expect(r).toMatchObject({ inserted: 0, duplicates: 1 });
    await store.close();
    const check = await Db.open(path);
    const view = await check.all<{ rid: number; unit: string | null }>(
      `SELECT rid, unit FROM readings WHERE gateway = 'gw-old' ORDER BY rid`,
    );
    const kind = await check.get<{ type: string }>(`SELECT type FROM sqlite_master WHERE name = 'readings'`);
    await check.close();
    expect(view).toEqual([
      { rid: 1, unit: 'W' },
      { rid: 2, unit: null },
    ]);
    expect(kind?.type).toBe('view');
  });

  it('records its numbered migrations in schema_version once, and a reopen applies none', async () => {
    const d = tempDir();
    dirs.push(d);
    const path = join(d.path, 'fleet.db');
    await (await SqliteFleetStore.open(path)).close();
    const read = async () => {
      const db = await Db.open(path);
      const rows = await db.all<{ version: number; applied_at: number }>(
        'SELECT version, applied_at FROM schema_version ORDER BY version',
      );
      await db.close();
      return rows;
    };
    const first = await read();
    expect(first.map((r) => r.version)).toEqual(STORE_MIGRATIONS.map((m) => m.version));
    await new Promise((r) => setTimeout(r, 5));
    await (await SqliteFleetStore.open(path)).close();
    expect(await read()).toEqual(first);
    // A step that throws leaves no trace: the file stays at the last whole step.
    const db = await Db.open(path);
    const applied = await migrateSqlite(
      db,
      [
        ...STORE_MIGRATIONS,
        {
          version: 99,
          name: 'half a step',
          up: async (t) => {
            await t.exec('CREATE TABLE half (x INTEGER)');
            throw new Error('power cut');
          },
        },
      ],
      1,
    ).catch((err: unknown) => err);
    expect(String(applied)).toContain('power cut');
    expect(await db.get(`SELECT name FROM sqlite_master WHERE name = 'half'`)).toBeUndefined();
    expect(await db.get('SELECT version FROM schema_version WHERE version = 99')).toBeUndefined();
    await db.close();
  });
});
