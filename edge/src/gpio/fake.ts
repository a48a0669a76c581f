import type { Clock, Timer } from '../../../common/clock.js';
import type {
  BinaryValue,
  Direction,
  Edge,
  GpioBackend,
  GpioConstructor,
  GpioLine,
  GpioOptions,
  ValueCallback,
} from './types.js';

/** What the fake kernel knows about one (sysfs-numbered) pin. Levels are physical (before active-low). */
interface PinState {
  exported: boolean;
  direction: 'in' | 'out';
  edge: Edge;
  activeLow: boolean;
  /** Level the outside world drives onto the pin (switch, sensor); seen while it is an input. */
  inputLevel: BinaryValue;
  /** Level the pin drives while it is an output. */
  outputLevel: BinaryValue;
  lines: Set<FakeLine>;
}

export interface FakePinInfo {
  exported: boolean;
  direction: 'in' | 'out';
  edge: Edge;
  activeLow: boolean;
  /** Physical level on the pin now. */
  level: BinaryValue;
  /** Open, un-exported `Gpio` objects on this pin. */
  lines: number;
}

function fsError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

const physical = (s: PinState): BinaryValue => (s.direction === 'out' ? s.outputLevel : s.inputLevel);
const bit = (v: unknown): BinaryValue => (v === 1 ? 1 : 0);

/**
 * A GPIO board in memory: `board.Gpio` behaves like onoff's `Gpio` (same constructor, methods and
 * errors a test is likely to meet), and a test drives input levels with `setLevel`. Edge detection
 * follows the sysfs rules (edges are logical, so active-low swaps rising and falling) and debounce
 * runs on the injected Clock, so a FakeClock makes it deterministic.
 */
export class FakeGpioBoard {
  /** Set false to behave like a machine without /sys/class/gpio (constructing a Gpio throws ENOENT). */
  accessible: boolean;
  readonly base: number;
  readonly Gpio: GpioConstructor;
  private readonly pins = new Map<number, PinState>();

  constructor(
    readonly clock: Clock,
    opts: { accessible?: boolean; base?: number } = {},
  ) {
    this.accessible = opts.accessible ?? true;
    this.base = opts.base ?? 0;
    this.Gpio = makeGpioClass(this);
  }

  /** @internal */
  pin(gpio: number): PinState {
    let s = this.pins.get(gpio);
    if (!s) {
      s = {
        exported: false,
        direction: 'in',
        edge: 'none',
        activeLow: false,
        inputLevel: 0,
        outputLevel: 0,
        lines: new Set(),
      };
      this.pins.set(gpio, s);
    }
    return s;
  }

  /** Drive the physical level the outside world puts on a pin (a closing switch, a sensor output). */
  setLevel(gpio: number, level: BinaryValue | boolean): void {
    const s = this.pin(gpio);
    const next: BinaryValue = level === true || level === 1 ? 1 : 0;
    if (s.exported && s.direction === 'out')
      throw new Error(`fake GPIO ${gpio} is an output: the test cannot drive it`);
    const before = physical(s);
    s.inputLevel = next;
    if (next !== before) this.changed(s, before);
  }

  /** Physical level on a pin (what a meter would show). */
  level(gpio: number): BinaryValue {
    return physical(this.pin(gpio));
  }

  info(gpio: number): FakePinInfo {
    const s = this.pin(gpio);
    return {
      exported: s.exported,
      direction: s.direction,
      edge: s.edge,
      activeLow: s.activeLow,
      level: physical(s),
      lines: s.lines.size,
    };
  }

  /** A backend whose BCM numbers are offset by `base`, as on a Raspberry Pi kernel >= 6.6. */
  backend(): GpioBackend {
    return {
      name: 'fake',
      Gpio: this.Gpio,
      gpioNumber: (bcm) => this.base + bcm,
      exportedDirection: (gpio) => {
        const s = this.pins.get(gpio);
        return s?.exported ? s.direction : undefined;
      },
      describe: (bcm) => `BCM ${bcm} (fake ${this.base + bcm})`,
    };
  }

  /** @internal The physical level changed from `before`: raise an interrupt if the edge asks for it. */
  changed(s: PinState, before: BinaryValue): void {
    if (!s.exported || s.direction !== 'in' || s.edge === 'none') return;
    const logicalNow = physical(s) ^ (s.activeLow ? 1 : 0);
    const logicalBefore = before ^ (s.activeLow ? 1 : 0);
    if (logicalNow === logicalBefore) return;
    const rising = logicalNow === 1;
    if (s.edge === 'both' || (s.edge === 'rising') === rising) {
      for (const line of [...s.lines]) line.interrupt();
    }
  }
}

interface FakeLine extends GpioLine {
  interrupt(): void;
}

