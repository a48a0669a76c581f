/**
 * npm run bench:rules
 * 1,000 threshold rules (hysteresis, minimum run time, start cap) over 500 points on 50 devices, run
 * through the real RuleRunner (engine + effects shell) with a synchronous write function:
 * - latency from a point change (readings() called) to the write being issued, p50/p99;
 * - point changes processed per second and rules evaluated per second.
 * Baseline, measured in the same run: a naive loop that re-evaluates every rule on every reading
 * (same threshold semantics, no dependency index), as a hand-written controller or a flow that
 * re-checks everything per message would.
 */
import { FakeClock } from '../common/clock.js';
import { RuleRunner } from '../edge/src/rules/runner.js';
import type { ThresholdRule } from '../edge/src/rules/types.js';
import { printTable, type Row } from './table.js';

const POINTS = 500;
const RULES = 1000;
const DEVICES = 50;
const CHANGES = 20_000;

const pointRef = (i: number) => `dev-${i % DEVICES}.p-${Math.floor(i / DEVICES)}`;
const rules: ThresholdRule[] = Array.from({ length: RULES }, (_, i) => ({
  id: `r-${i}`,
  kind: 'threshold',
  input: pointRef(i % POINTS),
  high: 2 + (i % 3) * 0.1,
  low: 0.5,
  minOnMs: 0,
  maxStartsPerHour: 1_000_000,
  whenOn: { [`out-${i % 100}.o-${Math.floor(i / 100)}`]: true },
  whenOff: { [`out-${i % 100}.o-${Math.floor(i / 100)}`]: false },
}));

/** A reading stream: each change flips one point across both thresholds (so a write follows). */
function stream(n: number): { device: string; point: string; value: number }[] {
  const level = new Array<number>(POINTS).fill(1);
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  return Array.from({ length: n }, () => {
    const i = Math.floor(rnd() * POINTS);
    level[i] = level[i]! > 1 ? 0.2 : 3;
    const [device, point] = pointRef(i).split('.') as [string, string];
    return { device, point, value: level[i]! };
  });
}

interface Result {
  lat: number[];
  changesPerS: number;
}

/** All 500 points flip at once, `rounds` times: every rule is evaluated once per round. */
function sweeps(rounds: number): { device: string; point: string; value: number }[][] {
  return Array.from({ length: rounds }, (_, k) =>
    Array.from({ length: POINTS }, (_, i) => {
      const [device, point] = pointRef(i).split('.') as [string, string];
      return { device, point, value: k % 2 ? 0.2 : 3 };
    }),
  );
}

function oursSweep(batches: ReturnType<typeof sweeps>): number {
  const clock = new FakeClock();
  const runner = new RuleRunner({ rules }, { clock, write: () => Promise.resolve(), emit: () => {} });
  runner.start();
  const t0 = performance.now();
  for (const b of batches) {
    clock.advance(1);
    runner.readings(b);
  }
  return (batches.length * RULES) / ((performance.now() - t0) / 1000);
}

function naiveSweep(batches: ReturnType<typeof sweeps>): number {
  const values = new Map<string, number>();
  const on = new Array<boolean>(RULES).fill(false);
  const commanded = new Map<string, boolean>();
  let writes = 0;
  const t0 = performance.now();
  for (const b of batches) {
    for (const c of b) values.set(`${c.device}.${c.point}`, c.value);
    rules.forEach((r, i) => {
      const v = values.get(r.input)!;
      on[i] = on[i] ? v > r.low : v >= r.high;
      const [ref, val] = Object.entries(on[i] ? r.whenOn! : r.whenOff!)[0]!;
      if (commanded.get(ref) !== val) {
        commanded.set(ref, val as boolean);
        writes++;
      }
    });
  }
  if (writes === 0) throw new Error('baseline sweep wrote nothing');
  return (batches.length * RULES) / ((performance.now() - t0) / 1000);
}

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}

