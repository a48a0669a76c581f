import type { Clock, Timer } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { alarmBody } from './alarms.js';
import { RuleEngine } from './engine.js';
import type { ControlConfig, Effect, Override, Value } from './types.js';

const MAX_TIMER_MS = 3_600_000;

/** A write refused because an interlock holds the point (e.g. a pump on thermal trip stays off). */
export class InterlockError extends CityGateError {
  constructor(
    device: string,
    point: string,
    value: Value,
    readonly interlock: string,
  ) {
    super('interlock', `${device}.${point} = ${String(value)} refused: interlock '${interlock}' is active`);
  }
}

export interface RunnerDeps {
  clock: Clock;
  /** The device layer's write path (ModbusLine.write through the edge runtime). */
  write(device: string, point: string, value: Value): Promise<void>;
  /** Events and alarms leave through the outbox; the composition root wires this. */
  emit(kind: 'event' | 'alarm', body: Record<string, unknown>): void;
  log?: Logger;
}

/**
 * The effects shell around the pure RuleEngine: feeds it readings, device states, overrides and
 * time; performs its writes through the given write function and hands events and alarms on. If
 * evaluation ever throws, the runtime has lost control: it raises an alarm and applies fail-safes.
 */
export class RuleRunner {
  private engine: RuleEngine;
  private timer: Timer | undefined;
  private timerAt = Infinity;
  private readonly inflight = new Set<Promise<void>>();
  private running = false;

  constructor(
    cfg: ControlConfig,
    private readonly deps: RunnerDeps,
  ) {
    this.engine = new RuleEngine(cfg);
  }

  start(): void {
    this.running = true;
    this.guard(() => this.engine.start(this.deps.clock.now()));
  }

  /** Readings from any source (Modbus line, GPIO); wire to LineEvents.readings. */
  readings(rs: readonly { device: string; point: string; value: Value }[]): void {
    if (this.running) this.guard(() => this.engine.readings(rs, this.deps.clock.now()));
  }

  /** Wire to LineEvents.deviceState. */
  deviceState(device: string, online: boolean): void {
    if (this.running) this.guard(() => this.engine.deviceState(device, online, this.deps.clock.now()));
  }

  /** Throws InterlockError if an outside write would break an active interlock. */
  /** Ids of the rules that drive a point; empty when no rule writes it. */
  driversOf(device: string, point: string): string[] {
    return this.engine.driversOf(device, point);
  }

  checkWrite(device: string, point: string, value: Value): void {
    const il = this.engine.interlockBlocking(device, point, value);
    if (il) throw new InterlockError(device, point, value, il);
  }

  addOverride(o: Override): void {
    this.guard(() => this.engine.addOverride(o, this.deps.clock.now()));
  }

  cancelOverride(id: string, by: string): void {
    this.guard(() => this.engine.cancelOverride(id, by, this.deps.clock.now()));
  }

  overrides(): Override[] {
    return this.engine.activeOverrides();
  }

  /** Swap in a new (already validated) control config, keeping state: no pump restarts, no repeated writes. */
  reconfigure(cfg: ControlConfig): void {
    const next = new RuleEngine(cfg, this.engine.memory());
    this.engine = next;
    this.timerAt = Infinity;
    this.timer?.cancel();
    this.timer = undefined;
    if (this.running) this.guard(() => next.start(this.deps.clock.now()));
  }

  /** Stop evaluating; with `failSafe`, first put every device into its fail-safe state. */
  async stop(opts: { failSafe?: string } = {}): Promise<void> {
    if (opts.failSafe !== undefined)
      this.perform(this.engine.failSafeAll(this.deps.clock.now(), opts.failSafe));
    this.running = false;
    this.timer?.cancel();
    this.timer = undefined;
    await Promise.allSettled([...this.inflight]);
  }

  /** Writes issued and not yet confirmed. */
  get pendingWrites(): number {
    return this.inflight.size;
  }

  private guard(fn: () => Effect[]): void {
    let fx: Effect[];
    try {
      fx = fn();
    } catch (err) {
      this.deps.log?.error(`rule evaluation failed; applying fail-safe: ${errorMessage(err)}`);
      const now = this.deps.clock.now();
      this.deps.emit(
        'alarm',
        alarmBody(
          'rules-fault',
          'rules-fault',
          'critical',
          'raised',
          `rule evaluation failed: ${errorMessage(err)}`,
          now,
        ).body,
      );
      fx = this.engine.failSafeAll(now, 'rule evaluation failed');
    }
    this.perform(fx);
    this.arm();
  }

  private perform(fx: Effect[]): void {
    for (const e of fx) {
      if (e.type !== 'write') {
        this.deps.emit(e.type, e.body);
        continue;
      }
      const { device, point, value } = e;
      // One derived promise per write (this runs for every actuation).
      const p: Promise<void> = this.deps.write(device, point, value).then(
        () => void this.inflight.delete(p),
        (err: unknown) => {
          this.inflight.delete(p);
          this.writeFailed(device, point, value, err);
        },
      );
      this.inflight.add(p);
    }
  }

  private writeFailed(device: string, point: string, value: Value, err: unknown): void {
    this.deps.log?.warn(`write ${device}.${point} = ${String(value)} failed: ${errorMessage(err)}`);
    const ts = this.deps.clock.now();
    this.deps.emit('event', { type: 'write-failed', device, point, value, error: errorMessage(err), ts });
    if (this.running) this.guard(() => this.engine.writeFailed(device, point, ts));
  }

  private arm(): void {
    if (!this.running) return;
    const at = this.engine.nextWakeAt();
    if (at === this.timerAt) return;
    this.timer?.cancel();
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = this.deps.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        if (this.running) this.guard(() => this.engine.tick(this.deps.clock.now()));
        // Capped: Node's timers overflow past 24.8 days, and a real clock may be stepped (NTP).
      },
      Math.min(at - this.deps.clock.now(), MAX_TIMER_MS),
    );
  }
}
