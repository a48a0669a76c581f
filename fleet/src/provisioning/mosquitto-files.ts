/**
 * External-broker mode: the Mosquitto password file (`$7$` PBKDF2-SHA512 hashes, made at
 * provisioning while the secret was known) and ACL file for every active gateway plus the fleet's
 * own user. Written atomically, 0640; Mosquitto re-reads both on SIGHUP.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../common/fs-atomic.js';
import { mosquittoAcl } from '../broker-acl.js';
import { mosquittoHash } from './secret-hash.js';

export function writeMosquittoFiles(
  dir: string,
  gateways: readonly { gateway: string; hash: string }[],
  fleet: { fleetUser: string; fleetPassword: string },
): { passwordFile: string; aclFile: string } {
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const passwordFile = join(dir, 'passwd');
  const aclFile = join(dir, 'acl');
  const lines = [
    `${fleet.fleetUser}:${mosquittoHash(fleet.fleetPassword)}`,
    ...gateways.map((g) => `${g.gateway}:${g.hash}`),
  ];
  writeFileAtomic(passwordFile, lines.join('\n') + '\n', 0o640);
  writeFileAtomic(
    aclFile,
    mosquittoAcl(
      gateways.map((g) => g.gateway),
      fleet.fleetUser,
    ),
    0o640,
  );
  return { passwordFile, aclFile };
}