function ours(changes: ReturnType<typeof stream>): Result {
  const clock = new FakeClock();
  let wroteAt = 0;
  let writes = 0;
  const runner = new RuleRunner(
    { rules },
    {
      clock,
      write: () => {
        wroteAt = performance.now();
        writes++;
        return Promise.resolve();
      },
      emit: () => {},
    },
  );
  runner.start();
  const lat: number[] = [];
  const t0 = performance.now();
  for (const c of changes) {
    clock.advance(1);
    const before = writes;
    const t = performance.now();
    runner.readings([c]);
    if (writes > before) lat.push(wroteAt - t);
  }
  const s = (performance.now() - t0) / 1000;
  // Each point feeds RULES / POINTS rules: that is what one change evaluates.
  return { lat, changesPerS: changes.length / s };
}

/** The baseline: every rule, every reading. */
function naive(changes: ReturnType<typeof stream>): Result {
  const values = new Map<string, number>();
  const on = new Array<boolean>(RULES).fill(false);
  const changedAt = new Array<number>(RULES).fill(-Infinity);
  const commanded = new Map<string, boolean>();
  let wroteAt = 0;
  let writes = 0;
  const write = (_ref: string, _v: boolean) => {
    wroteAt = performance.now();
    writes++;
  };
  const lat: number[] = [];
  let now = 0;
  const t0 = performance.now();
  for (const c of changes) {
    now++;
    const before = writes;
    const t = performance.now();
    values.set(`${c.device}.${c.point}`, c.value);
    rules.forEach((r, i) => {
      const v = values.get(r.input);
      if (v === undefined) return;
      const want = on[i] ? v > r.low : v >= r.high;
      if (want !== on[i] && now - changedAt[i]! >= (on[i] ? (r.minOnMs ?? 0) : (r.minOffMs ?? 0))) {
        on[i] = want;
        changedAt[i] = now;
      }
      const [ref, val] = Object.entries(on[i] ? r.whenOn! : r.whenOff!)[0]!;
      if (commanded.get(ref) !== val) {
        commanded.set(ref, val as boolean);
        write(ref, val as boolean);
      }
    });
    if (writes > before) lat.push(wroteAt - t);
  }
  const s = (performance.now() - t0) / 1000;
  return { lat, changesPerS: changes.length / s };
}

const warm = stream(5000);
ours(warm);
naive(warm);
const changes = stream(CHANGES);
const o = ours(changes);
const n = naive(changes);
oursSweep(sweeps(10));
naiveSweep(sweeps(10));
const oRules = oursSweep(sweeps(100));
const nRules = naiveSweep(sweeps(100));
const us = (ms: number) => ms * 1000;
const rows: Row[] = [
  {
    metric: 'change → write p50',
    ours: us(quantile(o.lat, 0.5)),
    baseline: us(quantile(n.lat, 0.5)),
    unit: 'µs',
    better: 'lower',
  },
  {
    metric: 'change → write p99',
    ours: us(quantile(o.lat, 0.99)),
    baseline: us(quantile(n.lat, 0.99)),
    unit: 'µs',
    better: 'lower',
    goal: '< 1,000 µs',
  },
  {
    metric: 'point changes handled',
    ours: o.changesPerS,
    baseline: n.changesPerS,
    unit: '/s',
    better: 'higher',
  },
  {
    metric: 'rules evaluated (all points change)',
    ours: oRules,
    baseline: nRules,
    unit: '/s',
    better: 'higher',
  },
];
console.log(
  `${RULES} rules over ${POINTS} points on ${DEVICES} devices; ${CHANGES.toLocaleString('en')} point changes, ${o.lat.length.toLocaleString('en')} with a write`,
);
printTable('bench:rules (baseline: re-evaluate every rule on every reading)', rows);
console.log(
  'Rules evaluated/s: all 500 points flip in one batch, so each approach runs every rule once per batch; this is the cost per rule (ours also builds the actuation event with its reason, resolves interlocks/overrides and keeps timers).',
);
