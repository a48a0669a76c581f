/**
 * Bench child: the gateway side of the end-to-end measurement in its own process, as in the field
 * (a gateway is another machine), so it does not share the fleet's JavaScript thread. Either our
 * Uplink draining an already filled outbox, or a raw mqtt.js QoS 1 publisher of the same payloads.
 * Protocol (IPC): prepare → `ready`; `go` → runs → `done` with its own seconds and CPU seconds; exits.
 */
import mqtt from 'mqtt';
import { realClock } from '../../common/clock.js';
import { createLogger } from '../../common/log.js';
import { Outbox } from '../../edge/src/outbox.js';
import { Uplink } from '../../edge/src/uplink.js';
import { BATCH, rawPayloads } from './payloads.js';

export type PeerCommand =
  | { cmd: 'uplink'; outbox: string; url: string; gw: string; rows: number }
  | { cmd: 'raw'; url: string; gw: string; rows: number; topic: string }
  | { cmd: 'go' };

const send = (m: unknown) => process.send!(m);
const log = createLogger({ level: 'error' });

async function uplink(c: Extract<PeerCommand, { cmd: 'uplink' }>): Promise<() => Promise<void>> {
  const o = await Outbox.open(c.outbox);
  let acked = 0;
  let drained!: () => void;
  const done = new Promise<void>((resolve) => (drained = resolve));
  const up = new Uplink(
    {
      gatewayId: c.gw,
      mqttUrl: c.url,
      version: 'bench',
      backlogRowsPerSec: Infinity,
      batchSize: BATCH,
      onAck: (a) => (acked += a.count) >= c.rows && drained(),
    },
    o,
    realClock,
    log,
  );
  return async () => {
    up.start();
    await done;
    await up.stop();
    await o.close();
  };
}

async function raw(c: Extract<PeerCommand, { cmd: 'raw' }>): Promise<() => Promise<void>> {
  const payloads = rawPayloads(c.gw, c.rows);
  return async () => {
    const m = await mqtt.connectAsync(c.url, { clientId: c.gw, protocolVersion: 4, reconnectPeriod: 0 });
    await Promise.all(payloads.map((p) => m.publishAsync(c.topic, p, { qos: 1 })));
    await m.endAsync();
  };
}

let run: (() => Promise<void>) | undefined;
process.on('message', (m: PeerCommand) => {
  void (async () => {
    try {
      if (m.cmd === 'go') {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        await run!();
        const cpu = process.cpuUsage(cpu0);
        send({ done: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
        process.exit(0);
      }
      run = m.cmd === 'uplink' ? await uplink(m) : await raw(m);
      send({ ready: true });
    } catch (err) {
      send({ error: (err as Error).message });
      process.exit(1);
    }
  })();
});
