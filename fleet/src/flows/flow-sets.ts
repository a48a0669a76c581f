/**
 * Flow sets at the fleet: versioned, signed artifacts deployed to a gateway or a group. A set is
 * checked before it gets a version (structure, unknown node types), so a gateway is never sent a
 * flow set it cannot run; an operator's local edits (drift) can be taken in as a new version.
 */
import { FLOW_SET_NAME_PATTERN, MAX_FLOW_NODES } from '../../../common/contract/index.js';
import { CityGateError } from '../../../common/errors.js';
import {
  flowsHash,
  signFlowSet,
  unknownNodeTypes,
  type FlowNodeJson,
  type FlowSet,
  type FlowSetSigner,
} from '../../../common/flow-set.js';

/** What a gateway reports after a deploy or when asked for drift. */
export interface FlowSetReport {
  gateway: string;
  name: string;
  /** The version the gateway last applied (undefined: never). */
  version?: number;
  /** With `rejected`: the version that was refused. */
  offered?: number;
  status: 'applied' | 'rejected' | 'in-sync' | 'drift';
  reason?: string;
  code?: string;
  expectedHash?: string;
  actualHash: string;
  /** With `drift`: the flows running now, to take in. */
  flows?: FlowNodeJson[];
}

export class FlowSetError extends CityGateError {}

/** Throws a FlowSetError naming the first structural problem or the unknown node types. */
export function checkFlows(flows: unknown, knownTypes: ReadonlySet<string>): FlowNodeJson[] {
  if (!Array.isArray(flows) || flows.length === 0)
    throw new FlowSetError('flow-set-invalid', 'flows must be a non-empty array of nodes');
  const ids = new Set<string>();
  for (const [i, n] of flows.entries()) {
    const node = n as Partial<FlowNodeJson> | null;
    if (!node || typeof node !== 'object' || typeof node.id !== 'string' || typeof node.type !== 'string')
      throw new FlowSetError('flow-set-invalid', `flows[${i}] needs a string id and type`);
    if (!node.id || node.id.length > 128 || !node.type || node.type.length > 128)
      throw new FlowSetError('flow-set-invalid', `flows[${i}]: id and type must be 1 to 128 characters`);
    if (ids.has(node.id)) throw new FlowSetError('flow-set-invalid', `flows[${i}]: duplicate id ${node.id}`);
    ids.add(node.id);
  }
  for (const n of flows as FlowNodeJson[]) {
    if (typeof n.z === 'string' && !ids.has(n.z))
      throw new FlowSetError('flow-set-invalid', `node ${n.id} is on a missing tab ${n.z}`);
    const wires = Array.isArray(n.wires) ? (n.wires as unknown[]).flat() : [];
    for (const w of wires)
      if (typeof w !== 'string' || !ids.has(w))
        throw new FlowSetError('flow-set-invalid', `node ${n.id} is wired to a missing node ${String(w)}`);
  }
  const unknown = unknownNodeTypes(flows as FlowNodeJson[], (t) => knownTypes.has(t));
  if (unknown.length)
    throw new FlowSetError('flow-set-unknown-types', `unknown node types: ${unknown.join(', ')}`);
  return flows as FlowNodeJson[];
}

/** Check `flows` (structure, node types) and sign them as version `version` of set `name`. */
export function buildFlowSet(
  name: string,
  version: number,
  flows: unknown,
  knownTypes: ReadonlySet<string>,
  signer: FlowSetSigner,
  now: number,
): FlowSet {
  if (!new RegExp(FLOW_SET_NAME_PATTERN).test(name))
    throw new FlowSetError('flow-set-invalid', `bad flow set name: ${JSON.stringify(name)}`);
  const checked = checkFlows(flows, knownTypes);
  if (checked.length > MAX_FLOW_NODES)
    throw new FlowSetError('flow-set-invalid', `${checked.length} nodes: at most ${MAX_FLOW_NODES}`);
  return signFlowSet(
    {
      kind: 'citygate/flow-set',
      name,
      version,
      createdAt: new Date(now).toISOString(),
      flowsHash: flowsHash(checked),
      flows: structuredClone(checked),
    },
    signer,
  );
}

export interface FlowSetStoreOptions {
  signer: FlowSetSigner;
  knownTypes: ReadonlySet<string>;
  now?: () => number;
}

/** Versions of every named flow set and which gateways should run which (in memory). */
export class FlowSetStore {
  private readonly sets = new Map<string, FlowSet[]>();
  private readonly assigned = new Map<string, { name: string; version: number }>();
  private readonly reports = new Map<string, FlowSetReport>();

  constructor(private readonly opts: FlowSetStoreOptions) {}

  /** Check, version and sign a new flow set version. */
  publish(name: string, flows: unknown): FlowSet {
    const versions = this.sets.get(name) ?? [];
    const set = buildFlowSet(
      name,
      (versions.at(-1)?.version ?? 0) + 1,
      flows,
      this.opts.knownTypes,
      this.opts.signer,
      (this.opts.now ?? Date.now)(),
    );
    versions.push(set);
    this.sets.set(name, versions);
    return set;
  }

  get(name: string, version?: number): FlowSet {
    const versions = this.sets.get(name) ?? [];
    const set = version === undefined ? versions.at(-1) : versions.find((s) => s.version === version);
    if (!set) throw new FlowSetError('not-found', `no flow set ${name}${version ? ` v${version}` : ''}`);
    return set;
  }

  versions(name: string): number[] {
    return (this.sets.get(name) ?? []).map((s) => s.version);
  }

  /** Assign a version to gateways (a group is a list of gateway ids); returns what to send each. */
  assign(gateways: readonly string[], name: string, version?: number): Map<string, FlowSet> {
    const set = this.get(name, version);
    const out = new Map<string, FlowSet>();
    for (const g of gateways) {
      this.assigned.set(g, { name, version: set.version });
      out.set(g, set);
    }
    return out;
  }

  /** Record a gateway's report; drift is shown, in-sync and applied clear it. */
  report(r: FlowSetReport): void {
    this.reports.set(r.gateway, r);
  }

  status(gateway: string): { assigned?: { name: string; version: number }; last?: FlowSetReport } {
    const assigned = this.assigned.get(gateway);
    const last = this.reports.get(gateway);
    return { ...(assigned ? { assigned } : {}), ...(last ? { last } : {}) };
  }

  /** An operator's local edits become the next version of the set. */
  takeInDrift(r: FlowSetReport): FlowSet {
    if (r.status !== 'drift' || !r.flows)
      throw new FlowSetError('no-drift', `gateway ${r.gateway} reported no drift to take in`);
    return this.publish(r.name, r.flows);
  }
}
