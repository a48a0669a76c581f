/**
 * The demo runs with the fleet's security on, like a real city: every simulated gateway gets its own
 * credentials through a claim token (as a technician would provision it), and the dashboard needs an
 * API token with a role. The demo keeps what it made in its data directory (0600 files) so a restart
 * reuses it; secrets are never printed, only the file that holds the sign-in tokens.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FleetAdmin } from '../../fleet/src/admin.js';
import type { Role } from '../../fleet/src/auth/roles.js';
import { hashPassword } from '../../edge/src/node-red/red.js';

export interface DemoCredentials {
  username: string;
  password: string;
}

/** Roles the demo makes a sign-in token for, and the token names the fleet shows. */
const DEMO_ROLES: readonly Role[] = ['viewer', 'operator', 'admin'];

function writeSecret(file: string, body: string): void {
  writeFileSync(file, body, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** One API token per demo role, reused across restarts while the fleet still knows it. */
export async function demoTokens(admin: FleetAdmin, file: string): Promise<Record<Role, string>> {
  const saved = (readJson(file) ?? {}) as Partial<Record<Role, string>>;
  const out: Partial<Record<Role, string>> = {};
  for (const role of DEMO_ROLES) {
    const t = saved[role];
    const known = t ? await admin.tokens.lookup(t) : undefined;
    out[role] = known?.role === role ? t! : (await admin.tokens.create(`demo-${role}`, role)).token;
  }
  writeSecret(file, JSON.stringify(out, null, 2) + '\n');
  return out as Record<Role, string>;
}

/**
 * Credentials for each gateway: the saved secret if the fleet still accepts it, else a fresh claim
 * (revoking what the fleet had, as a technician re-provisioning a replaced gateway would).
 */
export async function demoGatewayCredentials(
  admin: FleetAdmin,
  dir: string,
  gateways: readonly string[],
): Promise<Map<string, DemoCredentials>> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const out = new Map<string, DemoCredentials>();
  for (const gw of gateways) {
    const file = join(dir, `${gw}.json`);
    const saved = existsSync(file) ? (readJson(file) as Partial<DemoCredentials> | undefined) : undefined;
    if (saved?.password && (await admin.registry.authenticate(gw, saved.password))) {
      out.set(gw, { username: gw, password: saved.password });
      continue;
    }
    const current = await admin.registry.get(gw);
    if (current && !current.revokedAt) await admin.registry.revoke(gw);
    const claim = await admin.registry.createClaim({ ttlMs: 10 * 60_000 });
    const { secret } = await admin.registry.claim(claim.token, gw);
    const creds = { username: gw, password: secret };
    writeSecret(file, JSON.stringify(creds) + '\n');
    out.set(gw, creds);
  }
  return out;
}

/** The Node-RED editor login of the demo's flows gateway: a random password, saved (0600) and reused. */
export function demoNodeRedLogin(file: string): {
  username: string;
  password: string;
  adminAuth: { username: string; passwordHash: string };
} {
  const saved = readJson(file) as { username?: string; password?: string; passwordHash?: string } | undefined;
  if (saved?.username && saved.password && saved.passwordHash)
    return {
      username: saved.username,
      password: saved.password,
      adminAuth: { username: saved.username, passwordHash: saved.passwordHash },
    };
  const username = 'operator';
  const password = randomBytes(12).toString('base64url');
  const passwordHash = hashPassword(password);
  writeSecret(file, JSON.stringify({ username, password, passwordHash }, null, 2) + '\n');
  return { username, password, adminAuth: { username, passwordHash } };
}
