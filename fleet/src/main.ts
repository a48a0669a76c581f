import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { realClock, type Clock } from '../../common/clock.js';
import { createLogger, type Logger } from '../../common/log.js';
import { packageVersion } from '../../common/package-root.js';
import { buildApi } from './api.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import { startIngest, type Ingest } from './ingest.js';
import { SiteStore } from './sites.js';
import { SqliteFleetStore, type FleetStore } from './store.js';

export interface FleetOptions {
  dataDir: string;
  host?: string;
  httpPort?: number;
  /** Port of the embedded broker (0 = any free port). */
  mqttPort?: number;
  /** Use this broker instead of the embedded one. */
  externalBroker?: { url: string; username?: string; password?: string };
  clock?: Clock;
  log?: Logger;
}

export interface Fleet {
  readonly mqttUrl: string;
  readonly httpUrl: string;
  readonly store: FleetStore;
  readonly sites: SiteStore;
  readonly ingest: Ingest;
  stop(): Promise<void>;
}

/** The fleet composition root: store → broker (embedded or external) → ingest → HTTP API. */
export async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const clock = opts.clock ?? realClock;
  const log = (opts.log ?? createLogger()).child('fleet');
  const host = opts.host ?? '127.0.0.1';
  const dataDir = resolve(opts.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o750 });

  const store = await SqliteFleetStore.open(join(dataDir, 'fleet.db'));
  let broker: EmbeddedBroker | undefined;
  let ingestOpts;
  if (opts.externalBroker) {
    ingestOpts = { ...opts.externalBroker, clientId: 'citygate-fleet-ingest' };
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
    });
    ingestOpts = {
      url: broker.url,
      clientId: `${identity.clientIdPrefix}ingest`,
      username: identity.username,
      password: identity.password,
    };
  }
  const ingest = await startIngest(ingestOpts, store, clock, log.child('ingest'));
  const sites = await SiteStore.open(join(dataDir, 'fleet.db'));
  const api = await buildApi({ store, sites, log: log.child('api'), version: packageVersion(), clock });
  const address = await api.listen({ port: opts.httpPort ?? 8080, host });
  log.info(`HTTP API on ${address}/api/v1`);

  return {
    mqttUrl: broker?.url ?? opts.externalBroker!.url,
    httpUrl: address,
    store,
    sites,
    ingest,
    async stop() {
      await api.close();
      await ingest.close();
      await broker?.close();
      await sites.close();
      await store.close();
    },
  };
}
