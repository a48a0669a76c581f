import { FakeClock } from '../../../common/clock.js';
import { RuleRunner } from '../../../edge/src/rules/runner.js';
import type { ControlConfig, Value } from '../../../edge/src/rules/types.js';
import type { Profile } from '../../../hardware/src/profile.js';
import { SimDevice } from '../../../hardware/src/sim/device.js';

export interface WriteRecord {
  t: number;
  device: string;
  point: string;
  value: Value;
}

export interface Emitted {
  kind: 'event' | 'alarm';
  body: Record<string, unknown>;
}

/**
 * Simulated devices polled on a FakeClock, their readings fed to a RuleRunner whose writes land on
 * the devices' registers: the control loop of a gateway without the Modbus bytes in between.
 */
export class SimPlant {
  readonly devices = new Map<string, SimDevice>();
  readonly writes: WriteRecord[] = [];
  readonly emitted: Emitted[] = [];
  readonly runner: RuleRunner;
  /** Called after every poll of a device (for traces). */
  onPoll: (device: string, dev: SimDevice) => void = () => {};

  constructor(
    readonly clock: FakeClock,
    units: { id: string; profile: Profile; pollMs: number }[],
    control: ControlConfig,
  ) {
    for (const u of units) this.devices.set(u.id, new SimDevice(u.profile, 1, clock));
    this.runner = new RuleRunner(control, {
      clock,
      write: (device, point, value) => {
        const dev = this.devices.get(device);
        if (!dev) return Promise.reject(new Error(`no device ${device}`));
        dev.set(point, value);
        this.writes.push({ t: clock.now(), device, point, value });
        return Promise.resolve();
      },
      emit: (kind, body) => this.emitted.push({ kind, body }),
    });
    for (const u of units) this.schedulePoll(u.id, u.pollMs, 0);
  }

  private schedulePoll(id: string, pollMs: number, delay: number): void {
    this.clock.setTimeout(() => {
      this.poll(id);
      this.schedulePoll(id, pollMs, pollMs);
    }, delay);
  }

  poll(id: string): void {
    const dev = this.devices.get(id)!;
    dev.tick();
    const ts = this.clock.now();
    this.runner.readings(
      dev.profile.points.map((p) => ({ device: id, point: p.id, value: dev.get(p.id), ts })),
    );
    this.onPoll(id, dev);
  }

  dev(id: string): SimDevice {
    return this.devices.get(id)!;
  }

  /** Advance simulated time in one-minute steps, letting promise callbacks run in between. */
  async run(ms: number, stepMs = 60_000): Promise<void> {
    for (let left = ms; left > 0; left -= stepMs) {
      this.clock.advance(Math.min(stepMs, left));
      await new Promise((r) => setImmediate(r));
    }
  }

  events(type: string): Record<string, unknown>[] {
    return this.emitted.filter((e) => e.kind === 'event' && e.body.type === type).map((e) => e.body);
  }

  alarms(key?: string): Record<string, unknown>[] {
    return this.emitted
      .filter((e) => e.kind === 'alarm' && (key === undefined || e.body.key === key))
      .map((e) => e.body);
  }

  writesTo(device: string, point: string): WriteRecord[] {
    return this.writes.filter((w) => w.device === device && w.point === point);
  }
}
