// The ledger's Merkle tree: RFC 9162 §2.1 (the RFC 6962 tree) over SHA-256. Leaves are hashed
// as SHA-256(0x00 ‖ entry), interior nodes as SHA-256(0x01 ‖ left ‖ right), and a tree of n > 1
// leaves splits at the largest power of two below n (§2.1.1).
//
// The tree keeps the leaves and the complete subtrees of 32 leaves and more: level k holds the
// hashes of the floor(n / 2^k) aligned subtrees of 2^k leaves for k = 0 and k > derivedLevels;
// levels 1 to derivedLevels are hashed again from the leaves when a proof needs them (at most
// 15 hashes each). An append still hashes once on average, and memory is about 34 bytes per
// leaf instead of 64 (levels are chunked Buffers, never arrays of small Uint8Arrays). A proof or
// root at the current size is O(log n) look-ups plus at most 26 hashes (the right spine is
// cached until the next append); at an earlier size it adds one fold of at most log n hashes
// along that size's right spine.
//
// The leaves are the one part that grows by 32 bytes a transaction for ever. A tree given a
// LeafSpill (decision 0034) writes each full chunk of leaves there once the newer ones fill,
// keeps only the newest chunks in memory, and reads a spilled run of leaves back (at most
// 2^(derivedLevels+1) hashes, one read) when a proof, the verification or a snapshot needs it.
import { createHash, hash as oneShotHash } from 'node:crypto';
import { cofferError } from '../errors/index.js';

/** Bytes of a SHA-256 hash: every leaf, node and root. */
export const hashBytes = 32;
/** Most leaves a tree holds: sizes and indexes stay exact JavaScript integers. */
export const treeSizeMax = Number.MAX_SAFE_INTEGER;
/** Longest inclusion proof accepted: a tree of at most 2^53 leaves needs at most 53 hashes. */
export const inclusionProofHashesMax = 64;
/** Longest consistency proof accepted: at most 2 × 53 hashes for trees below 2^53 leaves. */
export const consistencyProofHashesMax = 128;
/** Hashes per storage chunk of a level (16 384 × 32 bytes = 512 KiB). */
export const chunkHashesMax = 1 << 14;
/** Hashes in the first, growing, chunk of a level when it is created. */
const chunkHashesInitial = 16;
/**
 * Levels above the leaves that are not stored but hashed again from the leaves when needed:
 * 4 saves 30 of every 32 interior hashes (30 MB at a million leaves) for at most 15 hashes per
 * subtree looked up.
 */
export const derivedLevels = 4;
/** Leaves under one node of the lowest stored interior level. */
const storedSpan = 2 ** (derivedLevels + 1);

const leafPrefix = Buffer.of(0x00);
/** MTH({}) = SHA-256 of the empty string (RFC 9162 §2.1.1). */
const emptyRootBytes = createHash('sha256').digest();

/** The root of the empty tree: SHA-256 of the empty string. A fresh copy each call. */
export function emptyRoot(): Uint8Array {
  return new Uint8Array(emptyRootBytes);
}

/** RFC 9162 §2.1.1: MTH({d(0)}) = HASH(0x00 ‖ d(0)). */
export function leafHash(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(leafPrefix).update(data).digest());
}

/** Scratch for 0x01 ‖ left ‖ right: one copy and a one-shot hash beat an incremental hash. */
const nodeInput = Buffer.alloc(1 + 2 * hashBytes);
nodeInput[0] = 0x01;

/** RFC 9162 §2.1.1: HASH(0x01 ‖ left ‖ right). */
function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  nodeInput.set(left, 1);
  nodeInput.set(right, 1 + hashBytes);
  return oneShotHash('sha256', nodeInput, 'buffer');
}

/** `nodeHash` as a public, copying function, for callers that fold proofs themselves. */
export function interiorHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  assertHash(left, 'left');
  assertHash(right, 'right');
  return new Uint8Array(nodeHash(left, right));
}

function assertHash(value: Uint8Array, what: string): void {
  if (!(value instanceof Uint8Array) || value.byteLength !== hashBytes) {
    throw cofferError(
      'LEDGER_E_MERKLE_HASH',
      `${what} must be a ${hashBytes}-byte SHA-256 hash, got ${describe(value)}`,
      { what },
    );
  }
}

