import { describe, expect, it } from 'vitest';
import { frameTimeMs, interFrameSilenceMs } from '../../../hardware/src/modbus-rtu.js';
import { EmulatedWire } from '../../../hardware/src/sim/wire-time.js';

describe('EmulatedWire', () => {
  const format = { baud: 19200, parity: 'even' as const, stopBits: 1 as const };

  it('places a reply after the request, t3.5, the turnaround and its own frame time', () => {
    let t = 1000;
    const wire = new EmulatedWire({ ...format, turnaroundMs: 5 }, () => t);
    const reqEnd = wire.request(8);
    expect(reqEnd).toBeCloseTo(1000 + frameTimeMs(8, format), 9);
    const replyEnd = wire.reply(reqEnd, 25);
    const silence = interFrameSilenceMs(19200);
    expect(replyEnd).toBeCloseTo(reqEnd + silence + 5 + frameTimeMs(25, format), 9);
    expect(wire.busyUntil).toBe(replyEnd);
    // The full cycle for 10 registers at 19200 8E1 with 5 ms turnaround, plus the master's t3.5: 27.9 ms.
    expect(replyEnd + silence - 1000).toBeCloseTo(27.9, 1);
    t = replyEnd + silence;
    wire.request(8);
    expect(wire.stats).toEqual({ collisions: 0, silenceViolations: 0 });
  });

  it('counts a request that starts too soon after a frame, or while the wire is busy', () => {
    let t = 0;
    const wire = new EmulatedWire(format, () => t);
    const end = wire.reply(wire.request(8), 25, 10);
    t = end + 1; // less than t3.5 (2 ms) after the reply
    wire.request(8);
    expect(wire.stats.silenceViolations).toBe(1);
    t = wire.busyUntil - 1; // during the previous request
    const e2 = wire.request(8);
    expect(wire.stats.collisions).toBe(1);
    expect(e2).toBeGreaterThan(t + frameTimeMs(8, format)); // queued behind the busy wire
  });

  it('delays a late reply by the extra delay', () => {
    const w2 = new EmulatedWire(format, () => 0);
    const r = w2.request(8);
    expect(w2.reply(r, 5, 100)).toBeCloseTo(r + interFrameSilenceMs(19200) + 100 + frameTimeMs(5, format), 9);
  });
});
