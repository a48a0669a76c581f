import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MAGIC, readHeader, signBundle, unpackBundle, verifyBundle } from '../../../common/release/bundle.js';
import { compareVersions, generateSigningKey, signManifest } from '../../../common/release/manifest.js';
import type { Supervisor } from '../../../edge/src/updater/supervisor.js';
import { Updater } from '../../../edge/src/updater/updater.js';
import { fakeBundle, testUpdaterOptions } from '../../edge/updater/fake-release.js';
import { tempDir } from '../../helpers.js';

const tmp = tempDir('citygate-bundle-');
afterAll(() => tmp.cleanup());
const key = generateSigningKey();
const trusted = { trustedKeys: [key.publicKeyPem] };

/** Rewrite a bundle file with `edit` applied to its bytes; returns the new path. */
function altered(file: string, name: string, edit: (b: Buffer) => Buffer): string {
  const out = join(tmp.path, name);
  writeFileSync(out, edit(readFileSync(file)));
  return out;
}

describe('release bundles', () => {
  it('a signed bundle verifies and unpacks to exactly its files', async () => {
    const file = await fakeBundle(tmp.path, key, '2.0.0', 'good', { minUpgradeFrom: '1.0.0' });
    const h = await verifyBundle(file, { ...trusted, highestInstalled: '1.9.9', currentVersion: '1.0.0' });
    expect(h.manifest).toMatchObject({ version: '2.0.0', minUpgradeFrom: '1.0.0', entry: 'app.cjs' });
    expect(h.manifest).toMatchObject({ arch: process.arch, nodeAbi: process.versions.modules });
    expect(h.manifest.files.map((f) => f.path)).toEqual(['app.cjs', 'lib/notes.txt']);
    const dir = join(tmp.path, 'unpacked');
    await unpackBundle(file, h, dir);
    expect(readFileSync(join(dir, 'lib', 'notes.txt'), 'utf8')).toBe('release 2.0.0\n');
    expect(readdirSync(dir).sort()).toEqual(['.citygate-release.json', 'app.cjs', 'lib']);
  });

  it('rejects a bundle whose file bytes were changed after signing', async () => {
    const file = await fakeBundle(tmp.path, key, '2.0.1', 'good');
    const bad = altered(file, 'payload.bundle', (b) => {
      const i = b.lastIndexOf('release 2.0.1');
      b[i] = 'R'.charCodeAt(0);
      return b;
    });
    await expect(verifyBundle(bad, trusted)).rejects.toMatchObject({ code: 'bundle-hash' });
  });

  it('rejects a bundle whose manifest was changed after signing', async () => {
    const file = await fakeBundle(tmp.path, key, '2.0.2', 'good');
    const bad = altered(file, 'manifest.bundle', (b) =>
      Buffer.from(b.toString('latin1').replace('"2.0.2"', '"9.0.2"'), 'latin1'),
    );
    await expect(verifyBundle(bad, trusted)).rejects.toMatchObject({
      code: 'bundle-signature',
      message: 'bundle signature does not match its manifest',
    });
  });

  it('rejects unsigned bundles and bundles signed by a key it does not trust', async () => {
    const unsigned = await fakeBundle(tmp.path, key, '2.0.3', 'good', { sign: false });
    await expect(verifyBundle(unsigned, trusted)).rejects.toMatchObject({ code: 'bundle-unsigned' });
    const other = generateSigningKey();
    const foreign = join(tmp.path, 'foreign.bundle');
    await signBundle(unsigned, other.privateKeyPem, foreign);
    await expect(verifyBundle(foreign, trusted)).rejects.toMatchObject({
      code: 'bundle-signature',
      message: `bundle is signed by key ${other.keyId}, which is not trusted`,
    });
  });

  it('rejects a downgrade, a re-install of the same version and a bundle too new to upgrade from here', async () => {
    const file = await fakeBundle(tmp.path, key, '2.1.0', 'good', { minUpgradeFrom: '2.0.0' });
    await expect(verifyBundle(file, { ...trusted, highestInstalled: '2.2.0' })).rejects.toMatchObject({
      code: 'bundle-downgrade',
    });
    await expect(verifyBundle(file, { ...trusted, highestInstalled: '2.1.0' })).rejects.toMatchObject({
      code: 'bundle-downgrade',
    });
    await expect(verifyBundle(file, { ...trusted, currentVersion: '1.9.0' })).rejects.toMatchObject({
      code: 'bundle-too-old',
      message: 'bundle 2.1.0 upgrades from 2.0.0 or later; this gateway runs 1.9.0',
    });
  });

  it('rejects a bundle built for another CPU architecture or Node ABI', async () => {
    const file = await fakeBundle(tmp.path, key, '2.1.1', 'good');
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    await expect(verifyBundle(file, { ...trusted, arch: other })).rejects.toMatchObject({
      code: 'bundle-platform',
    });
    await expect(verifyBundle(file, { ...trusted, nodeAbi: '1' })).rejects.toMatchObject({
      code: 'bundle-platform',
    });
  });

  it('rejects malformed bundles: truncated, trailing bytes, not a bundle, paths escaping the release dir', async () => {
    const file = await fakeBundle(tmp.path, key, '2.1.2', 'good');
    const truncated = altered(file, 'trunc.bundle', (b) => b.subarray(0, b.length - 5));
    await expect(verifyBundle(truncated, trusted)).rejects.toMatchObject({ code: 'bundle-malformed' });
    const trailing = altered(file, 'trail.bundle', (b) => Buffer.concat([b, Buffer.from('x')]));
    await expect(verifyBundle(trailing, trusted)).rejects.toMatchObject({ code: 'bundle-malformed' });
    const junk = altered(file, 'junk.bundle', () => Buffer.from('PK\x03\x04 not a bundle\n\n\n'));
    await expect(verifyBundle(junk, trusted)).rejects.toMatchObject({ code: 'bundle-malformed' });
    // A correctly signed manifest naming ../ is still refused.
    const h = await readHeader(file);
    const evil = Buffer.from(h.manifestBytes.toString().replace('"lib/notes.txt"', '"../../etc/cron.d/x"'));
    const sig = signManifest(evil, key.privateKeyPem);
    const payload = readFileSync(file).subarray(h.payloadOffset);
    const traversal = join(tmp.path, 'traversal.bundle');
    writeFileSync(
      traversal,
      Buffer.concat([
        Buffer.from(`${MAGIC}\n`),
        evil,
        Buffer.from(`\ned25519 ${sig.keyId} ${sig.sig}\n`),
        payload,
      ]),
    );
    await expect(verifyBundle(traversal, trusted)).rejects.toMatchObject({ code: 'bundle-malformed' });
  });

  it('compares versions numerically', () => {
    expect(compareVersions('1.10.0', '1.9.9')).toBeGreaterThan(0);
    expect(compareVersions('2.0.0', '2.0.0')).toBe(0);
    expect(compareVersions('0.9.0', '1.0.0')).toBeLessThan(0);
  });
});

