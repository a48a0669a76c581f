import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import { packageRoot } from '../../../common/package-root.js';
import { FakeGpioBoard } from '../../../edge/src/gpio/fake.js';
import { loadOnoff, openGpioBackend } from '../../../edge/src/gpio/onoff-backend.js';
import {
  assertGpioAccessible,
  bcmMapping,
  DEFAULT_SYSFS_ROOT,
  gpioAccessProblem,
  listChips,
  sysfsExportedDirection,
} from '../../../edge/src/gpio/sysfs.js';
import { tempDir } from '../../helpers.js';
import { exportInSysfs, LAYOUTS, makeSysfs } from './sysfs-layout.js';

const dirs: { cleanup: () => void }[] = [];
function layout(chips: (typeof LAYOUTS)[keyof typeof LAYOUTS], opts?: { exportFile?: boolean }): string {
  const d = tempDir('citygate-sysfs-');
  dirs.push(d);
  return makeSysfs(join(d.path, 'gpio'), chips, opts);
}
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CityGateError ? err.code : 'not a CityGateError';
  }
  return undefined;
}

describe('BCM to sysfs mapping from gpiochip base and label', () => {
  it('Pi 4 on kernel >= 6.6: pinctrl-bcm2711 at base 512, so BCM 17 is sysfs 529', () => {
    const m = bcmMapping(layout(LAYOUTS.pi4));
    expect(m.chip).toMatchObject({ name: 'gpiochip512', label: 'pinctrl-bcm2711', base: 512, ngpio: 58 });
    expect(m.toSysfs(17)).toBe(529);
    expect(m.toSysfs(0)).toBe(512);
  });

  it('Pi 5: picks pinctrl-rp1 at base 571 over the SoC chips below it, so BCM 17 is sysfs 588', () => {
    const root = layout(LAYOUTS.pi5);
    expect(listChips(root).map((c) => c.base)).toEqual([512, 544, 548, 565, 571]);
    const m = bcmMapping(root);
    expect(m.chip.label).toBe('pinctrl-rp1');
    expect(m.toSysfs(17)).toBe(588);
    expect(m.toSysfs(27)).toBe(598);
  });

  it('old kernel: pinctrl-bcm2835 at base 0, BCM numbers are sysfs numbers', () => {
    const m = bcmMapping(layout(LAYOUTS.old));
    expect(m.chip.base).toBe(0);
    expect(m.toSysfs(17)).toBe(17);
  });

  it('refuses a BCM number past the chip, naming the chip', () => {
    const m = bcmMapping(layout(LAYOUTS.pi4));
    expect(() => m.toSysfs(58)).toThrow(/BCM 58 does not exist on gpiochip512 \(pinctrl-bcm2711, 58 lines\)/);
    expect(codeOf(() => m.toSysfs(-1))).toBe('gpio-bad-pin');
  });

  it('names the chips it found when none carries BCM numbering', () => {
    const root = layout(LAYOUTS.other);
    expect(() => bcmMapping(root)).toThrow(
      /no gpiochip labelled pinctrl-rp1, pinctrl-bcm2711, pinctrl-bcm2835 \(found gpiochip0 \(209c000\.gpio, base 0\)\)/,
    );
    expect(codeOf(() => bcmMapping(root))).toBe('gpio-unmapped');
    expect(() => bcmMapping(layout([]))).toThrow(/found no gpiochip\* entries/);
  });

  it('reads the direction of an already exported pin', () => {
    const root = layout(LAYOUTS.pi4);
    exportInSysfs(root, 529, 'out');
    expect(sysfsExportedDirection(root, 529)).toBe('out');
    expect(sysfsExportedDirection(root, 530)).toBeUndefined();
  });
});

describe('GPIO access checks name what is missing', () => {
  it('this machine has no /sys/class/gpio: a gpio-unavailable error naming it', () => {
    expect(existsSync(DEFAULT_SYSFS_ROOT)).toBe(false);
    expect(() => assertGpioAccessible()).toThrow(/GPIO is not accessible: \/sys\/class\/gpio does not exist/);
    expect(codeOf(() => assertGpioAccessible())).toBe('gpio-unavailable');
  });

  it('a directory without an export file', () => {
    const root = layout(LAYOUTS.pi4, { exportFile: false });
    expect(gpioAccessProblem(root)).toBe(`${root}/export is missing: ${root} is not a GPIO sysfs directory`);
  });

  it('a complete layout is accessible', () => {
    expect(gpioAccessProblem(layout(LAYOUTS.pi5))).toBeUndefined();
  });
});

describe('openGpioBackend', () => {
  it('rejects this machine before loading onoff, naming /sys/class/gpio', async () => {
    let loaded = false;
    const err = await openGpioBackend({
      load: async () => {
        loaded = true;
        return new FakeGpioBoard(new FakeClock()).Gpio;
      },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CityGateError);
    expect((err as CityGateError).code).toBe('gpio-unavailable');
    expect((err as Error).message).toContain('/sys/class/gpio does not exist');
    expect(loaded).toBe(false);
  });

  it('maps BCM numbers for the Gpio class it loads (Pi 5 layout)', async () => {
    const root = layout(LAYOUTS.pi5);
    const board = new FakeGpioBoard(new FakeClock());
    let loadedFor = '';
    const backend = await openGpioBackend({
      sysfsRoot: root,
      load: async (r) => {
        loadedFor = r;
        return board.Gpio;
      },
    });
    expect(loadedFor).toBe(root);
    expect(backend.gpioNumber(17)).toBe(588);
    expect(backend.describe(17)).toBe('BCM 17 (sysfs 588, pinctrl-rp1)');
    const line = new backend.Gpio(backend.gpioNumber(17), 'out');
    line.writeSync(1);
    expect(board.level(588)).toBe(1);
    exportInSysfs(root, 588, 'out');
    expect(backend.exportedDirection(588)).toBe('out');
  });

  it('the default loader will not point onoff (fixed to /sys/class/gpio) at another root', async () => {
    const root = layout(LAYOUTS.pi4);
    await expect(openGpioBackend({ sysfsRoot: root })).rejects.toThrow(
      `onoff drives /sys/class/gpio only, not ${root}`,
    );
  });

  it('loadOnoff on this machine: onoff loads but reports GPIO inaccessible', async () => {
    await expect(loadOnoff('/sys/class/gpio')).rejects.toThrow(
      'GPIO is not accessible: onoff cannot open /sys/class/gpio/export for writing',
    );
  });

  it('importing the GPIO modules and the CLI does not load onoff or its native addon', () => {
    const script = `
      import { createRequire } from 'node:module';
      const req = createRequire(process.cwd() + '/');
      const loaded = () => Object.keys(req.cache).filter((k) => /node_modules\\/(onoff|epoll)\\//.test(k)).length;
      await import('./edge/src/gpio/device.ts');
      await import('./edge/src/gpio/onoff-backend.ts');
      await import('./cli/gpio-command.ts');
      const before = loaded();
      await import('onoff');
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: packageRoot(),
      encoding: 'utf8',
    });
    const r = JSON.parse(out.trim()) as { before: number; after: number };
    expect(r.before).toBe(0);
    expect(r.after).toBeGreaterThan(0); // the check can see onoff once it is loaded
  });
});
