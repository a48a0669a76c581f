/**
 * The fleet's admin state on PostgreSQL (several workers; fsync and synchronous_commit on) against
 * the single fleet's SQLite file (WAL), measured in the same run on the same machine:
 * alarm batches recorded, API-token lookups missing the cache, claim redemptions, and a fleet-wide
 * desired-config change re-signed for 200 gateways. `npx tsx bench/admin-state.ts`
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../common/clock.js';
import { generateConfigKey } from '../common/config-signature.js';
import type { AlarmRecord } from '../common/contract/index.js';
import { Db, type SqlDb } from '../common/sqlite.js';
import { loadProfiles } from '../hardware/src/profile.js';
import { AlarmBoard } from '../fleet/src/alarms.js';
import { ApiTokens } from '../fleet/src/auth/tokens.js';
import { DesiredConfigService } from '../fleet/src/desired-config/service.js';
import { PgSqlDb } from '../fleet/src/pg/sql-db.js';
import { PgFleetStore } from '../fleet/src/pg/store.js';
import { GatewayRegistry } from '../fleet/src/provisioning/registry.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { printTable, type Row } from './table.js';

const GATEWAYS = Array.from({ length: 200 }, (_, i) => `gw-${String(i).padStart(4, '0')}`);
const SCRYPT = { N: 1024, r: 8, p: 1 };

async function pool<T>(n: number, items: readonly T[], fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

const rate = async (count: number, fn: () => Promise<void>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return count / ((performance.now() - t0) / 1000);
};

async function measure(db: SqlDb): Promise<Record<string, number>> {
  const alarms = await AlarmBoard.open(db);
  const batch = (gw: string, k: number): AlarmRecord[] =>
    Array.from({ length: 10 }, (_, i) => ({
      id: k * 10 + i,
      ts: Date.now() + k,
      alarm: 'lamp-fault',
      key: `lamp-${i}/fault`,
      device: `lamp-${i}`,
      severity: 'major',
      state: k % 2 ? 'cleared' : 'raised',
      message: 'lamp',
    }));
  const batches = Array.from({ length: 2000 }, (_, k) => k);
  const alarmRate = await rate(batches.length, () =>
    pool(8, batches, (k) => alarms.record(GATEWAYS[k % GATEWAYS.length]!, batch(GATEWAYS[k % 200]!, k))),
  );

  const tokens = await ApiTokens.open(db, realClock);
  const made: string[] = [];
  for (let i = 0; i < 500; i++) made.push((await tokens.create(`t${i}`, 'viewer')).token);
  const lookupRate = await rate(made.length, () => pool(16, made, (t) => tokens.lookup(t)));

  const registry = await GatewayRegistry.open(db, realClock, SCRYPT);
  const claims: { gw: string; token: string }[] = [];
  for (const gw of GATEWAYS)
    claims.push({ gw, token: (await registry.createClaim({ ttlMs: 600_000 })).token });
  const claimRate = await rate(claims.length, () => pool(8, claims, (c) => registry.claim(c.token, c.gw)));

  const key = generateConfigKey();
  const config = await DesiredConfigService.open({
    db,
    clock: realClock,
    signingKeyPem: key.privateKeyPem,
    profiles: loadProfiles(),
    mqttUrl: 'mqtts://fleet.example:8883',
    publish: async () => undefined,
    activeGateways: async () => GATEWAYS,
  });
  for (const gw of GATEWAYS)
    await config.setLayer({ kind: 'gateway', id: gw }, { name: gw, lines: [], devices: [] });
  const changes = 5;
  const t0 = performance.now();
  for (let i = 0; i < changes; i++)
    await config.setLayer({ kind: 'fleet' }, { location: { lat: 10 + i / 100, lon: 106.7 } });
  const changeMs = (performance.now() - t0) / changes;
  return { alarmRate, lookupRate, claimRate, changeMs };
}

const dir = mkdtempSync(join(tmpdir(), 'citygate-bench-admin-'));
const cluster = await startPostgres({ durable: true });
try {
  const sqlite = await Db.open(join(dir, 'fleet-admin.db'));
  await sqlite.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
  const base = await measure(sqlite);
  await sqlite.close();
  const store = await PgFleetStore.open(await cluster.createDatabase('bench_admin'), Date.now());
  const ours = await measure(new PgSqlDb(store.pool));
  await store.close();
  const rows: Row[] = [
    {
      metric: 'alarm batches recorded (10 alarms, 8 at once)',
      ours: ours.alarmRate!,
      baseline: base.alarmRate!,
      unit: 'batches/s',
      better: 'higher',
    },
    {
      metric: 'API-token lookups missing the cache (16 at once)',
      ours: ours.lookupRate!,
      baseline: base.lookupRate!,
      unit: 'lookups/s',
      better: 'higher',
    },
    {
      metric: 'claim redemptions (8 at once, scrypt N=1024)',
      ours: ours.claimRate!,
      baseline: base.claimRate!,
      unit: 'claims/s',
      better: 'higher',
    },
    {
      metric: 'fleet-wide config change, 200 gateways re-signed',
      ours: ours.changeMs!,
      baseline: base.changeMs!,
      unit: 'ms/change',
      better: 'lower',
    },
  ];
  printTable('Admin state: PostgreSQL (ours, shared by workers) vs SQLite (baseline, one fleet)', rows);
} finally {
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}