describe('the updater refuses bad bundles before touching anything', () => {
  const calls: string[] = [];
  const sup: Supervisor = {
    restart: (s) => (calls.push(`restart ${s.name}`), Promise.resolve()),
    stop: (n) => (calls.push(`stop ${n}`), Promise.resolve()),
    info: () => Promise.resolve({ status: 'online', restarts: 0 }),
    close: () => Promise.resolve(),
  };

  it('tampered, unsigned, downgrade and too-old bundles end as failed at verify; nothing restarted', async () => {
    const root = join(tmp.path, 'gw');
    const updater = new Updater(testUpdaterOptions(root, sup, key.publicKeyPem));
    // Pretend 3.0.0 is live and committed (what an earlier update would have left).
    writeFileSync(
      join(root, 'update-state.json'),
      JSON.stringify({ committed: '3.0.0', highestCommitted: '3.0.0' }),
    );
    const tampered = altered(await fakeBundle(tmp.path, key, '3.1.0', 'good'), 't.bundle', (b) => {
      b[b.length - 3] = b[b.length - 3]! ^ 1;
      return b;
    });
    const cases: [string, string][] = [
      [tampered, 'verify: lib/notes.txt does not match its sha256 in the manifest'],
      [await fakeBundle(tmp.path, key, '3.2.0', 'good', { sign: false }), 'verify: bundle is not signed'],
      [
        await fakeBundle(tmp.path, key, '2.9.0', 'good'),
        'verify: bundle version 2.9.0 is not newer than 3.0.0, the highest ever installed here',
      ],
      [
        await fakeBundle(tmp.path, key, '4.0.0', 'good', { minUpgradeFrom: '3.5.0' }),
        'verify: bundle 4.0.0 upgrades from 3.5.0 or later; this gateway runs 3.0.0',
      ],
    ];
    for (const [i, [bundle, reason]] of cases.entries()) {
      const s = await updater.request(`bad-${i}`, bundle);
      expect(s.last).toMatchObject({ id: `bad-${i}`, outcome: 'failed', reason });
      expect(s.committed).toBe('3.0.0');
    }
    expect(calls).toEqual([]);
    expect(readdirSync(join(root, 'releases'))).toEqual([]);
    expect(readdirSync(join(root, 'downloads'))).toEqual([]);
  });
});
