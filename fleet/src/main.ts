import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { realClock, type Clock } from '../../common/clock.js';
import { parseTopic } from '../../common/contract/index.js';
import { createLogger, type Logger } from '../../common/log.js';
import { packageVersion } from '../../common/package-root.js';
import { buildApi } from './api.js';
import { openAdmin, type FleetAdmin } from './admin.js';
import { RevokedGateways, takeOverSession } from './revocation.js';
import type { ScryptCost } from './provisioning/secret-hash.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import { IngestHandler, startIngest, type Ingest } from './ingest.js';
import { AlarmBoard } from './alarms.js';
import { listDirectory } from './directory.js';
import { startFlowSets, type FlowSets } from './flows/service.js';
import { gatewayNodeTypes } from './flows/node-types.js';
import { flowSigningKey } from './flows/signing-key.js';
import { startRollouts, type Rollouts } from './rollouts.js';
import { SiteStore } from './sites.js';
import { SqliteFleetStore, type FleetStore } from './store.js';
import { PgFleetStore } from './pg/store.js';
import { PgSqlDb } from './pg/sql-db.js';
import { startSharedIngest } from './pg/shared-ingest.js';
import { startSharedRollouts } from './pg/rollouts.js';

export interface FleetOptions {
  dataDir: string;
  host?: string;
  httpPort?: number;
  /** Port of the embedded broker (0 = any free port). */
  mqttPort?: number;
  /** Use this broker instead of the embedded one. */
  externalBroker?: { url: string; username?: string; password?: string };
  /**
   * 'enforced' (default): gateways need provisioned credentials, the API needs tokens with roles,
   * the embedded broker also listens with TLS. 'open': none of it (demo and local tests only).
   */
  security?: 'enforced' | 'open';
  /** TLS port of the embedded broker (0 = any free port; default 8883). */
  mqttTlsPort?: number;
  /** Names/addresses the broker's server certificate covers (default localhost, 127.0.0.1). */
  tlsHosts?: string[];
  /** The MQTT URL handed to gateways at provisioning (default: the TLS listener's). */
  publicMqttUrl?: string;
  /** External Mosquitto: keep its password and ACL files in this directory; called after each change. */
  mosquitto?: { dir: string; onChange?: () => void };
  scryptCost?: ScryptCost;
  /** Release-signing public keys (PEM) the fleet trusts, besides those in <data>/keys/releases. */
  releaseKeys?: string[];
  /** The HTTP URL gateways reach the fleet at (bundle downloads); default: the listening address. */
  publicHttpUrl?: string;
  /** `postgres://…`: keep the fleet store in PostgreSQL (several workers can share it) instead of fleet.db. */
  storeUrl?: string;
  /**
   * With an external broker and a PostgreSQL store: one of several stateless workers. Uplink is
   * taken through the shared subscription `$share/<group>/…` over `connections` MQTT sessions
   * (slots, leased in PostgreSQL; a dead worker's slots are adopted by the others).
   */
  share?: { group: string; connections?: number; leaseMs?: number; workerId?: string };
  clock?: Clock;
  log?: Logger;
}

export interface Fleet {
  readonly mqttUrl: string;
  readonly httpUrl: string;
  readonly store: FleetStore;
  readonly sites: SiteStore;
  readonly ingest: Ingest;
  /** Releases and staged rollouts. */
  readonly rollouts: Rollouts;
  /** `mqtts://…` of the embedded broker's TLS listener (security enforced). */
  readonly mqttTlsUrl?: string;
  /** Provisioning, API tokens, desired config (security enforced). */
  readonly admin?: FleetAdmin;
  /** Node-RED flow sets deployed to gateways. */
  readonly flows: FlowSets;
  stop(): Promise<void>;
}

/** The parts of a gateway's commissioning report the fleet keeps (edge/src/commission/report.ts). */
interface CommissioningSummary {
  finishedAt: number;
  by: string;
  passed?: boolean;
  items?: { status: string; title: unknown }[];
}

function trustedReleaseKeys(dir: string, extra: readonly string[] = []): string[] {
  const fromDir = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.pem') || f.endsWith('.pub'))
        .map((f) => readFileSync(join(dir, f), 'utf8'))
    : [];
  return [...fromDir, ...extra];
}

