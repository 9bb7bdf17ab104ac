// Signature arithmetic on worker threads. The cheap checks (DER, low-S, identity) stay with the
// caller; only OpenSSL's verify, which is ~95% of a signature check's cost, runs here, so a node
// verifies on every core while its main thread serves HTTP and executes. The pool answers
// exactly what `node:crypto` would answer on the calling thread: a worker that dies has its
// jobs verified on the calling thread instead (decision 0010).
import { verify as nodeVerify, type KeyObject } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { setTimeout } from 'node:timers';
import { verifyPreparedEcdsaSha256 } from './ecdsa.js';
import { Worker } from 'node:worker_threads';

/** ECDSA-SHA256 with an r‖s (IEEE P1363) signature, or Ed25519 over the whole message. */
export type SignatureKind = 'ec' | 'ed25519';

/** Verifies one prepared signature; resolves true or false, never rejects. */
export type SignatureVerifier = (
  key: KeyObject,
  kind: SignatureKind,
  message: Uint8Array,
  signature: Uint8Array,
) => Promise<boolean>;

export type VerifyPool = {
  readonly verify: SignatureVerifier;
  readonly threads: number;
  readonly stats: () => {
    readonly queued: number;
    readonly inFlight: number;
    readonly verified: number;
    readonly onCallingThread: number;
    readonly workerRestarts: number;
  };
  readonly close: () => Promise<void>;
};

export const verifyPoolLimits = {
  threadsMax: 16,
  /** Jobs sent to a worker in one message. */
  jobsPerMessageMax: 256,
  /** Jobs waiting for a worker; beyond, jobs are verified on the calling thread (backpressure). */
  queuedJobsMax: 50_000,
  /** Public keys a worker keeps parsed; beyond, its cache starts over. */
  keysCachedMax: 4096,
  /** A message or signature larger than this is verified on the calling thread. */
  jobBytesMax: 1 << 20,
  /**
   * Jobs are sent this long after the first of them is queued, so that requests arriving one
   * at a time share messages: a message costs the calling thread about 20 µs, waking a worker
   * included. Single requests at 3,500 a second: node CPU 1.19 cores when sent at the next turn
   * of the loop, 1.03 after 1 ms, 0.93 after 3 ms (p50 6.1 → 8.4 ms, p99 33 → 35 ms); at 5,000
   * a second, p99 77–125 ms after 1 ms and 76–80 ms after 3 ms (three runs each).
   */
  gatherMs: 3,
} as const;

/** Verifies a prepared signature on this thread (what the workers do). */
export function verifyPrepared(
  key: KeyObject,
  kind: SignatureKind,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  try {
    return kind === 'ec'
      ? verifyPreparedEcdsaSha256(key, message, signature)
      : nodeVerify(null, message, key, signature);
  } catch {
    return false;
  }
}

// The worker: plain CommonJS, evaluated from this string, so that it runs the same from src/
// (tests) and dist/. Jobs arrive packed in one buffer:
//   [keyId u32][kind u8: 0 ec, 1 ed25519][messageLength u32][signatureLength u32][message][signature]
const workerSource = `
const { parentPort } = require('node:worker_threads');
const { createPublicKey, verify } = require('node:crypto');
const keys = new Map();
parentPort.on('message', ({ id, reset, newKeys, count, packed }) => {
  if (reset) keys.clear();
  for (const [keyId, der] of newKeys) {
    keys.set(keyId, createPublicKey({ key: Buffer.from(der), format: 'der', type: 'spki' }));
  }
  const bytes = Buffer.from(packed);
  const results = new Uint8Array(count);
  let at = 0;
  for (let i = 0; i < count; i += 1) {
    const keyId = bytes.readUInt32BE(at);
    const kind = bytes[at + 4];
    const messageLength = bytes.readUInt32BE(at + 5);
    const signatureLength = bytes.readUInt32BE(at + 9);
    at += 13;
    const message = bytes.subarray(at, at + messageLength);
    at += messageLength;
    const signature = bytes.subarray(at, at + signatureLength);
    at += signatureLength;
    const key = keys.get(keyId);
    let ok = false;
    try {
      ok = key !== undefined && (kind === 0
        ? verify('sha256', message, { key, dsaEncoding: 'ieee-p1363' }, signature)
        : verify(null, message, key, signature));
    } catch {
      ok = false;
    }
    results[i] = ok ? 1 : 0;
  }
  parentPort.postMessage({ id, results }, [results.buffer]);
});
`;

type Job = {
  readonly key: KeyObject;
  readonly keyId: number;
  readonly kind: SignatureKind;
  readonly message: Uint8Array;
  readonly signature: Uint8Array;
  readonly resolve: (ok: boolean) => void;
};

type Slot = {
  worker: Worker;
  readonly keysSent: Set<number>;
  readonly inFlight: Map<number, readonly Job[]>;
  jobsInFlight: number;
};

