/**
 * The broker pass-through baseline for bench/scale.ts: the same shared subscription a fleet worker
 * uses, over the same number of connections, but each message acknowledged as soon as it arrives
 * (no decode, no store). Prints `R` when subscribed and `DONE <messages>` when `EXPECT` arrived.
 */
import mqtt from 'mqtt';
import { topics } from '../../common/contract/index.js';

const url = process.env.BROKER_URL!;
const expect = Number(process.env.EXPECT);
const connections = Number(process.env.CONNECTIONS ?? 4);
const group = process.env.GROUP ?? 'raw';
let got = 0;
await Promise.all(
  Array.from({ length: connections }, async (_, i) => {
    const c = await mqtt.connectAsync(url, {
      clientId: `raw-${group}-${i}`,
      clean: true,
      protocolVersion: 4,
    });
    c.handleMessage = (_packet, done) => {
      if (++got === expect) process.stdout.write(`DONE ${got}\n`);
      done();
    };
    await c.subscribeAsync(
      topics.fleetSubscriptions.map((t) => `$share/${group}/${t}`),
      { qos: 1 },
    );
  }),
);
process.stdout.write('R\n');
