// CLI tests run the real `bin/coffer`, which runs the compiled dist/: build it once first.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

export default function setup(): void {
  const root = path.resolve(import.meta.dirname, '..');
  try {
    execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
  } catch {
    // tsc still emits; type errors fail `npm run typecheck`, which the test command runs first.
    process.stderr.write('global-setup: tsc reported errors; dist/ was emitted anyway\n');
  }
}
