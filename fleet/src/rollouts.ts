import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import type { Clock } from '../../common/clock.js';
import {
  encode,
  PROTOCOL_VERSION,
  topics,
  type UpdateControl,
  type UpdateProgress,
} from '../../common/contract/index.js';
import { errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { ReleaseStore } from './releases/store.js';
import {
  FileRolloutPersistence,
  RolloutRunner,
  type GatewayDirectory,
  type UpdateSender,
} from './rollout/runner.js';
import type { GatewayReport } from './rollout/types.js';

export interface Rollouts {
  readonly releases: ReleaseStore;
  readonly runner: RolloutRunner;
  readonly uploadDir: string;
  /** Feed a gateway's `update/progress` (from ingest) into its rollout. */
  progress(gateway: string, p: UpdateProgress): void;
  stop(): Promise<void>;
}

/**
 * Rollout transaction ids are `<rollout>:<gateway>`; the wire's tx allows [A-Za-z0-9_-] only, and
 * neither rollout nor gateway ids contain `_`, so `:` ↔ `_` maps both ways without ambiguity.
 */
export const wireTx = (txId: string): string => txId.replace(':', '_');
const runnerTx = (tx: string): string => tx.replace('_', ':');

/** A gateway's update progress as the rollout machine counts it. */
/** The fleet's MQTT client for update commands (one per process, single fleet or worker). */
export async function connectRolloutClient(
  o: { url: string; clientId: string; username?: string; password?: string },
  log: Logger,
): Promise<MqttClient> {
  const client = await mqtt.connectAsync(o.url, {
    clientId: o.clientId,
    username: o.username,
    password: o.password,
    protocolVersion: 4,
    reconnectPeriod: 1000,
  });
  client.on('error', (err) => log.warn(`rollout mqtt: ${errorMessage(err)}`));
  return client;
}

/** Sends `update/control` install commands for a rollout's gateways (one or several fleet workers). */
export function updateSender(
  releases: Pick<ReleaseStore, 'list'>,
  client: MqttClient,
  publicHttpUrl: () => string,
  clock: Clock,
): UpdateSender {
  return {
    async sendUpdate(gateway, cmd) {
      const build = releases.list().find((r) => r.version === cmd.version);
      const msg: UpdateControl = {
        v: PROTOCOL_VERSION,
        gateway,
        tx: wireTx(cmd.txId),
        action: 'install',
        release: {
          version: cmd.version,
          url: `${publicHttpUrl()}${cmd.bundlePath}`,
          sha256: build?.builds[0]?.sha256 ?? '0'.repeat(64),
        },
        ts: clock.now(),
      };
      await client.publishAsync(topics.updateControl(gateway), encode('update/control', msg), { qos: 1 });
    },
  };
}

export function toReport(p: UpdateProgress): GatewayReport | undefined {
  if (!p.tx) return undefined;
  const txId = runnerTx(p.tx);
  if (p.status === 'failed')
    return { txId, status: 'failed', step: p.step, ...(p.detail ? { reason: p.detail } : {}) };
  if (p.status === 'done' && p.step === 'commit') return { txId, status: 'committed', step: p.step };
  if (p.status === 'done' && p.step === 'rollback')
    return { txId, status: 'rolled-back', step: p.step, ...(p.detail ? { reason: p.detail } : {}) };
  if (p.status === 'done' && p.step === 'busy') return { txId, status: 'busy', step: p.step };
  return { txId, status: 'running', step: p.step };
}

/**
 * Releases and staged rollouts for the fleet: the store of signed bundles, the rollout runner with
 * its state on disk, and the sender that puts `update/control` on each gateway's topic (QoS 1).
 */
export async function startRollouts(opts: {
  dataDir: string;
  trustedKeys: readonly string[];
  /** Base URL gateways download bundles from (the fleet's public HTTP URL). */
  publicHttpUrl: () => string;
  mqtt: { url: string; clientId: string; username?: string; password?: string };
  directory: GatewayDirectory;
  clock: Clock;
  log: Logger;
}): Promise<Rollouts> {
  const releases = new ReleaseStore(join(opts.dataDir, 'releases'), opts.trustedKeys);
  const client = await connectRolloutClient(opts.mqtt, opts.log);
  const runner = new RolloutRunner({
    clock: opts.clock,
    log: opts.log,
    directory: opts.directory,
    persistence: new FileRolloutPersistence(join(opts.dataDir, 'rollouts')),
    hasRelease: (v) => releases.has(v),
    sender: updateSender(releases, client, opts.publicHttpUrl, opts.clock),
  });
  runner.start();
  return {
    releases,
    runner,
    uploadDir: join(opts.dataDir, 'uploads'),
    progress(gateway, p) {
      const r = toReport(p);
      if (r) runner.report(gateway, r);
    },
    async stop() {
      runner.stop();
      await client.endAsync();
    },
  };
}
