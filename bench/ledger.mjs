// Ledger benchmark (the issue's): one node started by `coffer up` (embedded log, fsync on), a
// load generator in a separate process (bench/lib/loadgen.mjs) sending many concurrent signed
// kv `put` transactions over mutual TLS, and, in the same run, this machine's raw P-256
// verification rate on one core. Runs against dist/ (npm run build). Progress goes to stderr;
// the last stdout line is the JSON object of figures.
//
//   1. raw verify: node:crypto verify('sha256', …) of a request-sized message, ~1 s, before
//      the node starts (nothing of the benchmark competes with it then);
//   2. throughput: BENCH_LEDGER_TX pre-signed transactions (signing is not timed) via
//      POST /v1/tx/batch, BENCH_LEDGER_BATCH envelopes a call, BENCH_LEDGER_IN_FLIGHT calls
//      at a time; committed tx/s = transactions / (first send → last commit);
//   3. latency at half that load: open-loop POST /v1/tx?wait=commit at a fixed rate for
//      BENCH_LEDGER_LATENCY_S seconds after a 1 s warm-up; p50/p99 of scheduled send → commit;
//      then the same rate from a client that sends what is due every BENCH_LEDGER_LATENCY_BATCH_MS
//      (default 5; 0 skips it) as one POST /v1/tx/batch?wait=commit, measured the same way;
//      beside each, the node's own accept → execute latency over the same seconds (its
//      explorer metrics: from a verified signature to the batch executed), to tell how much
//      of the client's figure the node's pipeline takes;
//   4. the node's RSS (/proc/<pid>/status VmRSS) sampled against the ledger seqno throughout;
//      the figure is at the end, with the number of transactions the node has committed then,
//      and a linear trend over the throughput phase (an extrapolation, labelled as such).
//
// The defaults (50,000 transactions, sending cut off after BENCH_LEDGER_SEND_S = 50 s) keep a
// run within bench/run.mjs's 120 s per benchmark. More than BENCH_LEDGER_ROUND transactions
// are sent in rounds, each signed just before it is sent (requests expire at most 120 s after
// signing); the time between rounds is not counted. The issue's RSS figure after 1,000,000
// transactions, measured (about 16 minutes here):
//   BENCH_LEDGER_TX=1000000 BENCH_LEDGER_ROUND=50000 BENCH_LEDGER_SEND_S=80 node bench/ledger.mjs
// The envelopes carry the signing certificate as the SDK client's do: until one of its
// transactions has committed (the load generator's first, at init, does), so not in the
// measured ones; BENCH_LEDGER_SEND_CERT=1 puts it in every envelope (as Fabric clients send
// it), =0 in none. BENCH_LEDGER_LATENCY_RATE fixes the offered rate of the latency phase.
// BENCH_LEDGER_NODE_HEAP_MB=N runs the node with --max-old-space-size=N and MALLOC_ARENA_MAX=2.
// BENCH_LEDGER_VERIFY_THREADS=T sets the node's verification worker threads (0: main thread).
// BENCH_LEDGER_CPU_PROF=DIR runs the node with --cpu-prof into DIR (summarise the profile
// with `node bench/lib/cpuprofile-top.mjs DIR/*.cpuprofile`); BENCH_LEDGER_HEAP_SNAPSHOT=DIR
// has it write a heap snapshot into DIR at the end (`node bench/lib/heapsnapshot-top.mjs`).
// BENCH_LEDGER_NODE_ARGS="--flag …" passes Node/V8 flags to the node process only, and
// BENCH_LEDGER_NODE_STDOUT=FILE copies its stdout to FILE (e.g. with --trace-gc);
// BENCH_LEDGER_LOG_LEVEL=info logs the node's info lines (e.g. each commit point's "snapshot
// written" with its copy, compute and write times) to stderr; default warn.
// BENCH_LEDGER_HOLD_S=N keeps the node running N s after the figures are taken, to inspect it.
// BENCH_LEDGER_SETTLE_S=N takes the memory figures a second time after N s without load
// (`nodeRssSettled`): what the node keeps, once V8 and glibc have handed back what they can.
//
// `node bench/ledger.mjs --nodes 3` (or BENCH_LEDGER_NODES=3) runs the consortium version of
// the issue 4 benchmark instead: `coffer network up` with 3 organisations (3 etcd members,
// 3 nodes), one load generator per organisation, plain etcd puts of the same batch sizes, and
// the raw verify rate; see bench/lib/network.mjs for its phases and defaults.
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { clientFromProfile } from '../dist/cli/profile.js';
import { networkNodesMax, runNetworkBench } from './lib/network.mjs';
import {
  atCleanup,
  cleanupSync,
  rawVerifyRate,
  round1,
  round2,
  rssByMappingMb,
  rssMb,
  startLoadgen,
  stopChild,
  track,
  usageOf,
  intEnv,
  sendCertEnv,
  sendCertNotes,
} from './lib/procs.mjs';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.dirname(benchDir);