/** Starts `threads` workers (default: one per core). */
export function createVerifyPool(options: { readonly threads?: number } = {}): VerifyPool {
  const threads = Math.max(
    1,
    Math.min(options.threads ?? availableParallelism(), verifyPoolLimits.threadsMax),
  );
  const keyIds = new WeakMap<KeyObject, number>();
  const keyDers = new Map<number, Uint8Array>();
  let nextKeyId = 1;
  let nextMessageId = 1;
  let queue: Job[] = [];
  let flushScheduled = false;
  let closed = false;
  let verified = 0;
  let onCallingThread = 0;
  let workerRestarts = 0;

  const runHere = (jobs: readonly Job[]): void => {
    for (const job of jobs) {
      onCallingThread += 1;
      job.resolve(verifyPrepared(job.key, job.kind, job.message, job.signature));
    }
  };

  const spawn = (slot?: Slot): Slot => {
    const worker = new Worker(workerSource, { eval: true });
    worker.unref();
    const current: Slot = slot ?? {
      worker,
      keysSent: new Set(),
      inFlight: new Map(),
      jobsInFlight: 0,
    };
    current.worker = worker;
    current.keysSent.clear();
    worker.on('message', ({ id, results }: { id: number; results: Uint8Array }) => {
      const jobs = current.inFlight.get(id);
      if (jobs === undefined) return;
      current.inFlight.delete(id);
      current.jobsInFlight -= jobs.length;
      if (current.jobsInFlight === 0) worker.unref();
      jobs.forEach((job, index) => {
        verified += 1;
        job.resolve(results[index] === 1);
      });
    });
    const lost = (): void => {
      if (current.worker !== worker) return;
      // Whatever it had is verified here: same answers, never a lost promise.
      const orphans = [...current.inFlight.values()].flat();
      current.inFlight.clear();
      current.jobsInFlight = 0;
      runHere(orphans);
      if (!closed) {
        workerRestarts += 1;
        spawn(current);
      }
    };
    worker.on('error', lost);
    worker.on('exit', lost);
    return current;
  };
  const slots = Array.from({ length: threads }, () => spawn());

  const send = (slot: Slot, jobs: readonly Job[]): void => {
    const newKeys: [number, Uint8Array][] = [];
    let reset = false;
    if (slot.keysSent.size + jobs.length > verifyPoolLimits.keysCachedMax) {
      slot.keysSent.clear();
      reset = true;
    }
    let bytes = 0;
    for (const job of jobs) {
      bytes += 13 + job.message.length + job.signature.length;
      if (!slot.keysSent.has(job.keyId)) {
        slot.keysSent.add(job.keyId);
        const der = keyDers.get(job.keyId);
        if (der !== undefined) newKeys.push([job.keyId, der]);
      }
    }
    const packed = Buffer.allocUnsafe(bytes);
    let at = 0;
    for (const job of jobs) {
      packed.writeUInt32BE(job.keyId, at);
      packed[at + 4] = job.kind === 'ec' ? 0 : 1;
      packed.writeUInt32BE(job.message.length, at + 5);
      packed.writeUInt32BE(job.signature.length, at + 9);
      at += 13;
      packed.set(job.message, at);
      at += job.message.length;
      packed.set(job.signature, at);
      at += job.signature.length;
    }
    const id = nextMessageId;
    nextMessageId += 1;
    slot.inFlight.set(id, jobs);
    if (slot.jobsInFlight === 0) slot.worker.ref();
    slot.jobsInFlight += jobs.length;
    const copy = new Uint8Array(packed);
    slot.worker.postMessage({ id, reset, newKeys, count: jobs.length, packed: copy }, [
      copy.buffer,
    ]);
  };

  const flush = (): void => {
    flushScheduled = false;
    while (queue.length > 0) {
      const jobs = queue.slice(0, verifyPoolLimits.jobsPerMessageMax);
      queue = queue.slice(jobs.length);
      let target = slots[0];
      for (const slot of slots) {
        if (target === undefined || slot.jobsInFlight < target.jobsInFlight) target = slot;
      }
      if (target === undefined) runHere(jobs);
      else send(target, jobs);
    }
  };

  const keyIdOf = (key: KeyObject): number => {
    let id = keyIds.get(key);
    if (id === undefined) {
      id = nextKeyId;
      nextKeyId += 1;
      keyIds.set(key, id);
      keyDers.set(id, new Uint8Array(key.export({ format: 'der', type: 'spki' })));
      if (keyDers.size > verifyPoolLimits.keysCachedMax * 4) {
        // Oldest first: a key not seen for this long is re-exported if it comes back.
        const oldest = keyDers.keys().next();
        if (oldest.done !== true) keyDers.delete(oldest.value);
      }
    }
    return id;
  };

  const verify: SignatureVerifier = (key, kind, message, signature) =>
    new Promise<boolean>((resolve) => {
      if (
        closed ||
        queue.length >= verifyPoolLimits.queuedJobsMax ||
        message.length > verifyPoolLimits.jobBytesMax ||
        signature.length > verifyPoolLimits.jobBytesMax
      ) {
        onCallingThread += 1;
        resolve(verifyPrepared(key, kind, message, signature));
        return;
      }
      const keyId = keyIdOf(key);
      if (!keyDers.has(keyId)) {
        // Evicted from the export cache while still in use: export it again.
        keyDers.set(keyId, new Uint8Array(key.export({ format: 'der', type: 'spki' })));
      }
      queue.push({ key, keyId, kind, message, signature, resolve });
      if (queue.length >= verifyPoolLimits.jobsPerMessageMax) {
        flush(); // a full message does not wait
      } else if (!flushScheduled) {
        flushScheduled = true;
        setTimeout(flush, verifyPoolLimits.gatherMs);
      }
    });

  return {
    verify,
    threads,
    stats: () => ({
      queued: queue.length,
      inFlight: slots.reduce((sum, slot) => sum + slot.jobsInFlight, 0),
      verified,
      onCallingThread,
      workerRestarts,
    }),
    close: async () => {
      closed = true;
      flush();
      await Promise.all(slots.map((slot) => slot.worker.terminate()));
    },
  };
}
