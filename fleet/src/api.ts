import Fastify, { type FastifyInstance, type FastifyError } from 'fastify';
import { ID_PATTERN } from '../../common/contract/index.js';
import { CityGateError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { Clock } from '../../common/clock.js';
import { registerFlowRoutes } from './http/flow-routes.js';
import type { FlowSets } from './flows/service.js';
import { registerRolloutRoutes } from './http/rollout-routes.js';
import { registerUiRoutes } from './http/ui-routes.js';
import type { AlarmBoard } from './alarms.js';
import type { Rollouts } from './rollouts.js';
import { registerAdminRoutes, type AdminDeps } from './http/admin-routes.js';
import { registerOpenApi } from './http/openapi.js';
import { registerGuard } from './auth/guard.js';
import type { Site, SiteStore } from './sites.js';
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
export interface ApiDeps {
  store: FleetStore;
  sites: SiteStore;
  log: Logger;
  version: string;
  clock: Clock;
  alarms: AlarmBoard;
  /** Releases and rollouts (routes registered when given). */
  rollouts?: Rollouts;
  /** Flow sets (routes registered when given). */
  flows?: FlowSets;
  /** API tokens and roles, provisioning, desired config, metrics. Absent: no authentication (tests of single routes). */
  admin?: AdminDeps;
}

export async function buildApi(deps: ApiDeps): Promise<FastifyInstance> {
  const { store, sites, log, version, clock } = deps;
  const app = Fastify({
    logger: false,
    // Unknown query/body properties are errors, not silently dropped.
    ajv: {
      customOptions: { removeAdditional: false, coerceTypes: true, allErrors: true, allowUnionTypes: true },
    },
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

  await registerOpenApi(app, version);
  if (deps.admin) {
    registerGuard(app, deps.admin.tokens);
    registerAdminRoutes(app, deps.admin);
  }

  // Public: also tells the dashboard whether to ask for a token before anything else.
  const auth = deps.admin !== undefined;
  app.get('/api/v1/health', () => ({ status: 'ok', version, auth }));

  app.get('/api/v1/gateways', async () => ({ gateways: await store.listGateways() }));

  const findGateway = async (id: string) => {
    const gw = await store.getGateway(id);
    if (!gw)
      throw new HttpError(404, 'unknown-gateway', `no gateway '${id}' has ever connected to this fleet`);
    return gw;
  };

  // The record plus where its message sequence has holes (loss between the gateway and this store).
  app.get<{ Params: { id: string } }>(
    '/api/v1/gateways/:id',
    { schema: { params: idParam } },
    async (req) => {
      const gw = await findGateway(req.params.id);
      return { ...gw, gaps: await store.gaps(gw.id) };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { channel?: string; since?: string; limit?: number } }>(
    '/api/v1/gateways/:id/events',
    {
      schema: {
        params: idParam,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            channel: { enum: ['events', 'alarms', 'cmd/res', 'config/reported', 'update/progress'] },
            since: { type: 'string' },
            limit: { type: 'integer', minimum: 1, maximum: 10000 },
          },
        },
      },
    },
    async (req) => {
      const gw = await findGateway(req.params.id);
      const events = await store.events({
        gateway: gw.id,
        channel: req.query.channel,
        since: parseTime('since', req.query.since),
        limit: req.query.limit ?? 1000,
      });
      return { gateway: gw.id, count: events.length, events };
    },
  );

  app.get<{
    Params: { id: string };
    Querystring: {
      device?: string;
      point?: string;
      since?: string;
      until?: string;
      limit?: number;
      bucketMs?: number;
    };
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
            bucketMs: { type: 'integer', minimum: 1000, maximum: 31 * 86_400_000 },
          },
        },
      },
    },
    async (req) => {
      const gw = await findGateway(req.params.id);
      const q = req.query;
      if (q.bucketMs !== undefined) {
        // Downsampled: one row per point and time bucket with mean, min, max and count.
        const buckets = await store.telemetryBuckets(
          {
            gateway: gw.id,
            device: q.device,
            point: q.point,
            since: parseTime('since', q.since),
            until: parseTime('until', q.until),
            limit: q.limit ?? 1000,
          },
          q.bucketMs,
        );
        return { gateway: gw.id, bucketMs: q.bucketMs, count: buckets.length, buckets };
      }
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

  app.get<{ Params: { id: string } }>(
    '/api/v1/gateways/:id/latest',
    { schema: { params: idParam } },
    async (req) => {
      const gw = await findGateway(req.params.id);
      // Latest value of every point seen in the last day.
      const points = await store.latest(gw.id, clock.now() - 86_400_000);
      return {
        gateway: gw.id,
        points: points.sort((a, b) => a.device.localeCompare(b.device) || a.point.localeCompare(b.point)),
      };
    },
  );

  // Who is calling: the dashboard shows the role and hides what the role may not do.
  app.get('/api/v1/me', (req) => {
    const t = (req as { apiToken?: { name: string; role: string } }).apiToken;
    return t ? { auth: true, name: t.name, role: t.role } : { auth: false };
  });

  app.get<{ Params: { id: string } }>(
    '/api/v1/gateways/:id/health',
    { schema: { params: idParam } },
    async (req) => {
      const gw = await findGateway(req.params.id);
      const health = await sites.health(gw.id);
      if (!health)
        throw new HttpError(404, 'no-health', `gateway '${gw.id}' has not reported its health yet`);
      return { gateway: gw.id, online: gw.online, lastSeen: gw.lastSeen, ...health };
    },
  );

  app.get('/api/v1/commissioning', async () => ({ commissioning: await sites.commissioning() }));

  app.get<{ Querystring: { active?: boolean; gateway?: string } }>(
    '/api/v1/alarms',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { active: { type: 'boolean' }, gateway: { type: 'string', pattern: ID_PATTERN } },
        },
      },
    },
    async (req) => ({ alarms: await deps.alarms.list(req.query) }),
  );
  app.post<{ Params: { gateway: string; key: string }; Body: { note?: string } }>(
    '/api/v1/alarms/:gateway/:key/ack',
    {
      schema: {
        params: {
          type: 'object',
          required: ['gateway', 'key'],
          properties: {
            gateway: { type: 'string', pattern: ID_PATTERN },
            key: { type: 'string', minLength: 1, maxLength: 200 },
          },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { note: { type: 'string', maxLength: 500 } },
        },
      },
    },
    async (req) => {
      const by = (req as { apiToken?: { name: string } }).apiToken?.name ?? 'operator';
      if (
        !(await deps.alarms.acknowledge(req.params.gateway, req.params.key, by, clock.now(), req.body?.note))
      )
        throw new HttpError(
          404,
          'unknown-alarm',
          `gateway '${req.params.gateway}' has no alarm '${req.params.key}'`,
        );
      return { gateway: req.params.gateway, key: req.params.key, ackBy: by };
    },
  );

  app.get('/api/v1/sites', async () => ({ sites: await sites.list() }));
  app.put<{ Params: { id: string }; Body: Site }>(
    '/api/v1/sites/:id',
    {
      schema: {
        params: idParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'lat', 'lon'],
          properties: {
            id: { type: 'string', pattern: ID_PATTERN },
            name: { type: 'string', minLength: 1, maxLength: 200 },
            lat: { type: 'number', minimum: -90, maximum: 90 },
            lon: { type: 'number', minimum: -180, maximum: 180 },
            zone: { type: 'string', pattern: ID_PATTERN },
          },
        },
      },
    },
    async (req) => {
      if (req.body.id !== undefined && req.body.id !== req.params.id)
        throw new HttpError(
          400,
          'bad-request',
          `body.id '${req.body.id}' differs from the path's '${req.params.id}'`,
        );
      const site = { ...req.body, id: req.params.id };
      await sites.upsert(site);
      return site;
    },
  );

  if (deps.rollouts)
    registerRolloutRoutes(app, {
      releases: deps.rollouts.releases,
      rollouts: deps.rollouts.runner,
      uploadDir: deps.rollouts.uploadDir,
    });
  if (deps.flows) registerFlowRoutes(app, deps.flows);
  registerUiRoutes(app);
  await app.ready();
  return app;
}
