import type { Faults } from './device.js';

/** The faults a unit commits on one request, after rolling the dice for every rate. */
export interface ActiveFaults {
  silent: boolean;
  delayMs: number;
  exception: number | undefined;
  badCrc: boolean;
  /** Unit id to answer with, when it is not the device's own. */
  wrongUnit: number | undefined;
  truncate: boolean;
}

function hit(enabled: boolean | undefined, rate: number | undefined, random: () => number): boolean {
  if (enabled === false) return false;
  if (rate === undefined) return enabled === true;
  return random() < rate;
}

/** Decide which faults apply to this request. Draws from `random` only for faults that have a rate. */
export function rollFaults(f: Faults, unitId: number, random: () => number): ActiveFaults {
  const wrong = hit(f.wrongUnit === undefined ? undefined : f.wrongUnit !== false, f.wrongUnitRate, random);
  return {
    silent: hit(f.silent, f.silentRate, random),
    delayMs: (f.delayMs ?? 0) > 0 && hit(true, f.delayRate, random) ? f.delayMs! : 0,
    exception: f.exception !== undefined && hit(true, f.exceptionRate, random) ? f.exception : undefined,
    badCrc: hit(f.badCrc, f.badCrcRate, random),
    wrongUnit: wrong ? (typeof f.wrongUnit === 'number' ? f.wrongUnit : (unitId % 247) + 1) : undefined,
    truncate: hit(f.truncate, f.truncateRate, random),
  };
}

/** How much of an n-byte reply a truncating unit sends: it stops three bytes short (at least 1). */
export const truncatedLength = (n: number): number => Math.max(1, n - 3);
