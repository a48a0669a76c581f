/**
 * Bench child: the gateway side of the end-to-end measurement in its own process, as in the field
 * (a gateway is another machine), so it does not share the fleet's JavaScript thread. Either our
 * Uplink draining an already filled outbox, or a raw mqtt.js QoS 1 publisher of the same payloads.
 * Before `ready` it sends WARM_UP readings the same way (another gateway id or topic), so the
 * measurement runs warm code. Protocol (IPC): prepare → `ready`; `go` → runs → `done` with its own
 * seconds and CPU seconds; exits.
 */
import mqtt from 'mqtt';
import { createLogger } from '../../common/log.js';
import { Outbox } from '../../edge/src/outbox.js';
import { drainOutbox } from './drain.js';
import { BATCH, rawPayloads, readings, WARM_UP } from './payloads.js';

export type PeerCommand =
  | { cmd: 'uplink'; outbox: string; url: string; gw: string; rows: number }
  | { cmd: 'raw'; url: string; gw: string; rows: number; topic: string }
  | { cmd: 'go' };

const send = (m: unknown) => process.send!(m);
const log = createLogger({ level: 'error' });

async function uplink(c: Extract<PeerCommand, { cmd: 'uplink' }>): Promise<Run> {
  const warm = await Outbox.open(`${c.outbox}.warm`);
  for (let i = 0; i < WARM_UP; i += BATCH) await warm.putReadings(readings(i, BATCH));
  await (
    await drainOutbox(warm, c.url, `${c.gw}-warm`, WARM_UP, log)
  )();
  await warm.close();
  const o = await Outbox.open(c.outbox);
  return async () => {
    const stop = await drainOutbox(o, c.url, c.gw, c.rows, log);
    return async () => {
      await stop();
      await o.close();
    };
  };
}

async function raw(c: Extract<PeerCommand, { cmd: 'raw' }>): Promise<Run> {
  const warm = await mqtt.connectAsync(c.url, {
    clientId: `${c.gw}-warm`,
    protocolVersion: 4,
    reconnectPeriod: 0,
  });
  await Promise.all(
    rawPayloads(`${c.gw}-warm`, WARM_UP).map((p) => warm.publishAsync(`${c.topic}-warm`, p, { qos: 1 })),
  );
  await warm.endAsync();
  const payloads = rawPayloads(c.gw, c.rows);
  return async () => {
    const m = await mqtt.connectAsync(c.url, { clientId: c.gw, protocolVersion: 4, reconnectPeriod: 0 });
    await Promise.all(payloads.map((p) => m.publishAsync(c.topic, p, { qos: 1 })));
    return () => m.endAsync();
  };
}

/** Runs until every message is acknowledged (what is measured); then the cleanup, not measured. */
type Run = () => Promise<() => Promise<void>>;

let run: Run | undefined;
process.on('message', (m: PeerCommand) => {
  void (async () => {
    try {
      if (m.cmd === 'go') {
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const cleanup = await run!();
        const cpu = process.cpuUsage(cpu0);
        send({ done: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 });
        await cleanup();
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
