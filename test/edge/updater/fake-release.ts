import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildBundle, signBundle } from '../../../common/release/bundle.js';
import { generateSigningKey, type SigningKeyPair } from '../../../common/release/manifest.js';
import type { UpdaterOptions } from '../../../edge/src/updater/updater.js';
import type { Supervisor } from '../../../edge/src/updater/supervisor.js';

/** How a generated fake edge app behaves once pm2 starts it. */
export type Behaviour = 'good' | 'crash' | 'unhealthy';

/** A tiny stand-in for the edge runtime: writes the health report the real runtime writes. */
function appSource(version: string, behaviour: Behaviour): string {
  if (behaviour === 'crash') return `console.error('v${version}: cannot start'); process.exit(3);\n`;
  const uplink = behaviour === 'good';
  return `
const fs = require('node:fs');
const file = process.env.CITYGATE_HEALTH_FILE;
const write = () => {
  const tmp = file + '.' + process.pid;
  fs.writeFileSync(tmp, JSON.stringify({
    pid: process.pid, version: '${version}', at: Date.now(),
    checks: { uplink: ${uplink}, polls: true, rules: true },
    ${uplink ? '' : "detail: { uplink: 'broker unreachable' },"}
  }));
  fs.renameSync(tmp, file);
};
write();
setInterval(write, 100);
process.send?.('ready');
`;
}

/** Build and sign a bundle for a fake app; returns its path. */
export async function fakeBundle(
  dir: string,
  key: SigningKeyPair,
  version: string,
  behaviour: Behaviour,
  opts: { minUpgradeFrom?: string; sign?: boolean } = {},
): Promise<string> {
  const src = join(dir, `src-${version}`);
  mkdirSync(join(src, 'lib'), { recursive: true });
  writeFileSync(join(src, 'app.cjs'), appSource(version, behaviour));
  writeFileSync(join(src, 'lib', 'notes.txt'), `release ${version}\n`);
  const out = join(dir, `citygate-edge-${version}.bundle`);
  buildBundle(
    { sourceDir: src, version, minUpgradeFrom: opts.minUpgradeFrom ?? '0.0.0', entry: 'app.cjs' },
    out,
  );
  if (opts.sign !== false) await signBundle(out, key.privateKeyPem, out);
  return out;
}

export const testKey = (): SigningKeyPair => generateSigningKey();

/** Updater options tuned for tests: short windows, quick pm2 crash detection. */
export function testUpdaterOptions(
  root: string,
  supervisor: Supervisor,
  publicKeyPem: string,
): UpdaterOptions {
  return {
    root,
    trustedKeys: [publicKeyPem],
    supervisor,
    app: {
      name: 'citygate-edge',
      env: { CITYGATE_HEALTH_FILE: join(root, 'health.json') },
      minUptimeMs: 1000,
      maxRestarts: 3,
      restartDelayMs: 100,
      killTimeoutMs: 1000,
    },
    healthFile: join(root, 'health.json'),
    health: { windowMs: 3000, settleMs: 500, maxCrashes: 1, pollMs: 100 },
    minFreeDiskBytes: 1024 * 1024,
    minFreeMemBytes: 1024 * 1024,
  };
}
