import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { PROTOCOL_VERSION, topics, type TelemetryBatch } from '../../../common/contract/index.js';
import { waitFor } from '../../helpers.js';
import { freePort } from '../../helpers/postgres.js';

const CLI = new URL('../../../cli/main.ts', import.meta.url).pathname;

export interface Worker {
  readonly id: string;
  readonly httpUrl: string;
  readonly proc: ChildProcess;
  log(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** One fleet worker as its own process: `citygate fleet --broker … --store postgres://… --share GROUP`. */
export async function startWorker(o: {
  id: string;
  brokerUrl: string;
  storeUrl: string;
  group?: string;
  connections?: number;
  leaseMs?: number;
  /** Trusted release-signing key (PEM), put in the worker's <data>/keys/releases. */
  releaseKeyPem?: string;
  /** Security enforced (no `--insecure`); Mosquitto's files kept in `mosquittoDir` if given. */
  secure?: { mosquittoDir?: string };
}): Promise<Worker> {
  const dir = mkdtempSync(join(tmpdir(), `citygate-${o.id}-`));
  if (o.releaseKeyPem) {
    mkdirSync(join(dir, 'keys', 'releases'), { recursive: true });
    writeFileSync(join(dir, 'keys', 'releases', 'test.pem'), o.releaseKeyPem);
  }
  const port = await freePort();
  const args = [
    '--import',
    'tsx',
    CLI,
    'fleet',
    ...(o.secure ? [] : ['--insecure']),
    ...(o.secure?.mosquittoDir ? ['--mosquitto-dir', o.secure.mosquittoDir] : []),
    '--data',
    dir,
    '--http-port',
    String(port),
    '--broker',
    o.brokerUrl,
    '--store',
    o.storeUrl,
    '--share',
    o.group ?? 'fleet',
    '--worker-id',
    o.id,
    '--ingest-connections',
    String(o.connections ?? 4),
    '--lease-ms',
    String(o.leaseMs ?? 1500),
    '--log-level',
    'info',
  ];
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-20_000)));
  const httpUrl = `http://127.0.0.1:${port}`;
  await waitFor(
    `worker ${o.id} serving HTTP`,
    async () => {
      if (proc.exitCode !== null) throw new Error(`worker ${o.id} exited (${proc.exitCode}): ${log}`);
      return (await fetch(`${httpUrl}/api/v1/health`)).ok;
    },
    30_000,
    100,
  );
  return {
    id: o.id,
    httpUrl,
    proc,
    log: () => log,
    async kill(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill(signal);
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const gatewayId = (i: number): string => `gw-${String(i).padStart(4, '0')}`;

export function batch(gateway: string, seq: number, perMessage: number, ts: number): TelemetryBatch {
  return {
    v: PROTOCOL_VERSION,
    gateway,
    epoch: '00000000000000aa',
    session: 1,
    seq,
    sentAt: ts,
    readings: Array.from({ length: perMessage }, (_, k) => ({
      id: (seq - 1) * perMessage + k + 1,
      device: `light-${k % 4}`,
      point: 'power',
      value: k,
      unit: 'W',
      ts: ts + k,
    })),
  };
}

/**
 * Simulated gateways: each its own MQTT connection publishing `messages` telemetry messages of
 * `perMessage` readings, QoS 1, one in flight per gateway like the real uplink keeps order.
 * `onProgress` sees the count of messages the broker has acknowledged so far.
 */
export async function burst(o: {
  brokerUrl: string;
  gateways: number;
  messages: number;
  perMessage: number;
  onProgress?: (acked: number) => void;
}): Promise<{ messages: number; readings: number; ms: number }> {
  const clients = await Promise.all(
    Array.from({ length: o.gateways }, (_, i) =>
      mqtt.connectAsync(o.brokerUrl, { clientId: gatewayId(i), protocolVersion: 4, reconnectPeriod: 0 }),
    ),
  );
  const t0 = performance.now();
  let acked = 0;
  const ts = Date.now() - 60_000;
  await Promise.all(
    clients.map(async (c, i) => {
      for (let seq = 1; seq <= o.messages; seq++) {
        const b = batch(gatewayId(i), seq, o.perMessage, ts + seq * 100);
        await c.publishAsync(topics.telemetry(gatewayId(i)), JSON.stringify(b), { qos: 1 });
        o.onProgress?.(++acked);
      }
    }),
  );
  const ms = performance.now() - t0;
  await Promise.all(clients.map((c) => c.endAsync()));
  return { messages: o.gateways * o.messages, readings: o.gateways * o.messages * o.perMessage, ms };
}
