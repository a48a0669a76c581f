import { createHash, pbkdf2Sync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt hashes of gateway secrets: `scrypt$N$r$p$<salt b64>$<hash b64>`. Secrets are 32 random
 * bytes, so the work factor is defence in depth, not what stops guessing; the parameters travel
 * with each hash so they can change later.
 */
export interface ScryptCost {
  N: number;
  r: number;
  p: number;
}
/**
 * N = 2^12 (~10 ms a check here) rather than 2^14: gateway secrets are 256-bit random, so the KDF's
 * work factor adds nothing against guessing, while a fleet restart makes every gateway reconnect at
 * once (10,000 checks) — the cost there is what matters. Stored hashes carry their own N.
 */
export const DEFAULT_SCRYPT: ScryptCost = { N: 4096, r: 8, p: 1 };

function scryptAsync(secret: string, salt: Buffer, cost: ScryptCost): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashSecret(secret: string, cost: ScryptCost = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(16);
  const key = await scryptAsync(secret, salt, cost);
  return ['scrypt', cost.N, cost.r, cost.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const want = Buffer.from(parts[5]!, 'base64');
  const got = await scryptAsync(secret, Buffer.from(parts[4]!, 'base64'), { N, r, p });
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A fresh random secret (256 bits, base64url: no characters a shell or a URL would mangle). */
export const newSecret = (): string => randomBytes(32).toString('base64url');

/** SHA-256 of a high-entropy token: how claim and API tokens are looked up without storing them. */
export const tokenDigest = (token: string): string => createHash('sha256').update(token).digest('hex');

/**
 * Mosquitto 2.0's password-file hash (`$7$`: PBKDF2-SHA512, 101 iterations, 12-byte salt), made
 * at provisioning while the secret is known, for external-broker mode.
 */
export function mosquittoHash(secret: string, iterations = 101): string {
  const salt = randomBytes(12);
  const key = pbkdf2Sync(secret, salt, iterations, 64, 'sha512');
  return `$7$${iterations}$${salt.toString('base64')}$${key.toString('base64')}`;
}
