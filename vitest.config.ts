import { defineConfig } from 'vitest/config';

// Two cores (the CI machine's size). Files that run etcd clusters or whole networks of real
// processes run one at a time, after the rest: their timing (elections, retention windows,
// kill -9 rounds) is part of what they test, and a second test file beside them would eat the
// CPU they count on. Everything else runs two files at a time, the web console's browser tests
// too (a real `coffer up` and Chromium, but they wait on what the page shows, not on timings).
const serial = [
  'test/e2e/!(console|browser-smoke).test.ts',
  'test/ordering/etcd.test.ts',
  'test/ordering/kill.test.ts',
];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: serial,
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'serial',
          include: serial,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
