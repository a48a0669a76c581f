import { defineConfig } from 'vitest/config';

// The test workers are forked from this process and inherit its environment: the same libuv pool
// size the citygate entry point sets (common/threadpool.ts), so SQLite lock waits cannot starve it.
process.env.UV_THREADPOOL_SIZE ??= '16';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
