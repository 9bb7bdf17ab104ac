// Summarises a V8 .cpuprofile (node --cpu-prof): self time by function and by source file,
// and inclusive time of selected Coffer functions. Used to see what limits the ledger
// benchmark's node (BENCH_LEDGER_CPU_PROF=DIR node bench/ledger.mjs).
//
//   node bench/lib/cpuprofile-top.mjs FILE.cpuprofile [TOP] [FROM_S TO_S]
//
// FROM_S TO_S keep only the samples taken between those seconds after the profile started (the
// busy time per second, printed first, shows where a benchmark's phases are).
import { readFileSync } from 'node:fs';
import process from 'node:process';

const [file, topArg, fromArg, toArg] = process.argv.slice(2);
if (file === undefined) {
  process.stderr.write('usage: node bench/lib/cpuprofile-top.mjs FILE.cpuprofile [TOP]\n');
  process.exit(2);
}
const top = Number(topArg ?? 30);
const profile = JSON.parse(readFileSync(file, 'utf8'));

const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const fromUs = fromArg === undefined ? 0 : Number(fromArg) * 1e6;
const toUs = toArg === undefined ? Infinity : Number(toArg) * 1e6;

// Time per node id (time deltas, in µs) within the window, and busy time per second.
const selfUs = new Map();
const busyBySecond = [];
let atUs = 0;
profile.samples.forEach((id, index) => {
  const deltaUs = profile.timeDeltas[index] ?? 0;
  atUs += deltaUs;
  const second = Math.floor(atUs / 1e6);
  busyBySecond[second] ??= 0;
  if (byId.get(id).callFrame.functionName !== '(idle)') busyBySecond[second] += deltaUs;
  if (atUs < fromUs || atUs >= toUs) return;
  selfUs.set(id, (selfUs.get(id) ?? 0) + deltaUs);
});
const parent = new Map();
for (const node of profile.nodes)
  for (const child of node.children ?? []) parent.set(child, node.id);
const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);

function shortUrl(url) {
  if (url === '') return '';
  return url
    .replace(/^file:\/\/.*\/node_modules\//, 'npm:')
    .replace(/^file:\/\/.*\/dist\//, 'dist/')
    .replace(/^node:/, 'node:');
}

function label(frame) {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  const url = shortUrl(frame.url);
  return url === '' ? name : `${name} ${url}:${frame.lineNumber + 1}`;
}

const pct = (us) => `${((us / totalUs) * 100).toFixed(1).padStart(5)}%`;

function table(title, map) {
  process.stdout.write(`\n${title}\n`);
  for (const [key, us] of [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    process.stdout.write(`${pct(us)} ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}\n`);
  }
}

const byFunction = new Map();
const byFile = new Map();
for (const [id, us] of selfUs) {
  const frame = byId.get(id).callFrame;
  const fn = label(frame);
  byFunction.set(fn, (byFunction.get(fn) ?? 0) + us);
  const where = shortUrl(frame.url) || frame.functionName || '(native)';
  byFile.set(where, (byFile.get(where) ?? 0) + us);
}

// Inclusive time: a sample counts once for every distinct function on its stack.
const inclusive = new Map();
for (const [id, us] of selfUs) {
  const seen = new Set();
  for (let at = id; at !== undefined; at = parent.get(at)) {
    const frame = byId.get(at).callFrame;
    const key = label(frame);
    if (seen.has(key)) continue;
    seen.add(key);
    inclusive.set(key, (inclusive.get(key) ?? 0) + us);
  }
}

process.stdout.write(`${file}: ${(totalUs / 1e6).toFixed(1)} s sampled\n`);
process.stdout.write(
  `busy ms per second: ${busyBySecond.map((us) => Math.round((us ?? 0) / 1000)).join(' ')}\n`,
);
table('self time by function', byFunction);
table('self time by file', byFile);
table('inclusive time by function', inclusive);
