/**
 * API tokens: `cgt_<random>`, shown once at creation; only the SHA-256 is stored with a name and a
 * role. At first start, when no token exists, an admin token is written to `<dataDir>/admin-token`
 * (0600) so the operator can create the others.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync, chmodSync } from 'node:fs';
import type { Clock } from '../../../common/clock.js';
import type { Db } from '../../../common/sqlite.js';
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

export class ApiTokens {
  private readonly cache = new Map<string, ApiToken | null>();

  private constructor(
    private readonly db: Db,
    private readonly clock: Clock,
  ) {}

  static async open(db: Db, clock: Clock): Promise<ApiTokens> {
    await db.exec(`CREATE TABLE IF NOT EXISTS api_tokens (
      digest TEXT PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role TEXT NOT NULL,
      created_at INTEGER NOT NULL)`);
    return new ApiTokens(db, clock);
  }

  async create(name: string, role: Role): Promise<ApiToken & { token: string }> {
    const token = `cgt_${randomBytes(24).toString('base64url')}`;
    const t: ApiToken = { id: randomBytes(6).toString('hex'), name, role, createdAt: this.clock.now() };
    await this.db.run('INSERT INTO api_tokens VALUES (?,?,?,?,?)', [
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
    const hit = this.cache.get(digest);
    if (hit !== undefined) return hit ?? undefined;
    const r = await this.db.get<Row>('SELECT id, name, role, created_at FROM api_tokens WHERE digest = ?', [
      digest,
    ]);
    const t =
      r && isRole(r.role) ? { id: r.id, name: r.name, role: r.role, createdAt: r.created_at } : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(digest, t ?? null);
    return t;
  }

  /** First start: make an admin token and write it to `file` (0600). Returns it, or undefined if tokens exist. */
  async bootstrap(file: string): Promise<string | undefined> {
    if ((await this.list()).length > 0 && existsSync(file)) return undefined;
    if ((await this.list()).length > 0) return undefined;
    const t = await this.create('bootstrap-admin', 'admin');
    writeFileSync(file, t.token + '\n', { mode: 0o600 });
    chmodSync(file, 0o600);
    return t.token;
  }
}
