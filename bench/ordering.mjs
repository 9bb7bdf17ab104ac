// Ordering-log benchmark: appends of 1 KiB batches to the embedded log on the local disk, with
// fsync, from 1, 16 and 256 concurrent appenders (each awaits its append, then makes the next),
// plus 16 appenders without fsync to show what durability costs. Runs against dist/ (npm run
// build). Human-readable lines go to stderr; the last stdout line is the JSON object of figures.
//
// appendsPerSec counts appends completed inside the window; latencies are from append() to its
// resolution, for appends started inside the window; appendsPerFsync shows the group commit.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { createFsStorage, openEmbeddedLog } from '../dist/ordering/index.js';

const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 1500);
const warmupMs = Math.min(300, windowMs);
if (!(windowMs > 0)) throw new Error('BENCH_WINDOW_MS must be a positive number of ms');
const batchBytes = 1024;

function log(line) {
  process.stderr.write(`ordering: ${line}\n`);
}

/** The real storage, counting fdatasync calls. */
function countingFsStorage() {
  const inner = createFsStorage();
  const counts = { syncs: 0 };
  const wrap = (file) => ({
    ...file,
    sync: () => {
      counts.syncs += 1;
      return file.sync();
    },
  });
  return {
    counts,
    storage: {
      ...inner,
      open: async (name) => wrap(await inner.open(name)),
      create: async (name) => wrap(await inner.create(name)),
    },
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, index)] * 1000) / 1000;
}

async function run(appenders, { fsync }) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coffer-bench-ordering-'));
  try {
    const { storage, counts } = countingFsStorage();
    const orderingLog = await openEmbeddedLog(dir, { storage, fsync });
    const batch = randomBytes(batchBytes);
    const startAt = performance.now() + warmupMs;
    const stopAt = startAt + windowMs;
    const latencies = [];
    let completed = 0;
    let syncsAtStart;
    const worker = async () => {
      for (;;) {
        const started = performance.now();
        if (started >= stopAt) return;
        await orderingLog.append(batch);
        const ended = performance.now();
        if (started >= startAt && ended <= stopAt) latencies.push(ended - started);
        if (ended >= startAt && ended <= stopAt) completed += 1;
      }
    };
    const syncsTimer = setTimeout(() => (syncsAtStart = counts.syncs), warmupMs);
    await Promise.all(Array.from({ length: appenders }, worker));
    clearTimeout(syncsTimer);
    const syncs = counts.syncs - (syncsAtStart ?? 0);
    await orderingLog.close();
    latencies.sort((a, b) => a - b);
    const figure = {
      appendsPerSec: Math.round((completed * 1000) / windowMs),
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
      appendsPerFsync: fsync && syncs > 0 ? Math.round((completed / syncs) * 10) / 10 : null,
    };
    log(
      `${String(appenders).padStart(3)} appenders, fsync ${fsync ? 'on ' : 'off'}: ` +
        `${String(figure.appendsPerSec).padStart(7)} appends/s, p50 ${figure.p50Ms} ms, ` +
        `p99 ${figure.p99Ms} ms` +
        (figure.appendsPerFsync === null ? '' : `, ${figure.appendsPerFsync} appends per fsync`),
    );
    return figure;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const figures = { batchBytes, windowMs, dir: os.tmpdir() };
for (const appenders of [1, 16, 256])
  figures[`fsync${appenders}`] = await run(appenders, { fsync: true });
figures.nofsync16 = await run(16, { fsync: false });
process.stdout.write(`${JSON.stringify(figures)}\n`);
