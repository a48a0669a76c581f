/**
 * Provisioning, API tokens, desired configuration, groups and metrics. Every route states the
 * permission it needs (see auth/roles.ts); bodies and params are schema-checked, so bad input is a
 * 4xx naming the problem.
 */
import type {} from '@fastify/swagger';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { ID_PATTERN } from '../../../common/contract/index.js';
import { ROLES, type Role } from '../auth/roles.js';
import type { ApiTokens } from '../auth/tokens.js';
import type { CommandService } from '../commands/service.js';
import { registerCommandRoutes } from './command-routes.js';
import { ConfigInvalidError, type DesiredConfigService } from '../desired-config/service.js';
import type { ConfigLayer } from '../desired-config/merge.js';
import { ProvisioningError, type GatewayRegistry } from '../provisioning/registry.js';

export interface AdminDeps {
  tokens: ApiTokens;
  registry: GatewayRegistry;
  config: DesiredConfigService;
  commands: CommandService;
  /** What a freshly provisioned gateway is told. */
  provisioning: { mqttUrl: string; caCert: string; configPublicKey: string };
  metrics: () => Promise<string>;
}

const id = { type: 'string', pattern: ID_PATTERN } as const;
const idParams = { type: 'object', required: ['id'], properties: { id } } as const;
const hexIdParams = {
  type: 'object',
  required: ['tokenId'],
  properties: { tokenId: { type: 'string', pattern: '^[0-9a-f]{12}$' } },
} as const;
const layerBody = { type: 'object', maxProperties: 100 } as const;
const DAY_S = 86_400;

function fail(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof ProvisioningError)
    return reply
      .status(err.status)
      .send({ status: 'error', error: { code: err.code, message: err.message } });
  if (err instanceof ConfigInvalidError)
    return reply
      .status(400)
      .send({ status: 'error', error: { code: err.code, message: err.message, issues: err.issues } });
  throw err;
}

const notFound = (reply: FastifyReply, what: string) =>
  reply.status(404).send({ status: 'error', error: { code: 'not-found', message: what } });

