import { existsSync, mkdirSync, readFileSync, symlinkSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import { writeFileAtomic } from '../../../common/fs-atomic.js';
import { assertValid } from '../../../common/json-schema.js';
import type { Logger } from '../../../common/log.js';
import { FIRSTBOOT_FILE, firstBootSchema, type FirstBootConfig } from './config.js';
import type { BootFiles } from './boot-dir.js';

/** The first-boot steps, persisted so a power cut mid-way resumes where it stopped. */
export type FirstBootStep = 'new' | 'configured' | 'service-installed' | 'provisioned';

export interface FirstBootState {
  step: FirstBootStep;
  hostname?: string;
  /** Last provisioning failure, kept while the gateway runs offline and retries. */
  provisionError?: string;
  provisionedAt?: number;
}

export interface Credentials {
  gatewayId: string;
  [k: string]: unknown;
}

export interface FirstBootDeps {
  boot: BootFiles;
  /** Root of the gateway's filesystem ('/' on a gateway, a temp dir in tests). */
  root: string;
  /** Exchange the claim token for credentials; throws when the fleet cannot be reached. */
  provision(fleetUrl: string, token: string, hostname: string): Promise<Credentials>;
  /** Set up the supervised runtime (pm2) so it starts now and at boot. */
  installService(paths: FirstBootPaths): Promise<void>;
  log: Logger;
  now(): number;
}

export interface FirstBootPaths {
  dataDir: string;
  configFile: string;
  credentialsFile: string;
  stateFile: string;
}

export const GATEWAY_CONFIG_ON_BOOT = 'citygate-gateway.json';

export function firstBootPaths(root: string): FirstBootPaths {
  const dataDir = join(root, 'var', 'lib', 'citygate');
  return {
    dataDir,
    configFile: join(root, 'etc', 'citygate', 'gateway.json'),
    credentialsFile: join(dataDir, 'credentials.json'),
    stateFile: join(dataDir, 'firstboot-state.json'),
  };
}

function readState(path: string): FirstBootState {
  if (!existsSync(path)) return { step: 'new' };
  return JSON.parse(readFileSync(path, 'utf8')) as FirstBootState;
}

function ensureDir(path: string, mode = 0o755): void {
  mkdirSync(dirname(path), { recursive: true, mode });
}

/** Hostname, time zone and network files under the root, as Debian/Pi OS with NetworkManager reads them. */
function applySystem(root: string, cfg: FirstBootConfig): void {
  const hostname = join(root, 'etc', 'hostname');
  ensureDir(hostname);
  writeFileAtomic(hostname, `${cfg.hostname}\n`);
  writeFileAtomic(join(root, 'etc', 'timezone'), `${cfg.timezone}\n`);
  const localtime = join(root, 'etc', 'localtime');
  rmSync(localtime, { force: true });
  symlinkSync(`/usr/share/zoneinfo/${cfg.timezone}`, localtime);
  const nm = join(root, 'etc', 'NetworkManager', 'system-connections');
  mkdirSync(nm, { recursive: true, mode: 0o700 });
  const eth = cfg.network.ethernet;
  if (eth) {
    const ipv4 =
      'dhcp' in eth
        ? 'method=auto'
        : `method=manual\naddress1=${eth.address},${eth.gateway}${eth.dns?.length ? `\ndns=${eth.dns.join(';')};` : ''}`;
    writeFileAtomic(
      join(nm, 'citygate-eth0.nmconnection'),
      `[connection]\nid=citygate-eth0\ntype=ethernet\ninterface-name=eth0\n\n[ipv4]\n${ipv4}\n`,
      0o600,
    );
  }
  const wifi = cfg.network.wifi;
  if (wifi) {
    writeFileAtomic(
      join(nm, 'citygate-wifi.nmconnection'),
      `[connection]\nid=citygate-wifi\ntype=wifi\n\n[wifi]\nssid=${wifi.ssid}\nmode=infrastructure\n\n[wifi-security]\nkey-mgmt=wpa-psk\npsk=${wifi.psk}\n\n[ipv4]\nmethod=auto\n`,
      0o600,
    );
    const country = join(root, 'etc', 'citygate', 'wifi-country');
    ensureDir(country);
    writeFileAtomic(country, `${wifi.country}\n`);
  }
}

/** A gateway config to start with: the one put on the card, else an empty one pointed at the fleet. */
function initialGatewayConfig(boot: BootFiles, cfg: FirstBootConfig): string {
  const given = boot.read(GATEWAY_CONFIG_ON_BOOT);
  if (given) return given;
  const host = new URL(cfg.fleetUrl).hostname;
  return (
    JSON.stringify(
      { version: 1, id: cfg.hostname, fleet: { mqttUrl: `mqtts://${host}:8883` }, lines: [], devices: [] },
      null,
      2,
    ) + '\n'
  );
}

/**
 * Run (or resume) the first boot. Offline, everything but provisioning completes, the runtime starts
 * with the configuration it was given, and provisioning is retried on the next run. The claim token
 * is used once and then deleted from the boot partition. Returns the state reached.
 */
export async function runFirstBoot(deps: FirstBootDeps): Promise<FirstBootState> {
  const paths = firstBootPaths(deps.root);
  mkdirSync(paths.dataDir, { recursive: true, mode: 0o750 });
  let state = readState(paths.stateFile);
  const save = (s: FirstBootState) => {
    writeFileAtomic(paths.stateFile, JSON.stringify(s, null, 2) + '\n', 0o600);
    state = s;
  };
  if (state.step === 'provisioned') return state;
  const raw = deps.boot.read(FIRSTBOOT_FILE);
  if (raw === undefined)
    throw new CityGateError(
      'no-firstboot',
      `no ${FIRSTBOOT_FILE} on the boot partition and this gateway was never provisioned`,
    );
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch (err) {
    throw new CityGateError('invalid', `${FIRSTBOOT_FILE} is not valid JSON: ${(err as Error).message}`);
  }
  const cfg = assertValid<FirstBootConfig>(firstBootSchema, doc, FIRSTBOOT_FILE);

  if (state.step === 'new') {
    applySystem(deps.root, cfg);
    ensureDir(paths.configFile);
    if (!existsSync(paths.configFile))
      writeFileAtomic(paths.configFile, initialGatewayConfig(deps.boot, cfg), 0o640);
    save({ step: 'configured', hostname: cfg.hostname });
    deps.log.info(`first boot: ${cfg.hostname} configured (time zone ${cfg.timezone})`);
  }
  if (state.step === 'configured') {
    await deps.installService(paths);
    save({ ...state, step: 'service-installed' });
    deps.log.info('first boot: runtime installed and started under pm2');
  }
  if (!cfg.claimToken) {
    save({
      ...state,
      provisionError: 'no claim token on the boot partition: provision with citygate provision',
    });
    return state;
  }
  try {
    const creds = await deps.provision(cfg.fleetUrl, cfg.claimToken, cfg.hostname);
    writeFileAtomic(paths.credentialsFile, JSON.stringify(creds, null, 2) + '\n', 0o600);
    // The token is single-use: take it off the card so nobody can read it later.
    const { claimToken: _used, ...rest } = cfg;
    deps.boot.write(FIRSTBOOT_FILE, JSON.stringify(rest, null, 2) + '\n');
    save({ step: 'provisioned', hostname: cfg.hostname, provisionedAt: deps.now() });
    deps.log.info(`first boot: provisioned with ${new URL(cfg.fleetUrl).host}`);
  } catch (err) {
    save({ ...state, provisionError: errorMessage(err) });
    deps.log.warn(
      `first boot: provisioning failed, running offline and retrying later: ${errorMessage(err)}`,
    );
  }
  return state;
}
