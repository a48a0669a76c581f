/**
 * Flow sets end to end: a real fleet (embedded aedes broker, fleet.db on disk, HTTP API) and a real
 * gateway (edge runtime polling a Modbus TCP simulator, Node-RED embedded) talking over MQTT on the
 * wire contract. One Node-RED start for the whole file; the fleet is restarted once on its data dir.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  flowsHash,
  GATEWAY_EXCLUDED_CORE_NODES,
  type FlowNodeJson,
  type FlowSet,
} from '../../../common/flow-set.js';
import { createLogger } from '../../../common/log.js';
import { Db } from '../../../common/sqlite.js';
import { gatewayNodeTypes } from '../../../fleet/src/flows/node-types.js';
import { startFleet, type Fleet } from '../../../fleet/src/main.js';
import { startCity, type City } from '../../edge/node-red/city-fixture.js';
import { tempDir, waitFor } from '../../helpers.js';

/** One tab: inject once on deploy → device out (light-1 dim = `dim`). */
const dimFlow = (dim: number): FlowNodeJson[] => [
  { id: 't1', type: 'tab', label: 'district lighting' },
  { id: 'g1', type: 'citygate-gateway', name: 'gateway' },
  {
    id: 'i1',
    type: 'inject',
    z: 't1',
    once: true,
    onceDelay: 0.1,
    repeat: '',
    payloadType: 'num',
    payload: String(dim),
    topic: '',
    props: [{ p: 'payload' }],
    wires: [['o1']],
  },
  { id: 'o1', type: 'citygate-device-out', z: 't1', gateway: 'g1', device: 'light-1', point: 'dim', wires: [[]] },
];

interface GatewayFlows {
  gateway: string;
  assigned?: { name: string; version: number };
  reported?: { status: string; name: string; version?: number; offered?: number; code?: string; reason?: string; actualHash: string };
  inSync: boolean;
  drift?: { nodes: number; actualHash: string };
}

