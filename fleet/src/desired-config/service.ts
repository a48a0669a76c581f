/**
 * Desired configuration: layers per fleet, group and gateway (SQLite), merged per gateway, checked
 * against the gateway-config schema and cross-references, versioned per gateway and signed with
 * the fleet's Ed25519 key, then published retained on `config/desired`. What gateways report on
 * `config/reported` is kept next to it, so drift (desired vs reported) is one query.
 *
 * A gateway is managed once it has its own layer; fleet and group layers apply to managed gateways.
 * A layer change that would make any affected gateway's merged config invalid is refused whole.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import type { Clock } from '../../../common/clock.js';
import { canonicalJson, signConfig } from '../../../common/config-signature.js';
import { PROTOCOL_VERSION, type ConfigDesired, type ConfigReported } from '../../../common/contract/index.js';
import { CityGateError, ValidationError } from '../../../common/errors.js';
import type { SqlDb } from '../../../common/sqlite.js';
import type { Profile } from '../../../hardware/src/profile.js';
import { CONFIG_VERSION, parseGatewayConfig } from '../../../edge/src/config.js';
import { mergeLayers, scopeKey, type ConfigLayer, type Scope } from './merge.js';

export interface DesiredState {
  gateway: string;
  group?: string;
  desired?: { version: number; ts: number; config: ConfigLayer };
  reported?: { version: number; status: 'applied' | 'rejected'; error?: string; ts: number };
  /** in-sync: the desired version was applied; pending: not answered yet; rejected: the gateway refused it. */
  drift: 'in-sync' | 'pending' | 'rejected' | 'unmanaged';
}

export class ConfigInvalidError extends CityGateError {
  constructor(readonly issues: string[]) {
    super('config-invalid', `desired config would be invalid:\n  - ${issues.join('\n  - ')}`);
  }
}

export interface DesiredConfigDeps {
  db: SqlDb;
  clock: Clock;
  signingKeyPem: string;
  profiles: ReadonlyMap<string, Profile>;
  /** Public MQTT URL put in each gateway's config (the gateway keeps its own credentials). */
  mqttUrl: string;
  publish: (gateway: string, msg: ConfigDesired) => Promise<void>;
  /** Active (provisioned, not revoked) gateways. */
  activeGateways: () => Promise<string[]>;
}

export class DesiredConfigService {
  private readonly key: KeyObject;

  private constructor(private readonly d: DesiredConfigDeps) {
    this.key = createPrivateKey(d.signingKeyPem);
  }

  /** On PostgreSQL the tables come from the numbered migrations (fleet/src/pg/schema.ts). */
  static async open(d: DesiredConfigDeps): Promise<DesiredConfigService> {
    if (d.db.dialect === 'sqlite')
      await d.db.exec(`
      CREATE TABLE IF NOT EXISTS config_layers (scope TEXT PRIMARY KEY, doc TEXT NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS gateway_groups (gateway TEXT PRIMARY KEY, group_id TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS config_desired (gateway TEXT PRIMARY KEY, version INTEGER NOT NULL,
        ts INTEGER NOT NULL, config TEXT NOT NULL, message TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS config_reported (gateway TEXT PRIMARY KEY, version INTEGER NOT NULL,
        status TEXT NOT NULL, error TEXT, ts INTEGER NOT NULL);`);
    return new DesiredConfigService(d);
  }

  async getLayer(scope: Scope): Promise<ConfigLayer | undefined> {
    const r = await this.d.db.get<{ doc: string }>('SELECT doc FROM config_layers WHERE scope = ?', [
      scopeKey(scope),
    ]);
    return r ? (JSON.parse(r.doc) as ConfigLayer) : undefined;
  }

  async groupOf(gateway: string): Promise<string | undefined> {
    const r = await this.d.db.get<{ group_id: string }>(
      'SELECT group_id FROM gateway_groups WHERE gateway = ?',
      [gateway],
    );
    return r?.group_id;
  }

  async listGroups(): Promise<{ id: string; members: string[]; hasConfig: boolean }[]> {
    const rows = await this.d.db.all<{ gateway: string; group_id: string }>('SELECT * FROM gateway_groups');
    const layers = await this.d.db.all<{ scope: string }>(
      "SELECT scope FROM config_layers WHERE scope LIKE 'group:%'",
    );
    const ids = new Set([...rows.map((r) => r.group_id), ...layers.map((l) => l.scope.slice(6))]);
    return [...ids].sort().map((id) => ({
      id,
      members: rows
        .filter((r) => r.group_id === id)
        .map((r) => r.gateway)
        .sort(),
      hasConfig: layers.some((l) => l.scope === `group:${id}`),
    }));
  }