const txTotalWanted = intEnv('BENCH_LEDGER_TX', 50_000);
/** Sending stops after this long (per round); what was not sent is not counted. */
const sendSecondsMax = intEnv('BENCH_LEDGER_SEND_S', 50);
const roundMax = intEnv('BENCH_LEDGER_ROUND', 100_000);
const batchSize = intEnv('BENCH_LEDGER_BATCH', 1000);
const inFlight = intEnv('BENCH_LEDGER_IN_FLIGHT', 4);
const warmupTx = intEnv('BENCH_LEDGER_WARMUP_TX', 4000);
const latencySeconds = intEnv('BENCH_LEDGER_LATENCY_S', 10);
const sendCert = sendCertEnv();
/**
 * The second latency run: a client that sends what is due every this many ms as one batch call
 * (`POST /v1/tx/batch?wait=commit`); 0 skips it.
 */
const latencyBatchMs = intEnv('BENCH_LEDGER_LATENCY_BATCH_MS', 5);
/** Offered rate of the latency phase; 0: half the measured throughput. */
const latencyRateFixed = intEnv('BENCH_LEDGER_LATENCY_RATE', 0);
const cpuProfDir = process.env.BENCH_LEDGER_CPU_PROF;
/**
 * Caps the node's V8 old space at this many MB and its malloc arenas at 2 (NODE_OPTIONS and
 * MALLOC_ARENA_MAX, as an operator would deploy a memory-bounded node); default: Node's own.
 */
const nodeHeapMb = process.env.BENCH_LEDGER_NODE_HEAP_MB;
/** The node's signature-verification threads (`coffer up --verify-threads`); default per core. */
const verifyThreads = process.env.BENCH_LEDGER_VERIFY_THREADS;
/** A directory: the node writes a heap snapshot there at the end of the run. */
const heapSnapshotDir = process.env.BENCH_LEDGER_HEAP_SNAPSHOT;
/** Extra Node/V8 flags for the node process only, space-separated (e.g. `--max-semi-space-size=4`). */
const nodeArgs = (process.env.BENCH_LEDGER_NODE_ARGS ?? '').split(' ').filter((arg) => arg !== '');
/** A file that gets a copy of the node's stdout (e.g. `--trace-gc` through BENCH_LEDGER_NODE_ARGS). */
const nodeStdoutFile = process.env.BENCH_LEDGER_NODE_STDOUT;
/** Seconds to keep the node running after the figures are taken (to inspect it). */
const holdSeconds = intEnv('BENCH_LEDGER_HOLD_S', 0);
const settleSeconds = intEnv('BENCH_LEDGER_SETTLE_S', 0);
/** After the last latency request is sent, answers are awaited this long at most. */
const latencyDrainMs = 15_000;
const startTimeoutMs = 60_000;
const rssSampleMs = 500;
/**
 * Fewest transactions sent for an RSS trend to be reported: before that the node's caches
 * (50,000 recent ledger entries) and V8's heap are still filling, and a trend overstates.
 */
const rssTrendTxMin = 200_000;
/** Target of the issue: RSS after this many transactions. */
const rssTargetTx = 1_000_000;

function log(line) {
  process.stderr.write(`ledger: ${line}\n`);
}

