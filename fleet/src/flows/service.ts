/**
 * Fleet-managed flow sets: publish (check, version, sign with the fleet's config key), deploy to
 * gateways (a retained, QoS 1 `flows/desired` on each gateway's namespace), record what gateways
 * report on `flows/reported` (fed from ingest), and take a gateway's local edits in as a new version.
 * Several fleet workers may share one PostgreSQL: versions, assignments and reports are read from it,
 * and assignments are changed and sent under one lock, so the broker retains what is stored last.
 */
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../../common/clock.js';
import {
  encode,
  PROTOCOL_VERSION,
  topics,
  type FlowsDesired,
  type FlowsReported,
} from '../../../common/contract/index.js';
import { errorMessage } from '../../../common/errors.js';
import { ed25519Signer, unknownNodeTypes, type FlowSet } from '../../../common/flow-set.js';
import type { Logger } from '../../../common/log.js';
import type { SqlDb } from '../../../common/sqlite.js';
import { FlowSetDb, type FlowSetVersionInfo, type StoredFlowReport } from './flow-set-db.js';
import { buildFlowSet, FlowSetError, type FlowSetReport } from './flow-sets.js';

/** Where to deploy: one gateway, a list, a desired-config group, or a zone (sites). */
export type FlowTarget = { gateway: string } | { gateways: string[] } | { group: string } | { zone: string };

export interface FlowGatewayStatus {
  gateway: string;
  /** The version the fleet wants this gateway to run. */
  assigned?: { name: string; version: number; assignedAt: number };
  /** The gateway's last report (without the drifted flows; see `drift.nodes`). */
  reported?: Omit<StoredFlowReport, 'flows'>;
  /** The gateway runs the assigned version, unmodified. */
  inSync: boolean;
  /** Local edits waiting to be taken in (node count of the running flows). */
  drift?: { nodes: number; actualHash: string };
}

export interface FlowSets {
  readonly publicKeyPem: string;
  publish(name: string, flows: unknown, source?: string): Promise<FlowSet>;
  versions(): Promise<FlowSetVersionInfo[]>;
  get(name: string, version?: number): Promise<FlowSet>;
  deploy(
    target: FlowTarget,
    name: string,
    version?: number,
  ): Promise<{ name: string; version: number; gateways: string[] }>;
  status(gateway?: string): Promise<FlowGatewayStatus[]>;
  /** A gateway's drifted flows become the next version of `name` (default: the set it reported) and are assigned to it. */
  takeIn(gateway: string, name?: string): Promise<FlowSet>;
  /** A `flows/reported` from ingest. */
  report(gateway: string, r: FlowsReported): Promise<void>;
  stop(): Promise<void>;
}

export interface FlowSetsOptions {
  /** `fleet.db`'s path, or the PostgreSQL that several workers share (the caller closes it). */
  db: string | SqlDb;
  signingKey: { privateKeyPem: string; publicKeyPem: string };
  knownTypes: ReadonlySet<string>;
  mqtt: { url: string; clientId: string; username?: string; password?: string };
  /** Gateways the fleet knows, with their config group and site zone. */
  directory: () => Promise<{ id: string; group?: string; zone?: string }[]>;
  clock: Clock;
  log: Logger;
}

