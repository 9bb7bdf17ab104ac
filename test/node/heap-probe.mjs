// Probe for memory.test.ts, run as `node heap-probe.mjs <dist/node/memory.js> <percent>`: a
// node-like load (a map that keeps growing, and garbage that lives through a few young
// collections first) with setHeapGrowth(percent) (0: V8's own choice); prints the largest heap
// V8 committed and the CPU time it took.
import process from 'node:process';

const { setHeapGrowth } = await import(process.argv[2]);
setHeapGrowth(Number(process.argv[3]));
const started = process.cpuUsage();
const state = new Map();
let recent = [];
let committedMax = 0;
for (let i = 0; i < 600_000; i += 1) {
  state.set(`key-${i}`, JSON.stringify('x'.repeat(32)));
  recent.push({ id: `tx-${i}`, body: `${'y'.repeat(300)}${i}`, parts: [i, i + 1, i + 2] });
  if (recent.length > 20_000) recent = recent.slice(10_000);
  if (i % 10_000 === 0) committedMax = Math.max(committedMax, process.memoryUsage().heapTotal);
}
const cpu = process.cpuUsage(started);
process.stdout.write(
  `${JSON.stringify({
    committedMaxMb: Math.round(committedMax / 2 ** 20),
    cpuS: (cpu.user + cpu.system) / 1e6,
    kept: state.size,
  })}\n`,
);
