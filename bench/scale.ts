/**
 * npm run bench:scale   (SCALE_GATEWAYS=200 SCALE_MESSAGES=25 SCALE_READINGS=50 SCALE_CONNECTIONS=8)
 *
 * Stateless fleet workers (real `citygate fleet --broker … --store postgres://… --share` processes)
 * on one Mosquitto and one PostgreSQL (fsync and synchronous_commit on, as in production), all
 * started here from Debian's packages. In the same run:
 *   - raw broker pass-through: the same burst through the same shared subscription, acknowledged
 *     on arrival (the baseline every other row is compared with);
 *   - ingest readings/s with 1, 2 and 3 workers (time until every message is committed);
 *   - the PostgreSQL ceiling alone: PgFleetStore.apply from this process, 4 groups in parallel;
 * and the CPU each part used (cores = CPU seconds / wall seconds), which shows the bottleneck.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PgFleetStore } from '../fleet/src/pg/store.js';
import type { UplinkMessage } from '../fleet/src/store.js';
import { Mosquitto } from '../test/e2e/loss/harness.js';
import { batch, burst, gatewayId, startWorker, type Worker } from '../test/fleet/scale/cluster.js';
import { freePort, startPostgres } from '../test/helpers/postgres.js';
import { printTable, type Row } from './table.js';

const GATEWAYS = Number(process.env.SCALE_GATEWAYS ?? 200);
const MESSAGES = Number(process.env.SCALE_MESSAGES ?? 25);
const READINGS = Number(process.env.SCALE_READINGS ?? 50);
const CONNECTIONS = Number(process.env.SCALE_CONNECTIONS ?? 8);
const TOTAL = GATEWAYS * MESSAGES * READINGS;

const TICK = 100; // USER_HZ on Linux
/** CPU seconds used so far by processes whose command name matches. */
function cpuOf(match: (comm: string, pid: number) => boolean): number {
  let ticks = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!match(comm, Number(p))) continue;
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone meanwhile
    }
  }
  return ticks / TICK;
}

/** Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait). */
function machineBusy(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3]! - f[4]!) / TICK;
}

interface Usage {
  wall: number;
  cores: Record<string, number>;
}
async function measure(pids: () => Set<number>, fn: () => Promise<void>): Promise<Usage> {
  const parts = {
    postgres: (c: string) => c === 'postgres',
    mosquitto: (c: string) => c === 'mosquitto',
    workers: (_c: string, pid: number) => pids().has(pid),
  };
  const before = Object.fromEntries(Object.entries(parts).map(([k, m]) => [k, cpuOf(m)]));
  const busy0 = machineBusy();
  const me0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wall = (performance.now() - t0) / 1000;
  const me = process.cpuUsage(me0);
  const cores: Record<string, number> = {};
  for (const [k, m] of Object.entries(parts)) cores[k] = (cpuOf(m) - before[k]!) / wall;
  cores['gateways (bench)'] = (me.user + me.system) / 1e6 / wall;
  // Anything else: other processes on the machine, exited ones, the kernel's loopback work.
  cores['unattributed'] = Math.max(
    0,
    (machineBusy() - busy0) / wall - Object.values(cores).reduce((a, b) => a + b, 0),
  );
  return { wall, cores };
}

const work = mkdtempSync(join(tmpdir(), 'citygate-bench-scale-'));
const cluster = await startPostgres({ durable: true });
const mosquitto = new Mosquitto(work, await freePort());
await mosquitto.start();
const usage: { name: string; u: Usage }[] = [];
let run = 0;

async function countMessages(c: pg.Client): Promise<number> {
  return Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM messages')).rows[0]!.n);
}

