/**
 * The hook between the edge runtime and Node-RED: `attachNodeRed(runtime, options)` starts the
 * editor and the flows with the CityGate palette wired to this runtime, and stops them with it.
 */
import { join } from 'node:path';
import { createLogger, type Logger } from '../../../common/log.js';
import type { EdgeRuntime } from '../main.js';
import type { Location } from '../rules/types.js';
import { defaultFlows } from './default-flows.js';
import { startFlowSync, type FlowSync } from './flow-sync.js';
import { servicesFromRuntime, type AlarmRaise, type EdgeServices, type ServiceSinks } from './services.js';
import { startNodeRed, type AdminAuth, type NodeRedHandle } from './start.js';

export interface AttachOptions {
  /** Default true; false: no Node-RED at all (nothing is loaded). */
  enabled?: boolean;
  port?: number;
  host?: string;
  adminAuth: AdminAuth | false;
  credentialSecret?: string;
  /** Where alarms and telemetry from flows go (the lead connects these to the outbox). */
  sinks: Omit<ServiceSinks, 'location'>;
  /** The gateway's location, for sun times in `schedule` nodes. */
  location?: Location;
  /** Flows installed on first start: default the shipped flows/*.json; `[]` for none. */
  initialFlows?: unknown[];
  /**
   * Flow sets from the fleet (`flows/desired`), verified with the fleet's public key (the one the
   * gateway trusts for signed config); results and drift go back on `flows/reported`.
   */
  flowSets?: { publicKeyPem: string };
  /** Replace parts of the services (tests: a separate clock for schedules). */
  services?: (base: EdgeServices) => EdgeServices;
  log?: Logger;
}

/**
 * Sinks into the runtime's store-and-forward outbox: flow alarms as `alarms` records (alarm
 * `flow:<id>`), telemetry as `events` of type `telemetry` with `{ stream, payload }`.
 */
export function outboxSinks(
  runtime: Pick<EdgeRuntime, 'outbox' | 'uplink' | 'clock'>,
): AttachOptions['sinks'] {
  const raised = new Map<string, AlarmRaise>();
  const put = async (channel: 'alarms' | 'events', body: Record<string, unknown>): Promise<void> => {
    await runtime.outbox.put(channel, [{ body, ts: runtime.clock.now() }]);
    runtime.uplink.notify();
  };
  const alarm = (a: AlarmRaise, state: 'raised' | 'cleared'): Record<string, unknown> => ({
    alarm: `flow:${a.id}`.slice(0, 128),
    key: a.id.slice(0, 200),
    ...(a.device ? { device: a.device } : {}),
    severity: a.severity,
    state,
    message: a.message.slice(0, 1000),
  });
  return {
    async raiseAlarm(a) {
      raised.set(a.id, a);
      await put('alarms', alarm(a, 'raised'));
    },
    async clearAlarm(id, device) {
      const a = raised.get(id) ?? { id, severity: 'minor', message: id, ...(device ? { device } : {}) };
      raised.delete(id);
      await put('alarms', alarm({ ...a, message: `cleared: ${a.message}` }, 'cleared'));
    },
    async publishTelemetry(stream, payload) {
      await put('events', { type: 'telemetry', data: { stream, payload } });
    },
  };
}

export type AttachedNodeRed = NodeRedHandle & { readonly flowSync?: FlowSync };

export async function attachNodeRed(
  runtime: EdgeRuntime,
  options: AttachOptions,
): Promise<AttachedNodeRed | undefined> {
  if (options.enabled === false) return undefined;
  const log = (options.log ?? createLogger()).child(`node-red:${runtime.id}`);
  const base = servicesFromRuntime(runtime, {
    ...options.sinks,
    ...(options.location ? { location: options.location } : {}),
  });
  const handle = await startNodeRed({
    services: options.services ? options.services(base) : base,
    userDir: join(runtime.dataDir, 'node-red'),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.host !== undefined ? { host: options.host } : {}),
    adminAuth: options.adminAuth,
    ...(options.credentialSecret !== undefined ? { credentialSecret: options.credentialSecret } : {}),
    initialFlows: options.initialFlows ?? defaultFlows(),
    log,
  });
  if (!options.flowSets) return handle;
  const flowSync = startFlowSync(handle, {
    publicKeyPem: options.flowSets.publicKeyPem,
    report: async (body) => {
      await runtime.outbox.put('flows/reported', [{ body, ts: runtime.clock.now() }]);
      runtime.uplink.notify();
    },
    log: log.child('flow-sets'),
  });
  runtime.uplink.handlers.flowsDesired = (msg) => flowSync.desired(msg);
  return {
    ...handle,
    flowSync,
    async stop() {
      delete runtime.uplink.handlers.flowsDesired;
      flowSync.stop();
      await flowSync.idle();
      await handle.stop();
    },
  };
}
