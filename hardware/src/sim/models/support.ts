import { CityGateError } from '../../../../common/errors.js';
import type { SimDevice } from '../device.js';
import type { SimActionArg, SimParams } from './index.js';

/** Small helpers shared by the simulator models. */

type ParamValue = number | boolean | string;

/**
 * A model's defaults overlaid with the profile's `simulation.params`. An unknown name or a value of
 * the wrong type is an error: a typo in a profile must not silently fall back to a default.
 */
export function readParams<T extends Record<string, ParamValue>>(
  model: string,
  defaults: T,
  given: SimParams,
): T {
  const out: Record<string, ParamValue> = { ...defaults };
  for (const [name, value] of Object.entries(given)) {
    if (!(name in defaults))
      throw new CityGateError(
        'invalid',
        `simulator model '${model}': unknown param '${name}' (known: ${Object.keys(defaults).join(', ')})`,
      );
    const want = typeof defaults[name];
    if (typeof value !== want || (want === 'number' && !Number.isFinite(value)))
      throw new CityGateError(
        'invalid',
        `simulator model '${model}': param '${name}' must be ${want === 'number' ? 'a finite number' : `a ${want}`}`,
      );
    out[name] = value;
  }
  return out as T;
}

export function numberArg(action: string, arg: SimActionArg): number {
  if (typeof arg !== 'number' || !Number.isFinite(arg))
    throw new CityGateError('invalid', `simulator action '${action}' needs a number, got ${String(arg)}`);
  return arg;
}

/** A boolean argument; omitted means true ("trip", "tilt"). */
export function boolArg(action: string, arg: SimActionArg): boolean {
  if (arg === undefined) return true;
  if (typeof arg !== 'boolean')
    throw new CityGateError('invalid', `simulator action '${action}' needs true/false, got ${String(arg)}`);
  return arg;
}

/** Write the raw word of a one-register point, bypassing scale/offset (e.g. a sensor's µA). */
export function setRegister(dev: SimDevice, id: string, raw: number): void {
  const p = dev.point(id);
  dev.tables[p.table].set(p.address, Math.round(raw) & 0xffff);
}

/** Set bit-field points (type bool with `bit`) without disturbing the other bits of their register. */
export function setFlags(dev: SimDevice, flags: Record<string, boolean>): void {
  for (const [id, on] of Object.entries(flags)) {
    const p = dev.point(id);
    if (p.bit === undefined)
      throw new CityGateError('invalid', `point '${id}' of ${dev.profile.id} is not a bit field`);
    const t = dev.tables[p.table];
    const word = t.get(p.address) ?? 0;
    t.set(p.address, on ? word | (1 << p.bit) : word & ~(1 << p.bit) & 0xffff);
  }
}

export const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));
