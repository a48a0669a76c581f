import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ed25519Signer, ed25519Verifier, flowsHash, signFlowSet, type FlowNodeJson } from '../../../common/flow-set.js';
import { deployFlowSet, flowSetDrift } from '../../../edge/src/node-red/deploy.js';
import { defaultFlows } from '../../../edge/src/node-red/default-flows.js';
import { FlowSetStore } from '../../../fleet/src/flows/flow-sets.js';
import { gatewayNodeTypes } from '../../../fleet/src/flows/node-types.js';
import { startCity, until, type City } from '../../edge/node-red/city-fixture.js';

const pem = () => {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    priv: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    pub: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
};

/** A one-tab flow: inject on deploy → device out (light-1 dim = `dim`). */
const dimFlow = (dim: number): FlowNodeJson[] => [
  { id: 't1', type: 'tab', label: 'test' },
  { id: 'g1', type: 'citygate-gateway', name: 'gateway' },
  { id: 'i1', type: 'inject', z: 't1', once: true, onceDelay: 0.1, repeat: '', payloadType: 'num', payload: String(dim), topic: '', props: [{ p: 'payload' }], wires: [['o1']] },
  { id: 'o1', type: 'citygate-device-out', z: 't1', gateway: 'g1', device: 'light-1', point: 'dim', wires: [[]] },
];

const rehash = (flows: FlowNodeJson[]) => ({ flowsHash: flowsHash(flows) });

