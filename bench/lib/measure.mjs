// Timing helpers shared by the benchmarks: fixed time windows measured with
// process.hrtime.bigint(), after a warm-up, with the clock read once per batch so that
// reading it does not dominate sub-microsecond operations.
import process from 'node:process';

/** A batch is grown during warm-up until it takes at least this long. */
const batchTargetNs = 200_000n;
const batchMax = 1 << 20;

/** Runs `op` for about `windowMs`; returns the calls made and the nanoseconds they took. */
function runFor(op, windowMs, batch) {
  const budget = BigInt(Math.round(windowMs * 1e6));
  let samples = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now - start < budget) {
    for (let i = 0; i < batch; i += 1) op();
    samples += batch;
    now = process.hrtime.bigint();
  }
  return { samples, ns: now - start };
}

/** Warms `op` up and picks how many calls to make between clock reads. */
function calibrate(op, warmupMs) {
  let batch = 1;
  for (;;) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < batch; i += 1) op();
    if (process.hrtime.bigint() - start >= batchTargetNs || batch >= batchMax) break;
    batch *= 2;
  }
  runFor(op, warmupMs, batch);
  return batch;
}

export function perSecond(samples, ns) {
  return ns === 0n ? 0 : Math.round((samples * 1e9) / Number(ns));
}

/**
 * Calls `op` repeatedly: a warm-up of `warmupMs`, then `windowMs` measured. Returns
 * { perSec, samples, ms }, perSec an integer.
 */
export function measure(op, { windowMs, warmupMs }) {
  const batch = calibrate(op, warmupMs);
  const { samples, ns } = runFor(op, windowMs, batch);
  return { perSec: perSecond(samples, ns), samples, ms: Number(ns) / 1e6 };
}

/**
 * Measures several operations in the same run, interleaved in `rounds` rounds so that a
 * drift of the machine (frequency, a neighbour) affects them alike. Each op gets `windowMs`
 * in total. Returns one { perSec, samples, ms } per op, in order.
 */
export function measureInterleaved(ops, { windowMs, warmupMs, rounds }) {
  const batches = ops.map((op) => calibrate(op, warmupMs));
  const totals = ops.map(() => ({ samples: 0, ns: 0n }));
  for (let round = 0; round < rounds; round += 1) {
    ops.forEach((op, index) => {
      const { samples, ns } = runFor(op, windowMs / rounds, batches[index]);
      totals[index].samples += samples;
      totals[index].ns += ns;
    });
  }
  return totals.map(({ samples, ns }) => ({
    perSec: perSecond(samples, ns),
    samples,
    ms: Number(ns) / 1e6,
  }));
}

/**
 * Calls `op(item)` once per item, in order, for at most `windowMs` (clock read after each
 * call: these operations are slow). Items are never reused, so the window ends early when
 * they run out; `exhausted` says so. `windowMs: Infinity` calls it on every item. Returns
 * { perSec, samples, ns, ms, exhausted }.
 */
export function measureEach(items, op, { windowMs }) {
  const budget = Number.isFinite(windowMs) ? BigInt(Math.round(windowMs * 1e6)) : 1n << 62n;
  let samples = 0;
  const start = process.hrtime.bigint();
  let now = start;
  while (now - start < budget && samples < items.length) {
    op(items[samples]);
    samples += 1;
    now = process.hrtime.bigint();
  }
  const ns = now - start;
  return {
    perSec: perSecond(samples, ns),
    samples,
    ns,
    ms: Number(ns) / 1e6,
    exhausted: samples === items.length && ns < budget,
  };
}
