// Probe for memory.test.ts, run as `node --expose-gc malloc-probe.mjs <dist/node/memory.js>
// default|tuned <KiB>`: frees 400 buffers of <KiB> interleaved with 4 KiB buffers it keeps, after
// an 8 MiB buffer was freed, and prints how much RSS the freed buffers still hold (MB), and what
// glibc said it held before the trim (tuned only).
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';

const { tuneMalloc } = await import(process.argv[2]);
const [mode, sizeKib] = [process.argv[3], Number(process.argv[4])];
const tuning = mode === 'tuned' ? await tuneMalloc({ trimIntervalMs: 0 }) : undefined;
const rssMb = () =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) / 1024;
// Array buffers are freed after a full GC, by a sweeper that may run a little later.
const collect = async () => {
  for (let i = 0; i < 3; i += 1) {
    globalThis.gc();
    await sleep(50);
  }
};

const large = [Buffer.allocUnsafeSlow(8 << 20).fill(1)];
large.length = 0;
await collect();
const before = rssMb();
const keep = [];
let freed = [];
for (let i = 0; i < 400; i += 1) {
  freed.push(Buffer.allocUnsafeSlow(sizeKib << 10).fill(1));
  keep.push(Buffer.allocUnsafeSlow(4096).fill(2));
}
const peak = rssMb() - before;
freed = [];
await collect();
const held = rssMb() - before;
const heapBeforeTrim = tuning?.heap();
const trimmed = tuning?.trim() ?? false;
process.stdout.write(
  `${JSON.stringify({
    tuned: tuning?.tuned ?? false,
    peakMb: Math.round(peak),
    heldMb: Math.round(held),
    afterTrimMb: Math.round(rssMb() - before),
    trimmed,
    heapBeforeTrim: heapBeforeTrim ?? null,
    kept: keep.length,
  })}\n`,
);
