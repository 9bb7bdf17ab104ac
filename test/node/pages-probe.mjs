// Probe for memory.test.ts, run as `node pages-probe.mjs <dist/node/memory.js> default|tuned`:
// fills 64 MiB of shared memory, hands back the pages of a view that starts and ends inside
// pages (returnPages), and prints the RSS before and after (MB), the bytes handed back, and
// what the view's bytes read afterwards: the partial pages at its ends, and the rest; then
// prefaults a fresh 64 MiB buffer and prints how much RSS that took (MB).
import { readFileSync } from 'node:fs';
import process from 'node:process';

const { tuneMalloc, untunedMalloc } = await import(process.argv[2]);
const tuning =
  process.argv[3] === 'tuned' ? await tuneMalloc({ trimIntervalMs: 0 }) : untunedMalloc('probe');
const rssMb = () =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;

const whole = new Uint8Array(new SharedArrayBuffer(64 << 20));
whole.fill(1);
const view = whole.subarray(100, whole.byteLength - 100);
const before = rssMb();
const returned = await tuning.returnPages([view]);
const after = rssMb();
const fresh = new Uint8Array(new SharedArrayBuffer(64 << 20));
const beforeWarm = rssMb();
await tuning.prefault(fresh);
const warmedMb = Math.round(rssMb() - beforeWarm);
const ones = (from, to) => view.subarray(from, to).every((byte) => byte === 1);
const zeros = (from, to) => view.subarray(from, to).every((byte) => byte === 0);
process.stdout.write(
  `${JSON.stringify({
    tuned: tuning.tuned,
    returnedBytes: returned,
    droppedMb: Math.round(before - after),
    headKept: ones(0, 64),
    tailKept: ones(view.byteLength - 64, view.byteLength),
    middleZero: zeros(8192, view.byteLength - 8192),
    outsideKept: whole[0] === 1 && whole[whole.byteLength - 1] === 1,
    pagesReturned: tuning.pagesReturned(),
    warmedMb,
    warmedZero: fresh.every((byte) => byte === 0),
  })}\n`,
);
