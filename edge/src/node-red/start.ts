/**
 * Node-RED embedded in the gateway process: an express 4 app on its own HTTP server, the editor and
 * admin API at `/`, http-in nodes under `/api`. The CityGate palette (nodes/) is loaded from the
 * package, and reaches the gateway only through `settings.citygate.services`.
 *
 * Node-RED itself is a process-wide singleton (one `RED.init` at a time per process).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { CityGateError } from '../../../common/errors.js';
import { GATEWAY_EXCLUDED_CORE_NODES } from '../../../common/flow-set.js';
import { writeFileAtomic } from '../../../common/fs-atomic.js';
import type { Logger } from '../../../common/log.js';
import { packageRoot } from '../../../common/package-root.js';
import { loadExpress, loadRed, type RedModule } from './red.js';
import type { EdgeServices } from './services.js';

export interface AdminAuth {
  username: string;
  /** bcrypt hash (see hashPassword); never a clear-text password. */
  passwordHash: string;
}

export interface NodeRedOptions {
  services: EdgeServices;
  /** Node-RED's user directory, under the gateway's data dir. */
  userDir: string;
  /** Editor port (default 1880; 0 = any free port). */
  port?: number;
  host?: string;
  /** Editor and admin API login; `false` leaves them open (only for loopback tests). */
  adminAuth: AdminAuth | false;
  /** Encrypts flow credentials; default: a random secret kept in `<userDir>/credential-secret`. */
  credentialSecret?: string;
  /** Flow file name inside userDir (default flows.json). */
  flowFile?: string;
  /** Flows to install when the flow file does not exist yet (first start). */
  initialFlows?: unknown[];
  log: Logger;
}

export interface NodeRedHandle {
  readonly red: RedModule;
  readonly port: number;
  readonly url: string;
  readonly userDir: string;
  readonly flowFile: string;
  readonly services: EdgeServices;
  stop(): Promise<void>;
}

let running = false;

/** Where the CityGate palette lives (a Node-RED module directory with a package.json). */
export function paletteDir(): string {
  return join(packageRoot(), 'nodes');
}

function credentialSecret(userDir: string, given: string | undefined): string {
  if (given !== undefined) {
    if (given.length < 16)
      throw new CityGateError('node-red-config', 'credentialSecret must be at least 16 characters');
    return given;
  }
  const file = join(userDir, 'credential-secret');
  if (existsSync(file)) {
    const s = readFileSync(file, 'utf8').trim();
    if (s.length >= 16) return s;
  }
  const s = randomBytes(32).toString('hex');
  writeFileAtomic(file, s + '\n', 0o600);
  return s;
}

function redLogger(log: Logger): Record<string, unknown> {
  return {
    level: 'info',
    metrics: false,
    audit: false,
    handler: () => (m: { level: number; msg: unknown; type?: string; name?: string }) => {
      const text = `${m.type ? `[${m.type}${m.name ? `:${m.name}` : ''}] ` : ''}${String(m.msg)}`;
      if (m.level <= 20) log.error(text);
      else if (m.level <= 30) log.warn(text);
      else if (m.level <= 40) log.info(text);
      else log.debug(text);
    },
  };
}

export async function startNodeRed(opts: NodeRedOptions): Promise<NodeRedHandle> {
  if (running) throw new CityGateError('node-red-running', 'Node-RED is already running in this process');
  const userDir = resolve(opts.userDir);
  mkdirSync(userDir, { recursive: true, mode: 0o750 });
  const flowFile = opts.flowFile ?? 'flows.json';
  const flowPath = join(userDir, flowFile);
  if (!existsSync(flowPath) && opts.initialFlows)
    writeFileAtomic(flowPath, JSON.stringify(opts.initialFlows, null, 2) + '\n', 0o640);
  const secret = credentialSecret(userDir, opts.credentialSecret);

  const red = loadRed();
  const app = loadExpress()();
  app.disable('x-powered-by');
  const server: Server = createServer(app);
  const settings: Record<string, unknown> = {
    userDir,
    flowFile,
    flowFilePretty: true,
    credentialSecret: secret,
    httpAdminRoot: '/',
    httpNodeRoot: '/api',
    nodesDir: [paletteDir()],
    nodesExcludes: Object.keys(GATEWAY_EXCLUDED_CORE_NODES),
    uiHost: opts.host ?? '127.0.0.1',
    functionExternalModules: false,
    externalModules: { autoInstall: false, palette: { allowInstall: false } },
    telemetry: { enabled: false },
    diagnostics: { enabled: false },
    editorTheme: { tours: false, projects: { enabled: false } },
    logging: { citygate: redLogger(opts.log) },
    citygate: { services: opts.services },
    ...(opts.adminAuth
      ? {
          adminAuth: {
            type: 'credentials',
            users: [
              { username: opts.adminAuth.username, password: opts.adminAuth.passwordHash, permissions: '*' },
            ],
          },
        }
      : {}),
  };
  if (opts.adminAuth && !/^\$2[aby]\$\d\d\$/.test(opts.adminAuth.passwordHash))
    throw new CityGateError('node-red-config', 'adminAuth.passwordHash must be a bcrypt hash');
  running = true;
  try {
    red.init(server, settings);
    app.use('/api', red.httpNode);
    app.use('/', red.httpAdmin);
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(opts.port ?? 1880, opts.host ?? '127.0.0.1', () => ok());
    });
    await red.start();
  } catch (err) {
    running = false;
    server.close();
    throw err;
  }
  const port = (server.address() as AddressInfo).port;
  const host = opts.host && opts.host !== '0.0.0.0' ? opts.host : '127.0.0.1';
  opts.log.info(`Node-RED editor at http://${host}:${port}/ (user dir ${userDir})`);
  let stopped: Promise<void> | undefined;
  return {
    red,
    port,
    url: `http://${host}:${port}`,
    userDir,
    flowFile: flowPath,
    services: opts.services,
    stop() {
      stopped ??= (async () => {
        try {
          await red.stop();
        } finally {
          server.closeAllConnections();
          await new Promise<void>((ok) => server.close(() => ok()));
          running = false;
        }
      })();
      return stopped;
    },
  };
}
