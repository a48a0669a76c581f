/**
 * Outdoor illuminance over a day, deterministic: a sine arc between sunrise and sunset, never
 * below the sunrise level during the day, and an exponential twilight fade outside it down to a
 * night floor. Roughly right for what a street-light photocell sees (switching happens at 10-50 lx).
 */
export interface DayCurve {
  sunriseHour: number;
  sunsetHour: number;
  peakLux: number;
  nightLux: number;
}

const SUNRISE_LUX = 400;
const TWILIGHT_FADE_MIN = 8;

/** Illuminance at `hour` (any real number; taken modulo 24). */
export function daylightLux(hour: number, c: DayCurve): number {
  const h = ((hour % 24) + 24) % 24;
  const dayLen = c.sunsetHour - c.sunriseHour;
  if (h >= c.sunriseHour && h <= c.sunsetHour) {
    return Math.max(c.peakLux * Math.sin((Math.PI * (h - c.sunriseHour)) / dayLen), SUNRISE_LUX);
  }
  // Minutes from the nearest of sunset (evening) or sunrise (morning, possibly tomorrow's).
  const afterSunset = (h - c.sunsetHour + 24) % 24;
  const beforeSunrise = (c.sunriseHour - h + 24) % 24;
  const minutes = Math.min(afterSunset, beforeSunrise) * 60;
  return Math.max(SUNRISE_LUX * Math.exp(-minutes / TWILIGHT_FADE_MIN), c.nightLux);
}
