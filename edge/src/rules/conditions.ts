import type { Condition, Op, Ref, Value } from './types.js';

/** What a condition can look at; unknown points make a comparison false. */
export interface ConditionContext {
  value(ref: Ref): Value | undefined;
  desired(ref: Ref): Value | undefined;
  night(): boolean;
}

export type Compiled = (ctx: ConditionContext) => boolean;

/** Dependency keys: `p:<ref>` a reading, `d:<ref>` a commanded value, `sun` day/night. */
export type DepKey = string;

function compare(a: Value | undefined, op: Op, b: Value): boolean {
  if (a === undefined) return false;
  if (typeof a === 'boolean' || typeof b === 'boolean') {
    const x = Boolean(a);
    const y = Boolean(b);
    return op === '==' ? x === y : op === '!=' ? x !== y : false;
  }
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
  }
}

/** Replace `$.` in refs by `device.` (alarms expanded per device). */
export function bindDevice(c: Condition, device: string | undefined): Condition {
  const fix = (ref: Ref): Ref => (device && ref.startsWith('$.') ? `${device}${ref.slice(1)}` : ref);
  if ('point' in c) return { ...c, point: fix(c.point) };
  if ('desired' in c) return { ...c, desired: fix(c.desired) };
  if ('all' in c) return { all: c.all.map((x) => bindDevice(x, device)) };
  if ('any' in c) return { any: c.any.map((x) => bindDevice(x, device)) };
  if ('not' in c) return { not: bindDevice(c.not, device) };
  return c;
}

export function compileCondition(c: Condition, deps: Set<DepKey>): Compiled {
  if ('point' in c) {
    const { point, op, value } = c;
    deps.add(`p:${point}`);
    return (ctx) => compare(ctx.value(point), op, value);
  }
  if ('desired' in c) {
    const { desired, op, value } = c;
    deps.add(`d:${desired}`);
    return (ctx) => compare(ctx.desired(desired), op, value);
  }
  if ('sun' in c) {
    deps.add('sun');
    const want = c.sun === 'night';
    return (ctx) => ctx.night() === want;
  }
  if ('all' in c) {
    const parts = c.all.map((x) => compileCondition(x, deps));
    return (ctx) => parts.every((f) => f(ctx));
  }
  if ('any' in c) {
    const parts = c.any.map((x) => compileCondition(x, deps));
    return (ctx) => parts.some((f) => f(ctx));
  }
  const inner = compileCondition(c.not, deps);
  return (ctx) => !inner(ctx);
}

/** Every ref a condition reads (for validation). */
export function conditionRefs(c: Condition, out: Ref[] = []): Ref[] {
  if ('point' in c) out.push(c.point);
  else if ('desired' in c) out.push(c.desired);
  else if ('all' in c) c.all.forEach((x) => conditionRefs(x, out));
  else if ('any' in c) c.any.forEach((x) => conditionRefs(x, out));
  else if ('not' in c) conditionRefs(c.not, out);
  return out;
}
