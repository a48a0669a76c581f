import { frameTimeMs, interFrameSilenceMs, type CharFormat } from '../modbus-rtu.js';

/** A serial line to emulate on a pseudo-terminal, which itself moves bytes at any speed. */
export interface WireOptions extends CharFormat {
  /** Slave turnaround: time between detecting the end of a request and starting the reply (ms). */
  turnaroundMs?: number;
}

export interface WireStats {
  /** Requests that started while the emulated wire was still busy with an earlier frame. */
  collisions: number;
  /** Requests that started less than t3.5 after the previous frame ended. */
  silenceViolations: number;
}

/**
 * The emulated half-duplex wire of an RTU simulator. A request heard at `now()` occupies the wire
 * for its frame time; a slave detects its end after t3.5 of silence, waits its turnaround, then the
 * reply occupies the wire for its own frame time. The simulator writes the whole reply when its last
 * byte would have arrived. The wire's busy time is tracked as one horizon (`busyUntil`).
 */
export class EmulatedWire {
  busyUntil = -Infinity;
  readonly stats: WireStats = { collisions: 0, silenceViolations: 0 };
  readonly silenceMs: number;

  constructor(
    readonly options: WireOptions,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.silenceMs = interFrameSilenceMs(options.baud);
  }

  frameMs(bytes: number): number {
    return frameTimeMs(bytes, this.options);
  }

  /** A request of `bytes` was just written by the master: returns when its last byte is on the wire. */
  request(bytes: number): number {
    const t = this.now();
    if (t < this.busyUntil) this.stats.collisions++;
    else if (t < this.busyUntil + this.silenceMs) this.stats.silenceViolations++;
    const end = Math.max(t, this.busyUntil) + this.frameMs(bytes);
    this.busyUntil = end;
    return end;
  }

  /**
   * A reply of `bytes` to a request that ended at `requestEnd`, `extraDelayMs` later than the
   * turnaround: returns when its last byte would arrive at the master (when to write it).
   */
  reply(requestEnd: number, bytes: number, extraDelayMs = 0): number {
    const start = Math.max(
      requestEnd + this.silenceMs + (this.options.turnaroundMs ?? 0) + extraDelayMs,
      this.busyUntil,
    );
    const end = start + this.frameMs(bytes);
    this.busyUntil = end;
    return end;
  }
}
