import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../helpers.js';
import { freePort } from '../../helpers/postgres.js';

const CLI = new URL('../../../cli/main.ts', import.meta.url).pathname;
const fleet = (...args: string[]) => {
  const dir = tempDir();
  try {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', CLI, 'fleet', '--insecure', '--data', dir.path, ...args],
      {
        encoding: 'utf8',
        timeout: 30_000,
      },
    );
    return { code: r.status, err: r.stderr };
  } finally {
    dir.cleanup();
  }
};

describe('citygate fleet --store / --share: bad input is named', () => {
  it('refuses a store URL that is not postgres://', () => {
    const r = fleet('--store', 'mysql://db/fleet');
    expect(r.code).toBe(2);
    expect(r.err).toContain("--store: expected a postgres:// URL, got 'mysql:'");
  });

  it('refuses --share without an external broker and a PostgreSQL store', () => {
    const r = fleet('--share', 'fleet', '--store', 'postgres://127.0.0.1/x');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--share needs --broker URL and --store postgres://');
    expect(fleet('--share', 'no/slash').err).toContain("--share: 'no/slash' is not a group name");
  });

  it('refuses --mosquitto-pid without --mosquitto-dir', () => {
    const r = fleet('--mosquitto-pid', '/run/mosquitto/mosquitto.pid');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--mosquitto-pid needs --mosquitto-dir');
  });

  it('names an unreachable PostgreSQL without printing its password', async () => {
    const port = await freePort();
    const r = fleet(
      '--http-port',
      '0',
      '--mqtt-port',
      '0',
      '--store',
      `postgres://fleet:s3cret-pw@127.0.0.1:${port}/fleet`,
    );
    expect(r.code).toBe(1);
    expect(r.err).toContain(`PostgreSQL store postgres://fleet:***@127.0.0.1:${port}/fleet`);
    expect(r.err).not.toContain('s3cret-pw');
  });
});