  /**
   * Everything needed to merge any gateway's config, read in three queries, with an optional
   * not-yet-saved change applied on top: the merged config per gateway, or undefined if unmanaged.
   */
  private async merger(
    over: { scope?: Scope; layer?: ConfigLayer | null; gateway?: string; group?: string | null } = {},
  ): Promise<(gateway: string) => ConfigLayer | undefined> {
    const layers = new Map(
      (await this.d.db.all<{ scope: string; doc: string }>('SELECT scope, doc FROM config_layers')).map(
        (r) => [r.scope, JSON.parse(r.doc) as ConfigLayer],
      ),
    );
    if (over.scope) {
      if (over.layer) layers.set(scopeKey(over.scope), over.layer);
      else layers.delete(scopeKey(over.scope));
    }
    const groups = new Map(
      (await this.d.db.all<{ gateway: string; group_id: string }>('SELECT * FROM gateway_groups')).map(
        (r) => [r.gateway, r.group_id],
      ),
    );
    if (over.gateway !== undefined) {
      if (over.group) groups.set(over.gateway, over.group);
      else groups.delete(over.gateway);
    }
    return (gateway) => {
      const own = layers.get(scopeKey({ kind: 'gateway', id: gateway }));
      if (!own) return undefined;
      const group = groups.get(gateway);
      return mergeLayers(
        layers.get('fleet'),
        group ? layers.get(scopeKey({ kind: 'group', id: group })) : undefined,
        own,
        { version: CONFIG_VERSION, id: gateway, fleet: { mqttUrl: this.d.mqttUrl } },
      );
    };
  }

  private validate(gateway: string, config: ConfigLayer): string[] {
    try {
      parseGatewayConfig(config, this.d.profiles, `gateway ${gateway}`);
      return [];
    } catch (err) {
      if (err instanceof ValidationError) return err.issues.map((i) => `${gateway}: ${i}`);
      return [`${gateway}: ${(err as Error).message}`];
    }
  }

  private async affected(scope: Scope): Promise<string[]> {
    if (scope.kind === 'gateway') return [scope.id];
    const active = await this.d.activeGateways();
    if (scope.kind === 'fleet') return active;
    const members = await this.d.db.all<{ gateway: string }>(
      'SELECT gateway FROM gateway_groups WHERE group_id = ?',
      [scope.id],
    );
    return members.map((m) => m.gateway);
  }

  private validateAll(gateways: readonly string[], merged: (gw: string) => ConfigLayer | undefined): void {
    const issues: string[] = [];
    for (const gw of gateways) {
      const m = merged(gw);
      if (m) issues.push(...this.validate(gw, m));
      if (issues.length > 50) break;
    }
    if (issues.length) throw new ConfigInvalidError(issues);
  }

  /** Set (or with null, delete) one layer; re-sign and publish every affected gateway's config. */
  async setLayer(scope: Scope, layer: ConfigLayer | null): Promise<{ published: string[] }> {
    const gateways = await this.affected(scope);
    this.validateAll(gateways, await this.merger({ scope, layer }));
    if (layer === null) await this.d.db.run('DELETE FROM config_layers WHERE scope = ?', [scopeKey(scope)]);
    else
      await this.d.db.run(
        `INSERT INTO config_layers (scope, doc, updated_at) VALUES (?,?,?)
         ON CONFLICT (scope) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at`,
        [scopeKey(scope), JSON.stringify(layer), this.d.clock.now()],
      );
    return { published: await this.republish(gateways) };
  }

  async setGroup(gateway: string, group: string | null): Promise<{ published: string[] }> {
    this.validateAll([gateway], await this.merger({ gateway, group }));
    if (group === null) await this.d.db.run('DELETE FROM gateway_groups WHERE gateway = ?', [gateway]);
    else
      await this.d.db.run(
        `INSERT INTO gateway_groups (gateway, group_id) VALUES (?,?)
         ON CONFLICT (gateway) DO UPDATE SET group_id = excluded.group_id`,
        [gateway, group],
      );
    return { published: await this.republish([gateway]) };
  }

