import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CityGateError } from '../../../common/errors.js';
import { verifyBundleIntegrity } from '../../../common/release/bundle.js';
import { compareVersions, type ReleaseManifest } from '../../../common/release/manifest.js';

/** One built bundle of a release: releases are built per platform, CPU architecture and Node ABI. */
export interface ReleaseBuild {
  version: string;
  platform: string;
  arch: string;
  nodeAbi: string;
  minUpgradeFrom: string;
  createdAt: string;
  keyId: string;
  /** Size and sha256 of the bundle file. */
  size: number;
  sha256: string;
  files: number;
}

export interface ReleaseSummary {
  version: string;
  builds: ReleaseBuild[];
}

const buildName = (m: Pick<ReleaseManifest, 'platform' | 'arch' | 'nodeAbi'>) =>
  `${m.platform}-${m.arch}-node${m.nodeAbi}`;

/**
 * The fleet's releases on disk: `<dir>/<version>/<platform>-<arch>-node<abi>.bundle` plus a `.json`
 * summary beside it. A bundle is stored only if it is signed by a trusted key and every file matches
 * its manifest; unsigned, tampered or malformed uploads are refused with the reason.
 */
export class ReleaseStore {
  constructor(
    private readonly dir: string,
    private readonly trustedKeys: readonly string[],
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }

  /** Verify a bundle (already written to `file`) and move it into the store. */
  async add(file: string): Promise<ReleaseBuild> {
    const h = await verifyBundleIntegrity(file, this.trustedKeys);
    const m = h.manifest;
    const vdir = join(this.dir, m.version);
    const name = buildName(m);
    mkdirSync(vdir, { recursive: true });
    const target = join(vdir, `${name}.bundle`);
    let existing: ReleaseBuild | undefined;
    try {
      existing = JSON.parse(readFileSync(`${target}.json`, 'utf8')) as ReleaseBuild;
    } catch {
      existing = undefined;
    }
    const sha256 = await hashFile(file);
    if (existing && existing.sha256 !== sha256)
      throw new CityGateError(
        'release-exists',
        `release ${m.version} for ${name} exists with different content`,
      );
    const build: ReleaseBuild = {
      version: m.version,
      platform: m.platform,
      arch: m.arch,
      nodeAbi: m.nodeAbi,
      minUpgradeFrom: m.minUpgradeFrom,
      createdAt: m.createdAt,
      keyId: h.signature!.keyId,
      size: statSync(file).size,
      sha256,
      files: m.files.length,
    };
    await rename(file, target);
    await writeFile(`${target}.json`, JSON.stringify(build, null, 2));
    return build;
  }

  list(): ReleaseSummary[] {
    return readdirSync(this.dir)
      .filter((v) => /^\d+\.\d+\.\d+$/.test(v))
      .sort((a, b) => compareVersions(b, a))
      .map((version) => ({
        version,
        builds: readdirSync(join(this.dir, version))
          .filter((f) => f.endsWith('.bundle.json'))
          .map((f) => JSON.parse(readFileSync(join(this.dir, version, f), 'utf8')) as ReleaseBuild),
      }))
      .filter((r) => r.builds.length > 0);
  }

  has(version: string): boolean {
    return this.list().some((r) => r.version === version);
  }

  /** The bundle for a gateway; with one build only, platform details may be omitted. */
  find(
    version: string,
    want: { platform?: string; arch?: string; nodeAbi?: string } = {},
  ): { path: string; build: ReleaseBuild } {
    const r = this.list().find((x) => x.version === version);
    if (!r) throw new CityGateError('not-found', `no release ${version}`);
    const match = r.builds.filter(
      (b) =>
        (!want.platform || b.platform === want.platform) &&
        (!want.arch || b.arch === want.arch) &&
        (!want.nodeAbi || b.nodeAbi === want.nodeAbi),
    );
    if (match.length !== 1)
      throw new CityGateError(
        'not-found',
        match.length === 0
          ? `release ${version} has no build for ${want.platform ?? '*'}/${want.arch ?? '*'} Node ABI ${want.nodeAbi ?? '*'}`
          : `release ${version} has ${match.length} builds: say platform, arch and abi`,
      );
    const b = match[0]!;
    return { path: join(this.dir, version, `${buildName(b)}.bundle`), build: b };
  }

  async remove(version: string): Promise<void> {
    await rm(join(this.dir, version), { recursive: true, force: true });
  }
}

function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
