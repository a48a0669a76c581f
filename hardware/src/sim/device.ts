import type { Clock } from '../../../common/clock.js';
import { CityGateError } from '../../../common/errors.js';
import { decodePoint, encodePoint } from '../codec.js';
import { isBitTable, pointWidth, type PointDef, type Profile, type Table } from '../profile.js';
import { modelFor, type SimModel } from './models/index.js';

/**
 * Faults a simulated unit can be told to commit, to test how the edge copes. A fault without its
 * rate applies to every request; with a rate (0-1) to that share of requests, drawn from the
 * simulator's random source; a rate alone (e.g. `badCrcRate: 0.01`) enables the fault.
 */
export interface Faults {
  /** Never answer. */
  silent?: boolean;
  silentRate?: number;
  /** Answer this many ms late. */
  delayMs?: number;
  delayRate?: number;
  /** Answer with this Modbus exception code. */
  exception?: number;
  exceptionRate?: number;
  /** Corrupt the reply's CRC (RTU only: Modbus TCP has no CRC). */
  badCrc?: boolean;
  badCrcRate?: number;
  /** Answer with another unit id: this one, or (true) the device's own + 1. */
  wrongUnit?: boolean | number;
  wrongUnitRate?: number;
  /** Send only the first part of the reply. */
  truncate?: boolean;
  truncateRate?: number;
}

export class ModbusException extends CityGateError {
  constructor(readonly modbusCode: number) {
    super('modbus-exception', `Modbus exception ${modbusCode}`);
  }
}

/**
 * One simulated device: a sparse register bank laid out by its profile, and a physics model that
 * advances lazily on each access (so it follows whatever clock it is given, real or fake).
 */
export class SimDevice {
  readonly tables: Record<Table, Map<number, number>> = {
    coil: new Map(),
    discrete: new Map(),
    holding: new Map(),
    input: new Map(),
  };
  private readonly spans: Record<Table, [number, number] | undefined>;
  private readonly byId = new Map<string, PointDef>();
  private readonly model: SimModel | undefined;
  private lastTick: number;
  faults: Faults = {};
  requests = 0;

  constructor(
    readonly profile: Profile,
    readonly unitId: number,
    private readonly clock: Clock,
  ) {
    const spans: Partial<Record<Table, [number, number]>> = {};
    for (const p of profile.points) {
      this.byId.set(p.id, p);
      const end = p.address + pointWidth(p) - 1;
      const s = spans[p.table];
      spans[p.table] = s ? [Math.min(s[0], p.address), Math.max(s[1], end)] : [p.address, end];
      for (let k = 0; k < pointWidth(p); k++) this.tables[p.table].set(p.address + k, 0);
    }
    this.spans = { coil: spans.coil, discrete: spans.discrete, holding: spans.holding, input: spans.input };
    this.lastTick = clock.now();
    this.model = profile.simulation ? modelFor(profile.simulation.model) : undefined;
    this.model?.init?.(this, profile.simulation?.params ?? {});
    this.tick();
  }

  point(id: string): PointDef {
    const p = this.byId.get(id);
    if (!p) throw new CityGateError('unknown-point', `profile ${this.profile.id} has no point '${id}'`);
    return p;
  }

  /** Engineering value of a point, as the profile decodes it. */
  get(id: string): number | boolean {
    const p = this.point(id);
    const t = this.tables[p.table];
    const raw = Array.from({ length: pointWidth(p) }, (_, k) => t.get(p.address + k) ?? 0);
    return decodePoint(p, raw, this.profile.modbus);
  }

  /** Set a point as the device itself would (sensor, physics); does not run the model. */
  setRaw(id: string, value: number | boolean): void {
    const p = this.point(id);
    const t = this.tables[p.table];
    if (p.bit !== undefined) {
      // A bit field: change only its bit, keep the rest of the register.
      const word = t.get(p.address) ?? 0;
      t.set(p.address, value ? word | (1 << p.bit) : word & ~(1 << p.bit) & 0xffff);
      return;
    }
    const enc = encodePoint({ ...p, min: undefined, max: undefined }, value, this.profile.modbus);
    if (typeof enc === 'boolean') t.set(p.address, enc ? 1 : 0);
    else enc.forEach((w, k) => t.set(p.address + k, w));
  }

  /** Set a point and let the physics react at once (e.g. power follows a new dim level). */
  set(id: string, value: number | boolean): void {
    this.tick();
    this.setRaw(id, value);
    this.tick();
  }

  /** Advance the physics model to the clock's now. */
  tick(): void {
    const now = this.clock.now();
    const dt = Math.max(0, now - this.lastTick);
    this.lastTick = now;
    this.model?.step(this, dt);
  }

  private checkRange(table: Table, address: number, count: number): void {
    const span = this.spans[table];
    if (!span || address < span[0] || address + count - 1 > span[1]) throw new ModbusException(2);
  }

  read(table: Table, address: number, count: number): number[] {
    this.checkRange(table, address, count);
    this.tick();
    const t = this.tables[table];
    return Array.from({ length: count }, (_, k) => t.get(address + k) ?? 0);
  }

  write(table: Table, address: number, values: readonly number[]): void {
    if (table !== 'coil' && table !== 'holding') throw new ModbusException(1);
    this.checkRange(table, address, values.length);
    this.tick();
    const t = this.tables[table];
    for (let k = 0; k < values.length; k++) {
      const p = this.pointAt(table, address + k);
      if (!p || p.access !== 'rw') throw new ModbusException(2);
    }
    // Validate engineering ranges of every touched point before committing anything.
    const staged = new Map(t);
    values.forEach((v, k) => staged.set(address + k, isBitTable(table) ? (v ? 1 : 0) : v & 0xffff));
    for (const p of this.profile.points) {
      if (p.table !== table || p.address + pointWidth(p) <= address || p.address >= address + values.length)
        continue;
      const raw = Array.from({ length: pointWidth(p) }, (_, k) => staged.get(p.address + k) ?? 0);
      const v = decodePoint(p, raw, this.profile.modbus);
      if (
        typeof v === 'number' &&
        ((p.min !== undefined && v < p.min) || (p.max !== undefined && v > p.max))
      ) {
        throw new ModbusException(3);
      }
    }
    values.forEach((_, k) => t.set(address + k, staged.get(address + k)!));
    this.tick();
  }

  private pointAt(table: Table, address: number): PointDef | undefined {
    return this.profile.points.find(
      (p) => p.table === table && address >= p.address && address < p.address + pointWidth(p),
    );
  }
}
