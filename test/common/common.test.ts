import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../common/clock.js';
import { decode, parseTopic, topics } from '../../common/contract/index.js';
import { jsonPath } from '../../common/json-schema.js';
import { memoryLogger } from '../../common/log.js';

describe('FakeClock', () => {
  it('fires timers in time order, including ones scheduled while firing', () => {
    const c = new FakeClock(0);
    const fired: string[] = [];
    c.setTimeout(() => fired.push(`b@${c.now()}`), 20);
    c.setTimeout(() => {
      fired.push(`a@${c.now()}`);
      c.setTimeout(() => fired.push(`c@${c.now()}`), 5);
    }, 10);
    const t = c.setTimeout(() => fired.push('never'), 15);
    t.cancel();
    c.advance(100);
    expect(fired).toEqual(['a@10', 'c@15', 'b@20']);
    expect(c.now()).toBe(100);
  });
});

describe('logger', () => {
  it('redacts secrets by key name, also nested', () => {
    const log = memoryLogger();
    log.info('connect', { url: 'mqtt://x', password: 'hunter2', fleet: { apiToken: 'abc' } });
    expect(log.lines[0]).toContain('"password":"[redacted]"');
    expect(log.lines[0]).toContain('"apiToken":"[redacted]"');
    expect(log.lines[0]).not.toMatch(/hunter2|abc"/);
  });
});

describe('wire contract', () => {
  it('parses only well-formed v1 topics', () => {
    expect(parseTopic(topics.telemetry('gw-1'))).toEqual({ gatewayId: 'gw-1', channel: 'telemetry' });
    expect(parseTopic('citygate/v2/gw-1/telemetry')).toBeUndefined();
    expect(parseTopic('citygate/v1/GW+/telemetry')).toBeUndefined();
    expect(parseTopic('citygate/v1/gw-1/other')).toBeUndefined();
  });

  it('decodes a valid state message and explains an invalid one', () => {
    const ok = decode(
      'state',
      'gw-1',
      JSON.stringify({ v: 1, gateway: 'gw-1', session: 3, state: 'online', ts: 1 }),
    );
    expect(ok.ok).toBe(true);
    const bad = decode(
      'state',
      'gw-1',
      JSON.stringify({ v: 1, gateway: 'gw-1', session: -1, state: 'up', ts: 1 }),
    );
    expect(bad).toEqual({
      ok: false,
      error: 'state payload: session: must be >= 0; state: must be one of "online", "offline"',
    });
  });

  it('formats JSON pointer paths the way people write them', () => {
    expect(jsonPath('/devices/0/unitId')).toBe('devices[0].unitId');
    expect(jsonPath('', 'id')).toBe('id');
    expect(jsonPath('/a b')).toBe('["a b"]');
  });
});
