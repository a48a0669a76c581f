import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.js';
import { createLogger } from '../common/log.js';
import { bootDir } from '../edge/src/firstboot/boot-dir.js';
import { firstBootPaths, runFirstBoot } from '../edge/src/firstboot/firstboot.js';
import { provision } from '../edge/src/provision.js';
import { openBootFs } from './flash/bootfs.js';
import { UsageError, type Command } from './args.js';

/**
 * Run on the gateway at boot (until it reports `provisioned`): applies the card's first-boot
 * configuration, installs the runtime under pm2, and provisions with the claim token when the fleet
 * can be reached. Safe to run again after a power cut or with no network.
 */
export const firstbootCommand: Command = {
  name: 'firstboot',
  summary: "a gateway's first boot: apply the card's configuration, start the runtime, provision when online",
  usage: 'firstboot [--boot DIR|IMAGE] [--root DIR] [--install-root DIR]',
  options: { boot: { type: 'string' }, root: { type: 'string' }, 'install-root': { type: 'string' } },
  help: {
    boot: 'the boot partition: a mounted directory (default /boot/firmware) or a card image',
    root: "the gateway's root filesystem (default /)",
    'install-root': 'where the runtime is installed (default /opt/citygate)',
  },
  async run(values) {
    const bootPath = (values.boot as string | undefined) ?? '/boot/firmware';
    const root = (values.root as string | undefined) ?? '/';
    const installRoot = (values['install-root'] as string | undefined) ?? '/opt/citygate';
    const log = createLogger();
    let boot;
    try {
      boot = bootPath.endsWith('.img') ? openBootFs(bootPath) : bootDir(bootPath);
    } catch (err) {
      throw new UsageError(`--boot: ${errorMessage(err)}`);
    }
    const paths = firstBootPaths(root);
    const state = await runFirstBoot({
      boot,
      root,
      log,
      now: Date.now,
      provision: (fleetUrl, token, gatewayId) =>
        provision({ fleetUrl, token, gatewayId, dir: join(paths.dataDir, 'credentials') }).then((c) => ({
          gatewayId: c.gateway,
        })),
      installService: () => {
        const r = spawnSync(
          process.execPath,
          [process.argv[1]!, 'edge', 'install-service', '--root', installRoot],
          { stdio: 'inherit' },
        );
        if (r.status !== 0)
          return Promise.reject(new Error(`citygate edge install-service exited ${r.status}`));
        return Promise.resolve();
      },
    });
    console.log(
      `first boot: ${state.step}${state.provisionError ? ` (provisioning pending: ${state.provisionError})` : ''}`,
    );
    return 0;
  },
};
