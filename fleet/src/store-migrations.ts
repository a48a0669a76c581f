import type { Db } from '../../common/sqlite.js';

/** One numbered schema step of a SQLite file. */
export interface SqliteMigration {
  version: number;
  name: string;
  up(db: Db): Promise<void>;
}

/**
 * Apply the steps newer than the file's `schema_version`, in order, each in its own transaction with
 * its row in `schema_version`, so a crash leaves the file at a whole step. Returns the versions applied.
 */
export async function migrateSqlite(
  db: Db,
  steps: readonly SqliteMigration[],
  now: number,
): Promise<number[]> {
  await db.exec(
    'CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  const applied: number[] = [];
  for (const step of [...steps].sort((a, b) => a.version - b.version)) {
    const done = await db.get<{ v: number }>('SELECT version AS v FROM schema_version WHERE version = ?', [
      step.version,
    ]);
    if (done) continue;
    await db.transaction(async (t) => {
      await step.up(t);
      await t.run('INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)', [
        step.version,
        step.name,
        now,
      ]);
    });
    applied.push(step.version);
  }
  return applied;
}
