// What the engine keeps in a snapshot beside the KV store: positions, the last signed root, the
// replay window and the Merkle tree. The tree and the replay window are the large parts (34
// bytes per leaf; 41 bytes per id of the last two minutes), so both are stored as raw bytes
// after a small JSON header, not inside JSON: a snapshot of a million-entry ledger then needs
// one copy of each in memory.
//
//   "CFX3" | u32 JSON header length | JSON header (UTF-8)
//          | u32 replay bytes | replay entries | tree state (MerkleTree.serialize)
//
// A replay entry is u8 0, the 32 bytes of a transaction id (64 lowercase hex digits), f64
// expiresAt; or u8 1, u16 length, the UTF-8 bytes of any other id, f64 expiresAt.
// Snapshots written before this format are still read: "CFX2" (the replay window inside the
// JSON header) and the first format (one JSON object, the tree as base64).
import { cofferError } from '../errors/index.js';
import type { SignedRoot } from '../ledger/receipt.js';
import type { ReplayWindow } from '../ledger/replay.js';
import { transactionIdPattern } from '../ledger/tx.js';

export type SnapshotExtra = {
  readonly logPosition: number;
  readonly time: number;
  readonly lastMarkerSeqno: number;
  readonly lastMarkerTime: number;
  readonly signedRoot: SignedRoot | null;
  /**
   * The newest commit point whose evidence entry came before this snapshot (decision 0038);
   * absent in snapshots written before it. This node's own record, not part of any digest.
   */
  readonly evidencedSnapshotSeqno?: number;
  readonly replay: readonly (readonly [string, number])[];
  /** MerkleTree.serialize() */
  readonly tree: Uint8Array;
};

/**
 * What encodeSnapshotExtra takes: the replay entries in order, or the window itself (read with
 * `forEachSorted`, without making a string for each id).
 */
export type SnapshotExtraInput = Omit<SnapshotExtra, 'replay' | 'tree'> & {
  readonly replay:
    Iterable<readonly [string, number]> | Pick<ReplayWindow, 'forEachSorted' | 'size'>;
  /** MerkleTree.serialize(), or its bytes as parts in order (frozenTreeParts). */
  readonly tree: Uint8Array | readonly Uint8Array[];
};

const magic = Buffer.from('CFX3', 'latin1');
const magicV2 = Buffer.from('CFX2', 'latin1');
/** Bytes of a replay entry with a transaction id: tag, id, expiresAt. */
const idEntryBytes = 1 + 32 + 8;
const noId = Buffer.alloc(0);

function encodeReplay(
  replay: Iterable<readonly [string, number]> | Pick<ReplayWindow, 'forEachSorted' | 'size'>,
): Buffer {
  // Room for every entry of a window at once (ids that are not transaction ids may need more).
  let out = Buffer.allocUnsafe(
    ('size' in replay ? Math.max(64, replay.size()) : 64) * idEntryBytes,
  );
  let length = 0;
  const room = (bytes: number): void => {
    if (length + bytes <= out.byteLength) return;
    const grown = Buffer.allocUnsafe(Math.max(out.byteLength * 2, length + bytes));
    out.copy(grown, 0, 0, length);
    out = grown;
  };
  const put = (id: Buffer, raw: string | undefined, expiresAt: number): void => {
    if (raw === undefined) {
      room(idEntryBytes);
      out[length] = 0;
      out.set(id, length + 1);
      length += 33;
    } else {
      const text = Buffer.from(raw, 'utf8');
      if (text.byteLength > 0xffff) throw new Error(`replay id of ${text.byteLength} bytes`);
      room(3 + text.byteLength + 8);
      out[length] = 1;
      out.writeUInt16BE(text.byteLength, length + 1);
      text.copy(out, length + 3);
      length += 3 + text.byteLength;
    }
    out.writeDoubleBE(expiresAt, length);
    length += 8;
  };
  if ('forEachSorted' in replay) {
    // The window holds a transaction id as its 32 bytes exactly when transactionIdPattern
    // matches its text (replay.ts): the same bytes as from its entries.
    replay.forEachSorted(put);
  } else {
    for (const [txId, expiresAt] of replay) {
      if (transactionIdPattern.test(txId)) put(Buffer.from(txId, 'hex'), undefined, expiresAt);
      else put(noId, txId, expiresAt);
    }
  }
  return out.subarray(0, length);
}

