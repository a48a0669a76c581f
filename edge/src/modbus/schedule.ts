/**
 * Poll planning for one line, as a pure data structure driven by explicit time: which block to read
 * next (earliest due first), when to wake, and each device's health (online, quarantined with
 * exponential backoff). No I/O and no timers: the line shell asks `next(now)` and reports results.
 */

export interface SchedBlock {
  id: number;
  device: string;
  periodMs: number;
}

export interface ScheduleOptions {
  /** Consecutive failures before a device is declared offline and quarantined. */
  failuresBeforeOffline: number;
  backoff: { minMs: number; maxMs: number };
}

export const DEFAULT_SCHEDULE: ScheduleOptions = {
  failuresBeforeOffline: 3,
  backoff: { minMs: 1000, maxMs: 60_000 },
};

export interface DeviceHealth {
  online: boolean | undefined;
  failures: number;
  /** While in the future, the device is quarantined: none of its blocks is due. */
  retryAt: number;
  backoffMs: number;
}

export type Next = { block: SchedBlock } | { wakeAt: number } | { idle: true };
export type HealthChange = { device: string; online: boolean } | undefined;

export class PollSchedule {
  private readonly due = new Map<number, number>();
  private readonly blocks = new Map<number, SchedBlock>();
  readonly health = new Map<string, DeviceHealth>();

  constructor(
    blocks: readonly SchedBlock[],
    start: number,
    private readonly opts: ScheduleOptions = DEFAULT_SCHEDULE,
  ) {
    // Stagger first polls across the shortest period so the line is not hit by everything at once.
    const spread = blocks.length ? Math.min(...blocks.map((b) => b.periodMs)) : 0;
    blocks.forEach((b, i) => {
      this.blocks.set(b.id, b);
      this.due.set(b.id, start + Math.floor((spread * i) / blocks.length));
      if (!this.health.has(b.device))
        this.health.set(b.device, {
          online: undefined,
          failures: 0,
          retryAt: 0,
          backoffMs: opts.backoff.minMs,
        });
    });
  }

  /** Earliest-due block whose device is not quarantined; else when something becomes due. */
  next(now: number): Next {
    let best: SchedBlock | undefined;
    let bestDue = Infinity;
    let wakeAt = Infinity;
    for (const [id, due] of this.due) {
      const b = this.blocks.get(id)!;
      const effective = Math.max(due, this.health.get(b.device)!.retryAt);
      if (effective <= now) {
        if (due < bestDue) {
          best = b;
          bestDue = due;
        }
      } else if (effective < wakeAt) {
        wakeAt = effective;
      }
    }
    if (best) return { block: best };
    return Number.isFinite(wakeAt) ? { wakeAt } : { idle: true };
  }

  /** The shell started reading `block` at `now`: schedule its next read one period on, without bursts after overrun. */
  started(blockId: number, now: number): void {
    const b = this.blocks.get(blockId)!;
    const next = this.due.get(blockId)! + b.periodMs;
    this.due.set(blockId, next > now ? next : now + b.periodMs);
  }

  succeeded(device: string): HealthChange {
    const h = this.health.get(device);
    if (!h) return undefined;
    h.failures = 0;
    h.retryAt = 0;
    h.backoffMs = this.opts.backoff.minMs;
    if (h.online === true) return undefined;
    h.online = true;
    return { device, online: true };
  }

  failed(device: string, now: number): HealthChange {
    const h = this.health.get(device);
    if (!h) return undefined;
    h.failures++;
    if (h.failures < this.opts.failuresBeforeOffline) return undefined;
    h.retryAt = now + h.backoffMs;
    h.backoffMs = Math.min(h.backoffMs * 2, this.opts.backoff.maxMs);
    if (h.online === false) return undefined;
    h.online = false;
    return { device, online: false };
  }
}
