import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { generateSigningKey } from '../../../common/release/manifest.js';
import { download } from '../../../edge/src/updater/download.js';
import { registerRolloutRoutes } from '../../../fleet/src/http/rollout-routes.js';
import { ReleaseStore } from '../../../fleet/src/releases/store.js';
import {
  MemoryRolloutPersistence,
  RolloutRunner,
  type UpdateCommand,
} from '../../../fleet/src/rollout/runner.js';
import type { GatewayInfo, RolloutState } from '../../../fleet/src/rollout/types.js';
import { fakeBundle } from '../../edge/updater/fake-release.js';
import { tempDir, waitFor } from '../../helpers.js';

const tmp = tempDir('citygate-rollout-api-');
const key = generateSigningKey();
const clock = new FakeClock(Date.UTC(2026, 5, 1, 3, 0));
const fleet: GatewayInfo[] = Array.from({ length: 20 }, (_, i) => ({
  id: `gw-${String(i + 1).padStart(2, '0')}`,
  zone: 'city',
}));
/** Simulated gateways: what each was sent, and how it answers. */
const received: { gateway: string; cmd: UpdateCommand }[] = [];
let failing = new Set<string>();
let runner: RolloutRunner;
let app: FastifyInstance;
let base: string;

beforeAll(async () => {
  runner = new RolloutRunner({
    sender: {
      sendUpdate(gateway, cmd) {
        received.push({ gateway, cmd });
        // The gateway answers later, as over MQTT.
        setImmediate(() => {
          runner.report(gateway, { txId: cmd.txId, status: 'running', step: 'download' });
          runner.report(
            gateway,
            failing.has(gateway)
              ? { txId: cmd.txId, status: 'rolled-back', reason: 'health: uplink failing' }
              : { txId: cmd.txId, status: 'committed' },
          );
        });
        return Promise.resolve();
      },
    },
    directory: { list: () => Promise.resolve(fleet) },
    persistence: new MemoryRolloutPersistence(),
    clock,
    log: memoryLogger(),
    hasRelease: (v) => releases.has(v),
  });
  const releases = new ReleaseStore(join(tmp.path, 'releases'), [key.publicKeyPem]);
  app = Fastify({ ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true } } });
  registerRolloutRoutes(app, { releases, rollouts: runner, uploadDir: join(tmp.path, 'uploads') });
  base = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  runner.stop();
  await app.close();
  tmp.cleanup();
});

const upload = (file: string) =>
  fetch(`${base}/api/v1/releases`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: readFileSync(file),
  });
const post = (path: string, body: unknown) =>
  fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
const rollout = async (id: string) =>
  (
    (await (await fetch(`${base}/api/v1/rollouts/${id}`)).json()) as {
      rollout: RolloutState & { summary: { state: string }[] };
    }
  ).rollout;

describe('release store over HTTP', () => {
  it('stores a signed bundle and refuses unsigned, tampered and malformed ones', async () => {
    const ok = await upload(await fakeBundle(tmp.path, key, '1.4.0', 'good'));
    expect(ok.status).toBe(201);
    expect(((await ok.json()) as { release: { version: string; arch: string } }).release).toMatchObject({
      version: '1.4.0',
      arch: process.arch,
    });

    const unsigned = await upload(await fakeBundle(tmp.path, key, '1.5.0', 'good', { sign: false }));
    expect(unsigned.status).toBe(400);
    expect(await unsigned.json()).toEqual({
      status: 'error',
      error: { code: 'bundle-unsigned', message: 'bundle is not signed' },
    });

    const good = readFileSync(await fakeBundle(tmp.path, key, '1.6.0', 'good'));
    good[good.length - 2] = good[good.length - 2]! ^ 0xff;
    const tampered = join(tmp.path, 'tampered.bundle');
    writeFileSync(tampered, good);
    expect(((await (await upload(tampered)).json()) as { error: { code: string } }).error.code).toBe(
      'bundle-hash',
    );

    const junk = join(tmp.path, 'junk.bundle');
    writeFileSync(junk, 'hello\n');
    const bad = await upload(junk);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('bundle-malformed');

    const list = (await (await fetch(`${base}/api/v1/releases`)).json()) as {
      releases: { version: string }[];
    };
    expect(list.releases.map((r) => r.version)).toEqual(['1.4.0']);
  });

  it('serves a bundle with HTTP Range so an interrupted download resumes', async () => {
    const whole = readFileSync(join(tmp.path, 'citygate-edge-1.4.0.bundle'));
    const dest = join(tmp.path, 'dl.bundle');
    writeFileSync(`${dest}.part`, whole.subarray(0, 100)); // what a killed download left
    const r = await download(`${base}/api/v1/releases/1.4.0/bundle?arch=${process.arch}`, dest);
    expect(r).toEqual({ bytes: whole.length, resumedFrom: 100 });
    expect(readFileSync(dest).equals(whole)).toBe(true);
    const missing = await fetch(`${base}/api/v1/releases/9.9.9/bundle`);
    expect(missing.status).toBe(404);
    const beyond = await fetch(`${base}/api/v1/releases/1.4.0/bundle`, {
      headers: { range: `bytes=${whole.length}-` },
    });
    expect(beyond.status).toBe(416);
  });
});

