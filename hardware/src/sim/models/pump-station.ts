import { CityGateError } from '../../../../common/errors.js';
import type { SimDevice } from '../device.js';
import type { SimActionArg, SimModel } from './index.js';
import { clamp, numberArg, readParams, setFlags, setRegister } from './support.js';

const DEFAULTS = {
  /** Wet-well floor area; level changes by net inflow / area. */
  wellAreaM2: 7,
  /** The well overflows (level stops rising) here. */
  wellDepthM: 5,
  initialLevelM: 1.5,
  /** Sewage flowing in, m³/h. */
  inflowM3h: 20,
  /** Each pump's flow at rated frequency, m³/h; proportional to frequency (affinity law). */
  pumpCapacityM3h: 60,
  ratedHz: 50,
  /** VFD acceleration/deceleration ramp. */
  rampHzPerS: 5,
  initialSetpointHz: 45,
  /** Motor current at rated frequency; at lower speed the load share falls with frequency². */
  ratedCurrentA: 11.5,
  noLoadCurrentPct: 30,
  /** Dry-run protection trips a running pump below this level ... */
  lowLevelM: 0.4,
  /** ... and resets itself once the level has recovered to this. */
  dryRunResetM: 0.8,
  highLevelM: 4,
  /** The 4-20 mA level sensor spans 0 m (4 mA) to this (20 mA). */
  sensorSpanM: 5,
  /** Largest integration step when the model catches up with a long gap. */
  maxStepMs: 1000,
};

/** NAMUR NE43: a healthy 4-20 mA transmitter saturates at 3.8 and 20.5 mA. */
const SENSOR_MIN_UA = 3800;
const SENSOR_MAX_UA = 20_500;

interface Pump {
  n: 1 | 2;
  hz: number;
  running: boolean;
  dryRun: boolean;
  thermal: boolean;
  runMs: number;
}

/**
 * Sewage pump station with a wet well and two VFD-driven pumps. The well fills with the inflow and
 * drains while pumps run. A pump runs when commanded and not tripped (dry-run or thermal); its
 * drive ramps to the frequency setpoint, and flow and current follow the frequency. Dry-run
 * protection trips a running pump below the low level and resets itself when the level recovers;
 * a thermal trip stays until cleared.
 *
 * Actions: `inflow` (m³/h), `level` (m, e.g. to start a demo near the alarm), `thermal-trip`
 * (pump 1 or 2), `clear-faults`.
 */
export function pumpStation(): SimModel {
  let cfg = DEFAULTS;
  let level = DEFAULTS.initialLevelM;
  let inflow = DEFAULTS.inflowM3h;
  let outflow = 0;
  let pumpedM3 = 0;
  const pumps: Pump[] = [1, 2].map((n) => ({
    n: n as 1 | 2,
    hz: 0,
    running: false,
    dryRun: false,
    thermal: false,
    runMs: 0,
  }));

  /** What the bus has written: run commands and setpoints (constant during one step). */
  const commands = (dev: SimDevice): { run: boolean; hz: number }[] =>
    pumps.map((p) => ({
      run: dev.get(`pump${p.n}-run`) === true,
      hz: Number(dev.get(`pump${p.n}-freq-sp`)),
    }));

  const totalFlow = (): number =>
    pumps.reduce((sum, p) => sum + (cfg.pumpCapacityM3h * p.hz) / cfg.ratedHz, 0);

  /** Protections and run state at the present level (no time passes). */
  function settle(cmd: { run: boolean }[]): void {
    pumps.forEach((p, i) => {
      if (p.dryRun && level >= cfg.dryRunResetM) p.dryRun = false;
      p.running = cmd[i]!.run && !p.dryRun && !p.thermal;
      if (p.running && level < cfg.lowLevelM) {
        p.dryRun = true;
        p.running = false;
      }
      if (p.dryRun || p.thermal) p.hz = 0; // a tripped drive coasts, it does not ramp
    });
    outflow = totalFlow();
  }

  function advance(cmd: { run: boolean; hz: number }[], ms: number): void {
    settle(cmd);
    const s = ms / 1000;
    pumps.forEach((p, i) => {
      const target = p.running ? cmd[i]!.hz : 0;
      const dHz = cfg.rampHzPerS * s;
      p.hz = p.hz < target ? Math.min(target, p.hz + dHz) : Math.max(target, p.hz - dHz);
      if (p.hz > 0) p.runMs += ms;
    });
    outflow = totalFlow();
    level = clamp(level + ((inflow - outflow) * s) / 3600 / cfg.wellAreaM2, 0, cfg.wellDepthM);
    pumpedM3 += (outflow * s) / 3600;
  }

  function publish(dev: SimDevice): void {
    const ua = 4000 + (16_000 * level) / cfg.sensorSpanM;
    setRegister(dev, 'wet-well-level', clamp(ua, SENSOR_MIN_UA, SENSOR_MAX_UA));
    const noLoad = cfg.noLoadCurrentPct / 100;
    for (const p of pumps) {
      const speed = p.hz / cfg.ratedHz;
      dev.setRaw(`pump${p.n}-running`, p.running);
      dev.setRaw(`pump${p.n}-freq`, Math.round(p.hz * 10) / 10);
      dev.setRaw(
        `pump${p.n}-current`,
        p.hz > 0 ? cfg.ratedCurrentA * (noLoad + (1 - noLoad) * speed ** 2) : 0,
      );
      dev.setRaw(`pump${p.n}-run-hours`, Math.floor(p.runMs / 36_000) / 100);
    }
    setFlags(dev, {
      'pump1-dry-run': pumps[0]!.dryRun,
      'pump1-thermal-trip': pumps[0]!.thermal,
      'pump2-dry-run': pumps[1]!.dryRun,
      'pump2-thermal-trip': pumps[1]!.thermal,
      'high-level': level >= cfg.highLevelM,
    });
    dev.setRaw('flow-rate', outflow);
    dev.setRaw('pumped-volume', Math.floor(pumpedM3 * 10) / 10);
  }

  function pumpArg(action: string, arg: SimActionArg): Pump {
    const p = pumps.find((x) => x.n === arg);
    if (!p)
      throw new CityGateError(
        'invalid',
        `simulator action '${action}' needs pump 1 or 2, got ${String(arg)}`,
      );
    return p;
  }

  return {
    init(dev, params) {
      cfg = readParams('pump-station', DEFAULTS, params);
      level = clamp(cfg.initialLevelM, 0, cfg.wellDepthM);
      inflow = cfg.inflowM3h;
      dev.setRaw('pump1-freq-sp', cfg.initialSetpointHz);
      dev.setRaw('pump2-freq-sp', cfg.initialSetpointHz);
    },
    step(dev, dtMs) {
      const cmd = commands(dev);
      for (let left = dtMs; left > 0; left -= cfg.maxStepMs) advance(cmd, Math.min(left, cfg.maxStepMs));
      settle(cmd);
      publish(dev);
    },
    actions: {
      inflow(_dev, arg) {
        inflow = Math.max(0, numberArg('inflow', arg));
      },
      level(_dev, arg) {
        level = clamp(numberArg('level', arg), 0, cfg.wellDepthM);
      },
      'thermal-trip'(_dev, arg) {
        pumpArg('thermal-trip', arg).thermal = true;
      },
      'clear-faults'() {
        for (const p of pumps) {
          p.thermal = false;
          p.dryRun = false;
        }
      },
    },
  };
}