describe('flow sets from the fleet to a gateway', () => {
  let city: City;
  const keys = pem();
  const store = new FlowSetStore({ signer: ed25519Signer(keys.priv), knownTypes: gatewayNodeTypes() });
  const verifier = ed25519Verifier(keys.pub);
  beforeAll(async () => {
    city = await startCity({ initialFlows: [] });
  });
  afterAll(async () => {
    await city?.stop();
  });

  it('publishes, signs, deploys and runs a flow set; the gateway reports it applied and in sync', async () => {
    const set = store.publish('district-lighting', dimFlow(35));
    expect(set.version).toBe(1);
    const toSend = store.assign(['gw-nr'], 'district-lighting');
    expect([...toSend.keys()]).toEqual(['gw-nr']);
    const sent = toSend.get('gw-nr');
    const r = await deployFlowSet(city.red, sent!, verifier);
    store.report(r);
    expect(r).toMatchObject({ status: 'applied', version: 1, expectedHash: set.flowsHash, actualHash: set.flowsHash });
    await until(() => city.sim.device(1).get('dim') === 35, 'light-1 dimmed to 35 % by the deployed flow');
    expect((await flowSetDrift(city.red)).status).toBe('in-sync');
  });

  it('refuses to version a flow set with unknown node types, and the gateway refuses one it cannot run', async () => {
    const bad = [...dimFlow(10), { id: 'x1', type: 'node-red-contrib-modbus-read', z: 't1', wires: [] }];
    expect(() => store.publish('district-lighting', bad)).toThrow(/unknown node types: node-red-contrib-modbus-read/);
    expect(store.versions('district-lighting')).toEqual([1]);
    const shell = { id: 'e1', type: 'exec', z: 't1', command: 'reboot', wires: [] };
    expect(() => store.publish('district-lighting', [...dimFlow(10), shell])).toThrow(/unknown node types: exec/);

    // A fleet that knew a type this gateway lacks: the gateway checks its own palette before deploy.
    const lenient = new FlowSetStore({
      signer: ed25519Signer(keys.priv),
      knownTypes: new Set([...gatewayNodeTypes(), 'citygate-teleport']),
    });
    const odd = lenient.publish('district-lighting', [...dimFlow(10), { id: 'x2', type: 'citygate-teleport', z: 't1', wires: [] }]);
    const before = (await flowSetDrift(city.red)).actualHash;
    const r = await deployFlowSet(city.red, { ...odd, version: 5 }, verifier);
    expect(r.status).toBe('rejected'); // version changed after signing: the signature no longer holds
    expect(r.code).toBe('flow-set-signature');
    const r2 = await deployFlowSet(city.red, signFlowSet({ ...odd, version: 5 }, ed25519Signer(keys.priv)), verifier);
    expect(r2).toMatchObject({ status: 'rejected', code: 'flow-set-unknown-types', version: 1 });
    expect(r2.reason).toContain('citygate-teleport');
    expect(r2.actualHash).toBe(before); // nothing changed on the gateway
    // Core nodes the gateway does not load (a shell on a street cabinet) are unknown there too.
    const withExec = signFlowSet({ ...odd, version: 6, flows: [...dimFlow(10), { id: 'e2', type: 'exec', z: 't1', wires: [] }] }, ed25519Signer(keys.priv));
    const r3 = await deployFlowSet(city.red, { ...withExec, ...rehash(withExec.flows) }, verifier);
    expect(r3.code).toBe('flow-set-signature'); // re-hashed after signing
    const good = signFlowSet({ ...withExec, ...rehash(withExec.flows) }, ed25519Signer(keys.priv));
    expect(await deployFlowSet(city.red, good, verifier)).toMatchObject({ status: 'rejected', code: 'flow-set-unknown-types', reason: expect.stringContaining('exec') });
    expect(city.sim.device(1).get('dim')).toBe(35);
  });

  it('rejects a flow set signed by another key or tampered with', async () => {
    const other = pem();
    const forged = signFlowSet({ ...store.get('district-lighting'), version: 9 }, ed25519Signer(other.priv));
    expect(await deployFlowSet(city.red, forged, verifier)).toMatchObject({ status: 'rejected', code: 'flow-set-signature' });
    const set = store.get('district-lighting');
    const tampered = { ...set, flows: dimFlow(99) };
    expect(await deployFlowSet(city.red, tampered, verifier)).toMatchObject({ status: 'rejected', code: 'flow-set-signature' });
  });

  it('shows an operator edit as drift, takes it in as v2 and redeploys it in sync', async () => {
    // The operator changes the dim level in the editor and deploys (Admin API v2, as the editor does).
    const res = await fetch(`${city.red.url}/flows`, { headers: { 'Node-RED-API-Version': 'v2' } });
    const { rev, flows } = (await res.json()) as { rev: string; flows: FlowNodeJson[] };
    const edited = flows.map((n) => (n.id === 'i1' ? { ...n, payload: '55' } : n));
    const post = await fetch(`${city.red.url}/flows`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'Node-RED-API-Version': 'v2', 'Node-RED-Deployment-Type': 'full' },
      body: JSON.stringify({ rev, flows: edited }),
    });
    expect(post.status).toBe(200);
    await until(() => city.sim.device(1).get('dim') === 55, 'operator flow ran');

    const drift = await flowSetDrift(city.red);
    store.report(drift);
    expect(drift).toMatchObject({ status: 'drift', version: 1, expectedHash: store.get('district-lighting', 1).flowsHash });
    expect(drift.actualHash).toBe(flowsHash(edited));
    expect(store.status('gw-nr').last?.status).toBe('drift');

    const v2 = store.takeInDrift(drift);
    expect(v2.version).toBe(2);
    const r = await deployFlowSet(city.red, v2, verifier);
    expect(r).toMatchObject({ status: 'applied', version: 2 });
    expect((await flowSetDrift(city.red)).status).toBe('in-sync');
    // An older version is not applied over a newer one.
    const r1 = await deployFlowSet(city.red, store.get('district-lighting', 1), verifier);
    expect(r1).toMatchObject({ status: 'rejected', code: 'flow-set-stale' });
  });

  it('accepts the shipped default flows as a flow set', () => {
    const set = store.publish('defaults', defaultFlows());
    expect(set.flows.filter((n) => n.type === 'tab')).toHaveLength(3);
  });
});
