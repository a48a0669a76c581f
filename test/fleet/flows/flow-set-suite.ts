/**
 * The fleet's flow-set service on its own, one suite for both engines (flow-set-service.test.ts runs
 * it on fleet.db and on a real PostgreSQL): a real aedes broker on loopback, a fake clock.
 * Versioning under concurrency, what goes on the wire, target resolution, reports, drift taken in,
 * and what survives a restart.
 */
import { Aedes } from 'aedes';
import mqtt from 'mqtt';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../../common/clock.js';
import { generateConfigKey } from '../../../common/config-signature.js';
import { decode, type FlowsDesired, type FlowsReported } from '../../../common/contract/index.js';
import {
  ed25519Verifier,
  flowsHash,
  verifyFlowSet,
  type FlowNodeJson,
  type FlowSet,
} from '../../../common/flow-set.js';
import { createLogger } from '../../../common/log.js';
import type { SqlDb } from '../../../common/sqlite.js';
import { startFlowSets, type FlowSets, type FlowSetsOptions } from '../../../fleet/src/flows/service.js';
import { waitFor } from '../../helpers.js';

export const flows = (payload: string, extra: FlowNodeJson[] = []): FlowNodeJson[] => [
  { id: 't1', type: 'tab' },
  { id: 'i1', type: 'inject', z: 't1', payload, wires: [['d1']] },
  { id: 'd1', type: 'debug', z: 't1', wires: [] },
  ...extra,
];
const envelope = { v: 1 as const, epoch: '0123456789abcdef', session: 1, seq: 1, sentAt: 1 };

/** Where the service keeps its tables: a fleet.db path or a shared database, opened per run. */
export interface FlowSetEngine {
  db: string | SqlDb;
  close(): Promise<void>;
}

