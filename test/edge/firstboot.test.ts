import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { memoryLogger } from '../../common/log.js';
import { loadGatewayConfig } from '../../edge/src/config.js';
import { bootDir } from '../../edge/src/firstboot/boot-dir.js';
import { FIRSTBOOT_FILE } from '../../edge/src/firstboot/config.js';
import {
  firstBootPaths,
  GATEWAY_CONFIG_ON_BOOT,
  runFirstBoot,
  type FirstBootDeps,
} from '../../edge/src/firstboot/firstboot.js';
import { startEdge } from '../../edge/src/main.js';
import { loadProfiles } from '../../hardware/src/profile.js';
import { TcpSimulator } from '../../hardware/src/sim/tcp-server.js';
import { tempDir, waitFor } from '../helpers.js';

const TOKEN = 'claim_0123456789abcdef';

function card(root: string, simPort: number) {
  const boot = join(root, 'boot', 'firmware');
  mkdirSync(boot, { recursive: true });
  writeFileSync(
    join(boot, FIRSTBOOT_FILE),
    JSON.stringify({
      version: 1,
      hostname: 'gw-hk-017',
      fleetUrl: 'https://fleet.example',
      claimToken: TOKEN,
      timezone: 'Asia/Ho_Chi_Minh',
      board: 'raspberrypi/pi4',
      network: { ethernet: { dhcp: true }, wifi: { ssid: 'CityNet', psk: 'secret-psk-1', country: 'VN' } },
    }),
  );
  writeFileSync(
    join(boot, GATEWAY_CONFIG_ON_BOOT),
    JSON.stringify({
      version: 1,
      id: 'gw-hk-017',
      fleet: { mqttUrl: 'mqtt://127.0.0.1:1' },
      lines: [{ id: 'bus', type: 'tcp', host: '127.0.0.1', port: simPort }],
      devices: [{ id: 'light-1', profile: 'citygate/slc-100', line: 'bus', unitId: 1, pollMs: 200 }],
    }),
  );
  return boot;
}

describe('first boot', () => {
  it('runs offline, provisions later exactly once, and takes the claim token off the card', async () => {
    const dir = tempDir();
    const profiles = loadProfiles();
    const sim = new TcpSimulator([{ unitId: 1, profile: profiles.get('citygate/slc-100')! }]);
    const boot = card(dir.path, await sim.listen(0));
    let online = false;
    const calls = { provision: 0, install: 0 };
    const deps: FirstBootDeps = {
      boot: bootDir(boot),
      root: dir.path,
      log: memoryLogger('warn'),
      now: () => 1_800_000_000_000,
      installService: () => {
        calls.install++;
        return Promise.resolve();
      },
      provision: (url, token, hostname) => {
        calls.provision++;
        if (!online) return Promise.reject(new Error(`connect ENETUNREACH ${new URL(url).host}`));
        expect([token, hostname]).toEqual([TOKEN, 'gw-hk-017']);
        return Promise.resolve({ gatewayId: hostname, mqttUsername: hostname, mqttPassword: 's3cret' });
      },
    };
    const paths = firstBootPaths(dir.path);

    // 1. No network: everything but provisioning, and the runtime works with the config from the card.
    const offline = await runFirstBoot(deps);
    expect(offline).toMatchObject({
      step: 'service-installed',
      provisionError: expect.stringContaining('ENETUNREACH'),
    });
    expect(readFileSync(join(dir.path, 'etc', 'hostname'), 'utf8')).toBe('gw-hk-017\n');
    expect(readlinkSync(join(dir.path, 'etc', 'localtime'))).toBe('/usr/share/zoneinfo/Asia/Ho_Chi_Minh');
    const wifi = join(dir.path, 'etc', 'NetworkManager', 'system-connections', 'citygate-wifi.nmconnection');
    expect(statSync(wifi).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(boot, FIRSTBOOT_FILE), 'utf8')).toContain(TOKEN);
    const edge = await startEdge({
      config: loadGatewayConfig(paths.configFile, profiles),
      profiles,
      dataDir: paths.dataDir,
      log: memoryLogger('warn'),
    });
    try {
      await waitFor('the offline gateway polling its light', () => edge.latest.get('light-1.power'));
    } finally {
      await edge.stop();
    }

    // 2. The network appears: provisioning happens, the token leaves the card, credentials are 0600.
    online = true;
    const done = await runFirstBoot(deps);
    expect(done.step).toBe('provisioned');
    expect(statSync(paths.credentialsFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(boot, FIRSTBOOT_FILE), 'utf8')).not.toContain(TOKEN);

    // 3. Later boots do nothing again.
    await runFirstBoot(deps);
    expect(calls).toEqual({ provision: 2, install: 1 });
    await sim.close();
    dir.cleanup();
  });

  it('refuses a malformed first-boot file, naming the field', async () => {
    const dir = tempDir();
    const boot = join(dir.path, 'boot');
    mkdirSync(boot);
    writeFileSync(
      join(boot, FIRSTBOOT_FILE),
      JSON.stringify({
        version: 1,
        hostname: 'gw 1',
        fleetUrl: 'x',
        timezone: 'Asia/Ho_Chi_Minh',
        board: 'raspberrypi/pi4',
        network: {},
      }),
    );
    const deps = {
      boot: bootDir(boot),
      root: dir.path,
      log: memoryLogger('warn'),
      now: Date.now,
      installService: () => Promise.resolve(),
      provision: () => Promise.reject(new Error('unused')),
    };
    await expect(runFirstBoot(deps)).rejects.toThrow(
      /hostname: must match pattern[\s\S]*fleetUrl: must match pattern/,
    );
    dir.cleanup();
  });
});
