/**
 * A flow set: a versioned, signed list of Node-RED flows the fleet deploys to gateways. Shared by
 * the fleet (fleet/src/flows) and the gateway (edge/src/node-red/deploy.ts). The signature is
 * Ed25519 over a domain tag + the canonical JSON of everything but `signature`; `flowsHash` is the
 * sha256 of the canonical flows (nodes sorted by id), also used for drift detection.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify } from 'node:crypto';
import { canonicalJson } from './config-signature.js';
import { CityGateError } from './errors.js';

export interface FlowNodeJson {
  id: string;
  type: string;
  [k: string]: unknown;
}

export interface FlowSet {
  kind: 'citygate/flow-set';
  name: string;
  version: number;
  createdAt: string;
  flowsHash: string;
  flows: FlowNodeJson[];
  /** base64 Ed25519 signature. */
  signature?: string;
}

export interface FlowSetSigner {
  sign(bytes: Buffer): string;
}
export interface FlowSetVerifier {
  verify(bytes: Buffer, signature: string): boolean;
}

const DOMAIN = 'citygate/flow-set/v1\n';

/** sha256 of the flows, independent of node order and of credentials (never part of a flow set). */
export function flowsHash(flows: readonly FlowNodeJson[]): string {
  const nodes = flows
    .map(({ credentials: _c, ...n }) => n)
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return createHash('sha256').update(canonicalJson(nodes)).digest('hex');
}

export function flowSetBytes(set: FlowSet): Buffer {
  const { signature: _s, ...rest } = set;
  return Buffer.from(DOMAIN + canonicalJson(rest));
}

export function ed25519Signer(privateKeyPem: string): FlowSetSigner {
  const key = createPrivateKey(privateKeyPem);
  return { sign: (bytes) => sign(null, bytes, key).toString('base64') };
}

export function ed25519Verifier(publicKeyPem: string): FlowSetVerifier {
  const key = createPublicKey(publicKeyPem);
  return {
    verify: (bytes, signature) => {
      try {
        return verify(null, bytes, key, Buffer.from(signature, 'base64'));
      } catch {
        return false;
      }
    },
  };
}

export function signFlowSet(set: Omit<FlowSet, 'signature'>, signer: FlowSetSigner): FlowSet {
  return { ...set, signature: signer.sign(flowSetBytes(set)) };
}

/** Throws `flow-set-signature` or `flow-set-hash` unless the set is intact and signed by the fleet. */
export function verifyFlowSet(set: FlowSet, verifier: FlowSetVerifier): void {
  if (!set.signature || !verifier.verify(flowSetBytes(set), set.signature))
    throw new CityGateError(
      'flow-set-signature',
      `flow set ${set.name} v${set.version}: bad or missing signature`,
    );
  if (flowsHash(set.flows) !== set.flowsHash)
    throw new CityGateError(
      'flow-set-hash',
      `flow set ${set.name} v${set.version}: flows do not match flowsHash`,
    );
}

/** Node types a flow list uses that are not in `known` (tabs, groups, subflows and their instances excepted). */
export function unknownNodeTypes(flows: readonly FlowNodeJson[], known: (type: string) => boolean): string[] {
  const subflows = new Set(flows.filter((n) => n.type === 'subflow').map((n) => n.id));
  const out = new Set<string>();
  for (const n of flows) {
    if (n.type === 'tab' || n.type === 'subflow' || n.type === 'group' || n.type === 'junction') continue;
    if (n.type.startsWith('subflow:') && subflows.has(n.type.slice(8))) continue;
    if (!known(n.type)) out.add(n.type);
  }
  return [...out].sort();
}

/**
 * Node-RED core node files a gateway does not load, with the node types they define. A flow set
 * using these types is rejected as unknown, at the fleet and at the gateway.
 * - A shell and file-system access on a street cabinet are not for flows (security; flash wear).
 * - Network I/O from flows: everything leaving a gateway goes through its outbox (citygate-telemetry,
 *   citygate-alarm), never a side channel that loses data offline; a second MQTT client with the
 *   gateway's credentials would take over its uplink session; listeners beside the editor widen the
 *   cabinet's attack surface. (`http in` stays: it shares the editor's server and its parsers.)
 * - HTML and XML parsing (cheerio, xml2js): no device or fleet message on a gateway speaks them.
 * Together these save ~10-20 MB of resident memory (`npm run bench:node-red`).
 */
export const GATEWAY_EXCLUDED_CORE_NODES: Readonly<Record<string, readonly string[]>> = {
  '90-exec.js': ['exec'],
  '10-file.js': ['file', 'file in'],
  '23-watch.js': ['watch'],
  '10-mqtt.js': ['mqtt-broker', 'mqtt in', 'mqtt out'],
  '21-httprequest.js': ['http request'],
  '22-websocket.js': ['websocket-listener', 'websocket-client', 'websocket in', 'websocket out'],
  '31-tcpin.js': ['tcp in', 'tcp out', 'tcp request'],
  '32-udp.js': ['udp in', 'udp out'],
  '05-tls.js': ['tls-config'],
  '06-httpproxy.js': ['http proxy'],
  '70-HTML.js': ['html'],
  '70-XML.js': ['xml'],
};