describe('flow sets from the fleet API to a gateway running Node-RED, over MQTT', () => {
  const dir = tempDir('citygate-flows-e2e-');
  const log = createLogger({ level: 'silent' });
  let fleet: Fleet;
  let city: City;
  let mqttPort = 0;
  let v1: FlowSet;

  const api = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown) => {
    const res = await fetch(`${fleet.httpUrl}${path}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as T };
  };
  const gatewayFlows = async () => (await api<GatewayFlows>('GET', '/api/v1/gateways/gw-nr/flows')).body;
  const runningHash = async () => flowsHash((await city.red.red.runtime.flows.getFlows({})).flows as FlowNodeJson[]);
  const startOurFleet = async () => {
    fleet = await startFleet({ dataDir: dir.path, httpPort: 0, mqttPort, security: 'open', log });
    mqttPort = Number(new URL(fleet.mqttUrl).port);
  };

  beforeAll(async () => {
    await startOurFleet();
    city = await startCity({
      initialFlows: [],
      mqttUrl: fleet.mqttUrl,
      flowSets: { publicKeyPem: fleet.flows.publicKeyPem },
    });
    await waitFor('gw-nr known to the fleet', async () =>
      (await fleet.store.listGateways()).some((g) => g.id === 'gw-nr'),
    20_000);
  }, 60_000);
  afterAll(async () => {
    await city?.stop();
    await fleet?.stop();
    dir.cleanup();
  });

  it('refuses a flow set with unknown node types before it gets a version, naming the types', async () => {
    const bad = [
      ...dimFlow(10),
      { id: 'x1', type: 'node-red-contrib-modbus-read', z: 't1', wires: [] },
      { id: 'x2', type: 'exec', z: 't1', command: 'reboot', wires: [] },
    ];
    const r = await api<{ error: { code: string; message: string } }>('POST', '/api/v1/flow-sets/district-lighting', {
      flows: bad,
    });
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('flow-set-unknown-types');
    expect(r.body.error.message).toBe('unknown node types: exec, node-red-contrib-modbus-read');
    expect((await api<{ flowSets: unknown[] }>('GET', '/api/v1/flow-sets')).body.flowSets).toEqual([]);
    // Network nodes are not in a gateway's palette: data leaves through the outbox.
    const mqttOut = await api<{ error: { message: string } }>('POST', '/api/v1/flow-sets/district-lighting', {
      flows: [...dimFlow(10), { id: 'm1', type: 'mqtt out', z: 't1', wires: [] }],
    });
    expect([mqttOut.status, mqttOut.body.error.message]).toEqual([400, 'unknown node types: mqtt out']);
    const wired = await api('POST', '/api/v1/flow-sets/district-lighting', {
      flows: [{ id: 'a', type: 'inject', wires: [['nowhere']] }],
    });
    expect(wired.status).toBe(400);
    expect(JSON.stringify(wired.body)).toContain('node a is wired to a missing node nowhere');
  });

  it("the fleet's idea of a gateway's node types is the palette the gateway runs", () => {
    const known = gatewayNodeTypes();
    const missing = [...known].filter((t) => !city.red.red.nodes.getType(t));
    expect(missing).toEqual([]);
    for (const [file, types] of Object.entries(GATEWAY_EXCLUDED_CORE_NODES))
      for (const t of types) {
        expect(known.has(t), `${t} (${file})`).toBe(false);
        expect(city.red.red.nodes.getType(t), `${t} (${file}) loaded on the gateway`).toBeUndefined();
      }
    expect(known.has('function') && known.has('citygate-device-out') && known.has('http in')).toBe(true);
  });

  it('publishes v1, deploys it to a zone; the gateway applies it, reports it and the light dims', async () => {
    const pub = await api<{ version: number; flowsHash: string; nodes: number }>(
      'POST',
      '/api/v1/flow-sets/district-lighting',
      { flows: dimFlow(35) },
    );
    expect(pub.status).toBe(201);
    expect(pub.body).toMatchObject({ version: 1, flowsHash: flowsHash(dimFlow(35)), nodes: 4 });
    v1 = (await api<FlowSet>('GET', '/api/v1/flow-sets/district-lighting/versions/1')).body;
    expect(v1.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);

    expect((await api('POST', '/api/v1/flow-sets/district-lighting/deploy', { gateway: 'gw-zz' })).status).toBe(404);
    expect((await api('POST', '/api/v1/flow-sets/district-lighting/deploy', { zone: 'old-quarter' })).status).toBe(404);
    const site = { name: 'Hàng Bạc cabinet', lat: 21.034, lon: 105.853, zone: 'old-quarter' };
    expect((await api('PUT', '/api/v1/sites/gw-nr', site)).status).toBe(200);
    const dep = await api('POST', '/api/v1/flow-sets/district-lighting/deploy', { zone: 'old-quarter' });
    expect(dep).toEqual({ status: 200, body: { name: 'district-lighting', version: 1, gateways: ['gw-nr'] } });

    const s = await waitFor('gw-nr reports v1 applied', async () => {
      const f = await gatewayFlows();
      return f.reported?.status === 'applied' && f.reported.version === 1 ? f : undefined;
    }, 20_000);
    expect(s).toMatchObject({ assigned: { name: 'district-lighting', version: 1 }, inSync: true });
    expect(s.reported?.actualHash).toBe(v1.flowsHash);
    await waitFor('light-1 dimmed to 35 % by the deployed flow', () => city.sim.device(1).get('dim') === 35);
  });

  it('a flow set altered in fleet.db is reported rejected with a reason and the old flows keep running', async () => {
    const pub = await api('POST', '/api/v1/flow-sets/district-lighting', { flows: dimFlow(90) });
    expect(pub.status).toBe(201);
    // Someone with access to the fleet's database (not to its signing key) changes v2's dim level.
    const db = await Db.open(join(dir.path, 'fleet.db'));
    await db.exec('PRAGMA busy_timeout = 5000');
    const row = await db.get<{ body: string }>(
      "SELECT body FROM flow_sets WHERE name = 'district-lighting' AND version = 2",
    );
    const altered = { ...(JSON.parse(row!.body) as FlowSet), flows: dimFlow(100), flowsHash: flowsHash(dimFlow(100)) };
    await db.run("UPDATE flow_sets SET body = ? WHERE name = 'district-lighting' AND version = 2", [
      JSON.stringify(altered),
    ]);
    await db.close();

    const dep = await api('POST', '/api/v1/flow-sets/district-lighting/deploy', { gateway: 'gw-nr', version: 2 });
    expect(dep.body).toEqual({ name: 'district-lighting', version: 2, gateways: ['gw-nr'] });
    const s = await waitFor('gw-nr reports v2 rejected', async () => {
      const f = await gatewayFlows();
      return f.reported?.status === 'rejected' ? f : undefined;
    }, 20_000);
    expect(s.reported).toMatchObject({ name: 'district-lighting', version: 1, offered: 2, code: 'flow-set-signature' });
    expect(s.reported?.reason).toMatch(/bad or missing signature/);
    expect(s.reported?.actualHash).toBe(v1.flowsHash);
    expect(s).toMatchObject({ assigned: { version: 2 }, inSync: false });
    expect(await runningHash()).toBe(v1.flowsHash);
    expect(city.sim.device(1).get('dim')).toBe(35);
  });

  it('an operator edit on the gateway shows as drift at the fleet and is taken in as v3', async () => {
    const res = await fetch(`${city.red.url}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
    const { rev, flows } = (await res.json()) as { rev: string; flows: FlowNodeJson[] };
    const edited = flows.map((n) => (n.id === 'i1' ? { ...n, payload: '55' } : n));
    const post = await fetch(`${city.red.url}/flows`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'Node-RED-API-Version': 'v2',
        'Node-RED-Deployment-Type': 'full',
      },
      body: JSON.stringify({ rev, flows: edited }),
    });
    expect(post.status).toBe(200);
    await waitFor('the operator flow ran', () => city.sim.device(1).get('dim') === 55);

    const drift = await waitFor('drift visible at the fleet', async () => {
      const f = await gatewayFlows();
      return f.reported?.status === 'drift' ? f : undefined;
    }, 20_000);
    expect(drift).toMatchObject({ inSync: false, drift: { nodes: 4, actualHash: flowsHash(edited) } });
    const all = await api<{ gateways: GatewayFlows[] }>('GET', '/api/v1/flow-sets/status');
    expect(all.body.gateways.map((g) => [g.gateway, g.reported?.status])).toEqual([['gw-nr', 'drift']]);

    const taken = await api<{ version: number; flowsHash: string }>('POST', '/api/v1/gateways/gw-nr/flows/take-in', {});
    expect(taken.status).toBe(201);
    expect(taken.body).toMatchObject({ version: 3, flowsHash: flowsHash(edited) });
    const v3 = (await api<FlowSet>('GET', '/api/v1/flow-sets/district-lighting/versions/3')).body;
    expect(v3.flows.find((n) => n.id === 'i1')?.payload).toBe('55');

    const s = await waitFor('gw-nr reports v3 applied', async () => {
      const f = await gatewayFlows();
      return f.reported?.status === 'applied' && f.reported.version === 3 ? f : undefined;
    }, 20_000);
    expect(s).toMatchObject({ assigned: { version: 3 }, inSync: true });
    expect(s.drift).toBeUndefined();
    expect(await runningHash()).toBe(flowsHash(edited));
    // Nothing more to take in.
    expect((await api('POST', '/api/v1/gateways/gw-nr/flows/take-in', {})).status).toBe(409);
  });

  it('versions and assignments survive a fleet restart; edits made meanwhile arrive as drift', async () => {
    await fleet.stop();
    // The fleet is away: the operator edits again; the report waits in the gateway's outbox.
    const res = await fetch(`${city.red.url}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
    const { rev, flows } = (await res.json()) as { rev: string; flows: FlowNodeJson[] };
    const edited = flows.map((n) => (n.id === 'i1' ? { ...n, payload: '60' } : n));
    const post = await fetch(`${city.red.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ rev, flows: edited }),
    });
    expect(post.status).toBe(200);
    await waitFor('the second operator flow ran', () => city.sim.device(1).get('dim') === 60);

    await startOurFleet();
    const list = await api<{ flowSets: { name: string; versions: { version: number; source: string }[] }[] }>(
      'GET',
      '/api/v1/flow-sets',
    );
    expect(list.body.flowSets).toEqual([
      {
        name: 'district-lighting',
        versions: [
          expect.objectContaining({ version: 1, source: 'api' }),
          expect.objectContaining({ version: 2, source: 'api' }),
          expect.objectContaining({ version: 3, source: 'drift:gw-nr' }),
        ],
      },
    ]);
    const s = await waitFor('the drift made while the fleet was away', async () => {
      const f = await gatewayFlows();
      return f.reported?.status === 'drift' ? f : undefined;
    }, 30_000);
    expect(s).toMatchObject({ assigned: { version: 3 }, inSync: false, drift: { actualHash: flowsHash(edited) } });
    // The fleet sent v3 again on start (retained); the gateway keeps the local edits rather than undo them.
    await city.red.flowSync!.idle();
    expect(await runningHash()).toBe(flowsHash(edited));
    expect(city.sim.device(1).get('dim')).toBe(60);
  }, 60_000);
});
