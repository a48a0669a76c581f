import { afterEach, describe, expect, it } from 'vitest';
import { FakeServices } from './fake-services.js';
import { helper, load, nextError, nextMessage, until } from './red-helper.js';

const gw = { id: 'gw', type: 'citygate-gateway', name: 'gateway' };
const tab = (nodes: Record<string, unknown>[]): unknown[] => [gw, ...nodes];
const out = { id: 'out', type: 'helper' };

async function withServices(s: FakeServices, flow: unknown[]): Promise<void> {
  helper.settings({ citygate: { services: s } });
  await load(flow);
}

afterEach(async () => {
  await helper.unload();
});

describe('citygate-gateway', () => {
  it('subscribes while it has users and unsubscribes on close', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        { id: 'a', type: 'citygate-device-in', gateway: 'gw', wires: [[]] },
        { id: 'b', type: 'citygate-device-in', gateway: 'gw', wires: [[]] },
      ]),
    );
    const g = helper.getNode('gw') as unknown as { userCount(): number };
    expect(g.userCount()).toBe(2);
    expect(s.listeners()).toBe(2); // one readings + one device subscription for both users
    await helper.unload();
    expect(s.listeners()).toBe(0);
  });

  it('reports a missing gateway instead of opening anything', async () => {
    helper.settings({ citygate: undefined });
    await load(tab([{ id: 'a', type: 'citygate-device-in', gateway: 'gw', wires: [[]] }]));
    const n = helper.getNode('a') as unknown as { status: { lastCall?: unknown } };
    expect(n).toBeTruthy();
    expect(JSON.stringify((n.status as unknown as { args: unknown[] }).args)).toContain('no gateway');
  });
});

describe('citygate-device-in', () => {
  it('sends readings filtered by profile and point, only changes when asked', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        {
          id: 'in',
          type: 'citygate-device-in',
          gateway: 'gw',
          profile: 'citygate/slc-100',
          point: 'lux',
          changes: 'changed',
          wires: [['out']],
        },
        out,
      ]),
    );
    const got: Record<string, unknown>[] = [];
    helper.getNode('out').on('input', (m) => got.push(m));
    s.emitReadings([
      { device: 'light-1', point: 'lux', value: 12, unit: 'lx' },
      { device: 'light-1', point: 'dim', value: 40 },
      { device: 'pump-station', point: 'lux', value: 3 },
      { device: 'light-2', point: 'lux', value: 900 },
    ]);
    s.emitReadings([{ device: 'light-1', point: 'lux', value: 12 }]); // unchanged
    s.emitReadings([{ device: 'light-1', point: 'lux', value: 15 }]);
    await until(() => got.length >= 3);
    expect(got.map((m) => [m.topic, m.payload])).toEqual([
      ['light-1/lux', 12],
      ['light-2/lux', 900],
      ['light-1/lux', 15],
    ]);
    expect(got[0]).toMatchObject({ device: 'light-1', point: 'lux', unit: 'lx' });
  });

  it('sends online/offline changes when asked', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        {
          id: 'in',
          type: 'citygate-device-in',
          gateway: 'gw',
          device: 'pump-station',
          state: true,
          wires: [['out']],
        },
        out,
      ]),
    );
    const m = nextMessage(helper.getNode('out'));
    s.events.emit('device', 'light-1', false, 'timeout');
    s.events.emit('device', 'pump-station', false, 'timeout');
    expect(await m).toMatchObject({ topic: 'pump-station/online', payload: false, reason: 'timeout' });
  });
});

describe('citygate-device-out', () => {
  it('writes a command object to every device of a profile and puts the result on the output', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        {
          id: 'o',
          type: 'citygate-device-out',
          gateway: 'gw',
          profile: 'citygate/slc-100',
          wires: [['out']],
        },
        out,
      ]),
    );
    const m = nextMessage(helper.getNode('out'));
    helper.getNode('o').receive({ payload: { on: true, dim: '40' } });
    const msg = await m;
    expect([...s.writes].sort()).toEqual([
      ['light-1', 'dim', 40],
      ['light-1', 'on', true],
      ['light-2', 'dim', 40],
      ['light-2', 'on', true],
    ]);
    expect(msg.result).toHaveLength(4);
  });

  it('reports an interlock refusal with done(err) and writes nothing else wrong', async () => {
    const s = new FakeServices();
    s.refuse.add('pump-station.pump1-run');
    await withServices(
      s,
      tab([
        {
          id: 'o',
          type: 'citygate-device-out',
          gateway: 'gw',
          device: 'pump-station',
          point: 'pump1-run',
          wires: [['out']],
        },
        out,
      ]),
    );
    const err = nextError(helper.getNode('o'));
    helper.getNode('o').receive({ payload: true });
    expect(await err).toMatch(/interlock refuses pump-station\.pump1-run/);
    expect(s.writes).toEqual([]);
  });

  it('rejects a value that is not a point value', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        { id: 'o', type: 'citygate-device-out', gateway: 'gw', device: 'light-1', point: 'dim', wires: [[]] },
      ]),
    );
    const err = nextError(helper.getNode('o'));
    helper.getNode('o').receive({ payload: 'bright' });
    expect(await err).toMatch(/not a point value/);
    expect(s.writes).toEqual([]);
  });
});

