// Committed snapshots (decisions 0027, 0038). At the first signature entry at or after each
// multiple of the consortium's snapshotIntervalTx (a commit point), every node takes a snapshot
// of its state. A later signature entry, the evidence entry, records that state's digest
// (`snapshot`, with the commit point's seqno in `snapshotSeqno`): the first one at least
// evidenceDelayMs of batch time after the commit point, or the next commit point, whichever
// comes first. The digest is computed off the main thread in between, so a commit point does
// not stop execution. The entry is a ledger leaf like any other: the Merkle root that covers it,
// signed by the network's nodes, commits to the state, so a node that joins from a peer's
// snapshot checks it against signatures rather than trusting the peer. Every node computes the
// same digest (deterministic execution, the same ledger secret) and decides the same entries;
// one that does not gets another root and stops with NODE_E_DIVERGED at the next comparison.
//
// Pure: the engine does the IO (engine.ts), the joining side its fetching (snapshot-join.ts).
import { createHash } from 'node:crypto';
import { cofferError, type Result } from '../errors/index.js';
import { canonicalBytes } from '../ledger/canonical.js';
import type { MerkleTree } from '../ledger/merkle.js';
import type { SectionDigests } from '../ledger/snapshot.js';
import type { SnapshotExtra } from './snapshot-extra.js';

/** What a signature entry's leaf holds (`type: 'signature'`). */
export type Marker = {
  readonly treeSize: number;
  /** hex */
  readonly root: string;
  readonly time: number;
  /** hex SHA-256 of the state at snapshotSeqno (stateDigest): only in evidence entries. */
  readonly snapshot?: string;
  /** The commit point whose state `snapshot` is the digest of. */
  readonly snapshotSeqno?: number;
};

/**
 * Batch time after a commit point from which a signature entry records its evidence. Part of
 * the ledger's rules (every node decides alike), long enough for the digest of a large state to
 * be ready on a busy node (about a second of a worker's CPU at a million keys): the engine
 * waits for it at the evidence entry otherwise.
 */
export const evidenceDelayMs = 5000;

/** A commit point whose evidence entry is still to come. */
export type PendingEvidence = {
  readonly seqno: number;
  /** The commit point's batch time. */
  readonly time: number;
};

/**
 * Whether the signature entry being written records the evidence of `pending`: at least
 * evidenceDelayMs of batch time after it, or at the next commit point (one pending at a time).
 */
export function isEvidencePoint(
  pending: PendingEvidence,
  markerTime: number,
  commitPoint: boolean,
): boolean {
  return commitPoint || markerTime - pending.time >= evidenceDelayMs;
}

/** The leaf bytes of a signature entry. */
export function markerLeaf(marker: Marker): Uint8Array {
  return canonicalBytes({ type: 'signature', ...marker });
}

/**
 * Whether the signature entry at `markerSeqno` is a commit point (its state is the committed
 * snapshot's, whose digest a later entry records): a multiple of `intervalTx` lies after the
 * previous signature entry and at or before this one. Every node decides alike
 * (seqnos and the setting in force are the same everywhere).
 */
export function isCommitPoint(
  markerSeqno: number,
  previousMarkerSeqno: number,
  intervalTx: number,
): boolean {
  return Math.floor(markerSeqno / intervalTx) > Math.floor(previousMarkerSeqno / intervalTx);
}

/** The engine state beside the store that a digest covers (node-specific parts are left out). */
export type CommittedEngineState = {
  readonly logPosition: number;
  readonly time: number;
  /** The replay window in entries() order (an array, or the window's sortedEntries()). */
  readonly replay: Iterable<readonly [string, number]>;
};

/** Characters of replay text hashed per update call. */
const replayTextCharsPerUpdate = 65_536;

/**
 * The digest a signature entry at `seqno` records: the store sections as the snapshot holds
 * them, the log position and time the node resumes from, and the replay window. Not the
 * Merkle tree (the root covers it) nor this node's own signed root.
 */
