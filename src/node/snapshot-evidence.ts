// Committed snapshots (decision 0027). At the first signature entry at or after each multiple
// of the consortium's snapshotIntervalTx, every node puts the digest of its state into the
// entry (`snapshot`), and writes a snapshot there. The entry is a ledger leaf like any other:
// the Merkle root that covers it, signed by the network's nodes, commits to the state, so a
// node that joins from a peer's snapshot checks it against signatures rather than trusting the
// peer. Every node computes the same digest (deterministic execution, the same ledger secret);
// one that does not gets another root and stops with NODE_E_DIVERGED at the next comparison.
//
// Pure: the engine does the IO (engine.ts), the joining side its fetching (snapshot-join.ts).
import { createHash } from 'node:crypto';
import { cofferError, type Result } from '../errors/index.js';
import { canonicalBytes } from '../ledger/canonical.js';
import { leafHash, type MerkleTree } from '../ledger/merkle.js';
import type { SectionDigests } from '../ledger/snapshot.js';
import type { SnapshotExtra } from './snapshot-extra.js';

/** What a signature entry's leaf holds (`type: 'signature'`). */
export type Marker = {
  readonly treeSize: number;
  /** hex */
  readonly root: string;
  readonly time: number;
  /** hex SHA-256 of the state at this entry (stateDigest): only at commit points. */
  readonly snapshot?: string;
};

/** The leaf bytes of a signature entry. */
export function markerLeaf(marker: Marker): Uint8Array {
  return canonicalBytes({ type: 'signature', ...marker });
}

/**
 * Whether the signature entry at `markerSeqno` commits to the state: a multiple of `intervalTx`
 * lies after the previous signature entry and at or before this one. Every node decides alike
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
 * Whether a snapshot's state is the one its own Merkle tree commits to: the snapshot is taken
 * at a signature entry, and that entry's leaf, rebuilt from the tree, the time and the digest
 * of the snapshot's state, is the leaf the tree holds. This proves nothing about the tree
 * itself: the caller then requires a root that extends it to be signed by a majority.
 */
export function checkCommittedSnapshot(input: {
  readonly seqno: number;
  readonly digests: SectionDigests;
  readonly extra: SnapshotExtra;
  readonly tree: MerkleTree;
}): Result<{ readonly digest: string }> {
  const { seqno, extra, tree } = input;
  const fail = (message: string): Result<never> => ({
    ok: false,
    error: cofferError('NODE_E_SNAPSHOT_UNVERIFIED', `the snapshot at ${seqno} ${message}`, {
      seqno,
    }),
  });
  if (seqno < 2 || tree.size() !== seqno) {
    return fail(`holds a Merkle tree of ${tree.size()} leaves`);
  }
  if (extra.lastMarkerSeqno !== seqno || extra.lastMarkerTime !== extra.time) {
    return fail(`was not taken at a signature entry (the last one is ${extra.lastMarkerSeqno})`);
  }
  const digest = stateDigest(seqno, input.digests, extra);
  const rebuilt = markerLeaf({
    treeSize: seqno - 1,
    root: Buffer.from(tree.root(seqno - 1)).toString('hex'),
    time: extra.lastMarkerTime,
    snapshot: digest,
  });
  if (!Buffer.from(leafHash(rebuilt)).equals(Buffer.from(tree.leaf(seqno - 1)))) {
    return fail(
      'holds a state that its signature entry does not commit to (altered, or not a committed snapshot)',
    );
  }
  return { ok: true, value: { digest } };
}
