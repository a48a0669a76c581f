import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundle, readHeader, signBundle, verifyBundle } from '../common/release/bundle.js';
import { generateSigningKey, isVersion } from '../common/release/manifest.js';
import { UsageError, type Command } from './args.js';
import { fleetUrl, requestJson } from './fleet-client.js';

const need = (values: Record<string, unknown>, name: string): string => {
  const v = values[name];
  if (typeof v !== 'string' || v === '')
    throw new UsageError(`missing --${name}. Run 'citygate release --help' for usage.`);
  return v;
};
const version = (values: Record<string, unknown>, name: string): string => {
  const v = need(values, name);
  if (!isVersion(v)) throw new UsageError(`--${name}: expected a version like 1.4.0, got '${v}'`);
  return v;
};
const onePositional = (p: string[], what: string): string => {
  if (p.length !== 1) throw new UsageError(`expected one ${what}, got ${p.length}`);
  return p[0]!;
};

export const releaseCommand: Command = {
  name: 'release',
  summary: 'make, sign, check and upload edge release bundles (Ed25519)',
  usage: [
    'release keygen --out DIR',
    '       citygate release build --source DIR --version V --min-from V --entry PATH --out FILE [--arch A] [--node-abi N]',
    '       citygate release sign --key FILE BUNDLE [--out FILE]',
    '       citygate release verify --pub FILE BUNDLE',
    '       citygate release upload [--fleet URL] BUNDLE',
  ].join('\n'),
  options: {
    out: { type: 'string', short: 'o' },
    source: { type: 'string' },
    version: { type: 'string' },
    'min-from': { type: 'string' },
    entry: { type: 'string' },
    platform: { type: 'string' },
    arch: { type: 'string' },
    'node-abi': { type: 'string' },
    key: { type: 'string' },
    pub: { type: 'string' },
    fleet: { type: 'string' },
  },
  help: {
    out: 'keygen: directory for release-key.pem/.pub; build, sign: output bundle',
    source: 'build: directory holding the edge app as installed (dist/, node_modules/ built for the target)',
    version: 'build: release version (x.y.z)',
    'min-from': 'build: oldest installed version this release can upgrade from',
    entry: 'build: script pm2 runs, relative to the release (e.g. dist/cli/main.js)',
    platform: 'build: target platform (default: this machine)',
    arch: 'build: target CPU architecture, as process.arch names it: arm64, arm, x64 (default: this machine)',
    'node-abi': "build: target Node ABI, process.versions.modules (default: this machine's)",
    key: 'sign: Ed25519 private key (PEM)',
    pub: 'verify: trusted Ed25519 public key (PEM)',
    fleet: 'upload: fleet URL (default $CITYGATE_FLEET_URL or http://127.0.0.1:8080)',
  },
  async run(values, positionals) {
    const [sub, ...rest] = positionals;
    switch (sub) {
      case 'keygen': {
        const dir = need(values, 'out');
        const priv = join(dir, 'release-key.pem');
        if (existsSync(priv)) throw new UsageError(`${priv} exists; refusing to overwrite a signing key`);
        const k = generateSigningKey();
        writeFileSync(priv, k.privateKeyPem, { mode: 0o600 });
        writeFileSync(join(dir, 'release-key.pub'), k.publicKeyPem, { mode: 0o644 });
        console.log(
          `key ${k.keyId}: private ${priv} (keep it off gateways), public ${join(dir, 'release-key.pub')}`,
        );
        return 0;
      }
      case 'build': {
        const out = need(values, 'out');
        const m = buildBundle(
          {
            sourceDir: need(values, 'source'),
            version: version(values, 'version'),
            minUpgradeFrom: version(values, 'min-from'),
            entry: need(values, 'entry'),
            ...(typeof values.platform === 'string' ? { platform: values.platform } : {}),
            ...(typeof values.arch === 'string' ? { arch: values.arch } : {}),
            ...(typeof values['node-abi'] === 'string' ? { nodeAbi: values['node-abi'] } : {}),
          },
          out,
        );
        const bytes = m.files.reduce((n, f) => n + f.size, 0);
        console.log(
          `built ${out}: ${m.version} for ${m.platform}/${m.arch} Node ABI ${m.nodeAbi}, ${m.files.length} files, ${bytes} bytes (unsigned)`,
        );
        return 0;
      }
      case 'sign': {
        const bundle = onePositional(rest, 'bundle');
        const out = typeof values.out === 'string' ? values.out : bundle;
        const sig = await signBundle(bundle, readFileSync(need(values, 'key'), 'utf8'), out);
        console.log(`signed ${out} with key ${sig.keyId}`);
        return 0;
      }
      case 'verify': {
        const bundle = onePositional(rest, 'bundle');
        const h0 = await readHeader(bundle);
        const m = h0.manifest;
        // The fleet's check: signature and hashes; a gateway adds its own version and platform policy.
        await verifyBundle(bundle, {
          trustedKeys: [readFileSync(need(values, 'pub'), 'utf8')],
          platform: m.platform,
          arch: m.arch,
          nodeAbi: m.nodeAbi,
        });
        console.log(
          `ok: ${m.version} (from ${m.minUpgradeFrom}) for ${m.platform}/${m.arch} Node ABI ${m.nodeAbi}, ${m.files.length} files, signed by ${h0.signature!.keyId}`,
        );
        return 0;
      }
      case 'upload': {
        const bundle = onePositional(rest, 'bundle');
        const r = await requestJson<{ release: { version: string; arch: string; size: number } }>(
          fleetUrl(values),
          'POST',
          '/api/v1/releases',
          readFileSync(bundle),
        );
        console.log(`uploaded ${r.release.version} (${r.release.arch}, ${r.release.size} bytes)`);
        return 0;
      }
      default:
        throw new UsageError(
          `expected keygen, build, sign, verify or upload, got '${sub ?? ''}'. Run 'citygate release --help' for usage.`,
        );
    }
  },
};
