import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { FakeClock } from '../../common/clock.js';
import { CityGateError, ValidationError } from '../../common/errors.js';
import { controlConfig, parseGatewayConfig } from '../../edge/src/config.js';
import { ConfigStore } from '../../edge/src/config-store.js';
import { RuleRunner } from '../../edge/src/rules/runner.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { tempDir } from '../helpers.js';
import { cityDoc } from './rules/fixtures.js';

const profiles = loadProfiles();
const parse = (doc: unknown, where: string) => parseGatewayConfig(doc, profiles, where);
const dirs: { cleanup: () => void }[] = [];
const freshStore = () => {
  const d = tempDir();
  dirs.push(d);
  return new ConfigStore(d.path, parse);
};
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

describe('config store', () => {
  it('applies a valid document atomically, 0600, leaving no temp files', () => {
    const store = freshStore();
    const cfg = store.apply(cityDoc());
    expect(cfg.id).toBe('gw-hanoi-1');
    expect(JSON.parse(readFileSync(store.currentPath, 'utf8'))).toEqual(cfg);
    expect(statSync(store.currentPath).mode & 0o777).toBe(0o600);
    expect(readdirSync(store.dir).sort()).toEqual(['gateway.json']);
    store.markGood();
    expect(readdirSync(store.dir).sort()).toEqual(['gateway.json', 'gateway.last-good.json']);
  });

  it('rejects an invalid document with a path-naming error; the running config stays in force', () => {
    const store = freshStore();
    const good = store.apply(cityDoc());
    store.markGood();
    const clock = new FakeClock(Date.UTC(2026, 2, 10, 5));
    const writes: string[] = [];
    const runner = new RuleRunner(controlConfig(good), {
      clock,
      write: async (d, p, v) => void writes.push(`${d}.${p}=${String(v)}`),
      emit: () => {},
    });
    runner.start();
    const before = readFileSync(store.currentPath, 'utf8');

    const bad = cityDoc();
    (bad.rules as Record<string, unknown>[])[1]!.high = 'two metres';
    let err: unknown;
    try {
      const next = store.apply(bad);
      runner.reconfigure(controlConfig(next)); // never reached
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toContain('rules[1].high: must be number');
    expect((err as Error).message).toMatch(/new gateway config is invalid/);
    expect(readFileSync(store.currentPath, 'utf8')).toBe(before);
    expect(store.config).toBe(good);
    // The old rules still run: the wet well at 2.5 m starts a pump.
    runner.readings([
      { device: 'ps-1', point: 'wet-well-level', value: 2.5 },
      ...['pump1', 'pump2'].flatMap((p) => [
        { device: 'ps-1', point: `${p}-dry-run`, value: false },
        { device: 'ps-1', point: `${p}-thermal-trip`, value: false },
      ]),
    ]);
    expect(writes).toContain('ps-1.pump1-run=true');
  });

  it('boots from the last-known-good when the newest file is corrupt', () => {
    const store = freshStore();
    store.apply(cityDoc());
    store.markGood();
    const newer = cityDoc();
    newer.name = 'newer';
    store.apply(newer);
    // A torn write by something that did not use the store, or a bad flash block.
    writeFileSync(store.currentPath, '{"version": 2, "id": "gw-hanoi-1", "fle');
    const booted = new ConfigStore(store.dir, parse).load();
    expect(booted.source).toBe('last-good');
    expect(booted.problem).toMatch(/not valid JSON/);
    expect(booted.config.id).toBe('gw-hanoi-1');
    expect(booted.config.name).toBeUndefined();
    expect(existsSync(`${store.currentPath}.rejected`)).toBe(true);
  });

  it('boots from the last-known-good when the newest file fails validation or is missing', () => {
    const store = freshStore();
    store.apply(cityDoc());
    store.markGood();
    writeFileSync(store.currentPath, JSON.stringify({ ...cityDoc(), devices: 'none' }));
    const a = new ConfigStore(store.dir, parse).load();
    expect(a.source).toBe('last-good');
    expect(a.problem).toMatch(/devices: must be array/);
    const b = new ConfigStore(store.dir, parse).load(); // current was moved aside
    expect(b.source).toBe('last-good');
    expect(b.problem).toMatch(/cannot read/);
  });

  it('uses the newest file when it is fine, and fails clearly with nothing usable', () => {
    const store = freshStore();
    store.apply(cityDoc());
    expect(new ConfigStore(store.dir, parse).load().source).toBe('current');
    writeFileSync(store.currentPath, 'garbage');
    expect(() => new ConfigStore(store.dir, parse).load()).toThrow(CityGateError);
    expect(() => new ConfigStore(store.dir, parse).load()).toThrow(/no last-known-good/);
  });
});
