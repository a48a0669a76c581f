import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

/** The newest PostgreSQL from Debian's packages (`.ci/run` installs `postgresql` when missing). */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error(`PostgreSQL is not installed: no ${root}/*/bin/initdb (apt-get install postgresql)`);
  return join(root, versions[0]!, 'bin');
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface PostgresCluster {
  readonly port: number;
  readonly dir: string;
  /** `postgres://postgres@127.0.0.1:PORT/NAME` */
  url(database: string): string;
  /** A fresh, empty database; its URL. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A throw-away PostgreSQL cluster: initdb into a temp dir owned by `postgres` (initdb and postgres
 * refuse to run as root), a private port on 127.0.0.1 and the unix socket in the same temp dir.
 * `durable: false` (tests) turns fsync off: nothing here survives a power cut anyway; benchmarks
 * keep PostgreSQL's defaults (fsync, synchronous_commit on).
 */
export async function startPostgres(opts: { durable?: boolean } = {}): Promise<PostgresCluster> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'citygate-pg-'));
  chmodSync(dir, 0o755);
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const run = (cmd: string, args: string[]) =>
    asRoot
      ? { cmd: 'runuser', args: ['-u', 'postgres', '--', join(bin, cmd), ...args] }
      : { cmd: join(bin, cmd), args };
  if (asRoot) chownSync(dir, uidOf('postgres'), gidOf('postgres'));
  const init = run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
  execFileSync(init.cmd, init.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const port = await freePort();
  const settings = [
    ['port', String(port)],
    ['listen_addresses', '127.0.0.1'],
    ['unix_socket_directories', dir],
    ['max_connections', '200'],
    ['shared_buffers', '128MB'],
    ...(opts.durable
      ? []
      : [
          ['fsync', 'off'],
          ['synchronous_commit', 'off'],
          ['full_page_writes', 'off'],
        ]),
  ];
  const server = run('postgres', ['-D', data, ...settings.flatMap(([k, v]) => ['-c', `${k}=${v}`])]);
  const proc: ChildProcess = spawn(server.cmd, server.args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-4000)));
  const exited = new Promise<never>((_, reject) =>
    proc.once('exit', (code) => reject(new Error(`postgres exited (${code}): ${log}`))),
  );
  exited.catch(() => undefined);
  const url = (database: string) => `postgres://postgres@127.0.0.1:${port}/${database}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url('postgres') });
    try {
      await Promise.race([c.connect(), exited]);
      await c.end();
      break;
    } catch (err) {
      await c.end().catch(() => undefined);
      if (proc.exitCode !== null || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    port,
    dir,
    url,
    async createDatabase(name) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`database name '${name}': use [a-z0-9_]`);
      const c = new pg.Client({ connectionString: url('postgres') });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name}`);
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return url(name);
    },
    async stop() {
      if (proc.exitCode === null) {
        const gone = new Promise<void>((r) => proc.once('exit', () => r()));
        // SIGINT to the postmaster itself (runuser does not pass it on): fast shutdown.
        const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(pid, 'SIGINT');
        await gone;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const idOf = (flag: '-u' | '-g', user: string): number =>
  Number(execFileSync('id', [flag, user], { encoding: 'utf8' }).trim());
const uidOf = (user: string) => idOf('-u', user);
const gidOf = (user: string) => idOf('-g', user);
