import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { tempDir, waitFor } from '../../helpers.js';
import { freePort, startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { Mosquitto } from '../../e2e/loss/harness.js';
import { burst, startWorker, type Worker } from './cluster.js';

/** Several stateless fleet workers on one Mosquitto and one PostgreSQL, as real processes. */
describe('fleet workers on Mosquitto + PostgreSQL', () => {
  const dir = tempDir();
  let cluster: PostgresCluster;
  let mosquitto: Mosquitto;
  let db = 0;
  const workers: Worker[] = [];

  beforeAll(async () => {
    cluster = await startPostgres();
    mosquitto = new Mosquitto(dir.path, await freePort());
    await mosquitto.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await mosquitto?.stop();
    await cluster?.stop();
    dir.cleanup();
  });

  const query = async <T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      return (await c.query<T>(sql)).rows;
    } finally {
      await c.end();
    }
  };
  const counts = (url: string) =>
    query<{ readings: string; messages: string; missing: string | null }>(
      url,
      `SELECT (SELECT count(*) FROM readings) AS readings, (SELECT count(*) FROM messages) AS messages,
              (SELECT sum(GREATEST(max_seq, declared_seq) - received) FROM sessions) AS missing`,
    );
  const byWorker = async (url: string) =>
    Object.fromEntries(
      (
        await query<{ worker: string; n: string }>(
          url,
          'SELECT worker, count(*) AS n FROM messages GROUP BY worker',
        )
      ).map((r) => [r.worker, Number(r.n)]),
    );

  it('two workers: a burst from many gateways is stored exactly once, and each worker took a share', async () => {
    const url = await cluster.createDatabase(`two_${++db}`);
    const group = `g${db}`;
    const pair = await Promise.all(
      ['a', 'b'].map((id) => startWorker({ id: `w2-${id}`, brokerUrl: mosquitto.url, storeUrl: url, group })),
    );
    workers.push(...pair);
    const sent = await burst({ brokerUrl: mosquitto.url, gateways: 40, messages: 15, perMessage: 10 });
    await waitFor(
      'every message stored',
      async () => Number((await counts(url))[0]!.messages) === sent.messages,
      30_000,
      100,
    );
    const [c] = await counts(url);
    expect(Number(c!.readings)).toBe(sent.readings);
    expect(Number(c!.missing ?? 0)).toBe(0);
    const shares = await byWorker(url);
    expect(Object.keys(shares).sort()).toEqual(['w2-a', 'w2-b']);
    for (const n of Object.values(shares)) expect(n).toBeGreaterThan(sent.messages / 10);
    // Served by either worker: both answer from the same store.
    const [a, b] = await Promise.all(
      pair.map(async (w) => (await fetch(`${w.httpUrl}/api/v1/gateways/gw-0007`)).json()),
    );
    expect(a).toEqual(b);
    expect(a).toMatchObject({ id: 'gw-0007', readings: 150, missingMessages: 0 });
    await Promise.all(pair.map((w) => w.kill('SIGTERM')));
  }, 90_000);

  it('three workers: one killed with SIGKILL mid-burst loses nothing; its sessions are adopted', async () => {
    const url = await cluster.createDatabase(`three_${++db}`);
    const group = `g${db}`;
    const trio = await Promise.all(
      ['a', 'b', 'c'].map((id) =>
        startWorker({ id: `w3-${id}`, brokerUrl: mosquitto.url, storeUrl: url, group }),
      ),
    );
    workers.push(...trio);
    const victim = trio[1]!;
    // SIGKILL the victim once it has stored a few messages, while the burst is still being stored.
    const storedAtKill = (async () => {
      await waitFor('the victim storing', async () => ((await byWorker(url))['w3-b'] ?? 0) >= 5, 30_000, 20);
      await victim.kill('SIGKILL');
      return Number((await counts(url))[0]!.messages);
    })();
    const sent = await burst({ brokerUrl: mosquitto.url, gateways: 50, messages: 20, perMessage: 10 });
    const atKill = await storedAtKill;
    expect(victim.proc.signalCode).toBe('SIGKILL');
    expect(atKill).toBeLessThan(sent.messages);
    await waitFor(
      'every message stored',
      async () => Number((await counts(url))[0]!.messages) === sent.messages,
      45_000,
      200,
    );
    const [c] = await counts(url);
    expect(Number(c!.readings)).toBe(sent.readings);
    expect(Number(c!.missing ?? 0)).toBe(0);
    const shares = await byWorker(url);
    expect(shares['w3-b']).toBeGreaterThan(0); // it had taken its share before it died
    expect((shares['w3-a'] ?? 0) + (shares['w3-c'] ?? 0)).toBeGreaterThan(sent.messages / 2);
    const leases = await query<{ holder: string }>(
      url,
      `SELECT holder FROM leases WHERE name LIKE 'ingest:${group}:%'`,
    );
    expect(leases.length).toBe(12);
    expect(leases.every((l) => l.holder !== 'w3-b')).toBe(true);
  }, 120_000);
});
