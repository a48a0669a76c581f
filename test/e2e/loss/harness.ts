import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { Db } from '../../../common/sqlite.js';
import { waitFor } from '../../helpers.js';

const PRODUCER = new URL('./edge-producer.ts', import.meta.url).pathname;

/** A deterministic PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Producer {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
  waitLine(pred: (l: string) => boolean, timeoutMs?: number): Promise<string>;
}

export function spawnProducer(env: Record<string, string>): Producer {
  const proc = spawn(process.execPath, ['--import', 'tsx', PRODUCER], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let buf = '';
  proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  let err = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  return {
    proc,
    lines,
    exited,
    waitLine: (pred, timeoutMs = 15_000) =>
      waitFor(
        'producer line',
        () => {
          if (proc.exitCode !== null && !lines.some(pred))
            throw new Error(`producer exited: ${err.slice(-2000)}`);
          return lines.find(pred);
        },
        timeoutMs,
        5,
      ),
  };
}

/** What the producer said it committed (the set every check compares the fleet against). */
export class Ledger {
  readonly readings = new Set<number>();
  readonly alarms = new Set<number>();
  readonly integrity: string[] = [];

  absorb(lines: readonly string[]): void {
    for (const l of lines) {
      const [k, a, b] = l.split(' ');
      if (k === 'C') for (let v = Number(a); v <= Number(b); v++) this.readings.add(v);
      else if (k === 'A') this.alarms.add(Number(a));
      else if (k === 'I') this.integrity.push(a!);
    }
  }
}

/** Run the producer `cycles` times, each killed with SIGKILL at a random moment of its bursts. */
export async function killCycles(o: {
  url: string;
  gw: string;
  db: string;
  cycles: number;
  firstRun: number;
  random: () => number;
  ledger: Ledger;
}): Promise<void> {
  for (let i = 0; i < o.cycles; i++) {
    const p = spawnProducer({ DB: o.db, URL: o.url, GW: o.gw, RUN: String(o.firstRun + i), BURST: '50' });
    await p.waitLine((l) => l === 'R');
    await new Promise((r) => setTimeout(r, 40 + Math.floor(o.random() * 300)));
    p.proc.kill('SIGKILL');
    await p.exited;
    o.ledger.absorb(p.lines);
  }
}

/** Start the producer in drain mode and wait until its outbox is empty. */
export async function drain(
  url: string,
  gw: string,
  db: string,
  ledger: Ledger,
  timeoutMs = 20_000,
): Promise<void> {
  const p = spawnProducer({ DB: db, URL: url, GW: gw, MODE: 'drain' });
  await p.waitLine((l) => l === 'E', timeoutMs);
  await p.exited;
  ledger.absorb(p.lines);
}

/** How often each value / alarm number is stored at the fleet. */
export async function fleetCounts(
  fleetDb: string,
  gw: string,
): Promise<{ readings: Map<number, number>; alarms: Map<number, number> }> {
  const db = await Db.open(fleetDb);
  try {
    const r = await db.all<{ value: number; n: number }>(
      'SELECT value, COUNT(*) AS n FROM readings WHERE gateway = ? GROUP BY value',
      [gw],
    );
    const a = await db.all<{ body: string }>(
      `SELECT body FROM events WHERE gateway = ? AND channel = 'alarms'`,
      [gw],
    );
    const alarms = new Map<number, number>();
    for (const x of a) {
      const n = Number((JSON.parse(x.body) as { message: string }).message);
      alarms.set(n, (alarms.get(n) ?? 0) + 1);
    }
    return { readings: new Map(r.map((x) => [x.value, x.n])), alarms };
  } finally {
    await db.close();
  }
}

/** Every committed item exactly once at the fleet, and nothing stored twice. */
export function exactlyOnce(
  ledger: Ledger,
  fleet: { readings: Map<number, number>; alarms: Map<number, number> },
): { missing: number[]; twice: number[]; missingAlarms: number[] } {
  const missing = [...ledger.readings].filter((v) => !fleet.readings.has(v));
  const twice = [...fleet.readings].filter(([, n]) => n > 1).map(([v]) => v);
  const missingAlarms = [...ledger.alarms].filter((v) => !fleet.alarms.has(v));
  twice.push(...[...fleet.alarms].filter(([, n]) => n > 1).map(([v]) => -v));
  return {
    missing: missing.slice(0, 20),
    twice: twice.slice(0, 20),
    missingAlarms: missingAlarms.slice(0, 20),
  };
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

const accepting = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

/**
 * Mosquitto from Debian as a separate process, with persistence (so a restart keeps the fleet's
 * queued messages) and no queue limit. `user root`: it would otherwise drop to user mosquitto and
 * fail to write its persistence file in our temp dir (docs: FIELD-NOTES).
 */
export class Mosquitto {
  private proc: ChildProcess | undefined;
  log = '';
  constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    writeFileSync(
      join(dir, 'mosquitto.conf'),
      [
        `listener ${port} 127.0.0.1`,
        'allow_anonymous true',
        'user root',
        'persistence true',
        `persistence_location ${dir}/`,
        'max_queued_messages 0',
        'max_inflight_messages 0',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
      ].join('\n') + '\n',
    );
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** The running broker's process id (benchmarks read its CPU time from /proc). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<void> {
    const proc = spawn('mosquitto', ['-c', join(this.dir, 'mosquitto.conf')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    const failed = new Promise<never>((_, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${this.log}`)));
    });
    this.proc = proc;
    await Promise.race([waitFor('mosquitto listening', () => accepting(this.port), 10_000), failed]);
    failed.catch(() => undefined);
  }

  /** SIGTERM: Mosquitto writes its persistence file on the way out. */
  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => proc.once('exit', () => r()));
    proc.kill('SIGTERM');
    await exited;
  }
}
