/**
 * `citygate fleet import`'s telemetry path (fleet.db blocks unpacked into PostgreSQL rows with the
 * hourly roll-up, one transaction) against the same readings written through the PostgreSQL store's
 * live write path (PgFleetStore.apply, groups of messages) into a second empty database of the same
 * cluster, in the same run. PostgreSQL keeps its defaults (fsync, synchronous_commit on).
 * `npm run bench:import [-- readings]` (default 200000)
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOCOL_VERSION } from '../common/contract/index.js';
import { importFleet } from '../fleet/src/import/import.js';
import { PgFleetStore } from '../fleet/src/pg/store.js';
import { SqliteFleetStore, type UplinkMessage } from '../fleet/src/store.js';
import { tempDir } from '../test/helpers.js';
import { startPostgres } from '../test/helpers/postgres.js';
import { printTable } from './table.js';

const N = Number(process.argv[2] ?? 200_000);
const PER_MESSAGE = 200;
const GATEWAYS = 20;
const T0 = Date.now() - 6 * 3_600_000;

function messages(): UplinkMessage[] {
  const out: UplinkMessage[] = [];
  const seq = new Map<string, number>();
  for (let i = 0; i < N; i += PER_MESSAGE) {
    const gateway = `gw-${(i / PER_MESSAGE) % GATEWAYS}`;
    const s = (seq.get(gateway) ?? 0) + 1;
    seq.set(gateway, s);
    const readings = Array.from({ length: Math.min(PER_MESSAGE, N - i) }, (_, k) => ({
      id: (s - 1) * PER_MESSAGE + k + 1,
      ts: T0 + (s - 1) * PER_MESSAGE * 1000 + k * 1000,
      device: `meter-${k % 4}`,
      point: k % 2 ? 'power' : 'voltage',
      value: (k * 7) % 230,
      unit: k % 2 ? 'W' : 'V',
    }));
    out.push({
      channel: 'telemetry',
      value: { v: PROTOCOL_VERSION, gateway, epoch: 'e1', session: 1, seq: s, sentAt: T0, readings },
    });
  }
  return out;
}

const dir = tempDir('citygate-bench-import-');
const pgc = await startPostgres({ durable: true });
try {
  const msgs = messages();
  const dataDir = join(dir.path, 'fleet');
  mkdirSync(dataDir, { recursive: true });
  const sqlite = await SqliteFleetStore.open(join(dataDir, 'fleet.db'));
  for (let i = 0; i < msgs.length; i += 50) await sqlite.apply(msgs.slice(i, i + 50), T0);
  await sqlite.close();

  const target = await pgc.createDatabase('imported');
  let t = performance.now();
  let lines = 0;
  const summary = await importFleet({ dataDir, storeUrl: target, now: Date.now(), progress: () => lines++ });
  const importRate = summary.rows.readings! / ((performance.now() - t) / 1000);

  const live = await PgFleetStore.open(await pgc.createDatabase('live'), Date.now());
  t = performance.now();
  for (let i = 0; i < msgs.length; i += 50) await live.apply(msgs.slice(i, i + 50), T0);
  const liveRate = N / ((performance.now() - t) / 1000);
  await live.close();

  printTable(`fleet import: ${N} readings from fleet.db into PostgreSQL (${lines} progress callbacks)`, [
    {
      metric: 'readings/s (import vs PgFleetStore.apply, 50 msgs × 200 readings per tx)',
      ours: importRate,
      baseline: liveRate,
      unit: 'readings/s',
      better: 'higher',
    },
  ]);
} finally {
  await pgc.stop();
  dir.cleanup();
}
