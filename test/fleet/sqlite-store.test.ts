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

  it('keeps one block per message, point and value type; the readings view expands them', async () => {
    const { path, store } = await open();
    const m = telemetry(1, [
      { id: 1, point: 'flow', value: 1.5 },
      { id: 2, point: 'level', unit: 'm', value: 2 },
      { id: 3, point: 'flow', value: 2.5 },
      { id: 4, point: 'flow', value: true },
      { id: 5, point: 'flow', value: false },
    ]);
    // A re-send: 3 and 4 again, 6 new.
    const again = telemetry(2, [
      { id: 3, point: 'flow', value: 2.5 },
      { id: 4, point: 'flow', value: true },
      { id: 6, point: 'flow', value: 3.5 },
    ]);
    expect((await store.apply([m, again], 9000)).map((r) => [r.inserted, r.duplicates])).toEqual([
      [5, 0],
      [1, 2],
    ]);
    await store.close();
    const db = await Db.open(path);
    const blocks = await db.all<{ n: number; is_bool: number; rid0: number; rid1: number }>(
      'SELECT n, is_bool, rid0, rid1 FROM blocks ORDER BY id',
    );
    const view = await db.all<{
      rid: number;
      point: string;
      value: number;
      is_bool: number;
      unit: string | null;
    }>(`SELECT rid, point, value, is_bool, unit FROM readings WHERE gateway = 'gw-s' ORDER BY rid`);
    const byValue = await db.all<{ value: number; n: number }>(
      `SELECT value, COUNT(*) AS n FROM readings WHERE gateway = 'gw-s' AND is_bool = 1 GROUP BY value ORDER BY value`,
    );
    await db.close();
    expect(blocks).toEqual([
      { n: 2, is_bool: 0, rid0: 1, rid1: 3 },
      { n: 1, is_bool: 0, rid0: 2, rid1: 2 },
      { n: 2, is_bool: 1, rid0: 4, rid1: 5 },
      { n: 1, is_bool: 0, rid0: 6, rid1: 6 },
    ]);
    expect(view).toEqual([
      { rid: 1, point: 'flow', value: 1.5, is_bool: 0, unit: 'l/s' },
      { rid: 2, point: 'level', value: 2, is_bool: 0, unit: 'm' },
      { rid: 3, point: 'flow', value: 2.5, is_bool: 0, unit: 'l/s' },
      { rid: 4, point: 'flow', value: 1, is_bool: 1, unit: 'l/s' },
      { rid: 5, point: 'flow', value: 0, is_bool: 1, unit: 'l/s' },
      { rid: 6, point: 'flow', value: 3.5, is_bool: 0, unit: 'l/s' },
    ]);
    expect(byValue).toEqual([
      { value: 0, n: 1 },
      { value: 1, n: 1 },
    ]);
  });

  it('moves the samples rows of a version-3 file into blocks, keeping every reading', async () => {
    const d = tempDir();
    dirs.push(d);
    const path = join(d.path, 'fleet.db');
    const db = await Db.open(path);
    await migrateSqlite(
      db,
      STORE_MIGRATIONS.filter((m) => m.version <= 3),
      1,
    );
    await db.exec(`
      INSERT INTO gateway_keys (id, gateway) VALUES (1, 'gw-v3');
      INSERT INTO sources (id, gw, epoch) VALUES (1, 1, 'e1'), (2, 1, 'e2');
      INSERT INTO points (id, gw, device, point, unit) VALUES (1, 1, 'meter', 'power', 'W'), (2, 1, 'meter', 'on', '');`);
    // [epoch, rid, point, value, is_bool, ts, received]: 1,200 numbers of e1 received at two times
    // (700 + 500: three blocks), ten booleans, and e2's ids 1..5 again (another source).
    type Row = [string, number, string, number, number, number, number];
    const rows: Row[] = [];
    for (let rid = 1; rid <= 1200; rid++)
      rows.push(['e1', rid, 'power', (Math.PI * rid) / 7e5, 0, 10_000 + rid, rid <= 700 ? 100 : 200]);
    for (let rid = 1201; rid <= 1210; rid++) rows.push(['e1', rid, 'on', rid % 2, 1, 10_000 + rid, 100]);
    for (let rid = 1; rid <= 5; rid++) rows.push(['e2', rid, 'power', -rid, 0, 20_000 + rid, 300]);
    await db.insertMany(
      'INSERT INTO samples (src, rid, pt, gw, value, is_bool, ts, received)',
      8,
      rows.map(([e, rid, p, v, b, ts, rec]) => [
        e === 'e1' ? 1 : 2,
        rid,
        p === 'power' ? 1 : 2,
        1,
        v,
        b,
        ts,
        rec,
      ]),
    );
    await db.close();

    const store = await SqliteFleetStore.open(path);
    const newest = await store.telemetry({ gateway: 'gw-v3', limit: 2 });
    expect(newest.map((r) => [r.value, r.ts, r.receivedAt])).toEqual([
      [-5, 20_005, 300],
      [-4, 20_004, 300],
    ]);
    const on = await store.telemetry({ gateway: 'gw-v3', point: 'on', limit: 20 });
    expect(on.map((r) => r.value)).toEqual(Array.from({ length: 10 }, (_, i) => (1210 - i) % 2 === 1));
    // Every value exactly (the same doubles), with its time and receive time; ts is unique here.
    const all = await store.telemetry({ gateway: 'gw-v3', limit: 5000 });
    expect(all.map((x) => [x.point, x.ts, x.value, x.receivedAt])).toEqual(
      [...rows]
        .sort((a, b) => b[5] - a[5])
        .map(([, , point, value, isBool, ts, received]) => [
          point,
          ts,
          isBool ? value === 1 : value,
          received,
        ]),
    );
    // A migrated reading re-sent is a duplicate; a new id of the same source is stored.
    const resend = telemetry(
      1,
      [
        { id: 1200, device: 'meter', point: 'power', unit: 'W', value: 300 },
        { id: 1211, device: 'meter', point: 'power', unit: 'W', value: 7 },
      ],
      'gw-v3',
    );
    const [r] = await store.apply([resend], 400);
    expect(r).toMatchObject({ inserted: 1, duplicates: 1 });
    await store.close();

    const check = await Db.open(path);
    // The view (values compared above: SQLite's JSON number parser can be 1 ulp off).
    const view = await check.all<{
      epoch: string;
      rid: number;
      point: string;
      is_bool: number;
      ts: number;
      received: number;
    }>(
      `SELECT epoch, rid, point, is_bool, ts, received FROM readings WHERE gateway = 'gw-v3'
       ORDER BY epoch, rid`,
    );
    const blocks = await check.get<{ n: number }>('SELECT COUNT(*) AS n FROM blocks');
    const samples = await check.get(`SELECT name FROM sqlite_master WHERE name = 'samples'`);
    await check.close();
    expect(view.filter((x) => x.rid !== 1211)).toEqual(
      rows.map(([epoch, rid, point, , is_bool, ts, received]) => ({
        epoch,
        rid,
        point,
        is_bool,
        ts,
        received,
      })),
    );
    expect(view).toHaveLength(rows.length + 1);
    // (e1 power at 100: 500 + 200) + (e1 power at 200) + (e1 on) + (e2 power), plus the new message's.
    expect(blocks?.n).toBe(5 + 1);
    expect(samples).toBeUndefined();
  });
});
