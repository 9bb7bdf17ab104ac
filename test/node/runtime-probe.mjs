// Re-executes itself as a node command would (decision 0030), then reports from the new image:
//   node runtime-probe.mjs BUILT_RUNTIME_FLAGS_JS [ARGS…]
// It prints one JSON line on stdout and one line on stderr, then waits for SIGINT (exit 0).
import process from 'node:process';
import { setInterval } from 'node:timers';

const [built, ...rest] = process.argv.slice(2);
const { reexecWithRuntimeFlags } = await import(built);
const detail = await reexecWithRuntimeFlags();
// The handler before the report: the test signals as soon as it reads the report.
process.on('SIGINT', () => process.exit(0));
process.stderr.write('stderr still works\n');
process.stdout.write(
  `${JSON.stringify({ pid: process.pid, execArgv: process.execArgv, rest, detail })}\n`,
);
setInterval(() => undefined, 1000);