  /**
   * Sign and publish a new version to each gateway whose merged config changed. Version numbers
   * come from the database: a version is stored only over the version it was computed from
   * (compare-and-set), so two workers never issue the same version for a gateway; the loser
   * re-reads and re-merges (and finds nothing to do if the winner's config is already current).
   */
  async republish(gateways: readonly string[]): Promise<string[]> {
    const out: ConfigDesired[] = [];
    let pending = [...gateways];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt >= 20)
        throw new Error(`desired config of ${pending.join(', ')}: too many concurrent changes`);
      const merged = await this.merger();
      const prev = new Map(
        (
          await this.d.db.all<{ gateway: string; version: number; config: string }>(
            'SELECT gateway, version, config FROM config_desired',
          )
        ).map((r) => [r.gateway, r]),
      );
      const now = this.d.clock.now();
      const signed: { msg: ConfigDesired; text: string; over: number }[] = [];
      for (const gw of pending) {
        const config = merged(gw);
        if (!config) continue;
        const text = canonicalJson(config);
        const p = prev.get(gw);
        if (p && p.config === text) continue;
        const msg = signConfig(
          { v: PROTOCOL_VERSION, gateway: gw, version: (p?.version ?? 0) + 1, ts: now, config },
          this.key,
        );
        signed.push({ msg, text, over: p?.version ?? 0 });
      }
      // One transaction, gateways in a fixed order (two workers' transactions never deadlock).
      signed.sort((a, b) => (a.msg.gateway < b.msg.gateway ? -1 : a.msg.gateway > b.msg.gateway ? 1 : 0));
      if (signed.length === 0) break;
      const lost = await this.d.db.transaction(async (db) => {
        const failed: string[] = [];
        for (const { msg, text, over } of signed) {
          const r = await db.run(
            `INSERT INTO config_desired (gateway, version, ts, config, message) VALUES (?,?,?,?,?)
             ON CONFLICT (gateway) DO UPDATE SET version = excluded.version, ts = excluded.ts,
               config = excluded.config, message = excluded.message
             WHERE config_desired.version = ?`,
            [msg.gateway, msg.version, msg.ts, text, JSON.stringify(msg), over],
          );
          if (r.changes === 0) failed.push(msg.gateway);
          else out.push(msg);
        }
        return failed;
      });
      pending = lost;
    }
    // Stored first: a gateway that reconnects gets the retained message, and a restart re-sends nothing stale.
    await Promise.all(out.map((msg) => this.d.publish(msg.gateway, msg)));
    return out.map((m) => m.gateway);
  }

  /** The signed message currently desired for `gateway` (re-sent e.g. after reconnects). */
  async desiredMessage(gateway: string): Promise<ConfigDesired | undefined> {
    const r = await this.d.db.get<{ message: string }>(
      'SELECT message FROM config_desired WHERE gateway = ?',
      [gateway],
    );
    return r ? (JSON.parse(r.message) as ConfigDesired) : undefined;
  }

  async recordReported(r: ConfigReported, receivedAt: number): Promise<void> {
    await this.d.db.run(
      `INSERT INTO config_reported (gateway, version, status, error, ts) VALUES (?,?,?,?,?)
       ON CONFLICT (gateway) DO UPDATE SET version = excluded.version, status = excluded.status,
         error = excluded.error, ts = excluded.ts`,
      [r.gateway, r.version, r.status, r.error ?? null, receivedAt],
    );
  }

  async state(gateway: string): Promise<DesiredState> {
    const d = await this.d.db.get<{ version: number; ts: number; config: string }>(
      'SELECT version, ts, config FROM config_desired WHERE gateway = ?',
      [gateway],
    );
    const r = await this.d.db.get<{
      version: number;
      status: 'applied' | 'rejected';
      error: string | null;
      ts: number;
    }>('SELECT version, status, error, ts FROM config_reported WHERE gateway = ?', [gateway]);
    const group = await this.groupOf(gateway);
    const drift: DesiredState['drift'] = !d
      ? 'unmanaged'
      : r?.version === d.version
        ? r.status === 'applied'
          ? 'in-sync'
          : 'rejected'
        : 'pending';
    return {
      gateway,
      ...(group ? { group } : {}),
      ...(d
        ? { desired: { version: d.version, ts: d.ts, config: JSON.parse(d.config) as ConfigLayer } }
        : {}),
      ...(r
        ? {
            reported: {
              version: r.version,
              status: r.status,
              ts: r.ts,
              ...(r.error ? { error: r.error } : {}),
            },
          }
        : {}),
      drift,
    };
  }

  async counts(): Promise<{ inSync: number; pending: number; rejected: number }> {
    const rows = await this.d.db.all<{ drift: string; n: number }>(`
      SELECT CASE WHEN r.version IS NULL OR r.version <> d.version THEN 'pending'
                  WHEN r.status = 'applied' THEN 'in-sync' ELSE 'rejected' END AS drift, COUNT(*) AS n
      FROM config_desired d LEFT JOIN config_reported r USING (gateway) GROUP BY 1`);
    const n = (k: string) => rows.find((r) => r.drift === k)?.n ?? 0;
    return { inSync: n('in-sync'), pending: n('pending'), rejected: n('rejected') };
  }
}
