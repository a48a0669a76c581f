/**
 * API tokens: `cgt_<random>`, shown once at creation; only the SHA-256 is stored with a name and a
 * role. At first start, when no token exists, an admin token is written to `<dataDir>/admin-token`
 * (0600) so the operator can create the others.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync, chmodSync } from 'node:fs';
import type { Clock } from '../../../common/clock.js';
import type { SqlDb } from '../../../common/sqlite.js';
import { exclusive } from '../pg/sql-db.js';
import { tokenDigest } from '../provisioning/secret-hash.js';
import { isRole, type Role } from './roles.js';

export interface ApiToken {
  id: string;
  name: string;
  role: Role;
  createdAt: number;
}

interface Row {
  id: string;
  name: string;
  role: string;
  created_at: number;
}

/**
 * How long a worker trusts a token it looked up. Several workers share one database: a token
 * deleted through another worker stops working here within this time. Unknown tokens are not
 * cached, so a token made through another worker works here at once.
 */
export const TOKEN_CACHE_MS = 5_000;

export class ApiTokens {
  private readonly cache = new Map<string, { token: ApiToken; at: number }>();

  private constructor(
    private readonly db: SqlDb,
    private readonly clock: Clock,
  ) {}

  static async open(db: SqlDb, clock: Clock): Promise<ApiTokens> {
    if (db.dialect === 'sqlite')
      await db.exec(`CREATE TABLE IF NOT EXISTS api_tokens (
      digest TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
      created_at INTEGER NOT NULL)`);
    return new ApiTokens(db, clock);
  }

  create(name: string, role: Role): Promise<ApiToken & { token: string }> {
    return this.insert(name, role, this.db);
  }

  private async insert(name: string, role: Role, db: SqlDb): Promise<ApiToken & { token: string }> {
    const token = `cgt_${randomBytes(24).toString('base64url')}`;
    const t: ApiToken = { id: randomBytes(6).toString('hex'), name, role, createdAt: this.clock.now() };
    await db.run('INSERT INTO api_tokens (digest, id, name, role, created_at) VALUES (?,?,?,?,?)', [
      tokenDigest(token),
      t.id,
      name,
      role,
      t.createdAt,
    ]);
    return { ...t, token };
  }

  async list(): Promise<ApiToken[]> {
    const rows = await this.db.all<Row>(
      'SELECT id, name, role, created_at FROM api_tokens ORDER BY created_at',
    );
    return rows.map((r) => ({ id: r.id, name: r.name, role: r.role as Role, createdAt: r.created_at }));
  }

  async delete(id: string): Promise<boolean> {
    const ok = (await this.db.run('DELETE FROM api_tokens WHERE id = ?', [id])).changes > 0;
    this.cache.clear();
    return ok;
  }

  async lookup(token: string): Promise<ApiToken | undefined> {
    const digest = tokenDigest(token);
    const now = this.clock.now();
    const hit = this.cache.get(digest);
    if (hit && now - hit.at < TOKEN_CACHE_MS && now >= hit.at) return hit.token;
    const r = await this.db.get<Row>('SELECT id, name, role, created_at FROM api_tokens WHERE digest = ?', [
      digest,
    ]);
    const t =
      r && isRole(r.role) ? { id: r.id, name: r.name, role: r.role, createdAt: r.created_at } : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    if (t) this.cache.set(digest, { token: t, at: now });
    else this.cache.delete(digest);
    return t;
  }

  /** First start: make an admin token and write it to `file` (0600). Returns it, or undefined if tokens exist. */
  async bootstrap(file: string): Promise<string | undefined> {
    if ((await this.list()).length > 0) return undefined;
    // Workers starting together on one database: one makes it (the others find a token).
    const t = await exclusive(this.db, 'api-tokens:bootstrap', async (db) => {
      const n = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM api_tokens');
      return Number(n?.n ?? 0) > 0 ? undefined : this.insert('bootstrap-admin', 'admin', db);
    });
    if (!t) return undefined;
    writeFileSync(file, t.token + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    return t.token;
  }
}
