// Once per run, before any test file:
// - CLI tests run the real `bin/coffer`, which runs the compiled dist/: build it once first.
//   COFFER_TEST_BUILT says dist/ was built already (by scripts/test.sh just before vitest).
// - Every temporary folder of the run goes under one folder, removed when the run ends: test
//   workers keep their module cache from file to file (vitest.config.ts), so a helper module's
//   own `afterEach` cleans up after the first file that imports it only, and folders made in a
//   `beforeAll` (crypto material) had no cleanup at all. Workers and the processes tests start
//   inherit TMPDIR, which os.tmpdir() and mkdtemp read.
// Vitest calls this once per project, in one process; the first call does the work.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const runTmpEnv = 'COFFER_TEST_TMPDIR';

export default function setup(): (() => void) | undefined {
  if (process.env[runTmpEnv] !== undefined) return undefined;
  const runTmp = mkdtempSync(path.join(tmpdir(), 'coffer-test-'));
  process.env[runTmpEnv] = runTmp;
  process.env['TMPDIR'] = runTmp;
  build();
  return () => {
    rmSync(runTmp, { recursive: true, force: true });
  };
}

function build(): void {
  if (process.env['COFFER_TEST_BUILT'] === '1') return;
  process.env['COFFER_TEST_BUILT'] = '1';
  const root = path.resolve(import.meta.dirname, '..');
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  } catch {
    // tsc still emits; type errors fail `npm run typecheck`, which the test command runs first.
    process.stderr.write('global-setup: tsc reported errors; dist/ was emitted anyway\n');
  }
}
