import { CityGateError, errorMessage } from '../common/errors.js';
import { openGpioBackend } from '../edge/src/gpio/onoff-backend.js';
import {
  bcmMapping,
  DEFAULT_SYSFS_ROOT,
  gpioAccessProblem,
  listChips,
  type BcmMapping,
} from '../edge/src/gpio/sysfs.js';
import type { BinaryValue, Edge, GpioBackend, GpioLine } from '../edge/src/gpio/types.js';
import { intOption, untilSignal, UsageError, type Command } from './args.js';

/** What the gpio command needs from the outside world; tests swap in a fake board. */
export interface GpioCliDeps {
  openBackend(sysfsRoot: string): Promise<GpioBackend>;
  print(line: string): void;
  now(): number;
  /** Resolves when `watch` should stop (default: SIGINT/SIGTERM). */
  untilStopped(): Promise<unknown>;
}

const defaultDeps: GpioCliDeps = {
  openBackend: (sysfsRoot) => openGpioBackend({ sysfsRoot }),
  print: (line) => console.log(line),
  now: () => Date.now(),
  untilStopped: untilSignal,
};

const MAX_BCM = 53;
const EDGES: readonly Edge[] = ['none', 'rising', 'falling', 'both'];
const SUBCOMMANDS = 'read PIN | write PIN 0|1 | watch PIN | map [PIN]';

function usage(message: string): UsageError {
  return new UsageError(`${message}\nRun 'citygate gpio --help' for usage.`);
}

function parsePin(raw: string | undefined): number {
  if (raw === undefined) throw usage('missing PIN (a BCM GPIO number, e.g. 17)');
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_BCM)
    throw usage(`PIN: expected a BCM GPIO number from 0 to ${MAX_BCM}, got '${raw}'`);
  return Number(raw);
}

function parseValue(raw: string | undefined): BinaryValue {
  if (raw === undefined) throw usage('missing VALUE (0 or 1)');
  if (raw !== '0' && raw !== '1') throw usage(`VALUE: expected 0 or 1, got '${raw}'`);
  return raw === '1' ? 1 : 0;
}

function parseEdge(raw: unknown): Exclude<Edge, 'none'> {
  const e = (raw ?? 'both') as Edge;
  if (!EDGES.includes(e) || e === 'none')
    throw usage(`--edge: expected rising, falling or both, got '${String(raw)}'`);
  return e;
}

function noMore(rest: string[]): void {
  if (rest.length) throw usage(`unexpected argument '${rest[0]}'`);
}

const wire = (v: BinaryValue) => (v === 1 ? '1 (high)' : '0 (low)');
/** Wire level from an onoff value: undo the pin's active_low, whoever set it. */
const toWire = (line: GpioLine, v: BinaryValue): BinaryValue =>
  line.activeLow() ? ((v ^ 1) as BinaryValue) : v;

/**
 * `citygate gpio`: a technician's look at the gateway's own GPIO header, in BCM numbers and wire
 * levels. Pins another program (the gateway) already exported are read without being reconfigured
 * and are left exported; pins this command exports for a read or watch are unexported again.
 */
