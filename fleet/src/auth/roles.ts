/**
 * API roles and what each may do. Every route names one permission; a route nobody classified
 * needs `admin` (closed by default).
 *
 * - viewer: read everything (gateways, telemetry, events, config, metrics).
 * - technician: + operate devices (commands, overrides, acknowledge) and create claim tokens to
 *   install gateways in the field.
 * - operator: + operate and configure (desired config, groups, sites).
 * - admin: everything, including API tokens and revoking gateways.
 */
export const ROLES = ['viewer', 'technician', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export type Permission = 'read' | 'operate' | 'provision' | 'configure' | 'admin';

const GRANTS: Record<Role, readonly Permission[]> = {
  viewer: ['read'],
  technician: ['read', 'operate', 'provision'],
  operator: ['read', 'operate', 'configure'],
  admin: ['read', 'operate', 'provision', 'configure', 'admin'],
};

export const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

export function allows(role: Role, permission: Permission): boolean {
  return GRANTS[role].includes(permission);
}

/** Routes anyone may call: liveness, the OpenAPI document, the UI shell and gateway provisioning (the claim token is its credential). */
export const PUBLIC_ROUTES = new Set([
  'GET /api/v1/health',
  'GET /api/v1/openapi.json',
  'POST /api/v1/provision',
  // Bundles are signed; the gateway verifies them before use, so their download needs no secret.
  'GET /api/v1/releases/:version/bundle',
]);
