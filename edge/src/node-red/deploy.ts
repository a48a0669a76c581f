/**
 * Flow sets from the fleet, applied on the gateway through Node-RED's runtime API (a full deploy,
 * the same path as the editor's Deploy button). A set is verified (signature, hash, version) and
 * its node types checked against the running palette before anything changes; the result and the
 * drift (hash of the running flows vs the set last applied) are reported back.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage } from '../../../common/errors.js';
import {
  flowsHash,
  unknownNodeTypes,
  verifyFlowSet,
  type FlowNodeJson,
  type FlowSet,
  type FlowSetVerifier,
} from '../../../common/flow-set.js';
import { writeFileAtomic } from '../../../common/fs-atomic.js';
import type { NodeRedHandle } from './start.js';

export interface FlowSetResult {
  gateway: string;
  name: string;
  version?: number;
  /** With `rejected`: the version that was refused. */
  offered?: number;
  status: 'applied' | 'rejected' | 'in-sync' | 'drift';
  code?: string;
  reason?: string;
  expectedHash?: string;
  actualHash: string;
  flows?: FlowNodeJson[];
}

interface AppliedState {
  name: string;
  version: number;
  flowsHash: string;
  appliedAt: string;
}

const stateFile = (h: NodeRedHandle): string => join(h.userDir, 'citygate-flow-set.json');

function applied(h: NodeRedHandle): AppliedState | undefined {
  const f = stateFile(h);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as AppliedState) : undefined;
}

async function runningFlows(h: NodeRedHandle): Promise<FlowNodeJson[]> {
  return (await h.red.runtime.flows.getFlows({})).flows as FlowNodeJson[];
}

export async function deployFlowSet(
  h: NodeRedHandle,
  set: FlowSet,
  verifier: FlowSetVerifier,
): Promise<FlowSetResult> {
  const gateway = h.services.gatewayId;
  const current = applied(h);
  const reject = async (code: string, reason: string): Promise<FlowSetResult> => ({
    gateway,
    name: set.name,
    ...(current ? { version: current.version, expectedHash: current.flowsHash } : {}),
    offered: set.version,
    status: 'rejected',
    code,
    reason,
    actualHash: flowsHash(await runningFlows(h)),
  });
  try {
    verifyFlowSet(set, verifier);
  } catch (err) {
    return reject((err as { code?: string }).code ?? 'flow-set-invalid', errorMessage(err));
  }
  if (current && current.name === set.name && set.version < current.version)
    return reject('flow-set-stale', `v${set.version} is older than the applied v${current.version}`);
  // The same set again (a retained message after a reconnect): never overwrite local edits with it.
  if (
    current &&
    current.name === set.name &&
    set.version === current.version &&
    current.flowsHash === set.flowsHash
  )
    return flowSetDrift(h);
  const unknown = unknownNodeTypes(set.flows, (t) => !!h.red.nodes.getType(t));
  if (unknown.length)
    return reject('flow-set-unknown-types', `this gateway has no node types: ${unknown.join(', ')}`);
  // Already running exactly these flows (drift taken in as this version): adopt without a restart.
  if (flowsHash(await runningFlows(h)) !== set.flowsHash) {
    try {
      await h.red.runtime.flows.setFlows({
        flows: { flows: structuredClone(set.flows) },
        deploymentType: 'full',
      });
    } catch (err) {
      return reject('flow-set-deploy-failed', errorMessage(err));
    }
  }
  const state: AppliedState = {
    name: set.name,
    version: set.version,
    flowsHash: set.flowsHash,
    appliedAt: new Date(h.services.clock.now()).toISOString(),
  };
  writeFileAtomic(stateFile(h), JSON.stringify(state, null, 2) + '\n', 0o640);
  return {
    gateway,
    name: set.name,
    version: set.version,
    status: 'applied',
    expectedHash: set.flowsHash,
    actualHash: flowsHash(await runningFlows(h)),
  };
}

/** Compare the running flows with the set last applied; with drift, include the flows to take in. */
export async function flowSetDrift(h: NodeRedHandle): Promise<FlowSetResult> {
  const current = applied(h);
  const flows = await runningFlows(h);
  const actualHash = flowsHash(flows);
  // Never deployed from the fleet: local flows are drift to take in, an empty runtime is not.
  const drifted = current ? current.flowsHash !== actualHash : flows.length > 0;
  return {
    gateway: h.services.gatewayId,
    name: current?.name ?? 'local',
    ...(current ? { version: current.version, expectedHash: current.flowsHash } : {}),
    status: drifted ? 'drift' : 'in-sync',
    actualHash,
    ...(drifted ? { flows } : {}),
  };
}
