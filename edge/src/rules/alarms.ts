import {
  bindDevice,
  compileCondition,
  type Compiled,
  type ConditionContext,
  type DepKey,
} from './conditions.js';
import type { AlarmEffect, AlarmRule, DutyMember, Severity } from './types.js';

/** One alarm instance: an alarm rule bound to one device (or to none). */
export interface AlarmUnit {
  kind: 'alarm';
  key: string;
  rule: AlarmRule;
  device?: string;
  raise: Compiled;
  clear: Compiled | undefined;
  deps: Set<DepKey>;
  active: boolean;
  pendingSince: number | undefined;
}

export function compileAlarms(rules: readonly AlarmRule[]): AlarmUnit[] {
  const out: AlarmUnit[] = [];
  for (const rule of rules) {
    for (const device of rule.devices ?? [undefined]) {
      const deps = new Set<DepKey>();
      const raise = compileCondition(bindDevice(rule.raise, device), deps);
      const clear = rule.clear ? compileCondition(bindDevice(rule.clear, device), deps) : undefined;
      out.push({
        kind: 'alarm',
        key: device ? `${rule.id}:${device}` : rule.id,
        rule,
        device,
        raise,
        clear,
        deps,
        active: false,
        pendingSince: undefined,
      });
    }
  }
  return out;
}

export function alarmBody(
  alarm: string,
  key: string,
  severity: Severity,
  state: 'raised' | 'cleared',
  message: string,
  ts: number,
  device?: string,
): AlarmEffect {
  return { type: 'alarm', body: { alarm, key, ...(device ? { device } : {}), severity, state, message, ts } };
}

/**
 * Evaluate one alarm: raised once when its condition has held `forMs`, cleared once when the clear
 * condition holds (de-duplicated: repeated evaluations in the same state emit nothing). Returns the
 * effect (if any) and when to look again (pending `forMs`).
 */
export function stepAlarm(
  a: AlarmUnit,
  ctx: ConditionContext,
  now: number,
): { effect?: AlarmEffect; wakeAt?: number } {
  const { rule } = a;
  if (!a.active) {
    if (!a.raise(ctx)) {
      a.pendingSince = undefined;
      return {};
    }
    const forMs = rule.forMs ?? 0;
    a.pendingSince ??= now;
    if (now - a.pendingSince < forMs) return { wakeAt: a.pendingSince + forMs };
    a.active = true;
    a.pendingSince = undefined;
    return { effect: alarmBody(rule.id, a.key, rule.severity, 'raised', rule.message, now, a.device) };
  }
  const cleared = a.clear ? a.clear(ctx) : !a.raise(ctx);
  if (!cleared) return {};
  a.active = false;
  return { effect: alarmBody(rule.id, a.key, rule.severity, 'cleared', rule.message, now, a.device) };
}

/**
 * The alarm a duty/standby group raises when its running member faults and another takes over: it
 * clears once the faulted member's trip flags are all gone.
 */
export function takeoverWatcher(key: string, member: DutyMember): AlarmUnit {
  const faults = member.faults ?? [];
  return {
    kind: 'alarm',
    key,
    rule: {
      id: 'duty-takeover',
      severity: 'major',
      message: `${member.run} available again`,
      raise: { all: [] },
    },
    raise: () => true,
    clear: (ctx) => faults.every((f) => ctx.value(f) !== true),
    deps: new Set<DepKey>(faults.map((f) => `p:${f}`)),
    active: true,
    pendingSince: undefined,
  };
}
