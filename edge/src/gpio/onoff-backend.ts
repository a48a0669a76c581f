import { resolve } from 'node:path';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import {
  assertGpioAccessible,
  bcmMapping,
  DEFAULT_SYSFS_ROOT,
  sysfsExportedDirection,
  type GpioChip,
} from './sysfs.js';
import type { GpioBackend, GpioConstructor } from './types.js';

export interface OpenGpioOptions {
  /** sysfs GPIO directory (default /sys/class/gpio); tests point it at a temp dir laid out alike. */
  sysfsRoot?: string;
  /** Supplies the Gpio class for that root; default: onoff, imported only now. */
  load?: (root: string) => Promise<GpioConstructor>;
}

export interface SysfsGpioBackend extends GpioBackend {
  readonly root: string;
  readonly chip: GpioChip;
}

/** Import onoff on demand, so machines without GPIO never load it (or its native epoll addon). */
export async function loadOnoff(root: string): Promise<GpioConstructor> {
  if (resolve(root) !== DEFAULT_SYSFS_ROOT)
    throw new CityGateError(
      'gpio-unavailable',
      `onoff drives ${DEFAULT_SYSFS_ROOT} only, not ${root} (another sysfs root is good for 'citygate gpio map')`,
    );
  let Gpio: GpioConstructor; // onoff's own typings must fit our interface: checked here
  try {
    Gpio = (await import('onoff')).Gpio;
  } catch (err) {
    throw new CityGateError('gpio-unavailable', `cannot load onoff: ${errorMessage(err)}`, { cause: err });
  }
  if (!Gpio.accessible)
    throw new CityGateError(
      'gpio-unavailable',
      `GPIO is not accessible: onoff cannot open ${DEFAULT_SYSFS_ROOT}/export for writing`,
    );
  return Gpio;
}

/**
 * The real GPIO backend: checks that sysfs GPIO is usable (a clear 'gpio-unavailable' error naming
 * what is missing otherwise), maps BCM pins onto sysfs numbers from the gpiochips' base and label
 * (kernels >= 6.6 offset them), then loads onoff.
 */
export async function openGpioBackend(opts: OpenGpioOptions = {}): Promise<SysfsGpioBackend> {
  const root = opts.sysfsRoot ?? DEFAULT_SYSFS_ROOT;
  assertGpioAccessible(root);
  const mapping = bcmMapping(root);
  const Gpio = await (opts.load ?? loadOnoff)(root);
  return {
    name: 'onoff',
    root,
    chip: mapping.chip,
    Gpio,
    gpioNumber: (bcm) => mapping.toSysfs(bcm),
    exportedDirection: (gpio) => sysfsExportedDirection(root, gpio),
    describe: (bcm) => `BCM ${bcm} (sysfs ${mapping.toSysfs(bcm)}, ${mapping.chip.label})`,
  };
}
