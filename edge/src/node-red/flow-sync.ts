/**
 * The gateway's half of fleet-managed flow sets: each `flows/desired` is verified and deployed
 * (deploy.ts), one at a time in arrival order, and the result goes back on `flows/reported` through
 * the outbox. After every deploy in Node-RED (the editor's Deploy button included) the running flows
 * are compared with the set last applied, so a local edit reaches the fleet as `drift`, with the
 * flows to take in. A report that says nothing new (same status and hash) is not sent again.
 */
import type { FlowsDesired } from '../../../common/contract/index.js';
import { ed25519Verifier, type FlowSet } from '../../../common/flow-set.js';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { deployFlowSet, flowSetDrift, type FlowSetResult } from './deploy.js';
import type { NodeRedHandle } from './start.js';

export interface FlowSyncOptions {
  /** The fleet's public key (PEM), the one the gateway trusts for signed config. */
  publicKeyPem: string;
  /** Store a `flows/reported` body in the outbox (and wake the uplink). */
  report: (body: Record<string, unknown>) => Promise<void>;
  log: Logger;
}

export interface FlowSync {
  /** Handle one `flows/desired` (the downlink handler). */
  desired(msg: FlowsDesired): void;
  /** Resolves when everything queued so far is done (tests, shutdown). */
  idle(): Promise<void>;
  stop(): void;
}

interface RuntimeEvents {
  on(event: 'runtime-event', fn: (e: { id?: string }) => void): void;
  off(event: 'runtime-event', fn: (e: { id?: string }) => void): void;
}

/** The wire body of a result (gateway and envelope are the outbox's). */
export function reportBody(r: FlowSetResult): Record<string, unknown> {
  const { gateway: _g, ...rest } = r;
  return { ...rest, ...(rest.reason ? { reason: rest.reason.slice(0, 2000) } : {}) };
}

export function startFlowSync(h: NodeRedHandle, opts: FlowSyncOptions): FlowSync {
  const verifier = ed25519Verifier(opts.publicKeyPem);
  let chain: Promise<void> = Promise.resolve();
  let last: string | undefined;
  let stopped = false;
  const send = async (r: FlowSetResult, always: boolean): Promise<void> => {
    const key = `${r.status}:${r.name}:${r.version ?? 0}:${r.actualHash}`;
    if (!always && key === last) return;
    last = key;
    await opts.report(reportBody(r));
  };
  const enqueue = (what: string, fn: () => Promise<void>): void => {
    chain = chain.then(fn).catch((err: unknown) => opts.log.error(`${what}: ${errorMessage(err)}`));
  };
  const checkDrift = (): void => {
    if (stopped) return;
    enqueue('flow drift check', async () => {
      const r = await flowSetDrift(h);
      // Applied then in sync with the same flows says nothing new.
      if (r.status === 'in-sync' && last === `applied:${r.name}:${r.version ?? 0}:${r.actualHash}`) return;
      if (r.status === 'drift') opts.log.warn(`running flows differ from flow set ${r.name}: drift`);
      await send(r, false);
    });
  };
  const events = (h.red as unknown as { events: RuntimeEvents }).events;
  const onEvent = (e: { id?: string }): void => {
    if (e.id === 'runtime-deploy') checkDrift();
  };
  events.on('runtime-event', onEvent);
  checkDrift();
  return {
    desired(msg) {
      enqueue(`flow set ${msg.set.name} v${msg.set.version}`, async () => {
        const r = await deployFlowSet(h, msg.set as FlowSet, verifier);
        if (r.status === 'applied') opts.log.info(`applied flow set ${r.name} v${r.version}`);
        if (r.status === 'rejected')
          opts.log.warn(`rejected flow set ${msg.set.name} v${msg.set.version}: ${r.reason ?? r.code}`);
        // A verdict on a set the fleet sent is always answered, even when it repeats the last one.
        await send(r, r.status !== 'in-sync' && r.status !== 'drift');
      });
    },
    idle: () => chain,
    stop() {
      stopped = true;
      events.off('runtime-event', onEvent);
    },
  };
}
