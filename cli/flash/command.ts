import { assertValid } from '../../common/json-schema.js';
import { UsageError, type Command } from '../args.js';
import { progress } from '../format.js';
import { boardById } from './boards.js';
import { openBootFs } from './bootfs.js';
import { FIRSTBOOT_FILE, firstBootSchema, type FirstBootConfig } from '../../edge/src/firstboot/config.js';
import { openImage } from './image.js';
import { checkTarget } from './target.js';
import { verifyTarget, writeImage } from './write.js';

type Values = Record<string, string | boolean | undefined>;

function firstBootFrom(values: Values): FirstBootConfig {
  const str = (k: string) => (typeof values[k] === 'string' ? (values[k] as string) : undefined);
  const network: FirstBootConfig['network'] = {};
  const eth = str('ethernet') ?? 'dhcp';
  if (eth === 'dhcp') network.ethernet = { dhcp: true };
  else {
    const [address = '', gateway = ''] = eth.split(',');
    network.ethernet = { address, gateway };
  }
  if (str('wifi-ssid') !== undefined || str('wifi-psk') !== undefined)
    network.wifi = {
      ssid: str('wifi-ssid') ?? '',
      psk: str('wifi-psk') ?? '',
      country: str('wifi-country') ?? 'VN',
    };
  const cfg = {
    version: 1,
    hostname: str('hostname'),
    fleetUrl: str('fleet'),
    ...(str('token') ? { claimToken: str('token') } : {}),
    timezone: str('timezone') ?? 'Asia/Ho_Chi_Minh',
    board: str('board') ?? 'raspberrypi/pi4',
    network,
  };
  const ok = assertValid<FirstBootConfig>(
    firstBootSchema,
    cfg,
    'first-boot configuration (from the command line)',
  );
  boardById(ok.board);
  return ok;
}

/** Put the first-boot file and the board's serial/RS-485 settings on a boot partition. */
export function injectFirstBoot(path: string, cfg: FirstBootConfig): string[] {
  const fs = openBootFs(path);
  const board = boardById(cfg.board);
  fs.write(FIRSTBOOT_FILE, JSON.stringify(cfg, null, 2) + '\n');
  const configTxt = fs.read('config.txt') ?? '';
  const missing = board.configTxt.filter((l) => !configTxt.split(/\r?\n/).includes(l));
  if (missing.length)
    fs.write(
      'config.txt',
      `${configTxt.replace(/\s*$/, '\n')}\n# CityGate: ${board.name}\n${missing.join('\n')}\n`,
    );
  return missing;
}

export const flashCommand: Command = {
  name: 'flash',
  summary: "write a Raspberry Pi OS image to a gateway's SD card and put its first-boot configuration on it",
  usage:
    'flash IMAGE.img[.xz] --target DEV --hostname ID --fleet URL [--token T] [--board ID] [--timezone TZ] [--ethernet dhcp|ADDR/NN,GW] [--wifi-ssid S --wifi-psk P --wifi-country CC] [--force]\n       citygate flash --config-only BOOT_PARTITION_OR_IMAGE --hostname ID --fleet URL […]',
  options: {
    target: { type: 'string' },
    'config-only': { type: 'string' },
    force: { type: 'boolean' },
    hostname: { type: 'string' },
    fleet: { type: 'string' },
    token: { type: 'string' },
    board: { type: 'string' },
    timezone: { type: 'string' },
    ethernet: { type: 'string' },
    'wifi-ssid': { type: 'string' },
    'wifi-psk': { type: 'string' },
    'wifi-country': { type: 'string' },
  },
  help: {
    target: 'the SD card (block device) or an image file standing in for it',
    'config-only': 'only write the first-boot configuration onto this boot partition or card image',
    force: 'write even if the target is mounted or looks like a system disk',
    hostname: 'gateway id and hostname, e.g. gw-hk-017',
    fleet: 'fleet URL the gateway provisions against, e.g. https://fleet.example',
    token: 'claim token from the fleet (removed from the card after first use)',
    board: 'board definition from hardware/boards (default raspberrypi/pi4)',
    timezone: 'time zone (default Asia/Ho_Chi_Minh)',
    ethernet: "'dhcp' (default) or ADDRESS/PREFIX,GATEWAY",
    'wifi-ssid': 'Wi-Fi network name',
    'wifi-psk': 'Wi-Fi passphrase',
    'wifi-country': 'Wi-Fi country code (default VN)',
  },
  async run(values, positionals) {
    const cfg = firstBootFrom(values); // validate everything before touching any disk
    if (typeof values['config-only'] === 'string') {
      const added = injectFirstBoot(values['config-only'], cfg);
      console.log(
        `first-boot configuration for ${cfg.hostname} written to ${values['config-only']}${added.length ? `; config.txt += ${added.join(', ')}` : ''}`,
      );
      return 0;
    }
    const imagePath = positionals[0];
    if (!imagePath) throw new UsageError('missing IMAGE (a .img or .img.xz file)');
    if (typeof values.target !== 'string') throw new UsageError('missing --target DEV (the SD card)');
    const image = openImage(imagePath);
    const target = checkTarget(values.target, image.size, { force: values.force === true });
    const bar = progress(100, 'flash');
    let phase = '';
    const onProgress = (done: number, total: number, p: string) => {
      if (p !== phase) {
        if (phase) bar.update(100, phase);
        phase = p;
      }
      bar.update(
        Math.floor((done / total) * 100),
        `${p} ${(done / 1048576).toFixed(0)}/${(total / 1048576).toFixed(0)} MiB`,
      );
    };
    const sha = await writeImage(image, target.path, onProgress);
    verifyTarget(target.path, image.size, sha, onProgress);
    bar.end();
    const added = injectFirstBoot(target.path, cfg);
    console.log(
      `wrote and verified ${(image.size / 1048576).toFixed(0)} MiB to ${target.path} (sha256 ${sha.slice(0, 16)}…)`,
    );
    console.log(
      `first-boot configuration for ${cfg.hostname}: fleet ${cfg.fleetUrl}, board ${cfg.board}, claim token ${cfg.claimToken ? 'set' : 'not set'}${added.length ? `; config.txt += ${added.join(', ')}` : ''}`,
    );
    return 0;
  },
};