export function flowSetServiceSuite(engine: string, open: () => Promise<FlowSetEngine>): void {
describe(`fleet flow-set service (${engine})`, () => {
  let store: FlowSetEngine;
  const clock = new FakeClock(Date.UTC(2026, 5, 1));
  const key = generateConfigKey();
  const known = new Set(['tab', 'inject', 'debug', 'function']);
  const gateways = [
    { id: 'gw-1', zone: 'old-quarter', group: 'lights' },
    { id: 'gw-2', zone: 'old-quarter' },
    { id: 'gw-3', zone: 'west-lake', group: 'lights' },
  ];
  let broker: Aedes;
  let server: Server;
  let url: string;
  let svc: FlowSets;
  const received: { topic: string; retain: boolean; msg: FlowsDesired }[] = [];
  let observer: mqtt.MqttClient;
  const options = (over: Partial<FlowSetsOptions> = {}): FlowSetsOptions => ({
    db: store.db,
    signingKey: key,
    knownTypes: known,
    mqtt: { url, clientId: `fleet-flows-${received.length}` },
    directory: () => Promise.resolve(gateways),
    clock,
    log: createLogger({ level: 'silent' }),
    ...over,
  });

  beforeAll(async () => {
    store = await open();
    broker = await Aedes.createBroker();
    server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    observer = await mqtt.connectAsync(url, { clientId: 'observer', reconnectPeriod: 0 });
    observer.on('message', (topic, payload, packet) => {
      const gw = topic.split('/')[2]!;
      const d = decode('flows/desired', gw, payload);
      if (!d.ok) throw new Error(d.error);
      received.push({ topic, retain: packet.retain, msg: d.value });
    });
    await observer.subscribeAsync('citygate/v1/+/flows/desired', { qos: 1 });
    svc = await startFlowSets(options());
  });
  afterAll(async () => {
    await svc?.stop();
    await observer?.endAsync();
    await new Promise<void>((r) => server.close(() => r()));
    await new Promise<void>((r) => broker.close(() => r()));
    await store?.close();
  });

  it('versions a set once per publish, also when publishes race, and names what it refuses', async () => {
    const sets = await Promise.all([1, 2, 3, 4].map((n) => svc.publish('race', flows(String(n)))));
    expect(sets.map((s) => s.version).sort()).toEqual([1, 2, 3, 4]);
    expect((await svc.versions()).filter((v) => v.name === 'race').map((v) => v.version)).toEqual([1, 2, 3, 4]);
    await expect(svc.publish('race', flows('x', [{ id: 'u1', type: 'udp out', z: 't1' }]))).rejects.toMatchObject({
      code: 'flow-set-unknown-types',
      message: 'unknown node types: udp out',
    });
    await expect(svc.publish('Bad Name', flows('x'))).rejects.toMatchObject({ code: 'flow-set-invalid' });
    await expect(svc.publish('race', [{ id: 'x'.repeat(200), type: 'inject' }])).rejects.toMatchObject({
      code: 'flow-set-invalid',
      message: 'flows[0]: id and type must be 1 to 128 characters',
    });
    await expect(svc.get('race', 9)).rejects.toMatchObject({ code: 'not-found' });
  });

  it('sends a signed, retained flows/desired to each gateway of a zone or group', async () => {
    const set = await svc.publish('lighting', flows('35'));
    expect(await svc.deploy({ zone: 'old-quarter' }, 'lighting')).toEqual({
      name: 'lighting',
      version: 1,
      gateways: ['gw-1', 'gw-2'],
    });
    await waitFor('two flows/desired', () => received.length === 2);
    expect(received.map((r) => [r.topic, r.retain])).toEqual([
      ['citygate/v1/gw-1/flows/desired', false], // live delivery to a subscriber carries no retain flag
      ['citygate/v1/gw-2/flows/desired', false],
    ]);
    const sent = received[0]!.msg.set as FlowSet;
    expect(sent).toEqual(set);
    expect(() => verifyFlowSet(sent, ed25519Verifier(key.publicKeyPem))).not.toThrow();
    expect(sent.flowsHash).toBe(flowsHash(flows('35')));

    expect((await svc.deploy({ group: 'lights' }, 'lighting', 1)).gateways).toEqual(['gw-1', 'gw-3']);
    await expect(svc.deploy({ gateways: ['gw-1', 'gw-9'] }, 'lighting')).rejects.toMatchObject({
      code: 'unknown-gateway',
      message: 'no gateway gw-9 is known to this fleet',
    });
    await expect(svc.deploy({ group: 'pumps' }, 'lighting')).rejects.toMatchObject({ code: 'not-found' });
    // A late subscriber (a gateway that reconnects) gets the set from the broker's retained message.
    const late = await mqtt.connectAsync(url, { clientId: 'late', reconnectPeriod: 0 });
    const got = new Promise<Buffer>((r) => late.on('message', (_t, p) => r(p)));
    await late.subscribeAsync('citygate/v1/gw-3/flows/desired', { qos: 1 });
    expect((JSON.parse((await got).toString()) as FlowsDesired).set.version).toBe(1);
    await late.endAsync();
  });

  it('tracks reports per gateway, shows drift and takes it in as the next version', async () => {
    const v1 = await svc.get('lighting', 1);
    const applied: FlowsReported = {
      ...envelope,
      gateway: 'gw-1',
      name: 'lighting',
      version: 1,
      status: 'applied',
      expectedHash: v1.flowsHash,
      actualHash: v1.flowsHash,
    };
    await svc.report('gw-1', applied);
    expect((await svc.status('gw-1'))[0]).toMatchObject({ assigned: { version: 1 }, inSync: true });
    expect((await svc.status('gw-2'))[0]).toMatchObject({ assigned: { version: 1 }, inSync: false });
    await expect(svc.takeIn('gw-1')).rejects.toMatchObject({ code: 'no-drift' });

    const edited = flows('60');
    await svc.report('gw-1', { ...applied, status: 'drift', actualHash: flowsHash(edited), flows: edited });
    const drifted = (await svc.status('gw-1'))[0]!;
    expect(drifted).toMatchObject({ inSync: false, drift: { nodes: 3, actualHash: flowsHash(edited) } });
    expect(drifted.reported).not.toHaveProperty('flows');

    const before = received.length;
    const v2 = await svc.takeIn('gw-1');
    expect(v2).toMatchObject({ name: 'lighting', version: 2, flowsHash: flowsHash(edited) });
    expect((await svc.versions()).find((v) => v.name === 'lighting' && v.version === 2)?.source).toBe('drift:gw-1');
    await waitFor('v2 sent to gw-1', () => received.length === before + 1);
    expect(received.at(-1)!.topic).toBe('citygate/v1/gw-1/flows/desired');
    expect((await svc.status('gw-1'))[0]).toMatchObject({ assigned: { version: 2 }, inSync: false });
  });

  it('keeps versions, assignments and reports across a restart, and re-checks types before deploy', async () => {
    await svc.stop();
    const sentBefore = received.length;
    // A release whose palette no longer has `function`: a stored version using it cannot be deployed.
    const withFunction = await (async () => {
      const s = await startFlowSets(options({ knownTypes: known }));
      const set = await s.publish('legacy', flows('1', [{ id: 'f1', type: 'function', z: 't1', wires: [] }]));
      await s.stop();
      return set;
    })();
    await waitFor('the interim start re-sent 3 assignments', () => received.length >= sentBefore + 3);
    const before = received.length;
    svc = await startFlowSets(options({ knownTypes: new Set(['tab', 'inject', 'debug']) }));
    // On start the service re-sends every assignment (the broker may have lost retained messages).
    await waitFor('assignments re-sent', () => received.length >= before + 3);
    expect(
      received
        .slice(before)
        .map((r) => `${r.msg.gateway}:${r.msg.set.version}`)
        .sort(),
    ).toEqual(['gw-1:2', 'gw-2:1', 'gw-3:1']);
    expect((await svc.versions()).filter((v) => v.name === 'lighting').map((v) => v.version)).toEqual([1, 2]);
    expect((await svc.status()).map((s) => [s.gateway, s.assigned?.version, s.reported?.status])).toEqual([
      ['gw-1', 2, 'drift'],
      ['gw-2', 1, undefined],
      ['gw-3', 1, undefined],
    ]);
    await expect(svc.deploy({ gateway: 'gw-2' }, 'legacy', withFunction.version)).rejects.toMatchObject({
      code: 'flow-set-unknown-types',
      message: 'flow set legacy v1: unknown node types: function',
    });
  });
});
}
