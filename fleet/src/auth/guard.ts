/**
 * The API's authentication and authorisation hook: `Authorization: Bearer <token>`, then the role's
 * permission for the route. A route declares its permission in `config.permission`; routes declared
 * elsewhere are looked up in ROUTE_PERMISSIONS; anything under /api or /metrics left unclassified
 * needs `admin`.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { allows, PUBLIC_ROUTES, type Permission } from './roles.js';
import type { ApiToken, ApiTokens } from './tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: Permission | 'public';
  }
  interface FastifyRequest {
    apiToken?: ApiToken;
  }
}

/** Routes registered outside the admin plugin (api.ts). */
export const ROUTE_PERMISSIONS: Record<string, Permission> = {
  'GET /api/v1/me': 'read',
  'GET /api/v1/commissioning': 'read',
  'GET /api/v1/alarms': 'read',
  'GET /api/v1/gateways/:id/health': 'read',
  'POST /api/v1/alarms/:gateway/:key/ack': 'operate',
  'GET /api/v1/releases': 'read',
  'GET /api/v1/rollouts': 'read',
  'GET /api/v1/rollouts/:id': 'read',
  'GET /api/v1/gateways': 'read',
  'GET /api/v1/gateways/:id': 'read',
  'GET /api/v1/gateways/:id/telemetry': 'read',
  'GET /api/v1/gateways/:id/latest': 'read',
  'GET /api/v1/gateways/:id/events': 'read',
  'GET /api/v1/sites': 'read',
  'PUT /api/v1/sites/:id': 'configure',
};

export function permissionFor(req: FastifyRequest): Permission | 'public' {
  const url = req.routeOptions.url;
  if (url === undefined) return 'public'; // no such route: the 404 handler answers
  const key = `${req.method} ${url}`;
  if (PUBLIC_ROUTES.has(key)) return 'public';
  const declared = req.routeOptions.config.permission;
  if (declared) return declared;
  if (ROUTE_PERMISSIONS[key]) return ROUTE_PERMISSIONS[key];
  return url.startsWith('/api/') || url === '/metrics' ? 'admin' : 'public';
}

const fail = (status: number, code: string, message: string) => ({
  status,
  body: { status: 'error', error: { code, message } },
});

export function registerGuard(app: FastifyInstance, tokens: ApiTokens): void {
  app.addHook('onRequest', async (req, reply) => {
    const need = permissionFor(req);
    if (need === 'public') return;
    const header = req.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer ([A-Za-z0-9_-]{8,200})$/.exec(header) : null;
    const token = m ? await tokens.lookup(m[1]!) : undefined;
    let f;
    if (!token)
      f = fail(
        401,
        'unauthenticated',
        header ? 'API token unknown or revoked' : 'missing Authorization: Bearer <API token>',
      );
    else if (!allows(token.role, need))
      f = fail(
        403,
        'forbidden',
        `role '${token.role}' may not ${need} (${req.method} ${req.routeOptions.url})`,
      );
    if (f) {
      if (f.status === 401) void reply.header('www-authenticate', 'Bearer');
      return reply.status(f.status).send(f.body);
    }
    req.apiToken = token;
  });
}
