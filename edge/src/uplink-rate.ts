/**
 * Token bucket for the telemetry backlog: `rate` readings per second, at most `burst` at once (the
 * name is older than telemetry blocks: a token is a reading, not an outbox row). Live readings never
 * wait for it; it only keeps a days-long backlog from saturating a thin link.
 */
export class RowRate {
  private tokens: number;
  private at: number;

  constructor(
    readonly rate: number,
    readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  available(now: number): number {
    if (!Number.isFinite(this.rate)) return Infinity;
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
    return Math.floor(this.tokens);
  }

  consume(n: number): void {
    if (Number.isFinite(this.rate)) this.tokens -= n;
  }

  /** Milliseconds until `n` readings are available. */
  waitMs(n: number): number {
    if (!Number.isFinite(this.rate)) return 0;
    return Math.max(1, Math.ceil(((n - this.tokens) * 1000) / this.rate));
  }
}
