/**
 * Flow sets: every signed version as it was sent, which version each gateway should run, and each
 * gateway's last report. In the fleet's SQLite file (`fleet.db`, own connection, like the alarm
 * board; versions are primary data, so synchronous=FULL, the default) or in the PostgreSQL that
 * several workers share (tables from migration 5, fleet/src/pg/schema.ts).
 */
import type { FlowSet } from '../../../common/flow-set.js';
import { openModuleDb, type Db, type SqlDb } from '../../../common/sqlite.js';
import { exclusive } from '../pg/sql-db.js';
import type { FlowSetReport } from './flow-sets.js';

export interface FlowSetVersionInfo {
  name: string;
  version: number;
  createdAt: string;
  flowsHash: string;
  nodes: number;
  /** `api`, or `drift:<gateway>` for a version taken in from a gateway's local edits. */
  source: string;
}

export interface FlowAssignment {
  gateway: string;
  name: string;
  version: number;
  assignedAt: number;
}

export interface StoredFlowReport extends FlowSetReport {
  receivedAt: number;
}

export class FlowSetDb {
  /** This instance's locked sections, one after another (see `inTurn`). */
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly db: SqlDb,
    private readonly owned: Db | undefined,
  ) {}

  /** `fleet.db`'s path (own connection), or a shared database (PostgreSQL; the caller closes it). */
  static async open(at: string | SqlDb): Promise<FlowSetDb> {
    // PostgreSQL: the tables come from the numbered migrations (fleet/src/pg/schema.ts, step 5).
    const { db, owned } = await openModuleDb(at, {
      pragmas: 'PRAGMA busy_timeout = 5000;',
      sqliteSchema: `
      CREATE TABLE IF NOT EXISTS flow_sets (
        name TEXT NOT NULL, version INTEGER NOT NULL, created_at TEXT NOT NULL, flows_hash TEXT NOT NULL,
        nodes INTEGER NOT NULL, source TEXT NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (name, version)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS flow_assignments (
        gateway TEXT PRIMARY KEY, name TEXT NOT NULL, version INTEGER NOT NULL, assigned_at INTEGER NOT NULL
      );
      CREATE TABLE IF NOT EXISTS flow_reports (
        gateway TEXT PRIMARY KEY, body TEXT NOT NULL, received_at INTEGER NOT NULL
      );`,
    });
    return new FlowSetDb(db, owned);
  }

  /**
   * Run `fn` while no other caller (another worker on PostgreSQL: an advisory lock; on SQLite: this
   * process) changes or re-sends assignments, so what the broker retains last is what is stored.
   */
  assigning<T>(fn: (db: FlowSetDb) => Promise<T>): Promise<T> {
    return this.inTurn(() => exclusive(this.db, 'flow-assignments', (tx) => fn(new FlowSetDb(tx, undefined))));
  }

  /**
   * Queue locked sections here first: a waiter for a PostgreSQL advisory lock holds a pooled
   * connection (shared with ingest), so at most one per worker may wait.
   */
  private inTurn<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.turn.then(fn);
    this.turn = next.catch(() => undefined);
    return next;
  }

  /** Store the next version of `name`, built by `make(version)`, in one transaction (no two get one number). */
  insertNext(name: string, source: string, make: (version: number) => FlowSet): Promise<FlowSet> {
    return this.inTurn(() => this.insert(name, source, make));
  }

  private insert(name: string, source: string, make: (version: number) => FlowSet): Promise<FlowSet> {
    return this.db.transaction(async (db) => {
      // Several workers: each takes the next number in turn (without the lock two read the same
      // MAX and one insert fails on the primary key). Released at commit.
      if (db.dialect === 'postgres')
        await db.run("SELECT pg_advisory_xact_lock(hashtext('flow-set:' || CAST(? AS TEXT)))", [name]);
      const r = await db.get<{ v: number | null }>('SELECT MAX(version) AS v FROM flow_sets WHERE name = ?', [
        name,
      ]);
      const set = make((r?.v ?? 0) + 1);
      await db.run(
        `INSERT INTO flow_sets (name, version, created_at, flows_hash, nodes, source, body) VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [set.name, set.version, set.createdAt, set.flowsHash, set.flows.length, source, JSON.stringify(set)],
      );
      return set;
    });
  }

  async get(name: string, version?: number): Promise<FlowSet | undefined> {
    const r = await this.db.get<{ body: string }>(
      version === undefined
        ? 'SELECT body FROM flow_sets WHERE name = ? ORDER BY version DESC LIMIT 1'
        : 'SELECT body FROM flow_sets WHERE name = ? AND version = ?',
      version === undefined ? [name] : [name, version],
    );
    return r ? (JSON.parse(r.body) as FlowSet) : undefined;
  }

  async list(): Promise<FlowSetVersionInfo[]> {
    const rows = await this.db.all<Record<string, string | number>>(
      'SELECT name, version, created_at, flows_hash, nodes, source FROM flow_sets ORDER BY name, version',
    );
    return rows.map((r) => ({
      name: r.name as string,
      version: r.version as number,
      createdAt: r.created_at as string,
      flowsHash: r.flows_hash as string,
      nodes: r.nodes as number,
      source: r.source as string,
    }));
  }

  assign(gateways: readonly string[], name: string, version: number, at: number): Promise<void> {
    return this.db.transaction(async (db) => {
      for (const g of gateways)
        await db.run(
          `INSERT INTO flow_assignments (gateway, name, version, assigned_at) VALUES (?, ?, ?, ?)
           ON CONFLICT (gateway) DO UPDATE SET name = excluded.name, version = excluded.version,
             assigned_at = excluded.assigned_at`,
          [g, name, version, at],
        );
    });
  }

  async assignments(): Promise<FlowAssignment[]> {
    const rows = await this.db.all<{ gateway: string; name: string; version: number; assigned_at: number }>(
      'SELECT * FROM flow_assignments ORDER BY gateway',
    );
    return rows.map((r) => ({ gateway: r.gateway, name: r.name, version: r.version, assignedAt: r.assigned_at }));
  }

  async recordReport(r: FlowSetReport, at: number): Promise<void> {
    await this.db.run(
      `INSERT INTO flow_reports (gateway, body, received_at) VALUES (?, ?, ?)
       ON CONFLICT (gateway) DO UPDATE SET body = excluded.body, received_at = excluded.received_at`,
      [r.gateway, JSON.stringify(r), at],
    );
  }

  async reports(gateway?: string): Promise<StoredFlowReport[]> {
    const rows = await this.db.all<{ body: string; received_at: number }>(
      'SELECT body, received_at FROM flow_reports WHERE (CAST(? AS TEXT) IS NULL OR gateway = ?) ORDER BY gateway',
      [gateway ?? null, gateway ?? null],
    );
    return rows.map((x) => ({ ...(JSON.parse(x.body) as FlowSetReport), receivedAt: x.received_at }));
  }

  /** Closes the connection it opened; a shared database is the caller's. */
  async close(): Promise<void> {
    await this.owned?.close();
  }
}
