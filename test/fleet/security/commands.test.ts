import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  PROTOCOL_VERSION,
  topics,
  type CommandRequest,
  type CommandResponse,
} from '../../../common/contract/index.js';
import { mqttOptions } from '../../../edge/src/provision.js';
import type { Fleet } from '../../../fleet/src/main.js';
import { tempDir, waitFor } from '../../helpers.js';
import { api, provisionGateway, startSecureFleet } from './helpers.js';

describe('commands and overrides with their results', () => {
  const dir = tempDir();
  let fleet: Fleet;
  let admin: string;
  let operator: string;
  let gw: mqtt.MqttClient;
  const received: CommandRequest[] = [];
  let hold = false;
  let seq = 0;
  const answer = (req: CommandRequest) => {
    const body: CommandResponse =
      req.name === 'explode'
        ? {
            v: PROTOCOL_VERSION,
            gateway: 'gw-a',
            epoch: '0123456789abcdef',
            session: 1,
            seq: ++seq,
            sentAt: Date.now(),
            tx: req.tx,
            status: 'error',
            error: { code: 'failed', message: 'boom' },
          }
        : {
            v: PROTOCOL_VERSION,
            gateway: 'gw-a',
            epoch: '0123456789abcdef',
            session: 1,
            seq: ++seq,
            sentAt: Date.now(),
            tx: req.tx,
            status: 'ok',
            result: { echo: req.args },
          };
    return gw.publishAsync(topics.commandResponse('gw-a'), encode('cmd/res', body), { qos: 1 });
  };

  beforeAll(async () => {
    ({ fleet, adminToken: admin } = await startSecureFleet(dir.path));
    operator = (await api(fleet, admin, 'POST', '/api/v1/tokens', { name: 'night-shift', role: 'operator' }))
      .body.token as string;
    const creds = await provisionGateway(fleet, admin, 'gw-a', dir.path);
    gw = await mqtt.connectAsync(creds.mqttUrl, { ...mqttOptions(creds), reconnectPeriod: 0 });
    gw.on('message', (_t, p) => {
      const d = decode('cmd/req', 'gw-a', p);
      if (!d.ok) return;
      received.push(d.value);
      if (!hold) void answer(d.value);
    });
    await gw.subscribeAsync(topics.commandRequest('gw-a'), { qos: 1 });
  });
  afterAll(async () => {
    await gw?.endAsync(true);
    await fleet?.stop();
    dir.cleanup();
  });

  it('sends a command with an expiry and returns the gateway answer', async () => {
    const r = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/commands', {
      name: 'write',
      args: { device: 'light-1', point: 'dim', value: 40 },
    });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      status: 'ok',
      by: 'night-shift',
      result: { echo: { device: 'light-1', value: 40 } },
    });
    const req = received.at(-1)!;
    expect(req.expiresAt! - req.ts).toBe(30_000);
    const failed = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/commands', { name: 'explode' });
    expect(failed.body).toMatchObject({ status: 'error', error: { code: 'failed', message: 'boom' } });
  });

  it('answers 202 while pending; the late result is kept', async () => {
    hold = true;
    const r = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/commands', {
      name: 'write',
      args: {},
      waitMs: 100,
    });
    expect(r.status).toBe(202);
    expect(r.body.status).toBe('pending');
    hold = false;
    await answer(received.at(-1)!);
    await waitFor(
      'answered',
      async () =>
        (await api(fleet, operator, 'GET', `/api/v1/commands/${String(r.body.tx)}`)).body.status === 'ok',
    );
    const list = (await api(fleet, operator, 'GET', '/api/v1/gateways/gw-a/commands')).body
      .commands as unknown[];
    expect(list.length).toBe(3);
  });

  it('an override is recorded with who (the token) and why', async () => {
    const r = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/overrides', {
      why: 'festival',
      set: { 'light-1.dim': 100 },
      durationMs: 7_200_000,
    });
    expect(r.status).toBe(200);
    expect(received.at(-1)).toMatchObject({
      name: 'override',
      args: { who: 'night-shift', why: 'festival', set: { 'light-1.dim': 100 }, durationMs: 7_200_000 },
    });
    // Booleans and numbers reach the gateway as sent (never coerced into each other).
    const mixed = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/overrides', {
      why: 'night market',
      set: { 'light-1.on': true, 'light-1.dim': 1, 'light-2.on': false, 'light-2.dim': 0 },
      durationMs: 60_000,
    });
    expect(mixed.status, JSON.stringify(mixed.body)).toBe(200);
    expect((received.at(-1)?.args as { set: unknown }).set).toStrictEqual({
      'light-1.on': true,
      'light-1.dim': 1,
      'light-2.on': false,
      'light-2.dim': 0,
    });
    const wrongType = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/overrides', {
      why: 'x',
      set: { 'light-1.dim': 'high' },
      durationMs: 5000,
    });
    expect(wrongType.status).toBe(400);
    expect(JSON.stringify(wrongType.body)).toContain('light-1.dim');
    const bad = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-a/overrides', {
      why: 'x',
      set: { 'no-dot': 1 },
      durationMs: 5000,
    });
    expect(bad.status).toBe(400);
    const unknown = await api(fleet, operator, 'POST', '/api/v1/gateways/gw-zz/commands', { name: 'write' });
    expect(unknown.status).toBe(404);
  });
});
