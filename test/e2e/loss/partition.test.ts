import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Link } from '../../../cli/demo/link.js';
import { memoryLogger } from '../../../common/log.js';
import { startFleet, type Fleet } from '../../../fleet/src/main.js';
import { tempDir, waitFor } from '../../helpers.js';
import { exactlyOnce, fleetCounts, freePort, Mosquitto } from './harness.js';
import { InProcessEdge } from './in-process-edge.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ascending = (xs: number[]) => xs.every((x, i) => i === 0 || xs[i - 1]! <= x);

describe.each(['aedes', 'mosquitto'] as const)('partition of the uplink (%s)', (broker) => {
  const dir = tempDir(`citygate-partition-${broker}-`);
  let mosquitto: Mosquitto | undefined;
  let fleet: Fleet;
  let link: Link;
  let edge: InProcessEdge;

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
    edge = await InProcessEdge.start({
      dir: dir.path,
      gw: 'gw-part',
      url: `mqtt://127.0.0.1:${link.port}`,
      backlogRowsPerSec: 20_000,
    });
  });

  afterAll(async () => {
    await edge?.stop();
    await link?.close();
    await fleet?.stop();
    await mosquitto?.stop();
    dir.cleanup();
  });

  it('loses nothing across a cut link, keeps order within each class, sends live alarms before the backlog', async () => {
    await waitFor('uplink online', () => edge.uplink.state === 'online');
    edge.produce(20, 5, 10);
    await sleep(300);
    link.cut();
    await waitFor('uplink offline', () => edge.uplink.state !== 'online');
    const sessionDuringCut = edge.uplink.health().session;
    await sleep(1200); // devices keep producing into the outbox
    const backlog = (await edge.outbox.health()).classes;
    expect(backlog.telemetry.depth).toBeGreaterThan(2000);
    expect(backlog.alarm.depth).toBeGreaterThan(5);
    link.heal();
    const live = await edge.putAlarm(); // raised as the link heals
    await waitFor(
      'uplink back',
      () => edge.uplink.state === 'online' && edge.uplink.health().session > sessionDuringCut,
    );
    await sleep(300);
    await edge.stopProducing();
    await edge.drained();

    // Order of acknowledgements in the session after the heal.
    const healed = edge.acks.filter((a) => a.session === edge.uplink.health().session);
    const firstBacklog = healed.findIndex((a) => a.channel === 'telemetry' && a.backlog);
    // The alarms waiting at the heal (the partition's and the live one) all precede the backlog.
    const alarmRowsBeforeBacklog = healed
      .slice(0, firstBacklog)
      .filter((a) => a.channel === 'alarms')
      .reduce((n, a) => n + a.count, 0);
    expect(alarmRowsBeforeBacklog).toBeGreaterThanOrEqual(backlog.alarm.depth + 1);
    const ids = (f: (a: (typeof healed)[number]) => boolean) =>
      healed.filter(f).flatMap((a) => [a.first, a.last]);
    expect(ascending(ids((a) => a.channel === 'alarms'))).toBe(true);
    expect(ascending(ids((a) => a.channel === 'telemetry' && a.backlog))).toBe(true);
    expect(ascending(ids((a) => a.channel === 'telemetry' && !a.backlog))).toBe(true);

    // Nothing lost, nothing twice, at the fleet.
    const counts = await waitFor('all at the fleet', async () => {
      const c = await fleetCounts(join(dir.path, 'fleet', 'fleet.db'), 'gw-part');
      const r = exactlyOnce(edge.ledger, c);
      return r.missing.length === 0 && r.missingAlarms.length === 0 ? c : undefined;
    });
    expect(exactlyOnce(edge.ledger, counts)).toEqual({ missing: [], twice: [], missingAlarms: [] });
    expect(counts.alarms.has(live)).toBe(true);
    const gw = await fleet.store.getGateway('gw-part');
    expect(gw?.missingMessages).toBe(0);
    expect(gw?.evicted).toEqual({ telemetry: 0, events: 0 });
  }, 30_000);
});
