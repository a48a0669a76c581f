import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realClock } from '../../common/clock.js';
import { memoryLogger } from '../../common/log.js';
import { registerRolloutRoutes } from '../../fleet/src/http/rollout-routes.js';
import { ReleaseStore } from '../../fleet/src/releases/store.js';
import { MemoryRolloutPersistence, RolloutRunner } from '../../fleet/src/rollout/runner.js';
import { tempDir } from '../helpers.js';
import { runCli } from './run-cli.js';

const tmp = tempDir('citygate-release-cli-');
const keys = join(tmp.path, 'keys');
let app: FastifyInstance;
let base: string;
let runner: RolloutRunner;

beforeAll(async () => {
  mkdirSync(keys);
  const r = await runCli(['release', 'keygen', '--out', keys]);
  expect(r.code, r.stderr).toBe(0);
  const releases = new ReleaseStore(join(tmp.path, 'store'), [
    readFileSync(join(keys, 'release-key.pub'), 'utf8'),
  ]);
  runner = new RolloutRunner({
    // Twelve simulated gateways that commit 40 ms after they are asked.
    sender: {
      sendUpdate: (gw, cmd) => {
        setTimeout(() => runner.report(gw, { txId: cmd.txId, status: 'committed' }), 40);
        return Promise.resolve();
      },
    },
    directory: {
      list: () => Promise.resolve(Array.from({ length: 12 }, (_, i) => ({ id: `gw-${i + 10}` }))),
    },
    persistence: new MemoryRolloutPersistence(),
    clock: realClock,
    log: memoryLogger(),
  });
  app = Fastify();
  registerRolloutRoutes(app, { releases, rollouts: runner, uploadDir: join(tmp.path, 'up') });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  runner.stop();
  await app.close();
  tmp.cleanup();
});

describe('citygate release and rollout', () => {
  it('keygen writes a 0600 private key; build, sign, verify and upload a bundle', async () => {
    expect(statSync(join(keys, 'release-key.pem')).mode & 0o777).toBe(0o600);
    const src = join(tmp.path, 'app');
    mkdirSync(join(src, 'dist'), { recursive: true });
    writeFileSync(join(src, 'dist', 'main.js'), 'console.log("edge")\n');
    const bundle = join(tmp.path, 'edge.bundle');
    const build = await runCli([
      'release',
      'build',
      '--source',
      src,
      '--version',
      '2.0.0',
      '--min-from',
      '1.0.0',
      '--entry',
      'dist/main.js',
      '--out',
      bundle,
    ]);
    expect(build.stdout).toContain(
      `built ${bundle}: 2.0.0 for ${process.platform}/${process.arch} Node ABI ${process.versions.modules}, 1 files`,
    );
    const unsignedVerify = await runCli([
      'release',
      'verify',
      '--pub',
      join(keys, 'release-key.pub'),
      bundle,
    ]);
    expect(unsignedVerify.code).toBe(1);
    expect(unsignedVerify.stderr).toContain('bundle is not signed');
    const sign = await runCli(['release', 'sign', '--key', join(keys, 'release-key.pem'), bundle]);
    expect(sign.stdout).toMatch(/^signed .* with key [0-9a-f]{16}/);
    const verify = await runCli(['release', 'verify', '--pub', join(keys, 'release-key.pub'), bundle]);
    expect(verify.stdout).toContain('ok: 2.0.0 (from 1.0.0)');
    const upload = await runCli(['release', 'upload', '--fleet', base, bundle]);
    expect(upload.stdout, upload.stderr).toContain('uploaded 2.0.0');
  });

  it('rollout create, then status --watch draws a bar per wave until it completes', async () => {
    const create = await runCli([
      'rollout',
      'create',
      '--fleet',
      base,
      '--version',
      '2.0.0',
      '--waves',
      '2,50%',
      '--timeout',
      '1m',
    ]);
    expect(create.code, create.stderr).toBe(0);
    const id = /rollout (r-\S+)/.exec(create.stdout)![1]!;
    const watch = await runCli(['rollout', 'status', id, '--watch', '--interval', '50', '--fleet', base]);
    expect(watch.code, watch.stderr).toBe(0);
    const last = watch.stdout.trim().split(`rollout ${id}`).pop()!;
    expect(last).toContain('COMPLETED');
    expect(last).toMatch(/canary\s+\[█{30}\]\s+2\/2 committed\s+passed/);
    expect(last).toMatch(/wave 2\s+\[█{30}\]\s+6\/6 committed\s+passed/);
    expect(last).toMatch(/wave 3\s+\[█{30}\]\s+4\/4 committed\s+passed/);
    const bad = await runCli(['rollout', 'create', '--fleet', base, '--version', '2.0.0', '--waves', '0%']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--waves: '0%' is neither a gateway count nor a percentage");
  });
});
