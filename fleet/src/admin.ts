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
import { Db } from '../../common/sqlite.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { ApiTokens } from './auth/tokens.js';
import { CommandService } from './commands/service.js';
import { startConfigLink, type ConfigLink } from './desired-config/mqtt-link.js';
import { DesiredConfigService } from './desired-config/service.js';
import type { AdminDeps } from './http/admin-routes.js';
import { renderMetrics } from './http/metrics.js';
import { loadOrCreatePki, type FleetPki } from './pki/ca.js';
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
  /** Close a gateway's MQTT connection (embedded broker). */
  disconnect?: (gatewayId: string) => void;
  /** External Mosquitto: keep password and ACL files here up to date; `fleetUser` may do everything. */
  mosquitto?: { dir: string; fleetUser: string; fleetPassword: string; onChange?: () => void };
  extraMetrics?: () => Record<string, number>;
}

function loadOrCreateSigningKey(dir: string): { privateKeyPem: string; publicKeyPem: string } {
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

export async function openAdmin(o: AdminOptions): Promise<FleetAdmin> {
  const pki = loadOrCreatePki(o.dataDir, o.hosts);
  const signing = loadOrCreateSigningKey(join(o.dataDir, 'keys'));
  const db = await Db.open(join(o.dataDir, 'fleet-admin.db'));
  await db.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
  const registry = await GatewayRegistry.open(db, o.clock, o.scryptCost);
  const tokens = await ApiTokens.open(db, o.clock);
  const tokenFile = join(o.dataDir, 'admin-token');
  const bootstrapToken = await tokens.bootstrap(tokenFile);
  if (bootstrapToken) o.log.info(`first start: admin API token written to ${tokenFile}`);

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
      const syncMosquitto = async () => {
        if (!c.mosquitto) return;
        writeMosquittoFiles(c.mosquitto.dir, await registry.mosquittoEntries(), c.mosquitto);
        c.mosquitto.onChange?.();
      };
      await syncMosquitto();
      const sync = () =>
        syncMosquitto().catch((err: unknown) => o.log.error(`cannot update Mosquitto files: ${String(err)}`));
      registry.onRevoke(async (gw) => {
        o.log.warn(`gateway ${gw} revoked: disconnecting`);
        c.disconnect?.(gw);
        await sync();
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
      await admin.link?.close();
      await db.close();
    },
  };
  return admin;
}
