/**
 * The admin state's contract on any `SqlDb` (SQLite file, PostgreSQL): credentials registry, API
 * tokens, alarm board, sites, desired config and commands. `open()` gives two handles on one
 * database ("worker A" and "worker B"), so what must happen once is checked across them.
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { generateConfigKey, verifyConfigSignature } from '../../../common/config-signature.js';
import {
  PROTOCOL_VERSION,
  type AlarmRecord,
  type CommandRequest,
  type ConfigDesired,
} from '../../../common/contract/index.js';
import type { SqlDb } from '../../../common/sqlite.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { AlarmBoard } from '../../../fleet/src/alarms.js';
import { ApiTokens, TOKEN_CACHE_MS } from '../../../fleet/src/auth/tokens.js';
import { CommandService } from '../../../fleet/src/commands/service.js';
import { DesiredConfigService } from '../../../fleet/src/desired-config/service.js';
import { GatewayRegistry } from '../../../fleet/src/provisioning/registry.js';
import { SiteStore } from '../../../fleet/src/sites.js';
import { tempDir } from '../../helpers.js';

export interface TwoHandles {
  a: SqlDb;
  b: SqlDb;
  close(): Promise<void>;
}

const SCRYPT = { N: 1024, r: 8, p: 1 };
const T0 = Date.UTC(2026, 11, 1, 8);

const envelope = (gateway: string) => ({
  v: PROTOCOL_VERSION as typeof PROTOCOL_VERSION,
  gateway,
  epoch: '00000000000000aa',
  session: 1,
  seq: 1,
  sentAt: T0,
});

const alarm = (key: string, state: 'raised' | 'cleared', ts: number): AlarmRecord => ({
  id: ts - T0 + 1,
  key,
  alarm: 'lamp-fault',
  device: 'lamp-1',
  severity: 'major',
  state,
  message: `lamp ${state}`,
  ts,
});

export function adminStateSuite(engine: string, open: () => Promise<TwoHandles>): void {
  describe(`admin state on ${engine}`, () => {
    const withDb = (fn: (h: TwoHandles, clock: FakeClock) => Promise<void>) => async () => {
      const h = await open();
      try {
        await fn(h, new FakeClock(T0));
      } finally {
        await h.close();
      }
    };

    it(
      'claim tokens: one redemption wins when two workers race; expired, reused and duplicate claims are refused',
      withDb(async ({ a, b }, clock) => {
        const [ra, rb] = await Promise.all([
          GatewayRegistry.open(a, clock, SCRYPT),
          GatewayRegistry.open(b, clock, SCRYPT),
        ]);
        const c = await ra.createClaim({ ttlMs: 60_000, group: 'north' });
        const results = await Promise.allSettled([ra.claim(c.token, 'gw-1'), rb.claim(c.token, 'gw-2')]);
        const won = results.filter((r) => r.status === 'fulfilled');
        expect(won).toHaveLength(1);
        const lost = results.find((r) => r.status === 'rejected');
        expect((lost as PromiseRejectedResult).reason).toMatchObject({ code: 'claim-invalid', status: 403 });
        expect((await rb.listClaims())[0]).toMatchObject({ id: c.id, group: 'north' });
        expect((await rb.list()).map((g) => g.gateway)).toHaveLength(1);
        const winner = (await ra.list())[0]!.gateway;
        const secret = (won[0] as PromiseFulfilledResult<{ secret: string }>).value.secret;
        expect(await rb.authenticate(winner, secret)).toBe(true);
        expect(await rb.authenticate(winner, 'wrong')).toBe(false);

        // Already provisioned: refused, and the token stays unused (the exchange is rolled back).
        const c2 = await rb.createClaim({ ttlMs: 60_000 });
        await expect(ra.claim(c2.token, winner)).rejects.toMatchObject({ code: 'already-provisioned' });
        expect((await ra.listClaims()).find((x) => x.id === c2.id)?.usedAt).toBeUndefined();
        // After a revoke through the other worker the gateway can be provisioned again.
        await rb.revoke(winner);
        expect(await ra.authenticate(winner, secret)).toBe(false);
        expect((await ra.mosquittoEntries()).map((e) => e.gateway)).toEqual([]);
        await ra.claim(c2.token, winner);
        expect((await rb.mosquittoEntries()).map((e) => e.gateway)).toEqual([winner]);

        const c3 = await ra.createClaim({ ttlMs: 1000 });
        clock.advance(1000);
        await expect(rb.claim(c3.token, 'gw-3')).rejects.toMatchObject({ code: 'claim-invalid' });
      }),
    );

    it(
      'API tokens: made on one worker they work on the other; a deletion reaches it within the cache time; one bootstrap token',
      withDb(async ({ a, b }, clock) => {
        const dir = tempDir();
        try {
          const [ta, tb] = await Promise.all([ApiTokens.open(a, clock), ApiTokens.open(b, clock)]);
          const boots = await Promise.all([
            ta.bootstrap(`${dir.path}/a-token`),
            tb.bootstrap(`${dir.path}/b-token`),
          ]);
          expect(boots.filter((t) => t !== undefined)).toHaveLength(1);
          expect((await tb.list()).map((t) => t.name)).toEqual(['bootstrap-admin']);
          const op = await ta.create('ops', 'operator');
          expect(await tb.lookup(op.token)).toMatchObject({ id: op.id, role: 'operator' });
          expect(await tb.lookup('cgt_unknown')).toBeUndefined();
          expect(await ta.delete(op.id)).toBe(true);
          expect(await ta.lookup(op.token)).toBeUndefined();
          clock.advance(TOKEN_CACHE_MS);
          expect(await tb.lookup(op.token)).toBeUndefined();
        } finally {
          dir.cleanup();
        }
      }),
    );

    it(
      'alarm board: raised on one worker, acknowledged on the other; older news never overwrites newer',
      withDb(async ({ a, b }) => {
        const [aa, ab] = await Promise.all([AlarmBoard.open(a), AlarmBoard.open(b)]);
        await aa.record('gw-1', [alarm('lamp-1/fault', 'raised', T0)]);
        await aa.record('gw-2', [
          alarm('lamp-1/fault', 'raised', T0 + 1),
          alarm('lamp-1/fault', 'cleared', T0 + 2),
        ]);
        expect((await ab.list({ active: true })).map((x) => x.gateway)).toEqual(['gw-1']);
        expect(await ab.acknowledge('gw-1', 'lamp-1/fault', 'op', T0 + 5, 'on it')).toBe(true);
        expect(await ab.acknowledge('gw-1', 'nope', 'op', T0 + 5)).toBe(false);
        await ab.record('gw-2', [alarm('lamp-1/fault', 'raised', T0 + 1)]); // stale re-send
        expect((await aa.list({ gateway: 'gw-2' }))[0]).toMatchObject({
          state: 'cleared',
          clearedAt: T0 + 2,
        });
        expect((await aa.list({ gateway: 'gw-1' }))[0]).toMatchObject({
          state: 'raised',
          ackBy: 'op',
          ackAt: T0 + 5,
          ackNote: 'on it',
          raisedAt: T0,
        });
      }),
    );

    it(
      'sites, health and commissioning: newest report wins',
      withDb(async ({ a, b }) => {
        const [sa, sb] = await Promise.all([SiteStore.open(a), SiteStore.open(b)]);
        await sa.upsert({ id: 'gw-1', name: 'Cabinet 1', lat: 10.5, lon: 106.25, zone: 'north' });
        await sb.upsert({ id: 'gw-1', name: 'Cabinet one', lat: 10.5, lon: 106.25 });
        expect(await sa.list()).toEqual([{ id: 'gw-1', name: 'Cabinet one', lat: 10.5, lon: 106.25 }]);
        await sa.recordHealth('gw-1', T0 + 10, { outbox: 3 });
        await sb.recordHealth('gw-1', T0 + 5, { outbox: 9 });
        expect(await sb.health('gw-1')).toEqual({ at: T0 + 10, outbox: 3 });
        await sa.recordCommissioning('gw-1', { at: T0, by: 'tech', passed: false, failed: ['pump 1'] });
        await sb.recordCommissioning('gw-1', { at: T0 - 1, by: 'old', passed: true, failed: [] });
        expect(await sb.commissioning()).toEqual([
          { gateway: 'gw-1', at: T0, by: 'tech', passed: false, failed: ['pump 1'] },
        ]);
        await Promise.all([sa.close(), sb.close()]);
      }),
    );

    it(
      'desired config: two workers changing one gateway at once never issue the same version',
      withDb(async ({ a, b }, clock) => {
        const key = generateConfigKey();
        const published: ConfigDesired[] = [];
        const open = (db: SqlDb) =>
          DesiredConfigService.open({
            db,
            clock,
            signingKeyPem: key.privateKeyPem,
            profiles: loadProfiles(),
            mqttUrl: 'mqtts://fleet.example:8883',
            publish: async (_gw, msg) => void published.push(msg),
            activeGateways: async () => ['gw-1'],
          });
        const [da, db] = await Promise.all([open(a), open(b)]);
        const layer = (name: string) => ({
          name,
          location: { lat: 10.8, lon: 106.7 },
          lines: [],
          devices: [],
        });
        await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            (i % 2 ? db : da).setLayer({ kind: 'gateway', id: 'gw-1' }, layer(`cabinet ${i}`)),
          ),
        );
        const versions = published.map((m) => m.version).sort((x, y) => x - y);
        expect(versions).toEqual(Array.from({ length: versions.length }, (_, i) => i + 1));
        for (const m of published) expect(verifyConfigSignature(m, key.publicKeyPem)).toBe(true);
        const state = await db.state('gw-1');
        expect(state.desired?.version).toBe(versions.length);
        // The stored config is the newest published one.
        const last = published.find((m) => m.version === versions.length)!;
        expect(state.desired?.config).toEqual(last.config);
        await da.recordReported({ ...envelope('gw-1'), version: versions.length, status: 'applied' }, T0);
        expect(await db.counts()).toEqual({ inSync: 1, pending: 0, rejected: 0 });
        await db.setGroup('gw-1', 'north');
        expect(await da.listGroups()).toEqual([{ id: 'north', members: ['gw-1'], hasConfig: false }]);
      }),
    );

    it(
      "commands: an answer recorded by another worker completes the sender's call once",
      withDb(async ({ a, b }, clock) => {
        const sent: CommandRequest[] = [];
        const cb = await CommandService.open(b, clock, async () => undefined);
        const ca = await CommandService.open(a, clock, async (_gw, req) => {
          sent.push(req);
          // The gateway answers; worker B takes the cmd/res first, then A sees it too.
          setTimeout(() => {
            const res = { ...envelope('gw-1'), tx: req.tx, status: 'ok' as const, result: 42 };
            void cb.onResponse(res).then(() => ca.onResponse(res));
          }, 10);
        });
        const rec = await ca.run({
          gateway: 'gw-1',
          name: 'write',
          args: { device: 'lamp-1', point: 'on', value: true },
          by: 'op',
          expiresInMs: 10_000,
          waitMs: 20_000,
        });
        expect(rec).toMatchObject({ tx: sent[0]!.tx, status: 'ok', result: 42 });
        expect((await cb.list('gw-1', 10)).map((r) => r.status)).toEqual(['ok']);
      }),
    );
  });
}
