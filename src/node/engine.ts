// The node engine: submissions are pre-checked and batched into the OrderingLog; committed
// batches are executed in log order (pure core), written to the ledger files and the Merkle
// tree, with deterministic signature markers, snapshots and recovery. No HTTP here (api.ts).
import assert from 'node:assert/strict';
import { access, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { cofferError, isCofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import type { AppRegistry } from '../contracts/index.js';
import { canonicalBytes, canonicalString } from '../ledger/canonical.js';
import {
  checkSigner,
  executeBatch,
  requestTooLarge,
  type Consortium,
  type PreVerified,
  type SignerCheck,
  type TxOutcome,
} from '../ledger/execute.js';
import {
  createSeekIndex,
  openLedgerWriter,
  readLedgerFrom,
  type LedgerWriter,
} from '../ledger/files.js';
import {
  createMerkleTree,
  deserializeMerkleTree,
  leafHash,
  type MerkleTree,
} from '../ledger/merkle.js';
import { openLeafSpillFile } from '../ledger/leaf-spill.js';
import {
  createReceipt,
  signedRootsForReceipt,
  signRoot,
  type Receipt,
  type RootSigner,
  type SignedRoot,
} from '../ledger/receipt.js';
import { createReplayWindow, type ReplayWindow } from '../ledger/replay.js';
import { recordingAllocator } from '../ledger/shared-memory.js';
import {
  createLedgerSecretFile,
  encryptWriteSet,
  loadLedgerSecretFile,
  type LedgerSecret,
} from '../ledger/secret.js';
import { loadLatestSnapshot } from '../ledger/snapshot.js';
import { catchUpTxIndex, openTxIndex } from '../ledger/tx-index.js';
import { createStore, type Store, type WriteSet } from '../ledger/store.js';
import {
  batchEnvelopesMax,
  decodeBatch,
  decodeRequest,
  encodeBatch,
  requestTtlMsMax,
  transactionId,
  type Envelope,
  type RawBatch,
  type Request,
} from '../ledger/tx.js';
import { openEmbeddedLog, type OrderingLog, type OrderingLogger } from '../ordering/index.js';
import { lockDataDir } from './lock.js';
import {
  createSharedPool,
  type PageOps,
  type SharedPoolStats,
  type SharedRound,
} from './shared-pool.js';
import { createCommitPointRunner, type CommitPointMade } from './commit-point.js';
import {
  evidenceDelayMs,
  isCommitPoint,
  isEvidencePoint,
  markerLeaf,
  stateDigest,
  type Marker,
  type PendingEvidence,
} from './snapshot-evidence.js';
import { decodeSnapshotExtra, type SnapshotExtra } from './snapshot-extra.js';
import { base64Of, type SignatureVerifier } from '../crypto/index.js';

// ---- limits ---------------------------------------------------------------------------------

/** Envelopes accepted but not yet executed; beyond this, submissions get 429. */
export const pendingEnvelopesMax = 20_000;
/** Appends to the log in flight at once (group commit merges their fsyncs). */
export const appendsInFlightMax = 4;
/** Longest wait before a partial batch is ordered. */
export const batchDelayMsDefault = 2;
/**
 * Outcomes remembered in memory for status look-ups; older ones are found through the
 * transaction index (LevelDB, decision 0009) and read from the ledger files.
 */
export const statusEntriesMax = 20_000;
/** Ledger entries kept in memory for receipts before reading the files: at most this many, */
export const recentEntriesMax = 10_000;
/**
 * and at most this many bytes of them. An entry holds a request of up to 64 KiB, its certificate
 * and its result: by count alone, large requests could make the node keep about a GB. At the
 * benchmark's 2 KB entries, 8 MiB is about 4,000 entries, most of a second at 5,000 tx/s.
 */
export const recentEntriesBytesMax = 8 * 1_048_576;
/** While the ledger files' disk is full, execution retries this often. */
export const ledgerFullRetryMs = 1000;
/** Signed roots of recent signature entries kept for peers comparing roots. */
export const signedRootsKeptMax = 1024;
/** Batches read from the log per step of the executor. */
export const executeReadBatchesMax = 64;
/**
 * A ledger chunk ends at the first signature entry once it holds this many bytes (as CCF's
 * ledger chunks do), and anyway before it would grow past the writer's chunkBytesMax. Ending
 * one at every signature entry made ten files a second under load, and one per transaction
 * when idle.
 */
export const chunkBytesAtSignatureMin = 8 * 1_048_576;
/**
 * The memory for a snapshot's copies is warmed once the snapshot (a commit point's, or a local
 * one) is due within this many seconds at the current rate (warming 160 MiB takes about 85 ms
 * of another thread); no local snapshot is taken when a commit point is this close (0043).
 */
export const commitPointWarmLeadSeconds = 3;
/** ... and that much more than the last snapshot copied (the state grows meanwhile). */
export const commitPointWarmMargin = 1.25;

assert(
  (pendingEnvelopesMax as number) >= batchEnvelopesMax,
  'a full batch fits in the pending queue',
);

export type EngineOptions = {
  readonly dataDir: string;
  readonly nodeId: string;
  /** The consortium configuration, when the ledger does not hold it (no `governed`). */
  readonly consortium: () => Consortium;
  /**
   * The consortium configuration lives in the ledger (governance, issue 6): an empty ledger
   * starts with a genesis entry holding these writes, and the consortium in force for a batch
   * is `consortiumOf` the state after the previous batches (changes take effect from the next
   * batch). Without it, `consortium` is fixed.
   */
  readonly governed?: GovernedOptions;
  readonly apps: AppRegistry;
  /** The node's own signing identity (a peer of its MSP): signs Merkle roots. */
  readonly rootSigner: RootSigner;
  readonly logger: Logger;
  readonly signatureIntervalTx?: number;
  readonly signatureIntervalMs?: number;
  readonly snapshotIntervalTx?: number;
  /** A ledger chunk ends at the first signature entry past this size; default chunkBytesAtSignatureMin. */
  readonly chunkBytesAtSignature?: number;
  /** Statuses kept in memory, at most statusEntriesMax (the default); older ones come from the ledger. */
  readonly statusEntries?: number;
  /** Bytes of recent ledger entries kept in memory, at most recentEntriesBytesMax (the default). */
  readonly recentEntriesBytes?: number;
  /** Full chunks of Merkle leaves kept in memory besides the filling one; default leafChunksInMemoryDefault. */
  readonly treeLeafChunksInMemory?: number;
  readonly batchDelayMs?: number;
  /** Wall clock (ms); recorded into each batch, never read by execution. */
  readonly now?: () => number;
  /** Embedded log fsync; false only for benchmarks that measure what fsync costs. */
  readonly fsync?: boolean;
  /**
   * Opens the ordering log in `dir` (the node's own folder for it); default the embedded
   * single-node log. A consortium network passes its replicated log here.
   */
  readonly openLog?: (dir: string, logger: OrderingLogger) => Promise<OrderingLog>;
  /**
   * The network's ledger secret (every node of a network encrypts private writes alike, so
   * that their ledger entries and Merkle roots agree); default: this node's own, created in
   * its data directory on first start (a single-node ledger).
   */
  readonly ledgerSecretFile?: string;
  /**
   * Refuses a submission before ordering (e.g. a node the consortium has not admitted takes
   * only governance requests); execution never calls it, so it cannot split nodes.
   */
  readonly accepts?: (request: Request) => CofferError | undefined;
  /** Pending transactions accepted before 429 (default pendingEnvelopesMax). */
  readonly pendingMax?: number;
  /**
   * The seqno of the committed snapshot this node joined from (snapshot-join.ts): its ledger
   * files start after it, and it must start from that snapshot or a later one of its own.
   */
  readonly joinedAtSeqno?: number;
  /**
   * Does the signature arithmetic of submissions (e.g. a worker-thread pool, decision 0010);
   * without it, the engine's own thread does. Execution never needs it for what was
   * verified at submission.
   */
  readonly verifier?: SignatureVerifier;
  /**
   * Touches and hands back memory pages (MallocTuning's prefault and returnPages, decision
   * 0041): a snapshot's copies (a commit point's or a local one's) then go into memory warmed
   * before it, off the main thread, and their pages go back to the system once it is made. Without it they go into
   * fresh buffers and stay resident until V8 collects them.
   */
  readonly memoryPages?: PageOps;
};

export type GovernedOptions = {
  /** The genesis configuration (recorded in the entry) and the writes that store it. */
  readonly genesis: { readonly config: unknown; readonly writes: WriteSet };
  /** The map whose writes change the consortium configuration. */
  readonly configMap: string;
  /** The consortium the state describes; throws if it describes none (a bug upstream). */
  readonly consortiumOf: (read: (map: string, key: string) => string | undefined) => Consortium;
  /**
   * The service settings in force (set_settings): where signature entries go is part of every
   * node's ledger, so a governed network takes it from the ledger, not from each node's config.
   */
  readonly settingsOf?: (read: (map: string, key: string) => string | undefined) => Intervals;
};

/** When a node appends a signature entry, and how often it writes a snapshot. */
export type Intervals = {
  readonly signatureIntervalTx: number;
  readonly signatureIntervalMs: number;
  readonly snapshotIntervalTx: number;
};

export type TxStatus =
  | {
      readonly status: 'Unknown';
      /** Set when this node accepted it but ordering refused it: submit it again. */
      readonly code?: ErrorCode;
      readonly message?: string;
    }
  | { readonly status: 'Pending' }
  | {
      readonly status: 'Committed' | 'Invalid';
      readonly seqno: number;
      readonly code?: ErrorCode;
      readonly message?: string;
      readonly result?: unknown;
    };

export type SubmitOutcome =
  | { readonly ok: true; readonly txId: string }
  | { readonly ok: false; readonly error: CofferError; readonly retryAfterMs?: number };

export type SubmitOptions = {
  /**
   * Envelopes of one key reach the ordering log in the order they were submitted to this node
   * (not across nodes): e.g. an Ethereum sender's nonces. Node-local; not part of the ledger.
   */
  readonly orderKey?: string;
};

export type ReceiptOptions = {
  readonly treeSize?: number;
  readonly peerRoots?: readonly SignedRoot[];
};

export type Position = {
  readonly seqno: number;
  /** Hex Merkle root over entries 1..seqno. */
  readonly root: string;
  readonly logPosition: number;
  /**
   * The batch being executed, while one is: its transactions' writes reach the store one by
   * one before logPosition moves to it (what a reader of the store may already see).
   */
  readonly executingLogPosition?: number;
  readonly committedLogPosition: number;
  readonly lastSignedTreeSize: number;
  readonly time: number;
};

export type Engine = {
  readonly submit: (envelope: Envelope, options?: SubmitOptions) => Promise<SubmitOutcome>;
  readonly status: (txId: string) => Promise<TxStatus>;
  /** Resolves when the transaction is Committed or Invalid (or after timeoutMs with the current status). */
  readonly waitFor: (txId: string, timeoutMs: number) => Promise<TxStatus>;
  /**
   * A receipt against this node's signature entry of `options.treeSize` (default: the newest),
   * carrying the peers' signed roots of the same entry that verify (`signedRootsForReceipt`).
   */
  readonly receipt: (txId: string, options?: ReceiptOptions) => Promise<Receipt | undefined>;
  readonly store: () => Store;
  readonly position: () => Position;
  /** The newest signature entry's signed root (undefined before the first). */
  readonly lastSignedRoot: () => SignedRoot | undefined;
  /**
   * This node's signed root at its signature entry of exactly `treeSize` entries: recent ones
   * from memory, older ones from the ledger files (undefined when there is no such entry).
   */
  readonly signedRootAt: (treeSize: number) => Promise<SignedRoot | undefined>;
  /** Hex Merkle root over entries 1..treeSize (undefined beyond this node's tree). */
  readonly rootAt: (treeSize: number) => string | undefined;
  /** The Merkle frontier at `treeSize` (`MerkleTree.frontier`), to check a peer's entries. */
  readonly frontier: (treeSize: number) => Uint8Array[];
  /**
   * Ledger entries from seqno `from` on, as written to the ledger files (what a behind peer
   * fetches, catchup.ts): leaf bytes, and for signature entries the signed root and the log
   * position of the batch they follow.
   */
  readonly entriesFrom: (from: number) => AsyncGenerator<LedgerLeaf>;
  /** Resolves once the executor has run every batch the log has committed so far. */
  readonly idle: () => Promise<void>;
  /**
   * The newest commit point whose evidence entry this node's ledger holds (0 if none): its
   * committed snapshot is the one to serve to joining nodes (decision 0038).
   */
  readonly evidencedSnapshotSeqno: () => number;
  /**
   * Calls `listener` after each executed batch (its ledger entries written, its transactions
   * indexed) with the (map, key) pairs its transactions wrote and the seqno of its last entry;
   * returns the unsubscribe. The store holds exactly that batch while the listener runs.
   */
  readonly onApplied: (
    listener: (
      writes: readonly { readonly map: string; readonly key: string }[],
      seqno: number,
    ) => void,
  ) => () => void;
  /**
   * Calls `observer` as this node accepts submissions and executes batches (the explorer's
   * index and metrics, explorer.ts); returns the unsubscribe. Synchronous and per transaction:
   * an observer must be cheap (no decoding of entries on this path).
   */
  readonly observe: (observer: ExecutionObserver) => () => void;
  /** The consortium configuration in force for the next batch. */
  readonly consortium: () => Consortium;
  /** Stops executing and accepting transactions for good, saying why (e.g. divergence). */
  readonly halt: (error: CofferError) => void;
  readonly health: () => { readonly ok: boolean; readonly reason?: string };
  /** How many of each in-memory record the engine keeps now (each has its limit). */
  readonly kept: () => KeptCounts;
  readonly stop: () => Promise<void>;
};

/** Counts of what an engine keeps in memory besides the state (`GET /v1/status`, `kept`). */
export type KeptCounts = {
  /** Transaction statuses (at most statusEntries). */
  readonly statuses: number;
  /** Ledger entries kept for receipts (at most recentEntriesMax). */
  readonly recentEntries: number;
  /** Their bytes (at most recentEntriesBytesMax). */
  readonly recentEntryBytes: number;
  /** Transactions accepted and not executed yet (at most pendingMax). */
  readonly pending: number;
  /** Transactions with someone waiting for their outcome. */
  readonly awaited: number;
  /** Bytes of Merkle tree hashes in memory. */
  readonly treeBytes: number;
  /** Leaves of the Merkle tree in the data folder's merkle-leaves file, not in memory. */
  readonly treeLeavesSpilled: number;
  /** The memory warmed for commit points' copies (decision 0041), when the node has it. */
  readonly commitPointMemory?: SharedPoolStats;
};

/** Unwinds an execution paused on a full disk when the engine stops (not a failure). */
class StoppedWhilePaused extends Error {}

/** One ledger entry as the files hold it (entriesFrom). */
export type LedgerLeaf = {
  readonly seqno: number;
  readonly kind: 'tx' | 'signature';
  /** The Merkle leaf data. */
  readonly leaf: Uint8Array;
  /** Signature entries: this node's signed root of the marker. */
  readonly signedRoot?: SignedRoot;
  /** Signature entries: the ordering log position of the batch the marker follows. */
  readonly logPosition?: number;
};

/** What Engine.observe reports. */
export type ExecutionObserver = {
  /** A submission this node accepted: submit is about to answer ok (the client's 202). */
  readonly accepted?: (txId: string) => void;
  /**
   * A batch this node executed (its entries written, not yet durable): its transactions' entries
   * in order, and the signature entry that followed it, if one did. Empty batches that made no
   * signature entry are not reported.
   */
  readonly executed?: (batch: ExecutedBatch) => void;
};

export type ExecutedBatch = {
  readonly logPosition: number;
  /** The batch time (ms since the epoch) its transactions saw. */
  readonly time: number;
  readonly transactions: readonly ExecutedTx[];
  readonly signature?: LedgerLeaf;
};

/** A transaction's entry (the same bytes the engine keeps for receipts) and its outcome. */
export type ExecutedTx = LedgerLeaf & {
  readonly txId: string | null;
  readonly committed: boolean;
};

/** The ledger-file record of a signature entry (the marker leaf is base64 inside). */
type SignatureRecord = { marker: string; signedRoot?: SignedRoot; logPosition?: number };

/** A round of copies into fresh shared memory, left to V8 to free (no pool). */
function freshRound(): SharedRound {
  const copies = recordingAllocator();
  return { ...copies, done: () => undefined };
}

function leafOf(kind: 'tx' | 'signature', payload: Uint8Array, seqno: number): LedgerLeaf {
  if (kind === 'tx') return { seqno, kind, leaf: payload };
  const record = JSON.parse(Buffer.from(payload).toString('utf8')) as SignatureRecord;
  return {
    seqno,
    kind,
    leaf: new Uint8Array(Buffer.from(record.marker, 'base64')),
    ...(record.signedRoot === undefined ? {} : { signedRoot: record.signedRoot }),
    ...(record.logPosition === undefined ? {} : { logPosition: record.logPosition }),
  };
}

/** Starts the engine: takes the data directory's lock, recovers, then accepts submissions. */
export async function startEngine(options: EngineOptions): Promise<Engine> {
  await mkdir(options.dataDir, { recursive: true });
  const lock = await lockDataDir(options.dataDir);
  try {
    const engine = await startLocked(options);
    return {
      ...engine,
      stop: async () => {
        await engine.stop();
        await lock.release();
      },
    };
  } catch (error) {
    await lock.release();
    throw error;
  }
}

async function startLocked(options: EngineOptions): Promise<Engine> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  // From the options; in a governed ledger, from the settings in force (refreshConsortium).
  let intervals: Intervals = {
    signatureIntervalTx: options.signatureIntervalTx ?? 1000,
    signatureIntervalMs: options.signatureIntervalMs ?? 100,
    snapshotIntervalTx: options.snapshotIntervalTx ?? 100_000,
  };
  /**
   * Where signature entries commit to the state (decision 0027): the consortium's setting in a
   * governed ledger (the same on every node; a node's own snapshotIntervalTx only adds local
   * snapshots), else this engine's.
   */
  let commitIntervalTx = intervals.snapshotIntervalTx;
  const chunkBytesAtSignature = options.chunkBytesAtSignature ?? chunkBytesAtSignatureMin;
  const batchDelayMs = options.batchDelayMs ?? batchDelayMsDefault;
  const pendingMax = Math.min(options.pendingMax ?? pendingEnvelopesMax, pendingEnvelopesMax);
  const dirs = {
    log: path.join(options.dataDir, 'log'),
    ledger: path.join(options.dataDir, 'ledger'),
    snapshots: path.join(options.dataDir, 'snapshots'),
    secret: path.join(options.dataDir, 'ledger.secret'),
    txIndex: path.join(options.dataDir, 'txindex'),
    merkleLeaves: path.join(options.dataDir, 'merkle-leaves'),
  };
  await mkdir(options.dataDir, { recursive: true });
  const secret =
    options.ledgerSecretFile === undefined
      ? await openSecret(dirs.secret)
      : await loadLedgerSecretFile(options.ledgerSecretFile);
  const orderingLogger: OrderingLogger = {
    info: (details, message) => {
      logger.info(details, message);
    },
    warn: (details, message) => {
      logger.warn(details, message);
    },
    error: (details, message) => {
      logger.error(details, message);
    },
  };
  // Full chunks of old leaves go to a file (decision 0034), written again from here at each start.
  const spill = openLeafSpillFile(dirs.merkleLeaves, {
    onWriteError: (error, chunk) => {
      logger.warn(
        { file: dirs.merkleLeaves, chunk },
        `Merkle leaves kept in memory: the leaf file refused chunk ${chunk} (${error.message}); tried again at the next chunk`,
      );
    },
  });
  const log: OrderingLog = await (
    options.openLog === undefined
      ? openEmbeddedLog(dirs.log, {
          ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
          logger: orderingLogger,
        })
      : options.openLog(dirs.log, orderingLogger)
  ).catch((error: unknown) => {
    spill.close();
    throw error;
  });

  // ---- state, from the newest snapshot --------------------------------------------------------
  let store: Store = createStore();
  const treeOptions = {
    spill,
    ...(options.treeLeafChunksInMemory === undefined
      ? {}
      : { leafChunksInMemory: options.treeLeafChunksInMemory }),
  };
  let tree: MerkleTree = createMerkleTree(treeOptions);
  let replay: ReplayWindow = createReplayWindow();
  let logPosition = 0;
  /** Set while executeOne runs the batch at this log position (Position.executingLogPosition). */
  let executingLogPosition: number | undefined;
  let time = 0;
  let lastMarkerSeqno = 0;
  let lastMarkerTime = 0;
  let signedRoot: SignedRoot | undefined;
  let lastSnapshotSeqno = 0;
  /**
   * The last commit point, until its evidence entry is written (decision 0038): its digest is
   * computed off the main thread meanwhile. The same on every node (seqnos and batch times).
   */
  let pendingEvidence: (PendingEvidence & { readonly digest: Promise<string> }) | undefined;
  /** The newest commit point whose evidence entry is written. */
  let evidencedSnapshotSeqno = 0;
  /** The last signature entry records evidence, and no later one signs it yet (idle timer). */
  let evidenceUncovered = false;
  // The engine's state and the tree are read (and the tree verified) while choosing: a snapshot
  // whose tree does not verify is passed over for the one before, as a corrupted file is.
  const loaded = await loadLatestSnapshot(dirs.snapshots, secret, {
    open: (snapshot) => {
      const extra = decodeSnapshotExtra(snapshot.extra);
      return { extra, tree: deserializeMerkleTree(extra.tree, treeOptions) };
    },
  });
  for (const skipped of loaded.skipped) {
    logger.warn(
      { file: skipped.file, code: skipped.error.code },
      `snapshot skipped: ${skipped.error.message}`,
    );
  }
  if (loaded.snapshot !== undefined && loaded.opened !== undefined) {
    const { extra } = loaded.opened;
    store = loaded.snapshot.store;
    tree = loaded.opened.tree;
    replay = createReplayWindow(extra.replay.map(([id, at]) => [id, at]));
    logPosition = extra.logPosition;
    time = extra.time;
    lastMarkerSeqno = extra.lastMarkerSeqno;
    lastMarkerTime = extra.lastMarkerTime;
    signedRoot = extra.signedRoot ?? undefined;
    lastSnapshotSeqno = loaded.snapshot.seqno;
    evidencedSnapshotSeqno = extra.evidencedSnapshotSeqno ?? 0;
    if (loaded.snapshot.committed) {
      // A commit point: its evidence entry comes after it (again, if it was written before).
      const digest = stateDigest(lastSnapshotSeqno, loaded.snapshot.digests, extra);
      pendingEvidence = {
        seqno: lastSnapshotSeqno,
        time: extra.lastMarkerTime,
        digest: Promise.resolve(digest),
      };
    }
    assert.equal(tree.size(), loaded.snapshot.seqno, 'snapshot tree size matches its seqno');
    logger.info(
      { file: loaded.snapshot.file, seqno: lastSnapshotSeqno, logPosition },
      'loaded snapshot',
    );
  }
  const joinedAt = options.joinedAtSeqno;
  if (joinedAt !== undefined && (loaded.snapshot === undefined || tree.size() < joinedAt)) {
    // Nothing before the snapshot it joined from is on this node: it cannot rebuild from the log.
    await log.close();
    spill.close();
    throw cofferError(
      'NODE_E_FAILED',
      `this node joined from the snapshot at seqno ${joinedAt}, and no snapshot at or after it in ${dirs.snapshots} verifies${loaded.skipped.length > 0 ? ` (${loaded.skipped.map((skipped) => skipped.error.message).join('; ')})` : ''}; start it in a new data directory to join again`,
      { joinedAt, dir: dirs.snapshots },
    );
  }
  // Everything after the snapshot is regenerated from the log (decision 0008).
  const { writer: ledger, recovery } = await openLedgerWriter(
    dirs.ledger,
    joinedAt === undefined ? {} : { firstSeqno: joinedAt + 1 },
  );
  if (recovery.dropped !== undefined) {
    logger.warn(
      { ...recovery.dropped },
      'ledger: dropped a torn tail; it is regenerated from the log',
    );
  }
  if (ledger.lastSeqno() < tree.size()) {
    // The ledger files lost entries the snapshot covers (e.g. moved aside): the log still has
    // every batch, so rebuild everything from it rather than trust a gap.
    logger.warn(
      { ledgerSeqno: ledger.lastSeqno(), snapshotSeqno: tree.size() },
      'ledger files end before the snapshot; rebuilding state and ledger from the ordering log',
    );
    store = createStore();
    tree = createMerkleTree(treeOptions);
    replay = createReplayWindow();
    logPosition = 0;
    time = 0;
    lastMarkerSeqno = 0;
    lastMarkerTime = 0;
    signedRoot = undefined;
    lastSnapshotSeqno = 0;
    pendingEvidence = undefined;
    evidencedSnapshotSeqno = 0;
  }
  if (ledger.lastSeqno() > tree.size()) await ledger.truncateAfter(tree.size());
  assert.equal(ledger.lastSeqno(), tree.size(), 'ledger files reach the snapshot');

  // The transaction index (derived data): caught up from the ledger files, or cut back to them.
  const txIndex = await openTxIndex(dirs.txIndex, {
    rebuildOnCorruption: true,
    logger: {
      warn: (details, message) => {
        logger.warn(details, message);
      },
      error: (details, message) => {
        logger.error(details, message);
      },
    },
  });
  try {
    const caughtUp = await catchUpTxIndex(txIndex, dirs.ledger, ledger.lastSeqno());
    logger.info({ ...caughtUp }, 'transaction index caught up with the ledger files');
  } catch (error) {
    await txIndex.close();
    await ledger.close();
    spill.close();
    throw error;
  }

  // ---- the consortium in force ------------------------------------------------------------------
  let governedConsortium: Consortium | undefined;
  const consortiumNow = (): Consortium => governedConsortium ?? options.consortium();
  const refreshConsortium = (): void => {
    if (options.governed === undefined || tree.size() === 0) return;
    governedConsortium = options.governed.consortiumOf(store.read);
    if (options.governed.settingsOf !== undefined) {
      const settings = options.governed.settingsOf(store.read);
      commitIntervalTx = settings.snapshotIntervalTx;
      // Snapshots only shorten this node's restarts: its own choice wins when it made one.
      intervals = {
        ...settings,
        snapshotIntervalTx: options.snapshotIntervalTx ?? settings.snapshotIntervalTx,
      };
    }
  };
  refreshConsortium();

  // ---- bookkeeping (not state) ----------------------------------------------------------------
  const statuses = new Map<string, TxStatus>();
  const statusEntries = Math.max(
    1,
    Math.min(options.statusEntries ?? statusEntriesMax, statusEntriesMax),
  );
  const waiters = new Map<string, ((status: TxStatus) => void)[]>();
  const recent = new Map<number, { txId: string | null; leaf: Uint8Array }>();
  const recentBytesMax = Math.max(
    1,
    Math.min(options.recentEntriesBytes ?? recentEntriesBytesMax, recentEntriesBytesMax),
  );
  let recentBytes = 0;
  let recentOldest = 0; // no entry kept below this seqno
  const preVerified = new Map<string, PreVerified>();
  type AppliedListener = Parameters<Engine['onApplied']>[0];
  const appliedListeners = new Set<AppliedListener>();
  const observers = new Set<ExecutionObserver>();
  /** Tells every observer; one that throws is logged and does not stop execution. */
  const notify = (tell: (observer: ExecutionObserver) => void): void => {
    for (const observer of observers) {
      try {
        tell(observer);
      } catch (error) {
        logger.error({ error: String(error) }, 'an execution observer failed');
      }
    }
  };
  const recentSignedRoots = new Map<number, SignedRoot>();
  if (signedRoot !== undefined) recentSignedRoots.set(signedRoot.treeSize, signedRoot);
  const pendingIds = new Set<string>();
  /**
   * Verified envelopes waiting for a batch. An `orderKey` (a submission option) keeps that
   * key's envelopes in submission order in the log: none joins a batch while an earlier batch
   * holding the same key is still being appended (batches in flight may be ordered in any
   * order among themselves). The EVM relay keys by sender: nonces must arrive in order.
   */
  let queue: { readonly envelope: Envelope; readonly orderKey?: string }[] = [];
  const keysInFlight = new Map<string, number>();
  let appendsInFlight = 0;
  let batchTimer: NodeJS.Timeout | undefined;
  let stopping = false;
  let failure: CofferError | undefined;
  /** Set while the ledger files' disk is full: execution waits and retries (nothing is lost). */
  let ledgerFull: { readonly since: number; readonly error: CofferError } | undefined;
  // A function, so that checks after an await re-read the flag (no stale narrowing).
  const stoppingNow = (): boolean => stopping;

  /**
   * Runs a ledger-file write; on a full disk, pauses execution and retries every
   * ledgerFullRetryMs until it succeeds (the writer keeps what it could not write) or the
   * engine stops. The inputs are safe in the ordering log meanwhile; statuses stay Pending.
   */
  const writeLedger = async (write: () => Promise<void>): Promise<void> => {
    for (;;) {
      try {
        await write();
        if (ledgerFull !== undefined) {
          logger.info(
            { pausedMs: Date.now() - ledgerFull.since },
            'ledger files: space is back, execution resumed',
          );
          ledgerFull = undefined;
        }
        return;
      } catch (error) {
        if (!isCofferError(error, 'LEDGER_E_DISK_FULL')) throw error;
        if (ledgerFull === undefined) {
          ledgerFull = { since: Date.now(), error };
          logger.error(
            { code: error.code },
            `ledger files: ${error.message}; execution paused until space returns`,
          );
        }
        if (stoppingNow()) throw new StoppedWhilePaused();
        await new Promise((resolve) => setTimeout(resolve, ledgerFullRetryMs));
        if (stoppingNow()) throw new StoppedWhilePaused();
      }
    }
  };

  // The oldest statuses go a sixteenth of the bound at a time: a Map's iteration walks from the
  // start of its table past every entry deleted there before (until V8 rebuilds the table), so
  // dropping one entry a call cost a walk of thousands (4% of the main thread at 5,000 tx/s).
  const statusesDroppedAtOnce = Math.max(1, Math.floor(statusEntries / 16));
  /** Every status this node keeps goes through here: at most statusEntries, oldest out. */
  const setStatus = (txId: string, status: TxStatus): void => {
    if (!statuses.has(txId) && statuses.size >= statusEntries) {
      let dropped = 0;
      for (const oldest of statuses.keys()) {
        statuses.delete(oldest);
        dropped += 1;
        if (dropped >= statusesDroppedAtOnce) break;
      }
    }
    statuses.set(txId, status);
  };

  const remember = (txId: string, status: TxStatus): void => {
    // A request ordered twice (sent again after an unknown outcome, to another node) is
    // recorded twice, the copy as an Invalid replay: the committed entry wins, as it does in
    // statusFromLedger.
    const known = statuses.get(txId);
    const kept = known?.status === 'Committed' && status.status !== 'Committed' ? known : status;
    setStatus(txId, kept);
    const list = waiters.get(txId);
    if (list !== undefined) {
      waiters.delete(txId);
      for (const resolve of list) resolve(kept);
    }
  };

  /** Keeps the entry for receipts; returns the copy kept (observers share it, no second copy). */
  const keepRecent = (seqno: number, txId: string | null, leaf: Uint8Array): Uint8Array => {
    // A copy: the encoder's buffer may be a slice of a shared slab that it would keep alive.
    const kept = Uint8Array.from(leaf);
    recentBytes += kept.byteLength - (recent.get(seqno)?.leaf.byteLength ?? 0);
    recent.set(seqno, { txId, leaf: kept });
    if (recent.size === 1) recentOldest = seqno;
    // Oldest first, by seqno (not by walking the map past the entries deleted before).
    while (
      (recent.size > recentEntriesMax || recentBytes > recentBytesMax) &&
      recentOldest < seqno
    ) {
      const oldest = recent.get(recentOldest);
      if (oldest !== undefined) {
        recent.delete(recentOldest);
        recentBytes -= oldest.leaf.byteLength;
      }
      recentOldest += 1;
    }
    return kept;
  };

  // ---- execution ------------------------------------------------------------------------------

  const txEntry = (outcome: TxOutcome): Uint8Array => {
    const encrypted = encryptWriteSet(outcome.writeSet, secret, outcome.seqno);
    // The result as parsed back from its canonical text: members then come in RFC 8785 order
    // whatever order the app built them in.
    let result: unknown = null;
    if (outcome.result !== undefined && outcome.result !== null) {
      try {
        result = JSON.parse(canonicalString(outcome.result));
      } catch {
        result = null; // e.g. a float: every node drops it alike
      }
    }
    // Members added in RFC 8785 order, so that canonical encoding takes its native path (it
    // checks); one at a time rather than spread, which costs a copy of each part.
    const entry: Record<string, unknown> = {};
    if (outcome.app !== undefined) {
      entry['action'] = outcome.action;
      entry['app'] = outcome.app;
    }
    if (outcome.code !== undefined) entry['code'] = outcome.code;
    entry['envelope'] = outcome.envelope;
    if (outcome.message !== undefined) entry['message'] = outcome.message;
    entry['result'] = result;
    entry['seqno'] = outcome.seqno;
    if (outcome.signer !== undefined) {
      entry['signer'] = { identityId: outcome.signer.identityId, mspId: outcome.signer.mspId };
    }
    entry['status'] = outcome.status;
    entry['txId'] = outcome.txId;
    entry['type'] = 'tx';
    entry['writes'] = {
      private: base64Of(encrypted.privateCiphertext),
      public: encrypted.publicWrites.map((write) => [write.map, write.key, write.value]),
    };
    return canonicalBytes(entry);
  };

  /** `evidence`: the state digest of an earlier commit point, in its evidence entry (0038). */
  const addMarker = async (
    batchTime: number,
    evidence?: Pick<Marker, 'snapshot' | 'snapshotSeqno'>,
  ): Promise<LedgerLeaf> => {
    const seqno = tree.size() + 1;
    const marker: Marker = {
      treeSize: tree.size(),
      root: Buffer.from(tree.root()).toString('hex'),
      time: batchTime,
      ...evidence,
    };
    const leaf = markerLeaf(marker);
    tree.append(leafHash(leaf));
    const signed = signRoot(
      { treeSize: marker.treeSize, root: marker.root, nodeId: options.nodeId, signedAt: batchTime },
      options.rootSigner,
    );
    signedRoot = signed;
    recentSignedRoots.set(signed.treeSize, signed);
    if (recentSignedRoots.size > signedRootsKeptMax) {
      const oldest = recentSignedRoots.keys().next();
      if (oldest.done !== true) recentSignedRoots.delete(oldest.value);
    }
    // The log position is outside the leaf: a behind peer learns from it which batches the
    // entries up to this marker came from (catchup.ts).
    const record = canonicalBytes({
      marker: base64Of(leaf),
      signedRoot: signed,
      logPosition,
    } satisfies SignatureRecord);
    await writeLedger(() => ledger.append(seqno, 'signature', record));
    if (ledger.chunkBytes() >= chunkBytesAtSignature) ledger.endChunk();
    const kept = keepRecent(seqno, null, leaf);
    lastMarkerSeqno = seqno;
    lastMarkerTime = batchTime;
    await writeLedger(() => ledger.flush());
    return { seqno, kind: 'signature', leaf: kept, signedRoot: signed, logPosition };
  };

  /** The engine's positions for a snapshot at the signature entry just written. */
  const snapshotPositions = (): Omit<SnapshotExtra, 'replay' | 'tree'> => ({
    logPosition,
    time,
    lastMarkerSeqno,
    lastMarkerTime,
    signedRoot: signedRoot ?? null,
    evidencedSnapshotSeqno,
  });

  // Commit points (decision 0038): the state is copied here, encoded and digested by a worker.
  const commitPoints = createCommitPointRunner({
    onWorkerFailure: (error) => {
      logger.warn(
        { error: error.message },
        'the commit-point worker failed; its snapshot is made on the main thread',
      );
    },
  });
  /** The last commit point's snapshot being made (one at a time: see the evidence rule). */
  let committedWrites: Promise<void> = Promise.resolve();

  // Memory for the next snapshot's copies, warmed a little before it (decisions 0041, 0043).
  const sharedPool =
    options.memoryPages === undefined ? undefined : createSharedPool(options.memoryPages);
  /** What the last snapshot copied (0: none yet); the next one warms a little more. */
  let lastCopyBytes = 0;
  let rateWindow = { seqno: 0, at: performance.now() };
  let txPerSecond = 0;
  /** Whether the next commit point is due within `seconds` at the rate of the last second. */
  const commitPointWithin = (seconds: number): boolean =>
    commitIntervalTx - (tree.size() % commitIntervalTx) <= txPerSecond * seconds;
  /** Whether a local snapshot (the node's own interval, shorter) is due within `seconds`. */
  const localSnapshotWithin = (seconds: number): boolean =>
    intervals.snapshotIntervalTx < commitIntervalTx &&
    lastSnapshotSeqno + intervals.snapshotIntervalTx - tree.size() <= txPerSecond * seconds;
  /**
   * After each batch: the rate of the last second, and the pool warmed once the next snapshot
   * (a commit point's, or a local one between them) is due within the lead time.
   */
  const afterBatch = (): void => {
    const now = performance.now();
    const size = tree.size();
    if (now - rateWindow.at >= 1000) {
      txPerSecond = ((size - rateWindow.seqno) * 1000) / (now - rateWindow.at);
      rateWindow = { seqno: size, at: now };
    }
    if (sharedPool === undefined || lastCopyBytes === 0) return;
    if (
      commitPointWithin(commitPointWarmLeadSeconds) ||
      localSnapshotWithin(commitPointWarmLeadSeconds)
    ) {
      sharedPool.reserve(Math.ceil(lastCopyBytes * commitPointWarmMargin));
    }
  };

  /**
   * Copies the state at the signature entry just written into shared memory (CommitPointInput)
   * and starts its snapshot on the runner; returns what that will make, and its log line once
   * made (always settles), with the main thread's milliseconds: in all, and on the store's maps,
   * the Merkle tree, the replay window and starting the worker. The copies are recorded: once
   * the snapshot is made nothing reads them, and their pages go back to the system then
   * (decision 0041). `retried`: when a snapshot not written is taken again.
   */
  const startSnapshot = (
    seqno: number,
    committed: boolean,
    retried: string,
  ): { made: Promise<CommitPointMade>; logged: Promise<void> } => {
    const started = performance.now();
    const copies: SharedRound = sharedPool?.round() ?? freshRound();
    const frozen = store.frozen(copies.allocate);
    const storeCopied = performance.now();
    // The leaves in the spill file are read there by the worker (decision 0042).
    const sharedTree = tree.freeze(copies.allocate);
    const treeCopied = performance.now();
    const extra = {
      ...snapshotPositions(),
      replay: replay.frozen(copies.allocate),
      tree: sharedTree,
    };
    const replayCopied = performance.now();
    const made = commitPoints.run({
      seqno,
      dir: dirs.snapshots,
      committed,
      store: frozen,
      extra,
      merkleLeavesFile: dirs.merkleLeaves,
      secret,
    });
    lastCopyBytes = copies.given().reduce((bytes, view) => bytes + view.byteLength, 0);
    made.then(copies.done, copies.done);
    const copied = performance.now();
    const copyPartsMs = [
      storeCopied - started,
      treeCopied - storeCopied,
      replayCopied - treeCopied,
      copied - replayCopied,
    ].map(Math.round);
    const copyMs = Math.round(copied - started);
    const logged = made.then(
      ({ written, computeMs, writeMs }) => {
        if (written.ok) {
          logger.info(
            {
              file: written.file,
              bytes: written.bytes,
              seqno,
              committed,
              copyMs,
              copyPartsMs,
              computeMs,
              writeMs,
            },
            'snapshot written',
          );
        } else {
          logger.warn(
            { code: written.code, seqno },
            `snapshot not written: ${written.message}; ${retried}`,
          );
        }
      },
      (error: unknown) => {
        // A commit point's evidence entry, which awaits the same result, stops execution with it.
        logger.error(
          { error: String(error), seqno },
          `the ${committed ? 'committed' : 'local'} snapshot was not made`,
        );
      },
    );
    return { made, logged };
  };

  /** At the signature entry just written, a commit point: its snapshot and digest begin. */
  const beginCommitPoint = (): void => {
    const seqno = tree.size();
    lastSnapshotSeqno = seqno;
    const { made, logged } = startSnapshot(seqno, true, 'taken again at the next commit point');
    const digest = made.then((result) => result.digest);
    // Awaited at the evidence entry; a failure there stops execution (drain), not the process.
    digest.catch(() => undefined);
    pendingEvidence = { seqno, time: lastMarkerTime, digest };
    // stop() waits for it (the worker writes the file).
    committedWrites = logged;
  };

  /** The node's own snapshot being made (one at a time), and when it is done. */
  let localSnapshotMaking = false;
  let localWrites: Promise<void> = Promise.resolve();

  /**
   * A local snapshot at a signature entry every snapshotIntervalTx entries of this node's own
   * setting, only to shorten its restarts, made off the main thread like a commit point's
   * (decision 0043). Not while a commit point awaits its evidence entry (a restart from a
   * snapshot then knows what is pending: the committed one's own state), nor while the last
   * local one is still being made, nor when a commit point, which makes one, is seconds away.
   */
  const maybeSnapshot = (): void => {
    if (pendingEvidence !== undefined || localSnapshotMaking) return;
    if (tree.size() - lastSnapshotSeqno < intervals.snapshotIntervalTx) return;
    if (commitPointWithin(commitPointWarmLeadSeconds)) return;
    const seqno = tree.size();
    lastSnapshotSeqno = seqno;
    localSnapshotMaking = true;
    // Only restarts are longer when one is not written (e.g. a full disk): the ledger and the
    // log still hold everything.
    const { logged } = startSnapshot(
      seqno,
      false,
      `retried after ${intervals.snapshotIntervalTx} more entries`,
    );
    localWrites = logged.finally(() => {
      localSnapshotMaking = false;
    });
  };

  const executeOne = async (position: number, bytes: Uint8Array): Promise<void> => {
    let batch: RawBatch;
    try {
      batch = decodeBatch(bytes);
    } catch (error) {
      // Not a batch at all: every node skips it alike.
      logger.error({ position, error: String(error) }, 'skipped an undecodable batch');
      logPosition = position;
      return;
    }
    // Until logPosition moves to it (after the ledger writes below), the store already holds
    // this batch's writes, transaction by transaction.
    executingLogPosition = position;
    const output = await executeBatch({
      store,
      replay,
      batch,
      firstSeqno: tree.size() + 1,
      previousTime: time,
      consortium: consortiumNow(),
      apps: options.apps,
      preVerified,
      position,
    });
    time = output.time;
    const executed: ExecutedTx[] | undefined = observers.size > 0 ? [] : undefined;
    for (const outcome of output.outcomes) {
      const leaf = txEntry(outcome);
      const index = tree.append(leafHash(leaf));
      assert.equal(index + 1, outcome.seqno, 'seqno is leaf index + 1');
      await writeLedger(() => ledger.append(outcome.seqno, 'tx', leaf));
      const kept = keepRecent(outcome.seqno, outcome.txId, leaf);
      executed?.push({
        seqno: outcome.seqno,
        kind: 'tx',
        leaf: kept,
        txId: outcome.txId,
        committed: outcome.status === 'committed',
      });
      if (outcome.txId !== null) {
        preVerified.delete(outcome.txId);
        pendingIds.delete(outcome.txId);
        remember(outcome.txId, {
          status: outcome.status === 'committed' ? 'Committed' : 'Invalid',
          seqno: outcome.seqno,
          ...(outcome.code === undefined ? {} : { code: outcome.code }),
          ...(outcome.message === undefined ? {} : { message: outcome.message }),
          ...(outcome.result === undefined ? {} : { result: outcome.result }),
        });
      }
    }
    const indexed: { txId: string; seqno: number }[] = [];
    for (const outcome of output.outcomes) {
      if (outcome.txId !== null) indexed.push({ txId: outcome.txId, seqno: outcome.seqno });
    }
    await txIndex.add(indexed, tree.size());
    logPosition = position;
    executingLogPosition = undefined;
    if (appliedListeners.size > 0) {
      const writes = output.outcomes.flatMap((outcome) =>
        outcome.writeSet.map((write) => ({ map: write.map, key: write.key })),
      );
      for (const listener of appliedListeners) {
        try {
          listener(writes, tree.size());
        } catch (error) {
          logger.error({ error: String(error) }, 'an applied-batch listener failed');
        }
      }
    }
    const configMap = options.governed?.configMap;
    if (
      configMap !== undefined &&
      output.outcomes.some((outcome) => outcome.writeSet.some((write) => write.map === configMap))
    ) {
      refreshConsortium();
      logger.info(
        { seqno: tree.size() },
        'consortium configuration changed; in force from the next batch',
      );
    }
    const unsigned = tree.size() - lastMarkerSeqno;
    // An empty batch right after a signature entry (idle nodes' empty batches race: the first
    // one executed makes the entry, the others come after it) gets a signature entry of its
    // own, so that no batch trails the last signature entry: a peer serves batches only up to
    // a signature entry (catch-up, decision 0016), and a network with no traffic would
    // otherwise leave a joining node waiting for the next transaction. Every node decides
    // alike (the batch sequence alone), and no further empty batch follows (the idle timer
    // appends only while entries are unsigned, or for an evidence entry and one that signs it).
    const trailing = output.outcomes.length === 0 && unsigned === 0 && lastMarkerSeqno > 0;
    // A commit point's evidence, once due, goes into the next batch's signature entry.
    const evidenceDue =
      pendingEvidence !== undefined && isEvidencePoint(pendingEvidence, time, false);
    if (
      trailing ||
      evidenceDue ||
      unsigned >= intervals.signatureIntervalTx ||
      (unsigned > 0 && time - lastMarkerTime >= intervals.signatureIntervalMs)
    ) {
      // A commit point's snapshot is taken after its entry (the marker writes nothing to the
      // store); a later entry records its digest (decision 0038).
      const markerSeqno = tree.size() + 1;
      const commitPoint = isCommitPoint(markerSeqno, lastMarkerSeqno, commitIntervalTx);
      let evidence: Pick<Marker, 'snapshot' | 'snapshotSeqno'> | undefined;
      if (pendingEvidence !== undefined && isEvidencePoint(pendingEvidence, time, commitPoint)) {
        // Ready long since, as a rule; if not, execution waits for the worker here.
        const waitStarted = performance.now();
        evidence = { snapshot: await pendingEvidence.digest, snapshotSeqno: pendingEvidence.seqno };
        const waitedMs = Math.round(performance.now() - waitStarted);
        if (waitedMs > 0) {
          logger.warn(
            { seqno: pendingEvidence.seqno, waitedMs },
            `execution waited ${waitedMs} ms for the digest of the commit point at ${pendingEvidence.seqno}: its worker was not done ${evidenceDelayMs} ms after it`,
          );
        }
        pendingEvidence = undefined;
      }
      const signature = await addMarker(time, evidence);
      if (evidence?.snapshotSeqno !== undefined) evidencedSnapshotSeqno = evidence.snapshotSeqno;
      evidenceUncovered = evidence !== undefined;
      if (executed !== undefined) {
        notify((observer) => {
          observer.executed?.({ logPosition: position, time, transactions: executed, signature });
        });
      }
      if (commitPoint) beginCommitPoint();
      else maybeSnapshot();
    } else if (executed !== undefined && executed.length > 0) {
      notify((observer) => {
        observer.executed?.({ logPosition: position, time, transactions: executed });
      });
    }
    afterBatch();
  };

  // One executor at a time; a commit noticed while it runs makes it run once more.
  let executing: Promise<void> | undefined;
  let rerunRequested = false;
  // A function, so that the loop re-reads the flag after each await (no stale narrowing).
  const takeRerun = (): boolean => {
    const requested = rerunRequested;
    rerunRequested = false;
    return requested;
  };
  /** An empty governed ledger starts with the genesis entry (seqno 1), the same on every node. */
  const writeGenesis = async (governed: GovernedOptions): Promise<void> => {
    const writes = governed.genesis.writes;
    if (writes.some((write) => !write.map.startsWith('public:') || write.value === null)) {
      throw cofferError('NODE_E_FAILED', 'genesis writes must put values in public maps');
    }
    const leaf = canonicalBytes({
      type: 'genesis',
      seqno: 1,
      txId: null,
      config: governed.genesis.config,
      writes: { public: writes.map((write) => [write.map, write.key, write.value]) },
    });
    store.apply(writes, 1);
    tree.append(leafHash(leaf));
    await writeLedger(() => ledger.append(1, 'tx', leaf));
    keepRecent(1, null, leaf);
    refreshConsortium();
    logger.info({ members: consortiumNow().msps.size }, 'genesis entry written (seqno 1)');
  };

  const drain = async (): Promise<void> => {
    try {
      if (tree.size() === 0 && options.governed !== undefined) await writeGenesis(options.governed);
      while (!stopping && failure === undefined && logPosition < log.committedPosition()) {
        const entries = await log.read(logPosition + 1, executeReadBatchesMax);
        if (entries.length === 0) break;
        for (const entry of entries) await executeOne(entry.position, entry.batch);
      }
    } catch (error) {
      if (error instanceof StoppedWhilePaused) return;
      // A bug or an IO failure in the ledger files: stop executing and say so loudly.
      failure = isCofferError(error)
        ? error
        : cofferError('NODE_E_FAILED', `execution stopped: ${String(error)}`, {}, error);
      logger.fatal({ code: failure.code }, `execution stopped: ${failure.message}`);
    }
  };
  const catchUp = (): Promise<void> => {
    if (executing !== undefined) {
      rerunRequested = true;
      return executing;
    }
    const run = async (): Promise<void> => {
      do {
        await drain();
      } while (takeRerun() && !stopping);
    };
    const promise = run().finally(() => {
      executing = undefined;
    });
    executing = promise;
    return promise;
  };

  // Recovery: everything the log holds beyond the snapshot is executed again (no pre-verification).
  const recoveryStart = Date.now();
  await catchUp();
  if (failure !== undefined) throw failure;
  logger.info({ seqno: tree.size(), logPosition, ms: Date.now() - recoveryStart }, 'recovered');
  const unsubscribe = log.onCommit(() => void catchUp());

  // ---- ordering ---------------------------------------------------------------------------------

  const flushQueue = (): void => {
    batchTimer = undefined;
    while (queue.length > 0 && appendsInFlight < appendsInFlightMax) {
      const taken: (typeof queue)[number][] = [];
      const held: typeof queue = [];
      const blocked = new Set<string>();
      for (const item of queue) {
        const key = item.orderKey;
        const wait =
          taken.length >= batchEnvelopesMax ||
          (key !== undefined && (keysInFlight.has(key) || blocked.has(key)));
        if (wait) {
          held.push(item);
          if (key !== undefined) blocked.add(key);
        } else {
          taken.push(item);
        }
      }
      if (taken.length === 0) break;
      queue = held;
      const envelopes = taken.map((item) => item.envelope);
      const keys = new Set(taken.flatMap((item) => item.orderKey ?? []));
      for (const key of keys) keysInFlight.set(key, (keysInFlight.get(key) ?? 0) + 1);
      const release = (): void => {
        for (const key of keys) {
          const left = (keysInFlight.get(key) ?? 1) - 1;
          if (left === 0) keysInFlight.delete(key);
          else keysInFlight.set(key, left);
        }
      };
      appendsInFlight += 1;
      const bytes = encodeBatch({ time: now(), envelopes });
      log.append(bytes).then(
        () => {
          appendsInFlight -= 1;
          release();
          if (queue.length > 0) flushQueue();
        },
        (error: unknown) => {
          appendsInFlight -= 1;
          release();
          if (queue.length > 0) scheduleFlush();
          const code = isCofferError(error) ? error.code : 'NODE_E_FAILED';
          logger.error(
            { code, envelopes: envelopes.length },
            `ordering refused a batch: ${String(error)}`,
          );
          for (const envelope of envelopes) {
            const txId = transactionId(envelope.request);
            // Executed already (the batch reached the mirror while ordering still waited for
            // it): its outcome stands; an unconfirmed append must not turn it into Unknown.
            const known = statuses.get(txId)?.status;
            if (known === 'Committed' || known === 'Invalid') continue;
            pendingIds.delete(txId);
            preVerified.delete(txId);
            statuses.delete(txId);
            // An outcome ordering could not confirm (etcd: the put may still have been applied)
            // may yet execute, and then its status becomes Committed; sending it again is safe
            // either way: a second copy of an ordered request is recorded as a replay.
            const next =
              code === 'ORDERING_E_OUTCOME_UNKNOWN'
                ? 'it may still be ordered: check its status; sending it again is safe (a copy of an ordered request is refused as a replay)'
                : 'it is not in the ledger, submit it again';
            remember(txId, {
              status: 'Unknown',
              code: 'NODE_E_UNAVAILABLE',
              message: `ordering did not take the batch holding it (${code}): ${String(error)}; ${next}`,
            });
          }
        },
      );
    }
  };

  const scheduleFlush = (): void => {
    if (queue.length >= batchEnvelopesMax) {
      if (batchTimer !== undefined) clearTimeout(batchTimer);
      flushQueue();
    } else {
      batchTimer ??= setTimeout(flushQueue, batchDelayMs);
    }
  };

  // An idle node still signs recent entries: an empty batch lets time-based markers happen.
  const idleTimer = setInterval(
    () => {
      if (stopping || failure !== undefined || appendsInFlight > 0 || queue.length > 0) return;
      const signing = now() - lastMarkerTime >= intervals.signatureIntervalMs;
      // Also for a commit point's evidence entry, and then for an entry that signs it (a
      // joining node checks the evidence under a signed root).
      if (
        (signing && (tree.size() > lastMarkerSeqno || evidenceUncovered)) ||
        (pendingEvidence !== undefined && isEvidencePoint(pendingEvidence, now(), false))
      ) {
        appendsInFlight += 1;
        log.append(encodeBatch({ time: now(), envelopes: [] })).then(
          () => {
            appendsInFlight -= 1;
          },
          () => {
            appendsInFlight -= 1;
          },
        );
      }
    },
    Math.max(10, Math.floor(intervals.signatureIntervalMs / 2)),
  );
  idleTimer.unref();

  type Prechecked =
    | { readonly ok: false; readonly error: CofferError }
    | { readonly ok: true; readonly request: Request; readonly signer: SignerCheck & { ok: true } };

  type Admission = {
    readonly envelope: Envelope;
    readonly orderKey?: string;
    state: 'verifying' | 'accepted' | 'refused';
  };
  const admissions: Admission[] = [];
  /** Moves verified submissions to the batch queue, in the order they arrived. */
  const admit = (): void => {
    let taken = 0;
    let accepted = 0;
    for (const admission of admissions) {
      if (admission.state === 'verifying') break;
      taken += 1;
      if (admission.state === 'accepted') {
        queue.push(admission);
        accepted += 1;
      }
    }
    if (taken > 0) admissions.splice(0, taken);
    if (accepted > 0) scheduleFlush();
  };

  /** Everything execution will check, but the signature arithmetic (done next, maybe elsewhere). */
  const precheck = (envelope: Envelope, txId: string): Prechecked => {
    const refused = (error: CofferError): Prechecked => ({ ok: false, error });
    const tooLarge = requestTooLarge(consortiumNow(), envelope.request);
    if (tooLarge !== undefined) return refused(tooLarge);
    let request;
    try {
      request = decodeRequest(envelope.request);
    } catch (error) {
      return refused(isCofferError(error) ? error : cofferError('TX_E_MALFORMED', String(error)));
    }
    const wall = now();
    if (request.expiresAt <= wall)
      return refused(cofferError('TX_E_EXPIRED', `request expired at ${request.expiresAt}`));
    if (request.expiresAt > wall + requestTtlMsMax) {
      return refused(
        cofferError('TX_E_EXPIRY_TOO_FAR', `expiresAt is more than ${requestTtlMsMax} ms ahead`),
      );
    }
    const refusal = options.accepts?.(request);
    if (refusal !== undefined) return refused(refusal);
    if (replay.has(txId) || pendingIds.has(txId))
      return refused(cofferError('TX_E_REPLAY', `transaction ${txId} was already submitted`));
    const signer = checkSigner(consortiumNow(), store.read, request, envelope, false);
    return signer.ok ? { ok: true, request, signer } : refused(signer.error);
  };

  const unavailable = (): SubmitOutcome | undefined => {
    if (stopping)
      return { ok: false, error: cofferError('NODE_E_UNAVAILABLE', 'the node is stopping') };
    if (failure !== undefined)
      return {
        ok: false,
        error: cofferError('NODE_E_UNAVAILABLE', `the node stopped executing: ${failure.message}`),
      };
    return undefined;
  };

  const submit = async (
    envelope: Envelope,
    submitOptions: SubmitOptions = {},
  ): Promise<SubmitOutcome> => {
    const down = unavailable();
    if (down !== undefined) return down;
    if (ledgerFull !== undefined) {
      return {
        ok: false,
        error: cofferError(
          'NODE_E_UNAVAILABLE',
          `execution is paused: ${ledgerFull.error.message}; it resumes when space returns`,
        ),
        retryAfterMs: ledgerFullRetryMs,
      };
    }
    const health = log.health();
    if (health !== 'ok') {
      return {
        ok: false,
        error: cofferError(
          'NODE_E_UNAVAILABLE',
          `ordering is ${health.state}: ${health.error.message}`,
        ),
        retryAfterMs: 1000,
      };
    }
    // Queued envelopes (and those being verified) are in pendingIds: count each once.
    if (pendingIds.size >= pendingMax) {
      return {
        ok: false,
        error: cofferError(
          'NODE_E_BACKPRESSURE',
          `${pendingMax} transactions are pending; retry shortly`,
        ),
        retryAfterMs: 50,
      };
    }
    const txId = transactionId(envelope.request);
    const checked = precheck(envelope, txId);
    if (!checked.ok) return { ok: false, error: checked.error };
    const { msp, identity } = checked.signer;
    // Reserved while the signature is verified: a second copy is a replay. Admitted to the
    // queue in arrival order, whichever verification finishes first.
    pendingIds.add(txId);
    const admission: Admission = {
      envelope,
      ...(submitOptions.orderKey === undefined ? {} : { orderKey: submitOptions.orderKey }),
      state: 'verifying',
    };
    admissions.push(admission);
    const signature =
      options.verifier === undefined
        ? msp.verify(identity, envelope.request, envelope.signature)
        : await msp.verifyWith(identity, envelope.request, envelope.signature, options.verifier);
    const drop = (outcome: SubmitOutcome): SubmitOutcome => {
      pendingIds.delete(txId);
      admission.state = 'refused';
      admit();
      return outcome;
    };
    if (!signature.ok) return drop({ ok: false, error: signature.error });
    const downNow = unavailable();
    if (downNow !== undefined) return drop(downNow);
    preVerified.set(txId, { request: checked.request, signature: envelope.signature });
    setStatus(txId, { status: 'Pending' });
    admission.state = 'accepted';
    notify((observer) => {
      observer.accepted?.(txId);
    });
    admit();
    return { ok: true, txId };
  };

  /** A transaction's status from its ledger entries (the index names them). */
  const statusFromLedger = async (txId: string): Promise<TxStatus> => {
    let found: TxStatus = { status: 'Unknown' };
    // A request recorded twice (e.g. refused, then sent again once its certificate was known,
    // or a refused replay): the committed entry wins, else the latest.
    for (const seqno of await txIndex.lookupAll(txId)) {
      const entry = await entryAt(seqno);
      if (entry === undefined) continue;
      const json = JSON.parse(Buffer.from(entry).toString('utf8')) as {
        txId?: unknown;
        status?: unknown;
        code?: ErrorCode;
        message?: string;
        result?: unknown;
      };
      if (json.txId !== txId) continue;
      found = {
        status: json.status === 'committed' ? 'Committed' : 'Invalid',
        seqno,
        ...(json.code === undefined ? {} : { code: json.code }),
        ...(json.message === undefined ? {} : { message: json.message }),
        ...(json.result === undefined || json.result === null ? {} : { result: json.result }),
      };
      if (found.status === 'Committed') break;
    }
    return found;
  };

  const statusNow = (txId: string): TxStatus | undefined =>
    statuses.get(txId) ?? (pendingIds.has(txId) ? { status: 'Pending' } : undefined);

  /**
   * What this node remembers; an Unknown it remembers yields to what the ledger holds since, and
   * so does a copy refused as a replay: its first copy may be committed, and no longer in
   * memory (statuses are bounded), and the committed entry wins.
   */
  const status = async (txId: string): Promise<TxStatus> => {
    const remembered = statusNow(txId);
    const replayed = remembered?.status === 'Invalid' && remembered.code === 'TX_E_REPLAY';
    if (remembered !== undefined && remembered.status !== 'Unknown' && !replayed) return remembered;
    const fromLedger = await statusFromLedger(txId);
    return fromLedger.status === 'Unknown' && remembered !== undefined ? remembered : fromLedger;
  };

  const waitFor = async (txId: string, timeoutMs: number): Promise<TxStatus> => {
    const current = await status(txId);
    if (
      current.status === 'Committed' ||
      current.status === 'Invalid' ||
      current.status === 'Unknown'
    ) {
      return current;
    }
    return new Promise((resolve) => {
      // The transaction may have executed while `status` was awaited: remember() found no
      // waiter then, so look again before waiting for a notification that already went by.
      const settled = statusNow(txId);
      if (settled !== undefined && settled.status !== 'Pending') {
        resolve(settled);
        return;
      }
      const list = waiters.get(txId) ?? [];
      const timer = setTimeout(() => {
        const remaining = (waiters.get(txId) ?? []).filter((item) => item !== done);
        if (remaining.length === 0) waiters.delete(txId);
        else waiters.set(txId, remaining);
        resolve(statusNow(txId) ?? { status: 'Unknown' });
      }, timeoutMs);
      const done = (value: TxStatus): void => {
        clearTimeout(timer);
        resolve(value);
      };
      list.push(done);
      waiters.set(txId, list);
    });
  };

  // Where entries start in the chunk files: a status or receipt of an older transaction reads
  // its entry, not its 16 MiB chunk from the start.
  const seek = createSeekIndex();
  const entryAt = async (seqno: number): Promise<Uint8Array | undefined> => {
    const cached = recent.get(seqno);
    if (cached !== undefined) return cached.leaf;
    for await (const entry of readLedgerFrom(dirs.ledger, seqno, { seek })) {
      if (entry.seqno !== seqno) break;
      return leafOf(entry.kind, entry.payload, seqno).leaf;
    }
    return undefined;
  };

  async function* entriesFrom(from: number): AsyncGenerator<LedgerLeaf> {
    for await (const entry of readLedgerFrom(dirs.ledger, from, { seek })) {
      yield leafOf(entry.kind, entry.payload, entry.seqno);
    }
  }

  const signedRootAt = async (treeSize: number): Promise<SignedRoot | undefined> => {
    const recentRoot = recentSignedRoots.get(treeSize);
    if (recentRoot !== undefined) return recentRoot;
    if (!Number.isSafeInteger(treeSize) || treeSize < 1 || treeSize >= tree.size())
      return undefined;
    // A marker at seqno treeSize + 1 signs the tree of treeSize entries.
    for await (const entry of entriesFrom(treeSize + 1)) {
      return entry.kind === 'signature' && entry.signedRoot?.treeSize === treeSize
        ? entry.signedRoot
        : undefined;
    }
    return undefined;
  };

  const receipt = async (
    txId: string,
    choice: ReceiptOptions = {},
  ): Promise<Receipt | undefined> => {
    const known = await status(txId);
    if (known.status !== 'Committed' && known.status !== 'Invalid') return undefined;
    const own = choice.treeSize === undefined ? signedRoot : await signedRootAt(choice.treeSize);
    if (own === undefined || known.seqno > own.treeSize) return undefined;
    const entry = await entryAt(known.seqno);
    if (entry === undefined) return undefined;
    return createReceipt({
      txId,
      entry,
      leafIndex: known.seqno - 1,
      proof: tree.inclusionProof(known.seqno - 1, own.treeSize),
      signedRoots: signedRootsForReceipt(own, choice.peerRoots ?? [], consortiumNow().msps),
    });
  };

  return {
    submit,
    status,
    waitFor,
    receipt,
    store: () => store,
    lastSignedRoot: () => signedRoot,
    signedRootAt,
    frontier: (treeSize) => tree.frontier(treeSize),
    entriesFrom,
    onApplied: (listener) => {
      appliedListeners.add(listener);
      return () => {
        appliedListeners.delete(listener);
      };
    },
    observe: (observer) => {
      observers.add(observer);
      return () => {
        observers.delete(observer);
      };
    },
    evidencedSnapshotSeqno: () => evidencedSnapshotSeqno,
    idle: async () => {
      while (executing !== undefined) await executing;
      if (logPosition < log.committedPosition()) await catchUp();
    },
    rootAt: (treeSize) =>
      Number.isSafeInteger(treeSize) && treeSize >= 1 && treeSize <= tree.size()
        ? Buffer.from(tree.root(treeSize)).toString('hex')
        : undefined,
    consortium: consortiumNow,
    kept: () => ({
      statuses: statuses.size,
      recentEntries: recent.size,
      recentEntryBytes: recentBytes,
      pending: pendingIds.size,
      awaited: waiters.size,
      treeBytes: tree.storageBytes(),
      treeLeavesSpilled: tree.spilledLeaves(),
      ...(sharedPool === undefined ? {} : { commitPointMemory: sharedPool.stats() }),
    }),
    halt: (error) => {
      if (failure !== undefined) return;
      failure = error;
      logger.fatal({ code: error.code, ...error.details }, `execution stopped: ${error.message}`);
    },
    position: () => ({
      seqno: tree.size(),
      root: Buffer.from(tree.root()).toString('hex'),
      logPosition,
      ...(executingLogPosition === undefined ? {} : { executingLogPosition }),
      committedLogPosition: log.committedPosition(),
      lastSignedTreeSize: signedRoot?.treeSize ?? 0,
      time,
    }),
    health: () => {
      if (failure !== undefined)
        return {
          ok: false,
          reason: `execution stopped: ${failure.message}; restart the node once the cause is fixed`,
        };
      if (ledgerFull !== undefined)
        return {
          ok: false,
          reason: `execution paused since ${new Date(ledgerFull.since).toISOString()}: ${ledgerFull.error.message}; it resumes by itself when space returns`,
        };
      const h = log.health();
      return h === 'ok'
        ? { ok: true }
        : { ok: false, reason: `ordering ${h.state}: ${h.error.message}` };
    },
    stop: async () => {
      stopping = true;
      clearInterval(idleTimer);
      if (batchTimer !== undefined) clearTimeout(batchTimer);
      unsubscribe();
      if (executing !== undefined) await executing;
      await committedWrites;
      await localWrites;
      sharedPool?.close();
      await log.close();
      await closeLedger(ledger, logger);
      await txIndex.close();
      spill.close();
    },
  };
}

async function closeLedger(ledger: LedgerWriter, logger: Logger): Promise<void> {
  try {
    await ledger.close();
  } catch (error) {
    // E.g. a full disk: what was not written is regenerated from the ordering log at start.
    logger.warn(
      { code: isCofferError(error) ? error.code : undefined },
      `ledger files not closed cleanly: ${String(error)}; the next start rebuilds them from the log`,
    );
  }
}

/** The ledger secret of this node: created with the node's first start, then only loaded. */
async function openSecret(file: string): Promise<LedgerSecret> {
  try {
    await access(file);
  } catch {
    return createLedgerSecretFile(file);
  }
  return loadLedgerSecretFile(file);
}
