import { describe, expect, it } from 'vitest';
import { check } from '../../common/json-schema.js';
import { gpioInvariantIssues } from '../../hardware/src/gpio-profile.js';
import { loadProfiles, parseProfile, profileSchema, type Profile } from '../../hardware/src/profile.js';

const profiles = loadProfiles();
const cabinet = profiles.get('citygate/cabinet-io')!;

function withPins(mutate: (p: Profile) => void): Profile {
  const p = structuredClone(cabinet);
  mutate(p);
  return p;
}

describe('GPIO in device profiles', () => {
  it('the cabinet-io profile validates against the schema and has no invariant issues', () => {
    expect(cabinet).toBeDefined();
    const r = check(profileSchema(), cabinet);
    expect(r.ok ? [] : r.issues).toEqual([]);
    expect(gpioInvariantIssues(cabinet)).toEqual([]);
    expect(cabinet.points).toEqual([]);
    expect(cabinet.gpio?.pins.length).toBe(4);
  });

  it('every profile with pins passes the GPIO invariants', () => {
    for (const p of profiles.values()) expect(gpioInvariantIssues(p), p.id).toEqual([]);
  });

  it('a profile needs at least one Modbus point or GPIO pin', () => {
    const none = withPins((p) => delete p.gpio);
    expect(() => parseProfile(none, 'test')).toThrow(
      /gpio: is required[\s\S]*points: must NOT have fewer than 1 items/,
    );
    const emptyPins = withPins((p) => (p.gpio!.pins = []));
    expect(() => parseProfile(emptyPins, 'test')).toThrow(/gpio\.pins: must NOT have fewer than 1 items/);
  });

  it('the schema names bad pin fields by path', () => {
    const bad = withPins((p) => {
      const pins = p.gpio!.pins as unknown as Record<string, unknown>[];
      pins[0]!.bcm = 54;
      pins[1]!.direction = 'inout';
      pins[2]!.edge = 'up';
      pins[3]!.pull = 'up';
    });
    const r = check(profileSchema(), bad);
    expect(r.ok ? [] : r.issues).toEqual([
      'gpio.pins[0].bcm: must be <= 53',
      'gpio.pins[1].direction: must be one of "in", "out"',
      'gpio.pins[2].edge: must be one of "none", "rising", "falling", "both"',
      "gpio.pins[3]: unknown property 'pull'",
    ]);
  });

  it('invariants catch duplicate ids and BCM numbers, clashes with points, and settings of the wrong direction', () => {
    const bad = withPins((p) => {
      const [door, tamper, flood, contactor] = p.gpio!.pins;
      tamper!.bcm = door!.bcm;
      flood!.id = 'door-open';
      flood!.initial = true;
      contactor!.edge = 'rising';
      contactor!.debounceMs = 10;
      p.points.push({ id: 'contactor', name: 'C', table: 'coil', address: 0, type: 'bool', access: 'rw' });
    });
    expect(gpioInvariantIssues(bad)).toEqual([
      "gpio.pins[1] (tamper): BCM 5 is already used by pin 'door-open'",
      'gpio.pins[2] (door-open): duplicate pin id',
      "gpio.pins[2] (door-open): 'initial' applies only to outputs",
      'gpio.pins[3] (contactor): id is also a Modbus point id',
      "gpio.pins[3] (contactor): an output has no edge to watch (edge must be 'none' or absent)",
      "gpio.pins[3] (contactor): 'debounceMs' applies only to inputs",
    ]);
    expect(() => parseProfile(bad, 'bad.json')).toThrow(
      /device profile bad\.json is invalid:[\s\S]*duplicate pin id/,
    );
  });
});
