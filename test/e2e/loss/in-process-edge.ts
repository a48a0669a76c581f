import { join } from 'node:path';
import { realClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { Outbox, type OutboxBudget } from '../../../edge/src/outbox.js';
import { Uplink, type UplinkAck } from '../../../edge/src/uplink.js';
import { waitFor } from '../../helpers.js';
import { Ledger } from './harness.js';

/** The real Outbox + Uplink in the test process, producing readings and alarms on a timer. */
export class InProcessEdge {
  readonly ledger = new Ledger();
  readonly acks: UplinkAck[] = [];
  readonly log = memoryLogger('warn');
  private timer: NodeJS.Timeout | undefined;
  private next = 1;
  private alarmNo = 1;
  private pending: Promise<void> = Promise.resolve();
  private constructor(
    readonly outbox: Outbox,
    readonly uplink: Uplink,
  ) {}

  static async start(o: {
    dir: string;
    gw: string;
    url: string;
    backlogRowsPerSec?: number;
    budget?: OutboxBudget;
    batchSize?: number;
  }): Promise<InProcessEdge> {
    const log = memoryLogger('warn');
    const outbox = await Outbox.open(join(o.dir, `${o.gw}.db`), { budget: o.budget, log });
    const acks: UplinkAck[] = [];
    const uplink = new Uplink(
      {
        gatewayId: o.gw,
        mqttUrl: o.url,
        version: 'test',
        minRetryMs: 50,
        maxRetryMs: 200,
        batchSize: o.batchSize ?? 100,
        backlogRowsPerSec: o.backlogRowsPerSec ?? Infinity,
        onAck: (a) => acks.push(a),
      },
      outbox,
      realClock,
      log,
    );
    const edge = new InProcessEdge(outbox, uplink);
    (edge as { acks: UplinkAck[] }).acks = acks;
    (edge as { log: typeof log }).log = log;
    uplink.start();
    return edge;
  }

  /** Put `n` readings (values 1, 2, 3… across calls) and remember them once committed. */
  putReadings(n: number): Promise<void> {
    const from = this.next;
    this.next += n;
    const rows = Array.from({ length: n }, (_, i) => ({
      device: 'meter-1',
      point: `p${i % 3}`,
      value: from + i,
      ts: Date.now(),
    }));
    const p = this.outbox.putReadings(rows).then(() => {
      for (let v = from; v < from + n; v++) this.ledger.readings.add(v);
      this.uplink.notify();
    });
    this.pending = this.pending.then(() => p.catch(() => undefined));
    return p;
  }

  putAlarm(): Promise<number> {
    const n = this.alarmNo++;
    const p = this.outbox
      .put('alarms', [
        {
          body: { alarm: 'level', key: `level:${n}`, severity: 'major', state: 'raised', message: String(n) },
          ts: Date.now(),
        },
      ])
      .then(() => {
        this.ledger.alarms.add(n);
        this.uplink.notify();
        return n;
      });
    this.pending = this.pending.then(() =>
      p.then(
        () => undefined,
        () => undefined,
      ),
    );
    return p;
  }

  /** Produce `rows` readings every `everyMs`, and an alarm every `alarmEvery` ticks. */
  produce(rows: number, everyMs: number, alarmEvery = 10): void {
    let tick = 0;
    this.timer = setInterval(() => {
      void this.putReadings(rows);
      if (++tick % alarmEvery === 0) void this.putAlarm();
    }, everyMs);
  }

  async stopProducing(): Promise<void> {
    clearInterval(this.timer);
    await this.pending;
  }

  async drained(timeoutMs = 15_000): Promise<void> {
    await waitFor('outbox drained', async () => (await this.outbox.depth()) === 0, timeoutMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.uplink.stop();
    await this.outbox.close();
  }
}
