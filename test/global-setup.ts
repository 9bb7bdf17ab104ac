// CLI tests run the real `bin/coffer`, which runs the compiled dist/: build it once first.
// Vitest runs this once per project, in one process; COFFER_TEST_BUILT says dist/ was built
// already (by an earlier call, or by scripts/test.sh just before vitest).
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
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
