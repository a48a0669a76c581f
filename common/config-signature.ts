/**
 * Signed desired configuration (`config/desired`). The fleet signs, with Ed25519, the canonical JSON
 * (sorted keys, no whitespace) of everything in the message except `signature`, prefixed by a
 * domain tag; the gateway verifies with the public key it received at provisioning. The signature
 * covers gateway id, version and timestamp, so a config cannot be moved to another gateway and a
 * replay is caught by the gateway's anti-rollback check.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import type { ConfigDesired } from './contract/index.js';

const DOMAIN = 'citygate/config-desired/v1\n';

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

const signedBytes = (msg: ConfigDesired): Buffer => {
  const { signature: _omit, ...rest } = msg;
  return Buffer.from(DOMAIN + canonicalJson(rest));
};

export function generateConfigKey(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

export function signConfig(msg: ConfigDesired, privateKey: KeyObject | string): ConfigDesired {
  const key = typeof privateKey === 'string' ? createPrivateKey(privateKey) : privateKey;
  return { ...msg, signature: sign(null, signedBytes(msg), key).toString('base64') };
}

/** Does `msg.signature` verify against `publicKey`? False for a missing or malformed signature. */
export function verifyConfigSignature(msg: ConfigDesired, publicKey: KeyObject | string): boolean {
  if (typeof msg.signature !== 'string' || msg.signature === '') return false;
  try {
    const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
    return verify(null, signedBytes(msg), key, Buffer.from(msg.signature, 'base64'));
  } catch {
    return false;
  }
}
