import type { Clock } from '../../../common/clock.js';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type { GpioPinDef } from '../../../hardware/src/gpio-profile.js';
import type { Profile } from '../../../hardware/src/profile.js';
import type { PointReading } from '../modbus/line.js';
import type { BinaryValue, GpioBackend, GpioLine, ValueCallback } from './types.js';

export interface GpioReading extends PointReading {
  value: boolean;
}

export interface GpioDeviceEvents {
  readings(readings: GpioReading[]): void;
}

export interface GpioDeviceOptions {
  /** Device id from the gateway config; readings carry it as `device`. */
  device: string;
  profile: Profile;
  backend: GpioBackend;
  clock: Clock;
  events: GpioDeviceEvents;
  log?: Logger;
}

interface OpenPin {
  def: GpioPinDef;
  gpio: number;
  line: GpioLine;
  /** Last value reported, to drop a debounced "change" that settled back where it was. */
  last: boolean | undefined;
  onEdge?: ValueCallback;
}

/**
 * The GPIO pins of one device profile (cabinet I/O) on the gateway's own header. Reports every pin
 * once at start and each (debounced) input edge after, in the `PointReading` shape the Modbus lines
 * use; outputs are set with `write`. Outputs found already exported keep their level, so a gateway
 * restart does not glitch a contactor back to its `initial` value.
 */
export class GpioDevice {
  private readonly pins = new Map<string, OpenPin>();
  private started = false;

  constructor(private readonly opts: GpioDeviceOptions) {
    if (!opts.profile.gpio?.pins.length)
      throw new CityGateError(
        'invalid',
        `device ${opts.device}: profile ${opts.profile.id} has no GPIO pins`,
      );
  }

  get device(): string {
    return this.opts.device;
  }

  /** Export and configure every pin, then report each pin's value once. */
  start(): void {
    if (this.started) return;
    const { backend, device } = this.opts;
    try {
      for (const def of this.opts.profile.gpio?.pins ?? []) this.pins.set(def.id, this.open(def));
    } catch (err) {
      this.release(true);
      throw err;
    }
    this.started = true;
    const ts = this.opts.clock.now();
    const readings = [...this.pins.values()].map((p) => {
      p.last = p.line.readSync() === 1;
      return this.reading(p, p.last, ts);
    });
    this.opts.log?.info('gpio pins ready', {
      device,
      backend: backend.name,
      pins: [...this.pins.values()].map((p) => `${p.def.id}=${backend.describe(p.def.bcm)}`),
    });
    this.opts.events.readings(readings);
  }

  private open(def: GpioPinDef): OpenPin {
    const { backend, device } = this.opts;
    let gpio: number | undefined;
    try {
      gpio = backend.gpioNumber(def.bcm);
      const already = backend.exportedDirection(gpio);
      const activeLow = def.activeLow ?? false;
      let line: GpioLine;
      if (def.direction === 'out') {
        // Keep the level of an output already exported (restart); else set `initial` glitch-free:
        // "high"/"low" are physical levels, so fold active-low in.
        const physicalHigh = (def.initial ?? false) !== activeLow;
        line =
          already === 'out'
            ? new backend.Gpio(gpio, 'out', undefined, { activeLow, reconfigureDirection: false })
            : new backend.Gpio(gpio, physicalHigh ? 'high' : 'low', undefined, { activeLow });
      } else {
        line = new backend.Gpio(gpio, 'in', def.edge ?? 'both', {
          activeLow,
          debounceTimeout: def.debounceMs ?? 0,
        });
      }
      const pin: OpenPin = { def, gpio, line, last: undefined };
      if (def.direction === 'in' && (def.edge ?? 'both') !== 'none') {
        pin.onEdge = (err, value) => this.edge(pin, err, value);
        line.watch(pin.onEdge);
      }
      return pin;
    } catch (err) {
      const code = err instanceof CityGateError ? err.code : 'gpio-error';
      const at = gpio === undefined ? `BCM ${def.bcm}` : `BCM ${def.bcm}, gpio ${gpio}`;
      throw new CityGateError(code, `device ${device} pin '${def.id}' (${at}): ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  private edge(pin: OpenPin, err: Error | null | undefined, value: BinaryValue): void {
    if (err) {
      this.opts.log?.warn('gpio edge error', { device: this.opts.device, pin: pin.def.id, err });
      return;
    }
    const v = value === 1;
    // With edge 'both' a debounced bounce can settle back on the old level: not a change.
    if ((pin.def.edge ?? 'both') === 'both' && pin.last === v) return;
    pin.last = v;
    this.opts.events.readings([this.reading(pin, v, this.opts.clock.now())]);
  }

  private reading(pin: OpenPin, value: boolean, ts: number): GpioReading {
    return { device: this.opts.device, point: pin.def.id, value, ts };
  }

  private pin(pointId: string): OpenPin {
    if (!this.started)
      throw new CityGateError('gpio-error', `device ${this.opts.device}: GPIO pins are not started`);
    const pin = this.pins.get(pointId);
    if (!pin)
      throw new CityGateError(
        'unknown-point',
        `device ${this.opts.device} has no GPIO pin '${pointId}' (pins: ${[...this.pins.keys()].join(', ')})`,
      );
    return pin;
  }

  /** Current logical value of a pin. */
  read(pointId: string): boolean {
    return this.pin(pointId).line.readSync() === 1;
  }

  /** Set an output; reports the new value as a reading. Inputs and unknown pins are refused. */
  async write(pointId: string, value: boolean): Promise<void> {
    const pin = this.pin(pointId);
    if (pin.def.direction !== 'out')
      throw new CityGateError(
        'not-writable',
        `device ${this.opts.device} pin '${pointId}' (BCM ${pin.def.bcm}) is an input; only outputs can be written`,
      );
    try {
      await pin.line.write(value ? 1 : 0);
    } catch (err) {
      throw new CityGateError(
        'gpio-error',
        `device ${this.opts.device} pin '${pointId}' (BCM ${pin.def.bcm}): ${errorMessage(err)}`,
        { cause: err },
      );
    }
    pin.last = value;
    this.opts.events.readings([this.reading(pin, value, this.opts.clock.now())]);
  }

  /**
   * Stop watching and unexport the inputs. Outputs stay exported at their level (a contactor must
   * not drop because the gateway restarts) unless `releaseOutputs` is set.
   */
  stop(opts: { releaseOutputs?: boolean } = {}): void {
    this.release(opts.releaseOutputs ?? false);
    this.started = false;
  }

  private release(outputsToo: boolean): void {
    for (const p of this.pins.values()) {
      try {
        p.line.unwatchAll();
        if (p.def.direction === 'in' || outputsToo) p.line.unexport();
      } catch (err) {
        this.opts.log?.warn('gpio release failed', { device: this.opts.device, pin: p.def.id, err });
      }
    }
    this.pins.clear();
  }
}
