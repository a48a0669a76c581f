import { describe, expect, it } from 'vitest';
import { PollSchedule } from '../../../edge/src/modbus/schedule.js';

const opts = { failuresBeforeOffline: 3, backoff: { minMs: 1000, maxMs: 8000 } };

describe('PollSchedule (pure)', () => {
  it('staggers first polls and picks the earliest due block', () => {
    const s = new PollSchedule(
      [
        { id: 0, device: 'a', periodMs: 1000 },
        { id: 1, device: 'b', periodMs: 1000 },
      ],
      0,
      opts,
    );
    const first = s.next(0);
    expect(first).toEqual({ block: { id: 0, device: 'a', periodMs: 1000 } });
    s.started(0, 0);
    expect(s.next(0)).toEqual({ wakeAt: 500 });
    expect(s.next(500)).toMatchObject({ block: { id: 1 } });
  });

  it('keeps the period without drift and without a burst after an overrun', () => {
    const s = new PollSchedule([{ id: 0, device: 'a', periodMs: 100 }], 0, opts);
    s.started(0, 0);
    expect(s.next(50)).toEqual({ wakeAt: 100 });
    s.started(0, 103); // started a little late: next stays on the 100 ms grid
    expect(s.next(150)).toEqual({ wakeAt: 200 });
    s.started(0, 750); // far behind: one read now, next a full period later, not 5 catch-up reads
    expect(s.next(751)).toEqual({ wakeAt: 850 });
  });

  it('quarantines a failing device with exponential backoff and reports health changes once', () => {
    const s = new PollSchedule([{ id: 0, device: 'dead', periodMs: 100 }], 0, opts);
    expect(s.failed('dead', 0)).toBeUndefined();
    expect(s.failed('dead', 0)).toBeUndefined();
    expect(s.failed('dead', 0)).toEqual({ device: 'dead', online: false });
    expect(s.next(10)).toEqual({ wakeAt: 1000 });
    expect(s.failed('dead', 1000)).toBeUndefined(); // still offline: no second event
    expect(s.next(1001)).toEqual({ wakeAt: 3000 }); // backoff doubled
    s.failed('dead', 3000);
    s.failed('dead', 7000);
    s.failed('dead', 15000);
    expect(s.health.get('dead')!.backoffMs).toBe(8000); // capped
    expect(s.succeeded('dead')).toEqual({ device: 'dead', online: true });
    expect(s.health.get('dead')).toMatchObject({ failures: 0, retryAt: 0, backoffMs: 1000 });
  });

  it('serves due blocks of a healthy device while another is quarantined', () => {
    const s = new PollSchedule(
      [
        { id: 0, device: 'dead', periodMs: 100 },
        { id: 1, device: 'ok', periodMs: 100 },
      ],
      0,
      opts,
    );
    for (let i = 0; i < 3; i++) s.failed('dead', 0);
    expect(s.next(60)).toMatchObject({ block: { id: 1 } });
  });
});
