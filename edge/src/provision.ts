/**
 * Gateway side of provisioning: exchange a claim token at the fleet for this gateway's own MQTT
 * credentials, the fleet's CA certificate and its config-signing public key, and keep them in a
 * credentials directory: `fleet.json` (0600, holds the secret), `fleet-ca.crt`, `config-signing.pub`.
 * The fleet API should be reached over HTTPS (or a trusted network): the secret travels in the answer.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isValidId } from '../../common/contract/index.js';
import { CityGateError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';

export interface FleetCredentials {
  gateway: string;
  mqttUrl: string;
  username: string;
  password: string;
  group?: string;
  caCert: string;
  configPublicKey: string;
}

export const CREDENTIALS_FILE = 'fleet.json';
export const CA_FILE = 'fleet-ca.crt';
export const CONFIG_KEY_FILE = 'config-signing.pub';

export class ProvisionError extends CityGateError {}

export async function provision(opts: {
  fleetUrl: string;
  token: string;
  gatewayId: string;
  dir: string;
  fetchImpl?: typeof fetch;
}): Promise<FleetCredentials> {
  if (!isValidId(opts.gatewayId))
    throw new ProvisionError('bad-id', `'${opts.gatewayId}' is not a valid gateway id (a-z, 0-9, '-')`);
  const url = new URL('/api/v1/provision', opts.fleetUrl);
  let res: Response;
  try {
    res = await (opts.fetchImpl ?? fetch)(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: opts.token, gateway: opts.gatewayId }),
    });
  } catch (err) {
    throw new ProvisionError(
      'fleet-unreachable',
      `cannot reach the fleet at ${url.origin}: ${(err as Error).message}`,
    );
  }
  const body = (await res.json().catch(() => ({}))) as Partial<FleetCredentials> & {
    error?: { message?: string };
  };
  if (!res.ok)
    throw new ProvisionError(
      'provision-refused',
      `fleet refused provisioning (${res.status}): ${body.error?.message ?? res.statusText}`,
    );
  const missing = (
    ['gateway', 'mqttUrl', 'username', 'password', 'caCert', 'configPublicKey'] as const
  ).filter((k) => typeof body[k] !== 'string' || body[k] === '');
  if (missing.length || body.gateway !== opts.gatewayId)
    throw new ProvisionError(
      'provision-bad-answer',
      `fleet answer lacks ${missing.join(', ') || 'the right gateway id'}`,
    );
  const creds = body as FleetCredentials;
  saveCredentials(opts.dir, creds);
  return creds;
}

export function saveCredentials(dir: string, c: FleetCredentials): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const { caCert, configPublicKey, ...rest } = c;
  writeFileAtomic(join(dir, CA_FILE), caCert, 0o644);
  writeFileAtomic(join(dir, CONFIG_KEY_FILE), configPublicKey, 0o644);
  writeFileAtomic(join(dir, CREDENTIALS_FILE), JSON.stringify(rest, null, 2) + '\n', 0o600);
  chmodSync(join(dir, CREDENTIALS_FILE), 0o600);
}

export function loadCredentials(dir: string): FleetCredentials {
  try {
    const rest = JSON.parse(readFileSync(join(dir, CREDENTIALS_FILE), 'utf8')) as Omit<
      FleetCredentials,
      'caCert' | 'configPublicKey'
    >;
    return {
      ...rest,
      caCert: readFileSync(join(dir, CA_FILE), 'utf8'),
      configPublicKey: readFileSync(join(dir, CONFIG_KEY_FILE), 'utf8'),
    };
  } catch (err) {
    throw new ProvisionError('not-provisioned', `no fleet credentials in ${dir}: ${(err as Error).message}`);
  }
}

/** mqtt.js options for this gateway's uplink: its credentials, and trust in the fleet's CA only. */
export function mqttOptions(c: FleetCredentials): {
  clientId: string;
  username: string;
  password: string;
  ca: string;
} {
  return { clientId: c.gateway, username: c.username, password: c.password, ca: c.caCert };
}
