import type { Profile } from './profile.js';

export type GpioEdge = 'none' | 'rising' | 'falling' | 'both';

/** One gateway GPIO pin a profile uses (cabinet door, flood sensor, contactor relay, …). */
export interface GpioPinDef {
  /** Reported as the reading's `point`, so it shares the namespace of the Modbus point ids. */
  id: string;
  name: string;
  /** Broadcom (BCM) GPIO number, as printed on pinout diagrams; not the header position. */
  bcm: number;
  direction: 'in' | 'out';
  /** Inputs: which (logical) edges are reported; default both. Outputs: none. */
  edge?: GpioEdge;
  /** The pin reads/writes true when the wire is low. */
  activeLow?: boolean;
  /** Inputs: report a change only after the level has been stable this long. */
  debounceMs?: number;
  /** Outputs: the logical value set when the pin is first exported (default false). */
  initial?: boolean;
  description?: string;
}

export interface GpioSection {
  pins: GpioPinDef[];
}

/** Checks the schema cannot express: unique ids and BCM numbers, settings that fit the direction. */
export function gpioInvariantIssues(profile: Profile): string[] {
  const issues: string[] = [];
  const pointIds = new Set(profile.points.map((p) => p.id));
  const ids = new Map<string, number>();
  const bcms = new Map<number, string>();
  (profile.gpio?.pins ?? []).forEach((pin, i) => {
    const at = `gpio.pins[${i}] (${pin.id})`;
    if (ids.has(pin.id)) issues.push(`${at}: duplicate pin id`);
    if (pointIds.has(pin.id)) issues.push(`${at}: id is also a Modbus point id`);
    ids.set(pin.id, i);
    const other = bcms.get(pin.bcm);
    if (other !== undefined) issues.push(`${at}: BCM ${pin.bcm} is already used by pin '${other}'`);
    else bcms.set(pin.bcm, pin.id);
    if (pin.direction === 'out') {
      if (pin.edge !== undefined && pin.edge !== 'none')
        issues.push(`${at}: an output has no edge to watch (edge must be 'none' or absent)`);
      if (pin.debounceMs !== undefined) issues.push(`${at}: 'debounceMs' applies only to inputs`);
    } else if (pin.initial !== undefined) {
      issues.push(`${at}: 'initial' applies only to outputs`);
    }
  });
  return issues;
}