describe('rollouts over HTTP with 20 simulated gateways', () => {
  const spec = {
    version: '1.4.0',
    target: { kind: 'all' },
    waves: [{ count: 2 }, { percent: 50 }],
    successThresholdPercent: 100,
    maxFailures: 1,
    gatewayTimeoutMs: 60_000,
  };

  it('canaries fail: halts, and only the canary wave was ever sent anything', async () => {
    received.length = 0;
    failing = new Set(['gw-01']);
    const res = await post('/api/v1/rollouts', spec);
    expect(res.status).toBe(201);
    const id = ((await res.json()) as { rollout: { id: string } }).rollout.id;
    const s = await waitFor('halt', async () =>
      (await rollout(id)).status === 'halted' ? rollout(id) : undefined,
    );
    expect(s.reason).toBe('1 gateway(s) failed (limit 1): gw-01: health: uplink failing');
    expect(received.map((r) => r.gateway).sort()).toEqual(['gw-01', 'gw-02']);
    expect(received[0]!.cmd).toMatchObject({
      version: '1.4.0',
      bundlePath: '/api/v1/releases/1.4.0/bundle',
      rolloutId: id,
    });
    expect(Object.values(s.gateways).filter((g) => g.status === 'pending')).toHaveLength(18);
  });

  it('all succeed: completes wave by wave', async () => {
    received.length = 0;
    failing = new Set();
    const id = ((await (await post('/api/v1/rollouts', spec)).json()) as { rollout: { id: string } }).rollout
      .id;
    const s = await waitFor('completion', async () =>
      (await rollout(id)).status === 'completed' ? rollout(id) : undefined,
    );
    expect(s.summary.map((w) => w.state)).toEqual(['passed', 'passed', 'passed']);
    const order = received.map((r) => r.gateway);
    expect(order).toEqual(s.waves.flatMap((w) => w.gateways));
    expect(s.waves.map((w) => w.gateways.length)).toEqual([2, 10, 8]);
  });

  it('pause, resume and abort through the API; bad input is a 400 naming the field', async () => {
    received.length = 0;
    const id = (
      (await (await post('/api/v1/rollouts', { ...spec, maxInFlight: 1 })).json()) as {
        rollout: { id: string };
      }
    ).rollout.id;
    const paused = await post(`/api/v1/rollouts/${id}/pause`, {});
    expect(((await paused.json()) as { rollout: RolloutState }).rollout.status).toBe('paused');
    const resumed = (await (await post(`/api/v1/rollouts/${id}/resume`, {})).json()) as {
      rollout: RolloutState;
    };
    expect(resumed.rollout.status).toBe('running');
    const aborted = (await (
      await post(`/api/v1/rollouts/${id}/abort`, { reason: 'wrong build' })
    ).json()) as { rollout: RolloutState };
    expect(aborted.rollout).toMatchObject({ status: 'aborted', reason: 'wrong build' });
    expect((await post('/api/v1/rollouts/nope/pause', {})).status).toBe(404);
    const bad = await post('/api/v1/rollouts', { ...spec, version: '2.0.0' });
    expect(await bad.json()).toEqual({
      status: 'error',
      error: { code: 'rollout-invalid', message: 'release 2.0.0 is not in the release store' },
    });
    const noGroup = await post('/api/v1/rollouts', { ...spec, target: { kind: 'group' } });
    expect(noGroup.status).toBe(400);
    const zeroWave = await post('/api/v1/rollouts', { ...spec, waves: [{ percent: 0 }] });
    expect(zeroWave.status).toBe(400);
    // (the fleet's app wraps schema errors as {status:'error', error}; this bare app has fastify's default shape)
    expect(JSON.stringify(await zeroWave.json())).toMatch(/body\/waves\/0\/percent/);
  });
});
