import { constants, closeSync, existsSync, openSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CityGateError, errorMessage } from '../../../common/errors.js';

/** Where the kernel's GPIO sysfs interface lives (and the only root onoff itself can drive). */
export const DEFAULT_SYSFS_ROOT = '/sys/class/gpio';

/**
 * Labels of the gpiochips that carry a Raspberry Pi's BCM-numbered header pins, best first:
 * RP1 (Pi 5; the Pi 5 SoC's own pinctrl-bcm2712 chip does not reach the header), BCM2711 (Pi 4,
 * 400, CM4), BCM2835 (Pi 1-3, Zero).
 */
export const BCM_CHIP_LABELS = ['pinctrl-rp1', 'pinctrl-bcm2711', 'pinctrl-bcm2835'] as const;

export interface GpioChip {
  /** Directory name, e.g. gpiochip512. */
  name: string;
  base: number;
  label: string;
  /** Lines the chip has (undefined where the file is missing). */
  ngpio: number | undefined;
}

export interface BcmMapping {
  root: string;
  chip: GpioChip;
  /** sysfs number for a BCM pin; throws 'gpio-bad-pin' when the chip has no such line. */
  toSysfs(bcm: number): number;
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The gpiochips under a sysfs root, by base. Entries without a readable integer base are skipped. */
export function listChips(root = DEFAULT_SYSFS_ROOT): GpioChip[] {
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => /^gpiochip\d+$/.test(n));
  } catch {
    return [];
  }
  const chips: GpioChip[] = [];
  for (const name of names) {
    const base = readTrim(join(root, name, 'base'));
    if (base === undefined || !/^\d+$/.test(base)) continue;
    const ngpio = readTrim(join(root, name, 'ngpio'));
    chips.push({
      name,
      base: Number(base),
      label: readTrim(join(root, name, 'label')) ?? '',
      ngpio: ngpio !== undefined && /^\d+$/.test(ngpio) ? Number(ngpio) : undefined,
    });
  }
  return chips.sort((a, b) => a.base - b.base);
}

/**
 * Find the chip that carries the BCM header pins and map BCM numbers onto sysfs numbers. Kernels
 * before 6.6 put it at base 0 (BCM n = sysfs n); from 6.6 on it sits at 512 (Pi 4), 571 (Pi 5), …
 */
export function bcmMapping(root = DEFAULT_SYSFS_ROOT): BcmMapping {
  const chips = listChips(root);
  const chip = BCM_CHIP_LABELS.map((l) => chips.find((c) => c.label === l)).find((c) => c !== undefined);
  if (!chip) {
    const found = chips.length
      ? chips.map((c) => `${c.name} (${c.label || 'no label'}, base ${c.base})`).join(', ')
      : 'no gpiochip* entries';
    throw new CityGateError(
      'gpio-unmapped',
      `cannot map BCM pin numbers under ${root}: no gpiochip labelled ${BCM_CHIP_LABELS.join(', ')} (found ${found})`,
    );
  }
  return {
    root,
    chip,
    toSysfs(bcm) {
      if (!Number.isInteger(bcm) || bcm < 0 || (chip.ngpio !== undefined && bcm >= chip.ngpio))
        throw new CityGateError(
          'gpio-bad-pin',
          `BCM ${bcm} does not exist on ${chip.name} (${chip.label}, ${chip.ngpio ?? '?'} lines)`,
        );
      return chip.base + bcm;
    },
  };
}

/** Why GPIO cannot be used under `root`, naming what is missing; undefined when it can. */
export function gpioAccessProblem(root = DEFAULT_SYSFS_ROOT): string | undefined {
  let isDir = false;
  try {
    isDir = statSync(root).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir)
    return `${root} does not exist: this kernel has no GPIO sysfs interface (CONFIG_GPIO_SYSFS) or this machine has no GPIO`;
  const exportPath = join(root, 'export');
  if (!existsSync(exportPath)) return `${exportPath} is missing: ${root} is not a GPIO sysfs directory`;
  try {
    closeSync(openSync(exportPath, constants.O_WRONLY));
  } catch (err) {
    return `cannot open ${exportPath} for writing (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}): run as root or add the user to the 'gpio' group`;
  }
  return undefined;
}

export function assertGpioAccessible(root = DEFAULT_SYSFS_ROOT): void {
  const problem = gpioAccessProblem(root);
  if (problem) throw new CityGateError('gpio-unavailable', `GPIO is not accessible: ${problem}`);
}

/** 'in' / 'out' when `gpio<n>` is already exported under `root`, else undefined. */
export function sysfsExportedDirection(root: string, gpio: number): 'in' | 'out' | undefined {
  const d = readTrim(join(root, `gpio${gpio}`, 'direction'));
  if (d === undefined) return undefined;
  return d === 'in' ? 'in' : 'out';
}
