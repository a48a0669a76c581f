import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  PROTOCOL_VERSION,
  type AlarmBatch,
  type EventBatch,
  type GatewayState,
  type TelemetryBatch,
  type UpdateProgress,
} from '../../../common/contract/index.js';
import type { FleetStore, UplinkMessage } from '../../../fleet/src/store.js';
import { readingCases } from './suite-readings.js';

const T0 = Date.UTC(2026, 11, 1, 8); // an hour boundary
const EPOCH = 'aaaaaaaaaaaaaaaa';

export const telemetry = (
  gateway: string,
  seq: number,
  readings: { id: number; value: number | boolean; ts: number; point?: string; device?: string }[],
  extra: Partial<TelemetryBatch> = {},
): UplinkMessage => ({
  channel: 'telemetry',
  value: {
    v: PROTOCOL_VERSION,
    gateway,
    epoch: EPOCH,
    session: 1,
    seq,
    sentAt: T0,
    readings: readings.map((r) => ({
      id: r.id,
      device: r.device ?? 'light-1',
      point: r.point ?? 'power',
      value: r.value,
      unit: typeof r.value === 'boolean' ? undefined : 'W',
      ts: r.ts,
    })),
    ...extra,
  },
});

const env = (gateway: string, seq: number, session = 1) => ({
  v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
  gateway,
  epoch: EPOCH,
  session,
  seq,
  sentAt: T0 + seq,
});

/**
 * The FleetStore contract: every engine (SQLite, PostgreSQL) passes the same cases. `open` returns
 * a fresh, empty store; `close` runs after the suite.
 */
