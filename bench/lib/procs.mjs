// Helpers of the ledger benchmark (bench/ledger.mjs) shared by its single-node and network
// paths: child processes that are never left behind, the load generator's IPC, the raw P-256
// verify loop, and what /proc says about a process (RSS, CPU, run-queue wait) or the machine.
import { fork } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const libDir = path.dirname(fileURLToPath(import.meta.url));
/** Request-sized message for the raw verify loop (a kv put request is about 300 bytes). */
const verifyMessageBytes = 300;
const stopTimeoutMs = 10_000;
const clockTicks = 100; // USER_HZ on Linux

/** An integer setting from the environment (at least `min`), or `fallback`. */
export function intEnv(name, fallback, min = 0) {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be an integer of at least ${min}`);
  }
  return value;
}

/**
 * BENCH_LEDGER_SEND_CERT: unset, the envelopes carry the signing certificate as the SDK's do,
 * until one of the client's transactions has committed (the load generator's first, at init,
 * does: 'until-known'); 1, in every envelope, as Fabric clients send it ('always'); 0, never.
 */
export function sendCertEnv() {
  const value = process.env.BENCH_LEDGER_SEND_CERT ?? '';
  if (value === '') return 'until-known';
  if (value === '1') return 'always';
  if (value === '0') return 'never';
  throw new Error('BENCH_LEDGER_SEND_CERT must be 0 or 1 (unset: as the SDK does)');
}

/** How the figures' notes name a sendCertEnv() value. */
export const sendCertNotes = {
  'until-known': 'certificate sent until the ledger knew it, as the SDK does',
  always: 'certificate sent in every envelope',
  never: 'no certificate',
};

export const round1 = (x) => (x === null ? null : Math.round(x * 10) / 10);
export const round2 = (x) => (x === null ? null : Math.round(x * 100) / 100);

// ---- processes: never left behind ---------------------------------------------------------

const children = new Set();
const cleanups = [];

/** Registers a synchronous clean-up step, run (last registered first) by cleanupSync. */
export function atCleanup(step) {
  cleanups.push(step);
}

/** SIGKILLs every tracked child still running, then runs the registered steps. */
export function cleanupSync() {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  while (cleanups.length > 0) {
    const step = cleanups.pop();
    try {
      step();
    } catch (error) {
      process.stderr.write(`ledger: clean-up step failed: ${error?.stack ?? error}\n`);
    }
  }
}

export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Whether `child` exits within `ms` (the timer does not keep this process alive). */
export function exited(child, ms) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return Promise.race([
    new Promise((resolve) => child.once('exit', () => resolve(true))),
    sleep(ms, undefined, { ref: false }).then(() => false),
  ]);
}

export async function stopChild(child, name, log, signal = 'SIGINT') {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill(signal);
  if (await exited(child, stopTimeoutMs)) return;
  log(`${name} did not exit within ${stopTimeoutMs} ms of ${signal}: SIGKILL`);
  child.kill('SIGKILL');
  await exited(child, stopTimeoutMs);
}

/**
 * A benchmark helper process (`bench/lib/<file>`) driven over IPC: `run(cmd, args)` sends
 * { id, cmd, ...args } and resolves with the reply's result; messages with a `mark` go to
 * `onMark` (the load generator tells when a phase starts and ends).
 */
export function startHelper(file, name, log, onMark = () => {}) {
  const child = track(fork(path.join(libDir, file), [], { stdio: ['ignore', 2, 2, 'ipc'] }));
  const waiting = new Map();
  let nextId = 0;
  child.on('message', ({ id, ok, result, error, mark }) => {
    if (mark !== undefined) {
      onMark(mark);
      return;
    }
    const entry = waiting.get(id);
    waiting.delete(id);
    if (ok) entry?.resolve(result);
    else entry?.reject(new Error(`${name}: ${error}`));
  });
  child.once('exit', (code, signal) => {
    for (const entry of waiting.values()) {
      entry.reject(new Error(`${name} exited (${code ?? signal})`));
    }
    waiting.clear();
  });
  return {
    child,
    run: (cmd, args = {}) =>
      new Promise((resolve, reject) => {
        nextId += 1;
        waiting.set(nextId, { resolve, reject });
        child.send({ id: nextId, cmd, ...args });
      }),
    stop: async () => {
      if (child.connected) child.send({ id: 0, cmd: 'exit' });
      if (!(await exited(child, 2000))) await stopChild(child, name, log, 'SIGTERM');
    },
  };
}

/** The load generator (bench/lib/loadgen.mjs). */
export function startLoadgen(log, onMark, name = 'loadgen') {
  return startHelper('loadgen.mjs', name, log, onMark);
}

// ---- measurements -------------------------------------------------------------------------

/**
 * node:crypto verifications of one signature in a loop on this thread for ~1 s. `perSec` is
 * calls per wall-clock second; `perCpuSec` per second of this process's CPU time, which is
 * the one-core rate even when other work on the machine takes turns on that core.
 */
export function rawVerifyRate() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const message = randomBytes(verifyMessageBytes);
  const signature = sign('sha256', message, privateKey);
  const op = () => {
    if (!verify('sha256', message, publicKey, signature)) throw new Error('verify failed');
  };
  const loop = (ms) => {
    let calls = 0;
    const start = performance.now();
    while (performance.now() - start < ms) {
      for (let i = 0; i < 32; i += 1) op();
      calls += 32;
    }
    return { calls, ms: performance.now() - start };
  };
  loop(200);
  const cpu0 = process.cpuUsage();
  const { calls, ms } = loop(1000);
  const cpu = process.cpuUsage(cpu0);
  return {
    perSec: Math.round((calls * 1000) / ms),
    perCpuSec: Math.round((calls * 1e6) / (cpu.user + cpu.system)),
    samples: calls,
  };
}

export function rssMb(pid) {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match === null ? null : Math.round(Number(match[1]) / 1024);
}

/**
 * A process's CPU seconds (user + system, all threads) and the seconds its main thread (the
 * JavaScript thread) spent runnable but waiting for a CPU (/proc/<pid>/schedstat): when that
 * is large, other work on the machine, not the process itself, sets the pace.
 */
export function usageOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const schedstat = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ');
    return {
      cpu: (Number(fields[11]) + Number(fields[12])) / clockTicks,
      runQueueWait: Number(schedstat[1]) / 1e9,
    };
  } catch {
    return { cpu: Number.NaN, runQueueWait: Number.NaN };
  }
}

/**
 * The whole machine's CPU seconds from /proc/stat: busy (all but idle and iowait), iowait
 * (idle with a disk request outstanding: fsync) and the total, summed over all CPUs.
 */
export function machineCpu() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, ...values] = line.trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already in user)
  const ticks = values.slice(0, 8).map(Number);
  const total = ticks.reduce((sum, t) => sum + t, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return {
    busy: (total - idle) / clockTicks,
    iowait: (ticks[4] ?? 0) / clockTicks,
    total: total / clockTicks,
  };
}

export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, index)] * 10) / 10;
}

/**
 * A process's resident memory by kind of mapping (/proc/<pid>/smaps), in MB: `brk` (the main
 * malloc arena), `anonymous` (V8's heap, thread arenas, large mallocs and array buffers),
 * `files` (the binary, libraries, mapped files) and `other` (stacks, vdso).
 */
export function rssByMappingMb(pid) {
  const kb = { brk: 0, anonymous: 0, files: 0, other: 0 };
  let kind = 'other';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const header = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header !== null) {
      const name = header[1];
      kind =
        name === ''
          ? 'anonymous'
          : name === '[heap]'
            ? 'brk'
            : name.startsWith('/')
              ? 'files'
              : 'other';
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss !== null) kb[kind] += Number(rss[1]);
  }
  return Object.fromEntries(Object.entries(kb).map(([k, v]) => [k, Math.round(v / 1024)]));
}
