import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import { ID_PATTERN } from '../../common/contract/index.js';
import { CityGateError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { FleetStore } from './store.js';

class HttpError extends CityGateError {
  constructor(
    readonly statusCode: number,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

/** `since`/`until`: epoch milliseconds or an ISO 8601 date-time. */
function parseTime(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isFinite(n))
    throw new HttpError(
      400,
      'bad-request',
      `query parameter '${name}': '${v}' is neither epoch milliseconds nor an ISO 8601 date`,
    );
  return n;
}

const idParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN } },
} as const;

/** The fleet's HTTP API, version 1. Every error is `{status:"error", error:{code, message}}`. */
export async function buildApi(store: FleetStore, log: Logger, version: string): Promise<FastifyInstance> {
  const app = Fastify({
    logger: false,
    // Unknown query/body properties are errors, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true } },
  });

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    const validation = err instanceof HttpError ? undefined : err.validation;
    const code = err instanceof HttpError ? err.code : status === 500 ? 'internal' : 'bad-request';
    let message = err.message;
    if (validation && !(err instanceof HttpError))
      message = `${err.validationContext ?? 'request'}: ${err.message}`;
    if (status === 500) {
      log.error(`${req.method} ${req.url}: ${err.message}`);
      message = 'internal error';
    }
    void reply.status(status).send({ status: 'error', error: { code, message } });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      status: 'error',
      error: { code: 'not-found', message: `no route ${req.method} ${req.url.split('?')[0]}` },
    });
  });

  app.get('/api/v1/health', () => ({ status: 'ok', version }));

  app.get('/api/v1/gateways', async () => ({ gateways: await store.listGateways() }));

  const findGateway = async (id: string) => {
    const gw = await store.getGateway(id);
    if (!gw)
      throw new HttpError(404, 'unknown-gateway', `no gateway '${id}' has ever connected to this fleet`);
    return gw;
  };

  app.get<{ Params: { id: string } }>('/api/v1/gateways/:id', { schema: { params: idParam } }, async (req) =>
    findGateway(req.params.id),
  );

  app.get<{
    Params: { id: string };
    Querystring: { device?: string; point?: string; since?: string; until?: string; limit?: number };
  }>(
    '/api/v1/gateways/:id/telemetry',
    {
      schema: {
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            device: { type: 'string', pattern: ID_PATTERN },
            point: { type: 'string', pattern: ID_PATTERN },
            since: { type: 'string' },
            until: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 10000 },
          },
        },
      },
    },
    async (req) => {
      const gw = await findGateway(req.params.id);
      const q = req.query;
      const readings = await store.telemetry({
        gateway: gw.id,
        device: q.device,
        point: q.point,
        since: parseTime('since', q.since),
        until: parseTime('until', q.until),
        limit: q.limit ?? 1000,
      });
      return { gateway: gw.id, count: readings.length, readings };
    },
  );

  await app.ready();
  return app;
}
