/** The admin state's contract (admin-suite.ts) on SQLite and on a real PostgreSQL. */
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { Db } from '../../../common/sqlite.js';
import { PgSqlDb } from '../../../fleet/src/pg/sql-db.js';
import { PgFleetStore } from '../../../fleet/src/pg/store.js';
import { tempDir } from '../../helpers.js';
import { startPostgres, type PostgresCluster } from '../../helpers/postgres.js';
import { adminStateSuite } from './admin-suite.js';

let cluster: PostgresCluster;
let n = 0;
beforeAll(async () => {
  cluster = await startPostgres();
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

adminStateSuite('SQLite', async () => {
  const dir = tempDir();
  // Two connections to one file, like two fleet processes would have (the single fleet has one).
  const [a, b] = await Promise.all([
    Db.open(join(dir.path, 'admin.db')),
    Db.open(join(dir.path, 'admin.db')),
  ]);
  await a.exec('PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000;');
  await b.exec('PRAGMA busy_timeout = 5000;');
  return {
    a,
    b,
    async close() {
      await Promise.all([a.close(), b.close()]);
      dir.cleanup();
    },
  };
});

adminStateSuite('PostgreSQL', async () => {
  const url = await cluster.createDatabase(`admin_${++n}`);
  // Two stores = two workers' pools; the tables come from the numbered migrations.
  const [sa, sb] = await Promise.all([
    PgFleetStore.open(url, Date.now()),
    PgFleetStore.open(url, Date.now()),
  ]);
  return {
    a: new PgSqlDb(sa.pool),
    b: new PgSqlDb(sb.pool),
    async close() {
      await Promise.all([sa.close(), sb.close()]);
    },
  };
});