export function createGpioCommand(overrides: Partial<GpioCliDeps> = {}): Command {
  const deps: GpioCliDeps = { ...defaultDeps, ...overrides };

  async function read(root: string, bcm: number): Promise<number> {
    const backend = await deps.openBackend(root);
    const n = backend.gpioNumber(bcm);
    const already = backend.exportedDirection(n);
    const line = new backend.Gpio(n, already ?? 'in', undefined, { reconfigureDirection: false });
    try {
      const v = toWire(line, line.readSync());
      deps.print(`${backend.describe(bcm)} ${already ?? 'in'}put: ${wire(v)}`);
    } finally {
      if (!already) line.unexport();
    }
    return 0;
  }

  async function write(root: string, bcm: number, value: BinaryValue): Promise<number> {
    const backend = await deps.openBackend(root);
    const n = backend.gpioNumber(bcm);
    const already = backend.exportedDirection(n);
    if (already === 'in')
      throw new CityGateError(
        'gpio-busy',
        `${backend.describe(bcm)} is exported as an input (by the gateway or another program); refusing to drive it. ` +
          `Unexport it first if it really is an output: echo ${n} > ${root}/unexport`,
      );
    if (already === 'out') {
      const line = new backend.Gpio(n, 'out', undefined, { reconfigureDirection: false });
      line.writeSync(line.activeLow() ? ((value ^ 1) as BinaryValue) : value);
    } else {
      // "high"/"low" set the output and its level in one step: no glitch through the other level.
      new backend.Gpio(n, value === 1 ? 'high' : 'low');
    }
    deps.print(`${backend.describe(bcm)} output: set to ${wire(value)}; left exported as an output`);
    return 0;
  }

  async function watch(root: string, bcm: number, edge: Exclude<Edge, 'none'>, debounceMs: number) {
    const backend = await deps.openBackend(root);
    const n = backend.gpioNumber(bcm);
    const already = backend.exportedDirection(n);
    if (already === 'out')
      throw new CityGateError(
        'gpio-busy',
        `${backend.describe(bcm)} is an output: there are no edges to watch (use 'read')`,
      );
    // Interrupts on both edges, filtered here by wire level: sysfs edges are logical (active-low
    // swaps them), and narrowing the shared edge file would hide edges from a gateway watching the
    // same pin (onoff filters by its own setting, so widening it to both is harmless).
    const line = new backend.Gpio(n, 'in', 'both', {
      debounceTimeout: debounceMs,
      reconfigureDirection: false,
    });
    const show = (v: BinaryValue) =>
      deps.print(`${new Date(deps.now()).toISOString()}  BCM ${bcm} = ${wire(v)}`);
    let changes = 0;
    try {
      deps.print(
        `watching ${backend.describe(bcm)}: edge ${edge}, debounce ${debounceMs} ms; Ctrl-C to stop`,
      );
      show(toWire(line, line.readSync()));
      line.watch((err, value) => {
        if (err) return deps.print(`error: ${errorMessage(err)}`);
        const v = toWire(line, value);
        if ((edge === 'rising' && v === 0) || (edge === 'falling' && v === 1)) return;
        changes++;
        show(v);
      });
      await deps.untilStopped();
    } finally {
      line.unwatchAll();
      if (!already) line.unexport();
    }
    deps.print(`stopped after ${changes} edge${changes === 1 ? '' : 's'}`);
    return 0;
  }

  function map(root: string, bcm: number | undefined): number {
    const chips = listChips(root);
    if (!chips.length) {
      const problem = gpioAccessProblem(root);
      throw new CityGateError(
        problem ? 'gpio-unavailable' : 'gpio-unmapped',
        problem ? `GPIO is not accessible: ${problem}` : `no gpiochip* entries under ${root}`,
      );
    }
    let mapping: BcmMapping | undefined;
    let why = '';
    try {
      mapping = bcmMapping(root);
    } catch (err) {
      why = errorMessage(err);
    }
    deps.print(`GPIO chips under ${root}:`);
    for (const c of chips) {
      const mark = c.name === mapping?.chip.name ? '  <- BCM header pins' : '';
      deps.print(
        `  ${c.name.padEnd(12)} base ${String(c.base).padEnd(5)} ngpio ${String(c.ngpio ?? '?').padEnd(4)} ${c.label}${mark}`,
      );
    }
    if (!mapping) throw new CityGateError('gpio-unmapped', why);
    if (bcm !== undefined) deps.print(`BCM ${bcm} = sysfs ${mapping.toSysfs(bcm)}`);
    else deps.print(`BCM n = sysfs ${mapping.chip.base} + n`);
    return 0;
  }

  return {
    name: 'gpio',
    summary: "read, set and watch the gateway's own GPIO pins (BCM numbers, wire levels)",
    usage:
      'gpio read PIN | gpio write PIN 0|1 | gpio watch PIN [--edge both] [--debounce MS] | gpio map [PIN]',
    options: {
      edge: { type: 'string' },
      debounce: { type: 'string' },
      sysfs: { type: 'string' },
    },
    help: {
      edge: 'watch: rising | falling | both (default both), in wire levels',
      debounce: 'watch: report an edge once the level was stable this many ms (default 0)',
      sysfs: `GPIO sysfs directory (default ${DEFAULT_SYSFS_ROOT}); PIN is a BCM number, mapped from its gpiochips`,
    },
    async run(values, positionals) {
      const [sub, ...rest] = positionals;
      const root = typeof values.sysfs === 'string' ? values.sysfs : DEFAULT_SYSFS_ROOT;
      if (sub !== 'watch' && (values.edge !== undefined || values.debounce !== undefined))
        throw usage('--edge and --debounce apply to watch only');
      switch (sub) {
        case 'read': {
          const pin = parsePin(rest[0]);
          noMore(rest.slice(1));
          return read(root, pin);
        }
        case 'write': {
          const pin = parsePin(rest[0]);
          const value = parseValue(rest[1]);
          noMore(rest.slice(2));
          return write(root, pin, value);
        }
        case 'watch': {
          const pin = parsePin(rest[0]);
          noMore(rest.slice(1));
          const edge = parseEdge(values.edge);
          return watch(root, pin, edge, intOption(values, 'debounce', 0, 0, 60_000));
        }
        case 'map': {
          const pin = rest[0] === undefined ? undefined : parsePin(rest[0]);
          noMore(rest.slice(1));
          return map(root, pin);
        }
        case undefined:
          throw usage(`missing subcommand: ${SUBCOMMANDS}`);
        default:
          throw usage(`unknown subcommand '${sub}' (expected ${SUBCOMMANDS})`);
      }
    },
  };
}

export const gpioCommand = createGpioCommand();