describe('citygate-alarm', () => {
  it('raises once per change, per device, and clears', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        {
          id: 'al',
          type: 'citygate-alarm',
          gateway: 'gw',
          alarm: 'bin-full',
          severity: 'minor',
          perDevice: true,
          message: 'Bin full',
          wires: [['out']],
        },
        out,
      ]),
    );
    const seen: Record<string, unknown>[] = [];
    helper.getNode('out').on('input', (m) => seen.push(m));
    const al = helper.getNode('al');
    for (const [device, payload] of [
      ['bin-1', true],
      ['bin-1', true],
      ['bin-2', true],
      ['bin-1', 'clear'],
    ] as const) {
      const next = nextMessage(helper.getNode('out'));
      al.receive({ device, payload });
      await next;
    }
    expect(s.alarms).toEqual([
      [
        'raise',
        { id: 'bin-full/bin-1', severity: 'minor', message: 'Bin full', device: 'bin-1', value: undefined },
      ],
      [
        'raise',
        { id: 'bin-full/bin-2', severity: 'minor', message: 'Bin full', device: 'bin-2', value: undefined },
      ],
      ['clear', 'bin-full/bin-1', 'bin-1'],
    ]);
    expect(seen.at(-1)!.alarm).toEqual({ id: 'bin-full/bin-1', active: false, severity: 'minor' });
  });
});

describe('citygate-telemetry', () => {
  it('publishes the payload on its stream and refuses a bad stream name', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        { id: 't', type: 'citygate-telemetry', gateway: 'gw', stream: 'collection-list', wires: [['out']] },
        out,
      ]),
    );
    const m = nextMessage(helper.getNode('out'));
    helper.getNode('t').receive({ payload: { bins: ['bin-2'] } });
    await m;
    expect(s.telemetry).toEqual([['collection-list', { bins: ['bin-2'] }]]);
    const err = nextError(helper.getNode('t'));
    helper.getNode('t').receive({ payload: 1, stream: 'Bad Stream!' });
    expect(await err).toMatch(/bad telemetry stream name/);
    expect(s.telemetry).toHaveLength(1);
  });
});

describe('citygate-schedule', () => {
  const steps = JSON.stringify([
    { sun: 'sunset', offset: 0, payload: { on: true, dim: 100 } },
    { time: '23:00', payload: { dim: 50 } },
    { sun: 'sunrise', payload: { on: false } },
  ]);

  it('fires at sunset by the gateway clock and sends the step in force on deploy and on input', async () => {
    const s = new FakeServices(); // 2026-06-01 12:00 in Hanoi
    await withServices(
      s,
      tab([
        { id: 'sc', type: 'citygate-schedule', gateway: 'gw', steps, emitOnStart: true, wires: [['out']] },
        out,
      ]),
    );
    const o = helper.getNode('out');
    const initial = await nextMessage(o);
    expect(initial).toMatchObject({ payload: { on: false }, step: 'sunrise', initial: true });

    const sunset = s.nextTime({ sun: 'sunset' }, s.clock.now());
    expect(new Date(sunset).toISOString()).toMatch(/^2026-06-01T11:3\d/); // ~18:3x local
    const fired = nextMessage(o);
    s.clock.advance(sunset - s.clock.now() - 1000);
    s.clock.advance(2000);
    expect(await fired).toMatchObject({ payload: { on: true, dim: 100 }, time: sunset, step: 'sunset' });

    const asked = nextMessage(o);
    helper.getNode('sc').receive({ time: '2026-06-01T17:00:00Z' }); // 00:00 local: after 23:00
    expect(await asked).toMatchObject({ payload: { dim: 50 }, step: '23:00' });
  });

  it('refuses bad steps', async () => {
    const s = new FakeServices();
    await withServices(
      s,
      tab([
        {
          id: 'sc',
          type: 'citygate-schedule',
          gateway: 'gw',
          steps: '[{"sun":"noon","payload":1}]',
          wires: [[]],
        },
      ]),
    );
    const n = helper.getNode('sc') as unknown as { error: { args: unknown[][] } };
    expect(String(n.error.args[0]?.[0])).toMatch(/sun must be one of/);
  });
});
