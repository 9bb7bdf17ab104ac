// The ledger benchmark on a consortium network (`node bench/ledger.mjs --nodes 3`, issue 4):
// `coffer network up --nodes N` (N etcd members and N Coffer nodes as separate processes,
// fsync on everywhere), one load generator process per organisation (bench/lib/loadgen.mjs)
// signing with that organisation's client profile and submitting to that organisation's node,
// and, in the same run, plain etcd puts of the same batch sizes on the same cluster
// (bench/lib/etcd-put.mjs) and the raw P-256 verification rate on one core.
//
//   1. raw verify, before the network starts (nothing competes with it then);
//   2. warm-up, then throughput: BENCH_LEDGER_TX pre-signed transactions in all (signing is
//      not timed), an equal share per organisation, sent by all load generators at once via
//      POST /v1/tx/batch; committed tx/s = transactions / (first send → the moment every node
//      has committed the last of them), the latter from GET /v1/ledger/position on each node
//      every BENCH_LEDGER_POLL_MS;
//   3. latency at half that load, open loop, POST /v1/tx?wait=commit, the rate split over the
//      nodes; p50/p99 over all samples from the scheduled send time;
//   4. all nodes at the same final position with the same Merkle root (waited for, then
//      compared; a difference is reported, never hidden);
//   5. plain etcd puts of values the size of the throughput phase's average batch, with the
//      nodes' concurrency (N clients × 4 appends in flight) and with 16 in flight per client;
//   6. CPU of every process (nodes, etcd members, load generators) and of the whole machine
//      over each phase, from /proc: the `notes` field says what limits throughput.
//
// The defaults (20,000 transactions, sending cut off after BENCH_LEDGER_SEND_S = 25 s) keep a
// run within bench/run.mjs's 120 s on this machine (about 100 s: the network starts in ~9 s,
// signing takes ~6 s). `coffer network down` runs at the end, on failure and on
// SIGINT/SIGTERM.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { clientFromProfile } from '../../dist/cli/profile.js';
import { encodeBatch, envelopeFromJson } from '../../dist/ledger/tx.js';
import {
  atCleanup,
  exited,
  machineCpu,
  percentile,
  rawVerifyRate,
  round1,
  round2,
  rssMb,
  startHelper,
  startLoadgen,
  track,
  usageOf,
  intEnv,
  sendCertEnv,
  sendCertNotes,
} from './procs.mjs';

const repoRoot = path.dirname(path.dirname(path.dirname(fileURLToPath(import.meta.url))));
const binCoffer = path.join(repoRoot, 'bin/coffer');

/** `coffer network up` takes at most 7 organisations (src/cli/network.ts). */
export const networkNodesMax = 7;

/** Transactions of the throughput phase over all organisations. */
const txTotalWanted = intEnv('BENCH_LEDGER_TX', 20_000);
/** Sending stops after this long; what was not sent is not counted. */
const sendSecondsMax = intEnv('BENCH_LEDGER_SEND_S', 25);
const batchSize = intEnv('BENCH_LEDGER_BATCH', 1000);
/** Batch calls in flight per load generator. */
const inFlight = intEnv('BENCH_LEDGER_IN_FLIGHT', 4);
/**
 * Transactions a load generator has sent and not yet seen committed, at most. The single-node
 * run's 9,000 is too deep here: every node verifies and executes every organisation's
 * transactions, and a backlog of tens of seconds makes the nodes' etcd appends time out.
 */