function decodeReplay(bytes: Buffer): [string, number][] {
  const entries: [string, number][] = [];
  for (let at = 0; at < bytes.byteLength;) {
    const tag = bytes[at];
    let txId: string;
    if (tag === 0 && at + idEntryBytes <= bytes.byteLength) {
      txId = bytes.toString('hex', at + 1, at + 33);
      at += 33;
    } else if (tag === 1 && at + 3 <= bytes.byteLength) {
      const idBytes = bytes.readUInt16BE(at + 1);
      if (at + 3 + idBytes + 8 > bytes.byteLength) throw malformed('has a cut replay entry');
      txId = bytes.toString('utf8', at + 3, at + 3 + idBytes);
      at += 3 + idBytes;
    } else {
      throw malformed(`has a bad replay entry at byte ${at}`);
    }
    entries.push([txId, bytes.readDoubleBE(at)]);
    at += 8;
  }
  return entries;
}

/**
 * The engine state's bytes as parts in order (the tree and the replay window are not copied
 * into one more buffer: at a million entries they are tens of MB). Join them for one buffer.
 */
export function encodeSnapshotExtra(extra: SnapshotExtraInput): Uint8Array[] {
  const { tree, replay, ...rest } = extra;
  const header = Buffer.from(JSON.stringify(rest), 'utf8');
  const replayBytes = encodeReplay(replay);
  const u32 = (value: number): Buffer => {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(value);
    return out;
  };
  return [
    magic,
    u32(header.byteLength),
    header,
    u32(replayBytes.byteLength),
    replayBytes,
    ...(tree instanceof Uint8Array ? [tree] : tree),
  ];
}

function malformed(what: string): Error {
  return cofferError('SNAPSHOT_E_CORRUPT', `snapshot engine state ${what}`, {
    reason: 'engine-state',
  });
}

export function decodeSnapshotExtra(bytes: Uint8Array): SnapshotExtra {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const head = buffer.subarray(0, magic.byteLength);
  const version = head.equals(magic) ? 3 : head.equals(magicV2) ? 2 : undefined;
  if (version !== undefined && buffer.byteLength >= magic.byteLength + 4) {
    const length = buffer.readUInt32BE(magic.byteLength);
    const start = magic.byteLength + 4;
    if (start + length > buffer.byteLength) throw malformed('has a header longer than itself');
    let header: Omit<SnapshotExtra, 'tree'>;
    try {
      header = JSON.parse(buffer.subarray(start, start + length).toString('utf8')) as typeof header;
    } catch {
      throw malformed('has a header that is not JSON');
    }
    if (version === 2) return { ...header, tree: new Uint8Array(buffer.subarray(start + length)) };
    const replayStart = start + length + 4;
    if (replayStart > buffer.byteLength) throw malformed('has no replay window');
    const replayEnd = replayStart + buffer.readUInt32BE(start + length);
    if (replayEnd > buffer.byteLength) throw malformed('has a replay window longer than itself');
    return {
      ...header,
      replay: decodeReplay(buffer.subarray(replayStart, replayEnd)),
      tree: new Uint8Array(buffer.subarray(replayEnd)),
    };
  }
  // The first format: one JSON object, the tree as base64.
  let legacy: Omit<SnapshotExtra, 'tree'> & { tree?: unknown };
  try {
    legacy = JSON.parse(buffer.toString('utf8')) as typeof legacy;
  } catch {
    throw malformed('is neither the CFX3 or CFX2 format nor JSON');
  }
  if (typeof legacy.tree !== 'string') throw malformed('has no tree');
  return { ...legacy, tree: new Uint8Array(Buffer.from(legacy.tree, 'base64')) };
}
