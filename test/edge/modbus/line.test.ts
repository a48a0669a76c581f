import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { memoryLogger } from '../../../common/log.js';
import { ModbusLine, type PointReading } from '../../../edge/src/modbus/line.js';
import { loadProfiles } from '../../../hardware/src/profile.js';
import { FakeTransport, runFor } from './fake-transport.js';

const slc = loadProfiles().get('citygate/slc-100')!;

function setup(devices: number, opts: { latencyMs?: number; pollMs?: number; retries?: number } = {}) {
  const clock = new FakeClock(0);
  const transport = new FakeTransport(clock, opts.latencyMs ?? 10, 100);
  const readings: PointReading[] = [];
  const states: string[] = [];
  const line = new ModbusLine(
    'bus',
    transport,
    clock,
    memoryLogger('warn'),
    {
      readings: (r) => readings.push(...r),
      deviceState: (d, online) => states.push(`${d}:${online ? 'on' : 'off'}@${clock.now()}`),
    },
    { minMs: 1000, maxMs: 8000 },
    opts.retries ?? 0,
  );
  for (let i = 1; i <= devices; i++)
    line.addDevice({ id: `l${i}`, profile: slc.id, line: 'bus', unitId: i, pollMs: opts.pollMs }, slc);
  return { clock, transport, readings, states, line };
}

const pollsOf = (t: FakeTransport, unit: number) => t.log.filter((l) => l.startsWith(`r ${unit} `)).length;

describe('ModbusLine on a fake clock', () => {
  it('polls each coalesced block once per period', async () => {
    const { clock, transport, line } = setup(1, { pollMs: 1000 });
    line.start();
    await runFor(clock, 10_000);
    await line.stop();
    expect(line.blockCount).toBe(2); // holding (commands) + input (measurements, status word)
    expect(pollsOf(transport, 1)).toBeGreaterThanOrEqual(2 * 10);
    expect(pollsOf(transport, 1)).toBeLessThanOrEqual(2 * 11);
  });

  it('keeps one transaction in flight', async () => {
    const { clock, transport, line } = setup(4, { pollMs: 200, latencyMs: 20 });
    line.start();
    await runFor(clock, 2000);
    await line.stop();
    const times = transport.log.map((l) => Number(l.split('@')[1]));
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(20);
  });

  it('sends a write before any queued poll', async () => {
    const { clock, transport, line } = setup(8, { pollMs: 100, latencyMs: 20 }); // overloaded: polls always waiting
    line.start();
    await runFor(clock, 500);
    const done = line.write('l5', 'dim', 30);
    const before = transport.log.length;
    await runFor(clock, 60);
    await done;
    // At most the poll in flight finishes first; the write is the next transaction.
    const idx = transport.log.findIndex((l) => l.startsWith('w 5 holding 0=30'));
    expect(idx).toBeGreaterThanOrEqual(before);
    expect(idx).toBeLessThanOrEqual(before + 1);
    await line.stop();
  });

  it('rejects writes to unknown, read-only or out-of-range points with a clear error', async () => {
    const { line } = setup(1);
    line.start();
    await expect(line.write('l9', 'dim', 1)).rejects.toThrow("no device 'l9' on line 'bus'");
    await expect(line.write('l1', 'power', 1)).rejects.toThrow("point 'l1.power' is read-only");
    await expect(line.write('l1', 'dim', 150)).rejects.toThrow('dim: 150 is above the maximum 100');
    await line.stop();
  });

  it('quarantines a dead device with backoff while healthy devices keep their rate', async () => {
    const healthy = setup(8, { pollMs: 1000, latencyMs: 10 });
    healthy.line.start();
    await runFor(healthy.clock, 30_000);
    await healthy.line.stop();

    const faulty = setup(8, { pollMs: 1000, latencyMs: 10 });
    faulty.transport.dead.add(3);
    faulty.line.start();
    await runFor(faulty.clock, 30_000);
    await faulty.line.stop();

    for (const unit of [1, 2, 4, 5, 6, 7, 8]) {
      expect(pollsOf(faulty.transport, unit) / pollsOf(healthy.transport, unit)).toBeGreaterThanOrEqual(0.9);
    }
    expect(faulty.states.filter((s) => s.includes(':off'))).toEqual([expect.stringMatching(/^l3:off@/)]);
    // Backoff: the dead unit is tried far less than once per block per second.
    expect(pollsOf(faulty.transport, 3)).toBeLessThan(20);
  });

  it('retries a timed-out transaction at once, and only wire failures', async () => {
    const { clock, transport, line, readings } = setup(1, { pollMs: 1000, retries: 1 });
    transport.flaky.set(1, 1);
    line.start();
    await runFor(clock, 500);
    await line.stop();
    expect(line.stats.retries).toBe(1);
    expect(line.stats.device('l1').failed).toBe(0);
    expect(readings.some((r) => r.point === 'dim')).toBe(true);
  });

  it('reports a point at its own period, and a changed boolean at once', async () => {
    const { clock, line, readings } = setup(1, { latencyMs: 5 });
    line.start();
    await runFor(clock, 60_500);
    await line.stop();
    const count = (p: string) => readings.filter((r) => r.point === p).length;
    expect(count('power')).toBeGreaterThanOrEqual(12); // every 5 s
    expect(count('power')).toBeLessThanOrEqual(13);
    expect(count('energy')).toBeGreaterThanOrEqual(1); // every 60 s, though read with the 5 s block
    expect(count('energy')).toBeLessThanOrEqual(2);
  });
});
