import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { ID_PATTERN } from '../../common/contract/index.js';
import { CityGateError } from '../../common/errors.js';
import { writeFileAtomic } from '../../common/fs-atomic.js';
import type { Logger } from '../../common/log.js';
import type { Table } from '../../hardware/src/profile.js';
import { commissioningReportSchema, type CommissioningReport } from './commission/report.js';
import { checklist } from './commission/checklist.js';
import { COMMISSION_PAGE } from './commission/page.js';
import { timeSynced } from './commission/time-sync.js';
import { runCommand } from './commands.js';
import type { EdgeRuntime } from './main.js';
import { ModbusError } from './modbus/errors.js';

/** Where a running gateway's local API can be found: `<dataDir>/local-api.json` (0600, holds the token). */
export interface LocalApiInfo {
  url: string;
  token: string;
  gateway: string;
  pid: number;
}

export const LOCAL_API_FILE = 'local-api.json';

const id = { type: 'string', pattern: ID_PATTERN } as const;

/**
 * The gateway's local API on loopback, for the technician CLI (and the commissioning page): raw Modbus
 * reads/writes go through the owning line's queue, never around it. Every request needs the bearer
 * token from `<dataDir>/local-api.json`, readable only by the gateway's user.
 */
export async function startLocalApi(opts: {
  runtime: EdgeRuntime;
  log: Logger;
  host?: string;
  port?: number;
}): Promise<{ url: string; close(): Promise<void> }> {
  const { runtime, log } = opts;
  const token = randomBytes(24).toString('base64url');
  const app: FastifyInstance = Fastify({
    logger: false,
    ajv: { customOptions: { removeAdditional: false, allErrors: true, allowUnionTypes: true } },
  });

  app.addHook('onRequest', async (req, reply) => {
    if (req.url === '/local/commission') return; // the page itself holds no data; its API calls need the token
    if (req.headers.authorization !== `Bearer ${token}`) {
      await reply.status(401).send({
        status: 'error',
        error: { code: 'unauthorized', message: 'missing or wrong local API token' },
      });
    }
  });
  app.setErrorHandler((err: FastifyError | CityGateError, _req, reply) => {
    const fe = err as FastifyError;
    let status = fe.validation ? 400 : 500;
    if (err instanceof ModbusError) status = 502;
    else if (err instanceof CityGateError)
      status = ['unknown-device', 'unknown-point', 'unknown-line'].includes(err.code) ? 404 : 400;
    if (status === 500) log.error(`local API: ${err.message}`);
    void reply.status(status).send({
      status: 'error',
      error: {
        code: (err as CityGateError).code ?? 'internal',
        message: status === 500 ? 'internal error' : err.message,
        ...(err instanceof ModbusError && err.modbusCode ? { modbusCode: err.modbusCode } : {}),
      },
    });
  });

  const lineOf = (lineId: string | undefined) => {
    const lines = [...runtime.lines.values()];
    const line = lineId ? runtime.lines.get(lineId) : lines.length === 1 ? lines[0] : undefined;
    if (!line)
      throw new CityGateError(
        'unknown-line',
        lineId
          ? `gateway ${runtime.id} has no line '${lineId}'`
          : `gateway ${runtime.id} has ${lines.length} lines: name one with 'line' (${[...runtime.lines.keys()].join(', ')})`,
      );
    return line;
  };

  app.get('/local/v1/status', async () => ({
    gateway: runtime.id,
    uplink: runtime.uplink.state,
    outboxDepth: await runtime.outbox.depth(),
    lines: [...runtime.lines.values()].map((l) => ({
      id: l.id,
      ...l.stats.snapshot(),
      retries: l.stats.retries,
    })),
  }));

  app.get('/local/v1/points', () => ({ points: [...runtime.latest.values()] }));

  app.get('/local/v1/devices', () => ({
    devices: [...runtime.lines.values()].flatMap((l) => l.devicesState().map((d) => ({ ...d, line: l.id }))),
  }));

  const tx = {
    type: 'object',
    additionalProperties: false,
    required: ['unit', 'table', 'address'],
    properties: {
      line: id,
      unit: { type: 'integer', minimum: 0, maximum: 247 },
      table: { enum: ['coil', 'discrete', 'holding', 'input'] },
      address: { type: 'integer', minimum: 0, maximum: 65535 },
      count: { type: 'integer', minimum: 1, maximum: 2000 },
      values: {
        type: 'array',
        minItems: 1,
        maxItems: 123,
        items: { type: 'integer', minimum: 0, maximum: 65535 },
      },
    },
  } as const;
  type Tx = { line?: string; unit: number; table: Table; address: number; count?: number; values?: number[] };

  app.post<{ Body: Tx }>('/local/v1/modbus/read', { schema: { body: tx } }, async (req) => {
    const b = req.body;
    const line = lineOf(b.line);
    const values = await line.transact(`read unit ${b.unit}`, (t) =>
      t.read(b.unit, b.table, b.address, b.count ?? 1),
    );
    return { line: line.id, values };
  });

  app.post<{ Body: Tx }>('/local/v1/modbus/write', { schema: { body: tx } }, async (req) => {
    const b = req.body;
    if (b.table !== 'holding' && b.table !== 'coil')
      throw new CityGateError(
        'bad-request',
        `only holding registers and coils can be written, not '${b.table}'`,
      );
    if (!b.values) throw new CityGateError('bad-request', 'body.values: is required for a write');
    const line = lineOf(b.line);
    await line.transact(`write unit ${b.unit}`, (t) =>
      t.write(b.unit, b.table as 'holding' | 'coil', b.address, b.values!),
    );
    return { line: line.id, written: b.values.length };
  });

  app.post<{ Params: { device: string; point: string }; Body: { value: number | boolean } }>(
    '/local/v1/devices/:device/points/:point',
    {
      schema: {
        params: { type: 'object', properties: { device: id, point: id } },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['value'],
          properties: { value: { type: ['number', 'boolean'] } },
        },
      },
    },
    (req) => runCommand(runtime, 'write', { ...req.params, value: req.body.value }),
  );

  // Operator overrides with an expiry ("all lights 100 % for 2 h"): recorded with who and why,
  // revert by themselves, and never break an interlock.
  app.get('/local/v1/overrides', () => ({ overrides: runtime.rules.overrides() }));
  app.post<{ Body: Record<string, unknown> }>('/local/v1/overrides', (req) =>
    runCommand(runtime, 'override', req.body ?? {}),
  );

  app.get('/local/v1/commission/checklist', async () => {
    const devices = [...runtime.lines.values()].flatMap((l) => l.devicesState());
    return {
      gateway: runtime.id,
      items: checklist(
        {
          gateway: runtime.id,
          devices,
          points: [...runtime.latest.values()],
          uplink: runtime.uplink.state,
          timeSynced: timeSynced(),
        },
        runtime.profiles,
      ),
    };
  });

  // The technician's page: static HTML that calls the API above with the token from its URL fragment.
  app.get('/local/commission', (_req, reply) => reply.type('text/html; charset=utf-8').send(COMMISSION_PAGE));

  app.post<{ Body: CommissioningReport }>(
    '/local/v1/commissioning',
    { schema: { body: commissioningReportSchema } },
    async (req) => {
      const report = { ...req.body, gateway: runtime.id };
      const dir = join(runtime.dataDir, 'commissioning');
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      const file = join(dir, `${new Date(report.finishedAt).toISOString().replace(/[:.]/g, '-')}.json`);
      writeFileAtomic(file, JSON.stringify(report, null, 2) + '\n', 0o640);
      runtime.events.emit('commissioning', report);
      return { stored: file };
    },
  );

  await app.ready();
  const url = await app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 0 });
  const info: LocalApiInfo = { url, token, gateway: runtime.id, pid: process.pid };
  writeFileAtomic(join(runtime.dataDir, LOCAL_API_FILE), JSON.stringify(info) + '\n', 0o600);
  log.info(`local API on ${url}/local/v1 (token in ${join(runtime.dataDir, LOCAL_API_FILE)})`);
  return { url, close: () => app.close() };
}
