import { relative } from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { defineConfig } from 'vitest/config';

// Two cores (the CI machine's size), three phases. First, two files at a time in workers that
// keep their module cache from file to file, the web console's browser tests too (a real
// `coffer up` and Chromium, but they wait on what the page shows, not on timings). Then the
// files that need a process of their own (below). Last, one at a time, the files that run etcd
// clusters or whole networks of real processes: their timing (elections, retention windows,
// kill -9 rounds) is part of what they test, and a second file beside them would eat the CPU
// they count on.
const serial = [
  'test/e2e/!(console|browser-smoke).test.ts',
  'test/ordering/etcd.test.ts',
  'test/ordering/kill.test.ts',
];
// The parallel files share their workers' module cache (isolate: false): each worker imports
// the sources once instead of once per file (about 170 s of CPU over the suite). These run in
// a process of their own each, after the others: the first four load SoftHSM2 through PKCS#11
// in the test process, whose configuration is read once per process; the last two measure
// their process's memory, which earlier files in a shared worker would blur.
const ownProcess = [
  'test/crypto/pkcs11.test.ts',
  'test/custody/chains/ethereum-safe.test.ts',
  'test/signer/signer.test.ts',
  'test/signer/cli.test.ts',
  'test/ledger/tx-index.test.ts',
  'test/ledger/store.test.ts',
];

/** Files that start real processes first: lower runs earlier. */
function weight(file: string): number {
  if (file.startsWith('test/e2e/')) return 0;
  if (file.startsWith('test/cli/')) return 1;
  return 2;
}

/**
 * Vitest runs the longest files first when it has timings from an earlier run; a fresh clone
 * (CI) has none and runs the largest files first, which puts a short file that starts a whole
 * consortium and a browser (test/e2e/console.test.ts, over a minute and a half) at the end of
 * the parallel phase, with the other core idle. Without timings, files that start real
 * processes (test/e2e, then test/cli) go first, by size within each folder.
 */
class HeavyFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const timed = sorted.some((spec) =>
      this.ctx.cache.getFileTestResults(
        `${spec.project.name}:${relative(this.ctx.config.root, spec.moduleId)}`,
      ),
    );
    if (timed) return sorted;
    const position = new Map(sorted.map((spec, index) => [spec, index]));
    const rank = (spec: TestSpecification): [number, number] => [
      spec.project.config.sequence.groupOrder,
      weight(relative(this.ctx.config.root, spec.moduleId)),
    ];
    return [...sorted].sort((a, b) => {
      const [groupA, weightA] = rank(a);
      const [groupB, weightB] = rank(b);
      if (groupA !== groupB) return groupA - groupB;
      if (weightA !== weightB) return weightA - weightB;
      return (position.get(a) ?? 0) - (position.get(b) ?? 0);
    });
  }
}

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    sequence: { sequencer: HeavyFirstSequencer },
    globalSetup: ['test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: [...serial, ...ownProcess],
          maxWorkers: 2,
          isolate: false,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'own-process',
          include: ownProcess,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'serial',
          include: serial,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
