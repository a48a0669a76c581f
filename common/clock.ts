/** Time is injected everywhere it matters, so tests can run hours of city time in milliseconds. */
export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

interface Pending {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A manual clock: timers fire only when the test advances time. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private pending: Pending[] = [];

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.pending.push(p);
    return { cancel: () => void (p.cancelled = true) };
  }

  /** Advance time, firing due timers in order (timers scheduled while firing are honoured). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled);
      this.pending.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.pending[0];
      if (!next || next.at > end) break;
      this.pending.shift();
      this.t = next.at;
      next.fn();
    }
    this.t = end;
  }

  pendingCount(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }
}

/**
 * Real time sped up `speed` times from the moment it is made: the demo runs a night in minutes.
 * Timers fire after ms/speed of real time.
 */
export class ScaledClock implements Clock {
  private readonly realStart = Date.now();

  constructor(
    readonly speed: number,
    private readonly start = Date.now(),
  ) {
    if (!(speed > 0)) throw new RangeError(`clock speed must be > 0, got ${speed}`);
  }

  now(): number {
    return this.start + Math.round((Date.now() - this.realStart) * this.speed);
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return realClock.setTimeout(fn, Math.max(0, ms) / this.speed);
  }
}
