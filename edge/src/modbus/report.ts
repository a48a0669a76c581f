import type { PointDef } from '../../../hardware/src/profile.js';

/**
 * Which freshly read values to report, per point: at the point's own period, or sooner when the
 * value moved beyond its deadband (any change for a boolean). Pure apart from its memory of the
 * last reported value and time.
 */
export class ReportFilter {
  private readonly last = new Map<string, { value: number | boolean; at: number }>();

  shouldReport(
    key: string,
    p: PointDef,
    periodMs: number,
    value: number | boolean,
    now: number,
    slackMs = 0,
  ): boolean {
    const prev = this.last.get(key);
    let report = !prev || now - prev.at >= periodMs - slackMs;
    if (!report && prev) {
      if (typeof value === 'boolean' || typeof prev.value === 'boolean') report = value !== prev.value;
      else if (p.deadband !== undefined) report = Math.abs(value - prev.value) > p.deadband;
      else if (Number.isNaN(value) !== Number.isNaN(prev.value)) report = true;
    }
    if (report) this.last.set(key, { value, at: now });
    return report;
  }
}