// ---- processes and the temp dir: never left behind ----------------------------------------

let tmpDir;

atCleanup(() => {
  if (tmpDir !== undefined) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
});
process.on('exit', cleanupSync);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    cleanupSync();
    process.exit(130);
  });
}

/** `coffer up` in a temp dir; resolves once it printed its started line. */
async function startNode(dir) {
  const execArgv = [
    ...nodeArgs,
    ...(cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', cpuProfDir]),
    ...(heapSnapshotDir === undefined
      ? []
      : ['--heapsnapshot-signal=SIGUSR2', '--diagnostic-dir', heapSnapshotDir]),
  ];
  const child = track(
    spawn(
      process.execPath,
      [
        ...execArgv,
        path.join(repoRoot, 'bin/coffer'),
        'up',
        '--dir',
        dir,
        '--port',
        '0',
        ...(verifyThreads === undefined ? [] : ['--verify-threads', verifyThreads]),
        '--json',
        '--log-level',
        process.env.BENCH_LEDGER_LOG_LEVEL ?? 'warn',
      ],
      {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'inherit'],
        env:
          nodeHeapMb === undefined
            ? process.env
            : {
                ...process.env,
                NODE_OPTIONS: `--max-old-space-size=${nodeHeapMb}`,
                MALLOC_ARENA_MAX: '2',
              },
      },
    ),
  );
  return new Promise((resolve, reject) => {
    let buffered = '';
    let started = false;
    const timer = setTimeout(
      () => reject(new Error(`coffer up did not start within ${startTimeoutMs} ms`)),
      startTimeoutMs,
    );
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      if (nodeStdoutFile !== undefined) appendFileSync(nodeStdoutFile, chunk);
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (started) continue;
        let event;
        try {
          event = JSON.parse(line);
        } catch {
          continue; // the human-readable lines
        }
        if (event?.event === 'started') {
          started = true;
          clearTimeout(timer);
          resolve({ child, url: event.url, profile: event.profile });
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`coffer up exited (${code ?? signal}) before starting`));
    });
  });
}

// ---- measurements -------------------------------------------------------------------------

/** Usage of the node and the load generator between two marks: cores and run-queue share. */
function usageBetween(from, to) {
  const seconds = (to.at - from.at) / 1000;
  const of = (key) => ({
    cpuSeconds: round2(to[key].cpu - from[key].cpu),
    cores: round2((to[key].cpu - from[key].cpu) / seconds),
    runQueueWaitPct: round1(((to[key].runQueueWait - from[key].runQueueWait) / seconds) * 100),
  });
  return { seconds: round1(seconds), node: of('node'), loadgen: of('loadgen') };
}

/**
 * The node's side of a latency phase, from its explorer metrics (one point per second): the
 * median of the per-second p50s and the per-second p99s of accept → execute. That interval
 * starts once the signature is verified and ends when the batch is executed; what the client
 * measures beyond it is verification, HTTP and TLS on both sides, and waiting for a CPU.
 */
function acceptToExecute(points) {
  const p50s = points.flatMap((point) => point.commitLatencyP50Ms ?? []).sort((a, b) => a - b);
  return {
    seconds: points.length,
    p50MsMedian: p50s.length === 0 ? null : p50s[Math.floor(p50s.length / 2)],
    p99MsBySecond: points.map((point) => point.commitLatencyP99Ms),
  };
}

