import { CityGateError } from '../../../../common/errors.js';
import type { SimDevice } from '../device.js';
import { streetLight } from './street-light.js';

/** A named physics building block a profile picks with `simulation.model`. */
export interface SimModel {
  init?(dev: SimDevice, params: Record<string, number | boolean | string>): void;
  /** Advance by `dtMs` of (simulated) time; may read and set the device's points. */
  step(dev: SimDevice, dtMs: number): void;
}

const models: Record<string, () => SimModel> = {
  'street-light': streetLight,
};

export const modelNames = (): string[] => Object.keys(models);

export function modelFor(name: string): SimModel {
  const make = models[name];
  if (!make)
    throw new CityGateError(
      'unknown-model',
      `no simulator model '${name}' (known: ${modelNames().join(', ')})`,
    );
  return make();
}
