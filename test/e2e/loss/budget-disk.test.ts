import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Link } from '../../../cli/demo/link.js';
import { memoryLogger } from '../../../common/log.js';
import { Db } from '../../../common/sqlite.js';
import { startFleet, type Fleet } from '../../../fleet/src/main.js';
import { tempDir, waitFor } from '../../helpers.js';
import { fleetCounts, freePort, Mosquitto } from './harness.js';
import { InProcessEdge } from './in-process-edge.js';

describe.each(['aedes', 'mosquitto'] as const)('outbox budget and a full disk (%s)', (broker) => {
  const dir = tempDir(`citygate-budget-${broker}-`);
  let mosquitto: Mosquitto | undefined;
  let fleet: Fleet;
  let link: Link;

  beforeAll(async () => {
    let external: { url: string } | undefined;
    if (broker === 'mosquitto') {
      mosquitto = new Mosquitto(dir.path, await freePort());
      await mosquitto.start();
      external = { url: mosquitto.url };
    }
    fleet = await startFleet({
      dataDir: join(dir.path, 'fleet'),
      httpPort: 0,
      mqttPort: 0,
      externalBroker: external,
      security: 'open',
      log: memoryLogger('warn'),
    });
    const target = new URL(external?.url ?? fleet.mqttUrl);
    link = new Link('127.0.0.1', Number(target.port));
    await link.listen();
  });

  afterAll(async () => {
    await link?.close();
    await fleet?.stop();
    await mosquitto?.stop();
    dir.cleanup();
  });

  it('over budget while offline: alarms all survive, evictions are counted and shown by the fleet API', async () => {
    link.cut();
    const edge = await InProcessEdge.start({
      dir: dir.path,
      gw: 'gw-budget',
      url: `mqtt://127.0.0.1:${link.port}`,
      budget: { telemetry: 60_000, total: 200_000 },
    });
    try {
      for (let i = 0; i < 40; i++) {
        await edge.putReadings(100);
        if (i % 2 === 0) await edge.putAlarm();
      }
      const h = await edge.outbox.health();
      expect(h.evicted.telemetry).toBeGreaterThan(1000);
      expect(h.classes.telemetry.bytes).toBeLessThanOrEqual(60_000);
      expect(h.classes.alarm.depth).toBe(20);
      link.heal();
      await edge.drained();
      const counts = await waitFor('alarms at the fleet', async () => {
        const c = await fleetCounts(join(dir.path, 'fleet', 'fleet.db'), 'gw-budget');
        return c.alarms.size === 20 ? c : undefined;
      });
      expect([...counts.alarms.keys()].sort((a, b) => a - b)).toEqual([...edge.ledger.alarms]);
      expect(counts.readings.size).toBe(4000 - h.evicted.telemetry);
      const res = await fetch(`${fleet.httpUrl}/api/v1/gateways/gw-budget`);
      const body = (await res.json()) as { evicted: { telemetry: number }; missingMessages: number };
      expect(body.evicted.telemetry).toBe(h.evicted.telemetry);
      expect(body.missingMessages).toBe(0);
    } finally {
      await edge.stop();
    }
  }, 20_000);

  it('a full filesystem (tmpfs): no crash, alarms kept, recovery when space returns', async () => {
    const mnt = join(dir.path, 'small-disk');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      // Leave ~160 KB for the outbox (its WAL and database together).
      const filler = join(mnt, 'filler');
      const free = () => Number(execFileSync('df', ['-B1', '--output=avail', mnt]).toString().split('\n')[1]);
      link.cut();
      const edge = await InProcessEdge.start({
        dir: mnt,
        gw: 'gw-full',
        url: `mqtt://127.0.0.1:${link.port}`,
      });
      try {
        writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 160 * 1024)));
        let refused = 0;
        for (let i = 0; i < 60; i++) {
          await edge.putReadings(100).catch(() => refused++);
          if (i % 3 === 0) await edge.putAlarm();
        }
        const h = await edge.outbox.health();
        expect(h.evicted.telemetry + refused * 100).toBeGreaterThan(0);
        expect(h.classes.alarm.depth + h.heldInMemory).toBe(20);
        rmSync(filler); // space returns
        await edge.putReadings(100);
        await waitFor('held alarms on disk', async () => (await edge.outbox.health()).heldInMemory === 0);
        link.heal();
        await edge.drained();
        const counts = await waitFor('alarms at the fleet', async () => {
          const c = await fleetCounts(join(dir.path, 'fleet', 'fleet.db'), 'gw-full');
          return c.alarms.size === 20 ? c : undefined;
        });
        expect([...counts.alarms.values()].every((n) => n === 1)).toBe(true);
        // What could not be kept is reported: every reading produced (61 puts of 100) either reached
        // the fleet or is counted as evicted (thinned, dropped, or refused while the disk was full).
        // Refused puts are reported once a later write fits, which may already be the case at `h`.
        const after = await edge.outbox.health();
        expect(after.evicted.telemetry).toBeGreaterThanOrEqual(refused * 100);
        expect(after.evicted.telemetry).toBeGreaterThanOrEqual(h.evicted.telemetry);
        await waitFor('every kept reading at the fleet', async () => {
          const c = await fleetCounts(join(dir.path, 'fleet', 'fleet.db'), 'gw-full');
          return c.readings.size === 61 * 100 - after.evicted.telemetry;
        });
        await waitFor('drops reported to the fleet', async () => {
          const gw = await fleet.store.getGateway('gw-full');
          return gw?.evicted.telemetry === after.evicted.telemetry;
        });
        expect(edge.log.lines.join('\n')).toMatch(/disk full/);
      } finally {
        await edge.stop();
      }
      const db = await Db.open(join(mnt, 'gw-full.db'));
      expect(await db.get('PRAGMA integrity_check')).toEqual({ integrity_check: 'ok' });
      await db.close();
    } finally {
      execFileSync('umount', [mnt]);
    }
  }, 20_000);
});
