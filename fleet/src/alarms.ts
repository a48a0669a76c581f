import type { AlarmRecord } from '../../common/contract/index.js';
import { openModuleDb, type Db, type SqlDb } from '../../common/sqlite.js';

/** One alarm of one gateway as the fleet sees it now: raised or cleared, acknowledged or not. */
export interface AlarmView {
  gateway: string;
  key: string;
  alarm: string;
  device: string | null;
  severity: string;
  state: 'raised' | 'cleared';
  message: string;
  raisedAt: number;
  clearedAt: number | null;
  ackBy: string | null;
  ackAt: number | null;
  ackNote: string | null;
}

/**
 * The fleet's alarm board: the latest state of every (gateway, alarm key), kept from the alarms the
 * gateways send, with operator acknowledgements. A new raise after a clear needs a new acknowledgement.
 */
export class AlarmBoard {
  private constructor(
    private readonly db: SqlDb,
    private readonly owned: Db | undefined,
  ) {}

  /** `fleet.db`'s path (own connection), or a shared database (PostgreSQL; the caller closes it). */
  static async open(at: string | SqlDb): Promise<AlarmBoard> {
    // Derived from the alarms stored durably by ingest: losing the last commits on power loss is
    // acceptable here, an fsync per alarm competing with ingest for the write lock is not.
    // PostgreSQL: the tables come from the numbered migrations (fleet/src/pg/schema.ts).
    const { db, owned } = await openModuleDb(at, {
      pragmas: 'PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL;',
      sqliteSchema: `
      CREATE TABLE IF NOT EXISTS alarm_board (
        gateway TEXT NOT NULL,
        key TEXT NOT NULL,
        alarm TEXT NOT NULL,
        device TEXT,
        severity TEXT NOT NULL,
        state TEXT NOT NULL,
        message TEXT NOT NULL,
        raised_at INTEGER NOT NULL,
        cleared_at INTEGER,
        ack_by TEXT,
        ack_at INTEGER,
        ack_note TEXT,
        updated_ts INTEGER NOT NULL,
        PRIMARY KEY (gateway, key)
      );`,
    });
    return new AlarmBoard(db, owned);
  }

  /** Apply alarms in the order the gateway raised/cleared them; older news never overwrites newer. */
  async record(gateway: string, alarms: readonly AlarmRecord[]): Promise<void> {
    if (alarms.length === 0) return;
    await this.db.transaction(async (db) => {
      for (const a of alarms) await this.recordOne(db, gateway, a);
    });
  }

  private async recordOne(db: SqlDb, gateway: string, a: AlarmRecord): Promise<void> {
    if (a.state === 'raised')
      await db.run(
        `INSERT INTO alarm_board (gateway, key, alarm, device, severity, state, message, raised_at, updated_ts)
           VALUES (?, ?, ?, ?, ?, 'raised', ?, ?, ?)
           ON CONFLICT (gateway, key) DO UPDATE SET alarm = excluded.alarm, device = excluded.device,
             severity = excluded.severity, state = 'raised', message = excluded.message,
             raised_at = excluded.raised_at, cleared_at = NULL, ack_by = NULL, ack_at = NULL, ack_note = NULL,
             updated_ts = excluded.updated_ts
           WHERE excluded.updated_ts >= alarm_board.updated_ts`,
        [gateway, a.key, a.alarm, a.device ?? null, a.severity, a.message, a.ts, a.ts],
      );
    else
      await db.run(
        `UPDATE alarm_board SET state = 'cleared', cleared_at = ?, updated_ts = ? WHERE gateway = ? AND key = ? AND updated_ts <= ?`,
        [a.ts, a.ts, gateway, a.key, a.ts],
      );
  }

  async list(opts: { active?: boolean; gateway?: string } = {}): Promise<AlarmView[]> {
    const rows = await this.db.all<Record<string, unknown>>(
      `SELECT * FROM alarm_board WHERE (CAST(? AS TEXT) IS NULL OR gateway = ?) AND (? = 0 OR state = 'raised')
       ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'major' THEN 1 WHEN 'minor' THEN 2 ELSE 3 END, raised_at DESC`,
      [opts.gateway ?? null, opts.gateway ?? null, opts.active ? 1 : 0],
    );
    return rows.map((r) => ({
      gateway: r.gateway as string,
      key: r.key as string,
      alarm: r.alarm as string,
      device: (r.device as string | null) ?? null,
      severity: r.severity as string,
      state: r.state as 'raised' | 'cleared',
      message: r.message as string,
      raisedAt: r.raised_at as number,
      clearedAt: (r.cleared_at as number | null) ?? null,
      ackBy: (r.ack_by as string | null) ?? null,
      ackAt: (r.ack_at as number | null) ?? null,
      ackNote: (r.ack_note as string | null) ?? null,
    }));
  }

  /** Acknowledge; false when there is no such alarm. */
  async acknowledge(gateway: string, key: string, by: string, at: number, note?: string): Promise<boolean> {
    const r = await this.db.run(
      'UPDATE alarm_board SET ack_by = ?, ack_at = ?, ack_note = ? WHERE gateway = ? AND key = ?',
      [by, at, note ?? null, gateway, key],
    );
    return r.changes > 0;
  }

  async close(): Promise<void> {
    await this.owned?.close();
  }
}
