import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Db } from '../../common/sqlite.js';

describe('Db: statements outside a transaction never join it', () => {
  let dir: string;
  let db: Db;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'citygate-db-'));
    db = await Db.open(join(dir, 'x.db'));
    await db.exec('CREATE TABLE t (k TEXT)');
  });
  afterEach(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a standalone insert issued while a transaction is open survives that transaction’s rollback', async () => {
    let inTx!: () => void;
    const started = new Promise<void>((r) => (inTx = r));
    const tx = db.transaction(async (d) => {
      await d.run(`INSERT INTO t VALUES ('tx')`);
      inTx();
      await new Promise((r) => setTimeout(r, 30));
      throw new Error('boom');
    });
    await started;
    const standalone = db.run(`INSERT INTO t VALUES ('standalone')`);
    await expect(tx).rejects.toThrow('boom');
    await standalone;
    expect(await db.all<{ k: string }>('SELECT k FROM t')).toEqual([{ k: 'standalone' }]);
  });

  it('a standalone read during a transaction does not see its uncommitted rows', async () => {
    let inTx!: () => void;
    const started = new Promise<void>((r) => (inTx = r));
    const tx = db.transaction(async (d) => {
      await d.run(`INSERT INTO t VALUES ('a')`);
      inTx();
      await new Promise((r) => setTimeout(r, 20));
      await d.run(`INSERT INTO t VALUES ('b')`);
    });
    await started;
    const seen = await db.get<{ n: number }>('SELECT COUNT(*) AS n FROM t');
    await tx;
    // The read waited for the commit, so it saw both rows or (never) half of the transaction.
    expect(seen?.n).toBe(2);
  });

  it('statements keep their issue order around transactions, and nesting is refused with a clear error', async () => {
    const order: string[] = [];
    const a = db.run(`INSERT INTO t VALUES ('1')`).then(() => order.push('1'));
    const b = db.transaction(async (d) => {
      await d.run(`INSERT INTO t VALUES ('2')`);
      await expect(d.transaction(async () => undefined)).rejects.toThrow(/nested transaction/);
    });
    const c = db.run(`INSERT INTO t VALUES ('3')`).then(() => order.push('3'));
    await Promise.all([a, b, c]);
    expect((await db.all<{ k: string }>('SELECT k FROM t ORDER BY rowid')).map((r) => r.k)).toEqual([
      '1',
      '2',
      '3',
    ]);
    expect(order).toEqual(['1', '3']);
  });
});
