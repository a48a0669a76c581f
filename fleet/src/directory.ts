/**
 * Who the fleet's gateways are, for targeting rollouts and flow sets: every gateway that ever
 * connected, with its site's zone and its config group. One function, so a rollout and a flow-set
 * deploy aimed at the same group reach the same gateways.
 */
import type { GatewayInfo } from './rollout/types.js';

export interface DirectorySources {
  gateways: () => Promise<readonly { id: string }[]>;
  sites: () => Promise<readonly { id: string; zone?: string }[]>;
  /** Config groups and their members (none without the admin layer). */
  groups: () => Promise<readonly { id: string; members: readonly string[] }[]>;
}

export async function listDirectory(src: DirectorySources): Promise<GatewayInfo[]> {
  const [gateways, sites, groups] = await Promise.all([src.gateways(), src.sites(), src.groups()]);
  const zones = new Map(sites.map((s) => [s.id, s.zone]));
  const groupOf = new Map(groups.flatMap((g) => g.members.map((m) => [m, g.id] as const)));
  return gateways.map((g) => {
    const zone = zones.get(g.id);
    const group = groupOf.get(g.id);
    return { id: g.id, ...(zone ? { zone } : {}), ...(group ? { group } : {}) };
  });
}
