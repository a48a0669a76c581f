import { CityGateError } from '../../../../common/errors.js';
import type { SimDevice } from '../device.js';
import { pumpStation } from './pump-station.js';
import { streetLight } from './street-light.js';
import { wasteBin } from './waste-bin.js';

export type SimParams = Record<string, number | boolean | string>;
export type SimActionArg = number | boolean | string | undefined;

/** A named physics building block a profile picks with `simulation.model`. */
export interface SimModel {
  init?(dev: SimDevice, params: SimParams): void;
  /** Advance by `dtMs` of (simulated) time; may read and set the device's points. Called with 0 too. */
  step(dev: SimDevice, dtMs: number): void;
  /**
   * Things that happen in the world rather than on the bus (a bin is emptied, dusk falls, a motor
   * overheats), for tests and the demo. Run through `simAction`, which advances the model first.
   */
  actions?: Record<string, (dev: SimDevice, arg: SimActionArg) => void>;
}

const models: Record<string, () => SimModel> = {
  'pump-station': pumpStation,
  'street-light': streetLight,
  'waste-bin': wasteBin,
};

/** Which model instance drives which device, so `simAction` can reach it without a device API. */
const attached = new WeakMap<SimDevice, SimModel>();

export const modelNames = (): string[] => Object.keys(models);

export function modelFor(name: string): SimModel {
  const make = models[name];
  if (!make)
    throw new CityGateError(
      'unknown-model',
      `no simulator model '${name}' (known: ${modelNames().join(', ')})`,
    );
  const model = make();
  return {
    ...model,
    init(dev, params) {
      attached.set(dev, model);
      model.init?.(dev, params);
    },
  };
}

/** Names of the world actions the model behind `dev` understands (empty without a model). */
export function simActionNames(dev: SimDevice): string[] {
  return Object.keys(attached.get(dev)?.actions ?? {});
}

/**
 * Make something happen to a simulated device's world, e.g. `simAction(bin, 'collect')` or
 * `simAction(light, 'ambient-lux', 5)`. Time is advanced to now before and the registers
 * refreshed after, so the effect is visible to the next Modbus read.
 */
export function simAction(dev: SimDevice, action: string, arg?: SimActionArg): void {
  const fn = attached.get(dev)?.actions?.[action];
  if (!fn)
    throw new CityGateError(
      'unknown-action',
      `simulated ${dev.profile.id} has no action '${action}' (known: ${simActionNames(dev).join(', ') || 'none'})`,
    );
  dev.tick();
  fn(dev, arg);
  dev.tick();
}
