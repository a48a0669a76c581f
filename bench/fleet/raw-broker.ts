/** Bench child: a bare aedes (no auth, no ACL, no storage) plus a subscriber and a publisher: the baseline. */
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createServer } from 'node:net';

const send = (m: unknown) => process.send!(m);

void (async () => {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const url = `mqtt://127.0.0.1:${port}`;
  const sub = await mqtt.connectAsync(url, { clientId: 'raw-sub', reconnectPeriod: 0 });
  let telemetry = 0;
  let readings = 0;
  sub.on('message', (_t, p) => {
    telemetry++;
    readings += (JSON.parse(p.toString()) as { readings: unknown[] }).readings.length;
  });
  await sub.subscribeAsync('citygate/v1/+/telemetry', { qos: 1 });
  const pub = await mqtt.connectAsync(url, { clientId: 'raw-pub', reconnectPeriod: 0 });
  send({ ready: true, url });
  process.on('message', (m: { cmd: string; ids?: string[]; payload?: string }) => {
    if (m.cmd === 'push')
      void Promise.all(
        m.ids!.map((id) =>
          pub.publishAsync(`citygate/v1/${id}/config/desired`, m.payload!, { qos: 1, retain: true }),
        ),
      );
    if (m.cmd === 'stats') send({ telemetry, readings });
    if (m.cmd === 'stop') process.exit(0);
  });
})();
