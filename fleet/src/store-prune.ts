/**
 * Retention of the per-message dedupe keys (`messages`: one row per message a gateway ever sent,
 * SQLite store). They only matter while a message can still arrive twice: a redelivery after a
 * broker or fleet restart, or a gateway re-sending in the same session. Keys of sessions silent for
 * `MESSAGE_KEYS_KEPT_MS` are dropped, a few sessions per transaction so ingest never waits long.
 * Readings and events keep their own exact per-item dedupe, so even a message older than that,
 * delivered again, stores nothing twice (it only counts as new in the session's counters).
 */
import type { Db } from '../../common/sqlite.js';

export const MESSAGE_KEYS_KEPT_MS = 30 * 24 * 3_600_000;
const SESSIONS_PER_TRANSACTION = 50;

/** Drop the message keys of sessions last heard before `now - keptMs`; how many keys went. */
export async function pruneMessageKeys(db: Db, now: number, keptMs = MESSAGE_KEYS_KEPT_MS): Promise<number> {
  let dropped = 0;
  for (;;) {
    const n = await db.transaction(async (tx) => {
      const old = await tx.all<{ gateway: string; epoch: string; session: number }>(
        `SELECT gateway, epoch, session FROM sessions s WHERE last_at < ? AND EXISTS (
           SELECT 1 FROM messages m WHERE m.gateway = s.gateway AND m.epoch = s.epoch AND m.session = s.session)
         LIMIT ?`,
        [now - keptMs, SESSIONS_PER_TRANSACTION],
      );
      let gone = 0;
      for (const s of old)
        gone += (
          await tx.run('DELETE FROM messages WHERE gateway = ? AND epoch = ? AND session = ?', [
            s.gateway,
            s.epoch,
            s.session,
          ])
        ).changes;
      return old.length === 0 ? -1 : gone;
    });
    if (n < 0) return dropped;
    dropped += n;
  }
}
