// What the engine keeps in a snapshot beside the KV store: positions, the last signed root, the
// replay window and the Merkle tree. The tree is the large part (2 × 32 bytes per leaf), so it
// is stored as raw bytes after a small JSON header, not as base64 inside JSON: a snapshot of a
// million-entry ledger then needs one copy of the tree in memory, not four.
//
//   "CFX2" | u32 JSON header length | JSON header (UTF-8) | tree state (MerkleTree.serialize)
//
// Snapshots written before this format hold one JSON object with the tree as base64; they are
// still read.
import { cofferError } from '../errors/index.js';
import type { SignedRoot } from '../ledger/receipt.js';

export type SnapshotExtra = {
  readonly logPosition: number;
  readonly time: number;
  readonly lastMarkerSeqno: number;
  readonly lastMarkerTime: number;
  readonly signedRoot: SignedRoot | null;
  readonly replay: readonly (readonly [string, number])[];
  /** MerkleTree.serialize() */
  readonly tree: Uint8Array;
};

const magic = Buffer.from('CFX2', 'latin1');

export function encodeSnapshotExtra(extra: SnapshotExtra): Uint8Array {
  const { tree, ...rest } = extra;
  const header = Buffer.from(JSON.stringify(rest), 'utf8');
  const out = Buffer.allocUnsafe(magic.byteLength + 4 + header.byteLength + tree.byteLength);
  magic.copy(out, 0);
  out.writeUInt32BE(header.byteLength, magic.byteLength);
  header.copy(out, magic.byteLength + 4);
  out.set(tree, magic.byteLength + 4 + header.byteLength);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function malformed(what: string): Error {
  return cofferError('SNAPSHOT_E_CORRUPT', `snapshot engine state ${what}`, {
    reason: 'engine-state',
  });
}

export function decodeSnapshotExtra(bytes: Uint8Array): SnapshotExtra {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buffer.byteLength >= magic.byteLength + 4 && buffer.subarray(0, 4).equals(magic)) {
    const length = buffer.readUInt32BE(magic.byteLength);
    const start = magic.byteLength + 4;
    if (start + length > buffer.byteLength) throw malformed('has a header longer than itself');
    let header: Omit<SnapshotExtra, 'tree'>;
    try {
      header = JSON.parse(buffer.subarray(start, start + length).toString('utf8')) as typeof header;
    } catch {
      throw malformed('has a header that is not JSON');
    }
    return { ...header, tree: new Uint8Array(buffer.subarray(start + length)) };
  }
  // The first format: one JSON object, the tree as base64.
  let legacy: Omit<SnapshotExtra, 'tree'> & { tree?: unknown };
  try {
    legacy = JSON.parse(buffer.toString('utf8')) as typeof legacy;
  } catch {
    throw malformed('is neither the CFX2 format nor JSON');
  }
  if (typeof legacy.tree !== 'string') throw malformed('has no tree');
  return { ...legacy, tree: new Uint8Array(Buffer.from(legacy.tree, 'base64')) };
}
