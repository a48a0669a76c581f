/**
 * Flow sets over HTTP (API v1): publish a version (checked before it gets a number: a set naming
 * node types the gateways lack is a 400 naming them), list and read versions, deploy one to a
 * gateway, a group or a zone, per-gateway status with drift, and take a gateway's drift in as a new
 * version. Publishing and deploying need `configure`; reading needs `read`.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { FLOW_SET_NAME_PATTERN, ID_PATTERN, MAX_FLOW_NODES } from '../../../common/contract/index.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { FlowSet } from '../../../common/flow-set.js';
import type { FlowSets, FlowTarget } from '../flows/service.js';

const STATUS: Record<string, number> = {
  'not-found': 404,
  'unknown-gateway': 404,
  'no-drift': 409,
  'flow-set-invalid': 400,
  'flow-set-unknown-types': 400,
};

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  const code = err instanceof CityGateError ? err.code : 'internal';
  const status = STATUS[code] ?? 500;
  return reply.status(status).send({
    status: 'error',
    error: { code, message: status === 500 ? 'internal error' : errorMessage(err) },
  });
}

const nameParam = {
  type: 'object',
  required: ['name'],
  properties: { name: { type: 'string', pattern: FLOW_SET_NAME_PATTERN } },
} as const;
const gatewayParam = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: ID_PATTERN } },
} as const;
const flowsSchema = {
  type: 'array',
  minItems: 1,
  maxItems: MAX_FLOW_NODES,
  items: {
    type: 'object',
    required: ['id', 'type'],
    properties: { id: { type: 'string', minLength: 1, maxLength: 128 }, type: { type: 'string' } },
  },
} as const;

/** A version without its flows (what lists and answers show). */
const summary = (s: FlowSet) => ({
  name: s.name,
  version: s.version,
  createdAt: s.createdAt,
  flowsHash: s.flowsHash,
  nodes: s.flows.length,
});

export function registerFlowRoutes(app: FastifyInstance, flows: FlowSets): void {
  const configure = { permission: 'configure' as const };
  const read = { permission: 'read' as const };

  app.post<{ Params: { name: string }; Body: { flows: unknown[] } }>(
    '/api/v1/flow-sets/:name',
    {
      config: configure,
      bodyLimit: 8 * 1024 * 1024,
      schema: {
        tags: ['flow-sets'],
        summary: 'Publish a new version of a flow set (checked and signed; 400 names unknown node types)',
        params: nameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['flows'],
          properties: { flows: flowsSchema },
        },
      },
    },
    async (req, reply) => {
      try {
        return await reply.status(201).send(summary(await flows.publish(req.params.name, req.body.flows)));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.get(
    '/api/v1/flow-sets',
    { config: read, schema: { tags: ['flow-sets'], summary: 'Every flow set version' } },
    async () => {
      const all = await flows.versions();
      const names = [...new Set(all.map((v) => v.name))];
      return { flowSets: names.map((name) => ({ name, versions: all.filter((v) => v.name === name) })) };
    },
  );

  app.get<{ Params: { name: string; version: number } }>(
    '/api/v1/flow-sets/:name/versions/:version',
    {
      config: read,
      schema: {
        tags: ['flow-sets'],
        summary: 'One signed flow set version, with its flows',
        params: {
          type: 'object',
          required: ['name', 'version'],
          properties: {
            name: { type: 'string', pattern: FLOW_SET_NAME_PATTERN },
            version: { type: 'integer', minimum: 1 },
          },
        },
      },
    },
    async (req, reply) => {
      try {
        return await flows.get(req.params.name, req.params.version);
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.post<{
    Params: { name: string };
    Body: { version?: number; gateway?: string; gateways?: string[]; group?: string; zone?: string };
  }>(
    '/api/v1/flow-sets/:name/deploy',
    {
      config: configure,
      schema: {
        tags: ['flow-sets'],
        summary: 'Deploy a version (default: the newest) to a gateway, a list, a group or a zone',
        params: nameParam,
        body: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          properties: {
            version: { type: 'integer', minimum: 1 },
            gateway: { type: 'string', pattern: ID_PATTERN },
            gateways: {
              type: 'array',
              minItems: 1,
              maxItems: 10000,
              items: { type: 'string', pattern: ID_PATTERN },
            },
            group: { type: 'string', minLength: 1, maxLength: 64 },
            zone: { type: 'string', pattern: ID_PATTERN },
          },
        },
      },
    },
    async (req, reply) => {
      const { version, ...where } = req.body;
      const keys = Object.keys(where);
      if (keys.length !== 1)
        return reply.status(400).send({
          status: 'error',
          error: {
            code: 'bad-request',
            message: `body: name exactly one of gateway, gateways, group, zone (got ${keys.join(', ') || 'none'})`,
          },
        });
      try {
        return await flows.deploy(where as FlowTarget, req.params.name, version);
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.get(
    '/api/v1/flow-sets/status',
    {
      config: read,
      schema: { tags: ['flow-sets'], summary: 'Per gateway: assigned version, last report, drift' },
    },
    async () => ({ gateways: await flows.status() }),
  );

  app.get<{ Params: { id: string } }>(
    '/api/v1/gateways/:id/flows',
    {
      config: read,
      schema: {
        tags: ['flow-sets'],
        summary: "A gateway's flow set: assigned, reported, drift",
        params: gatewayParam,
      },
    },
    async (req) => (await flows.status(req.params.id))[0],
  );

  app.post<{ Params: { id: string }; Body: { name?: string } | undefined }>(
    '/api/v1/gateways/:id/flows/take-in',
    {
      config: configure,
      schema: {
        tags: ['flow-sets'],
        summary: "Take a gateway's local edits in as the next version of its set (or of `name`)",
        params: gatewayParam,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { name: { type: 'string', pattern: FLOW_SET_NAME_PATTERN } },
        },
      },
    },
    async (req, reply) => {
      try {
        return await reply.status(201).send(summary(await flows.takeIn(req.params.id, req.body?.name)));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
}
