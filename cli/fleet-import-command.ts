import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { importFleet } from '../fleet/src/import/import.js';
import { UsageError, type Command } from './args.js';

/** A progress line per table page on stderr: `readings 12000/48000 (25%)`, at most every 500 ms per table. */
function progressPrinter(): (what: string, done: number, total: number) => void {
  let lastAt = 0;
  let lastWhat = '';
  return (what, done, total) => {
    const now = Date.now();
    if (what === lastWhat && done < total && now - lastAt < 500) return;
    lastAt = now;
    lastWhat = what;
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    process.stderr.write(`import: ${what} ${done}/${total} (${pct}%)\n`);
  };
}

/** `citygate fleet import`: a stopped single fleet's data directory into an empty PostgreSQL database. */
export const fleetImportCommand: Command = {
  name: 'fleet import',
  summary: "copy a stopped single fleet's state (SQLite, keys) into an empty PostgreSQL database",
  usage: 'fleet import --data DIR --store postgres://…',
  options: {
    data: { type: 'string' },
    store: { type: 'string' },
  },
  help: {
    data: 'data directory of the stopped fleet (fleet.db, fleet-admin.db, pki/, keys/)',
    store:
      'empty PostgreSQL database (postgres://user:pass@host:port/db); afterwards run citygate fleet --store on it',
  },
  async run(values) {
    if (typeof values.data !== 'string') throw new UsageError('--data DIR is required (the stopped fleet)');
    if (typeof values.store !== 'string') throw new UsageError('--store postgres://… is required');
    let u: URL;
    try {
      u = new URL(values.store);
    } catch {
      throw new UsageError('--store: not a URL (expected postgres://…)');
    }
    if (!/^postgres(ql)?:$/.test(u.protocol))
      throw new UsageError(`--store: expected a postgres:// URL, got '${u.protocol}'`);
    const s = await importFleet({
      dataDir: values.data,
      storeUrl: values.store,
      now: Date.now(),
      progress: progressPrinter(),
      warn: (line) => process.stderr.write(`import: warning: ${line}\n`),
    });
    const counts = Object.entries(s.rows)
      .filter(([, n]) => n > 0)
      .map(([t, n]) => `${t} ${n}`)
      .join(', ');
    console.log(
      `imported: ${counts || 'no rows'}; keys: ${s.keys.join(', ') || 'none'}; rollouts ${s.rollouts}; release builds ${s.releases}`,
    );
    console.log('start the fleet with: citygate fleet --data NEW_DIR --store <the same URL>');
    // Not kept in PostgreSQL: what each fleet process reads from its own data directory.
    const local = ['keys/releases', 'releases', 'rollouts'].filter((d) =>
      existsSync(join(values.data as string, d)),
    );
    if (local.length > 0)
      console.log(
        `also copy ${local.map((d) => `${d}/`).join(', ')} into NEW_DIR: trusted release keys are per process, ` +
          'and a fleet without --share keeps releases and rollouts in its data directory (docs/scaling.md)',
      );
    return 0;
  },
};
