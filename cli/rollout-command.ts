import type { RolloutSpec, RolloutState, WaveSize, WaveSummary } from '../fleet/src/rollout/types.js';
import { intOption, UsageError, type Command } from './args.js';
import { fleetUrl, requestJson } from './fleet-client.js';
import { table } from './format.js';

type View = RolloutState & { summary: WaveSummary[] };
const FINAL = new Set(['completed', 'halted', 'aborted']);

/** `30s`, `15m`, `2h` or milliseconds. */
export function parseDuration(name: string, v: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v);
  if (!m) throw new UsageError(`--${name}: expected a duration like 90s, 15m or 2h, got '${v}'`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
}

/** `2,25%,100%` → a canary of 2, then 25 % of the fleet, then the rest. */
export function parseWaves(v: string): WaveSize[] {
  return v.split(',').map((part) => {
    const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(part.trim());
    if (!m || Number(m[1]) <= 0 || (m[2] && Number(m[1]) > 100) || (!m[2] && !Number.isInteger(Number(m[1]))))
      throw new UsageError(
        `--waves: '${part}' is neither a gateway count nor a percentage (e.g. 2,25%,100%)`,
      );
    return m[2] ? { percent: Number(m[1]) } : { count: Number(m[1]) };
  });
}

export function parseTarget(v: string): RolloutSpec['target'] {
  if (v === 'all') return { kind: 'all' };
  const m = /^(group|tag):(.+)$/.exec(v);
  if (!m) throw new UsageError(`--target: expected all, group:NAME or tag:NAME, got '${v}'`);
  return m[1] === 'group' ? { kind: 'group', group: m[2]! } : { kind: 'tag', tag: m[2]! };
}

function bar(w: WaveSummary, width = 30): string {
  const part = (n: number) => Math.round((n / w.total) * width);
  const ok = part(w.committed);
  const bad = Math.min(width - ok, part(w.failed));
  const busy = Math.min(width - ok - bad, part(w.updating));
  return `[${'█'.repeat(ok)}${'x'.repeat(bad)}${'▒'.repeat(busy)}${'·'.repeat(width - ok - bad - busy)}]`;
}

/** One rollout as text: a header line and a progress bar per wave. */
export function renderRollout(s: View): string {
  const n = Object.keys(s.gateways).length;
  const t = s.spec.target;
  const target = t.kind === 'all' ? 'whole fleet' : t.kind === 'group' ? `group ${t.group}` : `tag ${t.tag}`;
  const lines = [
    `rollout ${s.id}  release ${s.spec.version}  ${s.status.toUpperCase()}  ${target}, ${n} gateway(s)` +
      (s.spec.window ? `, window ${s.spec.window.from}-${s.spec.window.to}` : ''),
  ];
  if (s.reason) lines.push(`  ${s.reason}`);
  const width = Math.max(...s.summary.map((w) => w.name.length));
  for (const w of s.summary)
    lines.push(
      `  ${w.name.padEnd(width)} ${bar(w)} ${String(w.committed).padStart(3)}/${w.total} committed` +
        `${w.updating ? `, ${w.updating} updating` : ''}${w.failed ? `, ${w.failed} failed` : ''}  ${w.state}`,
    );
  const failures = Object.entries(s.gateways).filter(([, g]) => g.status !== 'committed' && g.reason);
  for (const [id, g] of failures.slice(0, 10)) lines.push(`  ${id}: ${g.status} — ${g.reason}`);
  return lines.join('\n');
}

