import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { stepRollout } from '../rollout/machine.js';
import {
  MemoryRolloutPersistence,
  RolloutNotFound,
  RolloutRunner,
  type GatewayDirectory,
  type RolloutPersistence,
  type UpdateSender,
} from '../rollout/runner.js';
import type { GatewayReport, RolloutSpec, RolloutState } from '../rollout/types.js';
import { Leases } from './leases.js';

/** Rollout states in PostgreSQL, mirrored in memory (the runner's persistence is synchronous). */
export class PgRolloutPersistence implements RolloutPersistence {
  private readonly mirror = new Map<string, RolloutState>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  loadAll(): RolloutState[] {
    return [...this.mirror.values()];
  }

  /** Kept in memory at once, written to PostgreSQL in order; `flush` waits for the writes. */
  save(s: RolloutState): void {
    this.mirror.set(s.id, s);
    this.chain = this.chain.then(() =>
      this.pool
        .query(
          `INSERT INTO rollouts (id, created_at, state) VALUES ($1, $2, $3)
           ON CONFLICT (id) DO UPDATE SET state = excluded.state`,
          [s.id, s.createdAt, JSON.stringify(s)],
        )
        .catch((err: unknown) => this.log.error(`rollout ${s.id} not saved: ${errorMessage(err)}`)),
    );
  }

  async flush(): Promise<void> {
    await this.chain;
  }

  async refresh(): Promise<void> {
    const r = await this.pool.query<{ state: string }>('SELECT state FROM rollouts');
    this.mirror.clear();
    for (const row of r.rows) {
      const s = JSON.parse(row.state) as RolloutState;
      this.mirror.set(s.id, s);
    }
  }
}

type Command =
  | { kind: 'create'; spec: RolloutSpec }
  | { kind: 'pause'; id: string; reason?: string }
  | { kind: 'abort'; id: string; reason?: string }
  | { kind: 'resume'; id: string }
  | { kind: 'report'; gateway: string; report: GatewayReport };

export interface SharedRolloutOptions {
  pool: pg.Pool;
  workerId: string;
  leaseMs: number;
  sender: UpdateSender;
  directory: GatewayDirectory;
  hasRelease?: (version: string) => boolean;
  /** Mirror release bundles other workers stored, before a rollout is checked against them. */
  syncReleases?: () => Promise<void>;
  clock: Clock;
  log: Logger;
  /** How often followers refresh their view and the leader takes commands (default leaseMs / 4). */
  pollMs?: number;
}

const LEADER = 'rollouts:leader';

/**
 * Rollouts across several fleet workers. One worker at a time, the holder of the `rollouts:leader`
 * lease in PostgreSQL, runs the rollout machine: it sends updates, keeps the timers and applies
 * what any worker asks (the `rollout_commands` queue: API actions and gateways' reports). Every
 * state is saved in PostgreSQL, so when the leader dies the next lease holder loads them and
 * carries on (its first tick re-evaluates timeouts and windows, as after a restart). Followers
 * answer reads from a mirror refreshed every poll.
 *
 * It extends RolloutRunner so the HTTP API takes it unchanged; the work is done by `inner`, a
 * RolloutRunner built afresh each time this worker becomes leader.
 */
export class SharedRolloutRunner extends RolloutRunner {
  private inner: RolloutRunner | undefined;
  private readonly persistence: PgRolloutPersistence;
  private readonly leases: Leases;
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private stopped = false;

  constructor(private readonly o: SharedRolloutOptions) {
    super({ ...o, persistence: new MemoryRolloutPersistence() });
    this.persistence = new PgRolloutPersistence(o.pool, o.log);
    this.leases = new Leases(o.pool, o.workerId, o.leaseMs);
  }

  get isLeader(): boolean {
    return this.inner !== undefined;
  }

  override start(): void {
    void this.poll();
    this.timer = setInterval(
      () => void this.poll(),
      this.o.pollMs ?? Math.max(50, Math.floor(this.o.leaseMs / 4)),
    );
    this.timer.unref();
  }

