/**
 * Every API route × every role (and no token), then malformed inputs across the API: always a 4xx
 * naming the problem, never a 500. The route table must cover every route in the OpenAPI document.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Permission, Role } from '../../../fleet/src/auth/roles.js';
import { ROLES, allows } from '../../../fleet/src/auth/roles.js';
import type { Fleet } from '../../../fleet/src/main.js';
import { tempDir } from '../../helpers.js';
import { api, startSecureFleet } from './helpers.js';

interface RouteCase {
  method: string;
  /** OpenAPI-style template (fastify's `:id` as `{id}`), for the coverage check. */
  route: string;
  path: string;
  need: Permission | 'public';
  body?: unknown;
}

const ROUTES: RouteCase[] = [
  { method: 'GET', route: '/api/v1/health', path: '/api/v1/health', need: 'public' },
  { method: 'GET', route: '/api/v1/gateways', path: '/api/v1/gateways', need: 'read' },
  { method: 'GET', route: '/api/v1/gateways/{id}', path: '/api/v1/gateways/gw-none', need: 'read' },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/telemetry',
    path: '/api/v1/gateways/gw-none/telemetry',
    need: 'read',
  },
  { method: 'GET', route: '/api/v1/me', path: '/api/v1/me', need: 'read' },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/events',
    path: '/api/v1/gateways/gw-none/events',
    need: 'read',
  },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/latest',
    path: '/api/v1/gateways/gw-none/latest',
    need: 'read',
  },
  { method: 'GET', route: '/api/v1/sites', path: '/api/v1/sites', need: 'read' },
  {
    method: 'PUT',
    route: '/api/v1/sites/{id}',
    path: '/api/v1/sites/s-1',
    need: 'configure',
    body: { name: 'S', lat: 1, lon: 2 },
  },
  {
    method: 'POST',
    route: '/api/v1/claim-tokens',
    path: '/api/v1/claim-tokens',
    need: 'provision',
    body: {},
  },
  { method: 'GET', route: '/api/v1/claim-tokens', path: '/api/v1/claim-tokens', need: 'provision' },
  {
    method: 'DELETE',
    route: '/api/v1/claim-tokens/{tokenId}',
    path: '/api/v1/claim-tokens/000000000000',
    need: 'provision',
  },
  {
    method: 'POST',
    route: '/api/v1/provision',
    path: '/api/v1/provision',
    need: 'public',
    body: { token: 'cgc_invalid-token', gateway: 'gw-x' },
  },
  { method: 'GET', route: '/api/v1/credentials', path: '/api/v1/credentials', need: 'read' },
  {
    method: 'POST',
    route: '/api/v1/gateways/{id}/revoke',
    path: '/api/v1/gateways/gw-none/revoke',
    need: 'admin',
  },
  { method: 'GET', route: '/api/v1/tokens', path: '/api/v1/tokens', need: 'admin' },
  {
    method: 'POST',
    route: '/api/v1/tokens',
    path: '/api/v1/tokens',
    need: 'admin',
    body: { name: 'x', role: 'viewer' },
  },
  { method: 'DELETE', route: '/api/v1/tokens/{tokenId}', path: '/api/v1/tokens/000000000000', need: 'admin' },
  { method: 'GET', route: '/api/v1/config/fleet', path: '/api/v1/config/fleet', need: 'read' },
  { method: 'PUT', route: '/api/v1/config/fleet', path: '/api/v1/config/fleet', need: 'configure', body: {} },
  { method: 'GET', route: '/api/v1/groups', path: '/api/v1/groups', need: 'read' },
  { method: 'GET', route: '/api/v1/groups/{id}/config', path: '/api/v1/groups/north/config', need: 'read' },
  {
    method: 'PUT',
    route: '/api/v1/groups/{id}/config',
    path: '/api/v1/groups/north/config',
    need: 'configure',
    body: {},
  },
  {
    method: 'PUT',
    route: '/api/v1/gateways/{id}/group',
    path: '/api/v1/gateways/gw-none/group',
    need: 'configure',
    body: { group: null },
  },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/config',
    path: '/api/v1/gateways/gw-none/config',
    need: 'read',
  },
  {
    method: 'PUT',
    route: '/api/v1/gateways/{id}/config',
    path: '/api/v1/gateways/gw-none/config',
    need: 'configure',
    body: { lines: [], devices: [] },
  },
  {
    method: 'POST',
    route: '/api/v1/gateways/{id}/commands',
    path: '/api/v1/gateways/gw-none/commands',
    need: 'operate',
    body: { name: 'write', waitMs: 0 },
  },
  {
    method: 'POST',
    route: '/api/v1/gateways/{id}/overrides',
    path: '/api/v1/gateways/gw-none/overrides',
    need: 'operate',
    body: { why: 'x', set: { 'a.b': 1 }, durationMs: 1000, waitMs: 0 },
  },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/commands',
    path: '/api/v1/gateways/gw-none/commands',
    need: 'read',
  },
  { method: 'GET', route: '/api/v1/commands/{tx}', path: '/api/v1/commands/cnone', need: 'read' },
  { method: 'GET', route: '/metrics', path: '/metrics', need: 'read' },
  { method: 'GET', route: '/api/v1/openapi.json', path: '/api/v1/openapi.json', need: 'public' },
  { method: 'GET', route: '/api/v1/releases', path: '/api/v1/releases', need: 'read' },
  { method: 'GET', route: '/api/v1/commissioning', path: '/api/v1/commissioning', need: 'read' },
  { method: 'GET', route: '/api/v1/alarms', path: '/api/v1/alarms', need: 'read' },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/health',
    path: '/api/v1/gateways/gw-none/health',
    need: 'read',
  },
  {
    method: 'POST',
    route: '/api/v1/alarms/{gateway}/{key}/ack',
    path: '/api/v1/alarms/gw-none/k/ack',
    need: 'operate',
    body: {},
  },
  { method: 'POST', route: '/api/v1/releases', path: '/api/v1/releases', need: 'admin' },
  {
    method: 'GET',
    route: '/api/v1/releases/{version}/bundle',
    path: '/api/v1/releases/9.9.9/bundle',
    need: 'public',
  },
  { method: 'GET', route: '/api/v1/rollouts', path: '/api/v1/rollouts', need: 'read' },
  { method: 'POST', route: '/api/v1/rollouts', path: '/api/v1/rollouts', need: 'admin', body: {} },
  { method: 'GET', route: '/api/v1/rollouts/{id}', path: '/api/v1/rollouts/r-none', need: 'read' },
  {
    method: 'POST',
    route: '/api/v1/rollouts/{id}/pause',
    path: '/api/v1/rollouts/r-none/pause',
    need: 'admin',
    body: {},
  },
  {
    method: 'POST',
    route: '/api/v1/rollouts/{id}/resume',
    path: '/api/v1/rollouts/r-none/resume',
    need: 'admin',
    body: {},
  },
  {
    method: 'POST',
    route: '/api/v1/rollouts/{id}/abort',
    path: '/api/v1/rollouts/r-none/abort',
    need: 'admin',
    body: {},
  },
  {
    method: 'POST',
    route: '/api/v1/flow-sets/{name}',
    path: '/api/v1/flow-sets/probe',
    need: 'configure',
    body: { flows: [{ id: 'a', type: 'no-such-node' }] },
  },
  { method: 'GET', route: '/api/v1/flow-sets', path: '/api/v1/flow-sets', need: 'read' },
  {
    method: 'GET',
    route: '/api/v1/flow-sets/{name}/versions/{version}',
    path: '/api/v1/flow-sets/probe/versions/1',
    need: 'read',
  },
  {
    method: 'POST',
    route: '/api/v1/flow-sets/{name}/deploy',
    path: '/api/v1/flow-sets/probe/deploy',
    need: 'configure',
    body: { gateway: 'gw-none' },
  },
  { method: 'GET', route: '/api/v1/flow-sets/status', path: '/api/v1/flow-sets/status', need: 'read' },
  {
    method: 'GET',
    route: '/api/v1/gateways/{id}/flows',
    path: '/api/v1/gateways/gw-none/flows',
    need: 'read',
  },
  {
    method: 'POST',
    route: '/api/v1/gateways/{id}/flows/take-in',
    path: '/api/v1/gateways/gw-none/flows/take-in',
    need: 'configure',
    body: {},
  },
];