export const rolloutCommand: Command = {
  name: 'rollout',
  summary: 'staged fleet updates: create, watch, pause, resume, abort',
  usage: [
    'rollout create --version V [--target all|group:G|tag:T] [--waves 2,25%] [--success PCT] [--max-failures N]',
    '                [--timeout 30m] [--max-in-flight N] [--window HH:MM-HH:MM --utc-offset MIN] [--pilot-zone Z]',
    '       citygate rollout list',
    '       citygate rollout status [ID] [--watch] [--interval MS]',
    '       citygate rollout pause|resume|abort ID [--reason TEXT]',
  ].join('\n'),
  options: {
    fleet: { type: 'string' },
    version: { type: 'string' },
    target: { type: 'string' },
    waves: { type: 'string' },
    success: { type: 'string' },
    'max-failures': { type: 'string' },
    timeout: { type: 'string' },
    'max-in-flight': { type: 'string' },
    window: { type: 'string' },
    'utc-offset': { type: 'string' },
    'pilot-zone': { type: 'string' },
    watch: { type: 'boolean', short: 'w' },
    interval: { type: 'string' },
    reason: { type: 'string' },
  },
  help: {
    fleet: 'fleet URL (default $CITYGATE_FLEET_URL or http://127.0.0.1:8080)',
    version: 'create: release version to install',
    target: 'create: all (default), group:NAME or tag:NAME',
    waves: 'create: wave sizes, first is the canary (default 1,10%,50%; the rest follow in a last wave)',
    success: 'create: percent of a wave that must commit to go on (default 100)',
    'max-failures': 'create: failed gateways that halt the whole rollout (default 1)',
    timeout: 'create: per-gateway time to finish, e.g. 20m (default 30m)',
    'max-in-flight': 'create: gateways updating at once (default: a whole wave)',
    window: 'create: local time when updates may start, e.g. 22:00-05:00',
    'utc-offset': 'create: minutes local time is ahead of UTC (default 420, Hà Nội)',
    'pilot-zone': 'create: update this zone first, then pause for a person to resume',
    watch: 'status: redraw until the rollout ends',
    interval: 'status --watch: refresh period in ms (default 1000)',
    reason: 'abort/pause: why (kept with the rollout)',
  },
  async run(values, positionals) {
    const base = fleetUrl(values);
    const [sub, id] = positionals;
    const needId = () => {
      if (!id) throw new UsageError(`rollout ${sub}: missing ID. Run 'citygate rollout list' to see them.`);
      return encodeURIComponent(id);
    };
    switch (sub) {
      case 'create': {
        if (typeof values.version !== 'string') throw new UsageError('rollout create: missing --version');
        const spec: RolloutSpec = {
          version: values.version,
          target: parseTarget(typeof values.target === 'string' ? values.target : 'all'),
          waves: parseWaves(typeof values.waves === 'string' ? values.waves : '1,10%,50%'),
          successThresholdPercent: intOption(values, 'success', 100, 0, 100),
          maxFailures: intOption(values, 'max-failures', 1, 1, 100000),
          gatewayTimeoutMs: parseDuration(
            'timeout',
            typeof values.timeout === 'string' ? values.timeout : '30m',
          ),
        };
        if (values['max-in-flight'] !== undefined)
          spec.maxInFlight = intOption(values, 'max-in-flight', 1, 1, 100000);
        if (typeof values['pilot-zone'] === 'string') spec.pilotZone = values['pilot-zone'];
        if (typeof values.window === 'string') {
          const m = /^(\d\d:\d\d)-(\d\d:\d\d)$/.exec(values.window);
          if (!m) throw new UsageError(`--window: expected HH:MM-HH:MM, got '${values.window}'`);
          spec.window = { from: m[1]!, to: m[2]!, utcOffsetMinutes: Number(values['utc-offset'] ?? 420) };
        }
        const r = await requestJson<{ rollout: View }>(base, 'POST', '/api/v1/rollouts', spec);
        console.log(renderRollout(r.rollout));
        return 0;
      }
      case 'list': {
        const r = await requestJson<{ rollouts: View[] }>(base, 'GET', '/api/v1/rollouts');
        console.log(
          table(
            ['ID', 'RELEASE', 'STATUS', 'GATEWAYS', 'COMMITTED', 'FAILED'],
            r.rollouts.map((s) => [
              s.id,
              s.spec.version,
              s.status,
              Object.keys(s.gateways).length,
              s.summary.reduce((n, w) => n + w.committed, 0),
              s.summary.reduce((n, w) => n + w.failed, 0),
            ]),
          ),
        );
        return 0;
      }
      case 'status': {
        const fetchOne = async (): Promise<View> => {
          if (id)
            return (await requestJson<{ rollout: View }>(base, 'GET', `/api/v1/rollouts/${needId()}`))
              .rollout;
          const all = (await requestJson<{ rollouts: View[] }>(base, 'GET', '/api/v1/rollouts')).rollouts;
          if (!all[0]) throw new UsageError('no rollouts yet');
          return all[0];
        };
        const every = intOption(values, 'interval', 1000, 50, 600_000);
        const tty = process.stdout.isTTY === true;
        let last = '';
        for (;;) {
          const s = await fetchOne();
          const text = renderRollout(s);
          if (text !== last) {
            process.stdout.write(
              tty && values.watch && last ? `\x1b[${last.split('\n').length}F\x1b[J${text}\n` : `${text}\n`,
            );
            last = text;
          }
          if (!values.watch || FINAL.has(s.status)) return s.status === 'halted' ? 1 : 0;
          await new Promise((r) => setTimeout(r, every));
        }
      }
      case 'pause':
      case 'resume':
      case 'abort': {
        const r = await requestJson<{ rollout: View }>(
          base,
          'POST',
          `/api/v1/rollouts/${needId()}/${sub}`,
          typeof values.reason === 'string' ? { reason: values.reason } : {},
        );
        console.log(renderRollout(r.rollout));
        return 0;
      }
      default:
        throw new UsageError(
          `expected create, list, status, pause, resume or abort, got '${sub ?? ''}'. Run 'citygate rollout --help' for usage.`,
        );
    }
  },
};
