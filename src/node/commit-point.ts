// A commit point's snapshot, made off the main thread (decision 0038). At a commit point the
// engine copies its state into shared memory (Store.frozen: the maps' bytes and where each
// entry lies in key order; ReplayWindow.frozen: the ids and times in order; the Merkle tree's
// bytes); a worker thread then encodes and seals the store sections, encodes the engine's
// state, computes the state digest the evidence entry will record, and makes the snapshot
// file's bytes. Execution goes on meanwhile.
//
// computeCommitPoint is the whole computation, pure; the runner sends it to a worker, or runs
// it on this thread where the worker's script is not there (tests run the TypeScript sources)
// or the worker fails (the same answer either way).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { frozenReplayReader, type FrozenReplay } from '../ledger/replay.js';
import type { LedgerSecret } from '../ledger/secret.js';
import { encodeSnapshotSections, sectionDigests, snapshotFileParts } from '../ledger/snapshot.js';
import { sortedMapsOf, type FrozenStore } from '../ledger/store.js';
import { stateDigest } from './snapshot-evidence.js';
import { encodeSnapshotExtra, type SnapshotExtra } from './snapshot-extra.js';

export type CommitPointInput = {
  /** The commit point (a signature entry): the snapshot's seqno. */
  readonly seqno: number;
  readonly store: FrozenStore;
  /**
   * The engine's state at the commit point (what encodeSnapshotExtra takes). The replay
   * window and the tree in shared memory, like the store's copy: the worker reads them without
   * a copy, and this thread still has them if the worker fails.
   */
  readonly extra: Omit<SnapshotExtra, 'replay'> & { readonly replay: FrozenReplay };
  readonly secret: LedgerSecret;
};

export type CommitPointResult = {
  /** What the evidence entry records (stateDigest). */
  readonly digest: string;
  /** The committed snapshot file's bytes, as parts in order. */
  readonly parts: readonly Uint8Array[];
  readonly bytes: number;
};

/** Parts at least this large are handed back by transfer (never slices of Node's buffer pool). */
const transferBytesMin = 65_536;

export function computeCommitPoint(input: CommitPointInput): CommitPointResult {
  const sections = encodeSnapshotSections(input.seqno, sortedMapsOf(input.store), input.secret);
  const replay = frozenReplayReader(input.extra.replay);
  const digest = stateDigest(input.seqno, sectionDigests(sections), {
    logPosition: input.extra.logPosition,
    time: input.extra.time,
    replay: replay.sortedEntries(),
  });
  const extra = encodeSnapshotExtra({ ...input.extra, replay });
  const { parts, bytes } = snapshotFileParts(sections, extra);
  return { digest, parts, bytes };
}

/**
 * The result as a worker posts it: parts in shared memory as they are, small parts copied into
 * buffers of their own (they may be slices of Node's buffer pool), the large ones' buffers
 * listed for transfer (each once).
 */
export function transferable(result: CommitPointResult): {
  readonly result: CommitPointResult;
  readonly transfer: ArrayBuffer[];
} {
  const transfer = new Set<ArrayBuffer>();
  const parts = result.parts.map((part) => {
    if (part.buffer instanceof SharedArrayBuffer) return part;
    if (part.byteLength >= transferBytesMin && part.buffer instanceof ArrayBuffer) {
      transfer.add(part.buffer);
      return part;
    }
    return new Uint8Array(part);
  });
  return { result: { ...result, parts }, transfer: [...transfer] };
}

export type CommitPointRunner = {
  readonly run: (input: CommitPointInput) => Promise<CommitPointResult>;
  /** Whether runs go to a worker thread (false: on this thread). */
  readonly threaded: boolean;
};

export type CommitPointRunnerOptions = {
  /** false: always on this thread. Default: a worker when its script is there. */
  readonly thread?: boolean;
  /** Told when a worker failed and the run was done on this thread instead. */
  readonly onWorkerFailure?: (error: Error) => void;
};

const workerScript = fileURLToPath(new URL('./commit-point-worker.js', import.meta.url));

/** One worker per run, ended after it: no thread or heap is kept between commit points. */
export function createCommitPointRunner(options: CommitPointRunnerOptions = {}): CommitPointRunner {
  const threaded = options.thread !== false && existsSync(workerScript);
  const here = (input: CommitPointInput): Promise<CommitPointResult> =>
    new Promise((resolve, reject) => {
      setImmediate(() => {
        try {
          resolve(computeCommitPoint(input));
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
  const inWorker = (input: CommitPointInput): Promise<CommitPointResult> =>
    new Promise((resolve, reject) => {
      let settled = false;
      const worker = new Worker(workerScript);
      worker.unref();
      const fallBack = (error: Error): void => {
        if (settled) return;
        settled = true;
        options.onWorkerFailure?.(error);
        here(input).then(resolve, reject);
      };
      worker.once('message', (message: CommitPointResult | { readonly error: string }) => {
        if ('error' in message) {
          fallBack(new Error(message.error));
        } else if (!settled) {
          settled = true;
          resolve(message);
        }
        void worker.terminate();
      });
      worker.once('error', fallBack);
      worker.once('exit', (code) => {
        fallBack(new Error(`the commit-point worker exited with code ${code}`));
      });
      // Shared, not transferred: if the worker fails, this thread computes from the same input.
      worker.postMessage(input);
    });
  return { run: threaded ? inWorker : here, threaded };
}
