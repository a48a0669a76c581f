import { join } from 'node:path';
import type pg from 'pg';
import type { Clock } from '../../../common/clock.js';
import { errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import type { GatewayDirectory } from '../rollout/runner.js';
import { connectRolloutClient, toReport, updateSender, type Rollouts } from '../rollouts.js';
import { PgReleaseStore } from './release-store.js';
import { SharedRolloutRunner } from './rollout-leader.js';

/**
 * startRollouts (fleet/src/rollouts.ts) for one of several workers: releases shared through
 * PostgreSQL (PgReleaseStore, mirrored locally), the same `update/control` sender, with the rollout machine run by the PostgreSQL lease holder
 * (SharedRolloutRunner) instead of by every process on its own files.
 */
export async function startSharedRollouts(opts: {
  dataDir: string;
  trustedKeys: readonly string[];
  publicHttpUrl: () => string;
  mqtt: { url: string; clientId: string; username?: string; password?: string };
  directory: GatewayDirectory;
  pool: pg.Pool;
  workerId: string;
  leaseMs: number;
  /** How often a worker mirrors release bundles stored by others (default 2 s). */
  releaseSyncMs?: number;
  clock: Clock;
  log: Logger;
}): Promise<Rollouts> {
  // Bundles live in PostgreSQL; each worker mirrors them into its own release directory.
  const releases = new PgReleaseStore(join(opts.dataDir, 'releases'), opts.trustedKeys, opts.pool, opts.log);
  const syncReleases = () =>
    releases.sync().catch((err: unknown) => opts.log.warn(`release mirror: ${errorMessage(err)}`));
  await syncReleases();
  const syncTimer = setInterval(() => void syncReleases(), opts.releaseSyncMs ?? 2_000);
  syncTimer.unref();
  const client = await connectRolloutClient(opts.mqtt, opts.log);
  const runner = new SharedRolloutRunner({
    pool: opts.pool,
    workerId: opts.workerId,
    leaseMs: opts.leaseMs,
    clock: opts.clock,
    log: opts.log,
    directory: opts.directory,
    hasRelease: (v) => releases.has(v),
    syncReleases,
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
      clearInterval(syncTimer);
      await runner.shutdown();
      await client.endAsync();
    },
  };
}
