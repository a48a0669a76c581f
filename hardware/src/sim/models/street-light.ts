import type { SimModel } from './index.js';

/**
 * LED street light: power follows the dim level while switched on and no lamp fault; energy and
 * burning hours integrate over time. Starts switched on at 100 %.
 */
export function streetLight(): SimModel {
  let rated = 120;
  let energyWh = 0;
  let burningMs = 0;
  return {
    init(dev, params) {
      rated = typeof params.ratedPowerW === 'number' ? params.ratedPowerW : rated;
      const supply = typeof params.supplyV === 'number' ? params.supplyV : 230;
      dev.setRaw('voltage', supply);
      dev.setRaw('on', true);
      dev.setRaw('dim', 100);
    },
    step(dev, dtMs) {
      const on = dev.get('on') === true;
      const faulty = dev.get('lamp-fault') === true || dev.get('driver-fault') === true;
      const dim = Number(dev.get('dim'));
      const power = on && !faulty ? (rated * dim) / 100 : 0;
      energyWh += (power * dtMs) / 3_600_000;
      if (power > 0) burningMs += dtMs;
      dev.setRaw('power', power);
      dev.setRaw('energy', Math.floor(energyWh) / 1000);
      dev.setRaw('burning-hours', Math.floor(burningMs / 36_000) / 100);
    },
  };
}
