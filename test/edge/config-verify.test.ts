import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generateConfigKey, signConfig } from '../../common/config-signature.js';
import { PROTOCOL_VERSION, type ConfigDesired } from '../../common/contract/index.js';
import { ConfigVerifier } from '../../edge/src/config-verify.js';
import { configDesiredHandler } from '../../edge/src/config-report.js';
import { memoryLogger } from '../../common/log.js';
import type { GatewayConfig } from '../../edge/src/config.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { tempDir, waitFor } from '../helpers.js';

const fleetKey = generateConfigKey();
const otherKey = generateConfigKey();
const profiles = loadProfiles();

const message = (version: number, config: Record<string, unknown> = {}, gateway = 'gw-a'): ConfigDesired => ({
  v: PROTOCOL_VERSION,
  gateway,
  version,
  ts: 1_700_000_000_000 + version,
  config: {
    version: 2,
    id: gateway,
    fleet: { mqttUrl: 'mqtts://fleet:8883' },
    lines: [],
    devices: [],
    ...config,
  },
});
const signed = (m: ConfigDesired, key = fleetKey.privateKeyPem) => JSON.stringify(signConfig(m, key));

describe('gateway-side config verification', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());
  const applied: { cfg: GatewayConfig; version: number }[] = [];
  const stateFile = join(dir.path, 'config-state.json');
  const make = () =>
    new ConfigVerifier({
      gatewayId: 'gw-a',
      publicKeyPem: fleetKey.publicKeyPem,
      stateFile,
      profiles,
      localFleet: { mqttUrl: 'mqtts://fleet:8883', username: 'gw-a', password: 'local-secret' },
      apply: async (cfg, version) => {
        if (cfg.name === 'explode') throw new Error('disk full');
        applied.push({ cfg, version });
      },
    });
  const v = make();

  it('applies a signed, newer, valid config with its own fleet credentials, and persists the version 0600', async () => {
    expect(await v.handle(signed(message(3, { name: 'north' })))).toEqual({ status: 'applied', version: 3 });
    expect(applied.at(-1)!.cfg.name).toBe('north');
    expect(applied.at(-1)!.cfg.fleet.password).toBe('local-secret');
    expect(JSON.parse(readFileSync(stateFile, 'utf8'))).toMatchObject({ highestVersion: 3 });
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
  });

  it('rejects a tampered config (changed after signing) and reports why', async () => {
    const m = JSON.parse(signed(message(4, { name: 'north' }))) as ConfigDesired;
    (m.config as { name: string }).name = 'pwned';
    const r = await v.handle(JSON.stringify(m));
    expect(r).toEqual({
      status: 'rejected',
      version: 4,
      error: expect.stringMatching(/bad signature/) as string,
    });
    const bumped = JSON.parse(signed(message(4))) as ConfigDesired;
    bumped.version = 99;
    expect((await v.handle(JSON.stringify(bumped))).status).toBe('rejected');
    expect(v.highestVersion).toBe(3);
  });

  it('rejects an unsigned config and one signed by another key', async () => {
    expect(await v.handle(JSON.stringify(message(5)))).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/unsigned/) as string,
    });
    expect(await v.handle(signed(message(5), otherKey.privateKeyPem))).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/bad signature/) as string,
    });
    const garbage = { ...signConfig(message(5), fleetKey.privateKeyPem), signature: '!!notbase64' };
    expect((await v.handle(JSON.stringify(garbage))).status).toBe('rejected');
  });

  it('answers a redelivery of the current version without re-applying; rejects a same-version forgery and older ones, also after a restart', async () => {
    const n = applied.length;
    expect(await v.handle(signed(message(3, { name: 'north' })))).toEqual({
      status: 'applied',
      version: 3,
      unchanged: true,
    });
    expect(applied.length).toBe(n);
    expect(await v.handle(signed(message(3, { name: 'elsewhere' })))).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/rollback refused: version 3/) as string,
    });
    expect(await v.handle(signed(message(2)))).toMatchObject({ status: 'rejected', version: 2 });
    const restarted = make();
    expect(restarted.highestVersion).toBe(3);
    expect(await restarted.handle(signed(message(1)))).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/not newer than 3/) as string,
    });
  });

  it("rejects another gateway's config, a schema-invalid one and a failing apply, naming the problem", async () => {
    expect(await v.handle(signed(message(6, {}, 'gw-b')))).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/names gateway 'gw-b' on gw-a's topic/) as string,
    });
    expect(
      await v.handle(
        signed(message(7, { devices: [{ id: 'x', profile: 'nope/nope', line: 'l', unitId: 1 }] })),
      ),
    ).toMatchObject({
      status: 'rejected',
      error: expect.stringMatching(/devices\[0\]\.line: no line 'l'/) as string,
    });
    expect(await v.handle(signed(message(8, { name: 'explode' })))).toMatchObject({
      status: 'rejected',
      error: 'apply failed: disk full',
    });
    expect(await v.handle('not json')).toMatchObject({ status: 'rejected', version: 0 });
    expect(await v.handle(signed(message(9, { name: 'south' })))).toEqual({ status: 'applied', version: 9 });
    // The replay of an old, once-valid config after newer ones.
    expect(await v.handle(signed(message(3, { name: 'north' })))).toMatchObject({
      status: 'rejected',
      version: 3,
    });
  });

  it('refuses to start on a corrupt state file rather than forget the highest version', () => {
    expect(existsSync(stateFile)).toBe(true);
    const bad = join(dir.path, 'bad.json');
    writeFileSync(bad, '{"highestVersion":"x"}');
    expect(
      () =>
        new ConfigVerifier({
          gatewayId: 'gw-a',
          publicKeyPem: fleetKey.publicKeyPem,
          stateFile: bad,
          profiles,
          localFleet: { mqttUrl: 'x' },
          apply: async () => undefined,
        }),
    ).toThrow(/corrupt/);
  });
});

describe('config/desired → verifier → config/reported through the outbox', () => {
  const dir = tempDir();
  afterAll(() => dir.cleanup());

  it('reports applied and rejected verdicts, in arrival order', async () => {
    const puts: { channel: string; body: unknown }[] = [];
    const reported: number[] = [];
    const handler = configDesiredHandler({
      verifier: new ConfigVerifier({
        gatewayId: 'gw-a',
        publicKeyPem: fleetKey.publicKeyPem,
        stateFile: join(dir.path, 'state.json'),
        profiles,
        localFleet: { mqttUrl: 'mqtts://fleet:8883' },
        apply: async () => undefined,
      }),
      outbox: {
        put: async (channel, items) => {
          for (const i of items) puts.push({ channel, body: i.body });
        },
      },
      now: () => 1,
      log: memoryLogger('debug'),
      afterReport: (v) => reported.push(v.version),
    });
    handler(signConfig(message(2), fleetKey.privateKeyPem));
    handler(message(3)); // unsigned
    handler(signConfig(message(1), fleetKey.privateKeyPem)); // older
    await waitFor('3 reports', () => reported.length === 3);
    expect(puts).toEqual([
      { channel: 'config/reported', body: { version: 2, status: 'applied' } },
      {
        channel: 'config/reported',
        body: { version: 3, status: 'rejected', error: expect.stringMatching(/unsigned/) as string },
      },
      {
        channel: 'config/reported',
        body: { version: 1, status: 'rejected', error: expect.stringMatching(/rollback/) as string },
      },
    ]);
  });
});
