import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../common/clock.js';
import { CityGateError } from '../../common/errors.js';
import { createGpioCommand } from '../../cli/gpio-command.js';
import { FakeGpioBoard } from '../../edge/src/gpio/fake.js';
import { LAYOUTS, makeSysfs } from '../edge/gpio/sysfs-layout.js';
import { tempDir } from '../helpers.js';
import { runCli } from './run-cli.js';

const dirs: { cleanup: () => void }[] = [];
afterEach(() => dirs.splice(0).forEach((d) => d.cleanup()));
function sysfs(chips: (typeof LAYOUTS)[keyof typeof LAYOUTS]): string {
  const d = tempDir('citygate-sysfs-');
  dirs.push(d);
  return makeSysfs(join(d.path, 'gpio'), chips);
}

describe('citygate gpio (spawned, on this machine without GPIO)', () => {
  it('read, write and watch fail with exit code 1 and a message naming /sys/class/gpio', async () => {
    const runs = await Promise.all([
      runCli(['gpio', 'read', '17']),
      runCli(['gpio', 'write', '26', '1']),
      runCli(['gpio', 'watch', '17', '--edge', 'falling', '--debounce', '20']),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toBe(
        'citygate gpio: GPIO is not accessible: /sys/class/gpio does not exist: this kernel has no GPIO sysfs interface (CONFIG_GPIO_SYSFS) or this machine has no GPIO\n',
      );
      expect(r.stdout).toBe('');
    }
  });

  it('usage errors exit 2 and say what was wrong', async () => {
    const cases: [string[], string][] = [
      [['gpio'], 'missing subcommand: read PIN | write PIN 0|1 | watch PIN | map [PIN]'],
      [['gpio', 'blink', '17'], "unknown subcommand 'blink'"],
      [['gpio', 'read'], 'missing PIN (a BCM GPIO number, e.g. 17)'],
      [['gpio', 'read', 'GPIO17'], "PIN: expected a BCM GPIO number from 0 to 53, got 'GPIO17'"],
      [['gpio', 'read', '54'], "PIN: expected a BCM GPIO number from 0 to 53, got '54'"],
      [['gpio', 'write', '26'], 'missing VALUE (0 or 1)'],
      [['gpio', 'write', '26', 'on'], "VALUE: expected 0 or 1, got 'on'"],
      [['gpio', 'write', '26', '1', '0'], "unexpected argument '0'"],
      [['gpio', 'watch', '17', '--edge', 'up'], "--edge: expected rising, falling or both, got 'up'"],
      [
        ['gpio', 'watch', '17', '--debounce', 'soon'],
        "--debounce: expected an integer from 0 to 60000, got 'soon'",
      ],
      [['gpio', 'read', '17', '--edge', 'both'], '--edge and --debounce apply to watch only'],
      [['gpio', 'read', '17', '--pin', '4'], "Unknown option '--pin'"],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(args)));
    runs.forEach((r, i) => {
      const [args, message] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toContain(`citygate gpio: ${message}`);
    });
  });

  it('is listed in citygate --help and documents its options', async () => {
    const [top, own] = await Promise.all([runCli(['--help']), runCli(['gpio', '--help'])]);
    expect(top.stdout).toMatch(/^ {2}gpio +read, set and watch/m);
    expect(own.code).toBe(0);
    expect(own.stdout).toContain('Usage: citygate gpio read PIN');
    for (const o of ['--edge', '--debounce', '--sysfs']) expect(own.stdout).toContain(o);
  });

  it('map --sysfs DIR shows the chips and the BCM mapping of a Pi 5 layout', async () => {
    const root = sysfs(LAYOUTS.pi5);
    const r = await runCli(['gpio', 'map', '17', '--sysfs', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`GPIO chips under ${root}:`);
    expect(r.stdout).toMatch(/gpiochip571 +base 571 +ngpio 54 +pinctrl-rp1 {2}<- BCM header pins/);
    expect(r.stdout).toMatch(/gpiochip512 +base 512 +ngpio 32 +gpio-brcmstb@107d508500\n/);
    expect(r.stdout).toContain('BCM 17 = sysfs 588');
  });

  it('map on an unknown board and on this machine fail clearly', async () => {
    const root = sysfs(LAYOUTS.other);
    const [other, here] = await Promise.all([
      runCli(['gpio', 'map', '--sysfs', root]),
      runCli(['gpio', 'map']),
    ]);
    expect(other.code).toBe(1);
    expect(other.stdout).toContain('209c000.gpio');
    expect(other.stderr).toContain(`cannot map BCM pin numbers under ${root}: no gpiochip labelled`);
    expect(here.code).toBe(1);
    expect(here.stderr).toContain('GPIO is not accessible: /sys/class/gpio does not exist');
  });

  it('read --sysfs DIR maps the pin but says onoff only drives /sys/class/gpio', async () => {
    const root = sysfs(LAYOUTS.pi4);
    const r = await runCli(['gpio', 'read', '17', '--sysfs', root]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`onoff drives /sys/class/gpio only, not ${root}`);
  });
});

describe('citygate gpio (in process, on a fake board)', () => {
  function setup() {
    const clock = new FakeClock();
    const board = new FakeGpioBoard(clock, { base: 512 });
    const out: string[] = [];
    let stop: () => void = () => undefined;
    let ready: () => void = () => undefined;
    const watching = new Promise<void>((r) => (ready = r));
    const cmd = createGpioCommand({
      openBackend: async () => board.backend(),
      print: (l) => out.push(l),
      now: () => clock.now(),
      untilStopped: () => {
        ready();
        return new Promise<void>((r) => (stop = r));
      },
    });
    return { clock, board, out, cmd, watching, stop: () => stop() };
  }

  it('read prints the wire level and unexports a pin it exported itself', async () => {
    const { board, out, cmd } = setup();
    board.setLevel(529, 1);
    await expect(cmd.run({}, ['read', '17'])).resolves.toBe(0);
    expect(out).toEqual(['BCM 17 (fake 529) input: 1 (high)']);
    expect(board.info(529).exported).toBe(false);
  });

  it("read leaves the gateway's active-low output alone and still prints the wire level", async () => {
    const { board, out, cmd } = setup();
    const gw = new board.Gpio(538, 'out', undefined, { activeLow: true });
    gw.writeSync(1); // logical on = wire low
    await cmd.run({}, ['read', '26']);
    expect(out).toEqual(['BCM 26 (fake 538) output: 0 (low)']);
    expect(board.info(538)).toMatchObject({ exported: true, direction: 'out', activeLow: true, level: 0 });
  });

  it('write sets the wire level and leaves the pin exported as an output', async () => {
    const { board, out, cmd } = setup();
    await cmd.run({}, ['write', '26', '1']);
    expect(board.info(538)).toMatchObject({ exported: true, direction: 'out', level: 1 });
    expect(out).toEqual(['BCM 26 (fake 538) output: set to 1 (high); left exported as an output']);
    new board.Gpio(538, 'out', undefined, { activeLow: true, reconfigureDirection: false });
    await cmd.run({}, ['write', '26', '0']);
    expect(board.level(538)).toBe(0); // wire level, whatever active_low the pin has
  });

  it('write refuses a pin exported as an input', async () => {
    const { board, cmd } = setup();
    new board.Gpio(517, 'in', 'both');
    const err = await cmd.run({}, ['write', '5', '1']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CityGateError);
    expect((err as CityGateError).code).toBe('gpio-busy');
    expect((err as Error).message).toContain('BCM 5 (fake 517) is exported as an input');
    expect(board.info(517).direction).toBe('in');
  });

  it('watch prints the level, then each debounced edge with its time, until stopped', async () => {
    const { board, clock, out, cmd, watching, stop } = setup();
    const done = cmd.run({ edge: 'both', debounce: '20' }, ['watch', '17']);
    await watching;
    const t0 = clock.now();
    board.setLevel(529, 1);
    clock.advance(5);
    board.setLevel(529, 0);
    clock.advance(5);
    board.setLevel(529, 1);
    clock.advance(20);
    board.setLevel(529, 0);
    clock.advance(20);
    stop();
    await expect(done).resolves.toBe(0);
    const iso = (t: number) => new Date(t).toISOString();
    expect(out).toEqual([
      'watching BCM 17 (fake 529): edge both, debounce 20 ms; Ctrl-C to stop',
      `${iso(t0)}  BCM 17 = 0 (low)`,
      `${iso(t0 + 30)}  BCM 17 = 1 (high)`,
      `${iso(t0 + 50)}  BCM 17 = 0 (low)`,
      'stopped after 2 edges',
    ]);
    expect(board.info(529).exported).toBe(false);
  });

  it('watch --edge rising means a rising wire even on a pin the gateway set active-low', async () => {
    const { board, out, cmd, watching, stop } = setup();
    const gw = new board.Gpio(528, 'in', 'falling', { activeLow: true });
    const gwSaw: number[] = [];
    gw.watch((_err, v) => gwSaw.push(v));
    const done = cmd.run({ edge: 'rising' }, ['watch', '16']);
    await watching;
    board.setLevel(528, 1);
    board.setLevel(528, 0);
    board.setLevel(528, 1);
    stop();
    await done;
    expect(out.slice(1).map((l) => l.replace(/^\S+ {2}/, ''))).toEqual([
      'BCM 16 = 0 (low)',
      'BCM 16 = 1 (high)',
      'BCM 16 = 1 (high)',
      'stopped after 2 edges',
    ]);
    expect(board.info(528)).toMatchObject({ exported: true, activeLow: true }); // not ours: left exported
    expect(gwSaw).toEqual([0, 0]); // the gateway still sees its own (logical falling) edges
  });

  it('watch refuses an exported output', async () => {
    const { board, cmd } = setup();
    new board.Gpio(538, 'low');
    await expect(cmd.run({}, ['watch', '26'])).rejects.toThrow('is an output: there are no edges to watch');
  });
});