  /** Stop polling; a leader flushes its saves and gives the lease up for the next worker. */
  async shutdown(release = true): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.inner?.stop();
    this.inner = undefined;
    await this.persistence.flush();
    if (release) await this.leases.release([LEADER]).catch(() => undefined);
  }

  override stop(): void {
    void this.shutdown();
  }

  /** One round: hold or take the lease; as leader take the queued commands, as follower refresh. */
  async poll(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    try {
      const leader = await this.leases.acquire(LEADER, this.o.workerId);
      if (leader && !this.inner) {
        await this.persistence.refresh();
        const inner = new RolloutRunner({ ...this.o, persistence: this.persistence });
        this.inner = inner;
        this.o.log.info(`rollout leader now (${this.persistence.loadAll().length} rollout(s) loaded)`);
        inner.start();
      } else if (!leader && this.inner) {
        this.o.log.warn('rollout leadership lost');
        this.inner.stop();
        this.inner = undefined;
      }
      if (this.inner) await this.takeCommands(this.inner);
      else await this.persistence.refresh();
    } catch (err) {
      this.o.log.warn(`rollout leadership: ${errorMessage(err)}`);
    } finally {
      this.busy = false;
    }
  }

  private async takeCommands(inner: RolloutRunner): Promise<void> {
    const r = await this.o.pool.query<{ id: string; kind: string; body: string }>(
      'SELECT id, kind, body FROM rollout_commands WHERE NOT done ORDER BY id LIMIT 100',
    );
    if (r.rows.some((row) => row.kind === 'create')) await this.o.syncReleases?.();
    for (const row of r.rows) {
      const c = JSON.parse(row.body) as Command;
      let result: RolloutState | undefined;
      let error: string | undefined;
      try {
        if (c.kind === 'create') result = await inner.create(c.spec);
        else if (c.kind === 'pause') result = inner.pause(c.id, c.reason);
        else if (c.kind === 'abort') result = inner.abort(c.id, c.reason);
        else if (c.kind === 'resume') result = inner.resume(c.id);
        else inner.report(c.gateway, c.report);
      } catch (err) {
        error = JSON.stringify({
          code: (err as { code?: string }).code ?? 'error',
          message: errorMessage(err),
        });
      }
      await this.persistence.flush(); // the new state is in PostgreSQL before the command is done
      await this.o.pool.query(
        'UPDATE rollout_commands SET done = true, result = $2, error = $3 WHERE id = $1',
        [row.id, result ? result.id : null, error ?? null],
      );
    }
  }

  private async enqueue(c: Command): Promise<string> {
    const r = await this.o.pool.query<{ id: string }>(
      'INSERT INTO rollout_commands (kind, body) VALUES ($1, $2) RETURNING id',
      [c.kind, JSON.stringify(c)],
    );
    return r.rows[0]!.id;
  }

  override list(): RolloutState[] {
    if (this.inner) return this.inner.list();
    return this.persistence.loadAll().sort((a, b) => b.createdAt - a.createdAt);
  }

  override get(id: string): RolloutState {
    if (this.inner) return this.inner.get(id);
    const s = this.persistence.loadAll().find((x) => x.id === id);
    if (!s) throw new RolloutNotFound(id);
    return s;
  }

  /** On a follower: queued for the leader, answered once it is done (or an error after 15 s). */
  override async create(spec: RolloutSpec): Promise<RolloutState> {
    await this.o.syncReleases?.();
    if (this.inner) {
      const s = await this.inner.create(spec);
      await this.persistence.flush();
      return s;
    }
    if (this.o.hasRelease && !this.o.hasRelease(spec.version))
      throw new CityGateError('rollout-invalid', `release ${spec.version} is not in the release store`);
    const id = await this.enqueue({ kind: 'create', spec });
    const deadline = Date.now() + 15_000;
    for (;;) {
      const r = await this.o.pool.query<{ done: boolean; result: string | null; error: string | null }>(
        'SELECT done, result, error FROM rollout_commands WHERE id = $1',
        [id],
      );
      const row = r.rows[0];
      if (row?.done && row.error) {
        const e = JSON.parse(row.error) as { code: string; message: string };
        throw new CityGateError(e.code, e.message);
      }
      if (row?.done && row.result) {
        await this.persistence.refresh();
        return this.get(row.result);
      }
      if (Date.now() > deadline)
        throw new CityGateError('rollout-unavailable', 'no rollout leader took the request within 15 s');
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  /** pause/resume/abort: the leader applies it; a follower queues it and answers the expected state. */
  private act(c: Exclude<Command, { kind: 'create' | 'report' }>): RolloutState {
    const current = this.get(c.id);
    const event =
      c.kind === 'resume'
        ? { type: 'resume' as const }
        : { type: c.kind, ...(c.reason ? { reason: c.reason } : {}) };
    const expected = stepRollout(current, event, this.o.clock.now()).state;
    void this.enqueue(c).catch((err: unknown) =>
      this.o.log.error(`rollout ${c.kind} not queued: ${errorMessage(err)}`),
    );
    return expected;
  }

  override pause(id: string, reason?: string): RolloutState {
    return this.inner
      ? this.inner.pause(id, reason)
      : this.act({ kind: 'pause', id, ...(reason ? { reason } : {}) });
  }
  override resume(id: string): RolloutState {
    return this.inner ? this.inner.resume(id) : this.act({ kind: 'resume', id });
  }
  override abort(id: string, reason?: string): RolloutState {
    return this.inner
      ? this.inner.abort(id, reason)
      : this.act({ kind: 'abort', id, ...(reason ? { reason } : {}) });
  }

  /**
   * A gateway's report, from whichever worker's ingest took it: always through the queue, so a
   * report survives the leader dying before it saved the state it caused.
   */
  override report(gateway: string, report: GatewayReport): void {
    void this.enqueue({ kind: 'report', gateway, report }).catch((err: unknown) =>
      this.o.log.error(`report of ${gateway} not queued: ${errorMessage(err)}`),
    );
  }
}
