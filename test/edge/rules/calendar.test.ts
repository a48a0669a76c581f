import { describe, expect, it } from 'vitest';
import { Calendar, nextFiring, scheduleValue } from '../../../edge/src/rules/calendar.js';
import type { ScheduleRule } from '../../../edge/src/rules/types.js';
import { HANOI } from './fixtures.js';

const cal = new Calendar(HANOI);
/** Local (UTC+7, no daylight saving in Vietnam) wall-clock time → epoch ms. */
const ict = (y: number, m: number, d: number, hh: number, mm: number) => Date.UTC(y, m - 1, d, hh - 7, mm);
const hhmm = (t: number | null) => new Date(t! + 7 * 3_600_000).toISOString().slice(11, 16);

describe('sun times for Hanoi', () => {
  // Published almanac: timeanddate.com, "Sunrise and sunset times in Hanoi" (Hà Nội, UTC+7), rounded
  // to the minute; the US NOAA solar calculator gives the same minutes for 21.03 N 105.85 E.
  const almanac: [string, number, number, string, string][] = [
    ['2026-01-01', 1, 1, '06:33', '17:26'],
    ['2026-03-20', 3, 20, '06:01', '18:08'],
    ['2026-06-21', 6, 21, '05:16', '18:41'],
    ['2026-09-22', 9, 22, '05:45', '17:53'],
    ['2026-12-21', 12, 21, '06:29', '17:20'],
  ];
  const minutes = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));

  for (const [label, m, d, rise, set] of almanac) {
    it(`matches the almanac within 2 minutes on ${label}`, () => {
      const n = cal.dayOf(ict(2026, m, d, 12, 0)).n;
      const sun = cal.sun(n);
      expect(Math.abs(minutes(hhmm(sun.sunrise)) - minutes(rise))).toBeLessThanOrEqual(2);
      expect(Math.abs(minutes(hhmm(sun.sunset)) - minutes(set))).toBeLessThanOrEqual(2);
      // Civil twilight brackets the day.
      expect(sun.dawn!).toBeLessThan(sun.sunrise!);
      expect(sun.dusk!).toBeGreaterThan(sun.sunset!);
    });
  }

  it('knows night from day', () => {
    expect(cal.isNight(ict(2026, 6, 21, 12, 0))).toBe(false);
    expect(cal.isNight(ict(2026, 6, 21, 22, 0))).toBe(true);
    expect(cal.isNight(ict(2026, 6, 21, 3, 0))).toBe(true);
  });

  it('uses the gateway time zone for local days and clock times', () => {
    // 23:30 UTC on Jan 1 is already Jan 2 in Hanoi.
    expect(cal.dayOf(Date.UTC(2026, 0, 1, 23, 30))).toMatchObject({
      year: 2026,
      month: 1,
      day: 2,
      weekday: 'fri',
    });
    const berlin = new Calendar({ lat: 52.52, lon: 13.4, timeZone: 'Europe/Berlin' });
    // Summer time: 23:00 local on 2026-07-01 is 21:00 UTC; winter: 22:00 UTC.
    expect(berlin.localInstant(berlin.dayOf(Date.UTC(2026, 6, 1, 12)).n, 23 * 60)).toBe(
      Date.UTC(2026, 6, 1, 21),
    );
    expect(berlin.localInstant(berlin.dayOf(Date.UTC(2026, 0, 1, 12)).n, 23 * 60)).toBe(
      Date.UTC(2026, 0, 1, 22),
    );
  });
});

describe('schedule evaluation', () => {
  const lights: ScheduleRule = {
    id: 'lights',
    kind: 'schedule',
    devices: ['l'],
    entries: [
      { at: { sun: 'sunset' }, set: { on: true, dim: 100 } },
      { at: { time: '23:00' }, set: { dim: 50 } },
      { at: { time: '05:00' }, set: { dim: 100 } },
      { at: { sun: 'sunrise', offsetMin: 10 }, set: { on: false } },
    ],
  };

  it('gives the value of the latest entry that fired, per point, across midnight', () => {
    expect(scheduleValue(lights, 'on', ict(2026, 6, 21, 12, 0), cal)?.value).toBe(false);
    expect(scheduleValue(lights, 'on', ict(2026, 6, 21, 20, 0), cal)?.value).toBe(true);
    expect(scheduleValue(lights, 'dim', ict(2026, 6, 21, 20, 0), cal)?.value).toBe(100);
    expect(scheduleValue(lights, 'dim', ict(2026, 6, 22, 1, 0), cal)?.value).toBe(50);
    expect(scheduleValue(lights, 'on', ict(2026, 6, 22, 1, 0), cal)?.value).toBe(true);
    // Sunrise 05:16 + 10 min.
    expect(scheduleValue(lights, 'on', ict(2026, 6, 22, 5, 20), cal)?.value).toBe(true);
    expect(scheduleValue(lights, 'on', ict(2026, 6, 22, 5, 30), cal)?.value).toBe(false);
  });

  it('finds the next firing', () => {
    expect(hhmm(nextFiring(lights, ict(2026, 6, 21, 12, 0), cal))).toBe('18:40'); // 18:40:44;
    expect(hhmm(nextFiring(lights, ict(2026, 6, 21, 19, 0), cal))).toBe('23:00');
    expect(hhmm(nextFiring(lights, ict(2026, 6, 21, 23, 0), cal))).toBe('05:00');
  });

  it('honours weekdays, dates and exceptions', () => {
    const weekend: ScheduleRule = {
      id: 'w',
      kind: 'schedule',
      devices: ['l'],
      days: ['sat', 'sun'],
      except: ['2026-06-21'],
      entries: [{ at: { time: '08:00' }, set: { on: true } }],
    };
    // 2026-06-20 is a Saturday; the 21st (Sunday) is excepted; the next firing is Saturday 27th.
    expect(cal.dayOf(ict(2026, 6, 20, 12, 0)).weekday).toBe('sat');
    expect(scheduleValue(weekend, 'on', ict(2026, 6, 20, 7, 59), cal)?.at).not.toBe(ict(2026, 6, 20, 8, 0));
    expect(scheduleValue(weekend, 'on', ict(2026, 6, 21, 9, 0), cal)?.at).toBe(ict(2026, 6, 20, 8, 0));
    expect(nextFiring(weekend, ict(2026, 6, 20, 9, 0), cal)).toBe(ict(2026, 6, 27, 8, 0));
    const holiday: ScheduleRule = { ...weekend, days: undefined, except: undefined, dates: ['09-02'] };
    expect(nextFiring(holiday, ict(2026, 9, 1, 0, 0), cal)).toBe(ict(2026, 9, 2, 8, 0));
  });
});
