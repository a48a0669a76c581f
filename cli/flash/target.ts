import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { CityGateError } from '../../common/errors.js';

export interface TargetInfo {
  path: string;
  kind: 'block-device' | 'file';
  /** Capacity in bytes, when known (a block device, or an existing file standing in for a card). */
  capacity?: number;
}

export interface Mount {
  device: string;
  mountpoint: string;
}

export function readMounts(text = readFileSync('/proc/mounts', 'utf8')): Mount[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [device = '', mountpoint = ''] = l.split(' ');
      return { device, mountpoint: mountpoint.replace(/\\040/g, ' ') };
    });
}

/** `/dev/sda1` → `/dev/sda`, `/dev/mmcblk0p2` → `/dev/mmcblk0`, `/dev/nvme0n1p1` → `/dev/nvme0n1`. */
export function wholeDisk(dev: string): string {
  if (/\/(mmcblk|nvme\d+n|loop)\d+p\d+$/.test(dev)) return dev.replace(/p\d+$/, '');
  return dev.replace(/(?<=\/[a-z]+)\d+$/, '');
}

/**
 * Check that flashing `path` cannot destroy the system: refuse the disk holding `/` (or /boot) and any
 * device with a mounted partition, unless forced; refuse a target smaller than the image.
 */
export function checkTarget(
  path: string,
  imageSize: number,
  opts: { force?: boolean; mounts?: Mount[] } = {},
): TargetInfo {
  const exists = existsSync(path);
  const real = exists ? realpathSync(path) : path;
  const st = exists ? statSync(real) : undefined;
  const mounts = opts.mounts ?? readMounts();
  if (st?.isBlockDevice()) {
    const disk = wholeDisk(real);
    const system = mounts.find(
      (m) =>
        ['/', '/boot', '/boot/firmware', '/usr', '/var'].includes(m.mountpoint) &&
        wholeDisk(m.device) === disk,
    );
    if (system && !opts.force)
      throw new CityGateError(
        'unsafe-target',
        `${path} holds this machine's ${system.mountpoint} (${system.device}): refusing to overwrite a system disk (use --force only if you are sure)`,
      );
    const mounted = mounts.find((m) => m.device === real || wholeDisk(m.device) === disk);
    if (mounted && !opts.force)
      throw new CityGateError(
        'unsafe-target',
        `${path} is mounted (${mounted.device} on ${mounted.mountpoint}): unmount it first, or use --force`,
      );
    const sectors = Number(readFileSync(`/sys/class/block/${basename(disk)}/size`, 'utf8').trim());
    const capacity = sectors * 512;
    if (capacity < imageSize)
      throw new CityGateError('too-small', `${path} holds ${capacity} bytes, the image needs ${imageSize}`);
    return { path: real, kind: 'block-device', capacity };
  }
  if (st && !st.isFile())
    throw new CityGateError('unsafe-target', `${path} is neither a block device nor a regular file`);
  if (mounts.some((m) => m.device === real) && !opts.force)
    throw new CityGateError('unsafe-target', `${path} is mounted`);
  if (st && st.size > 0) {
    // An existing image file stands in for a card of that size.
    if (st.size < imageSize)
      throw new CityGateError('too-small', `${path} holds ${st.size} bytes, the image needs ${imageSize}`);
    return { path: real, kind: 'file', capacity: st.size };
  }
  return { path: real, kind: 'file' };
}
