/** Commands and overrides to a gateway's device points, and their results. */
import type {} from '@fastify/swagger';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ID_PATTERN, TX_PATTERN } from '../../../common/contract/index.js';
import type { CommandRecord, CommandService } from '../commands/service.js';
import type { GatewayRegistry } from '../provisioning/registry.js';

const id = { type: 'string', pattern: ID_PATTERN } as const;
const idParams = { type: 'object', required: ['id'], properties: { id } } as const;
const timing = {
  expiresInMs: { type: 'integer', minimum: 1000, maximum: 3_600_000 },
  waitMs: { type: 'integer', minimum: 0, maximum: 30_000 },
} as const;

interface Timing {
  expiresInMs?: number;
  waitMs?: number;
}

const answer = (reply: FastifyReply, r: CommandRecord) =>
  reply.status(r.status === 'pending' ? 202 : 200).send(r);

export function registerCommandRoutes(
  app: FastifyInstance,
  deps: { commands: CommandService; registry: GatewayRegistry },
): void {
  const { commands, registry } = deps;
  const active = async (reply: FastifyReply, gw: string): Promise<boolean> => {
    const c = await registry.get(gw);
    if (c && !c.revokedAt) return true;
    await reply.status(404).send({
      status: 'error',
      error: { code: 'unknown-gateway', message: `gateway '${gw}' is not provisioned (or revoked)` },
    });
    return false;
  };
  const by = (req: { apiToken?: { name: string } }) => req.apiToken?.name ?? 'api';

  app.post<{ Params: { id: string }; Body: { name: string; args?: Record<string, unknown> } & Timing }>(
    '/api/v1/gateways/:id/commands',
    {
      config: { permission: 'operate' },
      schema: {
        tags: ['commands'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: id, args: { type: 'object', maxProperties: 50 }, ...timing },
        },
      },
    },
    async (req, reply) => {
      if (!(await active(reply, req.params.id))) return reply;
      const b = req.body;
      return answer(
        reply,
        await commands.run({
          gateway: req.params.id,
          name: b.name,
          args: b.args ?? {},
          by: by(req),
          expiresInMs: b.expiresInMs ?? 30_000,
          waitMs: b.waitMs ?? 5_000,
        }),
      );
    },
  );

  app.post<{
    Params: { id: string };
    Body: {
      why: string;
      set: Record<string, number | boolean>;
      durationMs: number;
      override?: string;
    } & Timing;
  }>(
    '/api/v1/gateways/:id/overrides',
    {
      config: { permission: 'operate' },
      schema: {
        tags: ['commands'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['why', 'set', 'durationMs'],
          properties: {
            override: id,
            why: { type: 'string', minLength: 1, maxLength: 500 },
            set: {
              type: 'object',
              minProperties: 1,
              maxProperties: 100,
              propertyNames: { pattern: '^[a-z0-9][a-z0-9-]{0,62}\\.[a-z0-9][a-z0-9-]{0,62}$' },
              // A type list, not anyOf: with the API's coerceTypes, anyOf would turn `true` into 1.
              additionalProperties: { type: ['number', 'boolean'] },
            },
            durationMs: { type: 'integer', minimum: 1000, maximum: 7 * 86_400_000 },
            ...timing,
          },
        },
      },
    },
    async (req, reply) => {
      if (!(await active(reply, req.params.id))) return reply;
      const b = req.body;
      return answer(
        reply,
        await commands.run({
          gateway: req.params.id,
          name: 'override',
          args: {
            ...(b.override ? { id: b.override } : {}),
            who: by(req),
            why: b.why,
            set: b.set,
            durationMs: b.durationMs,
          },
          by: by(req),
          expiresInMs: b.expiresInMs ?? 30_000,
          waitMs: b.waitMs ?? 5_000,
        }),
      );
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit?: number } }>(
    '/api/v1/gateways/:id/commands',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['commands'],
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000 } },
        },
      },
    },
    async (req) => ({ commands: await commands.list(req.params.id, req.query.limit ?? 100) }),
  );

  app.get<{ Params: { tx: string } }>(
    '/api/v1/commands/:tx',
    {
      config: { permission: 'read' },
      schema: {
        tags: ['commands'],
        params: {
          type: 'object',
          required: ['tx'],
          properties: { tx: { type: 'string', pattern: TX_PATTERN } },
        },
      },
    },
    async (req, reply) => {
      const r = await commands.get(req.params.tx);
      return r
        ? r
        : reply.status(404).send({
            status: 'error',
            error: { code: 'not-found', message: `no command '${req.params.tx}'` },
          });
    },
  );
}