/** Samples the node's RSS against the ledger seqno until stopped. */
function rssSampler(pid, client) {
  const samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const position = await client.position();
        samples.push({ seqno: position.seqno, rssMb: rssMb(pid), at: Date.now() });
      } catch {
        // the node is busy or stopping: next time
      }
      await sleep(rssSampleMs);
    }
  })();
  return {
    samples,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/** Usage over several rounds: CPU summed, cores and run-queue share time-weighted. */
function sumUsages(usages) {
  const seconds = usages.reduce((sum, u) => sum + u.seconds, 0);
  const of = (key) => {
    const cpu = usages.reduce((sum, u) => sum + u[key].cpuSeconds, 0);
    const wait = usages.reduce((sum, u) => sum + (u[key].runQueueWaitPct * u.seconds) / 100, 0);
    return {
      cpuSeconds: round2(cpu),
      cores: round2(cpu / seconds),
      runQueueWaitPct: round1((wait / seconds) * 100),
    };
  };
  return {
    seconds: round1(seconds),
    node: of('node'),
    loadgen: of('loadgen'),
    rounds: usages.length,
  };
}

/** At most `n` items, evenly spaced, the last one included. */
function downsample(items, n) {
  if (items.length <= n) return items;
  return Array.from({ length: n }, (_, k) => items[Math.round(((k + 1) * (items.length - 1)) / n)]);
}

/** Least-squares slope of RSS over seqno, in MB per 100,000 entries. */
function rssSlope(samples) {
  if (samples.length < 4) return null;
  const n = samples.length;
  const mx = samples.reduce((s, p) => s + p.seqno, 0) / n;
  const my = samples.reduce((s, p) => s + p.rssMb, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of samples) {
    num += (p.seqno - mx) * (p.rssMb - my);
    den += (p.seqno - mx) ** 2;
  }
  return den === 0 ? null : (num / den) * 100_000;
}

/** Has the node write a heap snapshot and waits until it is written (the node answers again). */
async function heapSnapshot(pid, observer) {
  const before = new Set(readdirSync(heapSnapshotDir));
  log(`heap snapshot of the node into ${heapSnapshotDir}`);
  process.kill(pid, 'SIGUSR2');
  let file;
  for (let waited = 0; waited < 300_000; waited += 1000) {
    await sleep(1000);
    file ??= readdirSync(heapSnapshotDir).find((name) => !before.has(name));
    if (file === undefined) continue;
    const answered = await Promise.race([
      observer.position().then(
        () => true,
        () => false,
      ),
      sleep(2000).then(() => false),
    ]);
    if (answered) break;
  }
  log(`heap snapshot: ${file ?? 'none written'}`);
}

/** The node's /v1/status memory figures, bytes to MB (keys lose their `Bytes`). */
/** glibc's heap figures from the node's status (MB), with the count of buffers mapped apart. */
function mallocHeapOf(heap) {
  if (heap === undefined) return null;
  const { mappedBuffers, ...bytes } = heap;
  return { ...mbOf(bytes), mappedBuffers };
}

function mbOf(memory) {
  if (memory === undefined) return null;
  return Object.fromEntries(
    Object.entries(memory).map(([key, bytes]) => [
      key.replace(/Bytes$/, ''),
      Math.round(bytes / 2 ** 20),
    ]),
  );
}

function describeUsage(usage) {
  const one = (name, u) =>
    `${name} ${u.cores} cores (main thread waited for a CPU ${u.runQueueWaitPct}% of the time)`;
  return `${one('node', usage.node)}, ${one('load generator', usage.loadgen)}`;
}

// ---- the run ------------------------------------------------------------------------------

async function main() {
  const loadAverage = round1(os.loadavg()[0]);
  log(`load average ${loadAverage} on ${os.availableParallelism()} CPUs`);
  const verifyFigure = rawVerifyRate();
  log(
    `raw P-256 verify (node:crypto, one thread): ${verifyFigure.perSec}/s wall clock, ` +
      `${verifyFigure.perCpuSec} per CPU second`,
  );

  tmpDir = mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-ledger-'));
  log(`coffer up --dir ${tmpDir}`);
  const node = await startNode(tmpDir);
  const nodePid = node.child.pid;
  log(`node ${nodePid} at ${node.url}; RSS ${rssMb(nodePid)} MB`);
  const observer = await clientFromProfile(node.profile);
  const marks = new Map();
  let loadgenPid;
  const loadgen = startLoadgen(log, (name) => {
    marks.set(name, {
      at: performance.now(),
      node: usageOf(nodePid),
      loadgen: usageOf(loadgenPid),
    });
  });
  loadgenPid = loadgen.child.pid;
  const sampler = rssSampler(nodePid, observer);
  try {
    await loadgen.run('init', { profile: node.profile });

    // Throughput, in rounds of at most roundMax.
    const rounds = [];
    const usages = [];
    for (let done = 0, index = 0; done < txTotalWanted; index += 1) {
      const count = Math.min(roundMax, txTotalWanted - done);
      const round = await loadgen.run('throughput', {
        count,
        batchSize,
        inFlight,
        sendMsMax: sendSecondsMax * 1000,
        warmup: index === 0 ? warmupTx : 0,
        prefix: `t${index}`,
        sendCert,
      });
      const usage = usageBetween(marks.get('send-start'), marks.get('send-end'));
      usages.push(usage);
      rounds.push(round);
      done += count;
      log(
        `round ${index + 1}: ${round.accepted}/${count} accepted` +
          `${round.cutOff ? ` (sending stopped after ${sendSecondsMax} s)` : ''}, ` +
          `${Math.round((round.accepted * 1000) / round.ms)} committed tx/s ` +
          `(${round.calls} calls, ${round.backpressureRefusals} backpressure refusals, ` +
          `refused ${JSON.stringify(round.refused)}, sample ${JSON.stringify(round.sampleStatuses)}); ` +
          `RSS ${rssMb(nodePid)} MB; ${describeUsage(usage)}`,
      );
    }
    const accepted = rounds.reduce((s, r) => s + r.accepted, 0);
    const ms = rounds.reduce((s, r) => s + r.ms, 0);
    const committedTxPerSec = Math.round((accepted * 1000) / ms);
    const sampleStatuses = {};
    for (const r of rounds) {
      for (const [k, v] of Object.entries(r.sampleStatuses))
        sampleStatuses[k] = (sampleStatuses[k] ?? 0) + v;
    }
    const refused = {};
    for (const r of rounds) {
      for (const [k, v] of Object.entries(r.refused)) refused[k] = (refused[k] ?? 0) + v;
    }
    const throughputSamples = sampler.samples.slice();

    // Latency at half the measured load.
    const rate =
      latencyRateFixed > 0 ? latencyRateFixed : Math.max(1, Math.round(committedTxPerSec / 2));
    /** One open-loop run at `rate`; `batchMs` > 0: what is due every batchMs goes as one batch. */
    const latencyRun = async (batchMs, label) => {
      const run = await loadgen.run('latency', {
        rate,
        seconds: latencySeconds,
        warmupSeconds: 1,
        drainMsMax: latencyDrainMs,
        prefix: batchMs === 0 ? 'lat' : 'latb',
        sendCert,
        batchMs,
      });
      const usage = usageBetween(marks.get('latency-start'), marks.get('latency-end'));
      // A node without its explorer (or a failed read) leaves the figure out, not the run.
      const nodeSide = await loadgen
        .run('nodeMetrics', {
          fromEpochMs: run.measuredFromEpochMs,
          toEpochMs: run.sentUntilEpochMs,
        })
        .then(acceptToExecute, (error) => {
          log(`the node's explorer metrics could not be read: ${String(error).slice(0, 200)}`);
          return null;
        });
      log(
        `latency ${label} at ${rate} tx/s offered: p50 ${run.p50Ms} ms, p99 ${run.p99Ms} ms, ` +
          `max ${run.maxMs} ms over ${run.samples} (failures ${JSON.stringify(run.failures)}, ` +
          `most in flight ${run.inFlightMax}, send lag ≤ ${run.maxSendLagMs} ms); ` +
          `in the node, accept → execute p99 by second ${JSON.stringify(nodeSide?.p99MsBySecond ?? null)} ms; ` +
          describeUsage(usage),
      );
      return {
        offeredTxPerSec: run.offeredTxPerSec,
        ...(batchMs === 0 ? {} : { batchEveryMs: batchMs }),
        p50Ms: run.p50Ms,
        p90Ms: run.p90Ms,
        p99Ms: run.p99Ms,
        maxMs: run.maxMs,
        samples: run.samples,
        committed: run.committed,
        failures: run.failures,
        inFlightMax: run.inFlightMax,
        sockets: run.sockets,
        worstMsBySecond: run.worstMsBySecond,
        nodeAcceptToExecute: nodeSide,
        usage,
      };
    };
    const latency = await latencyRun(0, 'one request a transaction');
    const latencyBatched =
      latencyBatchMs > 0
        ? await latencyRun(latencyBatchMs, `batched every ${latencyBatchMs} ms`)
        : null;

    await sleep(300);
    const final = await observer.position();
    const nodeRssMb = rssMb(nodePid);
    const rssByMapping = rssByMappingMb(nodePid);
    const nodeStatus = await observer.nodeStatus();
    const nodeMemory = mbOf(nodeStatus.memory);
    const mallocTuning = nodeStatus.mallocTuning ?? null;
    await sampler.stop();
    const rssPeak = Math.max(...sampler.samples.map((s) => s.rssMb ?? 0), nodeRssMb);
    const half = throughputSamples.filter(
      (s) => s.seqno >= (throughputSamples.at(-1)?.seqno ?? 0) / 2,
    );
    const slope = accepted >= rssTrendTxMin ? rssSlope(half) : null;
    // Transactions the node committed for this run: the SDK check, warm-up, rounds, latency.
    const txTotal =
      1 +
      rounds.reduce((s, r) => s + r.warmupAccepted, 0) +
      accepted +
      latency.committed +
      (latencyBatched?.committed ?? 0);
    const extrapolated =
      slope === null || txTotal >= rssTargetTx
        ? null
        : Math.round(nodeRssMb + (slope * Math.max(0, rssTargetTx - txTotal)) / 100_000);
    const nodeCpu = usages.reduce((sum, u) => sum + u.node.cpuSeconds, 0);
    const usage = usages.length === 1 ? usages[0] : sumUsages(usages);
    const nodeCpuUsPerTx = Math.round((nodeCpu * 1e6) / accepted);
    const verifyShare = round1((committedTxPerSec / verifyFigure.perCpuSec) * 100);
    log(
      `node CPU ${nodeCpu.toFixed(1)} s for ${accepted} tx while sending: ${nodeCpuUsPerTx} µs/tx`,
    );
    log(`RSS ${nodeRssMb} MB at seqno ${final.seqno}; peak ${rssPeak} MB`);
    const mallocHeapMb = mallocHeapOf(mallocTuning?.heap);
    log(
      `RSS by mapping ${JSON.stringify(rssByMapping)}; node memory ${JSON.stringify(nodeMemory)}; ` +
        `glibc ${JSON.stringify(mallocHeapMb)}`,
    );

    let settled = null;
    if (settleSeconds > 0) {
      log(`letting the node settle for ${settleSeconds} s without load`);
      await sleep(settleSeconds * 1000);
      const settledStatus = await observer.nodeStatus();
      settled = {
        afterSeconds: settleSeconds,
        rssMb: rssMb(nodePid),
        rssByMappingMb: rssByMappingMb(nodePid),
        nodeMemoryMb: mbOf(settledStatus.memory),
        mallocHeapMb: mallocHeapOf(settledStatus.mallocTuning?.heap),
      };
      log(
        `RSS ${settled.rssMb} MB after ${settleSeconds} s without load; by mapping ` +
          `${JSON.stringify(settled.rssByMappingMb)}; node memory ${JSON.stringify(settled.nodeMemoryMb)}; ` +
          `glibc ${JSON.stringify(settled.mallocHeapMb)}`,
      );
    }

    const result = {
      committedTxPerSec,
      txTotal,
      latencyAtHalfLoad: latency,
      latencyAtHalfLoadBatched: latencyBatched,
      nodeRssMb,
      rssAtSeqno: final.seqno,
      rssPeakMb: rssPeak,
      rssByMappingMb: rssByMapping,
      nodeMemoryMb: nodeMemory,
      nodeRssSettled: settled,
      mallocTuned: mallocTuning?.tuned ?? null,
      mallocTrims: mallocTuning?.trims ?? null,
      mallocHeapMb,
      nodeV8PoolSize: nodeStatus.v8PoolSize ?? null,
      nodeV8Pretenuring: nodeStatus.v8Pretenuring ?? null,
      rssMbPer100kTx: round1(slope),
      rssTrace: downsample(sampler.samples, 12).map((item) => [item.seqno, item.rssMb]),
      rssMbExtrapolatedAt1M: extrapolated,
      rawP256VerifyPerSecOneCore: verifyFigure.perCpuSec,
      rawP256VerifyPerSecWallClock: verifyFigure.perSec,
      fsync: true,
      nodeHeapMb: nodeHeapMb === undefined ? null : Number(nodeHeapMb),
      verifyThreads: verifyThreads === undefined ? 'per core' : Number(verifyThreads),
      batchSize,
      inFlight,
      sendCert,
      rounds: rounds.length,
      sendCutOff: rounds.some((r) => r.cutOff),
      throughputMs: Math.round(ms),
      acceptedTxPerSec: Math.round((accepted * 1000) / rounds.reduce((s, r) => s + r.sentMs, 0)),
      backpressureRefusals: rounds.reduce((s, r) => s + r.backpressureRefusals, 0),
      refused,
      sampleStatuses,
      nodeCpuUsPerTx,
      usageWhileSending: usage,
      signPerSec: rounds[0]?.signPerSec ?? null,
      envelopeJsonBytes: rounds[0]?.envelopeJsonBytes ?? null,
      verifyShareOfOneCorePct: verifyShare,
      loadAverage,
      notes:
        `${accepted} kv puts (${sendCertNotes[sendCert]}) ` +
        `in ${rounds.length} round(s); committed tx/s = transactions / (first send → last ` +
        `commit); signing not timed. Latency: open loop, ${latencySeconds} s after 1 s warm-up, ` +
        `one request per transaction with wait=commit, from its scheduled send time` +
        (latencyBatched === null
          ? '. '
          : `; batched: what is due every ${latencyBatchMs} ms as one /v1/tx/batch?wait=commit call. `) +
        `Node CPU ${nodeCpuUsPerTx} µs/tx; verifying alone at this rate uses ${verifyShare}% ` +
        `of one core. RSS ${nodeRssMb} MB after ${txTotal} transactions ` +
        `(${final.seqno} ledger entries with signature markers)` +
        (txTotal >= rssTargetTx
          ? ` (measured: ${rssTargetTx} transactions were run); peak ${rssPeak} MB`
          : '') +
        (extrapolated === null
          ? ''
          : `; linear trend ${round1(slope)} MB per 100k gives ~${extrapolated} MB at 1M ` +
            `(extrapolated, not measured)`) +
        `. The load generator shares the ${os.availableParallelism()} CPUs with the node; ` +
        `1-minute load average at start ${loadAverage}.`,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
    if (heapSnapshotDir !== undefined) await heapSnapshot(nodePid, observer);
    if (holdSeconds > 0) {
      log(`holding node ${nodePid} for ${holdSeconds} s`);
      await sleep(holdSeconds * 1000);
    }
  } finally {
    await sampler.stop();
    observer.close();
    await loadgen.stop();
    log('stopping the node (SIGINT)');
    await stopChild(node.child, 'node', log);
    rmSync(tmpDir, { recursive: true, force: true });
    tmpDir = undefined;
  }
}

/** `--nodes N` (or BENCH_LEDGER_NODES=N): 1 runs the single-node benchmark above. */
function nodesWanted() {
  const args = process.argv.slice(2);
  const at = args.findIndex((arg) => arg === '--nodes' || arg.startsWith('--nodes='));
  const text =
    at === -1
      ? (process.env.BENCH_LEDGER_NODES ?? '1')
      : args[at].startsWith('--nodes=')
        ? args[at].slice('--nodes='.length)
        : args[at + 1];
  const nodes = Number(text);
  if (!Number.isSafeInteger(nodes) || nodes < 1 || nodes > networkNodesMax) {
    throw new Error(`--nodes (BENCH_LEDGER_NODES) must be an integer from 1 to ${networkNodesMax}`);
  }
  return nodes;
}

try {
  const nodes = nodesWanted();
  if (nodes === 1) await main();
  else await runNetworkBench({ nodes, log });
} catch (error) {
  log(`FAILED: ${error?.stack ?? error}`);
  cleanupSync();
  process.exitCode = 1;
}