function makeGpioClass(board: FakeGpioBoard): GpioConstructor {
  class Gpio implements FakeLine {
    static readonly HIGH = 1 as const;
    static readonly LOW = 0 as const;
    static get accessible(): boolean {
      return board.accessible;
    }

    private readonly state: PinState;
    private readonly debounceMs: number;
    private listeners: ValueCallback[] = [];
    private risingEnabled = false;
    private fallingEnabled = false;
    private closed = false;
    private debounceTimer: Timer | undefined;

    constructor(
      readonly gpio: number,
      direction: Direction,
      edge?: Edge | GpioOptions,
      options?: GpioOptions,
    ) {
      // onoff also accepts the options object in place of the edge.
      const edgeArg = typeof edge === 'string' ? edge : undefined;
      const opts = (typeof edge === 'object' && !options ? edge : options) ?? {};
      if (!board.accessible)
        throw fsError('ENOENT', "no such file or directory, open '/sys/class/gpio/export'");
      this.state = board.pin(gpio);
      this.debounceMs = opts.debounceTimeout ?? 0;
      const previouslyExported = this.state.exported;
      this.state.exported = true;
      if (!previouslyExported) this.state.edge = 'none';
      if (typeof opts.activeLow === 'boolean') this.setActiveLow(opts.activeLow);
      const requested = direction === 'high' || direction === 'low' ? 'out' : direction;
      if ((opts.reconfigureDirection ?? true) || this.direction() !== requested) this.setDirection(direction);
      if (edgeArg && direction === 'in') this.setEdge(edgeArg);
      this.state.lines.add(this);
    }

    private open(op: string): PinState {
      if (this.closed) throw fsError('EBADF', `bad file descriptor, ${op}`);
      return this.state;
    }

    readSync(): BinaryValue {
      const s = this.open('read');
      return (physical(s) ^ (s.activeLow ? 1 : 0)) as BinaryValue;
    }

    read(): Promise<BinaryValue>;
    read(callback: ValueCallback): void;
    read(callback?: ValueCallback): Promise<BinaryValue> | void {
      const p = Promise.resolve().then(() => this.readSync());
      if (!callback) return p;
      p.then(
        (v) => callback(null, v),
        (err: Error) => callback(err, 0),
      );
    }

    writeSync(value: BinaryValue): void {
      const s = this.open('write');
      if (s.direction !== 'out') throw fsError('EPERM', 'operation not permitted, write');
      const before = physical(s);
      s.outputLevel = (bit(value) ^ (s.activeLow ? 1 : 0)) as BinaryValue;
      if (physical(s) !== before) board.changed(s, before);
    }

    write(value: BinaryValue): Promise<void>;
    write(value: BinaryValue, callback: (err: Error | null | undefined) => void): void;
    write(value: BinaryValue, callback?: (err: Error | null | undefined) => void): Promise<void> | void {
      const p = Promise.resolve().then(() => this.writeSync(value));
      if (!callback) return p;
      p.then(
        () => callback(null),
        (err: Error) => callback(err),
      );
    }

    watch(callback: ValueCallback): void {
      this.open('watch');
      this.listeners.push(callback);
    }

    unwatch(callback?: ValueCallback): void {
      this.listeners = callback ? this.listeners.filter((l) => l !== callback) : [];
      if (this.listeners.length === 0) this.cancelDebounce();
    }

    unwatchAll(): void {
      this.unwatch();
    }

    direction(): Direction {
      return this.open('read direction').direction;
    }

    setDirection(direction: Direction): void {
      const s = this.open('write direction');
      const before = physical(s);
      if (direction === 'in') s.direction = 'in';
      else {
        // As in the kernel: "high"/"low"/"out" set a raw (physical) level, ignoring active_low.
        s.direction = 'out';
        s.outputLevel = direction === 'high' ? 1 : 0;
        s.edge = 'none';
      }
      if (physical(s) !== before) board.changed(s, before);
    }

    edge(): Edge {
      return this.open('read edge').edge;
    }

    setEdge(edge: Edge): void {
      this.open('write edge').edge = edge;
      this.risingEnabled = edge === 'both' || edge === 'rising';
      this.fallingEnabled = edge === 'both' || edge === 'falling';
    }

    activeLow(): boolean {
      return this.open('read active_low').activeLow;
    }

    setActiveLow(invert: boolean): void {
      this.open('write active_low').activeLow = invert;
    }

    unexport(): void {
      this.unwatchAll();
      this.open('close');
      this.closed = true;
      this.state.lines.delete(this);
      this.state.exported = false;
      this.state.edge = 'none';
    }

    /** As onoff: an interrupt (re)starts the debounce; when it settles, read and filter by edge. */
    interrupt(): void {
      if (this.closed || this.listeners.length === 0) return;
      if (this.debounceMs <= 0) return this.dispatch();
      this.cancelDebounce();
      this.debounceTimer = board.clock.setTimeout(() => {
        this.debounceTimer = undefined;
        this.dispatch();
      }, this.debounceMs);
    }

    private dispatch(): void {
      if (this.closed) return;
      const value = this.readSync();
      if ((value === 0 && this.fallingEnabled) || (value === 1 && this.risingEnabled))
        for (const l of [...this.listeners]) l(null, value);
    }

    private cancelDebounce(): void {
      this.debounceTimer?.cancel();
      this.debounceTimer = undefined;
    }
  }
  return Gpio;
}
