import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { chmod, mkdir, open, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import {
  BundleError,
  compareVersions,
  parseManifest,
  signManifest,
  verifySignature,
  type ReleaseManifest,
  type Signature,
} from './manifest.js';

/**
 * A bundle is one file a gateway can install with no network:
 *
 *   CITYGATE-BUNDLE/1\n
 *   <manifest JSON, one line>\n
 *   unsigned\n   |   ed25519 <keyId> <base64 signature over the manifest line>\n
 *   <the files' bytes, concatenated in manifest order>
 *
 * Signing rewrites only the third line. Nothing in the payload is trusted until its sha256 matches
 * the (signed) manifest, and the payload must end exactly where the manifest says.
 */
export const MAGIC = 'CITYGATE-BUNDLE/1';
/** Written into every unpacked release directory: the manifest it was installed from. */
export const RELEASE_MANIFEST = '.citygate-release.json';
const MAX_HEADER = 64 * 1024 * 1024;
const CHUNK = 1024 * 1024;

export interface BundleHeader {
  manifest: ReleaseManifest;
  manifestBytes: Buffer;
  signature?: Signature;
  /** Byte offset where the payload starts. */
  payloadOffset: number;
}

export interface BuildOptions {
  /** Directory holding the edge application as it should be installed (dist, node_modules, …). */
  sourceDir: string;
  version: string;
  minUpgradeFrom: string;
  entry: string;
  platform?: string;
  arch?: string;
  nodeAbi?: string;
  now?: () => number;
}

function listFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      // Symlinks (node_modules/.bin) are not shipped: the runtime never needs them.
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(root);
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Build an unsigned bundle of `sourceDir` into `outFile`; returns the manifest. */
export function buildBundle(opts: BuildOptions, outFile: string): ReleaseManifest {
  const paths = listFiles(opts.sourceDir);
  const manifest: ReleaseManifest = {
    format: 1,
    product: 'citygate-edge',
    version: opts.version,
    minUpgradeFrom: opts.minUpgradeFrom,
    createdAt: new Date((opts.now ?? Date.now)()).toISOString(),
    platform: opts.platform ?? process.platform,
    arch: opts.arch ?? process.arch,
    nodeAbi: opts.nodeAbi ?? process.versions.modules,
    entry: opts.entry,
    files: paths.map((p) => {
      const data = readFileSync(p);
      return {
        path: relative(opts.sourceDir, p).split(sep).join('/'),
        size: data.length,
        sha256: sha256(data),
        mode: lstatSync(p).mode & 0o777,
      };
    }),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  parseManifest(manifestBytes); // the builder refuses what a gateway would refuse
  const fd = openSync(outFile, 'w', 0o644);
  try {
    writeSync(fd, `${MAGIC}\n`);
    writeSync(fd, manifestBytes);
    writeSync(fd, '\nunsigned\n');
    for (const p of paths) writeSync(fd, readFileSync(p));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return manifest;
}

/** Read and parse the three header lines (no signature check). */
export async function readHeader(file: string): Promise<BundleHeader> {
  const fh = await open(file, 'r');
  try {
    let buf = Buffer.alloc(0);
    const newlines: number[] = [];
    let pos = 0;
    while (newlines.length < 3) {
      if (buf.length > MAX_HEADER) throw new BundleError('bundle-malformed', 'bundle header is too large');
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) throw new BundleError('bundle-malformed', 'bundle ends inside its header');
      const start = buf.length;
      buf = Buffer.concat([buf, chunk.subarray(0, bytesRead)]);
      pos += bytesRead;
      for (let i = start; i < buf.length && newlines.length < 3; i++) if (buf[i] === 10) newlines.push(i);
    }
    const [a, b, c] = newlines as [number, number, number];
    if (buf.subarray(0, a).toString() !== MAGIC)
      throw new BundleError('bundle-malformed', `not a CityGate bundle (expected ${MAGIC})`);
    const manifestBytes = Buffer.from(buf.subarray(a + 1, b));
    const manifest = parseManifest(manifestBytes);
    const sigLine = buf.subarray(b + 1, c).toString();
    let signature: Signature | undefined;
    const m = /^ed25519 ([0-9a-f]{16}) ([A-Za-z0-9+/=]{1,200})$/.exec(sigLine);
    if (m) signature = { keyId: m[1]!, sig: m[2]! };
    else if (sigLine !== 'unsigned') throw new BundleError('bundle-malformed', 'bad signature line');
    return { manifest, manifestBytes, signature, payloadOffset: c + 1 };
  } finally {
    await fh.close();
  }
}

/** Sign `inFile` with an Ed25519 private key (PEM) into `outFile` (may be the same path). */
export async function signBundle(inFile: string, privateKeyPem: string, outFile: string): Promise<Signature> {
  const h = await readHeader(inFile);
  const signature = signManifest(h.manifestBytes, privateKeyPem);
  const tmp = `${outFile}.tmp-${process.pid}`;
  const src = await open(inFile, 'r');
  const dst = await open(tmp, 'w', 0o644);
  try {
    await dst.write(`${MAGIC}\n`);
    await dst.write(h.manifestBytes);
    await dst.write(`\ned25519 ${signature.keyId} ${signature.sig}\n`);
    const chunk = Buffer.alloc(CHUNK);
    let pos = h.payloadOffset;
    for (;;) {
      const { bytesRead } = await src.read(chunk, 0, chunk.length, pos);
      if (bytesRead === 0) break;
      await dst.write(chunk.subarray(0, bytesRead));
      pos += bytesRead;
    }
    await dst.sync();
  } finally {
    await src.close();
    await dst.close();
  }
  await rename(tmp, outFile);
  return signature;
}

/**
 * Walk the payload, checking each file's sha256 against the manifest. With `intoDir`, each file is
 * also written there (fsynced). Throws `bundle-hash` / `bundle-malformed` on the first mismatch.
 */
async function walkPayload(file: string, h: BundleHeader, intoDir?: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    let pos = h.payloadOffset;
    for (const f of h.manifest.files) {
      const hash = createHash('sha256');
      const out = intoDir ? join(intoDir, ...f.path.split('/')) : undefined;
      if (out) await mkdir(dirname(out), { recursive: true });
      const wh = out ? await open(out, 'w', 0o600) : undefined;
      try {
        let left = f.size;
        const chunk = Buffer.alloc(Math.min(CHUNK, Math.max(1, left)));
        while (left > 0) {
          const { bytesRead } = await fh.read(chunk, 0, Math.min(chunk.length, left), pos);
          if (bytesRead === 0)
            throw new BundleError('bundle-malformed', `bundle is truncated inside ${f.path}`);
          hash.update(chunk.subarray(0, bytesRead));
          if (wh) await wh.write(chunk.subarray(0, bytesRead));
          pos += bytesRead;
          left -= bytesRead;
        }
        if (wh) await wh.sync();
      } finally {
        await wh?.close();
      }
      if (hash.digest('hex') !== f.sha256)
        throw new BundleError('bundle-hash', `${f.path} does not match its sha256 in the manifest`);
      if (out) await chmod(out, f.mode);
    }
    const { bytesRead } = await fh.read(Buffer.alloc(1), 0, 1, pos);
    if (bytesRead !== 0) throw new BundleError('bundle-malformed', 'bundle has bytes after its last file');
  } finally {
    await fh.close();
  }
}

export interface InstallPolicy {
  trustedKeys: readonly string[];
  /** Highest version ever installed on this gateway (persisted): the bundle must be newer. */
  highestInstalled?: string;
  /** The version running now: must be ≥ the bundle's minUpgradeFrom. */
  currentVersion?: string;
  platform?: string;
  arch?: string;
  nodeAbi?: string;
}

/** Everything a gateway checks before unpacking: signature, policy, then every file's hash. */
export async function verifyBundle(file: string, policy: InstallPolicy): Promise<BundleHeader> {
  const h = await readHeader(file);
  verifySignature(h.manifestBytes, h.signature, policy.trustedKeys);
  checkPolicy(h.manifest, policy);
  await walkPayload(file, h);
  return h;
}

export function checkPolicy(m: ReleaseManifest, policy: InstallPolicy): void {
  const platform = policy.platform ?? process.platform;
  const arch = policy.arch ?? process.arch;
  const abi = policy.nodeAbi ?? process.versions.modules;
  if (m.platform !== platform || m.arch !== arch || m.nodeAbi !== abi)
    throw new BundleError(
      'bundle-platform',
      `bundle is built for ${m.platform}/${m.arch} Node ABI ${m.nodeAbi}; this gateway is ${platform}/${arch} Node ABI ${abi}`,
    );
  if (policy.highestInstalled && compareVersions(m.version, policy.highestInstalled) <= 0)
    throw new BundleError(
      'bundle-downgrade',
      `bundle version ${m.version} is not newer than ${policy.highestInstalled}, the highest ever installed here`,
    );
  if (policy.currentVersion && compareVersions(policy.currentVersion, m.minUpgradeFrom) < 0)
    throw new BundleError(
      'bundle-too-old',
      `bundle ${m.version} upgrades from ${m.minUpgradeFrom} or later; this gateway runs ${policy.currentVersion}`,
    );
}

/** Verify only signature and hashes (the fleet's check on upload: no gateway policy). */
export async function verifyBundleIntegrity(
  file: string,
  trustedKeys: readonly string[],
): Promise<BundleHeader> {
  const h = await readHeader(file);
  verifySignature(h.manifestBytes, h.signature, trustedKeys);
  await walkPayload(file, h);
  return h;
}

/**
 * Unpack into `dir` (must not exist): files go to `dir.partial` first, hashes are checked while
 * writing, then one rename makes the release directory appear whole or not at all.
 */
export async function unpackBundle(file: string, h: BundleHeader, dir: string): Promise<void> {
  const partial = `${dir}.partial`;
  await rm(partial, { recursive: true, force: true });
  await mkdir(partial, { recursive: true });
  await walkPayload(file, h, partial);
  await writeFile(join(partial, RELEASE_MANIFEST), h.manifestBytes);
  await rename(partial, dir);
}