/** The fleet composition root: store → broker (embedded or external) → ingest → HTTP API. */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const clock = opts.clock ?? realClock;
  const log = (opts.log ?? createLogger()).child('fleet');
  const host = opts.host ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });

  if (opts.share && !(opts.storeUrl && opts.externalBroker))
    throw new Error('a shared-subscription worker (share) needs an external broker and a postgres:// store');
  const workerId = opts.share?.workerId ?? `w-${randomBytes(4).toString('hex')}`;
  const pgStore = opts.storeUrl
    ? await PgFleetStore.open(opts.storeUrl, clock.now(), { workerId })
    : undefined;
  pgStore?.startMaintenance(clock, log.child('store'));
  const store: FleetStore = pgStore ?? (await SqliteFleetStore.open(join(dataDir, 'fleet.db')));
  // fleet.db merges settled small blocks (live telemetry) every 5 min; PostgreSQL has a row per reading.
  if (store instanceof SqliteFleetStore) store.startCompaction(clock, log.child('store'));
  // With PostgreSQL, admin state, sites and alarms live there too (shared by workers).
  const sharedDb = pgStore ? new PgSqlDb(pgStore.pool) : undefined;
  const admin =
    opts.security === 'open'
      ? undefined
      : await openAdmin({
          dataDir,
          clock,
          log: log.child('admin'),
          hosts: opts.tlsHosts ?? ['localhost', '127.0.0.1'],
          scryptCost: opts.scryptCost,
          shared: sharedDb,
        });
  const handler = new IngestHandler(store, clock, log.child('ingest'));
  let broker: EmbeddedBroker | undefined;
  let ingestOpts;
  if (opts.externalBroker) {
    ingestOpts = {
      ...opts.externalBroker,
      clientId: opts.share ? `citygate-fleet-${workerId}` : 'citygate-fleet-ingest',
    };
  } else {
    const identity = {
      clientIdPrefix: 'citygate-fleet-',
      username: 'citygate-fleet',
      password: randomBytes(24).toString('base64url'),
    };
    broker = await startEmbeddedBroker({
      port: opts.mqttPort ?? 1883,
      host,
      fleet: identity,
      log: log.child('broker'),
      gatewayAuth: admin?.gatewayAuth,
      tls: admin
        ? { port: opts.mqttTlsPort ?? 8883, cert: admin.pki.serverCert, key: admin.pki.serverKey }
        : undefined,
      // Gateways' data is stored in the broker's publish hook, before aedes sends the PUBACK
      // (docs/architecture.md); the subscription only carries state (births, Wills).
      sink: (topic, payload) =>
        parseTopic(topic)?.channel === 'state' ? undefined : handler.handle(topic, payload),
    });
    ingestOpts = {
      url: broker.url,
      clientId: `${identity.clientIdPrefix}ingest`,
      username: identity.username,
      password: identity.password,
      channels: ['state'] as const,
    };
  }
  const ingest =
    opts.share && pgStore && opts.externalBroker
      ? await startSharedIngest({
          ...opts.externalBroker,
          group: opts.share.group,
          connections: opts.share.connections ?? 8,
          leaseMs: opts.share.leaseMs ?? 10_000,
          workerId,
          pool: pgStore.pool,
          handler,
          log: log.child('ingest'),
        })
      : await startIngest(ingestOpts, handler, log.child('ingest'));
  const sites = await SiteStore.open(sharedDb ?? join(dataDir, 'fleet.db'));
  // Revoked gateways: nothing they send is stored, and their live connection is closed (revocation.ts).
  const external = opts.externalBroker;
  const kick = (gw: string): void => {
    if (broker) broker.disconnect(gw);
    else if (external) void takeOverSession(external, gw, log.child('revocation'));
  };
  const revoked = admin
    ? await RevokedGateways.open(admin.registry, sharedDb ? 5_000 : undefined)
    : undefined;
  if (revoked)
    handler.refuse = (gw, channel) => {
      if (!revoked.has(gw)) return undefined;
      if (channel === 'state' && revoked.kickDue(gw, clock.now())) kick(gw);
      return 'the gateway is revoked';
    };
  const adminDeps = await admin?.connect({
    control: {
      url: ingestOpts.url,
      clientId: `${ingestOpts.clientId}-config`,
      username: ingestOpts.username,
      password: ingestOpts.password,
    },
    publicMqttUrl: opts.publicMqttUrl ?? broker?.tlsUrl ?? ingestOpts.url,
    disconnect: (gw) => kick(gw),
    mosquitto:
      opts.mosquitto && opts.externalBroker?.username && opts.externalBroker.password
        ? {
            ...opts.mosquitto,
            fleetUser: opts.externalBroker.username,
            fleetPassword: opts.externalBroker.password,
          }
        : undefined,
    extraMetrics: () =>
      Object.fromEntries(Object.entries(ingest.stats).map(([k, v]) => [`ingest_${k}_total`, Number(v)])),
  });
  const directory = () =>
    listDirectory({
      gateways: () => store.listGateways(),
      sites: () => sites.list(),
      groups: async () => (await adminDeps?.config.listGroups()) ?? [],
    });
  const alarms = await AlarmBoard.open(sharedDb ?? join(dataDir, 'fleet.db'));
  let httpUrl = '';
  const rolloutOpts = {
    dataDir,
    trustedKeys: trustedReleaseKeys(join(dataDir, 'keys', 'releases'), opts.releaseKeys),
    publicHttpUrl: () => opts.publicHttpUrl ?? httpUrl,
    mqtt: {
      url: ingestOpts.url,
      clientId: `${ingestOpts.clientId}-rollout`,
      username: ingestOpts.username,
      password: ingestOpts.password,
    },
    // Zones from sites and groups from desired config, as flow sets see them (a group rollout used to match nobody).
    directory: { list: directory },
    clock,
    log: log.child('rollouts'),
  };
  // Several workers: the rollout machine runs on the PostgreSQL lease holder (docs/scaling.md).
  const rollouts =
    opts.share && pgStore
      ? await startSharedRollouts({
          ...rolloutOpts,
          pool: pgStore.pool,
          workerId,
          leaseMs: opts.share.leaseMs ?? 10_000,
        })
      : await startRollouts(rolloutOpts);
  // Flow sets too are shared by workers (PostgreSQL), signed with the shared config key.
  const flows = await startFlowSets({
    db: sharedDb ?? join(dataDir, 'fleet.db'),
    signingKey: await flowSigningKey(dataDir, sharedDb, clock.now()),
    knownTypes: gatewayNodeTypes(),
    mqtt: {
      url: ingestOpts.url,
      clientId: `${ingestOpts.clientId}-flows`,
      username: ingestOpts.username,
      password: ingestOpts.password,
    },
    directory,
    clock,
    log: log.child('flows'),
  });
  handler.listeners.push((gw, m) => {
    if (m.channel === 'flows/reported')
      void flows
        .report(gw, m.value)
        .catch((err: unknown) => log.error(`flow report of ${gw} not recorded: ${String(err)}`));
    if (m.channel === 'update/progress') rollouts.progress(gw, m.value);
    if (m.channel === 'alarms')
      void alarms
        .record(gw, m.value.alarms)
        .catch((err: unknown) => log.error(`alarms of ${gw} not recorded: ${String(err)}`));
    if (m.channel === 'events')
      for (const e of m.value.events) {
        if (e.type === 'health' && e.data)
          void sites
            .recordHealth(gw, e.ts, e.data)
            .catch((err: unknown) => log.error(`health of ${gw} not recorded: ${String(err)}`));
        const r =
          e.type === 'commissioning' ? (e.data?.report as CommissioningSummary | undefined) : undefined;
        if (r && typeof r.finishedAt === 'number' && typeof r.by === 'string')
          void sites
            .recordCommissioning(gw, {
              at: r.finishedAt,
              by: r.by,
              passed: r.passed === true,
              failed: (r.items ?? []).filter((i) => i.status === 'fail').map((i) => String(i.title)),
            })
            .catch((err: unknown) => log.error(`commissioning of ${gw} not recorded: ${String(err)}`));
      }
  });
  const api = await buildApi({
    store,
    sites,
    alarms,
    rollouts,
    flows,
    log: log.child('api'),
    version: packageVersion(),
    clock,
    admin: adminDeps,
  });
  const address = await api.listen({ port: opts.httpPort ?? 8080, host });
  httpUrl = address;
  log.info(`HTTP API on ${address}/api/v1`);

  return {
    mqttUrl: broker?.url ?? opts.externalBroker!.url,
    mqttTlsUrl: broker?.tlsUrl,
    admin,
    httpUrl: address,
    store,
    sites,
    ingest,
    rollouts,
    flows,
    async stop() {
      await api.close();
      await flows.stop();
      await rollouts.stop();
      await ingest.close();
      revoked?.close();
      await admin?.close();
      await broker?.close();
      await alarms.close();
      await sites.close();
      await store.close();
    },
  };
}