export async function startFlowSets(opts: FlowSetsOptions): Promise<FlowSets> {
  const db = await FlowSetDb.open(opts.db);
  const signer = ed25519Signer(opts.signingKey.privateKeyPem);
  const client: MqttClient = await mqtt.connectAsync(opts.mqtt.url, {
    clientId: opts.mqtt.clientId,
    username: opts.mqtt.username,
    password: opts.mqtt.password,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });
  client.on('error', (err) => opts.log.warn(`flow-set mqtt: ${errorMessage(err)}`));

  const get = async (name: string, version?: number): Promise<FlowSet> => {
    const set = await db.get(name, version);
    if (!set)
      throw new FlowSetError(
        'not-found',
        `no flow set '${name}'${version === undefined ? '' : ` version ${version}`}`,
      );
    return set;
  };
  const publish = (name: string, flows: unknown, source = 'api'): Promise<FlowSet> =>
    db.insertNext(name, source, (version) =>
      buildFlowSet(name, version, flows, opts.knownTypes, signer, opts.clock.now()),
    );
  const resolve = async (target: FlowTarget): Promise<string[]> => {
    const known = await opts.directory();
    if ('gateway' in target || 'gateways' in target) {
      const ids = 'gateway' in target ? [target.gateway] : [...new Set(target.gateways)];
      const ids2 = new Set(known.map((g) => g.id));
      const missing = ids.filter((g) => !ids2.has(g));
      if (missing.length)
        throw new FlowSetError('unknown-gateway', `no gateway ${missing.join(', ')} is known to this fleet`);
      return ids;
    }
    const [kind, value] = 'group' in target ? ['group', target.group] : ['zone', target.zone];
    const ids = known.filter((g) => (kind === 'group' ? g.group : g.zone) === value).map((g) => g.id);
    if (ids.length === 0) throw new FlowSetError('not-found', `no gateway is in ${kind} '${value}'`);
    return ids.sort();
  };
  const send = async (gateway: string, set: FlowSet): Promise<void> => {
    const msg: FlowsDesired = { v: PROTOCOL_VERSION, gateway, ts: opts.clock.now(), set };
    await client.publishAsync(topics.flowsDesired(gateway), encode('flows/desired', msg), {
      qos: 1,
      retain: true,
    });
  };
  const deploy: FlowSets['deploy'] = async (target, name, version) => {
    const set = await get(name, version);
    // Checked at publish; again here, since a newer release's palette may have dropped a type.
    const unknown = unknownNodeTypes(set.flows, (t) => opts.knownTypes.has(t));
    if (unknown.length)
      throw new FlowSetError(
        'flow-set-unknown-types',
        `flow set ${set.name} v${set.version}: unknown node types: ${unknown.join(', ')}`,
      );
    const gateways = await resolve(target);
    // Store and send under the lock: two deploys (or a deploy and another worker's start-up
    // re-send) to one gateway cannot leave an older set retained than the one assigned.
    // A send that fails does not undo the assignment (the next start re-sends it); the call fails.
    const sent = await db.assigning(async (tx) => {
      await tx.assign(gateways, set.name, set.version, opts.clock.now());
      return Promise.allSettled(gateways.map((g) => send(g, set)));
    });
    const failed = sent.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    opts.log.info(`flow set ${set.name} v${set.version} sent to ${gateways.join(', ')}`);
    return { name: set.name, version: set.version, gateways };
  };

  // The broker may have lost its retained messages (embedded aedes keeps them in memory): say again
  // what every assigned gateway should run. A gateway already running it changes nothing (it
  // answers at most one report), so every worker may do it; the lock keeps a deploy made meanwhile
  // through another worker from being overwritten by an older assignment read before it.
  await db.assigning(async (tx) => {
    const sets = new Map<string, FlowSet | undefined>();
    const sends: Promise<void>[] = [];
    for (const a of await tx.assignments()) {
      const key = `${a.name} v${a.version}`;
      if (!sets.has(key)) sets.set(key, await tx.get(a.name, a.version));
      const set = sets.get(key);
      if (set) sends.push(send(a.gateway, set));
    }
    await Promise.all(sends);
  });

  return {
    publicKeyPem: opts.signingKey.publicKeyPem,
    publish,
    versions: () => db.list(),
    get,
    deploy,
    async status(gateway) {
      const assigned = new Map((await db.assignments()).map((a) => [a.gateway, a]));
      const reports = new Map((await db.reports(gateway)).map((r) => [r.gateway, r]));
      const ids = gateway ? [gateway] : [...new Set([...assigned.keys(), ...reports.keys()])].sort();
      return ids.map((g) => {
        const a = assigned.get(g);
        const r = reports.get(g);
        const { flows, ...reported } = r ?? { flows: undefined };
        // A rejected offer leaves the applied version running: still in sync if that is the assigned one.
        const inSync =
          !!a &&
          !!r &&
          r.status !== 'drift' &&
          r.name === a.name &&
          r.version === a.version &&
          r.actualHash === (r.expectedHash ?? r.actualHash);
        return {
          gateway: g,
          ...(a ? { assigned: { name: a.name, version: a.version, assignedAt: a.assignedAt } } : {}),
          ...(r ? { reported: reported as Omit<StoredFlowReport, 'flows'> } : {}),
          inSync,
          ...(r?.status === 'drift' ? { drift: { nodes: flows?.length ?? 0, actualHash: r.actualHash } } : {}),
        };
      });
    },
    async takeIn(gateway, name) {
      const [r] = await db.reports(gateway);
      if (!r || r.status !== 'drift' || !r.flows)
        throw new FlowSetError('no-drift', `gateway ${gateway} has reported no local edits to take in`);
      const target = name ?? r.name;
      if (target === 'local')
        throw new FlowSetError('flow-set-invalid', `gateway ${gateway} runs no fleet flow set: name the new set`);
      const set = await publish(target, r.flows, `drift:${gateway}`);
      await deploy({ gateway }, set.name, set.version);
      return set;
    },
    async report(gateway, m) {
      const r: FlowSetReport = {
        gateway,
        name: m.name,
        status: m.status,
        actualHash: m.actualHash,
        ...(m.version !== undefined ? { version: m.version } : {}),
        ...(m.offered !== undefined ? { offered: m.offered } : {}),
        ...(m.code ? { code: m.code } : {}),
        ...(m.reason ? { reason: m.reason } : {}),
        ...(m.expectedHash ? { expectedHash: m.expectedHash } : {}),
        ...(m.flows ? { flows: m.flows } : {}),
      };
      if (r.status === 'rejected')
        opts.log.warn(`gateway ${gateway} rejected flow set ${r.name} v${r.offered ?? '?'}: ${r.reason ?? r.code}`);
      await db.recordReport(r, opts.clock.now());
    },
    async stop() {
      await client.endAsync();
      await db.close();
    },
  };
}
