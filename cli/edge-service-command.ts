import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir, userInfo } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { createLogger } from '../common/log.js';
import { readHeader } from '../common/release/bundle.js';
import {
  ecosystemFile,
  healthFile,
  PRODUCTION_HEALTH,
  progressFile,
  runtimeApp,
  trustedKeysDir,
} from '../edge/src/service/ecosystem.js';
import { Pm2Supervisor } from '../edge/src/updater/supervisor.js';
import { Updater } from '../edge/src/updater/updater.js';
import { UsageError, type Command } from './args.js';

const SERVICE_OPTIONS = {
  root: { type: 'string' },
  bundle: { type: 'string' },
  pub: { type: 'string' },
  'pm2-home': { type: 'string' },
  resume: { type: 'boolean' },
  id: { type: 'string' },
  'no-startup': { type: 'boolean' },
} as const;

const SERVICE_HELP: Record<string, string> = {
  root: 'install-service/update: install root (default /opt/citygate)',
  bundle: 'install-service/update: signed release bundle (file or URL) to install',
  pub: 'install-service: trusted release public key (PEM) to install under <root>/keys/releases/',
  'pm2-home': 'install-service/update: pm2 home (default: pm2 default, ~/.pm2)',
  resume: 'update: only continue an interrupted update (run at boot)',
  id: "update: the fleet's transaction id for this update (default: a local one)",
  'no-startup': 'install-service: do not register pm2 with the init system (containers, tests)',
};

function trustedKeys(root: string): string[] {
  const dir = trustedKeysDir(root);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pem') || f.endsWith('.pub'))
    .map((f) => readFileSync(join(dir, f), 'utf8'));
}

async function runUpdater(
  values: Record<string, string | boolean | undefined>,
  root: string,
  config: string,
): Promise<number> {
  const keys = trustedKeys(root);
  if (keys.length === 0) throw new UsageError(`no trusted release keys in ${trustedKeysDir(root)}`);
  const sup = await Pm2Supervisor.connect(values['pm2-home'] as string | undefined);
  try {
    const updater = new Updater({
      root,
      trustedKeys: keys,
      supervisor: sup,
      app: runtimeApp({ root, config }),
      healthFile: healthFile(root),
      health: PRODUCTION_HEALTH,
      log: createLogger({ component: 'updater' }),
      // The runtime forwards these lines to the fleet through its outbox (it may be restarting meanwhile).
      report: (p) => appendFileSync(progressFile(root), JSON.stringify(p) + '\n'),
    });
    let s = await updater.resume();
    if (typeof values.bundle === 'string' && !values.resume) {
      const id = typeof values.id === 'string' ? values.id : `local-${Date.now().toString(36)}`;
      s = await updater.request(id, /^https?:/.test(values.bundle) ? values.bundle : resolve(values.bundle));
    }
    const last = s.last;
    console.log(
      last
        ? `${last.outcome}: ${last.version ?? '?'}${last.reason ? ` (${last.reason})` : ''}; running ${s.committed ?? 'nothing'}`
        : `nothing to do; running ${s.committed ?? 'nothing'}`,
    );
    return last && last.outcome !== 'committed' && !values.resume ? 1 : 0;
  } finally {
    await sup.close();
  }
}

async function installService(
  values: Record<string, string | boolean | undefined>,
  root: string,
  config: string,
): Promise<number> {
  mkdirSync(trustedKeysDir(root), { recursive: true, mode: 0o750 });
  if (typeof values.pub === 'string')
    writeFileSync(join(trustedKeysDir(root), basename(values.pub)), readFileSync(values.pub), {
      mode: 0o644,
    });
  let entry: string | undefined;
  if (typeof values.bundle === 'string' && !/^https?:/.test(values.bundle))
    entry = (await readHeader(values.bundle)).manifest.entry;
  const eco = join(root, 'ecosystem.config.cjs');
  writeFileSync(eco, ecosystemFile({ root, config: resolve(config), ...(entry ? { entry } : {}) }));
  console.log(`wrote ${eco}`);
  if (typeof values.bundle === 'string') {
    const code = await runUpdater(values, root, resolve(config));
    if (code !== 0) return code;
  }
  if (!values['no-startup']) {
    // pm2 writes and enables a systemd unit that starts its daemon (and the saved apps) at boot.
    const pm2 = join(createRequire(import.meta.url).resolve('pm2/package.json'), '..', 'bin', 'pm2');
    const env = { ...process.env, ...(values['pm2-home'] ? { PM2_HOME: values['pm2-home'] as string } : {}) };
    for (const args of [['startup', 'systemd', '-u', userInfo().username, '--hp', homedir()], ['save']]) {
      const r = spawnSync(process.execPath, [pm2, ...args], { env, stdio: 'inherit' });
      if (r.status !== 0) {
        console.error(`pm2 ${args[0]} failed (exit ${r.status}); run it as root or pass --no-startup`);
        return 1;
      }
    }
  }
  return 0;
}

/** Adds `edge install-service` and `edge update` to the edge command (which runs the runtime). */
export function withEdgeServiceCommands(edge: Command): Command {
  return {
    ...edge,
    usage: [
      edge.usage,
      '       citygate edge install-service --config FILE [--root DIR] [--bundle FILE --pub KEY] [--no-startup]',
      '       citygate edge update --config FILE [--root DIR] (--bundle FILE|URL | --resume)',
    ].join('\n'),
    options: { ...edge.options, ...SERVICE_OPTIONS },
    help: { ...edge.help, ...SERVICE_HELP },
    async run(values, positionals) {
      const [sub] = positionals;
      if (sub !== 'install-service' && sub !== 'update') {
        for (const k of Object.keys(SERVICE_OPTIONS))
          if (values[k] !== undefined)
            throw new UsageError(`--${k} belongs to 'edge install-service' or 'edge update'`);
        return edge.run(values, positionals);
      }
      if (typeof values.config !== 'string') throw new UsageError(`edge ${sub}: missing --config FILE`);
      const root = resolve(typeof values.root === 'string' ? values.root : '/opt/citygate');
      mkdirSync(root, { recursive: true, mode: 0o750 });
      return sub === 'install-service'
        ? installService(values, root, values.config)
        : runUpdater(values, root, resolve(values.config));
    },
  };
}
