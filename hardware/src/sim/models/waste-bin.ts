import type { SimModel } from './index.js';
import { boolArg, clamp, numberArg, readParams, setFlags } from './support.js';

const DEFAULTS = {
  /** Distance from the 100 % fill line down to the bottom of the bin. */
  binDepthMm: 1000,
  /** Distance from the ultrasonic sensor in the lid down to the 100 % fill line. */
  sensorGapMm: 80,
  fillPctPerHour: 1.5,
  initialFillPct: 0,
  /** Daily mean and swing (amplitude) of the temperature inside the bin; warmest at 15:00. */
  meanTempC: 12,
  tempSwingC: 6,
  /** Time of day (hours) at simulator start, for the temperature cycle. */
  startHour: 12,
  initialBatteryPct: 100,
  /** ~0.05 %/day is a five-year battery. */
  batteryPctPerDay: 0.05,
};

/** A fire heats the bin towards this much above ambient at FIRE_HEAT_C_PER_S; it cools far slower. */
const FIRE_MAX_RISE_C = 70;
const FIRE_HEAT_C_PER_S = 0.5;
const COOL_C_PER_S = 0.02;

/**
 * Ultrasonic waste-bin fill sensor. The bin fills at a steady rate up to 100 %; the measured
 * distance shrinks as it fills. Temperature follows a daily cycle (plus a fire's heat); the
 * battery drains slowly. Deterministic: everything follows the clock.
 *
 * Actions: `collect` (the truck empties the bin: fill 0, collection count +1), `fill` (set fill %),
 * `tilt` and `fire` (true/false, default true).
 */
export function wasteBin(): SimModel {
  let cfg = DEFAULTS;
  let fill = 0;
  let battery = 100;
  let hourOfDay = 12;
  let fireHeat = 0;
  let tilted = false;
  let burning = false;
  let collections = 0;
  return {
    init(_dev, params) {
      cfg = readParams('waste-bin', DEFAULTS, params);
      fill = clamp(cfg.initialFillPct, 0, 100);
      battery = clamp(cfg.initialBatteryPct, 0, 100);
      hourOfDay = cfg.startHour;
    },
    step(dev, dtMs) {
      const s = dtMs / 1000;
      const h = s / 3600;
      fill = Math.min(100, fill + cfg.fillPctPerHour * h);
      battery = Math.max(0, battery - (cfg.batteryPctPerDay * h) / 24);
      hourOfDay = (hourOfDay + h) % 24;
      fireHeat = burning
        ? Math.min(FIRE_MAX_RISE_C, fireHeat + FIRE_HEAT_C_PER_S * s)
        : Math.max(0, fireHeat - COOL_C_PER_S * s);
      const temp = cfg.meanTempC + cfg.tempSwingC * Math.sin((2 * Math.PI * (hourOfDay - 9)) / 24) + fireHeat;
      dev.setRaw('distance', Math.round(cfg.sensorGapMm + (cfg.binDepthMm * (100 - fill)) / 100));
      dev.setRaw('fill', Math.round(fill));
      dev.setRaw('temperature', Math.round(temp * 10) / 10);
      dev.setRaw('battery', Math.round(battery));
      dev.setRaw('collections', collections);
      setFlags(dev, { tilt: tilted, fire: burning });
    },
    actions: {
      collect() {
        fill = 0;
        collections = (collections + 1) % 0x10000;
      },
      fill(_dev, arg) {
        fill = clamp(numberArg('fill', arg), 0, 100);
      },
      tilt(_dev, arg) {
        tilted = boolArg('tilt', arg);
      },
      fire(_dev, arg) {
        burning = boolArg('fire', arg);
      },
    },
  };
}