export function registerAdminRoutes(app: FastifyInstance, deps: AdminDeps): void {
  const { tokens, registry, config } = deps;

  // --- provisioning ---------------------------------------------------------------------------
  app.post<{ Body: { ttlSeconds?: number; group?: string } }>(
    '/api/v1/claim-tokens',
    {
      config: { permission: 'provision' },
      schema: {
        tags: ['provisioning'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { ttlSeconds: { type: 'integer', minimum: 60, maximum: 30 * DAY_S }, group: id },
        },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const c = await registry.createClaim({ ttlMs: (body.ttlSeconds ?? DAY_S) * 1000, group: body.group });
      return reply.status(201).send(c);
    },
  );
  app.get(
    '/api/v1/claim-tokens',
    { config: { permission: 'provision' }, schema: { tags: ['provisioning'] } },
    async () => ({
      claimTokens: await registry.listClaims(),
    }),
  );
  app.delete<{ Params: { tokenId: string } }>(
    '/api/v1/claim-tokens/:tokenId',
    { config: { permission: 'provision' }, schema: { tags: ['provisioning'], params: hexIdParams } },
    async (req, reply) =>
      (await registry.deleteClaim(req.params.tokenId))
        ? reply.status(204).send()
        : notFound(reply, `no unused claim token '${req.params.tokenId}'`),
  );

  app.post<{ Body: { token: string; gateway: string } }>(
    '/api/v1/provision',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['provisioning'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['token', 'gateway'],
          properties: { token: { type: 'string', minLength: 8, maxLength: 200 }, gateway: id },
        },
      },
    },
    async (req, reply) => {
      try {
        const { secret, group } = await registry.claim(req.body.token, req.body.gateway);
        if (group) await config.setGroup(req.body.gateway, group);
        req.log.info(`gateway ${req.body.gateway} provisioned`);
        return await reply.status(201).send({
          gateway: req.body.gateway,
          username: req.body.gateway,
          password: secret,
          ...(group ? { group } : {}),
          ...deps.provisioning,
        });
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  app.get(
    '/api/v1/credentials',
    { config: { permission: 'read' }, schema: { tags: ['provisioning'] } },
    async () => ({
      credentials: await registry.list(),
    }),
  );
  app.post<{ Params: { id: string } }>(
    '/api/v1/gateways/:id/revoke',
    { config: { permission: 'admin' }, schema: { tags: ['provisioning'], params: idParams } },
    async (req, reply) => {
      try {
        await registry.revoke(req.params.id);
        return await reply.send({ gateway: req.params.id, revoked: true });
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  // --- API tokens -----------------------------------------------------------------------------
  app.get('/api/v1/tokens', { config: { permission: 'admin' }, schema: { tags: ['auth'] } }, async () => ({
    tokens: await tokens.list(),
  }));
  app.post<{ Body: { name: string; role: Role } }>(
    '/api/v1/tokens',
    {
      config: { permission: 'admin' },
      schema: {
        tags: ['auth'],
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'role'],
          properties: { name: { type: 'string', minLength: 1, maxLength: 100 }, role: { enum: [...ROLES] } },
        },
      },
    },
    async (req, reply) => reply.status(201).send(await tokens.create(req.body.name, req.body.role)),
  );
  app.delete<{ Params: { tokenId: string } }>(
    '/api/v1/tokens/:tokenId',
    { config: { permission: 'admin' }, schema: { tags: ['auth'], params: hexIdParams } },
    async (req, reply) =>
      (await tokens.delete(req.params.tokenId))
        ? reply.status(204).send()
        : notFound(reply, `no API token '${req.params.tokenId}'`),
  );

  // --- desired configuration ------------------------------------------------------------------
  app.get(
    '/api/v1/config/fleet',
    { config: { permission: 'read' }, schema: { tags: ['config'] } },
    async () => ({
      config: (await config.getLayer({ kind: 'fleet' })) ?? {},
    }),
  );
  app.put<{ Body: ConfigLayer }>(
    '/api/v1/config/fleet',
    { config: { permission: 'configure' }, schema: { tags: ['config'], body: layerBody } },
    async (req, reply) => {
      try {
        return await reply.send(await config.setLayer({ kind: 'fleet' }, req.body));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
  app.get('/api/v1/groups', { config: { permission: 'read' }, schema: { tags: ['config'] } }, async () => ({
    groups: await config.listGroups(),
  }));
  app.get<{ Params: { id: string } }>(
    '/api/v1/groups/:id/config',
    { config: { permission: 'read' }, schema: { tags: ['config'], params: idParams } },
    async (req) => ({
      group: req.params.id,
      config: (await config.getLayer({ kind: 'group', id: req.params.id })) ?? {},
    }),
  );
  app.put<{ Params: { id: string }; Body: ConfigLayer }>(
    '/api/v1/groups/:id/config',
    { config: { permission: 'configure' }, schema: { tags: ['config'], params: idParams, body: layerBody } },
    async (req, reply) => {
      try {
        return await reply.send(await config.setLayer({ kind: 'group', id: req.params.id }, req.body));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
  app.put<{ Params: { id: string }; Body: { group: string | null } }>(
    '/api/v1/gateways/:id/group',
    {
      config: { permission: 'configure' },
      schema: {
        tags: ['config'],
        params: idParams,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['group'],
          properties: { group: { anyOf: [id, { type: 'null' }] } },
        },
      },
    },
    async (req, reply) => {
      try {
        return await reply.send(await config.setGroup(req.params.id, req.body.group));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/gateways/:id/config',
    { config: { permission: 'read' }, schema: { tags: ['config'], params: idParams } },
    async (req) => config.state(req.params.id),
  );
  app.put<{ Params: { id: string }; Body: ConfigLayer }>(
    '/api/v1/gateways/:id/config',
    { config: { permission: 'configure' }, schema: { tags: ['config'], params: idParams, body: layerBody } },
    async (req, reply) => {
      try {
        return await reply.send(await config.setLayer({ kind: 'gateway', id: req.params.id }, req.body));
      } catch (err) {
        return fail(reply, err);
      }
    },
  );

  registerCommandRoutes(app, deps);

  // --- metrics --------------------------------------------------------------------------------
  app.get('/metrics', { config: { permission: 'read' }, schema: { hide: true } }, async (_req, reply) =>
    reply.type('text/plain; version=0.0.4').send(await deps.metrics()),
  );
}
