import type { Clock } from '../../../common/clock.js';

export interface DeviceStats {
  ok: number;
  failed: number;
  /** Mean and worst transaction latency of successful transactions, ms. */
  meanLatencyMs: number;
  maxLatencyMs: number;
}

/**
 * What a line reports about itself: per-device success and latency, and utilisation — the share
 * of elapsed time the line spent inside transactions (for RTU with wire emulation or a real bus,
 * that is the wire time used).
 */
export class LineStats {
  private readonly started: number;
  private busyMs = 0;
  /** Transactions repeated at once after a timeout, CRC or framing error. */
  retries = 0;
  private readonly devices = new Map<
    string,
    { ok: number; failed: number; latSum: number; latMax: number }
  >();

  constructor(private readonly clock: Clock) {
    this.started = clock.now();
  }

  record(device: string, ok: boolean, durationMs: number): void {
    this.busyMs += durationMs;
    const d = this.devices.get(device) ?? { ok: 0, failed: 0, latSum: 0, latMax: 0 };
    this.devices.set(device, d);
    if (ok) {
      d.ok++;
      d.latSum += durationMs;
      d.latMax = Math.max(d.latMax, durationMs);
    } else {
      d.failed++;
    }
  }

  get transactions(): number {
    let n = 0;
    for (const d of this.devices.values()) n += d.ok + d.failed;
    return n;
  }

  utilisation(): number {
    const elapsed = this.clock.now() - this.started;
    return elapsed > 0 ? Math.min(1, this.busyMs / elapsed) : 0;
  }

  device(id: string): DeviceStats {
    const d = this.devices.get(id) ?? { ok: 0, failed: 0, latSum: 0, latMax: 0 };
    return { ok: d.ok, failed: d.failed, meanLatencyMs: d.ok ? d.latSum / d.ok : 0, maxLatencyMs: d.latMax };
  }

  snapshot(): { utilisation: number; devices: Record<string, DeviceStats> } {
    return {
      utilisation: this.utilisation(),
      devices: Object.fromEntries([...this.devices.keys()].map((k) => [k, this.device(k)])),
    };
  }
}
