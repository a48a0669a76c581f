import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ChipSpec {
  base: number;
  label: string;
  ngpio: number;
}

/** Real layouts, as `ls /sys/class/gpio` + base/label/ngpio show them on each board. */
export const LAYOUTS = {
  /** Pi 4 on a kernel >= 6.6 (Bookworm): header chip moved to base 512. */
  pi4: [
    { base: 512, label: 'pinctrl-bcm2711', ngpio: 58 },
    { base: 570, label: 'raspberrypi-exp-gpio', ngpio: 8 },
  ],
  /** Pi 5: the SoC's own chips come first; the header is on RP1 at base 571. */
  pi5: [
    { base: 512, label: 'gpio-brcmstb@107d508500', ngpio: 32 },
    { base: 544, label: 'gpio-brcmstb@107d508520', ngpio: 4 },
    { base: 548, label: 'gpio-brcmstb@107d517c00', ngpio: 17 },
    { base: 565, label: 'gpio-brcmstb@107d517c20', ngpio: 6 },
    { base: 571, label: 'pinctrl-rp1', ngpio: 54 },
  ],
  /** Pi 3 on an old kernel (< 6.6): BCM numbers are sysfs numbers. */
  old: [
    { base: 0, label: 'pinctrl-bcm2835', ngpio: 54 },
    { base: 504, label: 'raspberrypi-exp-gpio', ngpio: 8 },
  ],
  /** Some other board: no chip we know carries BCM numbering. */
  other: [{ base: 0, label: '209c000.gpio', ngpio: 32 }],
} satisfies Record<string, ChipSpec[]>;

/** Lay out a directory like /sys/class/gpio: export, unexport and gpiochip<base>/{base,label,ngpio}. */
export function makeSysfs(root: string, chips: ChipSpec[], opts: { exportFile?: boolean } = {}): string {
  mkdirSync(root, { recursive: true });
  if (opts.exportFile ?? true) {
    writeFileSync(join(root, 'export'), '');
    writeFileSync(join(root, 'unexport'), '');
  }
  for (const c of chips) {
    const dir = join(root, `gpiochip${c.base}`);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'base'), `${c.base}\n`);
    writeFileSync(join(dir, 'label'), `${c.label}\n`);
    writeFileSync(join(dir, 'ngpio'), `${c.ngpio}\n`);
  }
  return root;
}

/** Mark sysfs gpio `n` as exported with a direction, as the kernel shows it. */
export function exportInSysfs(root: string, n: number, direction: 'in' | 'out'): void {
  const dir = join(root, `gpio${n}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'direction'), `${direction}\n`);
}