describe('API roles and input validation', () => {
  const dir = tempDir();
  let fleet: Fleet;
  const tokens = {} as Record<Role, string>;

  beforeAll(async () => {
    const s = await startSecureFleet(dir.path);
    fleet = s.fleet;
    for (const role of ROLES) {
      const r = await api(fleet, s.adminToken, 'POST', '/api/v1/tokens', { name: `t-${role}`, role });
      expect(r.status).toBe(201);
      tokens[role] = r.body.token as string;
    }
  });
  afterAll(async () => {
    await fleet?.stop();
    dir.cleanup();
  });

  it('the route table covers every route in the OpenAPI document', async () => {
    const doc = (await api(fleet, undefined, 'GET', '/api/v1/openapi.json')).body as {
      paths: Record<string, object>;
    };
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const known = new Set(ROUTES.map((r) => `${r.method} ${r.route}`));
    // The dashboard's static files are public; everything else must be in the table.
    const isStatic = (d: string) => !d.includes(' /api/') && !d.endsWith(' /metrics');
    expect(documented.filter((d) => !known.has(d) && !isStatic(d))).toEqual([]);
    for (const d of documented.filter(isStatic)) {
      const res = await fetch(`${fleet.httpUrl}${d.split(' ')[1]!}`);
      expect(res.status, d).toBe(200);
    }
    expect(documented.length).toBeGreaterThan(15);
  });

  it.each(ROUTES)('$method $route: no token → 401 unless public', async (r) => {
    const res = await api(fleet, undefined, r.method, r.path, r.body);
    if (r.need === 'public') expect(res.status).not.toBe(401);
    else {
      expect(res.status).toBe(401);
      expect(res.body).toMatchObject({ status: 'error', error: { code: 'unauthenticated' } });
    }
    const bad = await api(fleet, 'cgt_not-a-real-token', r.method, r.path, r.body);
    expect(bad.status).toBe(r.need === 'public' ? res.status : 401);
  });

  it.each(ROUTES)('$method $route: each role allowed or 403 by its permission ($need)', async (r) => {
    for (const role of ROLES) {
      const res = await api(fleet, tokens[role], r.method, r.path, r.body);
      const ok = r.need === 'public' || allows(role, r.need);
      expect(res.status, `${role} ${JSON.stringify(res.body)}`).toBeLessThan(500);
      const code = (res.body.error as { code?: string } | undefined)?.code;
      if (ok) expect(['unauthenticated', 'forbidden'], role).not.toContain(code);
      else {
        expect(res.status, role).toBe(403);
        expect(res.body).toMatchObject({
          error: { code: 'forbidden', message: expect.stringContaining(role) as string },
        });
      }
    }
  });

  const MALFORMED: { method: string; path: string; body?: unknown; why: string }[] = [
    { method: 'GET', path: '/api/v1/gateways/GW%2B1', why: 'id with +' },
    { method: 'GET', path: `/api/v1/gateways/${'a'.repeat(80)}/config`, why: 'id too long' },
    { method: 'GET', path: '/api/v1/gateways/gw-a/telemetry?since=soon', why: 'bad time' },
    { method: 'GET', path: '/api/v1/gateways/gw-a/telemetry?limit=-1', why: 'bad limit' },
    { method: 'PUT', path: '/api/v1/sites/s-1', body: '{"name":', why: 'broken JSON' },
    {
      method: 'PUT',
      path: '/api/v1/sites/s-1',
      body: { name: 'x', lat: 'north', lon: 1 },
      why: 'wrong type',
    },
    { method: 'POST', path: '/api/v1/claim-tokens', body: { ttlSeconds: 1 }, why: 'ttl too short' },
    { method: 'POST', path: '/api/v1/claim-tokens', body: { group: 'a/b' }, why: 'group with /' },
    { method: 'POST', path: '/api/v1/claim-tokens', body: [], why: 'array body' },
    { method: 'DELETE', path: '/api/v1/claim-tokens/xyz', why: 'bad token id' },
    {
      method: 'POST',
      path: '/api/v1/provision',
      body: { token: 'cgc_whatever', gateway: 'gw/+/#' },
      why: 'wildcard id',
    },
    { method: 'POST', path: '/api/v1/provision', body: { token: 'x' }, why: 'missing gateway' },
    { method: 'POST', path: '/api/v1/provision', body: 'null', why: 'null body' },
    { method: 'POST', path: '/api/v1/gateways/%23/revoke', why: '# id' },
    { method: 'POST', path: '/api/v1/tokens', body: { name: 'x', role: 'root' }, why: 'unknown role' },
    {
      method: 'POST',
      path: '/api/v1/tokens',
      body: { name: 'x', role: 'admin', extra: 1 },
      why: 'extra property',
    },
    { method: 'DELETE', path: '/api/v1/tokens/..%2F..', why: 'path trick' },
    { method: 'PUT', path: '/api/v1/config/fleet', body: [1, 2], why: 'array layer' },
    { method: 'PUT', path: '/api/v1/config/fleet', body: '"text"', why: 'string layer' },
    { method: 'PUT', path: '/api/v1/groups/North/config', body: {}, why: 'upper-case group' },
    { method: 'PUT', path: '/api/v1/gateways/gw-a/group', body: { group: { id: 'x' } }, why: 'object group' },
    { method: 'PUT', path: '/api/v1/gateways/gw-a/group', body: {}, why: 'missing group' },
    { method: 'PUT', path: '/api/v1/gateways/gw-a/config', body: { lines: 'none' }, why: 'invalid config' },
    {
      method: 'PUT',
      path: '/api/v1/gateways/gw-a/config',
      body: '{"__proto__":{"admin":true},"lines":[]}',
      why: 'prototype pollution',
    },
    {
      method: 'PUT',
      path: '/api/v1/gateways/gw-a/config',
      body: { lines: [], devices: [], location: { lat: 'x' } },
      why: 'bad location',
    },
    {
      method: 'POST',
      path: '/api/v1/gateways/gw-a/commands',
      body: { name: 'Write!' },
      why: 'bad command name',
    },
    {
      method: 'POST',
      path: '/api/v1/gateways/gw-a/commands',
      body: { name: 'write', waitMs: 99_999 },
      why: 'wait too long',
    },
    {
      method: 'POST',
      path: '/api/v1/gateways/gw-a/overrides',
      body: { why: 'x', set: {}, durationMs: 5000 },
      why: 'empty override',
    },
    { method: 'GET', path: '/api/v1/commands/a%20b', why: 'bad tx' },
    { method: 'GET', path: '/api/v1/nope', why: 'unknown route' },
  ];

  it.each(MALFORMED)('$method $path ($why) → 4xx with a message, never 500', async (m) => {
    const res = await api(fleet, tokens.admin, m.method, m.path, m.body);
    expect(res.status, JSON.stringify(res.body)).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    const err = res.body.error as { message?: string } | undefined;
    expect(err?.message).toBeTruthy();
    expect(err?.message).not.toBe('internal error');
  });
});
