/**
 * npm run bench:uplink
 * 1. Outbox durable writes (WAL, synchronous=FULL, puts of 500 readings, stored as blocks) vs a bare
 *    multi-row INSERT of the same readings, a row each, into a plain table with the same settings.
 * 2. Drain: a backlog of readings from the outbox through the Uplink (QoS 1, default window, rows
 *    deleted on PUBACK) vs a raw mqtt.js QoS 1 publisher sending the same payloads to the same broker.
 * 3. End to end: readings/s from a gateway's outbox into the fleet store vs raw broker pass-through
 *    (mqtt.js publisher → broker → mqtt.js QoS 1 subscriber) on the same broker software. The
 *    sending side runs in its own process on both sides (bench/uplink/peer.ts), as a gateway is
 *    another machine; the fleet (with aedes embedded) and the raw subscriber run in this one.
 * 4. The fleet store alone: the same telemetry messages through `FleetStore.apply` in groups of 16
 *    (what the group commit sees) vs a bare multi-row INSERT of the same readings into a table with
 *    no index and the same sync setting: how close the store is to SQLite's own ceiling here.
 * Each against the embedded aedes and Mosquitto from Debian.
 *
 * Like for like: both sides move the same number of readings in the same number of messages of the
 * same size (BATCH readings each, same fields and envelope), and both clocks include connecting.
 * Each pair is measured BENCH_REPS times (default 3), alternating, and the best of each side is
 * reported, so a busy machine penalises neither side more than the other.
 */
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../common/log.js';
import { Db } from '../common/sqlite.js';
import { Outbox } from '../edge/src/outbox.js';
import { decode } from '../common/contract/index.js';
import { startFleet } from '../fleet/src/main.js';
import { SqliteFleetStore, type UplinkMessage } from '../fleet/src/store.js';
import { freePort, Mosquitto } from '../test/e2e/loss/harness.js';
import { printTable, type Row } from './table.js';
import { processCpu, selfCpu } from './uplink/cpu.js';
import { drainOutbox } from './uplink/drain.js';
import { BATCH, rawPayloads, readings, WARM_UP } from './uplink/payloads.js';
import type { PeerCommand } from './uplink/peer.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const REPS = Math.max(1, Number(process.env.BENCH_REPS ?? 3));
const log = createLogger({ level: 'error' });
const work = mkdtempSync(join(tmpdir(), 'citygate-bench-uplink-'));
let n = 0;
const path = (name: string) => join(work, `${++n}-${name}`);

async function fill(o: Outbox, rows: number): Promise<void> {
  for (let i = 0; i < rows; i += BATCH) await o.putReadings(readings(i, Math.min(BATCH, rows - i)));
}

/** Best (shortest) time of `REPS` alternating runs of each side, in seconds. */
async function bestOf(
  ours: () => Promise<number>,
  baseline: () => Promise<number>,
): Promise<[number, number]> {
  let o = Infinity;
  let b = Infinity;
  for (let i = 0; i < REPS; i++) {
    b = Math.min(b, await baseline());
    o = Math.min(o, await ours());
  }
  return [o, b];
}

async function outboxFill(): Promise<number> {
  const o = await Outbox.open(path('outbox.db'));
  const t0 = performance.now();
  await fill(o, ROWS);
  const s = (performance.now() - t0) / 1000;
  await o.close();
  return s;
}

async function bareInsert(): Promise<number> {
  const rows = ROWS;
  const db = await Db.open(path('plain.db'));
  await db.exec(
    'PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, ts INTEGER)',
  );
  const t0 = performance.now();
  for (let i = 0; i < rows; i += BATCH) {
    const chunk = readings(i, Math.min(BATCH, rows - i));
    await db.transaction((d) =>
      d.insertMany(
        'INSERT INTO t (body, ts)',
        2,
        chunk.map((r) => [JSON.stringify(r), r.ts]),
      ),
    );
  }
  const s = (performance.now() - t0) / 1000;
  await db.close();
  return s;
}

