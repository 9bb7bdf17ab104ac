// A commit point's snapshot, made off the main thread (decision 0038), and the node's own local
// snapshots the same way (decision 0043). At a commit point the engine copies its state into
// shared memory (Store.frozen: the maps' bytes and where each entry lies in key order;
// ReplayWindow.frozen: the ids and times in order; the Merkle tree's bytes but for the leaves
// in its spill file, which the worker reads itself, decision 0042); a worker thread then
// encodes and seals the store sections, encodes the engine's state, computes the state digest
// the evidence entry will record, and writes the snapshot file.
// Execution goes on meanwhile, and the worker's memory goes with it when it ends.
//
// computeCommitPoint is the whole computation (its only input beyond its arguments is the
// spilled leaves it reads), and makeCommitPoint writes the file; the runner sends them to a
// worker, or runs them on this thread where the worker's script is not there (tests run the
// TypeScript sources) or the worker fails (the same answer either way).
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { readSpilledLeaves } from '../ledger/leaf-spill.js';
import { frozenTreeParts, type FrozenTree } from '../ledger/merkle.js';
import { frozenReplayReader, type FrozenReplay } from '../ledger/replay.js';
import type { LedgerSecret } from '../ledger/secret.js';
import {
  encodeSnapshotSections,
  sectionDigests,
  snapshotFileParts,
  writeSnapshotFile,
} from '../ledger/snapshot.js';
import { isCofferError, type CofferError } from '../errors/index.js';
import { sortedMapsOf, type FrozenStore } from '../ledger/store.js';
import { stateDigest } from './snapshot-evidence.js';
import { encodeSnapshotExtra, type SnapshotExtra } from './snapshot-extra.js';

export type CommitPointInput = {
  /** The commit point (a signature entry): the snapshot's seqno. */
  readonly seqno: number;
  /** Where the snapshot file goes (the node's snapshots folder). */
  readonly dir: string;
  /**
   * A commit point's snapshot (`.committed.snap`, its digest recorded by an evidence entry), or
   * a local one the node takes only to shorten its restarts (the digest is made all the same).
   */
  readonly committed: boolean;
  readonly store: FrozenStore;
  /**
   * The engine's state at the commit point (what encodeSnapshotExtra takes). The replay
   * window and the tree in shared memory, like the store's copy: the worker reads them without
   * a copy, and this thread still has them if the worker fails.
   */
  readonly extra: Omit<SnapshotExtra, 'replay' | 'tree'> & {
    readonly replay: FrozenReplay;
    readonly tree: FrozenTree;
  };
  /** The tree's spill file (DATA/merkle-leaves): its first leaves, which the state leaves out. */
  readonly merkleLeavesFile?: string;
  readonly secret: LedgerSecret;
};

/** What a run gives back: the digest, and the snapshot file or why it was not written. */
export type CommitPointMade = {
  /** What the evidence entry records (stateDigest). */
  readonly digest: string;
  /** Milliseconds computing the digest and the file's bytes, then writing the file. */
  readonly computeMs: number;
  readonly writeMs: number;
  readonly written:
    | { readonly ok: true; readonly file: string; readonly bytes: number }
    | { readonly ok: false; readonly code: string; readonly message: string };
};

/**
 * The digest, and the snapshot file's bytes as parts in order, or why they could not
 * be made (the tree's spilled leaves could not be read: LEDGER_E_MERKLE_SPILL). The digest does
 * not depend on the tree.
 */
export function computeCommitPoint(input: CommitPointInput): {
  readonly digest: string;
  readonly file:
    | { readonly parts: readonly Uint8Array[]; readonly bytes: number }
    | { readonly error: CofferError };
} {
  const sections = encodeSnapshotSections(input.seqno, sortedMapsOf(input.store), input.secret);
  const replay = frozenReplayReader(input.extra.replay);
  const digest = stateDigest(input.seqno, sectionDigests(sections), {
    logPosition: input.extra.logPosition,
    time: input.extra.time,
    replay: replay.sortedEntries(),
  });
  let tree: Uint8Array[];
  try {
    tree = frozenTreeParts(input.extra.tree, spilledLeavesOf(input));
  } catch (error) {
    if (!isCofferError(error)) throw error;
    return { digest, file: { error } };
  }
  const extra = encodeSnapshotExtra({ ...input.extra, replay, tree });
  return { digest, file: snapshotFileParts(sections, extra) };
}

/** The leaves the frozen tree left out, read from the spill file. */
function spilledLeavesOf(input: CommitPointInput): Uint8Array {
  const { spilledLeaves } = input.extra.tree;
  if (spilledLeaves === 0) return new Uint8Array(0);
  if (input.merkleLeavesFile === undefined) {
    throw new Error(`commit point: ${spilledLeaves} spilled leaves and no spill file (a bug)`);
  }
  return readSpilledLeaves(input.merkleLeavesFile, spilledLeaves);
}

/**
 * The commit point's digest and its snapshot file. A file not written (a full disk:
 * LEDGER_E_DISK_FULL; the spilled leaves unreadable: LEDGER_E_MERKLE_SPILL) does not lose the
 * digest: the evidence entry needs it all the same.
 */
export async function makeCommitPoint(input: CommitPointInput): Promise<CommitPointMade> {
  const started = performance.now();
  const { digest, file } = computeCommitPoint(input);
  const computed = performance.now();
  const timed = { digest, computeMs: Math.round(computed - started) };
  if ('error' in file) {
    const { code, message } = file.error;
    return { ...timed, writeMs: 0, written: { ok: false, code, message } };
  }
  try {
    const written = await writeSnapshotFile(input.dir, input.seqno, file, {
      committed: input.committed,
    });
    const writeMs = Math.round(performance.now() - computed);
    return { ...timed, writeMs, written: { ok: true, file: written.file, bytes: written.bytes } };
  } catch (error) {
    if (!isCofferError(error)) throw error;
    const writeMs = Math.round(performance.now() - computed);
    return { ...timed, writeMs, written: { ok: false, code: error.code, message: error.message } };
  }
}

export type CommitPointRunner = {
  readonly run: (input: CommitPointInput) => Promise<CommitPointMade>;
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
  const here = (input: CommitPointInput): Promise<CommitPointMade> =>
    new Promise<void>((resolve) => {
      setImmediate(resolve);
    }).then(() => makeCommitPoint(input));
  const inWorker = (input: CommitPointInput): Promise<CommitPointMade> =>
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
      worker.once('message', (message: CommitPointMade | { readonly error: string }) => {
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
