/**
 * Release bundles shared by fleet workers through PostgreSQL: an uploaded bundle is verified and
 * kept on the receiving worker's disk (ReleaseStore) and stored in `release_builds` +
 * `release_chunks` (1 MiB bytea rows); every worker mirrors what it does not have yet into its own
 * release directory, verifying it again with its own trusted keys before serving it. Downloads are
 * served from the local mirror as before (docs/scaling.md says why not large objects or a share).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type pg from 'pg';
import { CityGateError, errorMessage } from '../../../common/errors.js';
import type { Logger } from '../../../common/log.js';
import { ReleaseStore, type ReleaseBuild } from '../releases/store.js';

export const CHUNK_BYTES = 1 << 20;

const buildName = (b: Pick<ReleaseBuild, 'platform' | 'arch' | 'nodeAbi'>) =>
  `${b.platform}-${b.arch}-node${b.nodeAbi}`;

export class PgReleaseStore extends ReleaseStore {
  private syncing: Promise<void> | undefined;
  private readonly refused = new Set<string>();
  private seq = 0;

  constructor(
    private readonly releaseDir: string,
    trustedKeys: readonly string[],
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {
    super(releaseDir, trustedKeys);
  }

  /** Verify, keep locally, and store in PostgreSQL (the same build uploaded twice is kept once). */
  override async add(file: string): Promise<ReleaseBuild> {
    const build = await super.add(file);
    const path = join(this.releaseDir, build.version, `${buildName(build)}.bundle`);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const ins = await client.query(
        `INSERT INTO release_builds (version, name, sha256, size, build) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (version, name) DO NOTHING`,
        [build.version, buildName(build), build.sha256, build.size, JSON.stringify(build)],
      );
      if (ins.rowCount === 0) {
        const r = await client.query<{ sha256: string }>(
          'SELECT sha256 FROM release_builds WHERE version = $1 AND name = $2',
          [build.version, buildName(build)],
        );
        if (r.rows[0]?.sha256 !== build.sha256)
          throw new CityGateError(
            'release-exists',
            `release ${build.version} for ${buildName(build)} exists with different content`,
          );
      } else {
        const fh = await open(path, 'r');
        try {
          const buf = Buffer.alloc(CHUNK_BYTES);
          for (let n = 0; ; n++) {
            const { bytesRead } = await fh.read(buf, 0, CHUNK_BYTES, n * CHUNK_BYTES);
            if (bytesRead === 0) break;
            await client.query(
              'INSERT INTO release_chunks (version, name, n, data) VALUES ($1, $2, $3, $4)',
              [build.version, buildName(build), n, buf.subarray(0, bytesRead)],
            );
          }
        } finally {
          await fh.close();
        }
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    return build;
  }

  override async remove(version: string): Promise<void> {
    await this.pool.query('DELETE FROM release_chunks WHERE version = $1', [version]);
    await this.pool.query('DELETE FROM release_builds WHERE version = $1', [version]);
    await super.remove(version);
  }

  /** Mirror builds stored by other workers (one run at a time; callers share a running one). */
  sync(): Promise<void> {
    this.syncing ??= this.pull().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async pull(): Promise<void> {
    const r = await this.pool.query<{ version: string; name: string; sha256: string }>(
      'SELECT version, name, sha256 FROM release_builds ORDER BY version, name',
    );
    for (const row of r.rows) {
      const key = `${row.version}/${row.name}/${row.sha256}`;
      if (this.refused.has(key) || this.haveLocally(row)) continue;
      const tmpDir = join(this.releaseDir, '.incoming');
      mkdirSync(tmpDir, { recursive: true, mode: 0o750 });
      const tmp = join(tmpDir, `${process.pid}-${this.seq++}.bundle`);
      try {
        await this.download(row, tmp);
        await super.add(tmp); // verified again with this worker's trusted keys, then moved in place
        this.log.info(`release ${row.version} (${row.name}) mirrored from the shared store`);
      } catch (err) {
        this.refused.add(key);
        this.log.error(
          `release ${row.version} (${row.name}) from the shared store refused: ${errorMessage(err)}`,
        );
      } finally {
        await rm(tmp, { force: true });
      }
    }
  }

  private haveLocally(row: { version: string; name: string; sha256: string }): boolean {
    const meta = join(this.releaseDir, row.version, `${row.name}.bundle.json`);
    if (!existsSync(meta)) return false;
    try {
      return (JSON.parse(readFileSync(meta, 'utf8')) as ReleaseBuild).sha256 === row.sha256;
    } catch {
      return false;
    }
  }

  private async download(row: { version: string; name: string; sha256: string }, tmp: string): Promise<void> {
    const fh = await open(tmp, 'w', 0o640);
    const hash = createHash('sha256');
    try {
      for (let n = 0; ; n++) {
        const c = await this.pool.query<{ data: Buffer }>(
          'SELECT data FROM release_chunks WHERE version = $1 AND name = $2 AND n = $3',
          [row.version, row.name, n],
        );
        const data = c.rows[0]?.data;
        if (!data) break;
        hash.update(data);
        await fh.write(data);
      }
    } finally {
      await fh.close();
    }
    const got = hash.digest('hex');
    if (got !== row.sha256) throw new Error(`sha256 ${got} does not match the stored ${row.sha256}`);
  }
}
