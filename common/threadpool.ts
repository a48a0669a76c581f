/**
 * Imported first by every entry point. A SQLite statement waiting on another connection's write
 * lock (busy_timeout) sleeps inside one of libuv's worker threads; with Node's default four, a few
 * such waiters can take every thread while the lock holder's next statement waits for one: both
 * sides stall until the busy timeout and fail with SQLITE_BUSY. The fleet keeps several connections
 * per process (store, sites, alarms, flow sets, admin), so give the pool room. Must run before the
 * first asynchronous fs/crypto/zlib call of the process, which is why it is its own first import.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';

export const THREADPOOL_SIZE = Number(process.env.UV_THREADPOOL_SIZE);
