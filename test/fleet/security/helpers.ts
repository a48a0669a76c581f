import { spawn } from 'node:child_process';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { memoryLogger } from '../../../common/log.js';
import { provision, type FleetCredentials } from '../../../edge/src/provision.js';
import { startFleet, type Fleet, type FleetOptions } from '../../../fleet/src/main.js';

/** Cheap scrypt for tests: the cost parameters are stored with each hash. */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export async function startSecureFleet(dir: string, extra: Partial<FleetOptions> = {}) {
  const log = memoryLogger('debug');
  const fleet = await startFleet({
    dataDir: join(dir, 'fleet'),
    httpPort: 0,
    mqttPort: 0,
    mqttTlsPort: 0,
    scryptCost: TEST_SCRYPT,
    log,
    ...extra,
  });
  return { fleet, log, adminToken: fleet.admin!.bootstrapToken! };
}

export async function api(
  fleet: Fleet,
  token: string | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${fleet.httpUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    parsed = { text };
  }
  return { status: res.status, body: parsed };
}

export async function claimToken(fleet: Fleet, adminToken: string, group?: string): Promise<string> {
  const r = await api(fleet, adminToken, 'POST', '/api/v1/claim-tokens', group ? { group } : {});
  if (r.status !== 201) throw new Error(`claim token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.token as string;
}

export async function provisionGateway(
  fleet: Fleet,
  adminToken: string,
  gatewayId: string,
  dir: string,
): Promise<FleetCredentials> {
  return provision({
    fleetUrl: fleet.httpUrl,
    token: await claimToken(fleet, adminToken),
    gatewayId,
    dir: join(dir, `gw-${gatewayId}`),
  });
}

/** Connect and report whether the broker accepted the connection. */
export function tryConnect(url: string, opts: mqtt.IClientOptions): Promise<'connected' | 'refused'> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, { ...opts, reconnectPeriod: 0, connectTimeout: 5000 });
    const done = (r: 'connected' | 'refused') => {
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.end(true);
      resolve(r);
    };
    c.once('connect', () => done('connected'));
    c.once('error', () => done('refused'));
    c.once('close', () => done('refused'));
  });
}

/** Run a program to completion; a missing program rejects (a missing dependency fails the test). */
export function run(
  cmd: string,
  args: string[],
  timeoutMs = 10_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    p.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export const hostPort = (url: string) => {
  const u = new URL(url);
  return { host: u.hostname, port: u.port };
};
