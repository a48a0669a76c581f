import { expect } from 'vitest';
import { join } from 'node:path';
import { memoryLogger } from '../../../common/log.js';
import { startFleet } from '../../../fleet/src/main.js';
import { tempDir } from '../../helpers.js';
import { drain, exactlyOnce, fleetCounts, killCycles, Ledger, Mosquitto, freePort, rng } from './harness.js';

/**
 * kill -9 of edge processes at random moments of their bursts, `lanes` gateways in parallel, then a
 * drain: every reading and alarm a process said it committed is stored at the fleet exactly once,
 * and the outbox passes `PRAGMA integrity_check` after every kill.
 */
export async function killEdgeScenario(
  broker: 'aedes' | 'mosquitto',
  cyclesPerLane: number,
  lanes = 2,
): Promise<{ readings: number; alarms: number; resent: number }> {
  const dir = tempDir(`citygate-kill-${broker}-`);
  const seed = Number(process.env.CITYGATE_SEED ?? Date.now() % 100_000);
  const log = memoryLogger('warn');
  let mosquitto: Mosquitto | undefined;
  try {
    let external: { url: string } | undefined;
    if (broker === 'mosquitto') {
      mosquitto = new Mosquitto(dir.path, await freePort());
      await mosquitto.start();
      external = { url: mosquitto.url };
    }
    const fleet = await startFleet({
      dataDir: join(dir.path, 'fleet'),
      httpPort: 0,
      mqttPort: 0,
      externalBroker: external,
      security: 'open',
      log,
    });
    try {
      const url = external?.url ?? fleet.mqttUrl;
      const gws = Array.from({ length: lanes }, (_, i) => `gw-kill-${i + 1}`);
      const ledgers = gws.map(() => new Ledger());
      const totals = { readings: 0, alarms: 0, resent: 0 };
      await Promise.all(
        gws.map((gw, i) =>
          killCycles({
            url,
            gw,
            db: join(dir.path, `${gw}.db`),
            cycles: cyclesPerLane,
            firstRun: 1,
            random: rng(seed + i),
            ledger: ledgers[i]!,
          }),
        ),
      );
      await Promise.all(gws.map((gw, i) => drain(url, gw, join(dir.path, `${gw}.db`), ledgers[i]!)));
      for (const [i, gw] of gws.entries()) {
        const ledger = ledgers[i]!;
        expect(ledger.integrity, `seed ${seed}`).toEqual(new Array(cyclesPerLane + 1).fill('ok'));
        expect(ledger.readings.size, 'the producers committed readings').toBeGreaterThan(cyclesPerLane * 50);
        expect(ledger.alarms.size).toBeGreaterThan(0);
        // The drain acknowledged everything; the fleet must have stored it before that ack
        // (aedes: store-before-PUBACK) or get it from the broker's queue (Mosquitto).
        const counts = await waitForAll(join(dir.path, 'fleet', 'fleet.db'), gw, ledger);
        expect(exactlyOnce(ledger, counts), `seed ${seed}`).toEqual({
          missing: [],
          twice: [],
          missingAlarms: [],
        });
        const rec = await fleet.store.getGateway(gw);
        expect(rec?.missingMessages).toBe(0);
        totals.readings += ledger.readings.size;
        totals.alarms += ledger.alarms.size;
        totals.resent += rec?.duplicates ?? 0;
      }
      expect(log.lines.filter((l) => /ERROR/.test(l))).toEqual([]);
      return totals;
    } finally {
      await fleet.stop();
    }
  } finally {
    await mosquitto?.stop();
    dir.cleanup();
  }
}

async function waitForAll(fleetDb: string, gw: string, ledger: Ledger) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const counts = await fleetCounts(fleetDb, gw);
    const r = exactlyOnce(ledger, counts);
    if ((r.missing.length === 0 && r.missingAlarms.length === 0) || Date.now() > deadline) return counts;
    await new Promise((res) => setTimeout(res, 50));
  }
}