export function fleetStoreSuite(engine: string, open: () => Promise<FleetStore>): void {
  describe(`FleetStore contract: ${engine}`, () => {
    let store: FleetStore;
    beforeAll(async () => {
      store = await open();
    });
    afterAll(async () => {
      await store?.close();
    });

    it('stores readings once: a re-sent reading is a duplicate, a re-sent message a duplicate message', async () => {
      const a = telemetry('gw-1', 1, [
        { id: 1, value: 10, ts: T0 + 1000 },
        { id: 2, value: 20, ts: T0 + 2000 },
      ]);
      const b = telemetry('gw-1', 2, [
        { id: 2, value: 20, ts: T0 + 2000 },
        { id: 3, value: true, ts: T0 + 3000, point: 'lamp' },
      ]);
      expect(await store.apply([a, b, a], T0 + 5000)).toEqual([
        { inserted: 2, duplicates: 0, duplicateMessage: false },
        { inserted: 1, duplicates: 1, duplicateMessage: false },
        { inserted: 0, duplicates: 0, duplicateMessage: true },
      ]);
      expect(await store.apply([b], T0 + 6000)).toEqual([
        { inserted: 0, duplicates: 0, duplicateMessage: true },
      ]);
      const g = await store.getGateway('gw-1');
      expect(g).toMatchObject({ readings: 3, duplicates: 1, duplicateMessages: 2, firstSeen: T0 + 5000 });
      expect(g!.lastSeen).toBe(T0 + 6000);
      const rows = await store.telemetry({ gateway: 'gw-1', limit: 10 });
      expect(rows.map((r) => [r.point, r.value, r.ts, r.unit])).toEqual([
        ['lamp', true, T0 + 3000, null],
        ['power', 20, T0 + 2000, 'W'],
        ['power', 10, T0 + 1000, 'W'],
      ]);
      expect(rows[0]!.receivedAt).toBe(T0 + 5000);
      const filtered = await store.telemetry({
        gateway: 'gw-1',
        point: 'power',
        since: T0 + 1500,
        limit: 10,
      });
      expect(filtered.map((r) => r.value)).toEqual([20]);
      expect(await store.telemetry({ gateway: 'gw-1', point: 'power', limit: 1 })).toHaveLength(1);
    });

    it('ingest() of a batch is apply() of one telemetry message', async () => {
      const m = telemetry('gw-2', 1, [{ id: 7, value: 1.5, ts: T0 }]);
      expect(await store.ingest(m.value as TelemetryBatch, T0)).toEqual({ inserted: 1, duplicates: 0 });
      const again = { ...(m.value as TelemetryBatch), seq: 2 };
      expect(await store.ingest(again, T0)).toEqual({ inserted: 0, duplicates: 1 });
    });

    it('tracks sequence gaps per session, including a tail declared by a clean stop', async () => {
      await store.apply(
        [1, 2, 4].map((seq) => telemetry('gw-3', seq, [{ id: seq, value: seq, ts: T0 + seq }])),
        T0,
      );
      expect(await store.gaps('gw-3')).toEqual([
        { epoch: EPOCH, session: 1, lastSeq: 4, received: 3, missing: 1 },
      ]);
      const stop: GatewayState = {
        v: PROTOCOL_VERSION,
        gateway: 'gw-3',
        session: 1,
        state: 'offline',
        ts: T0 + 10,
        epoch: EPOCH,
        seq: 6,
      };
      await store.recordState(stop, T0 + 10);
      expect(await store.gaps('gw-3')).toEqual([
        { epoch: EPOCH, session: 1, lastSeq: 6, received: 3, missing: 3 },
      ]);
      expect((await store.getGateway('gw-3'))?.missingMessages).toBe(3);
      expect(await store.gaps('gw-1')).toEqual([]);
    });

    it('follows births and Wills; a Will of an older session does not mark a newer one offline', async () => {
      const state = (
        session: number,
        s: 'online' | 'offline',
        extra: Partial<GatewayState> = {},
      ): GatewayState => ({
        v: PROTOCOL_VERSION,
        gateway: 'gw-4',
        session,
        state: s,
        ts: T0,
        ...extra,
      });
      await store.recordState(
        state(2, 'online', {
          version: '1.2.0',
          epoch: EPOCH,
          seq: 0,
          previous: { session: 1, seq: 5 },
          evicted: { telemetry: 4, events: 1 },
        }),
        T0,
      );
      expect(await store.getGateway('gw-4')).toMatchObject({
        online: true,
        session: 2,
        version: '1.2.0',
        evicted: { telemetry: 4, events: 1 },
        missingMessages: 5,
      });
      await store.recordState(state(1, 'offline'), T0 + 1);
      expect(await store.getGateway('gw-4')).toMatchObject({ online: true, session: 2 });
      await store.recordState(state(2, 'offline'), T0 + 2);
      expect(await store.getGateway('gw-4')).toMatchObject({ online: false, session: 2, version: '1.2.0' });
    });

    it('stores events, alarms and single-item messages once, newest first, filtered by channel', async () => {
      const events: UplinkMessage = {
        channel: 'events',
        value: {
          ...env('gw-5', 1),
          events: [
            { id: 1, ts: T0 + 1, type: 'health', data: { cpu: 3 } },
            { id: 2, ts: T0 + 2, type: 'device-offline' },
          ],
        } satisfies EventBatch,
      };
      const alarms: UplinkMessage = {
        channel: 'alarms',
        value: {
          ...env('gw-5', 2),
          alarms: [
            {
              id: 3,
              ts: T0 + 3,
              alarm: 'lamp-fault',
              key: 'l1',
              severity: 'major',
              state: 'raised',
              message: 'lamp 1 failed',
            },
          ],
        } satisfies AlarmBatch,
      };
      const progress: UplinkMessage = {
        channel: 'update/progress',
        value: {
          ...env('gw-5', 3),
          id: 4,
          tx: 'r1_gw-5',
          step: 'commit',
          status: 'done',
        } satisfies UpdateProgress,
      };
      const again: UplinkMessage = { channel: 'events', value: { ...(events.value as EventBatch), seq: 4 } };
      const r = await store.apply([events, alarms, progress, again], T0 + 10);
      expect(r.map((x) => [x.inserted, x.duplicates, x.duplicateMessage])).toEqual([
        [2, 0, false],
        [1, 0, false],
        [1, 0, false],
        [0, 2, false],
      ]);
      const all = await store.events({ gateway: 'gw-5', limit: 10 });
      expect(all.map((e) => [e.channel, e.type])).toEqual([
        ['update/progress', 'r1_gw-5'],
        ['alarms', 'lamp-fault'],
        ['events', 'device-offline'],
        ['events', 'health'],
      ]);
      expect(all[3]!.body).toEqual({ cpu: 3 });
      expect(all[1]!.body).toMatchObject({ key: 'l1', severity: 'major', message: 'lamp 1 failed' });
      expect(all[0]!.body).toMatchObject({ step: 'commit', status: 'done' });
      expect((await store.events({ gateway: 'gw-5', channel: 'alarms', limit: 10 })).length).toBe(1);
      expect((await store.events({ gateway: 'gw-5', since: T0 + 2, limit: 10 })).length).toBe(3);
      expect((await store.getGateway('gw-5'))?.duplicates).toBe(2);
    });

    it('keeps the largest eviction counts a message envelope reported', async () => {
      await store.apply(
        [
          telemetry('gw-6', 1, [{ id: 1, value: 1, ts: T0 }], { evicted: { telemetry: 9, events: 2 } }),
          telemetry('gw-6', 2, [{ id: 2, value: 1, ts: T0 }], { evicted: { telemetry: 5, events: 3 } }),
        ],
        T0,
      );
      expect((await store.getGateway('gw-6'))?.evicted).toEqual({ telemetry: 9, events: 3 });
    });

    it('downsamples into buckets: minute buckets and whole hours give the same numbers', async () => {
      const readings = [
        { id: 1, value: 1, ts: T0 + 10_000 },
        { id: 2, value: 3, ts: T0 + 20_000 },
        { id: 3, value: 10, ts: T0 + 61_000 },
        { id: 4, value: 4, ts: T0 + 3_600_000 + 5 },
        { id: 5, value: 8, ts: T0 + 3_600_000 + 6, point: 'energy' },
      ];
      await store.apply(
        [telemetry('gw-7', 1, readings.slice(0, 3)), telemetry('gw-7', 2, readings.slice(3))],
        T0,
      );
      const minute = await store.telemetryBuckets({ gateway: 'gw-7', point: 'power', limit: 10 }, 60_000);
      expect(minute.map((b) => [b.ts, b.mean, b.min, b.max, b.count])).toEqual([
        [T0 + 3_600_000, 4, 4, 4, 1],
        [T0 + 60_000, 10, 10, 10, 1],
        [T0, 2, 1, 3, 2],
      ]);
      const hourly = await store.telemetryBuckets(
        { gateway: 'gw-7', since: T0, until: T0 + 2 * 3_600_000 - 1, limit: 10 },
        3_600_000,
      );
      expect(hourly.map((b) => [b.point, b.ts, b.mean, b.min, b.max, b.count, b.unit])).toEqual([
        ['energy', T0 + 3_600_000, 8, 8, 8, 1, 'W'],
        ['power', T0 + 3_600_000, 4, 4, 4, 1, 'W'],
        ['power', T0, 14 / 3, 1, 10, 3, 'W'],
      ]);
      const twoHours = await store.telemetryBuckets(
        { gateway: 'gw-7', point: 'power', limit: 10 },
        2 * 3_600_000,
      );
      expect(twoHours.map((b) => [b.ts, b.count, b.max])).toEqual([[T0, 4, 10]]);
      expect(await store.telemetryBuckets({ gateway: 'gw-7', limit: 1 }, 60_000)).toHaveLength(1);
    });

    it('gives the newest reading of each point since a time, for one gateway only', async () => {
      await store.apply(
        [
          telemetry('gw-latest', 1, [
            { id: 1, value: 40, ts: T0 - 7_200_000 }, // light-1.power, before `since`
            { id: 2, value: 41, ts: T0 + 1000 },
            { id: 3, value: 42, ts: T0 + 3000 },
            { id: 4, value: true, ts: T0 + 2000, point: 'on' },
            { id: 5, value: 7, ts: T0 - 7_200_000, device: 'bin-1', point: 'fill' }, // only old readings
          ]),
          // Delivered later but older: the newest by timestamp wins, not the last stored.
          telemetry('gw-latest', 2, [{ id: 6, value: 39, ts: T0 + 2500 }]),
          telemetry('gw-other', 1, [{ id: 1, value: 99, ts: T0 + 5000 }]),
        ],
        T0 + 6000,
      );
      const latest = await store.latest('gw-latest', T0 - 3_600_000);
      expect(latest.map(({ device, point, value, ts }) => ({ device, point, value, ts }))).toEqual([
        { device: 'light-1', point: 'on', value: true, ts: T0 + 2000 },
        { device: 'light-1', point: 'power', value: 42, ts: T0 + 3000 },
      ]);
      expect(latest.find((r) => r.point === 'power')?.unit).toBe('W');
      expect(await store.latest('gw-none', 0)).toEqual([]);
    });

    readingCases(() => store);

    it('lists gateways in id order; an unknown one is undefined', async () => {
      const ids = (await store.listGateways()).map((g) => g.id);
      expect(ids).toEqual([...ids].sort());
      expect(ids).toEqual(expect.arrayContaining(['gw-1', 'gw-4', 'gw-7']));
      expect(await store.getGateway('gw-nope')).toBeUndefined();
    });
  });
}