export function stateDigest(
  seqno: number,
  digests: SectionDigests,
  state: CommittedEngineState,
): string {
  // SHA-256 of `${txId}\n${expiresAt}\n` for every entry in order, hashed in large pieces.
  const replay = createHash('sha256');
  let entries = 0;
  let text = '';
  for (const [txId, expiresAt] of state.replay) {
    text += `${txId}\n${expiresAt}\n`;
    entries += 1;
    if (text.length >= replayTextCharsPerUpdate) {
      replay.update(text);
      text = '';
    }
  }
  replay.update(text);
  const summary = canonicalBytes({
    version: 1,
    seqno,
    public: Buffer.from(digests.publicSha256).toString('hex'),
    private: Buffer.from(digests.privateSha256).toString('hex'),
    logPosition: state.logPosition,
    time: state.time,
    replay: replay.digest('hex'),
    replayEntries: entries,
  });
  return createHash('sha256').update(summary).digest('hex');
}

/**
 * The digest of a committed snapshot's state, once its shape is checked: taken at a signature
 * entry (the last leaf of its tree). Whether a signed entry records that digest is
 * snapshotEvidenceIn's question, over the entries after it.
 */
export function checkCommittedSnapshot(input: {
  readonly seqno: number;
  readonly digests: SectionDigests;
  readonly extra: SnapshotExtra;
  readonly tree: MerkleTree;
}): Result<{ readonly digest: string }> {
  const { seqno, extra, tree } = input;
  if (seqno < 2 || tree.size() !== seqno) {
    return unverified(seqno, `holds a Merkle tree of ${tree.size()} leaves`);
  }
  if (extra.lastMarkerSeqno !== seqno || extra.lastMarkerTime !== extra.time) {
    return unverified(
      seqno,
      `was not taken at a signature entry (the last one is ${extra.lastMarkerSeqno})`,
    );
  }
  return { ok: true, value: { digest: stateDigest(seqno, input.digests, extra) } };
}

/**
 * Whether the entries after a committed snapshot (leaf bytes, from seqno + 1 on, under a signed
 * root) hold its evidence entry, recording `digest`: refused if they record another digest
 * (the snapshot's state was altered, or it is not a commit point's) or none.
 */
export function snapshotEvidenceIn(
  seqno: number,
  digest: string,
  leaves: readonly Uint8Array[],
): Result<{ readonly evidenceSeqno: number }> {
  for (const [index, leaf] of leaves.entries()) {
    const marker = evidenceOf(leaf);
    if (marker?.snapshotSeqno !== seqno) continue;
    if (marker.snapshot !== digest) {
      return unverified(
        seqno,
        `holds a state that its evidence entry at ${seqno + index + 1} does not commit to (altered, or not a committed snapshot)`,
      );
    }
    return { ok: true, value: { evidenceSeqno: seqno + index + 1 } };
  }
  return unverified(seqno, `has no evidence entry in the ${leaves.length} signed entries after it`);
}

/** The evidence a leaf records (a signature entry with `snapshotSeqno`), or undefined. */
export function evidenceOf(
  leaf: Uint8Array,
): { readonly snapshotSeqno: number; readonly snapshot: unknown } | undefined {
  // Parsed only when the name is there at all (a transaction's leaf rarely holds it).
  if (!Buffer.from(leaf.buffer, leaf.byteOffset, leaf.byteLength).includes('"snapshotSeqno"')) {
    return undefined;
  }
  try {
    const json = JSON.parse(Buffer.from(leaf).toString('utf8')) as Record<string, unknown>;
    const at = json['snapshotSeqno'];
    return json['type'] === 'signature' && typeof at === 'number'
      ? { snapshotSeqno: at, snapshot: json['snapshot'] }
      : undefined;
  } catch {
    return undefined;
  }
}

function unverified(seqno: number, message: string): Result<never> {
  return {
    ok: false,
    error: cofferError('NODE_E_SNAPSHOT_UNVERIFIED', `the snapshot at ${seqno} ${message}`, {
      seqno,
    }),
  };
}
