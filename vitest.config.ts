import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/ts/**/*.test.ts'],
    globalSetup: ['tests/ts/build-dist.ts'],
    // Real Python workers and models: generous limits, and at most two files at once on a 2-core machine.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    maxWorkers: 2,
    // Two test files at once, each with a Python worker: one torch thread each keeps 2 cores from thrashing
    // (oversubscribed OpenMP threads made model steps tens of times slower here).
    env: { OMP_NUM_THREADS: '1' },
  },
});
