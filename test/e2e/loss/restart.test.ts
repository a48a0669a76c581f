import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { Db } from '../../../common/sqlite.js';
import { tempDir, waitFor } from '../../helpers.js';
import { exactlyOnce, fleetCounts, freePort, Mosquitto } from './harness.js';
import { InProcessEdge } from './in-process-edge.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const FLEET = new URL('./fleet-proc.ts', import.meta.url).pathname;

/** The fleet in its own process: started, and killed with SIGKILL. */
async function fleetProcess(env: Record<string, string>) {
  const proc = spawn(process.execPath, ['--import', 'tsx', FLEET], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  proc.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  await waitFor('fleet process ready', () => {
    if (proc.exitCode !== null) throw new Error(`fleet exited: ${err}`);
    return out.includes('R\n');
  });
  return {
    async kill() {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}

async function assertAllStored(fleetDb: string, edge: InProcessEdge, gw: string): Promise<void> {
  const counts = await waitFor(
    'everything at the fleet',
    async () => {
      const c = await fleetCounts(fleetDb, gw);
      const r = exactlyOnce(edge.ledger, c);
      return r.missing.length === 0 && r.missingAlarms.length === 0 ? c : undefined;
    },
    15_000,
  ).catch(async () => fleetCounts(fleetDb, gw));
  expect(exactlyOnce(edge.ledger, counts)).toEqual({ missing: [], twice: [], missingAlarms: [] });
  const db = await Db.open(fleetDb);
  const gaps = await db.all(
    'SELECT * FROM sessions WHERE gateway = ? AND MAX(max_seq, declared_seq) > received',
    [gw],
  );
  await db.close();
  expect(gaps).toEqual([]);
}

describe('restarts mid-ingest', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('Mosquitto restarted while a gateway publishes: nothing lost, nothing twice', async () => {
    const dir = tempDir('citygate-broker-restart-');
    cleanups.push(dir.cleanup);
    const mosq = new Mosquitto(dir.path, await freePort());
    await mosq.start();
    cleanups.push(() => mosq.stop());
    const fleet = await fleetProcess({ DATA: join(dir.path, 'fleet'), EXTERNAL: mosq.url });
    cleanups.push(() => fleet.kill());
    const edge = await InProcessEdge.start({ dir: dir.path, gw: 'gw-br', url: mosq.url });
    cleanups.push(() => edge.stop());
    edge.produce(20, 5, 10);
    await sleep(400);
    await mosq.stop();
    await waitFor('uplink offline', () => edge.uplink.state !== 'online');
    await sleep(400);
    await mosq.start();
    await sleep(400);
    await edge.stopProducing();
    await edge.drained();
    expect(edge.ledger.readings.size).toBeGreaterThan(1000);
    await assertAllStored(join(dir.path, 'fleet', 'fleet.db'), edge, 'gw-br');
  }, 30_000);

  it.each(['aedes', 'mosquitto'] as const)(
    'fleet killed with SIGKILL mid-ingest and restarted (%s): nothing lost, nothing twice',
    async (broker) => {
      const dir = tempDir(`citygate-fleet-restart-${broker}-`);
      cleanups.push(dir.cleanup);
      const port = await freePort();
      let env: Record<string, string> = { DATA: join(dir.path, 'fleet'), MQTT_PORT: String(port) };
      let url = `mqtt://127.0.0.1:${port}`;
      if (broker === 'mosquitto') {
        const mosq = new Mosquitto(dir.path, port);
        await mosq.start();
        cleanups.push(() => mosq.stop());
        env = { DATA: join(dir.path, 'fleet'), EXTERNAL: mosq.url };
        url = mosq.url;
      }
      let fleet = await fleetProcess(env);
      const edge = await InProcessEdge.start({ dir: dir.path, gw: 'gw-fr', url });
      cleanups.push(() => edge.stop());
      edge.produce(20, 5, 10);
      for (let i = 0; i < 3; i++) {
        await sleep(300 + i * 100);
        await fleet.kill(); // in the middle of storing batches
        await sleep(200);
        fleet = await fleetProcess(env);
      }
      cleanups.push(() => fleet.kill());
      await sleep(300);
      await edge.stopProducing();
      await edge.drained();
      expect(edge.ledger.readings.size).toBeGreaterThan(1000);
      await assertAllStored(join(dir.path, 'fleet', 'fleet.db'), edge, 'gw-fr');
    },
    30_000,
  );
});
