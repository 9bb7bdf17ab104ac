// Sandboxed app calls per second vs the same logic as a built-in TypeScript app, in one run
// (issue 5). Both go through runCall (the path execution takes after the signature checks)
// against an in-memory store; signatures, ordering and ledger files are left out, so the
// figures compare the app runtimes themselves. Batches of `BENCH_APPS_BATCH` calls share one
// VM per app, as on a node; a batch of 1 shows the cost of a VM per call.
// Prints one JSON line: {"sandboxCallsPerSec", "builtinCallsPerSec", "ratio", ...}.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createAppHarness } from '../dist/contracts/harness.js';
import { bundleFormat } from '../dist/contracts/index.js';

const seconds = Number(process.env.BENCH_APPS_SECONDS ?? 3);
const batchSize = Number(process.env.BENCH_APPS_BATCH ?? 100);

const code = `const app = require('@coffer/app');
exports.add = (args) => {
  const m = app.map('counts');
  const next = Number(m.get(args.key) ?? '0') + args.by;
  m.put(args.key, String(next));
  return { key: args.key, value: next };
};`;
const schema = {
  type: 'object',
  required: ['key', 'by'],
  properties: { key: { type: 'string' }, by: { type: 'integer' } },
};
const bundle = {
  format: bundleFormat,
  manifest: {
    name: 'counter',
    version: '1.0.0',
    summary: 'bench',
    endpoints: { add: { mode: 'readwrite', auth: { kind: 'any' }, input: schema, output: {} } },
  },
  code,
};
/** The same logic as a built-in app. */
const builtin = {
  name: 'tscounter',
  version: '1.0.0',
  summary: 'bench',
  actions: {
    add: {
      summary: 'add',
      args: schema,
      run: (context, args) => {
        const next = Number(context.kv.get('tscounter.counts', args.key) ?? '0') + args.by;
        context.kv.put('tscounter.counts', args.key, String(next));
        return { key: args.key, value: next };
      },
    },
  },
  queries: {},
};

function measure(app, size) {
  const h = createAppHarness({ extraApps: [builtin] });
  const installed = h.install(bundle);
  if (installed.status !== 'committed') throw new Error(JSON.stringify(installed));
  const caller = h.caller('Org1MSP', 'client');
  const calls = Array.from({ length: size }, (_, i) => ({
    app,
    action: 'add',
    args: { key: `k${i % 10}`, by: 1 },
    caller,
  }));
  // Warm-up, then timed rounds.
  h.batch(calls);
  let done = 0;
  const started = performance.now();
  while (performance.now() - started < seconds * 1000) {
    const outcomes = h.batch(calls);
    if (outcomes.some((outcome) => outcome.status !== 'committed')) {
      throw new Error(JSON.stringify(outcomes.find((outcome) => outcome.status !== 'committed')));
    }
    done += outcomes.length;
  }
  return Math.round(done / ((performance.now() - started) / 1000));
}

const sandbox = measure('counter', batchSize);
const builtinRate = measure('tscounter', batchSize);
const vmPerCall = measure('counter', 1);
const figures = {
  sandboxCallsPerSec: sandbox,
  builtinCallsPerSec: builtinRate,
  ratio: Math.round((builtinRate / sandbox) * 10) / 10,
  sandboxVmPerCallCallsPerSec: vmPerCall,
  batchSize,
  seconds,
  loadAverage: os.loadavg()[0],
};
process.stdout.write(`${JSON.stringify(figures)}\n`);
