// The engine's snapshot state: the Merkle tree as raw bytes after a JSON header (one copy of
// the tree in memory), the first format (tree as base64 inside JSON) still read, and damage
// refused with the snapshot code.
import { describe, expect, it } from 'vitest';
import { createMerkleTree, deserializeMerkleTree, leafHash } from '../../src/ledger/merkle.js';
import { decodeSnapshotExtra, encodeSnapshotExtra } from '../../src/node/snapshot-extra.js';

function treeOf(n: number) {
  const tree = createMerkleTree();
  for (let i = 0; i < n; i += 1) tree.append(leafHash(Buffer.from(`entry ${i}`)));
  return tree;
}

const state = {
  logPosition: 42,
  time: 1_800_000_000_000,
  lastMarkerSeqno: 90,
  lastMarkerTime: 1_799_999_999_000,
  signedRoot: null,
  replay: [['ab'.repeat(32), 1_800_000_060_000]] as [string, number][],
};

describe('snapshot engine state', () => {
  it('round-trips, with the tree as raw bytes (no base64 inside JSON)', () => {
    const tree = treeOf(1000);
    const bytes = encodeSnapshotExtra({ ...state, tree: tree.serialize() });
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('CFX2');
    // Header + tree bytes, nothing more: about 64 bytes per leaf, not 4/3 of it.
    expect(bytes.byteLength).toBeLessThan(tree.serialize().byteLength + 400);
    const decoded = decodeSnapshotExtra(bytes);
    expect({ ...decoded, tree: undefined }).toEqual({ ...state, tree: undefined });
    expect(Buffer.from(deserializeMerkleTree(decoded.tree).root()).toString('hex')).toBe(
      Buffer.from(tree.root()).toString('hex'),
    );
  });

  it('reads snapshots of the first format (one JSON object, the tree as base64)', () => {
    const tree = treeOf(17);
    const legacy = Buffer.from(
      JSON.stringify({ ...state, tree: Buffer.from(tree.serialize()).toString('base64') }),
    );
    const decoded = decodeSnapshotExtra(new Uint8Array(legacy));
    expect(decoded.logPosition).toBe(42);
    expect(deserializeMerkleTree(decoded.tree).size()).toBe(17);
  });

  it('refuses damaged state with SNAPSHOT_E_CORRUPT', () => {
    const bytes = encodeSnapshotExtra({ ...state, tree: treeOf(3).serialize() });
    const truncated = bytes.subarray(0, 10);
    expect(() => decodeSnapshotExtra(truncated)).toThrow(
      expect.objectContaining({ code: 'SNAPSHOT_E_CORRUPT' }),
    );
    expect(() => decodeSnapshotExtra(new Uint8Array(Buffer.from('not json')))).toThrow(
      expect.objectContaining({ code: 'SNAPSHOT_E_CORRUPT' }),
    );
  });
});
