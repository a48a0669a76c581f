/**
 * A small edge process for the loss tests: the real Outbox + Uplink, synthetic readings in bursts.
 * Prints one line per fact on stdout (a pipe: synchronous on Linux, so a printed line was true
 * before any kill): `I <integrity_check>`, `R` (running), `C <from> <to>` (readings with values
 * from..to committed), `A <n>` (alarm n committed), `E` (drain mode: outbox empty).
 *
 * env: DB, URL, GW, RUN (values are RUN*1e6 + i), MODE (produce | drain), BURST (rows), ALARM_EVERY.
 */
import { realClock } from '../../../common/clock.js';
import { createLogger } from '../../../common/log.js';
import { Db } from '../../../common/sqlite.js';
import { Outbox } from '../../../edge/src/outbox.js';
import { Uplink } from '../../../edge/src/uplink.js';

const env = (k: string, d?: string): string => {
  const v = process.env[k] ?? d;
  if (v === undefined) throw new Error(`${k} not set`);
  return v;
};
const say = (line: string): void => void process.stdout.write(line + '\n');

const dbPath = env('DB');
const check = await Db.open(dbPath);
const ic = await check.get<{ integrity_check: string }>('PRAGMA integrity_check');
await check.close();
say(`I ${ic?.integrity_check ?? 'none'}`);

const log = createLogger({ level: (process.env.LOG_LEVEL as 'warn' | undefined) ?? 'error' });
const outbox = await Outbox.open(dbPath, { log });
const uplink = new Uplink(
  {
    gatewayId: env('GW'),
    mqttUrl: env('URL'),
    version: 'test',
    minRetryMs: 50,
    maxRetryMs: 200,
    batchSize: Number(env('BATCH', '200')),
    backlogRowsPerSec: Infinity,
  },
  outbox,
  realClock,
  log,
);
uplink.start();
say('R');

const run = Number(env('RUN', '1'));
const burst = Number(env('BURST', '100'));
const alarmEvery = Number(env('ALARM_EVERY', '5'));
let next = 0;
let bursts = 0;

async function produce(): Promise<void> {
  for (;;) {
    const from = run * 1_000_000 + next;
    const rows = Array.from({ length: burst }, (_, i) => ({
      device: 'meter-1',
      point: `p${i % 4}`,
      value: from + i,
      ts: Date.now(),
    }));
    next += burst;
    await outbox.putReadings(rows);
    say(`C ${from} ${from + burst - 1}`);
    if (++bursts % alarmEvery === 0) {
      const n = run * 1_000_000 + bursts;
      await outbox.put('alarms', [
        {
          body: { alarm: 'burst', key: `burst:${n}`, severity: 'minor', state: 'raised', message: String(n) },
          ts: Date.now(),
        },
      ]);
      say(`A ${n}`);
    }
    uplink.notify();
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function drain(): Promise<void> {
  for (;;) {
    if ((await outbox.depth()) === 0 && uplink.state === 'online') {
      say('E');
      await uplink.stop();
      await outbox.close();
      process.exit(0);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

await (env('MODE', 'produce') === 'drain' ? drain() : produce());