const outstandingPerLoadgen = intEnv('BENCH_LEDGER_OUTSTANDING', 2000);
/** A transaction whose outcome a node reports Unknown is asked again for this long. */
const unknownWaitMs = 15_000;
/** Warm-up transactions over all organisations. */
const warmupTx = intEnv('BENCH_LEDGER_WARMUP_TX', 1500);
const latencySeconds = intEnv('BENCH_LEDGER_LATENCY_S', 10);
const sendCert = sendCertEnv();
/** Offered rate of the latency phase over all nodes; 0: half the measured throughput. */
const latencyRateFixed = intEnv('BENCH_LEDGER_LATENCY_RATE', 0);
/** Each node's position is read this often while the throughput phase runs. */
const pollMs = intEnv('BENCH_LEDGER_POLL_MS', 25);
/** Seconds of each plain etcd put run. */
const etcdPutSeconds = intEnv('BENCH_LEDGER_ETCD_S', 2);
/** A Coffer node keeps this many appends in flight (src/node/engine.ts appendsInFlightMax). */
const nodeAppendsInFlight = 4;
/** The saturating plain-put run: puts in flight per client. */
const etcdSaturatingInFlight = 16;
const latencyDrainMs = 15_000;
/** `coffer network up` reports ready within 120 s or fails (networkStartTimeoutMs) */
const networkUpTimeoutMs = 150_000;
/** `coffer network down` kills what is left after 30 s (networkStopTimeoutMs). */
const networkDownTimeoutMs = 45_000;
/** After the last transaction, every node must have committed it within this long. */
const commitWaitMs = 30_000;
/** Nodes must reach the same position within this long once the load stops. */
const convergeWaitMs = 20_000;
/** A machine this busy (share of all CPUs) is CPU-bound. */
const saturatedShare = 0.9;

/** Splits `total` into `parts` integers that differ by at most one. */
function shares(total, parts) {
  return Array.from(
    { length: parts },
    (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0),
  );
}

const epochNow = () => performance.timeOrigin + performance.now();

// ---- the network's processes ----------------------------------------------------------------

/** `coffer network up --json`; resolves with its ready line. */
export async function networkUp(dir, nodes, log) {
  const child = track(
    spawn(
      process.execPath,
      [
        binCoffer,
        'network',
        'up',
        '--nodes',
        String(nodes),
        '--dir',
        dir,
        '--json',
        '--log-level',
        'warn',
      ],
      { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  let out = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  if (!(await exited(child, networkUpTimeoutMs))) {
    child.kill('SIGKILL');
    throw new Error(`coffer network up did not return within ${networkUpTimeoutMs} ms`);
  }
  for (const line of out.split('\n')) {
    try {
      const event = JSON.parse(line);
      if (event?.event === 'ready') return event;
    } catch {
      // not the JSON line
    }
  }
  log(`coffer network up printed: ${out.trim()}`);
  throw new Error(`coffer network up exited (${child.exitCode ?? child.signalCode}) without ready`);
}

/** Processes whose command line names `dir` (the network's own, a fresh temp dir). */
function processesUnder(dir) {
  const pids = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmdline.includes(dir)) pids.push(Number(name));
    } catch {
      // gone
    }
  }
  return pids;
}

/**
 * Anything of this network still running after `coffer network down` (e.g. a supervisor
 * stopped while still starting, before network.json listed its children) is killed by pid.
 */
function killLeftovers(dir, log) {
  const pids = processesUnder(dir);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  if (pids.length > 0) log(`killed ${pids.length} process(es) of ${dir} left after down`);
  return pids.length;
}

/** `coffer network down`, synchronously (exit and signal handlers). */
export function networkDownSync(dir, log) {
  const result = spawnSync(process.execPath, [binCoffer, 'network', 'down', '--dir', dir], {
    cwd: repoRoot,
    stdio: ['ignore', 2, 2],
    timeout: networkDownTimeoutMs,
  });
  if (result.status !== 0) log(`coffer network down exited with ${result.status}`);
  killLeftovers(dir, log);
}

async function networkDown(dir, log) {
  const child = track(
    spawn(process.execPath, [binCoffer, 'network', 'down', '--dir', dir], {
      cwd: repoRoot,
      stdio: ['ignore', 2, 2],
    }),
  );
  if (!(await exited(child, networkDownTimeoutMs))) child.kill('SIGKILL');
  if (child.exitCode !== 0) log(`coffer network down exited with ${child.exitCode}`);
  return killLeftovers(dir, log);
}

// ---- CPU of every process and of the machine --------------------------------------------------

