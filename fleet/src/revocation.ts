/**
 * What the fleet does about revoked gateways beyond refusing their next connect: it stores nothing
 * they send, and it closes their live MQTT connection. The embedded broker closes it directly; an
 * external Mosquitto keeps live sessions across a reload of its password file, so the fleet takes
 * the session over (connects with the gateway's client id on its own credentials, which makes
 * Mosquitto drop the gateway's connection, then leaves). A revoked gateway that comes back before
 * Mosquitto re-read its files (its birth reaches the fleet) is taken over again, at most every
 * KICK_EVERY_MS. With several workers, another worker's revocations arrive by polling the registry.
 */
import mqtt from 'mqtt';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import type { GatewayRegistry } from './provisioning/registry.js';

export const KICK_EVERY_MS = 10_000;

export class RevokedGateways {
  private readonly revoked = new Set<string>();
  private readonly lastKick = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;

  private constructor(private readonly registry: GatewayRegistry) {}

  /** `refreshMs`: poll the registry (several workers share it); a single fleet hears every change itself. */
  static async open(registry: GatewayRegistry, refreshMs?: number): Promise<RevokedGateways> {
    const r = new RevokedGateways(registry);
    await r.refresh();
    registry.onRevoke(async (gw) => void r.revoked.add(gw));
    registry.onProvision(async (gw) => void r.revoked.delete(gw));
    if (refreshMs) {
      r.timer = setInterval(() => void r.refresh().catch(() => undefined), refreshMs);
      r.timer.unref();
    }
    return r;
  }

  private async refresh(): Promise<void> {
    const now = (await this.registry.list()).filter((g) => g.revokedAt).map((g) => g.gateway);
    this.revoked.clear();
    for (const gw of now) this.revoked.add(gw);
  }

  has(gateway: string): boolean {
    return this.revoked.has(gateway);
  }

  /** Whether to close this revoked gateway's connection again now (rate-limited per gateway). */
  kickDue(gateway: string, now: number): boolean {
    if ((this.lastKick.get(gateway) ?? -Infinity) > now - KICK_EVERY_MS) return false;
    this.lastKick.set(gateway, now);
    return true;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

/**
 * Close `gatewayId`'s connection on an external broker by taking its session over with the fleet's
 * own credentials (clean session: the revoked gateway's queued messages go too).
 */
export async function takeOverSession(
  broker: { url: string; username?: string; password?: string },
  gatewayId: string,
  log: Logger,
): Promise<void> {
  try {
    const c = await mqtt.connectAsync(broker.url, {
      clientId: gatewayId,
      username: broker.username,
      password: broker.password,
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5_000,
    });
    await c.endAsync();
    log.warn(`revoked gateway ${gatewayId}: its connection to the broker was taken over and closed`);
  } catch (err) {
    log.error(`revoked gateway ${gatewayId}: could not close its broker connection: ${errorMessage(err)}`);
  }
}
