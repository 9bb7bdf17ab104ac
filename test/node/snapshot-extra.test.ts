// The engine's snapshot state: the replay window and the Merkle tree as raw bytes after a JSON
// header (one copy of each in memory), the earlier formats (replay window inside the JSON; tree
// as base64 inside JSON) still read, damage refused with the snapshot code, and the state
// digest of a commit point computed from the window's entries one at a time.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMerkleTree, deserializeMerkleTree, leafHash } from '../../src/ledger/merkle.js';
import { createReplayWindow } from '../../src/ledger/replay.js';
import { ledgerSecretFromBytes } from '../../src/ledger/secret.js';
import { encodeSnapshot } from '../../src/ledger/snapshot.js';
import { createStore } from '../../src/ledger/store.js';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import { stateDigest } from '../../src/node/snapshot-evidence.js';
import { decodeSnapshotExtra, encodeSnapshotExtra } from '../../src/node/snapshot-extra.js';

/** encodeSnapshotExtra's parts joined: the bytes a snapshot holds. */
const encoded = (...args: Parameters<typeof encodeSnapshotExtra>): Uint8Array =>
  new Uint8Array(Buffer.concat(encodeSnapshotExtra(...args)));

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
  it('round-trips, with the tree and the replay window as raw bytes (not inside JSON)', () => {
    const tree = treeOf(1000);
    const bytes = encoded({ ...state, tree: tree.serialize() });
    expect(Buffer.from(bytes.subarray(0, 4)).toString('latin1')).toBe('CFX3');
    // Header, one 41-byte replay entry and the tree bytes, nothing more (no base64).
    expect(bytes.byteLength).toBeLessThan(tree.serialize().byteLength + 41 + 400);
    const decoded = decodeSnapshotExtra(bytes);
    expect({ ...decoded, tree: undefined }).toEqual({ ...state, tree: undefined });
    expect(Buffer.from(deserializeMerkleTree(decoded.tree).root()).toString('hex')).toBe(
      Buffer.from(tree.root()).toString('hex'),
    );
  });

  it('keeps a large window in 41 bytes an id, any id exactly, from the window itself', () => {
    const window = createReplayWindow();
    for (let n = 0; n < 5000; n += 1) {
      window.add(createHash('sha256').update(`tx ${n}`).digest('hex'), 1_800_000_000_000 + (n % 7));
    }
    for (const odd of ['not-hex', 'AB'.repeat(32), '', 'é'.repeat(300)]) window.add(odd, 1);
    const tree = treeOf(3);
    const bytes = encoded({
      ...state,
      replay: window.sortedEntries(),
      tree: tree.serialize(),
    });
    const oddBytes = [7, 64, 0, 600].reduce((sum, n) => sum + 1 + 2 + n + 8, 0);
    expect(bytes.byteLength).toBeLessThan(5000 * 41 + oddBytes + tree.serialize().byteLength + 400);
    const decoded = decodeSnapshotExtra(bytes);
    expect(decoded.replay).toEqual(window.entries());
    expect(createReplayWindow(decoded.replay).entries()).toEqual(window.entries());
    // Read without strings (forEachSorted, as the engine does): the same bytes.
    const direct = encoded({ ...state, replay: window, tree: tree.serialize() });
    expect(Buffer.from(direct).equals(Buffer.from(bytes))).toBe(true);
  });

  it('reads the window without strings in the same order as its entries, raw ids as text', () => {
    const window = createReplayWindow();
    const ids = ['cd'.repeat(32), 'ab'.repeat(32), 'raw id', 'ef'.repeat(32)];
    ids.forEach((id, n) => window.add(id, 1_000 + (n % 2)));
    const seen: [string, number][] = [];
    window.forEachSorted((id, raw, expiresAt) => {
      seen.push([raw ?? id.toString('hex'), expiresAt]);
    });
    expect(seen).toEqual(window.entries());
    expect(() => {
      window.forEachSorted(() => {
        window.add('12'.repeat(32), 5);
      });
    }).toThrow('changed while it was being read');
  });

  it('is written into a snapshot from its parts, as the same bytes as joined', () => {
    const store = createStore();
    store.apply([{ map: 'public:a', key: 'k', value: 'v' }], 1);
    const secret = ledgerSecretFromBytes(new Uint8Array(32).fill(5));
    const parts = encodeSnapshotExtra({ ...state, tree: treeOf(40).serialize() });
    expect(parts.length).toBeGreaterThan(1);
    const fromParts = encodeSnapshot({ seqno: 2, store, extra: parts, secret });
    const fromJoined = encodeSnapshot({ seqno: 2, store, extra: Buffer.concat(parts), secret });
    expect(Buffer.from(fromParts).equals(Buffer.from(fromJoined))).toBe(true);
  });

  it('reads the CFX2 format (the replay window inside the JSON header)', () => {
    const tree = treeOf(5);
    const json = Buffer.from(JSON.stringify(state)); // CFX2's header held the replay window
    const length = Buffer.alloc(4);
    length.writeUInt32BE(json.byteLength);
    const v2 = Buffer.concat([Buffer.from('CFX2', 'latin1'), length, json, tree.serialize()]);
    const decoded = decodeSnapshotExtra(new Uint8Array(v2));
    expect(decoded.replay).toEqual(state.replay);
    expect(deserializeMerkleTree(decoded.tree).size()).toBe(5);
  });

  it('computes the state digest from the window one entry at a time, as from the list', () => {
    const window = createReplayWindow();
    for (let n = 0; n < 30_000; n += 1) {
      window.add(createHash('sha256').update(`tx ${n}`).digest('hex'), 1_000 + (n % 11));
    }
    // Ids that are not transaction ids, and times whose text has a point or an exponent.
    window.add('not-hex', 1_000.5);
    window.add('AB'.repeat(32), 1e21);
    window.add('é'.repeat(40), 2);
    window.add('cd'.repeat(32), 1e21);
    window.add('ef'.repeat(32), 0.25);
    const digests = { publicSha256: new Uint8Array(32), privateSha256: new Uint8Array(32).fill(1) };
    // The definition (decision 0027): SHA-256 over "txId\nexpiresAt\n" of every entry in order.
    const replay = createHash('sha256');
    for (const [txId, at] of window.entries()) replay.update(`${txId}\n${at}\n`);
    const expected = createHash('sha256')
      .update(
        canonicalBytes({
          version: 1,
          seqno: 7,
          public: '00'.repeat(32),
          private: '01'.repeat(32),
          logPosition: 3,
          time: 9,
          replay: replay.digest('hex'),
          replayEntries: 30_005,
        }),
      )
      .digest('hex');
    const state = { logPosition: 3, time: 9 };
    expect(stateDigest(7, digests, { ...state, replay: window.sortedEntries() })).toBe(expected);
    expect(stateDigest(7, digests, { ...state, replay: window.entries() })).toBe(expected);
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
    const bytes = encoded({ ...state, tree: treeOf(3).serialize() });
    const truncated = bytes.subarray(0, 10);
    expect(() => decodeSnapshotExtra(truncated)).toThrow(
      expect.objectContaining({ code: 'SNAPSHOT_E_CORRUPT' }),
    );
    expect(() => decodeSnapshotExtra(new Uint8Array(Buffer.from('not json')))).toThrow(
      expect.objectContaining({ code: 'SNAPSHOT_E_CORRUPT' }),
    );
    // A replay entry with an unknown tag, or cut short.
    const header = Buffer.from(JSON.stringify({ ...state, replay: undefined }));
    const u32 = (n: number) => {
      const out = Buffer.alloc(4);
      out.writeUInt32BE(n);
      return out;
    };
    for (const entry of [
      Buffer.from([2, 0, 0]),
      Buffer.from([0, 1, 2, 3]),
      Buffer.from([1, 0, 9, 65]),
    ]) {
      const damaged = Buffer.concat([
        Buffer.from('CFX3', 'latin1'),
        u32(header.byteLength),
        header,
        u32(entry.byteLength),
        entry,
      ]);
      expect(() => decodeSnapshotExtra(new Uint8Array(damaged))).toThrow(
        expect.objectContaining({ code: 'SNAPSHOT_E_CORRUPT' }),
      );
    }
  });
});
