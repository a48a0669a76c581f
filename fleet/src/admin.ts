/**
 * Everything that makes the fleet safe to expose, wired in two steps around the broker:
 * `openAdmin` (before it: CA and server certificate, config-signing key, credentials registry,
 * API tokens; gives the broker its authenticate hook and TLS material) and `connect` (after it:
 * the config link, revocation → disconnect, the HTTP admin routes). State lives in
 * `<dataDir>/fleet-admin.db`, keys in `<dataDir>/pki` and `<dataDir>/keys` (0600).
 */
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../../common/clock.js';
import { generateConfigKey } from '../../common/config-signature.js';
import type { Logger } from '../../common/log.js';
import { Db, type SqlDb } from '../../common/sqlite.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { ApiTokens } from './auth/tokens.js';
import { CommandService } from './commands/service.js';
import { startConfigLink, type ConfigLink } from './desired-config/mqtt-link.js';
import { DesiredConfigService } from './desired-config/service.js';
import type { AdminDeps } from './http/admin-routes.js';
import { renderMetrics } from './http/metrics.js';
import { loadOrCreatePki, type FleetPki } from './pki/ca.js';
import { exclusive } from './pg/sql-db.js';
import { syncSharedFiles } from './pg/shared-keys.js';
import { writeMosquittoFiles } from './provisioning/mosquitto-files.js';
import { GatewayRegistry } from './provisioning/registry.js';
import type { ScryptCost } from './provisioning/secret-hash.js';

export interface AdminOptions {
  dataDir: string;
  clock: Clock;
  log: Logger;
  /** Names and addresses the MQTT server certificate is valid for. */
  hosts: string[];
  scryptCost?: ScryptCost;
  /**
   * Keep the admin state (registry, tokens, desired config, commands) in this shared database
   * (PostgreSQL, several workers; its tables come from fleet/src/pg/schema.ts) instead of
   * `<dataDir>/fleet-admin.db`. The config-signing key and the CA are shared through it too.
   * The caller closes it.
   */
  shared?: SqlDb;
}

export interface FleetAdmin {
  readonly pki: FleetPki;
  readonly registry: GatewayRegistry;
  readonly tokens: ApiTokens;
  /** Written to `<dataDir>/admin-token` at first start; undefined on later starts. */
  readonly bootstrapToken?: string;
  readonly configPublicKey: string;
  config?: DesiredConfigService;
  link?: ConfigLink;
  gatewayAuth(gatewayId: string, secret: string): Promise<boolean>;
  connect(o: ConnectOptions): Promise<AdminDeps>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Where the fleet's own control client connects (with the fleet identity). */
  control: { url: string; clientId: string; username?: string; password?: string };
  /** The URL given to gateways at provisioning (normally mqtts://…). */
  publicMqttUrl: string;
  /** Close a gateway's MQTT connection (embedded broker; external: session takeover, revocation.ts). */
  disconnect?: (gatewayId: string) => void;
  /** External Mosquitto: keep password and ACL files here up to date; `fleetUser` may do everything. */
  mosquitto?: { dir: string; fleetUser: string; fleetPassword: string; onChange?: () => void };
  extraMetrics?: () => Record<string, number>;
}

/** The fleet's Ed25519 config-signing key in `dir` (created 0600 at first use); flow sets are signed with it too. */
export function loadOrCreateSigningKey(dir: string): { privateKeyPem: string; publicKeyPem: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'config-signing.key');
  if (!existsSync(file)) {
    const k = generateConfigKey();
    writeFileSync(file, k.privateKeyPem, { mode: 0o600 });
    chmodSync(file, 0o600);
  }
  const privateKeyPem = readFileSync(file, 'utf8');
  const publicKeyPem = createPublicKey(privateKeyPem).export({ type: 'spki', format: 'pem' }).toString();
  return { privateKeyPem, publicKeyPem };
}

/** Files that must be the same on every worker sharing one database. */
const sharedFiles = (dataDir: string) => [
  { name: 'config-signing.key', path: join(dataDir, 'keys', 'config-signing.key') },
  { name: 'ca.key', path: join(dataDir, 'pki', 'ca.key') },
  { name: 'ca.crt', path: join(dataDir, 'pki', 'ca.crt') },
];

/** How often a worker sharing a database checks whether another worker changed the credentials. */
export const MOSQUITTO_POLL_MS = 2_000;