function snapshot(pids) {
  const procs = {};
  for (const [name, pid] of Object.entries(pids)) procs[name] = usageOf(pid);
  return { at: performance.now(), machine: machineCpu(), procs };
}

/**
 * Between two snapshots: cores used by each process (and its main thread's share of the time
 * spent waiting for a CPU), by each group, by the whole machine, and by processes not ours.
 */
function usageBetween(from, to) {
  const seconds = (to.at - from.at) / 1000;
  const processes = {};
  for (const [name, before] of Object.entries(from.procs)) {
    const after = to.procs[name];
    if (after === undefined) continue;
    processes[name] = {
      cores: round2((after.cpu - before.cpu) / seconds),
      runQueueWaitPct: round1(((after.runQueueWait - before.runQueueWait) / seconds) * 100),
    };
  }
  const group = (prefix) =>
    round2(
      Object.entries(processes)
        .filter(([name]) => name.startsWith(prefix))
        .reduce((sum, [, p]) => sum + (Number.isNaN(p.cores) ? 0 : p.cores), 0),
    );
  const machineBusy = (to.machine.busy - from.machine.busy) / seconds;
  const ours = Object.values(processes).reduce(
    (sum, p) => sum + (Number.isNaN(p.cores) ? 0 : p.cores),
    0,
  );
  return {
    seconds: round1(seconds),
    machineBusyCores: round2(machineBusy),
    iowaitCores: round2((to.machine.iowait - from.machine.iowait) / seconds),
    groups: {
      nodes: group('node'),
      etcd: group('etcd'),
      loadgens: group('loadgen'),
      etcdPutClient: group('etcdPut'),
      benchAndSupervisor: round2(
        (processes.bench?.cores ?? 0) + (processes.supervisor?.cores ?? 0),
      ),
      notOurs: round2(Math.max(0, machineBusy - ours)),
    },
    processes,
  };
}

// ---- positions --------------------------------------------------------------------------------

async function positions(observers) {
  return Promise.all(observers.map((observer) => observer.position()));
}

/**
 * Reads every node's position every `pollMs` from now on. `until(seqno)` (the target is known
 * only once the load generators are done) waits until every node holds it and resolves with
 * each node's first time at or past it (epoch ms at which that answer arrived: an upper bound,
 * within `pollMs` plus one request of the moment the node committed it).
 */
function commitWatcher(observers) {
  const history = observers.map(() => []);
  let target;
  let stop = false;
  const loops = observers.map(async (observer, i) => {
    while (!stop) {
      try {
        const position = await observer.position();
        history[i].push({ at: epochNow(), seqno: position.seqno });
        if (target !== undefined && position.seqno >= target) return;
      } catch {
        // busy or restarting: next time
      }
      await sleep(pollMs);
    }
  });
  return {
    until: async (seqno) => {
      target = seqno;
      const all = Promise.all(loops).then(() => true);
      const done = await Promise.race([
        all,
        sleep(commitWaitMs, undefined, { ref: false }).then(() => false),
      ]);
      stop = true;
      await Promise.all(loops);
      const reachedAt = history.map((samples) => samples.find((p) => p.seqno >= seqno)?.at);
      return { done: done && reachedAt.every((at) => at !== undefined), reachedAt };
    },
    stop: () => {
      stop = true;
    },
  };
}

/** Waits until all nodes report the same seqno, then compares their Merkle roots. */
async function converged(observers) {
  const deadline = performance.now() + convergeWaitMs;
  let last = [];
  for (;;) {
    try {
      last = await positions(observers);
      const seqnos = new Set(last.map((p) => p.seqno));
      if (seqnos.size === 1) {
        const roots = new Set(last.map((p) => p.root));
        return { sameSeqno: true, sameRoot: roots.size === 1, positions: last };
      }
    } catch {
      // a node did not answer: try again
    }
    if (performance.now() > deadline) return { sameSeqno: false, sameRoot: false, positions: last };
    await sleep(200);
  }
}

const brief = (p) => ({
  seqno: p.seqno,
  root: typeof p.root === 'string' ? p.root.slice(0, 16) : p.root,
  logPosition: p.logPosition,
});