async function outboxWrites(): Promise<Row> {
  const [ours, baseline] = await bestOf(outboxFill, bareInsert);
  return {
    metric: 'outbox durable writes (puts of 500 readings)',
    ours: ROWS / ours,
    baseline: ROWS / baseline,
    unit: 'readings/s',
    better: 'higher',
    goal: 'context: bare INSERT a row each, WAL+FULL',
  };
}

async function rawPublish(url: string, clientId: string, payloads: string[], topic: string): Promise<number> {
  const t0 = performance.now();
  const c = await mqtt.connectAsync(url, { clientId, protocolVersion: 4, reconnectPeriod: 0 });
  await Promise.all(payloads.map((p) => c.publishAsync(topic, p, { qos: 1 })));
  const s = (performance.now() - t0) / 1000;
  await c.endAsync();
  return s;
}

async function drainUplink(url: string, gw: string): Promise<number> {
  const o = await Outbox.open(path('drain.db'));
  await fill(o, ROWS);
  const t0 = performance.now();
  const stop = await drainOutbox(o, url, gw, ROWS, log);
  const s = (performance.now() - t0) / 1000;
  if ((await o.depth()) !== 0) throw new Error('drain: outbox not empty after every row was acknowledged');
  await stop();
  await o.close();
  return s;
}

async function plainAedes(): Promise<{ url: string; close(): Promise<void> }> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    close: async () => {
      await new Promise<void>((r) => broker.close(() => r()));
      server.close();
    },
  };
}

