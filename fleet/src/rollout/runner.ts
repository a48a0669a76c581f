import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Timer } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { planRollout, stepRollout } from './machine.js';
import type { GatewayInfo, GatewayReport, RolloutEvent, RolloutSpec, RolloutState } from './types.js';

/** What the fleet sends a gateway to start an update (the lead maps it onto the wire contract). */
export interface UpdateCommand {
  txId: string;
  rolloutId: string;
  version: string;
  /** Path on the fleet's HTTP API; the gateway adds its platform/arch/ABI (see releaseBundlePath). */
  bundlePath: string;
}

/** "Send update to gateway": MQTT in production, a simulator in tests. Resolves when handed over. */
export interface UpdateSender {
  sendUpdate(gateway: string, cmd: UpdateCommand): Promise<void>;
}

/** Which gateways exist, with their group, tags and zone. */
export interface GatewayDirectory {
  list(): Promise<GatewayInfo[]>;
}

export interface RolloutPersistence {
  loadAll(): RolloutState[];
  save(s: RolloutState): void;
}

/** One JSON file per rollout, written atomically (temp file + rename). */
export class FileRolloutPersistence implements RolloutPersistence {
  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }
  loadAll(): RolloutState[] {
    return readdirSync(this.dir)
      .filter((f) => f.endsWith('.json'))
      .map((f) => JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as RolloutState);
  }
  save(s: RolloutState): void {
    const file = join(this.dir, `${s.id}.json`);
    writeFileSync(`${file}.tmp`, JSON.stringify(s));
    renameSync(`${file}.tmp`, file);
  }
}

export class MemoryRolloutPersistence implements RolloutPersistence {
  readonly saved = new Map<string, RolloutState>();
  loadAll(): RolloutState[] {
    return [...this.saved.values()];
  }
  save(s: RolloutState): void {
    this.saved.set(s.id, s);
  }
}

export class RolloutNotFound extends CityGateError {
  constructor(id: string) {
    super('not-found', `no rollout '${id}'`);
  }
}

export const releaseBundlePath = (version: string): string =>
  `/api/v1/releases/${encodeURIComponent(version)}/bundle`;

/**
 * The shell around machine.ts: keeps rollouts, persists every new state before acting on it, sends
 * updates, feeds gateway reports in and wakes itself for timeouts and update windows.
 */
export class RolloutRunner {
  private readonly rollouts = new Map<string, RolloutState>();
  private readonly timers = new Map<string, Timer>();
  private seq = 0;

  constructor(
    private readonly deps: {
      sender: UpdateSender;
      directory: GatewayDirectory;
      persistence: RolloutPersistence;
      clock: Clock;
      log: Logger;
      /** Refuse a rollout of a version the release store does not hold. */
      hasRelease?: (version: string) => boolean;
    },
  ) {
    for (const s of deps.persistence.loadAll()) this.rollouts.set(s.id, s);
  }

  /** Re-evaluate every rollout (after a fleet restart: timeouts that passed while down, windows). */
  start(): void {
    for (const id of this.rollouts.keys()) this.apply(id, { type: 'tick' });
  }

  stop(): void {
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  list(): RolloutState[] {
    return [...this.rollouts.values()].sort((a, b) => b.createdAt - a.createdAt);
  }

  get(id: string): RolloutState {
    const s = this.rollouts.get(id);
    if (!s) throw new RolloutNotFound(id);
    return s;
  }

  async create(spec: RolloutSpec): Promise<RolloutState> {
    if (this.deps.hasRelease && !this.deps.hasRelease(spec.version))
      throw new CityGateError('rollout-invalid', `release ${spec.version} is not in the release store`);
    const now = this.deps.clock.now();
    const id = `r-${now.toString(36)}-${(this.seq++).toString(36)}`;
    const s = planRollout(id, spec, await this.deps.directory.list(), now);
    this.rollouts.set(id, s);
    this.deps.persistence.save(s);
    this.deps.log.info(
      `rollout ${id}: ${spec.version} to ${Object.keys(s.gateways).length} gateway(s) in ${s.waves.length} wave(s)`,
    );
    return this.apply(id, { type: 'tick' });
  }

  pause(id: string, reason?: string): RolloutState {
    return this.apply(id, { type: 'pause', ...(reason ? { reason } : {}) });
  }
  resume(id: string): RolloutState {
    return this.apply(id, { type: 'resume' });
  }
  abort(id: string, reason?: string): RolloutState {
    return this.apply(id, { type: 'abort', ...(reason ? { reason } : {}) });
  }

  /** "Gateway reported progress": route it to the rollout whose transaction it belongs to. */
  report(gateway: string, report: GatewayReport): void {
    for (const s of this.rollouts.values())
      if (s.gateways[gateway]?.txId === report.txId) {
        this.apply(s.id, { type: 'report', gateway, report });
        return;
      }
  }

  private apply(id: string, event: RolloutEvent): RolloutState {
    const before = this.get(id);
    const { state, effects } = stepRollout(before, event, this.deps.clock.now());
    this.rollouts.set(id, state);
    this.deps.persistence.save(state);
    let wake: number | undefined;
    for (const e of effects) {
      if (e.type === 'log') this.deps.log.info(e.message);
      else if (e.type === 'wake-at') wake = wake === undefined ? e.at : Math.min(wake, e.at);
      else {
        const cmd: UpdateCommand = {
          txId: e.txId,
          rolloutId: id,
          version: e.version,
          bundlePath: releaseBundlePath(e.version),
        };
        // A send that fails leaves the gateway `updating`: its timeout decides, never a silent retry storm.
        this.deps.sender
          .sendUpdate(e.gateway, cmd)
          .catch((err: unknown) =>
            this.deps.log.warn(`rollout ${id}: sending to ${e.gateway} failed: ${errorMessage(err)}`),
          );
      }
    }
    this.timers.get(id)?.cancel();
    this.timers.delete(id);
    if (wake !== undefined)
      this.timers.set(
        id,
        this.deps.clock.setTimeout(() => {
          this.timers.delete(id);
          this.apply(id, { type: 'tick' });
        }, wake - this.deps.clock.now()),
      );
    return state;
  }
}
