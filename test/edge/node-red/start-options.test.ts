import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../common/log.js';
import { attachNodeRed } from '../../../edge/src/node-red/attach.js';
import type { EdgeRuntime } from '../../../edge/src/main.js';
import { hashPassword } from '../../../edge/src/node-red/red.js';
import { timeFunctions } from '../../../edge/src/node-red/services.js';
import { startNodeRed } from '../../../edge/src/node-red/start.js';
import { FakeServices } from '../../nodes/fake-services.js';

const log = createLogger({ level: 'silent' });
const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'citygate-nr-opt-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('startNodeRed options', () => {
  it('refuses a clear-text admin password and a short credential secret before starting', async () => {
    const services = new FakeServices();
    await expect(
      startNodeRed({
        services,
        userDir: tmp(),
        port: 0,
        adminAuth: { username: 'a', passwordHash: 'hunter2' },
        log,
      }),
    ).rejects.toMatchObject({ code: 'node-red-config' });
    await expect(
      startNodeRed({ services, userDir: tmp(), port: 0, adminAuth: false, credentialSecret: 'short', log }),
    ).rejects.toMatchObject({ code: 'node-red-config' });
  });

  it('hashes passwords with bcrypt', () => {
    expect(hashPassword('street-lamp-42', 4)).toMatch(/^\$2[aby]\$04\$/);
  });

  it('is not started when disabled', async () => {
    const runtime = { id: 'gw', dataDir: tmp() } as unknown as EdgeRuntime;
    const sink = (): void => undefined;
    expect(
      await attachNodeRed(runtime, {
        enabled: false,
        adminAuth: false,
        sinks: { raiseAlarm: sink, clearAlarm: sink, publishTelemetry: sink },
      }),
    ).toBeUndefined();
  });

  it('keeps one random credential secret across restarts', async () => {
    const userDir = tmp();
    const services = new FakeServices();
    const a = await startNodeRed({ services, userDir, port: 0, adminAuth: false, initialFlows: [], log });
    await a.stop();
    const first = readFileSync(join(userDir, 'credential-secret'), 'utf8');
    const b = await startNodeRed({ services, userDir, port: 0, adminAuth: false, log });
    await b.stop();
    expect(readFileSync(join(userDir, 'credential-secret'), 'utf8')).toBe(first);
    expect(first.trim()).toHaveLength(64);
  });
});

describe('sun times for schedules', () => {
  it('needs a location', () => {
    expect(() => timeFunctions(undefined).nextTime({ sun: 'sunset' }, 0)).toThrow(/no location/);
  });
  it('finds the next and last sunset in Hanoi', () => {
    const tf = timeFunctions({ lat: 21.0285, lon: 105.8542, timeZone: 'Asia/Ho_Chi_Minh' });
    const noon = Date.UTC(2026, 5, 1, 5, 0);
    const next = tf.nextTime({ sun: 'sunset' }, noon);
    const last = tf.lastTime({ sun: 'sunset' }, noon)!;
    expect(next - noon).toBeGreaterThan(6 * 3600_000);
    expect(next - noon).toBeLessThan(7 * 3600_000);
    expect(next - last).toBeGreaterThan(23.9 * 3600_000);
    expect(next - last).toBeLessThan(24.1 * 3600_000);
    expect(tf.nextTime({ time: '23:00' }, noon)).toBe(Date.UTC(2026, 5, 1, 16, 0));
  });
});

describe('outboxSinks', () => {
  it('stores flow alarms and telemetry as valid outbox records', async () => {
    const { Outbox } = await import('../../../edge/src/outbox.js');
    const { outboxSinks } = await import('../../../edge/src/node-red/attach.js');
    const { FakeClock } = await import('../../../common/clock.js');
    const outbox = await Outbox.open(join(tmp(), 'outbox.db'));
    let notified = 0;
    const sinks = outboxSinks({
      outbox,
      uplink: { notify: () => void notified++ } as unknown as EdgeRuntime['uplink'],
      clock: new FakeClock(),
    });
    try {
      await sinks.raiseAlarm({
        id: 'bin-full/bin-1',
        severity: 'minor',
        message: 'bin-1 is 92 % full',
        device: 'bin-1',
      });
      await sinks.clearAlarm('bin-full/bin-1', 'bin-1');
      await sinks.publishTelemetry('collection-list', { bins: [{ device: 'bin-1', fill: 92 }] });
      expect(notified).toBe(3);
      expect(await outbox.depth()).toBe(3);
    } finally {
      await outbox.close();
    }
  });
});
