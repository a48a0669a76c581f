/**
 * npm run bench:fleet   (BENCH_GATEWAYS=10000 BENCH_WORKERS=3 BENCH_TLS=0)
 *
 * One fleet process (embedded aedes, per-gateway credentials, ACL, SQLite) and simulated gateways
 * (mqtt.js) in several worker processes over loopback; the same workers against a bare aedes with
 * no auth, no ACL and no storage as the baseline, in the same run:
 *   1. connect N gateways (each authenticated with its scrypt-hashed secret; N=1024 for the bench)
 *   2. a config pushed to all: time until every gateway has verified, applied and acknowledged it
 *      (fleet: one PUT of the fleet layer → N merges, validations, Ed25519 signatures, retained publishes)
 *   3. telemetry: readings/s stored by the fleet vs readings/s passed through the bare broker
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printTable, type Row } from './table.js';

const N = Number(process.env.BENCH_GATEWAYS ?? 10_000);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 3);
const TLS = process.env.BENCH_TLS === '1';
const PUBLISHERS = Math.min(N, 300);
const BATCHES = 40;
const READINGS = 20;
const SECRET = 'bench-secret-0123456789abcdefghijklmnopqrstuvwxyz';
const work = mkdtempSync(join(tmpdir(), 'citygate-bench-fleet-'));
const ids = Array.from({ length: N }, (_, i) => `gw-${String(i).padStart(5, '0')}`);

const child = (script: string): ChildProcess =>
  fork(join(import.meta.dirname, 'fleet', script), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
const next = <T>(p: ChildProcess, pred: (m: T) => boolean = () => true): Promise<T> =>
  new Promise((resolve, reject) => {
    const on = (m: T) => {
      if ((m as { error?: string }).error) reject(new Error((m as { error: string }).error));
      else if (pred(m)) {
        p.off('message', on);
        resolve(m);
      }
    };
    p.on('message', on);
  });
const all = <T>(ps: ChildProcess[], pred?: (m: T) => boolean) => Promise.all(ps.map((p) => next<T>(p, pred)));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 120_000) {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(20);
  }
}

const shares = Array.from({ length: WORKERS }, (_, w) => ids.filter((_, i) => i % WORKERS === w));
const workers = Array.from({ length: WORKERS }, () => child('worker.ts'));

async function phase(
  label: string,
  url: string,
  extra: { secret?: string; ca?: string; configPublicKey?: string },
  push: () => Promise<void>,
  storedReadings: () => Promise<number>,
) {
  let t = Date.now();
  const connected = all<{ connected?: number }>(workers, (m) => m.connected !== undefined);
  workers.forEach((w, i) => w.send({ cmd: 'connect', url, ids: shares[i], ...extra }));
  await connected;
  const connectMs = Date.now() - t;
  console.log(`${label}: ${N} gateways connected in ${connectMs} ms`);

  t = Date.now();
  const acked = all<{ allApplied?: boolean }>(workers, (m) => m.allApplied === true);
  await push();
  await acked;
  const pushMs = Date.now() - t;
  console.log(`${label}: config acknowledged by all ${N} in ${pushMs} ms`);

  const before = await storedReadings();
  t = Date.now();
  const perWorker = Math.ceil(PUBLISHERS / WORKERS);
  const published = all<{ published?: number }>(workers, (m) => m.published !== undefined);
  workers.forEach((w) =>
    w.send({ cmd: 'telemetry', publishers: perWorker, batches: BATCHES, readings: READINGS }),
  );
  await published;
  const total = perWorker * WORKERS * BATCHES * READINGS;
  await until(`${label} readings stored`, async () => (await storedReadings()) - before >= total);
  const ingestMs = Date.now() - t;
  const rate = (total / ingestMs) * 1000;
  console.log(`${label}: ${total} readings in ${ingestMs} ms (${Math.round(rate)}/s)`);

  const gone = all(workers, (m: { disconnected?: boolean }) => m.disconnected === true);
  workers.forEach((w) => w.send({ cmd: 'disconnect' }));
  await gone;
  return { connectMs, pushMs, rate };
}

try {
  // Baseline: bare aedes.
  const raw = child('raw-broker.ts');
  const rawInfo = await next<{ url: string }>(raw);
  const rawStats = async () => {
    raw.send({ cmd: 'stats' });
    return (await next<{ readings: number }>(raw, (m) => m.readings !== undefined)).readings;
  };
  const payload = JSON.stringify({
    config: { lines: [], devices: [], name: 'x'.repeat(40) },
    signature: 'x'.repeat(88),
  });
  const base = await phase(
    'baseline (bare aedes)',
    rawInfo.url,
    {},
    async () => {
      raw.send({ cmd: 'push', ids, payload });
    },
    rawStats,
  );
  raw.send({ cmd: 'stop' });

  // The fleet.
  const server = child('server.ts');
  server.send({ dir: join(work, 'fleet'), n: N, secret: SECRET, tls: TLS });
  const info = await next<{
    httpUrl: string;
    mqttUrl: string;
    adminToken: string;
    caCert: string;
    configPublicKey: string;
  }>(server);
  const auth = { authorization: `Bearer ${info.adminToken}` };
  const metric = async (name: string) => {
    const text = await (await fetch(`${info.httpUrl}/metrics`, { headers: auth })).text();
    const m = new RegExp(`^${name} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };
  const ours = await phase(
    `fleet${TLS ? ' (TLS)' : ''}`,
    info.mqttUrl,
    { secret: SECRET, ca: info.caCert, configPublicKey: info.configPublicKey },
    async () => {
      const r = await fetch(`${info.httpUrl}/api/v1/config/fleet`, {
        method: 'PUT',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'bench push' }),
      });
      if (r.status !== 200) throw new Error(`config push: ${r.status} ${await r.text()}`);
    },
    () => metric('citygate_fleet_ingest_readings_total'),
  );
  const inSync = await metric('citygate_fleet_config_gateways\\{drift="in-sync"\\}');
  console.log(`fleet reports ${inSync} gateways in sync`);
  server.send({ cmd: 'stop' });

  const rows: Row[] = [
    {
      metric: `connect ${N} gateways`,
      ours: ours.connectMs,
      baseline: base.connectMs,
      unit: 'ms',
      better: 'lower',
      goal: '≥ 10,000 connected',
    },
    {
      metric: `config to ${N}, all acked`,
      ours: ours.pushMs,
      baseline: base.pushMs,
      unit: 'ms',
      better: 'lower',
    },
    {
      metric: 'telemetry readings stored/passed',
      ours: ours.rate,
      baseline: base.rate,
      unit: 'readings/s',
      better: 'higher',
    },
  ];
  printTable(
    `Fleet: ${N} simulated gateways, ${WORKERS} worker processes, ${TLS ? 'mqtts' : 'mqtt'} on loopback (baseline: bare aedes, no auth/ACL/storage)`,
    rows,
  );
} finally {
  for (const w of workers) w.send({ cmd: 'stop' });
  rmSync(work, { recursive: true, force: true });
}