// ---- the run ----------------------------------------------------------------------------------

function mergeCounts(items) {
  const counts = {};
  for (const item of items) {
    for (const [k, v] of Object.entries(item ?? {})) counts[k] = (counts[k] ?? 0) + v;
  }
  return counts;
}

function describeCpu(u, names) {
  const list = (prefix) =>
    names
      .filter((name) => name.startsWith(prefix))
      .map((name) => u.processes[name]?.cores ?? 'NaN')
      .join('/');
  const waits = names
    .filter((name) => name.startsWith('node'))
    .map((name) => u.processes[name]?.runQueueWaitPct ?? 'NaN')
    .join('/');
  return (
    `machine busy ${u.machineBusyCores} of ${os.availableParallelism()} cores ` +
    `(iowait ${u.iowaitCores}); nodes ${list('node')} cores (main threads waited for a CPU ` +
    `${waits}% of the time), etcd members ${list('etcd')}, load generators ${list('loadgen')}, ` +
    `other processes ${u.groups.notOurs}`
  );
}

export async function runNetworkBench({ nodes, log: logLine }) {
  const started = performance.now();
  const log = (line) => logLine(`[${((performance.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const cpus = os.availableParallelism();
  const loadAverage = round1(os.loadavg()[0]);
  log(`load average ${loadAverage} on ${cpus} CPUs; network of ${nodes} organisations`);
  const verifyFigure = rawVerifyRate();
  log(
    `raw P-256 verify (node:crypto, one thread): ${verifyFigure.perSec}/s wall clock, ` +
      `${verifyFigure.perCpuSec} per CPU second`,
  );

  const tmpDir = mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-network-'));
  const dir = path.join(tmpDir, 'net');
  let networkStopped = false;
  atCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));
  atCleanup(() => {
    if (!networkStopped) networkDownSync(dir, log);
    networkStopped = true;
  });

  const upStarted = performance.now();
  log(`coffer network up --nodes ${nodes} --dir ${dir}`);
  const ready = await networkUp(dir, nodes, log);
  const upSeconds = round1((performance.now() - upStarted) / 1000);
  log(
    `network ready in ${upSeconds} s: nodes ${ready.nodes.map((n) => `${n.url} (pid ${n.pid})`).join(', ')}; ` +
      `etcd ${ready.etcd.map((m) => `${m.clientUrl} (pid ${m.pid})`).join(', ')}`,
  );
  const observers = [];
  const loadgens = [];
  let putter;
  let stopWatcher = () => {};
  try {
    for (const node of ready.nodes) observers.push(await clientFromProfile(node.profile));
    for (let i = 0; i < nodes; i += 1) {
      loadgens.push(startLoadgen(log, () => {}, `loadgen-org${i + 1}`));
    }
    const pids = { bench: process.pid, supervisor: ready.supervisorPid };
    ready.nodes.forEach((node, i) => {
      pids[`node${i + 1}`] = node.pid;
    });
    ready.etcd.forEach((member, i) => {
      pids[`etcd${i + 1}`] = member.pid;
    });
    loadgens.forEach((loadgen, i) => {
      pids[`loadgen${i + 1}`] = loadgen.child.pid;
    });
    const names = Object.keys(pids);
    await Promise.all(
      loadgens.map((loadgen, i) => loadgen.run('init', { profile: ready.nodes[i].profile })),
    );

    // ---- throughput ----
    const counts = shares(txTotalWanted, nodes);
    const warmups = shares(warmupTx, nodes);
    const prepared = await Promise.all(
      loadgens.map((loadgen, i) =>
        loadgen.run('prepare', {
          count: counts[i],
          warmup: warmups[i],
          prefix: `o${i + 1}`,
          sendCert,
        }),
      ),
    );
    log(`signed ${txTotalWanted} + ${warmupTx} warm-up envelopes (${nodes} load generators)`);
    const warm = await Promise.all(
      loadgens.map((loadgen) => loadgen.run('warmup', { batchSize, inFlight })),
    );
    log(`warm-up: ${warm.map((w) => `${w.accepted} tx in ${w.ms} ms`).join(', ')}`);
    await converged(observers);
    const before = await positions(observers);
    const watcher = commitWatcher(observers);
    stopWatcher = watcher.stop;
    const s0 = snapshot(pids);
    const sends = await Promise.all(
      loadgens.map((loadgen) =>
        loadgen.run('send', {
          batchSize,
          inFlight,
          sendMsMax: sendSecondsMax * 1000,
          outstanding: outstandingPerLoadgen,
          unknownWaitMs,
        }),
      ),
    );
    const target = Math.max(...sends.map((s) => s.maxSeqno));
    const commits = await watcher.until(target);
    const s1 = snapshot(pids);
    const after = await positions(observers);
    const accepted = sends.reduce((sum, s) => sum + s.accepted, 0);
    const unknownCalls = sends.reduce((sum, s) => sum + (s.lastOfCallStatuses.Unknown ?? 0), 0);
    const firstSend = Math.min(...sends.map((s) => s.startedAtEpochMs));
    const ownLast = Math.max(...sends.map((s) => s.lastCommitAtEpochMs));
    const allNodesAt = commits.done ? Math.max(ownLast, ...commits.reachedAt) : undefined;
    const throughputMs = (allNodesAt ?? ownLast) - firstSend;
    const throughputUsage = usageBetween(s0, s1);
    const batches = (after[0]?.logPosition ?? 0) - (before[0]?.logPosition ?? 0);
    const envelopesPerBatch = batches > 0 ? accepted / batches : null;
    // A node that reported an outcome Unknown: every transaction's status is read instead
    // of a sample, and only those Committed are counted.
    const sampleStatuses = mergeCounts(
      await Promise.all(
        loadgens.map((loadgen) => loadgen.run('sample', { size: unknownCalls > 0 ? 0 : 300 })),
      ),
    );
    const committed = unknownCalls > 0 ? (sampleStatuses.Committed ?? 0) : accepted;
    const committedTxPerSec = Math.round((committed * 1000) / throughputMs);
    const refused = mergeCounts(sends.map((s) => s.refused));
    log(
      `throughput: ${committed} tx committed (${accepted} accepted, ${unknownCalls} calls ` +
        `ended Unknown) of ${txTotalWanted} in ${Math.round(throughputMs)} ms ` +
        `(first send → every node committed the last) = ${committedTxPerSec} tx/s; ` +
        `${commits.done ? '' : 'NOT ALL NODES REACHED THE LAST TRANSACTION; '}` +
        `per node: ${sends.map((s) => `${s.accepted} accepted, own last commit after ${Math.round(s.lastCommitAtEpochMs - firstSend)} ms`).join('; ')}; ` +
        `every node at seqno ≥ ${target} after ${commits.reachedAt.map((t) => (t === undefined ? 'never' : Math.round(t - firstSend))).join('/')} ms; ` +
        `${batches} batches (${round1(envelopesPerBatch)} tx each); sample ${JSON.stringify(sampleStatuses)}; ` +
        describeCpu(throughputUsage, names),
    );

    // ---- latency at half that load ----
    const rate =
      latencyRateFixed > 0 ? latencyRateFixed : Math.max(nodes, Math.round(committedTxPerSec / 2));
    const rates = shares(rate, nodes);
    await Promise.all(
      loadgens.map((loadgen, i) =>
        loadgen.run('latencyPrepare', {
          rate: rates[i],
          seconds: latencySeconds,
          warmupSeconds: 1,
          prefix: `lat${i + 1}`,
          sendCert,
        }),
      ),
    );
    const latencyBefore = await positions(observers);
    const l0 = snapshot(pids);
    const latencies = await Promise.all(
      loadgens.map((loadgen, i) =>
        loadgen.run('latencyRun', {
          rate: rates[i],
          warmupSeconds: 1,
          drainMsMax: latencyDrainMs,
          // Sockets are opened first (≤ 256 TLS handshakes): start together after that.
          startAtEpochMs: epochNow() + 1500,
        }),
      ),
    );
    const l1 = snapshot(pids);
    const latencyAfter = await positions(observers);
    const latencyUsage = usageBetween(l0, l1);
    const latencySamples = latencies.flatMap((l) => l.sampleMs).sort((a, b) => a - b);
    const latencyFailures = mergeCounts(latencies.map((l) => l.failures));
    const latencyBatches =
      (latencyAfter[0]?.logPosition ?? 0) - (latencyBefore[0]?.logPosition ?? 0);
    const latencyCommitted = latencies.reduce((sum, l) => sum + l.committed, 0);
    const latency = {
      offeredTxPerSec: rate,
      perNodeOfferedTxPerSec: rates,
      p50Ms: percentile(latencySamples, 50),
      p90Ms: percentile(latencySamples, 90),
      p99Ms: percentile(latencySamples, 99),
      maxMs: percentile(latencySamples, 100),
      samples: latencySamples.length,
      perNode: latencies.map((l) => ({ p50Ms: l.p50Ms, p99Ms: l.p99Ms, samples: l.samples })),
      failures: latencyFailures,
      inFlightMax: latencies.map((l) => l.inFlightMax),
      maxSendLagMs: Math.max(...latencies.map((l) => l.maxSendLagMs)),
      envelopesPerBatch: latencyBatches > 0 ? round1(latencyCommitted / latencyBatches) : null,
      cpuUsPerTx: Math.round(
        (latencyUsage.machineBusyCores * latencyUsage.seconds * 1e6) /
          Math.max(1, latencyCommitted),
      ),
      usage: latencyUsage,
    };
    log(
      `latency at ${rate} tx/s offered (${rates.join('+')}): p50 ${latency.p50Ms} ms, ` +
        `p99 ${latency.p99Ms} ms, max ${latency.maxMs} ms over ${latency.samples} ` +
        `(failures ${JSON.stringify(latencyFailures)}, send lag ≤ ${latency.maxSendLagMs} ms); ` +
        describeCpu(latencyUsage, names),
    );

    // ---- every node at the same position and root ----
    const agreement = await converged(observers);
    log(
      agreement.sameSeqno
        ? `all ${nodes} nodes at seqno ${agreement.positions[0]?.seqno}: ` +
            `${agreement.sameRoot ? 'same Merkle root' : 'DIFFERENT MERKLE ROOTS'}`
        : `nodes did not reach the same position within ${convergeWaitMs} ms: ` +
            JSON.stringify(agreement.positions.map(brief)),
    );
    const nodesRssMb = ready.nodes.map((node) => rssMb(node.pid));

    // ---- plain etcd puts of the same batch size ----
    const sample = envelopeFromJson(JSON.parse(prepared[0].sampleEnvelope));
    const perBatch = Math.max(1, Math.round(envelopesPerBatch ?? 1));
    const batchBytes = encodeBatch({
      time: Date.now(),
      envelopes: Array.from({ length: perBatch }, () => sample),
    }).byteLength;
    const peerTls = path.join(
      dir,
      'crypto/peerOrganizations/org1.coffer.local/peers/peer0.org1.coffer.local/tls',
    );
    putter = startHelper('etcd-put.mjs', 'etcd-put', log);
    pids.etcdPut = putter.child.pid;
    await putter.run('init', {
      endpoints: ready.etcd.map((member) => member.clientUrl),
      caFile: path.join(dir, 'tls-ca-bundle.pem'),
      certFile: path.join(peerTls, 'server.crt'),
      keyFile: path.join(peerTls, 'server.key'),
      clients: nodes,
    });
    const etcdRuns = [];
    for (const perClient of [nodeAppendsInFlight, etcdSaturatingInFlight]) {
      const e0 = snapshot(pids);
      const figures = await putter.run('run', {
        valueBytes: batchBytes,
        inFlightPerClient: perClient,
        seconds: etcdPutSeconds,
        prefix: `/bench/plain/${perClient}`,
      });
      const usage = usageBetween(e0, snapshot(pids));
      etcdRuns.push({
        ...figures,
        txPerSecEquivalent: Math.round(figures.putsPerSec * perBatch),
        usage: {
          machineBusyCores: usage.machineBusyCores,
          iowaitCores: usage.iowaitCores,
          etcd: usage.groups.etcd,
          client: usage.groups.etcdPutClient,
          nodes: usage.groups.nodes,
        },
      });
      log(
        `plain etcd puts of ${batchBytes} bytes (${perBatch} envelopes), ${nodes} clients × ` +
          `${perClient} in flight: ${figures.putsPerSec}/s (${figures.mbPerSec} MB/s, ` +
          `p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms, ${figures.errors} errors); ` +
          `etcd ${usage.groups.etcd} cores, client ${usage.groups.etcdPutClient}, ` +
          `machine ${usage.machineBusyCores} (iowait ${usage.iowaitCores})`,
      );
    }

    // ---- what limits throughput ----
    const u = throughputUsage;
    const busyUsPerTx = (u.machineBusyCores * throughputMs * 1000) / committed;
    const groupUsPerTx = (cores) => Math.round((cores * throughputMs * 1000) / committed);
    const nodeUsPerTx = groupUsPerTx(u.groups.nodes / nodes);
    const verifyUsPerTx = Math.round(1e6 / verifyFigure.perCpuSec);
    const saturated = u.machineBusyCores >= saturatedShare * cpus;
    const share = (cores) => Math.round((cores / Math.max(u.machineBusyCores, 0.01)) * 100);
    const etcdMatching = etcdRuns[0];
    const etcdSaturating = etcdRuns[1];
    const bottleneck = saturated
      ? `CPU-bound: the ${cpus} cores were busy ${u.machineBusyCores} cores on average while ` +
        `sending (iowait ${u.iowaitCores}). All processes together used ` +
        `${Math.round(busyUsPerTx)} µs of CPU per committed transaction, so this machine ` +
        `tops out near ${Math.round((cpus * 1e6) / busyUsPerTx)} tx/s, and ${5000} tx/s would ` +
        `take about ${round1((5000 * busyUsPerTx) / 1e6)} cores. The ${nodes} nodes took ` +
        `${share(u.groups.nodes)}% of it (${nodeUsPerTx} µs per transaction each, since each ` +
        `one checks every signature and executes every transaction; one P-256 verify alone is ` +
        `${verifyUsPerTx} µs). etcd took ${share(u.groups.etcd)}%, the load generators ` +
        `${share(u.groups.loadgens)}%, and other processes ${share(u.groups.notOurs)}%.`
      : `Not CPU-bound: the machine was busy only ${u.machineBusyCores} of ${cpus} cores while ` +
        `sending (iowait ${u.iowaitCores}): the pipeline's waits (etcd round trips, fsyncs ` +
        `of 3 members and 3 mirrors on one disk, the load generators' window) set the pace. ` +
        `Nodes ${nodeUsPerTx} µs of CPU per transaction each.`;
    const lu = latency.usage;
    const latencyNote =
      lu.machineBusyCores >= saturatedShare * cpus
        ? `At half load the machine is CPU-bound again (busy ${lu.machineBusyCores} cores): one ` +
          `request per transaction (batches of ${latency.envelopesPerBatch} transactions) costs ` +
          `about ${latency.cpuUsPerTx} µs of CPU per transaction against ` +
          `${Math.round(busyUsPerTx)} µs through /v1/tx/batch, so half the batch throughput ` +
          `is more than it sustains and requests queue (p99 ${latency.p99Ms} ms).`
        : `At half load the machine was busy ${lu.machineBusyCores} of ${cpus} cores ` +
          `(p99 ${latency.p99Ms} ms).`;
    const etcdNote =
      `Plain etcd puts of the same batches (${batchBytes} bytes, ${perBatch} envelopes) ` +
      `reach ${etcdMatching.putsPerSec}/s with the nodes' ${nodes} × ${nodeAppendsInFlight} ` +
      `in flight (≈ ${etcdMatching.txPerSecEquivalent} tx/s) and ` +
      `${etcdSaturating.putsPerSec}/s with ${nodes} × ${etcdSaturatingInFlight} ` +
      `(≈ ${etcdSaturating.txPerSecEquivalent} tx/s), on an otherwise idle network: ` +
      (etcdMatching.txPerSecEquivalent > 2 * committedTxPerSec
        ? 'ordering on etcd alone is not the limit.'
        : 'ordering on etcd is close to the limit at these batch sizes.');

    const result = {
      nodes,
      committedTxPerSec,
      txTotal: committed,
      txAccepted: accepted,
      callsEndedUnknown: unknownCalls,
      allNodesCommitted: commits.done,
      latencyAtHalfLoad: latency,
      agreement: {
        sameFinalPosition: agreement.sameSeqno,
        sameMerkleRoot: agreement.sameRoot,
        positions: agreement.positions.map(brief),
      },
      plainEtcdPuts: etcdRuns,
      rawP256VerifyPerSecOneCore: verifyFigure.perCpuSec,
      rawP256VerifyPerSecWallClock: verifyFigure.perSec,
      fsync: true,
      batchSize,
      inFlight,
      sendCert,
      sendCutOff: sends.some((s) => s.cutOff),
      throughputMs: Math.round(throughputMs),
      perNode: sends.map((s, i) => ({
        accepted: s.accepted,
        ownLastCommitMs: Math.round(s.lastCommitAtEpochMs - firstSend),
        allAtLastSeqnoMs:
          commits.reachedAt[i] === undefined ? null : Math.round(commits.reachedAt[i] - firstSend),
        backpressureRefusals: s.backpressureRefusals,
        windowWaits: s.windowWaits,
      })),
      batches,
      envelopesPerBatch: round1(envelopesPerBatch),
      refused,
      sampleStatuses,
      usageWhileSending: throughputUsage,
      cpuUsPerTx: {
        allProcesses: Math.round(busyUsPerTx),
        eachNode: nodeUsPerTx,
        etcdAll: groupUsPerTx(u.groups.etcd),
        loadgensAll: groupUsPerTx(u.groups.loadgens),
        rawVerify: verifyUsPerTx,
      },
      nodesRssMb,
      signPerSec: prepared.map((p) => p.signPerSec),
      envelopeJsonBytes: prepared[0]?.envelopeJsonBytes ?? null,
      networkUpSeconds: upSeconds,
      loadAverage,
      notes:
        `${nodes} organisations (${nodes} etcd members, ${nodes} Coffer nodes, fsync on), ` +
        `${committed} kv puts committed of ${accepted} accepted ` +
        `(${sendCertNotes[sendCert]}) ` +
        `sent by ${nodes} load generators, each to its own organisation's node; committed ` +
        `tx/s = transactions / (first send → every node committed the last); signing not ` +
        `timed. Latency: open loop at half that rate split over the nodes, ${latencySeconds} s ` +
        `after 1 s warm-up, wait=commit, from the scheduled send time. ` +
        (agreement.sameSeqno && agreement.sameRoot
          ? `All nodes ended at seqno ${agreement.positions[0]?.seqno} with the same Merkle root. `
          : `NODES DISAGREE at the end: ${JSON.stringify(agreement.positions.map(brief))}. `) +
        (unknownCalls > 0
          ? `${unknownCalls} batch calls ended with their last transaction Unknown on its node ` +
            `(its ordering gave up on the append, e.g. ORDERING_E_OUTCOME_UNKNOWN): only the ` +
            `${committed} transactions read back as Committed are counted. `
          : '') +
        `${bottleneck} ${latencyNote} ${etcdNote} Everything shares the ${cpus} CPUs; 1-minute load ` +
        `average at start ${loadAverage}.`,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    stopWatcher();
    for (const observer of observers) observer.close();
    await Promise.all(loadgens.map((loadgen) => loadgen.stop()));
    await putter?.stop();
    log('coffer network down');
    if (!networkStopped) {
      await networkDown(dir, log);
      networkStopped = true;
    }
    rmSync(tmpDir, { recursive: true, force: true });
    log('network stopped, temp dir removed');
  }
}
