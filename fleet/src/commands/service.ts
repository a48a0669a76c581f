/**
 * Commands and overrides sent to a gateway's device points, with their results: each command gets
 * a transaction id, is stored, published on `cmd/req` with an expiry, and completed by the matching
 * `cmd/res` (the gateway answers once per tx, through its outbox, so an answer may arrive late).
 */
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../../common/clock.js';
import {
  PROTOCOL_VERSION,
  type CommandRequest,
  type CommandResponse,
} from '../../../common/contract/index.js';
import type { SqlDb } from '../../../common/sqlite.js';

export interface CommandRecord {
  tx: string;
  gateway: string;
  name: string;
  args: Record<string, unknown>;
  by: string;
  sentAt: number;
  expiresAt: number;
  status: 'pending' | 'ok' | 'error';
  result?: unknown;
  error?: { code: string; message: string };
  answeredAt?: number;
}

interface Row {
  tx: string;
  gateway: string;
  name: string;
  args: string;
  by_name: string;
  sent_at: number;
  expires_at: number;
  status: CommandRecord['status'];
  result: string | null;
  answered_at: number | null;
}

const recordOf = (r: Row): CommandRecord => {
  const out: CommandRecord = {
    tx: r.tx,
    gateway: r.gateway,
    name: r.name,
    args: JSON.parse(r.args) as Record<string, unknown>,
    by: r.by_name,
    sentAt: r.sent_at,
    expiresAt: r.expires_at,
    status: r.status,
  };
  if (r.result !== null) {
    const res = JSON.parse(r.result) as { result?: unknown; error?: CommandRecord['error'] };
    if (res.result !== undefined) out.result = res.result;
    if (res.error) out.error = res.error;
  }
  if (r.answered_at !== null) out.answeredAt = r.answered_at;
  return out;
};

export class CommandService {
  private readonly waiters = new Map<string, (r: CommandRecord) => void>();

  private constructor(
    private readonly db: SqlDb,
    private readonly clock: Clock,
    private readonly send: (gateway: string, req: CommandRequest) => Promise<void>,
  ) {}

  static async open(
    db: SqlDb,
    clock: Clock,
    send: (gateway: string, req: CommandRequest) => Promise<void>,
  ): Promise<CommandService> {
    if (db.dialect === 'sqlite')
      await db.exec(`CREATE TABLE IF NOT EXISTS commands (
      tx TEXT PRIMARY KEY, gateway TEXT NOT NULL, name TEXT NOT NULL, args TEXT NOT NULL, by_name TEXT NOT NULL,
      sent_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, status TEXT NOT NULL, result TEXT, answered_at INTEGER);
      CREATE INDEX IF NOT EXISTS commands_gateway ON commands (gateway, sent_at);`);
    return new CommandService(db, clock, send);
  }

  /** Send; resolve with the answer, or with the pending record after `waitMs`. */
  async run(o: {
    gateway: string;
    name: string;
    args: Record<string, unknown>;
    by: string;
    expiresInMs: number;
    waitMs: number;
  }): Promise<CommandRecord> {
    const now = this.clock.now();
    const req: CommandRequest = {
      v: PROTOCOL_VERSION,
      gateway: o.gateway,
      tx: `c${randomBytes(9).toString('base64url')}`,
      name: o.name,
      args: o.args,
      ts: now,
      expiresAt: now + o.expiresInMs,
    };
    await this.db.run(
      `INSERT INTO commands (tx, gateway, name, args, by_name, sent_at, expires_at, status, result, answered_at)
       VALUES (?,?,?,?,?,?,?,?,NULL,NULL)`,
      [req.tx, o.gateway, o.name, JSON.stringify(o.args), o.by, now, req.expiresAt!, 'pending'],
    );
    const answered = new Promise<CommandRecord>((resolve) => this.waiters.set(req.tx, resolve));
    await this.send(o.gateway, req);
    let expire: (v: undefined) => void = () => undefined;
    const timeout = new Promise<undefined>((resolve) => (expire = resolve));
    const timer = setTimeout(() => expire(undefined), o.waitMs);
    const r = await Promise.race([answered, timeout]);
    clearTimeout(timer);
    this.waiters.delete(req.tx);
    return r ?? (await this.get(req.tx))!;
  }

  /**
   * Record an answer. Several workers share one database and each sees every `cmd/res`: the
   * conditional UPDATE completes the command once; the worker whose API call is waiting for it
   * answers from the stored record whichever worker recorded it.
   */
  async onResponse(res: CommandResponse): Promise<void> {
    const body = res.status === 'ok' ? { result: res.result } : { error: res.error };
    const r = await this.db.run(
      "UPDATE commands SET status = ?, result = ?, answered_at = ? WHERE tx = ? AND gateway = ? AND status = 'pending'",
      [res.status, JSON.stringify(body), this.clock.now(), res.tx, res.gateway],
    );
    const waiter = this.waiters.get(res.tx);
    if (r.changes === 0 && !waiter) return;
    const rec = await this.get(res.tx);
    if (rec && rec.status !== 'pending' && rec.gateway === res.gateway) waiter?.(rec);
  }

  async get(tx: string): Promise<CommandRecord | undefined> {
    const r = await this.db.get<Row>('SELECT * FROM commands WHERE tx = ?', [tx]);
    return r ? recordOf(r) : undefined;
  }

  async list(gateway: string, limit: number): Promise<CommandRecord[]> {
    const rows = await this.db.all<Row>(
      'SELECT * FROM commands WHERE gateway = ? ORDER BY sent_at DESC LIMIT ?',
      [gateway, limit],
    );
    return rows.map(recordOf);
  }
}
