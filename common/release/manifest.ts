import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import { CityGateError } from '../errors.js';
import { check } from '../json-schema.js';

/**
 * A release bundle's manifest: what the gateway checks before anything touches the running system.
 * The signature covers the manifest's exact bytes; the manifest names the sha256 of every file.
 */
export interface ReleaseFile {
  path: string;
  size: number;
  sha256: string;
  /** Unix permission bits (0o755 for executables). */
  mode: number;
}

export interface ReleaseManifest {
  format: 1;
  product: 'citygate-edge';
  version: string;
  /** The oldest installed version this release can upgrade from (schema/data migrations). */
  minUpgradeFrom: string;
  createdAt: string;
  /** `process.platform`, `process.arch` and `process.versions.modules` the native modules were built for. */
  platform: string;
  arch: string;
  nodeAbi: string;
  /** The script pm2 runs, relative to the release directory. */
  entry: string;
  files: ReleaseFile[];
}

const VERSION = '^(0|[1-9]\\d{0,5})\\.(0|[1-9]\\d{0,5})\\.(0|[1-9]\\d{0,5})$';
const REL_PATH = '^(?!/)(?!.*(^|/)\\.\\.?(/|$))[A-Za-z0-9._@+/-]{1,512}$';

export const manifestSchema = {
  type: 'object',
  additionalProperties: false,
  required: [
    'format',
    'product',
    'version',
    'minUpgradeFrom',
    'createdAt',
    'platform',
    'arch',
    'nodeAbi',
    'entry',
    'files',
  ],
  properties: {
    format: { const: 1 },
    product: { const: 'citygate-edge' },
    version: { type: 'string', pattern: VERSION },
    minUpgradeFrom: { type: 'string', pattern: VERSION },
    createdAt: { type: 'string', pattern: '^\\d{4}-\\d\\d-\\d\\dT' },
    platform: { type: 'string', pattern: '^[a-z0-9]{1,16}$' },
    arch: { type: 'string', pattern: '^[a-z0-9]{1,16}$' },
    nodeAbi: { type: 'string', pattern: '^\\d{1,4}$' },
    entry: { type: 'string', pattern: REL_PATH },
    files: {
      type: 'array',
      minItems: 1,
      maxItems: 200000,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['path', 'size', 'sha256', 'mode'],
        properties: {
          path: { type: 'string', pattern: REL_PATH },
          size: { type: 'integer', minimum: 0, maximum: 2 ** 40 },
          sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
          mode: { type: 'integer', minimum: 0, maximum: 0o777 },
        },
      },
    },
  },
} as const;

export class BundleError extends CityGateError {
  constructor(code: BundleErrorCode, message: string) {
    super(code, message);
    this.name = 'BundleError';
  }
}

export type BundleErrorCode =
  | 'bundle-malformed'
  | 'bundle-unsigned'
  | 'bundle-signature'
  | 'bundle-hash'
  | 'bundle-downgrade'
  | 'bundle-too-old'
  | 'bundle-platform';

/** Parse and validate manifest bytes; throws `bundle-malformed` naming every bad path. */
export function parseManifest(bytes: Buffer | string): ReleaseManifest {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString());
  } catch (err) {
    throw new BundleError('bundle-malformed', `manifest is not JSON: ${(err as Error).message}`);
  }
  const r = check(manifestSchema, value);
  if (!r.ok) throw new BundleError('bundle-malformed', `manifest is invalid: ${r.issues.join('; ')}`);
  const m = value as ReleaseManifest;
  const seen = new Set<string>();
  for (const f of m.files) {
    if (seen.has(f.path)) throw new BundleError('bundle-malformed', `manifest lists ${f.path} twice`);
    seen.add(f.path);
  }
  if (!seen.has(m.entry)) throw new BundleError('bundle-malformed', `entry ${m.entry} is not in the bundle`);
  return m;
}

/** Compare x.y.z versions: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export function isVersion(v: string): boolean {
  return new RegExp(VERSION).test(v);
}

// ---- Ed25519 keys and signatures ----

export interface SigningKeyPair {
  /** PKCS#8 PEM; keep it off the gateways and out of the repository. */
  privateKeyPem: string;
  /** SPKI PEM; installed on every gateway and the fleet as a trusted release key. */
  publicKeyPem: string;
  keyId: string;
}

export function keyIdOf(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export function generateSigningKey(): SigningKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem,
    keyId: keyIdOf(publicKeyPem),
  };
}

export interface Signature {
  keyId: string;
  /** base64 Ed25519 signature over the manifest bytes. */
  sig: string;
}

export function signManifest(manifestBytes: Buffer, privateKeyPem: string): Signature {
  const key = createPrivateKey(privateKeyPem);
  if (key.asymmetricKeyType !== 'ed25519')
    throw new CityGateError('bad-key', `release keys are Ed25519, got ${key.asymmetricKeyType ?? 'unknown'}`);
  const publicKeyPem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return { keyId: keyIdOf(publicKeyPem), sig: sign(null, manifestBytes, key).toString('base64') };
}

/** Throws unless `signature` was made over `manifestBytes` by one of `trustedKeys` (PEM). */
export function verifySignature(
  manifestBytes: Buffer,
  signature: Signature | undefined,
  trustedKeys: readonly string[],
): string {
  if (!signature) throw new BundleError('bundle-unsigned', 'bundle is not signed');
  const key = trustedKeys.find((k) => keyIdOf(k) === signature.keyId);
  if (!key)
    throw new BundleError(
      'bundle-signature',
      `bundle is signed by key ${signature.keyId}, which is not trusted`,
    );
  const ok = verify(null, manifestBytes, createPublicKey(key), Buffer.from(signature.sig, 'base64'));
  if (!ok) throw new BundleError('bundle-signature', 'bundle signature does not match its manifest');
  return signature.keyId;
}
