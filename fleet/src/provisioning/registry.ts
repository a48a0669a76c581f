/**
 * Claim tokens and gateway credentials. A claim token is single use, expires, and may bind the
 * gateway to a group; only its SHA-256 is stored. Exchanging it gives the gateway a random secret
 * whose scrypt hash (and, for an external Mosquitto, its `$7$` hash) is all the fleet keeps.
 * Revoking marks the credential and tells listeners (the broker disconnects the gateway).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { isValidId } from '../../../common/contract/index.js';
import type { Clock } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import type { SqlDb } from '../../../common/sqlite.js';
import {
  DEFAULT_SCRYPT,
  hashSecret,
  mosquittoHash,
  newSecret,
  tokenDigest,
  verifySecret,
  type ScryptCost,
} from './secret-hash.js';

export interface ClaimToken {
  id: string;
  group?: string;
  createdAt: number;
  expiresAt: number;
  usedAt?: number;
  usedBy?: string;
}

export interface GatewayCredential {
  gateway: string;
  group?: string;
  createdAt: number;
  revokedAt?: number;
}

interface ClaimRow {
  id: string;
  group_id: string | null;
  created_at: number;
  expires_at: number;
  used_at: number | null;
  used_by: string | null;
}
interface CredRow {
  gateway: string;
  group_id: string | null;
  secret_hash: string;
  mosquitto_hash: string | null;
  created_at: number;
  revoked_at: number | null;
}

const claimOf = (r: ClaimRow): ClaimToken => ({
  id: r.id,
  ...(r.group_id ? { group: r.group_id } : {}),
  createdAt: r.created_at,
  expiresAt: r.expires_at,
  ...(r.used_at !== null ? { usedAt: r.used_at, usedBy: r.used_by ?? undefined } : {}),
});
const credOf = (r: CredRow): GatewayCredential => ({
  gateway: r.gateway,
  ...(r.group_id ? { group: r.group_id } : {}),
  createdAt: r.created_at,
  ...(r.revoked_at !== null ? { revokedAt: r.revoked_at } : {}),
});

export class ProvisioningError extends CityGateError {
  constructor(
    code: 'claim-invalid' | 'already-provisioned' | 'unknown-gateway' | 'bad-id',
    message: string,
    readonly status: number,
  ) {
    super(code, message);
  }
}

export class GatewayRegistry {
  /** Verified secrets, so reconnects do not pay scrypt again. Cleared on revoke. */
  private readonly verified = new Map<string, Buffer>();
  private readonly revokeListeners: ((gateway: string) => Promise<void>)[] = [];
  private readonly provisionListeners: ((gateway: string) => Promise<void>)[] = [];

  private constructor(
    private readonly db: SqlDb,
    private readonly clock: Clock,
    private readonly cost: ScryptCost,
  ) {}

  /** On PostgreSQL the tables come from the numbered migrations (fleet/src/pg/schema.ts). */
  static async open(db: SqlDb, clock: Clock, cost: ScryptCost = DEFAULT_SCRYPT): Promise<GatewayRegistry> {
    if (db.dialect === 'sqlite')
      await db.exec(`
      CREATE TABLE IF NOT EXISTS claim_tokens (
        digest TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, group_id TEXT,
        created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, used_at INTEGER, used_by TEXT);
      CREATE TABLE IF NOT EXISTS gateway_credentials (
        gateway TEXT PRIMARY KEY, group_id TEXT, secret_hash TEXT NOT NULL, mosquitto_hash TEXT,
        created_at INTEGER NOT NULL, revoked_at INTEGER);`);
    return new GatewayRegistry(db, clock, cost);
  }

  onRevoke(fn: (gateway: string) => Promise<void>): void {
    this.revokeListeners.push(fn);
  }

  onProvision(fn: (gateway: string) => Promise<void>): void {
    this.provisionListeners.push(fn);
  }

  async createClaim(opts: { ttlMs: number; group?: string }): Promise<ClaimToken & { token: string }> {
    const token = `cgc_${randomBytes(24).toString('base64url')}`;
    const now = this.clock.now();
    const row: ClaimRow = {
      id: randomBytes(6).toString('hex'),
      group_id: opts.group ?? null,
      created_at: now,
      expires_at: now + opts.ttlMs,
      used_at: null,
      used_by: null,
    };
    await this.db.run(
      'INSERT INTO claim_tokens (digest, id, group_id, created_at, expires_at, used_at, used_by) VALUES (?,?,?,?,?,?,?)',
      [tokenDigest(token), row.id, row.group_id, row.created_at, row.expires_at, null, null],
    );
    return { ...claimOf(row), token };
  }

  async listClaims(): Promise<ClaimToken[]> {
    const rows = await this.db.all<ClaimRow>(
      'SELECT id, group_id, created_at, expires_at, used_at, used_by FROM claim_tokens ORDER BY created_at DESC',
    );
    return rows.map(claimOf);
  }

  async deleteClaim(id: string): Promise<boolean> {
    return (await this.db.run('DELETE FROM claim_tokens WHERE id = ? AND used_at IS NULL', [id])).changes > 0;
  }

  /** Exchange a claim token for credentials. The secret is returned once and never stored. */
  async claim(token: string, gateway: string): Promise<{ secret: string; group?: string }> {
    if (!isValidId(gateway))
      throw new ProvisioningError('bad-id', `'${gateway.slice(0, 80)}' is not a valid gateway id`, 400);
    const secret = newSecret();
    const secretHash = await hashSecret(secret, this.cost);
    const now = this.clock.now();
    // Once across workers: the token is taken by one conditional UPDATE (a concurrent redeemer
    // waits for the row, then finds it used), and credentials are written only where none are
    // active; either refusal rolls the whole exchange back.
    const result = await this.db.transaction(async (db) => {
      const claim = await db.get<{ group_id: string | null }>(
        `UPDATE claim_tokens SET used_at = ?, used_by = ?
         WHERE digest = ? AND used_at IS NULL AND expires_at > ? RETURNING group_id`,
        [now, gateway, tokenDigest(token), now],
      );
      if (!claim)
        throw new ProvisioningError('claim-invalid', 'claim token unknown, already used or expired', 403);
      const written = await db.run(
        `INSERT INTO gateway_credentials (gateway, group_id, secret_hash, mosquitto_hash, created_at, revoked_at)
         VALUES (?,?,?,?,?,NULL)
         ON CONFLICT (gateway) DO UPDATE SET group_id = excluded.group_id, secret_hash = excluded.secret_hash,
           mosquitto_hash = excluded.mosquitto_hash, created_at = excluded.created_at, revoked_at = NULL
         WHERE gateway_credentials.revoked_at IS NOT NULL`,
        [gateway, claim.group_id, secretHash, mosquittoHash(secret), now],
      );
      if (written.changes === 0)
        throw new ProvisioningError(
          'already-provisioned',
          `gateway '${gateway}' already has credentials; revoke them first to re-provision`,
          409,
        );
      this.verified.delete(gateway);
      return { secret, ...(claim.group_id ? { group: claim.group_id } : {}) };
    });
    await Promise.all(this.provisionListeners.map((fn) => fn(gateway)));
    return result;
  }

  async revoke(gateway: string): Promise<void> {
    const r = await this.db.run(
      'UPDATE gateway_credentials SET revoked_at = ? WHERE gateway = ? AND revoked_at IS NULL',
      [this.clock.now(), gateway],
    );
    if (r.changes === 0)
      throw new ProvisioningError('unknown-gateway', `gateway '${gateway}' has no active credentials`, 404);
    this.verified.delete(gateway);
    await Promise.all(this.revokeListeners.map((fn) => fn(gateway)));
  }

  async get(gateway: string): Promise<GatewayCredential | undefined> {
    const row = await this.db.get<CredRow>('SELECT * FROM gateway_credentials WHERE gateway = ?', [gateway]);
    return row ? credOf(row) : undefined;
  }

  async list(): Promise<GatewayCredential[]> {
    return (await this.db.all<CredRow>('SELECT * FROM gateway_credentials ORDER BY gateway')).map(credOf);
  }

  /** Active gateways with their Mosquitto hashes (for the external broker's password file). */
  async mosquittoEntries(db: SqlDb = this.db): Promise<{ gateway: string; hash: string }[]> {
    const rows = await db.all<CredRow>(
      'SELECT * FROM gateway_credentials WHERE revoked_at IS NULL AND mosquitto_hash IS NOT NULL ORDER BY gateway',
    );
    return rows.map((r) => ({ gateway: r.gateway, hash: r.mosquitto_hash! }));
  }

  /** Changes whenever a gateway is provisioned or revoked (by any worker sharing the database). */
  async fingerprint(db: SqlDb = this.db): Promise<string> {
    const r = await db.get<{ n: number; k: number; c: number | null; r: number | null }>(
      'SELECT COUNT(*) AS n, COUNT(revoked_at) AS k, MAX(created_at) AS c, MAX(revoked_at) AS r FROM gateway_credentials',
    );
    return `${Number(r?.n ?? 0)}/${Number(r?.k ?? 0)}/${r?.c ?? 0}/${r?.r ?? 0}`;
  }

  /** Is `secret` the current secret of active gateway `gateway`? */
  async authenticate(gateway: string, secret: string): Promise<boolean> {
    if (!isValidId(gateway)) return false;
    const digest = createHash('sha256').update(secret).digest();
    const known = this.verified.get(gateway);
    if (known && timingSafeEqual(known, digest)) return true;
    const row = await this.db.get<CredRow>(
      'SELECT * FROM gateway_credentials WHERE gateway = ? AND revoked_at IS NULL',
      [gateway],
    );
    if (!row || !(await verifySecret(secret, row.secret_hash))) return false;
    this.verified.set(gateway, digest);
    return true;
  }
}
