import type { SimModel } from './index.js';
import { daylightLux } from './daylight.js';
import { clamp, numberArg, readParams } from './support.js';

const DEFAULTS = {
  ratedPowerW: 120,
  supplyV: 230,
  /** Photocell reading while the day cycle is off (default: overcast daylight). */
  ambientLux: 10_000,
  /** Derive the photocell reading from a simulated time of day instead of `ambientLux`. */
  dayCycle: false,
  /** Time of day (hours) at simulator start when `dayCycle` is on. */
  startHour: 12,
  sunriseHour: 7,
  sunsetHour: 19,
  peakLux: 30_000,
  nightLux: 0.2,
};

/** The photocell's 16-bit lux register saturates. */
const LUX_FULL_SCALE = 65_535;

/**
 * LED street light: power follows the dim level while switched on and no lamp fault; energy and
 * burning hours integrate over time. Starts switched on at 100 %. The photocell reads a settable
 * ambient illuminance, or one following a simulated day.
 *
 * Actions: `ambient-lux` (number: fixed illuminance, stops the day cycle), `time-of-day` (number of
 * hours: starts the day cycle at that time).
 */
export function streetLight(): SimModel {
  let cfg = DEFAULTS;
  let energyWh = 0;
  let burningMs = 0;
  let ambientLux = DEFAULTS.ambientLux;
  let cycle = false;
  let hourOfDay = DEFAULTS.startHour;
  return {
    init(dev, params) {
      cfg = readParams('street-light', DEFAULTS, params);
      ambientLux = cfg.ambientLux;
      cycle = cfg.dayCycle;
      hourOfDay = cfg.startHour;
      dev.setRaw('voltage', cfg.supplyV);
      dev.setRaw('on', true);
      dev.setRaw('dim', 100);
    },
    step(dev, dtMs) {
      const on = dev.get('on') === true;
      const faulty = dev.get('lamp-fault') === true || dev.get('driver-fault') === true;
      const dim = Number(dev.get('dim'));
      const power = on && !faulty ? (cfg.ratedPowerW * dim) / 100 : 0;
      energyWh += (power * dtMs) / 3_600_000;
      if (power > 0) burningMs += dtMs;
      hourOfDay = (hourOfDay + dtMs / 3_600_000) % 24;
      const lux = cycle ? daylightLux(hourOfDay, cfg) : ambientLux;
      dev.setRaw('power', power);
      dev.setRaw('energy', Math.floor(energyWh) / 1000);
      dev.setRaw('burning-hours', Math.floor(burningMs / 36_000) / 100);
      dev.setRaw('lux', clamp(Math.round(lux), 0, LUX_FULL_SCALE));
    },
    actions: {
      'ambient-lux'(_dev, arg) {
        ambientLux = Math.max(0, numberArg('ambient-lux', arg));
        cycle = false;
      },
      'time-of-day'(_dev, arg) {
        hourOfDay = ((numberArg('time-of-day', arg) % 24) + 24) % 24;
        cycle = true;
      },
    },
  };
}