/** The gateway side in its own process (bench/uplink/peer.ts), prepared and waiting for `go`. */
async function peer(c: PeerCommand): Promise<{ go(): void; finished: Promise<{ cpu: number }> }> {
  const p: ChildProcess = fork(join(import.meta.dirname, 'uplink', 'peer.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = () =>
    new Promise<{ cpu: number }>((resolve, reject) => {
      const exit = (code: number | null) => reject(new Error(`bench peer exited with ${code}`));
      p.once('exit', exit);
      p.once('message', (m: { error?: string; cpu?: number }) => {
        p.off('exit', exit);
        if (m.error) reject(new Error(`bench peer: ${m.error}`));
        else resolve({ cpu: m.cpu ?? 0 });
      });
    });
  p.send(c);
  await next(); // ready
  const finished = next(); // done
  finished.catch(() => undefined);
  return { go: () => p.send({ cmd: 'go' } satisfies PeerCommand), finished };
}

/** Wall seconds and CPU seconds of every process involved (sender, this process, Mosquitto). */
interface Run {
  s: number;
  cpu: number;
  /** Of `cpu`, the sending process's share (the gateway or the raw publisher). */
  senderCpu: number;
}

async function passThrough(url: string, brokerPid?: number): Promise<Run> {
  const topic = 'citygate/v1/gw-raw/telemetry';
  const sub = await mqtt.connectAsync(url, { clientId: 'raw-sub', protocolVersion: 4, reconnectPeriod: 0 });
  await sub.subscribeAsync(topic, { qos: 1 });
  const messages = Math.ceil(ROWS / BATCH);
  let got = 0;
  const done = new Promise<void>((resolve) => sub.on('message', () => ++got === messages && resolve()));
  const pub = await peer({ cmd: 'raw', url, gw: 'gw-raw', rows: ROWS, topic });
  const cpu0 = selfCpu() + processCpu(brokerPid);
  const t0 = performance.now();
  pub.go();
  await done;
  const s = (performance.now() - t0) / 1000;
  const senderCpu = (await pub.finished).cpu;
  const cpu = selfCpu() + processCpu(brokerPid) - cpu0 + senderCpu;
  await sub.endAsync();
  return { s, cpu, senderCpu };
}

async function endToEnd(
  fleetUrl: string,
  fleet: {
    store: { getGateway(id: string): Promise<{ readings: number } | undefined> };
    ingest: { stats: { readings: number } };
  },
  gw: string,
  brokerPid?: number,
): Promise<Run> {
  const file = path('e2e.db');
  const o = await Outbox.open(file);
  await fill(o, ROWS);
  await o.close();
  // The ingest counts readings once their transaction committed; watching that counter (not the
  // database) keeps the clock from competing with the ingest for SQLite.
  const warm = fleet.ingest.stats.readings + WARM_UP;
  const gateway = await peer({ cmd: 'uplink', outbox: file, url: fleetUrl, gw, rows: ROWS });
  while (fleet.ingest.stats.readings < warm) await new Promise((r) => setTimeout(r, 1));
  const before = fleet.ingest.stats.readings;
  const cpu0 = selfCpu() + processCpu(brokerPid);
  const t0 = performance.now();
  gateway.go();
  while (fleet.ingest.stats.readings - before < ROWS) await new Promise((r) => setTimeout(r, 1));
  const s = (performance.now() - t0) / 1000;
  const senderCpu = (await gateway.finished).cpu;
  const cpu = selfCpu() + processCpu(brokerPid) - cpu0 + senderCpu;
  const stored = (await fleet.store.getGateway(gw))?.readings ?? 0;
  if (stored !== ROWS) throw new Error(`end to end: ${stored} readings stored for ${gw}, expected ${ROWS}`);
  return { s, cpu, senderCpu };
}

/** The same telemetry messages through `FleetStore.apply`, 16 per group commit. */
async function storeApply(messages: UplinkMessage[]): Promise<number> {
  const store = await SqliteFleetStore.open(path('store.db'));
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i += 16) await store.apply(messages.slice(i, i + 16), Date.now());
  const s = (performance.now() - t0) / 1000;
  const stored = (await store.getGateway('gw-store'))?.readings;
  await store.close();
  if (stored !== ROWS) throw new Error(`store: ${stored} readings stored, expected ${ROWS}`);
  return s;
}

/** SQLite's ceiling here: the same readings, 16 messages a transaction, into a table with no index. */
async function storeCeiling(messages: UplinkMessage[]): Promise<number> {
  const db = await Db.open(path('ceiling.db'));
  await db.exec(`PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
    CREATE TABLE t (src INTEGER, rid INTEGER, pt INTEGER, gw INTEGER, value REAL, is_bool INTEGER, ts INTEGER, received INTEGER)`);
  const t0 = performance.now();
  for (let i = 0; i < messages.length; i += 16)
    await db.transaction(async (d) => {
      for (const m of messages.slice(i, i + 16))
        if (m.channel === 'telemetry')
          await d.insertMany(
            'INSERT INTO t',
            8,
            m.value.readings.map((r) => [1, r.id, 1, 1, Number(r.value), 0, r.ts, 0]),
          );
    });
  const s = (performance.now() - t0) / 1000;
  await db.close();
  return s;
}

/**
 * What the fleet must do to every payload before storing it (the issue asks for validation on
 * receipt): decode = UTF-8 + JSON.parse + the contract's schema, vs JSON.parse alone. On one thread,
 * so seconds here are CPU seconds, comparable with the end-to-end CPU rows.
 */
async function decodeRow(): Promise<Row> {
  const payloads = rawPayloads('gw-decode', ROWS).map((p) => Buffer.from(p));
  const timed = (fn: (p: Buffer) => unknown) => async () => {
    const t0 = performance.now();
    for (const p of payloads) fn(p);
    return (performance.now() - t0) / 1000;
  };
  const [ours, baseline] = await bestOf(
    timed((p) => {
      if (!decode('telemetry', 'gw-decode', p).ok) throw new Error('bench payload does not decode');
    }),
    timed((p) => JSON.parse(p.toString('utf8'))),
  );
  return {
    metric: 'fleet decode of the payloads (CPU s per 100k readings)',
    ours: (ours / ROWS) * 100_000,
    baseline: (baseline / ROWS) * 100_000,
    unit: 'CPU s',
    better: 'lower',
    goal: 'context: baseline JSON.parse alone',
  };
}

async function storeRows(): Promise<Row> {
  const messages = rawPayloads('gw-store', ROWS).map((p): UplinkMessage => {
    const m = decode('telemetry', 'gw-store', p);
    if (!m.ok) throw new Error(`bench payload does not decode: ${m.error}`);
    return { channel: 'telemetry', value: m.value };
  });
  const [ours, baseline] = await bestOf(
    () => storeApply(messages),
    () => storeCeiling(messages),
  );
  return {
    metric: 'fleet store apply (16 messages a commit)',
    ours: ROWS / ours,
    baseline: ROWS / baseline,
    unit: 'readings/s',
    better: 'higher',
    goal: 'context: bare INSERT, no index',
  };
}

async function brokerRows(kind: 'aedes' | 'mosquitto'): Promise<Row[]> {
  let mosq: Mosquitto | undefined;
  let plain: { url: string; close(): Promise<void> } | undefined;
  let rawUrl: string;
  if (kind === 'mosquitto') {
    mosq = new Mosquitto(mkdtempSync(join(work, 'mosq-')), await freePort());
    await mosq.start();
    rawUrl = mosq.url;
  } else {
    plain = await plainAedes();
    rawUrl = plain.url;
  }
  try {
    let run = 0;
    const [ourDrain, rawDrain] = await bestOf(
      () => drainUplink(rawUrl, `gw-drain-${kind}-${++run}`),
      () =>
        rawPublish(rawUrl, 'gw-rawpub', rawPayloads('gw-rawpub', ROWS), 'citygate/v1/gw-rawpub/telemetry'),
    );
    const fleet = await startFleet({
      dataDir: path('fleet'),
      httpPort: 0,
      mqttPort: 0,
      security: 'open',
      externalBroker: mosq ? { url: mosq.url } : undefined,
      log,
    });
    // Best of REPS alternating runs each, by wall time; the CPU column is that run's.
    let ourE2e: Run = { s: Infinity, cpu: 0, senderCpu: 0 };
    let rawE2e: Run = { s: Infinity, cpu: 0, senderCpu: 0 };
    for (let i = 0; i < REPS; i++) {
      const b = await passThrough(rawUrl, mosq?.pid);
      if (b.s < rawE2e.s) rawE2e = b;
      const o = await endToEnd(mosq ? mosq.url : fleet.mqttUrl, fleet, `gw-e2e-${kind}-${++run}`, mosq?.pid);
      if (o.s < ourE2e.s) ourE2e = o;
    }
    await fleet.stop();
    return [
      {
        metric: `${kind}: outbox drain vs raw mqtt.js QoS 1 publisher`,
        ours: ROWS / ourDrain,
        baseline: ROWS / rawDrain,
        unit: 'readings/s',
        better: 'higher',
        goal: '≥ 0.50×',
      },
      {
        metric: `${kind}: end to end into the fleet store vs raw pass-through`,
        ours: ROWS / ourE2e.s,
        baseline: ROWS / rawE2e.s,
        unit: 'readings/s',
        better: 'higher',
        goal: kind === 'aedes' ? '≥ 0.60×' : '≥ 0.85×',
      },
      {
        metric: `${kind}: end to end, CPU of all processes per 100k readings`,
        ours: (ourE2e.cpu / ROWS) * 100_000,
        baseline: (rawE2e.cpu / ROWS) * 100_000,
        unit: 'CPU s',
        better: 'lower',
        goal: `context: ${cpus().length} cores`,
      },
      {
        metric: `${kind}: … of which the sender (gateway / raw publisher)`,
        ours: (ourE2e.senderCpu / ROWS) * 100_000,
        baseline: (rawE2e.senderCpu / ROWS) * 100_000,
        unit: 'CPU s',
        better: 'lower',
        goal: 'context',
      },
    ];
  } finally {
    await plain?.close();
    await mosq?.stop();
  }
}

try {
  const rows: Row[] = [
    await outboxWrites(),
    await storeRows(),
    await decodeRow(),
    ...(await brokerRows('aedes')),
    ...(await brokerRows('mosquitto')),
  ];
  printTable(`Uplink (${ROWS.toLocaleString('en')} readings per measurement, messages of ${BATCH})`, rows);
} finally {
  rmSync(work, { recursive: true, force: true });
}
process.exit(0);
