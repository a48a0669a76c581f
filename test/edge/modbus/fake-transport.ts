import type { Clock } from '../../../common/clock.js';
import { ModbusError } from '../../../edge/src/modbus/errors.js';
import type { ModbusTransport } from '../../../edge/src/modbus/transport.js';
import type { Table } from '../../../hardware/src/profile.js';

/** A transport whose transactions take `latencyMs` on a (fake) clock; dead units time out after `timeoutMs`. */
export class FakeTransport implements ModbusTransport {
  readonly description = 'fake://line';
  readonly log: string[] = [];
  readonly dead = new Set<number>();
  /** Unit → how many of its next transactions time out. */
  readonly flaky = new Map<number, number>();
  private open_ = false;
  private readonly pending = new Set<(err: Error) => void>();

  constructor(
    private readonly clock: Clock,
    private readonly latencyMs = 10,
    private readonly timeoutMs = 100,
  ) {}

  open(): Promise<void> {
    this.open_ = true;
    return Promise.resolve();
  }
  close(): Promise<void> {
    this.open_ = false;
    for (const reject of this.pending) reject(new ModbusError('connection', 'port closed'));
    this.pending.clear();
    return Promise.resolve();
  }
  isOpen(): boolean {
    return this.open_;
  }

  private after<T>(ms: number, fn: () => T): Promise<T> {
    return new Promise((resolve, reject) => {
      this.pending.add(reject);
      this.clock.setTimeout(() => {
        if (!this.pending.delete(reject)) return;
        try {
          resolve(fn());
        } catch (err) {
          reject(err as Error);
        }
      }, ms);
    });
  }

  read(unit: number, table: Table, address: number, count: number): Promise<number[]> {
    this.log.push(`r ${unit} ${table} ${address}+${count} @${this.clock.now()}`);
    const flaky = this.flaky.get(unit) ?? 0;
    if (flaky > 0) this.flaky.set(unit, flaky - 1);
    if (this.dead.has(unit) || flaky > 0)
      return this.after(this.timeoutMs, () => {
        throw new ModbusError('timeout', `unit ${unit}: no answer`);
      });
    return this.after(this.latencyMs, () => Array.from({ length: count }, (_, i) => (address + i) & 0xffff));
  }

  write(unit: number, table: 'coil' | 'holding', address: number, values: readonly number[]): Promise<void> {
    this.log.push(`w ${unit} ${table} ${address}=${values.join(',')} @${this.clock.now()}`);
    return this.after(this.latencyMs, () => undefined);
  }
}

/** Advance a fake clock in steps, letting promise callbacks run between steps. */
export async function runFor(clock: { advance(ms: number): void }, ms: number, stepMs = 5): Promise<void> {
  for (let t = 0; t < ms; t += stepMs) {
    clock.advance(stepMs);
    await new Promise((r) => setImmediate(r));
  }
}