function describe(value: unknown): string {
  return value instanceof Uint8Array ? `${value.byteLength} bytes` : typeof value;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

function isSize(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Largest power of two strictly below n, for n ≥ 2 (RFC 9162 §2.1.1's k). Exact up to 2^53. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function isPowerOfTwo(n: number): boolean {
  return n > 0 && splitPoint(n + 1) === n;
}

/** log2 of a power of two ≤ 2^53, exactly. */
function log2Exact(n: number): number {
  let level = 0;
  for (let size = 1; size < n; size *= 2) level += 1;
  return level;
}

// ---- storage ----------------------------------------------------------------------------------

/**
 * Where a tree keeps the full chunks of leaves it lets go of (decision 0034): chunk number
 * `chunk` holds leaves chunk × chunkHashesMax onward, chunkHashesMax of them. Its contents can
 * always be rebuilt (from a snapshot and the ledger), so it needs no durability of its own.
 */
export type LeafSpill = {
  /** Stores full chunk `chunk`; false when it could not (the tree keeps it in memory). */
  readonly write: (chunk: number, hashes: Uint8Array) => boolean;
  /** `length` bytes from byte `offset` of chunk `chunk`, as written (throws when it cannot). */
  readonly read: (chunk: number, offset: number, length: number) => Buffer;
};

export type MerkleTreeOptions = {
  /** Where full chunks of leaves go once newer ones fill; none: every leaf stays in memory. */
  readonly spill?: LeafSpill;
  /** Full chunks of leaves kept in memory besides the one filling, with a spill. */
  readonly leafChunksInMemory?: number;
};

/**
 * Full chunks of leaves a tree with a spill keeps in memory besides the one filling: receipts
 * for the latest 16 384 to 32 768 transactions hash in memory alone.
 */
export const leafChunksInMemoryDefault = 1;

/**
 * One level of complete subtree hashes: full chunks of `chunkHashesMax`, the last growing.
 * Only the leaves (level 0) have a spill; a spilled chunk is null.
 */
type Level = { chunks: (Buffer | null)[]; count: number; spill?: LeafSpill };

/** Whether level `level` is stored (the leaves, and the levels above derivedLevels). */
function isStored(level: number): boolean {
  return level === 0 || level > derivedLevels;
}

/** `count` hashes from `index` on, within one chunk: a view in memory, or read from the spill. */
function runAt(level: Level, index: number, count: number): Buffer {
  const chunkIndex = Math.floor(index / chunkHashesMax);
  const chunk = level.chunks[chunkIndex];
  const first = index % chunkHashesMax;
  if (chunk === undefined || index + count > level.count || first + count > chunkHashesMax) {
    throw new Error(`merkle: level read of ${count} at ${index} beyond ${level.count} (a bug)`);
  }
  const offset = first * hashBytes;
  if (chunk !== null) return chunk.subarray(offset, offset + count * hashBytes);
  if (level.spill === undefined) return fail(`chunk ${chunkIndex} spilled without a spill`);
  return level.spill.read(chunkIndex, offset, count * hashBytes);
}

function levelAt(level: Level, index: number): Buffer {
  return runAt(level, index, 1);
}

/**
 * Hash of the complete, aligned subtree of 2^level leaves number `index`, from the leaves alone
 * (2^level - 1 hashes, its leaves read at once): for the levels that are not stored, and to
 * check the stored ones.
 */
function fromLeaves(leaves: Level, level: number, index: number): Buffer {
  const width = 2 ** level;
  const run = runAt(leaves, index * width, width);
  let row: Buffer[] = [];
  for (let at = 0; at < width; at += 1)
    row.push(run.subarray(at * hashBytes, (at + 1) * hashBytes));
  while (row.length > 1) {
    const parents: Buffer[] = [];
    for (let at = 0; at < row.length; at += 2) {
      parents.push(nodeHash(row[at] ?? fail('row'), row[at + 1] ?? fail('row')));
    }
    row = parents;
  }
  return row[0] ?? fail('empty row');
}

function levelPush(level: Level, hash: Uint8Array): void {
  const chunkIndex = Math.floor(level.count / chunkHashesMax);
  const slot = level.count % chunkHashesMax;
  let chunk = level.chunks[chunkIndex];
  if (chunk === null) return fail(`chunk ${chunkIndex} is filling and spilled`);
  if (chunk === undefined) {
    // A first chunk starts small and doubles (small trees stay small); later chunks are full size.
    chunk = Buffer.alloc((chunkIndex === 0 ? chunkHashesInitial : chunkHashesMax) * hashBytes);
    level.chunks.push(chunk);
  } else if ((slot + 1) * hashBytes > chunk.byteLength) {
    const grown = Buffer.alloc(Math.min(chunk.byteLength * 2, chunkHashesMax * hashBytes));
    chunk.copy(grown);
    chunk = grown;
    level.chunks[chunkIndex] = grown;
  }
  chunk.set(hash, slot * hashBytes);
  level.count += 1;
}

// ---- the tree ---------------------------------------------------------------------------------

export type MerkleTree = {
  /** Appends a leaf hash (from `leafHash(entry)`); returns its index (seqno - 1). */
  readonly append: (leafHash: Uint8Array) => number;
  /** Number of leaves. */
  readonly size: () => number;
  /** The leaf hash at `index` (a copy). */
  readonly leaf: (index: number) => Uint8Array;
  /** MTH of the first `size` leaves (default: all); any size up to the current one. */
  readonly root: (size?: number) => Uint8Array;
  /** RFC 9162 §2.1.3.1 PATH(index, D[0:size]), leaf side first (default size: all leaves). */
  readonly inclusionProof: (index: number, size?: number) => Uint8Array[];
  /** RFC 9162 §2.1.4.1 PROOF(oldSize, D[0:newSize]) (default newSize: all leaves). */
  readonly consistencyProof: (oldSize: number, newSize?: number) => Uint8Array[];
  /**
   * The complete aligned subtrees of the first `size` leaves (default: all), largest first
   * (one per set bit of size): with `rootExtending`, the root after more leaves, computed
   * without changing this tree.
   */
  readonly frontier: (size?: number) => Uint8Array[];
  /**
   * The state for a snapshot: `deserializeMerkleTree` reads it back. `allocate` gives the
   * memory it is written into (e.g. shared memory for another thread); default a new buffer.
   */
  readonly serialize: (allocate?: (bytes: number) => Uint8Array) => Uint8Array;
  /**
   * serialize() without the leaves in the spill (decision 0042): they are final once written,
   * so whoever needs the whole state reads them from the spill itself (frozenTreeParts puts
   * them back), and this thread does not read them back to copy them.
   */
  readonly freeze: (allocate?: (bytes: number) => Uint8Array) => FrozenTree;
  /** Bytes the tree's hash storage holds in memory (capacity, not only what is used). */
  readonly storageBytes: () => number;
  /** Leaves in the spill, not in memory. */
  readonly spilledLeaves: () => number;
};

/**
 * Magic of a serialized tree: "CMT" + format version. Version 2 holds the stored levels only
 * (the leaves, then the levels above derivedLevels); version 1 (every level) is still read.
 */
const stateMagic = Buffer.from('CMT\x02', 'latin1');
const stateMagicV1 = Buffer.from('CMT\x01', 'latin1');
const stateHeaderBytes = stateMagic.byteLength + 8;

/**
 * A tree's serialized state with its first `spilledLeaves` leaves left out (MerkleTree.freeze):
 * those are the spill's first spilledLeaves × 32 bytes.
 */
export type FrozenTree = { readonly state: Uint8Array; readonly spilledLeaves: number };

/**
 * serialize()'s bytes as parts in order: the frozen state with `spilled`, the leaves it left
 * out, put back after its header.
 */
export function frozenTreeParts(frozen: FrozenTree, spilled: Uint8Array): Uint8Array[] {
  if (spilled.byteLength !== frozen.spilledLeaves * hashBytes) {
    throw new Error(
      `merkle: ${spilled.byteLength} bytes of spilled leaves given for ${frozen.spilledLeaves} leaves`,
    );
  }
  const { state } = frozen;
  return [state.subarray(0, stateHeaderBytes), spilled, state.subarray(stateHeaderBytes)];
}

function rangeError(message: string, details: Record<string, unknown>): Error {
  return cofferError('LEDGER_E_MERKLE_RANGE', message, details);
}

/** An empty tree. */
export function createMerkleTree(options: MerkleTreeOptions = {}): MerkleTree {
  return treeFromLevels([{ chunks: [], count: 0 }], options);
}

function treeFromLevels(levels: Level[], options: MerkleTreeOptions): MerkleTree {
  const level0 = (): Level => levels[0] ?? fail('level 0 is missing');
  const keepChunks = options.leafChunksInMemory ?? leafChunksInMemoryDefault;
  if (!Number.isSafeInteger(keepChunks) || keepChunks < 0) {
    throw new RangeError(`leafChunksInMemory must be a whole number, got ${keepChunks}`);
  }
  if (options.spill !== undefined) level0().spill = options.spill;
  /** Chunks of leaves below this one are spilled. */
  let spilledChunks = 0;

  /**
   * Writes the full chunks of leaves older than the newest keepChunks to the spill and lets
   * them go; a chunk the spill refuses (a full disk) stays, and is tried again at the next.
   */
  const spillOld = (): void => {
    const leaves = level0();
    if (leaves.spill === undefined) return;
    const last = Math.floor(leaves.count / chunkHashesMax) - keepChunks;
    for (; spilledChunks < last; spilledChunks += 1) {
      const chunk = leaves.chunks[spilledChunks];
      if (chunk === undefined || chunk === null) return fail('spilling a missing chunk');
      if (!leaves.spill.write(spilledChunks, chunk)) return;
      leaves.chunks[spilledChunks] = null;
    }
  };

  const size = (): number => level0().count;
  /** Right-spine hashes MTH(D[start:spineSize]) by start, valid while the size is spineSize. */
  const spine = new Map<number, Buffer>();
  let spineSize = -1;

  /**
   * Hash of the complete, aligned subtree of 2^level leaves number `index`: a view of a stored
   * level, or hashed again from the leaves for levels 1 to derivedLevels.
   */
  const complete = (level: number, index: number): Buffer => {
    // Levels 1 to derivedLevels are not stored, so the leaves are the stored level below them.
    if (!isStored(level)) return fromLeaves(level0(), level, index);
    const stored = levels[level];
    if (stored === undefined) return fail(`level ${level} is missing`);
    return levelAt(stored, index);
  };

  /**
   * MTH(D[start:end]) for a node of the RFC tree: `start` is aligned to the smallest power of
   * two ≥ end - start, so the range is its complete subtrees, largest first, folded right to
   * left (the right spine). O(log n) hashes; a complete subtree is one look-up.
   */
  const rangeHash = (start: number, end: number): Buffer => {
    const width = end - start;
    if (isPowerOfTwo(width)) return complete(log2Exact(width), start / width);
    // Ranges that end at the current size are the right spine, shared by every proof and by
    // root(): remember them (at most one per level) until the next append.
    const onSpine = end === size();
    if (onSpine) {
      if (spineSize !== end) {
        spine.clear();
        spineSize = end;
      }
      const known = spine.get(start);
      if (known !== undefined) return known;
    }
    const blocks: { readonly start: number; readonly hash: Buffer }[] = [];
    let offset = start;
    let remaining = width;
    while (remaining > 0) {
      const block = splitPoint(remaining + 1);
      blocks.push({ start: offset, hash: complete(log2Exact(block), offset / block) });
      offset += block;
      remaining -= block;
    }
    let acc = (blocks.pop() ?? fail('empty range')).hash;
    for (let next = blocks.pop(); next !== undefined; next = blocks.pop()) {
      acc = nodeHash(next.hash, acc);
      if (onSpine) spine.set(next.start, acc);
    }
    return acc;
  };

  const checkSize = (value: unknown, what: string): number => {
    if (!isSize(value) || value > size()) {
      throw rangeError(`${what} must be an integer from 0 to the tree size ${size()}`, {
        [what]: value,
        treeSize: size(),
      });
    }
    return value;
  };

  const append = (hash: Uint8Array): number => {
    assertHash(hash, 'leaf hash');
    const index = size();
    if (index >= treeSizeMax) {
      throw rangeError(`the tree is full (${treeSizeMax} leaves)`, { treeSize: index });
    }
    levelPush(level0(), hash);
    if ((index + 1) % chunkHashesMax === 0) spillOld();
    if ((index + 1) % storedSpan !== 0) return index;
    // Every storedSpan leaves complete a node of the lowest stored interior level; then each
    // time a level's count becomes even, its last two hashes complete a parent.
    let level = derivedLevels + 1;
    const span = (index + 1) / storedSpan - 1;
    let node = nodeHash(complete(derivedLevels, 2 * span), complete(derivedLevels, 2 * span + 1));
    for (;;) {
      while (levels.length <= level) levels.push({ chunks: [], count: 0 });
      const stored = levels[level] ?? fail(`level ${level} is missing`);
      levelPush(stored, node);
      if (stored.count % 2 !== 0) return index;
      node = nodeHash(levelAt(stored, stored.count - 2), levelAt(stored, stored.count - 1));
      level += 1;
    }
  };

  const leaf = (index: number): Uint8Array => {
    if (!isSize(index) || index >= size()) {
      throw rangeError(`leaf index must be an integer below the tree size ${size()}`, {
        index,
        treeSize: size(),
      });
    }
    return new Uint8Array(levelAt(level0(), index));
  };

  const root = (treeSize?: number): Uint8Array => {
    const n = checkSize(treeSize ?? size(), 'size');
    return n === 0 ? emptyRoot() : new Uint8Array(rangeHash(0, n));
  };

  const inclusionProof = (index: number, treeSize?: number): Uint8Array[] => {
    const n = checkSize(treeSize ?? size(), 'size');
    if (!isSize(index) || index >= n) {
      throw rangeError(`leaf index must be an integer below the tree size ${n}`, {
        index,
        treeSize: n,
      });
    }
    // PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])  or  PATH(m - k, D[k:n]) : MTH(D[0:k]).
    const topDown: Uint8Array[] = [];
    let start = 0;
    let end = n;
    while (end - start > 1) {
      const k = splitPoint(end - start);
      if (index < start + k) {
        topDown.push(new Uint8Array(rangeHash(start + k, end)));
        end = start + k;
      } else {
        topDown.push(new Uint8Array(rangeHash(start, start + k)));
        start += k;
      }
    }
    return topDown.reverse();
  };

  const consistencyProof = (oldSize: number, newSize?: number): Uint8Array[] => {
    const n = checkSize(newSize ?? size(), 'newSize');
    if (!isSize(oldSize) || oldSize > n) {
      throw rangeError(`oldSize must be an integer from 0 to newSize ${n}`, {
        oldSize,
        newSize: n,
      });
    }
    // PROOF(m, D[n]) = SUBPROOF(m, D[n], true); nothing to prove for m = 0 or m = n.
    if (oldSize === 0 || oldSize === n) return [];
    const topDown: Uint8Array[] = [];
    let start = 0;
    let end = n;
    let whole = true;
    for (;;) {
      if (oldSize === end) {
        // SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
        if (!whole) topDown.push(new Uint8Array(rangeHash(start, end)));
        break;
      }
      const k = splitPoint(end - start);
      if (oldSize - start <= k) {
        topDown.push(new Uint8Array(rangeHash(start + k, end)));
        end = start + k;
      } else {
        topDown.push(new Uint8Array(rangeHash(start, start + k)));
        start += k;
        whole = false;
      }
    }
    return topDown.reverse();
  };

  const frontier = (treeSize?: number): Uint8Array[] => {
    const n = checkSize(treeSize ?? size(), 'size');
    const hashes: Uint8Array[] = [];
    let start = 0;
    for (let level = Math.floor(Math.log2(Math.max(n, 1))); level >= 0; level -= 1) {
      const width = 2 ** level;
      if (n - start >= width) {
        hashes.push(new Uint8Array(complete(level, start / width)));
        start += width;
      }
    }
    return hashes;
  };

  /** The serialized state without its first `leftOut` leaves (a whole number of chunks). */
  const serializeWithout = (
    leftOut: number,
    allocate?: (bytes: number) => Uint8Array,
  ): Uint8Array => {
    const n = size();
    const stored = levels.filter((_, level) => isStored(level));
    let hashes = -leftOut;
    for (const level of stored) hashes += level.count;
    const bytes = stateHeaderBytes + hashes * hashBytes;
    const into = allocate?.(bytes);
    if (into !== undefined && into.byteLength !== bytes) {
      throw new Error(`serialize: ${into.byteLength} bytes given for ${bytes}`);
    }
    const out =
      into === undefined
        ? Buffer.alloc(bytes)
        : Buffer.from(into.buffer, into.byteOffset, into.byteLength);
    stateMagic.copy(out, 0);
    out.writeBigUInt64BE(BigInt(n), stateMagic.byteLength);
    let offset = stateHeaderBytes;
    for (const level of stored) {
      let left = level.count;
      level.chunks.forEach((chunk, index) => {
        const take = Math.min(left, chunkHashesMax);
        if (level === level0() && index * chunkHashesMax < leftOut) {
          left -= take;
          return;
        }
        (chunk ?? runAt(level, index * chunkHashesMax, take)).copy(
          out,
          offset,
          0,
          take * hashBytes,
        );
        offset += take * hashBytes;
        left -= take;
      });
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };

  const serialize = (allocate?: (bytes: number) => Uint8Array): Uint8Array =>
    serializeWithout(0, allocate);

  const freeze = (allocate?: (bytes: number) => Uint8Array): FrozenTree => {
    const spilledLeaves = spilledChunks * chunkHashesMax;
    return { state: serializeWithout(spilledLeaves, allocate), spilledLeaves };
  };

  const storageBytes = (): number => {
    let bytes = 0;
    for (const level of levels) for (const chunk of level.chunks) bytes += chunk?.byteLength ?? 0;
    return bytes;
  };

  spillOld();

  return {
    append,
    size,
    leaf,
    root,
    inclusionProof,
    consistencyProof,
    frontier,
    serialize,
    freeze,
    storageBytes,
    spilledLeaves: () => spilledChunks * chunkHashesMax,
  };
}

function fail(what: string): never {
  throw new Error(`merkle: ${what} (a bug)`);
}

/** Counts of complete subtrees per level for n leaves: floor(n / 2^k) while positive. */
function levelCounts(n: number): number[] {
  const counts = [n];
  for (let count = Math.floor(n / 2); count > 0; count = Math.floor(count / 2)) counts.push(count);
  return counts;
}

/** The levels (by number) a serialized state holds in order, with their counts. */
function serializedLevels(n: number, version: 1 | 2): { level: number; count: number }[] {
  return levelCounts(n)
    .map((count, level) => ({ level, count }))
    .filter(({ level }) => version === 1 || isStored(level));
}

/**
 * The root of a tree of `size` leaves given by its frontier (`tree.frontier(size)`) after
 * appending `leafHashes`: how a node checks entries a peer sent against a signed root before
 * it takes them. Pure; O(leaves + log n) hashes.
 */
export function rootExtending(
  frontier: readonly Uint8Array[],
  size: number,
  leafHashes: readonly Uint8Array[],
): Uint8Array {
  if (!isSize(size) || size + leafHashes.length > treeSizeMax) {
    throw rangeError(`size must be an integer from 0 to ${treeSizeMax}`, { size });
  }
  // The frontier is one complete subtree per set bit of size, largest first.
  const peaks: { hash: Uint8Array; width: number }[] = [];
  let rest = size;
  for (const hash of frontier) {
    assertHash(hash, 'frontier hash');
    const width = rest === 0 ? 0 : 2 ** Math.floor(Math.log2(rest));
    if (width === 0) break;
    peaks.push({ hash, width });
    rest -= width;
  }
  if (rest !== 0 || peaks.length !== frontier.length) {
    throw rangeError(`a frontier of ${frontier.length} hashes does not match size ${size}`, {
      size,
      frontier: frontier.length,
    });
  }
  for (const hash of leafHashes) {
    assertHash(hash, 'leaf hash');
    let top = { hash, width: 1 };
    // Two neighbours of the same width are the two halves of an aligned subtree.
    for (let last = peaks.at(-1); last?.width === top.width; last = peaks.at(-1)) {
      peaks.pop();
      top = { hash: nodeHash(last.hash, top.hash), width: top.width * 2 };
    }
    peaks.push(top);
  }
  let acc = peaks.pop()?.hash;
  if (acc === undefined) return emptyRoot();
  for (let next = peaks.pop(); next !== undefined; next = peaks.pop()) {
    acc = nodeHash(next.hash, acc);
  }
  return new Uint8Array(acc);
}

/** A tree over the given leaf hashes (n × 32 bytes, in order), e.g. rebuilt from ledger files. */
export function fromLeafHashes(leafHashes: Uint8Array): MerkleTree {
  if (!(leafHashes instanceof Uint8Array) || leafHashes.byteLength % hashBytes !== 0) {
    throw cofferError(
      'LEDGER_E_MERKLE_HASH',
      `leaf hashes must be a multiple of ${hashBytes} bytes, got ${describe(leafHashes)}`,
    );
  }
  const tree = createMerkleTree();
  for (let offset = 0; offset < leafHashes.byteLength; offset += hashBytes) {
    tree.append(leafHashes.subarray(offset, offset + hashBytes));
  }
  return tree;
}

export type DeserializeOptions = MerkleTreeOptions & {
  /**
   * Recompute every interior hash from the leaves and compare (about one hash per leaf).
   * Default true; pass false only for state whose integrity is already checked (a snapshot
   * file with its own checksum whose root matches a signature entry).
   */
  readonly verify?: boolean;
};

function stateError(message: string, details: Record<string, unknown> = {}): Error {
  return cofferError('LEDGER_E_MERKLE_STATE', `Merkle tree state ${message}`, details);
}

/** Reads back `tree.serialize()` (either format). Refuses a wrong header, length or hash. */
export function deserializeMerkleTree(
  state: Uint8Array,
  options: DeserializeOptions = {},
): MerkleTree {
  if (!(state instanceof Uint8Array) || state.byteLength < stateHeaderBytes) {
    throw stateError(`is ${describe(state)}; shorter than its ${stateHeaderBytes}-byte header`);
  }
  const bytes = Buffer.from(state.buffer, state.byteOffset, state.byteLength);
  const magic = bytes.subarray(0, stateMagic.byteLength);
  const version = magic.equals(stateMagic) ? 2 : magic.equals(stateMagicV1) ? 1 : undefined;
  if (version === undefined) throw stateError('does not start with a CMT version 1 or 2 header');
  const sizeBig = bytes.readBigUInt64BE(stateMagic.byteLength);
  if (sizeBig > BigInt(treeSizeMax)) {
    throw stateError(`claims ${sizeBig} leaves, more than ${treeSizeMax}`);
  }
  const n = Number(sizeBig);
  const held = serializedLevels(n, version);
  const expected = stateHeaderBytes + held.reduce((sum, { count }) => sum + count, 0) * hashBytes;
  if (bytes.byteLength !== expected) {
    throw stateError(`for ${n} leaves must be ${expected} bytes, got ${bytes.byteLength}`, {
      treeSize: n,
    });
  }
  // Version 1's levels 1 to derivedLevels are skipped: they are hashed again when needed, and
  // the verification below checks the stored levels above them against the leaves.
  const levels: Level[] = [];
  let offset = stateHeaderBytes;
  for (const { level, count } of held) {
    if (!isStored(level)) {
      offset += count * hashBytes;
      continue;
    }
    while (levels.length < level) levels.push({ chunks: [], count: 0 });
    const chunks: Buffer[] = [];
    for (let done = 0; done < count; done += chunkHashesMax) {
      const take = Math.min(chunkHashesMax, count - done) * hashBytes;
      // Copies: the tree must not share memory with the caller's buffer.
      const chunk = Buffer.alloc(
        done === 0 && count < chunkHashesMax ? take : chunkHashesMax * hashBytes,
      );
      bytes.copy(chunk, 0, offset, offset + take);
      chunks.push(chunk);
      offset += take;
    }
    levels.push({ chunks, count });
  }
  if (levels.length === 0) levels.push({ chunks: [], count: 0 });
  // Checked before the tree exists, so nothing is spilled before it verifies.
  if (options.verify !== false) {
    // The lowest stored interior level from the leaves (storedSpan - 1 hashes per node), each
    // level above from the one below: about one hash per leaf in all.
    const check = (level: number, index: number, recomputed: Buffer): void => {
      const stored = levels[level] ?? fail('level missing');
      if (!recomputed.equals(levelAt(stored, index))) {
        throw stateError(`has a wrong hash at level ${level}, index ${index}`, { level, index });
      }
    };
    const leaves = levels[0] ?? fail('level missing');
    for (let level = derivedLevels + 1; level < levels.length; level += 1) {
      const stored = levels[level] ?? fail('level missing');
      const below = levels[level - 1] ?? fail('level missing');
      for (let index = 0; index < stored.count; index += 1) {
        check(
          level,
          index,
          isStored(level - 1)
            ? nodeHash(levelAt(below, 2 * index), levelAt(below, 2 * index + 1))
            : fromLeaves(leaves, level, index),
        );
      }
    }
  }
  return treeFromLevels(levels, options);
}

// ---- verification (pure, RFC 9162) ------------------------------------------------------------

function validHash(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array && value.byteLength === hashBytes;
}

/**
 * RFC 9162 §2.1.3.2: the root that `proof` leads to from `leafHash` at `index` in a tree of
 * `treeSize` leaves, or undefined when the proof cannot be valid for those numbers (index not
 * below the size, a proof too short or too long, an element that is not 32 bytes).
 */
export function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
): Uint8Array | undefined {
  // 1. leaf_index must be below tree_size.
  if (!isSize(index) || !isSize(treeSize) || index >= treeSize) return undefined;
  if (!validHash(leaf) || !Array.isArray(proof) || proof.length > inclusionProofHashesMax) {
    return undefined;
  }
  // 2. fn = leaf_index, sn = tree_size - 1; 3. r = hash.
  let fn = index;
  let sn = treeSize - 1;
  let r: Uint8Array = leaf;
  // 4. For each p in inclusion_path:
  for (const p of proof) {
    if (!validHash(p)) return undefined;
    // a. If sn is 0, stop and fail.
    if (sn === 0) return undefined;
    // b. If LSB(fn) is set, or fn = sn: r = HASH(0x01 ‖ p ‖ r), then, if LSB(fn) is not set,
    //    right-shift fn and sn until LSB(fn) is set or fn is 0. Otherwise r = HASH(0x01 ‖ r ‖ p).
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    // c. Right-shift fn and sn one time.
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 5. sn must be 0 (the path reached the root).
  return sn === 0 ? new Uint8Array(r) : undefined;
}

/** RFC 9162 §2.1.3.2: does `proof` prove `leafHash` at `index` in the tree of `treeSize`? */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  if (!validHash(root)) return false;
  const computed = rootFromInclusionProof(leaf, index, treeSize, proof);
  return computed !== undefined && bytesEqual(computed, root);
}

/**
 * RFC 9162 §2.1.4.2: does `proof` show the tree of `oldSize` leaves with root `oldRoot` is a
 * prefix of the tree of `newSize` leaves with root `newRoot`? The RFC's algorithm covers
 * 0 < oldSize < newSize; as RFC 9162 §2.1.4.1 defines PROOF(n, D[n]) = {} and the empty tree is
 * a prefix of every tree, equal sizes need equal roots and an empty proof, and oldSize 0 needs
 * the empty-tree root and an empty proof.
 */
export function verifyConsistency(
  oldSize: number,
  newSize: number,
  proof: readonly Uint8Array[],
  oldRoot: Uint8Array,
  newRoot: Uint8Array,
): boolean {
  if (!isSize(oldSize) || !isSize(newSize) || oldSize > newSize) return false;
  if (!validHash(oldRoot) || !validHash(newRoot) || !Array.isArray(proof)) return false;
  if (proof.length > consistencyProofHashesMax || !proof.every(validHash)) return false;
  if (oldSize === newSize) return proof.length === 0 && bytesEqual(oldRoot, newRoot);
  if (oldSize === 0) return proof.length === 0 && bytesEqual(oldRoot, emptyRootBytes);
  // 1. An empty consistency_path fails.
  if (proof.length === 0) return false;
  // 2. If first is an exact power of 2, prepend first_hash.
  const path = isPowerOfTwo(oldSize) ? [oldRoot, ...proof] : [...proof];
  // 3. fn = first - 1, sn = second - 1.
  let fn = oldSize - 1;
  let sn = newSize - 1;
  // 4. If LSB(fn) is set, right-shift fn and sn until it is not.
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 5. fr = sr = the first value of the path.
  const [first, ...rest] = path;
  if (first === undefined) return false;
  let fr: Uint8Array = first;
  let sr: Uint8Array = first;
  // 6. For each subsequent value c:
  for (const c of rest) {
    // a. If sn is 0, stop and fail.
    if (sn === 0) return false;
    // b. If LSB(fn) is set or fn = sn: fr = HASH(0x01 ‖ c ‖ fr), sr = HASH(0x01 ‖ c ‖ sr), then,
    //    if LSB(fn) is not set, right-shift fn and sn until LSB(fn) is set or fn is 0.
    //    Otherwise sr = HASH(0x01 ‖ sr ‖ c).
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    // c. Right-shift fn and sn one time.
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  // 7. fr must equal first_hash, sr second_hash, and sn be 0.
  return sn === 0 && bytesEqual(fr, oldRoot) && bytesEqual(sr, newRoot);
}
