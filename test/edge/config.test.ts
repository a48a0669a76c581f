import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ValidationError } from '../../common/errors.js';
import { loadGatewayConfig, parseGatewayConfig } from '../../edge/src/config.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { tempDir } from '../helpers.js';

const profiles = loadProfiles();
const good = () => ({
  version: 1,
  id: 'gw-1',
  fleet: { mqttUrl: 'mqtt://127.0.0.1:1883' },
  lines: [{ id: 'eth0', type: 'tcp', host: '127.0.0.1', port: 1502 }],
  devices: [{ id: 'light-1', profile: 'citygate/slc-100', line: 'eth0', unitId: 1 }],
});

const issuesOf = (doc: unknown): string[] => {
  try {
    parseGatewayConfig(doc, profiles);
  } catch (err) {
    if (err instanceof ValidationError) return [...err.issues];
    throw err;
  }
  return [];
};

describe('gateway config validation', () => {
  it('accepts a good config', () => {
    expect(issuesOf(good())).toEqual([]);
  });

  it('names the field path of a wrong type', () => {
    const doc = good();
    (doc.devices[0] as { unitId: unknown }).unitId = 'one';
    expect(issuesOf(doc)).toEqual(['devices[0].unitId: must be integer']);
  });

  it('names a missing required field', () => {
    const doc = good() as Partial<ReturnType<typeof good>>;
    delete doc.fleet;
    expect(issuesOf(doc)).toEqual(['fleet: is required']);
  });

  it('names an unknown property and an out-of-range port together', () => {
    const doc = good();
    (doc.lines[0] as Record<string, unknown>).prot = 502;
    doc.lines[0]!.port = 70000;
    expect(issuesOf(doc).sort()).toEqual([
      'lines[0].port: must be <= 65535',
      "lines[0]: unknown property 'prot'",
    ]);
  });

  it('rejects a gateway id that could escape its MQTT namespace', () => {
    const doc = good();
    doc.id = 'gw/+';
    expect(issuesOf(doc)[0]).toMatch(/^id: must match pattern/);
  });

  it('checks cross-references: line, profile, duplicate ids and unit ids', () => {
    const doc = good();
    doc.devices.push({ id: 'light-1', profile: 'acme/none', line: 'rs485', unitId: 1 });
    doc.devices.push({ id: 'light-3', profile: 'citygate/slc-100', line: 'eth0', unitId: 1 });
    expect(issuesOf(doc)).toEqual([
      "devices[1].id: duplicate device id 'light-1'",
      "devices[1].line: no line 'rs485' (known: eth0)",
      expect.stringMatching(/^devices\[1\]\.profile: unknown profile 'acme\/none'/),
      "devices[2].unitId: unit 1 already used on line 'eth0'",
    ]);
  });

  it('reports a file that is not JSON with its path', () => {
    const dir = tempDir();
    const path = join(dir.path, 'gw.json');
    writeFileSync(path, '{ "version": 1, ');
    expect(() => loadGatewayConfig(path, profiles)).toThrow(
      new RegExp(`gateway config ${path} is not valid JSON`),
    );
    dir.cleanup();
  });
});
