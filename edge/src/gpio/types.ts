/**
 * The GPIO API CityGate programs against: the shape of onoff's `Gpio` class (onoff 6), so the real
 * library and the fake in fake.ts are interchangeable. Values are logical (after active-low).
 */
export type BinaryValue = 0 | 1;
export type Direction = 'in' | 'out' | 'high' | 'low';
export type Edge = 'none' | 'rising' | 'falling' | 'both';

export interface GpioOptions {
  /** Report an edge only after the level has been quiet for this many ms. */
  debounceTimeout?: number;
  activeLow?: boolean;
  /** false: leave the direction alone if the pin is already exported with the requested one. */
  reconfigureDirection?: boolean;
}

export type ValueCallback = (err: Error | null | undefined, value: BinaryValue) => void;

/** One exported pin (an onoff `Gpio` instance). */
export interface GpioLine {
  read(callback: ValueCallback): void;
  read(): Promise<BinaryValue>;
  readSync(): BinaryValue;
  write(value: BinaryValue, callback: (err: Error | null | undefined) => void): void;
  write(value: BinaryValue): Promise<void>;
  writeSync(value: BinaryValue): void;
  watch(callback: ValueCallback): void;
  unwatch(callback?: ValueCallback): void;
  unwatchAll(): void;
  direction(): Direction;
  setDirection(direction: Direction): void;
  edge(): Edge;
  setEdge(edge: Edge): void;
  activeLow(): boolean;
  setActiveLow(invert: boolean): void;
  unexport(): void;
}

/** onoff's `Gpio` class: `new Gpio(sysfsNumber, direction, edge, {debounceTimeout, activeLow})`. */
export interface GpioConstructor {
  new (gpio: number, direction: Direction, edge?: Edge, options?: GpioOptions): GpioLine;
  readonly accessible: boolean;
  readonly HIGH: 1;
  readonly LOW: 0;
}

/** A GPIO implementation plus the board facts needed to use it with BCM pin numbers. */
export interface GpioBackend {
  /** 'onoff' or 'fake'. */
  readonly name: string;
  readonly Gpio: GpioConstructor;
  /** The number `new Gpio()` takes for a BCM pin (offset on Raspberry Pi kernels >= 6.6). */
  gpioNumber(bcm: number): number;
  /** 'in' / 'out' if that (sysfs-numbered) pin is already exported, else undefined. */
  exportedDirection(gpio: number): 'in' | 'out' | undefined;
  /** Human description of a BCM pin, e.g. "BCM 17 (sysfs 529, pinctrl-bcm2711)". */
  describe(bcm: number): string;
}
