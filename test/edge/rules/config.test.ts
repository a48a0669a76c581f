import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../common/errors.js';
import { controlConfig, parseGatewayConfig } from '../../../edge/src/config.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { cityDoc } from './fixtures.js';

const profiles = loadProfiles();

const issuesOf = (doc: unknown): string[] => {
  try {
    parseGatewayConfig(doc, profiles);
  } catch (err) {
    if (err instanceof ValidationError) return [...err.issues];
    throw err;
  }
  return [];
};

describe('gateway config with local control (version 2)', () => {
  it('accepts the city config, including cabinet GPIO alarms', () => {
    const doc = cityDoc();
    (doc.alarms as unknown[]).push(
      {
        id: 'door',
        severity: 'warning',
        message: 'cabinet door open',
        raise: { point: 'cabinet.door-open', op: '==', value: true },
      },
      {
        id: 'flood',
        severity: 'critical',
        message: 'water in cabinet',
        raise: { point: 'cabinet.flood', op: '==', value: true },
      },
    );
    expect(issuesOf(doc)).toEqual([]);
  });

  it('migrates a version-1 document and defaults the time zone', () => {
    const cfg = parseGatewayConfig(
      {
        version: 1,
        id: 'gw-old',
        location: { lat: 21, lon: 105.8 },
        fleet: { mqttUrl: 'mqtt://h' },
        lines: [],
        devices: [],
      },
      profiles,
    );
    expect(cfg.version).toBe(2);
    expect(controlConfig(cfg).location).toEqual({ lat: 21, lon: 105.8, timeZone: 'Asia/Ho_Chi_Minh' });
    expect(issuesOf({ ...cityDoc(), version: 3 })).toEqual([expect.stringMatching(/^version: 3 is newer/)]);
  });

  it('names the path of every bad reference', () => {
    const doc = cityDoc();
    const rules = doc.rules as Record<string, unknown>[];
    (rules[0]!.entries as Record<string, unknown>[])[0]!.set = { on: true, dim: 150 };
    (rules[1] as Record<string, unknown>).input = 'ps-1.wet-level';
    (doc.interlocks as Record<string, unknown>[])[0]!.force = { 'ps-1.pump1-running': false };
    (doc.alarms as Record<string, unknown>[])[0]!.devices = ['bin-1', 'bin-9'];
    doc.overrides = [{ id: 'o', who: 'x', why: 'y', set: { 'light-1.on': 1 }, until: 0 }];
    doc.location = { lat: 21, lon: 105, timeZone: 'Asia/Hanoi-ish' };
    expect(issuesOf(doc).sort()).toEqual(
      [
        "rules[0].entries[0].set.dim: 150 is outside 0..100 of 'light-1.dim'",
        "rules[0].entries[0].set.dim: 150 is outside 0..100 of 'light-2.dim'",
        "rules[1].input: device 'ps-1' has no point 'wet-level'",
        'interlocks[0].force["ps-1.pump1-running"]: point \'ps-1.pump1-running\' is read-only',
        "alarms[0].devices[1]: no device 'bin-9' (known: light-1, light-2, ps-1, bin-1, bin-2, bin-3, cabinet)",
        'overrides[0].set["light-1.on"]: \'light-1.on\' takes true/false',
        "location.timeZone: unknown time zone 'Asia/Hanoi-ish' (an IANA name, e.g. Asia/Ho_Chi_Minh)",
      ].sort(),
    );
  });

  it('names schema errors inside rules and conditions', () => {
    const doc = cityDoc();
    (doc.rules as Record<string, unknown>[])[1]!.minOnMs = -5;
    ((doc.alarms as Record<string, unknown>[])[0]!.raise as Record<string, unknown>).op = '=>';
    expect(issuesOf(doc)).toEqual(
      expect.arrayContaining([
        'rules[1].minOnMs: must be >= 0',
        expect.stringMatching(/^alarms\[0\]\.raise\.op: must be one of/),
      ]),
    );
  });

  it('needs a location for sun times and hysteresis that makes sense', () => {
    const doc = cityDoc();
    delete doc.location;
    (doc.rules as Record<string, unknown>[])[1]!.low = 3;
    const issues = issuesOf(doc);
    expect(issues).toContain(
      "rules[0].entries[0].at.sun: sun times need the gateway's location (location.lat/lon)",
    );
    expect(issues).toContain('rules[1].high: must be greater than low (3) for hysteresis');
  });
});