async function rawBroker(): Promise<number> {
  const group = `raw${++run}`;
  const sub = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'scale', 'raw-sub.ts')], {
    env: {
      ...process.env,
      BROKER_URL: mosquitto.url,
      EXPECT: String(GATEWAYS * MESSAGES),
      CONNECTIONS: String(CONNECTIONS),
      GROUP: group,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const line = (s: string) =>
    new Promise<void>((resolve) => {
      const check = () => out.includes(s) && resolve();
      sub.stdout!.on('data', (d: Buffer) => ((out += d.toString()), check()));
      check();
    });
  await line('R\n');
  const u = await measure(
    () => new Set([sub.pid!]),
    async () => {
      await burst({ brokerUrl: mosquitto.url, gateways: GATEWAYS, messages: MESSAGES, perMessage: READINGS });
      await line('DONE');
    },
  );
  sub.kill();
  usage.push({ name: 'raw broker', u });
  return TOTAL / u.wall;
}

async function ingest(n: number, connections = CONNECTIONS): Promise<number> {
  const url = await cluster.createDatabase(`scale_${++run}`);
  const workers: Worker[] = [];
  for (let i = 0; i < n; i++)
    workers.push(
      await startWorker({
        id: `b${run}-${i}`,
        brokerUrl: mosquitto.url,
        storeUrl: url,
        group: `s${run}`,
        connections,
        leaseMs: 10_000,
      }),
    );
  const poll = new pg.Client({ connectionString: url });
  await poll.connect();
  const u = await measure(
    () => new Set(workers.map((w) => w.proc.pid!)),
    async () => {
      await burst({ brokerUrl: mosquitto.url, gateways: GATEWAYS, messages: MESSAGES, perMessage: READINGS });
      while ((await countMessages(poll)) < GATEWAYS * MESSAGES) await new Promise((r) => setTimeout(r, 50));
    },
  );
  await poll.end();
  await Promise.all(workers.map((w) => w.kill('SIGTERM')));
  usage.push({ name: `${n} worker${n > 1 ? 's' : ''} × ${connections} sessions`, u });
  return TOTAL / u.wall;
}

async function pgAlone(): Promise<number> {
  const url = await cluster.createDatabase(`scale_pg_${++run}`);
  const store = await PgFleetStore.open(url, Date.now(), { poolSize: 8 });
  const ts = Date.now() - 60_000;
  const msgs: UplinkMessage[] = [];
  for (let seq = 1; seq <= MESSAGES; seq++)
    for (let g = 0; g < GATEWAYS; g++)
      msgs.push({ channel: 'telemetry', value: batch(gatewayId(g), seq, READINGS, ts + seq * 100) });
  const groups: UplinkMessage[][] = [];
  for (let i = 0; i < msgs.length; i += CONNECTIONS) groups.push(msgs.slice(i, i + CONNECTIONS));
  const u = await measure(
    () => new Set(),
    async () => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < groups.length) await store.apply(groups[next++]!, Date.now());
        }),
      );
    },
  );
  await store.close();
  usage.push({ name: 'PostgreSQL alone', u });
  return TOTAL / u.wall;
}

try {
  console.log(
    `${GATEWAYS} gateways × ${MESSAGES} messages × ${READINGS} readings = ${TOTAL} readings; ${CONNECTIONS} MQTT sessions per worker`,
  );
  const raw = await rawBroker();
  const one = await ingest(1);
  const two = await ingest(2);
  const three = await ingest(3);
  const oneWide = await ingest(1, CONNECTIONS * 3);
  const ceiling = await pgAlone();
  const rows: Row[] = [
    {
      metric: 'ingest, 1 worker (vs raw broker)',
      ours: one,
      baseline: raw,
      unit: 'readings/s',
      better: 'higher',
    },
    {
      metric: 'ingest, 2 workers (vs raw broker)',
      ours: two,
      baseline: raw,
      unit: 'readings/s',
      better: 'higher',
    },
    {
      metric: 'ingest, 3 workers (vs raw broker)',
      ours: three,
      baseline: raw,
      unit: 'readings/s',
      better: 'higher',
    },
    { metric: '2 workers vs 1 worker', ours: two, baseline: one, unit: 'readings/s', better: 'higher' },
    { metric: '3 workers vs 1 worker', ours: three, baseline: one, unit: 'readings/s', better: 'higher' },
    {
      metric: `1 worker with ${CONNECTIONS * 3} sessions vs 3 workers`,
      ours: oneWide,
      baseline: three,
      unit: 'readings/s',
      better: 'higher',
    },
    {
      metric: 'PostgreSQL alone, apply() (vs raw broker)',
      ours: ceiling,
      baseline: raw,
      unit: 'rows/s',
      better: 'higher',
    },
  ];
  printTable(`Fleet workers on Mosquitto + PostgreSQL (${TOTAL} readings a run)`, rows);
  console.log('\nCPU used during each run, in cores (2-core machine):');
  const parts = [...new Set(usage.flatMap((x) => Object.keys(x.u.cores)))];
  console.log(['run', 'wall s', ...parts].join(' | '));
  for (const { name, u } of usage)
    console.log([name, u.wall.toFixed(2), ...parts.map((p) => (u.cores[p] ?? 0).toFixed(2))].join(' | '));
} finally {
  await mosquitto.stop();
  await cluster.stop();
  rmSync(work, { recursive: true, force: true });
}
