/**
 * Flow sets on both engines: the service suite (flow-set-suite.ts) on fleet.db and on a real
 * PostgreSQL, then two "workers" (two pools) on one PostgreSQL: concurrent publishes get distinct
 * consecutive versions, a set published by one is served by the other, and concurrent deploys and a
 * start-up re-send leave the broker retaining exactly the stored assignment.
 */
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createServer, type Server } from 'node:net';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { generateConfigKey } from '../../../common/config-signature.js';
import type { FlowsDesired } from '../../../common/contract/index.js';
import { ed25519Signer } from '../../../common/flow-set.js';
import { createLogger } from '../../../common/log.js';
import { FlowSetDb } from '../../../fleet/src/flows/flow-set-db.js';
import { buildFlowSet } from '../../../fleet/src/flows/flow-sets.js';
import { startFlowSets, type FlowSets } from '../../../fleet/src/flows/service.js';
import { flowSigningKey } from '../../../fleet/src/flows/signing-key.js';
import { PgSqlDb } from '../../../fleet/src/pg/sql-db.js';
import { PgFleetStore } from '../../../fleet/src/pg/store.js';
import { tempDir, waitFor } from '../../helpers.js';
import { startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { flows, flowSetServiceSuite } from './flow-set-suite.js';

let cluster: PostgresCluster;
let n = 0;
beforeAll(async () => {
  cluster = await startPostgres();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

/** Two workers' pools on one fresh database (the tables come from the numbered migrations). */
async function twoPools(): Promise<{ a: PgSqlDb; b: PgSqlDb; close(): Promise<void> }> {
  const url = await cluster.createDatabase(`flows_${++n}`);
  const [sa, sb] = await Promise.all([PgFleetStore.open(url, Date.now()), PgFleetStore.open(url, Date.now())]);
  return {
    a: new PgSqlDb(sa.pool),
    b: new PgSqlDb(sb.pool),
    close: async () => void (await Promise.all([sa.close(), sb.close()])),
  };
}

flowSetServiceSuite('SQLite', () => {
  const dir = tempDir('citygate-flowsvc-');
  return Promise.resolve({ db: join(dir.path, 'fleet.db'), close: () => Promise.resolve(dir.cleanup()) });
});

flowSetServiceSuite('PostgreSQL', async () => {
  const url = await cluster.createDatabase(`flows_${++n}`);
  const store = await PgFleetStore.open(url, Date.now());
  return { db: new PgSqlDb(store.pool), close: () => store.close() };
});

describe('flow sets shared by two workers on one PostgreSQL', () => {
  const clock = new FakeClock(Date.UTC(2026, 5, 1));
  const key = generateConfigKey();
  const known = new Set(['tab', 'inject', 'debug']);
  const gateways = [{ id: 'gw-1' }, { id: 'gw-2' }];
  let pools: Awaited<ReturnType<typeof twoPools>>;
  let broker: Aedes;
  let server: Server;
  let url = '';
  const services: FlowSets[] = [];
  let slowA = false;
  const start = (db: PgSqlDb, id: string) =>
    startFlowSets({
      db,
      signingKey: key,
      knownTypes: known,
      mqtt: { url, clientId: `fleet-flows-${id}` },
      directory: () => Promise.resolve(gateways),
      clock,
      log: createLogger({ level: 'silent' }),
    }).then((s) => (services.push(s), s));
  /** What a gateway that connects now is told: the broker's retained flows/desired. */
  const retained = async (gw: string): Promise<FlowsDesired> => {
    const c = await mqtt.connectAsync(url, { clientId: `late-${gw}-${++n}`, reconnectPeriod: 0 });
    try {
      const got = new Promise<Buffer>((r) => c.on('message', (_t, p) => r(p)));
      await c.subscribeAsync(`citygate/v1/${gw}/flows/desired`, { qos: 1 });
      return JSON.parse((await got).toString()) as FlowsDesired;
    } finally {
      await c.endAsync();
    }
  };

  beforeAll(async () => {
    pools = await twoPools();
    broker = await Aedes.createBroker();
    // A slow broker for worker A's flows/desired when a test asks for it (the race below).
    broker.authorizePublish = (client, packet, done) =>
      slowA && client?.id === 'fleet-flows-a' ? setTimeout(() => done(null), 300) : done(null);
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    for (const s of services) await s.stop().catch(() => undefined);
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => broker.close(() => r()));
    await pools?.close();
  });

  it('10 publishes at once through two FlowSetDb instances get versions 1…10, each stored once', async () => {
    const [da, db] = await Promise.all([FlowSetDb.open(pools.a), FlowSetDb.open(pools.b)]);
    const signer = ed25519Signer(key.privateKeyPem);
    const sets = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        (i % 2 ? db : da).insertNext('race', 'api', (v) =>
          buildFlowSet('race', v, flows(String(i)), known, signer, clock.now()),
        ),
      ),
    );
    const expected = Array.from({ length: 10 }, (_, i) => i + 1);
    expect(sets.map((s) => s.version).sort((x, y) => x - y)).toEqual(expected);
    // Each version holds the flows of the publish that got it, seen alike by both.
    for (const s of sets) expect((await db.get('race', s.version))?.flowsHash).toBe(s.flowsHash);
    expect((await da.list()).map((v) => v.version)).toEqual(expected);
    // Shared connections: closing a FlowSetDb leaves the pool to its owner.
    await Promise.all([da.close(), db.close()]);
    expect((await pools.a.get<{ n: number }>('SELECT 1 AS n'))?.n).toBe(1);
  });

  it('a set published on A is served by B; concurrent deploys and a start leave the stored one retained', async () => {
    const a = await start(pools.a, 'a');
    const b = await start(pools.b, 'b');
    const v1 = await a.publish('lighting', flows('35'));
    expect(await b.get('lighting', 1)).toEqual(v1);
    expect((await b.versions()).find((v) => v.name === 'lighting')).toMatchObject({ version: 1, source: 'api' });
    for (let i = 2; i <= 4; i++) await (i % 2 ? a : b).publish('lighting', flows(String(i)));

    // Deploys of different versions through both workers at once, while a third starts (re-sending).
    const [c] = await Promise.all([
      start(pools.a, 'c'),
      ...[1, 2, 3, 4, 3, 2].map((v, i) => (i % 2 ? a : b).deploy({ gateway: 'gw-1' }, 'lighting', v)),
    ]);
    const [assigned] = await c!.status('gw-1');
    const told = await retained('gw-1');
    expect(told.set.version).toBe(assigned!.assigned!.version);
    expect(told.set).toEqual(await a.get('lighting', assigned!.assigned!.version));
  });

  it('a deploy through B waits for A\'s deploy to be sent, so the broker never retains an older assignment', async () => {
    const [a, b] = services;
    slowA = true;
    try {
      const first = a!.deploy({ gateway: 'gw-2' }, 'lighting', 2);
      // B deploys as soon as A's assignment is visible (with the lock: once A's set is at the broker).
      await waitFor('A assigned v2', async () => (await b!.status('gw-2'))[0]?.assigned?.version === 2, 10_000);
      await b!.deploy({ gateway: 'gw-2' }, 'lighting', 3);
      await first;
    } finally {
      slowA = false;
    }
    expect((await a!.status('gw-2'))[0]?.assigned?.version).toBe(3);
    expect((await retained('gw-2')).set.version).toBe(3);
  });

  it('workers starting together on one database sign with one key (also with open security)', async () => {
    const dir = tempDir('citygate-flowkey-');
    try {
      const [ka, kb] = await Promise.all(
        ['wa', 'wb'].map((w, i) => flowSigningKey(join(dir.path, w), i ? pools.b : pools.a, clock.now())),
      );
      expect(kb!.publicKeyPem).toBe(ka!.publicKeyPem);
      expect(statSync(join(dir.path, 'wb', 'keys', 'config-signing.key')).mode & 0o777).toBe(0o600);
      // A worker started later takes the stored key rather than making its own.
      expect((await flowSigningKey(join(dir.path, 'wc'), pools.b, clock.now())).privateKeyPem).toBe(ka!.privateKeyPem);
    } finally {
      dir.cleanup();
    }
  });
});