async function openDb(o: AdminOptions): Promise<SqlDb> {
  if (o.shared) return o.shared;
  const db = await Db.open(join(o.dataDir, 'fleet-admin.db'));
  await db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
  return db;
}

export async function openAdmin(o: AdminOptions): Promise<FleetAdmin> {
  // Shared database: take the stored keys first, create what is missing, offer ours, and reload
  // when another worker's copy won a start-up race (its CA re-issues our server certificate).
  if (o.shared) await syncSharedFiles(o.shared, sharedFiles(o.dataDir), o.clock.now());
  let pki = loadOrCreatePki(o.dataDir, o.hosts);
  let signing = loadOrCreateSigningKey(join(o.dataDir, 'keys'));
  if (o.shared && (await syncSharedFiles(o.shared, sharedFiles(o.dataDir), o.clock.now())).length > 0) {
    pki = loadOrCreatePki(o.dataDir, o.hosts);
    signing = loadOrCreateSigningKey(join(o.dataDir, 'keys'));
  }
  const db = await openDb(o);
  const registry = await GatewayRegistry.open(db, o.clock, o.scryptCost);
  const tokens = await ApiTokens.open(db, o.clock);
  const tokenFile = join(o.dataDir, 'admin-token');
  const bootstrapToken = await tokens.bootstrap(tokenFile);
  if (bootstrapToken) o.log.info(`first start: admin API token written to ${tokenFile}`);
  let pollTimer: NodeJS.Timeout | undefined;

  const admin: FleetAdmin = {
    pki,
    registry,
    tokens,
    bootstrapToken,
    configPublicKey: signing.publicKeyPem,
    gatewayAuth: (gw, secret) => registry.authenticate(gw, secret),
    async connect(c) {
      const link = await startConfigLink({ ...c.control, ca: pki.caCert }, o.clock, o.log.child('config'));
      const config = await DesiredConfigService.open({
        db,
        clock: o.clock,
        signingKeyPem: signing.privateKeyPem,
        profiles: loadProfiles(),
        mqttUrl: c.publicMqttUrl,
        publish: (gw, msg) => link.publish(gw, msg),
        activeGateways: async () => (await registry.list()).filter((g) => !g.revokedAt).map((g) => g.gateway),
      });
      link.attach(config);
      const commands = await CommandService.open(db, o.clock, (gw, req) => link.sendCommand(gw, req));
      link.onCommandResponse((res) => {
        commands
          .onResponse(res)
          .catch((err: unknown) => o.log.error(`cannot record cmd/res: ${String(err)}`));
      });
      admin.config = config;
      admin.link = link;
      // Several workers: each change is written under a database-wide lock from the database, so
      // the last writer always writes the complete current list; workers that did not make a
      // change notice it by polling the registry's fingerprint (docs/scaling.md).
      let fingerprint = '';
      const syncMosquitto = async () => {
        const m = c.mosquitto;
        if (!m) return;
        // Read through the lock's own transaction: waiting for a second pooled client while
        // holding one could exhaust the pool under many concurrent changes.
        await exclusive(db, 'mosquitto-files', async (tx) => {
          fingerprint = await registry.fingerprint(tx);
          writeMosquittoFiles(m.dir, await registry.mosquittoEntries(tx), m);
        });
        m.onChange?.();
      };
      await syncMosquitto();
      if (c.mosquitto && o.shared)
        pollTimer = setInterval(() => {
          void registry
            .fingerprint()
            .then((f) => (f === fingerprint ? undefined : syncMosquitto()))
            .catch((err: unknown) => o.log.error(`cannot update Mosquitto files: ${String(err)}`));
        }, MOSQUITTO_POLL_MS);
      const sync = () =>
        syncMosquitto().catch((err: unknown) => o.log.error(`cannot update Mosquitto files: ${String(err)}`));
      registry.onRevoke(async (gw) => {
        o.log.warn(`gateway ${gw} revoked: disconnecting`);
        // Files first: an external Mosquitto must know before the gateway's reconnect.
        await sync();
        c.disconnect?.(gw);
      });
      registry.onProvision(sync);
      return {
        tokens,
        registry,
        config,
        commands,
        provisioning: { mqttUrl: c.publicMqttUrl, caCert: pki.caCert, configPublicKey: signing.publicKeyPem },
        metrics: () => renderMetrics({ registry, config, link, extra: c.extraMetrics }),
      };
    },
    async close() {
      if (pollTimer) clearInterval(pollTimer);
      await admin.link?.close();
      if (db instanceof Db) await db.close();
    },
  };
  return admin;
}
