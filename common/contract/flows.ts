/**
 * Flow sets on the wire (common/flow-set.ts defines the artifact): `flows/desired` carries a signed
 * flow set from the fleet to one gateway (retained, QoS 1: the set a gateway should run, delivered
 * again after a reconnect); `flows/reported` is the gateway's answer through its outbox (event
 * class): applied, rejected with a code and reason, in sync, or drift with the flows running now.
 */
import { envelopeProperties, envelopeRequired, type Envelope } from './payloads.js';
import { ID_PATTERN, PROTOCOL_VERSION } from './topics.js';

/** Flow set names: what `FlowSetStore` accepts. */
export const FLOW_SET_NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
/** Largest flow list carried either way. */
export const MAX_FLOW_NODES = 5000;

export interface FlowNodeWire {
  id: string;
  type: string;
  [k: string]: unknown;
}

export interface FlowSetWire {
  kind: 'citygate/flow-set';
  name: string;
  version: number;
  createdAt: string;
  flowsHash: string;
  flows: FlowNodeWire[];
  signature?: string;
}

/** `flows/desired` (retained): the flow set the fleet wants this gateway to run. */
export interface FlowsDesired {
  v: typeof PROTOCOL_VERSION;
  gateway: string;
  ts: number;
  set: FlowSetWire;
}

export type FlowsStatus = 'applied' | 'rejected' | 'in-sync' | 'drift';

/** `flows/reported`: what the gateway did with a flow set, or how its running flows compare. */
export interface FlowsReported extends Envelope {
  /** The set this is about (`local`: flows never deployed from the fleet). */
  name: string;
  /** The version applied on the gateway (absent: none yet). */
  version?: number;
  /** With `rejected`: the version that was refused. */
  offered?: number;
  status: FlowsStatus;
  code?: string;
  reason?: string;
  expectedHash?: string;
  actualHash: string;
  /** With `drift`: the flows running now, for the fleet to take in as a new version. */
  flows?: FlowNodeWire[];
}

const hash = { type: 'string', pattern: '^[0-9a-f]{64}$' } as const;
const flowNodes = {
  type: 'array',
  maxItems: MAX_FLOW_NODES,
  items: {
    type: 'object',
    required: ['id', 'type'],
    properties: {
      id: { type: 'string', minLength: 1, maxLength: 128 },
      type: { type: 'string', minLength: 1, maxLength: 128 },
    },
  },
} as const;

export const flowSetWireSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['kind', 'name', 'version', 'createdAt', 'flowsHash', 'flows'],
  properties: {
    kind: { const: 'citygate/flow-set' },
    name: { type: 'string', pattern: FLOW_SET_NAME_PATTERN },
    version: { type: 'integer', minimum: 1 },
    createdAt: { type: 'string', maxLength: 64 },
    flowsHash: hash,
    flows: flowNodes,
    signature: { type: 'string', maxLength: 2048 },
  },
} as const;

export const flowsDesiredSchema = {
  $id: 'citygate/v1/flows/desired',
  type: 'object',
  additionalProperties: false,
  required: ['v', 'gateway', 'ts', 'set'],
  properties: {
    v: { const: PROTOCOL_VERSION },
    gateway: { type: 'string', pattern: ID_PATTERN },
    ts: { type: 'integer', minimum: 0 },
    set: flowSetWireSchema,
  },
} as const;

export const flowsReportedSchema = {
  $id: 'citygate/v1/flows/reported',
  type: 'object',
  additionalProperties: false,
  required: [...envelopeRequired, 'name', 'status', 'actualHash'],
  properties: {
    ...envelopeProperties,
    name: { type: 'string', pattern: FLOW_SET_NAME_PATTERN },
    version: { type: 'integer', minimum: 1 },
    offered: { type: 'integer', minimum: 0 },
    status: { enum: ['applied', 'rejected', 'in-sync', 'drift'] },
    code: { type: 'string', maxLength: 64 },
    reason: { type: 'string', maxLength: 2000 },
    expectedHash: hash,
    actualHash: hash,
    flows: flowNodes,
  },
} as const;
