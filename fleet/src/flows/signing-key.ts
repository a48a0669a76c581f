/**
 * The key flow sets are signed with: the fleet's config-signing key (gateways verify both with the
 * one public key they got at provisioning). Workers sharing a database use its stored copy
 * (`shared_keys`, fleet/src/pg/shared-keys.ts), also when security is open and no admin state
 * shared it already; the first worker's key wins, the others rewrite their `keys/` file with it.
 */
import { join } from 'node:path';
import type { SqlDb } from '../../../common/sqlite.js';
import { loadOrCreateSigningKey } from '../admin.js';
import { syncSharedFiles } from '../pg/shared-keys.js';

export async function flowSigningKey(
  dataDir: string,
  shared: SqlDb | undefined,
  now: number,
): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const dir = join(dataDir, 'keys');
  if (!shared) return loadOrCreateSigningKey(dir);
  const files = [{ name: 'config-signing.key', path: join(dir, 'config-signing.key') }];
  await syncSharedFiles(shared, files, now); // take a stored key
  loadOrCreateSigningKey(dir); // none yet: make one
  await syncSharedFiles(shared, files, now); // offer it; another worker's may have won meanwhile
  return loadOrCreateSigningKey(dir);
}
