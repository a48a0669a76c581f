import { beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, truncateSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { openBootFs } from '../../cli/flash/bootfs.js';
import { FIRSTBOOT_FILE } from '../../edge/src/firstboot/config.js';
import { openImage } from '../../cli/flash/image.js';
import { checkTarget, readMounts, wholeDisk } from '../../cli/flash/target.js';
import { verifyTarget, writeImage } from '../../cli/flash/write.js';
import { tempDir } from '../helpers.js';
import { runCli } from './run-cli.js';

/** A synthetic Raspberry Pi OS-like image: MBR, FAT32 boot partition with config.txt, a Linux partition. */
function makeImage(path: string): void {
  truncateSync(path, 0);
  execFileSync('truncate', ['-s', '48M', path]);
  execFileSync('sfdisk', ['-q', path], {
    input: 'label: dos\nstart=2048, size=65536, type=c\nstart=67584, type=83\n',
  });
  execFileSync('mkfs.vfat', ['-n', 'bootfs', '--offset', '2048', path, '32768'], { stdio: 'ignore' });
  const boot = openBootFs(path);
  boot.write('config.txt', '[all]\narm_64bit=1\n');
  // Some recognisable content in the root partition, so verification has real data to compare.
  const fd = openSync(path, 'r+');
  writeSync(fd, Buffer.from('CITYGATE-ROOTFS'.repeat(1000)), 0, 15000, 67584 * 512);
  closeSync(fd);
}

const dir = tempDir('citygate-flash-');
const image = join(dir.path, 'raspios.img');
const common = [
  '--hostname',
  'gw-hk-017',
  '--fleet',
  'https://fleet.example',
  '--token',
  'tok_0123456789abcdefXYZ',
  '--board',
  'raspberrypi/pi5',
];

describe('citygate flash', () => {
  beforeAll(() => {
    writeFileSync(image, '');
    makeImage(image);
    execFileSync('xz', ['-k', '-0', '-T1', image]);
  });

  it('writes an image to a card, verifies it, and injects the first-boot configuration', async () => {
    const card = join(dir.path, 'card.img');
    const r = await runCli([
      'flash',
      image,
      '--target',
      card,
      ...common,
      '--wifi-ssid',
      'CityNet',
      '--wifi-psk',
      'secret-psk-1',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/wrote and verified 48 MiB/);
    expect(r.stdout).toContain('claim token set');
    expect(r.stdout).not.toContain('tok_0123456789');
    expect(r.stdout).not.toContain('secret-psk-1');
    const boot = openBootFs(card);
    const cfg = JSON.parse(boot.read(FIRSTBOOT_FILE)!) as Record<string, unknown>;
    expect(cfg).toMatchObject({
      hostname: 'gw-hk-017',
      fleetUrl: 'https://fleet.example',
      claimToken: 'tok_0123456789abcdefXYZ',
      timezone: 'Asia/Ho_Chi_Minh',
      board: 'raspberrypi/pi5',
      network: { ethernet: { dhcp: true }, wifi: { ssid: 'CityNet', country: 'VN' } },
    });
    expect(boot.read('config.txt')).toMatch(/arm_64bit=1[\s\S]*dtparam=uart0=on/);
    // The rest of the card is the image, byte for byte.
    expect(
      readFileSync(card)
        .subarray(67584 * 512, 67584 * 512 + 15)
        .toString(),
    ).toBe('CITYGATE-ROOTFS');
  });

  it('flashes a .img.xz the same way', async () => {
    const card = join(dir.path, 'card-xz.img');
    const r = await runCli(['flash', `${image}.xz`, '--target', card, ...common]);
    expect(r.code).toBe(0);
    expect(readFileSync(card).length).toBe(statSync(image).size);
  });

  it('detects a corrupted write on read-back', async () => {
    const card = join(dir.path, 'card-bad.img');
    const sha = await writeImage(openImage(image), card);
    const fd = openSync(card, 'r+');
    writeSync(fd, Buffer.from([0xff]), 0, 1, 40 * 1024 * 1024);
    closeSync(fd);
    expect(() => verifyTarget(card, statSync(image).size, sha)).toThrow(/read-back verification failed/);
  });

  it('refuses the disk this machine runs from, a mounted target and a too-small card', async () => {
    const root = readMounts().find((m) => m.mountpoint === '/')!;
    expect(statSync(root.device).isBlockDevice(), `${root.device} should be a block device`).toBe(true);
    const r = await runCli(['flash', image, '--target', wholeDisk(root.device), ...common]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("holds this machine's /");
    const mounted = join(dir.path, 'mounted.img');
    expect(() =>
      checkTarget(mounted, 1000, { mounts: [{ device: mounted, mountpoint: '/mnt/card' }] }),
    ).toThrow(/is mounted/);
    const small = join(dir.path, 'small.img');
    execFileSync('truncate', ['-s', '8M', small]);
    const s = await runCli(['flash', image, '--target', small, ...common]);
    expect(s.code).toBe(1);
    expect(s.stderr).toMatch(/holds 8388608 bytes, the image needs 50331648/);
  });

  it('names a corrupt image and bad configuration before writing anything', async () => {
    const bad = join(dir.path, 'bad.img.xz');
    writeFileSync(bad, 'not xz at all');
    const card = join(dir.path, 'untouched.img');
    const r = await runCli(['flash', bad, '--target', card, ...common]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.img\.xz is not a readable \.xz file/);
    const c = await runCli([
      'flash',
      image,
      '--target',
      card,
      ...common,
      '--hostname',
      'GW 1',
      '--wifi-ssid',
      'x',
      '--wifi-psk',
      'short',
    ]);
    expect(c.code).toBe(1);
    expect(c.stderr).toContain('hostname: must match pattern');
    expect(c.stderr).toContain('network.wifi.psk: must NOT have fewer than 8 characters');
    expect(() => statSync(card)).toThrow();
  });

  it('--config-only writes the first-boot file onto a card flashed by another tool', async () => {
    const card = join(dir.path, 'other-tool.img');
    writeFileSync(card, readFileSync(image));
    const r = await runCli([
      'flash',
      '--config-only',
      card,
      ...common,
      '--ethernet',
      '10.20.0.17/24,10.20.0.1',
    ]);
    expect(r.code).toBe(0);
    const cfg = JSON.parse(openBootFs(card).read(FIRSTBOOT_FILE)!) as { network: unknown };
    expect(cfg.network).toEqual({ ethernet: { address: '10.20.0.17/24', gateway: '10.20.0.1' } });
  });
});
