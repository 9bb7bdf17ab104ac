// One named map of the store, kept outside the JavaScript heap (issue 3's memory target;
// decision 0033): every key and value as UTF-8 bytes in one arena, per entry its offset and
// lengths in typed arrays, an open-addressing table of entry indexes for lookups, and the
// entries in key order as one sorted index list plus the entries added since it was sorted.
// About 20 bytes an entry besides its text, against about 120 for a Map of strings with its
// sorted lists, and nothing for V8's collector to trace: a million keys are a few buffers.
//
// Key order is JavaScript's string order (UTF-16 code units), which snapshots and their digests
// are defined by; it is compared on the UTF-8 bytes (see compareLead).
import { randomBytes } from 'node:crypto';
import {
  deleteSlot,
  homeSlot,
  insertSlot,
  mergeSorted,
  nextSlot,
  slotsPerEntry,
} from './slot-table.js';
import { allocateShared, sharedCopy, type SharedAllocate } from './shared-memory.js';

/** Entries the map first has room for. */
const capacityMin = 64;
/** Growth of the room and of the arena when full. */
const growth = 1.25;
/** Arena bytes first reserved. */
const arenaMin = 4096;
/**
 * Entries added or deleted since the order was merged, before merging them in: a merge costs a
 * copy of the order and about k·log2(n/k) comparisons (mergeSorted), a few milliseconds at a
 * million entries, instead of a sort of everything added since at sizes that double.
 */
const changesBeforeOrdering = 4096;
/** Dead arena bytes (overwritten or deleted text) tolerated before compacting: also ≤ live bytes. */
const deadBytesMin = 1_048_576;
const loneSurrogate = /\p{Cs}/u;
/** keyStart of an entry without text in the arena (free, deleted, or being rewritten). */
const noText = 0xffffffff;
/**
 * Values lately read are kept as the strings handed out, by entry (direct-mapped, this many
 * places, values of at most readCacheBytesMax): a value read at every transaction (the signer's
 * certificate) is then neither decoded again nor hashed again by the Maps keyed on it.
 */
const readCachePlaces = 8;
const readCacheBytesMax = 4096;
/** The arena's offsets are u32. */
export const compactArenaBytesMax = 2 ** 32 - 1;

export type CompactMap = {
  readonly size: () => number;
  readonly get: (key: string) => string | undefined;
  readonly has: (key: string) => boolean;
  readonly set: (key: string, value: string) => void;
  readonly delete: (key: string) => boolean;
  /** UTF-8 bytes of every key and value held (what the arena holds alive). */
  readonly liveBytes: () => number;
  /**
   * Calls `each` for every entry in key order, with the arena and where its key and value lie
   * (valid during the call only). Nothing may change the map during the walk.
   */
  readonly forEachSorted: (
    each: (arena: Buffer, keyStart: number, keyEnd: number, valueEnd: number) => void,
  ) => void;
  /** Keys and values in key order, as strings. */
  readonly sorted: () => { readonly keys: string[]; readonly values: string[] };
  /**
   * A copy of the entries in key order that another thread can read while this map changes
   * (a commit point's snapshot, decision 0038): the arena's bytes, the order, and each entry's
   * place and lengths, each copied whole (memcpys: the reader follows the order). In shared
   * memory: posted to a worker without a copy, and still here if the worker fails.
   */
  readonly frozen: (allocate?: SharedAllocate) => FrozenMap;
  /** Bytes the map's buffers take (its arena, tables and lists). */
  readonly footprint: () => number;
};

/** A compact map's entries as of one moment (CompactMap.frozen): read by forEachFrozen. */
export type FrozenMap = {
  readonly arena: Uint8Array;
  /** Entry indexes in key order. */
  readonly order: Int32Array;
  /** By entry index: where its key starts in the arena, its key's and its value's lengths. */
  readonly keyStart: Uint32Array;
  readonly keyLength: Uint16Array;
  readonly valueLength: Uint32Array;
};

/** Calls `each` for every entry of a frozen map in key order, as CompactMap.forEachSorted does. */
export function forEachFrozen(
  frozen: FrozenMap,
  each: (arena: Buffer, keyStart: number, keyEnd: number, valueEnd: number) => void,
): void {
  const arena = Buffer.from(frozen.arena.buffer, frozen.arena.byteOffset, frozen.arena.byteLength);
  const { order, keyStart, keyLength, valueLength } = frozen;
  for (let i = 0; i < order.length; i += 1) {
    const entry = order[i] as number;
    const start = keyStart[entry] as number;
    const keyEnd = start + (keyLength[entry] as number);
    each(arena, start, keyEnd, keyEnd + (valueLength[entry] as number));
  }
}

/**
 * JavaScript's order of two texts from the first byte where their UTF-8 differs (x, y). There,
 * both texts start a character (everything before is equal), and UTF-8 byte order is code point
 * order, which is UTF-16 order except for one pair of ranges: a character above U+FFFF (lead
 * byte F0-F4; a surrogate pair, D800-DBFF first, in UTF-16) sorts before U+E000-U+FFFF (lead
 * byte EE or EF) in UTF-16 and after it in code points.
 */
function compareLead(x: number, y: number): number {
  if (x >= 0xf0 && (y === 0xee || y === 0xef)) return -1;
  if (y >= 0xf0 && (x === 0xee || x === 0xef)) return 1;
  return x - y;
}

export function createCompactMap(): CompactMap {
  const seed = randomBytes(4).readInt32LE(0);
  let capacity = 0;
  let keyStart = new Uint32Array(0);
  let keyLength = new Uint16Array(0);
  let valueLength = new Uint32Array(0);
  // Each entry's key hash, kept: growing the table places every entry again without reading
  // its key (a million keys: tens of milliseconds, not hundreds).
  let keyHash = new Int32Array(0);
  let slots = new Int32Array(0); // entry + 1, 0 empty
  let arena = Buffer.alloc(0);
  let arenaUsed = 0;
  let live = 0;
  let liveBytes = 0;
  let allocated = 0; // entries below this index were used once
  const free: number[] = []; // entries to reuse
  // Deleted since the order was last sorted: their indexes are reused only after it (they may
  // still be in the sorted list), and marked so that it drops them.
  let deleted: number[] = [];
  let isDeleted = new Uint8Array(0);
  // The order: sorted by key, and the entries added since.
  let sorted = new Int32Array(0);
  let spare = new Int32Array(0); // the order before the last merge: the next one's room
  let added: number[] = [];
  let walking = false;
  const readCacheEntry = new Int32Array(readCachePlaces).fill(-1);
  const readCacheValue: (string | undefined)[] = new Array<string | undefined>(readCachePlaces);
  /** Forgets what the read cache holds of `entry` (its value changes, or it goes). */
  const uncache = (entry: number): void => {
    const place = entry % readCachePlaces;
    if (readCacheEntry[place] === entry) {
      readCacheEntry[place] = -1;
      readCacheValue[place] = undefined;
    }
  };

  // A lookup key's UTF-8 bytes (keys are at most keyBytesMax bytes; see probeKey).
  let probe = Buffer.alloc(1024);
  let probeLength = 0;

  const hashOf = (bytes: Buffer, start: number, end: number): number => {
    let h = seed ^ 0x811c9dc5;
    for (let i = start; i < end; i += 1) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return h;
  };
  /** The probe's key hash (set by probeKey). */
  let probeHash = 0;
  const entryHome = (entry: number): number => homeSlot(keyHash[entry] as number, slots);

  /** Puts key's UTF-8 in probe; false for a key no entry can have (too long to be stored). */
  const probeKey = (key: string): boolean => {
    // A stored key is at most u16 bytes and well-formed (a lone surrogate would encode as
    // U+FFFD and find another key).
    if (key.length > 65_535 || loneSurrogate.test(key)) return false;
    if (probe.length < key.length * 3) probe = Buffer.alloc(key.length * 3);
    probeLength = probe.write(key, 0, 'utf8');
    probeHash = hashOf(probe, 0, probeLength);
    return true;
  };
  const probeIs = (entry: number): boolean => {
    if (keyLength[entry] !== probeLength) return false;
    const start = keyStart[entry] as number;
    for (let i = 0; i < probeLength; i += 1) {
      if (arena[start + i] !== probe[i]) return false;
    }
    return true;
  };
  /** The slot of the probe's key, or -1. */
  const find = (): number => {
    if (live === 0) return -1;
    for (let slot = homeSlot(probeHash, slots); ; slot = nextSlot(slots, slot)) {
      const held = slots[slot] as number;
      if (held === 0) return -1;
      if (probeIs(held - 1)) return slot;
    }
  };
  const insertEntry = (entry: number): void => {
    insertSlot(slots, entryHome(entry), entry);
  };

  /**
   * Room for `bytes` more at the arena's end: a larger copy of it, or, once much of it is dead
   * (overwritten or deleted text), a rewrite with the live text only, which moves entries'
   * offsets, not their indexes.
   */
  const arenaRoom = (bytes: number): void => {
    if (arenaUsed + bytes <= arena.length) return;
    const needed = liveBytes + bytes;
    const dead = arenaUsed - liveBytes;
    const compacting = dead >= Math.max(deadBytesMin, liveBytes / 2);
    const size = Math.min(
      compactArenaBytesMax,
      Math.ceil(Math.max(arenaMin, needed * growth, compacting ? 0 : (arenaUsed + bytes) * growth)),
    );
    if ((compacting ? needed : arenaUsed + bytes) > size) {
      throw new RangeError(`a compact map of more than ${compactArenaBytesMax} bytes`);
    }
    const next = Buffer.alloc(size);
    if (!compacting) {
      arena.copy(next, 0, 0, arenaUsed);
      arena = next;
      return;
    }
    let at = 0;
    for (let entry = 0; entry < allocated; entry += 1) {
      if (keyStart[entry] === noText) continue; // free, deleted, or being rewritten
      const start = keyStart[entry] as number;
      const length = (keyLength[entry] as number) + (valueLength[entry] as number);
      arena.copy(next, at, start, start + length);
      keyStart[entry] = at;
      at += length;
    }
    arena = next;
    arenaUsed = at;
  };

  const growEntries = (): void => {
    const room = Math.max(capacityMin, Math.ceil(capacity * growth));
    const grow = <T extends Uint32Array | Uint16Array | Uint8Array | Int32Array>(
      old: T,
      make: (n: number) => T,
    ): T => {
      const next = make(room);
      next.set(old);
      return next;
    };
    keyStart = grow(keyStart, (n) => new Uint32Array(n).fill(noText));
    keyLength = grow(keyLength, (n) => new Uint16Array(n));
    valueLength = grow(valueLength, (n) => new Uint32Array(n));
    keyHash = grow(keyHash, (n) => new Int32Array(n));
    isDeleted = grow(isDeleted, (n) => new Uint8Array(n));
    capacity = room;
    slots = new Int32Array(room * slotsPerEntry);
    for (let entry = 0; entry < allocated; entry += 1) {
      if (keyStart[entry] !== noText) insertEntry(entry);
    }
  };

  /** Writes key and value at the arena's end for `entry` (room made by the caller). */
  const writeText = (entry: number, keyBytes: number, value: string, valueBytes: number): void => {
    probe.copy(arena, arenaUsed, 0, keyBytes);
    arena.write(value, arenaUsed + keyBytes, valueBytes, 'utf8');
    keyStart[entry] = arenaUsed;
    keyLength[entry] = keyBytes;
    valueLength[entry] = valueBytes;
    arenaUsed += keyBytes + valueBytes;
  };

  const compareEntries = (a: number, b: number): number => {
    let i = keyStart[a] as number;
    let j = keyStart[b] as number;
    const endA = i + (keyLength[a] as number);
    const endB = j + (keyLength[b] as number);
    for (; i < endA && j < endB; i += 1, j += 1) {
      const x = arena[i] as number;
      const y = arena[j] as number;
      if (x !== y) return compareLead(x, y);
    }
    return endA - i - (endB - j);
  };

  /** Sorts the entries added since into the order and drops the deleted ones from it. */
  const order = (): void => {
    if (added.length === 0 && deleted.length === 0) return;
    const fresh = Int32Array.from(added.filter((entry) => isDeleted[entry] === 0)).sort(
      compareEntries,
    );
    // Deleted entries have no text to compare: the merge leaves them out unread.
    const before = sorted;
    sorted = mergeSorted(
      sorted,
      0,
      fresh,
      compareEntries,
      live,
      deleted.length === 0 ? undefined : (entry) => isDeleted[entry] === 1,
      spare,
    );
    spare = before;
    added = [];
    for (const entry of deleted) {
      isDeleted[entry] = 0;
      free.push(entry);
    }
    deleted = [];
  };

  const notWalking = (): void => {
    if (walking) throw new Error('a compact map changed during forEachSorted');
  };

  const set = (key: string, value: string): void => {
    notWalking();
    if (!probeKey(key) || probeLength > 65_535) {
      throw new RangeError('a key of more than 65,535 UTF-8 bytes, or with a lone surrogate');
    }
    const keyBytes = probeLength;
    const valueBytes = Buffer.byteLength(value, 'utf8');
    const slot = find();
    if (slot >= 0) {
      const entry = (slots[slot] as number) - 1;
      uncache(entry);
      const oldBytes = valueLength[entry] as number;
      if (valueBytes <= oldBytes) {
        // In place: a balance or a counter usually keeps its length.
        arena.write(value, (keyStart[entry] as number) + keyBytes, valueBytes, 'utf8');
        valueLength[entry] = valueBytes;
        liveBytes += valueBytes - oldBytes;
        return;
      }
      // Its old text is dead (a rewrite of the arena skips it); the new one goes at the end.
      keyStart[entry] = noText;
      liveBytes -= keyBytes + oldBytes;
      arenaRoom(keyBytes + valueBytes);
      writeText(entry, keyBytes, value, valueBytes);
      liveBytes += keyBytes + valueBytes;
      return;
    }
    if (free.length === 0 && allocated === capacity) growEntries();
    arenaRoom(keyBytes + valueBytes);
    const entry = free.pop() ?? allocated++;
    uncache(entry);
    writeText(entry, keyBytes, value, valueBytes);
    keyHash[entry] = probeHash;
    liveBytes += keyBytes + valueBytes;
    insertEntry(entry);
    live += 1;
    added.push(entry);
    if (added.length + deleted.length >= changesBeforeOrdering) order();
  };

  const remove = (key: string): boolean => {
    notWalking();
    if (!probeKey(key)) return false;
    const slot = find();
    if (slot < 0) return false;
    const entry = (slots[slot] as number) - 1;
    uncache(entry);
    deleteSlot(slots, slot, entryHome);
    liveBytes -= (keyLength[entry] as number) + (valueLength[entry] as number);
    keyStart[entry] = noText;
    isDeleted[entry] = 1;
    deleted.push(entry);
    live -= 1;
    if (added.length + deleted.length >= changesBeforeOrdering) order();
    return true;
  };

  const valueAt = (entry: number): string => {
    const start = (keyStart[entry] as number) + (keyLength[entry] as number);
    return arena.toString('utf8', start, start + (valueLength[entry] as number));
  };

  const forEachSorted: CompactMap['forEachSorted'] = (each) => {
    order();
    walking = true;
    try {
      for (let i = 0; i < sorted.length; i += 1) {
        const entry = sorted[i] as number;
        const start = keyStart[entry] as number;
        const keyEnd = start + (keyLength[entry] as number);
        each(arena, start, keyEnd, keyEnd + (valueLength[entry] as number));
      }
    } finally {
      walking = false;
    }
  };

  return {
    size: () => live,
    get: (key) => {
      if (!probeKey(key)) return undefined;
      const slot = find();
      if (slot < 0) return undefined;
      const entry = (slots[slot] as number) - 1;
      const place = entry % readCachePlaces;
      if (readCacheEntry[place] === entry) return readCacheValue[place];
      const value = valueAt(entry);
      if ((valueLength[entry] as number) <= readCacheBytesMax) {
        readCacheEntry[place] = entry;
        readCacheValue[place] = value;
      }
      return value;
    },
    has: (key) => probeKey(key) && find() >= 0,
    set,
    delete: remove,
    liveBytes: () => liveBytes,
    forEachSorted,
    sorted: () => {
      const keys: string[] = [];
      const values: string[] = [];
      forEachSorted((bytes, start, keyEnd, valueEnd) => {
        keys.push(bytes.toString('utf8', start, keyEnd));
        values.push(bytes.toString('utf8', keyEnd, valueEnd));
      });
      return { keys, values };
    },
    frozen: (allocate = allocateShared) => {
      order();
      // Whole copies (dead text and free entries included): the walk in key order, with its
      // random reads, is the reader's.
      return {
        arena: sharedCopy(arena.subarray(0, arenaUsed), Uint8Array, allocate),
        order: sharedCopy(sorted, Int32Array, allocate),
        keyStart: sharedCopy(keyStart.subarray(0, allocated), Uint32Array, allocate),
        keyLength: sharedCopy(keyLength.subarray(0, allocated), Uint16Array, allocate),
        valueLength: sharedCopy(valueLength.subarray(0, allocated), Uint32Array, allocate),
      };
    },
    footprint: () =>
      arena.length +
      capacity * (4 + 2 + 4 + 4 + 1) +
      slots.byteLength +
      sorted.buffer.byteLength +
      spare.buffer.byteLength +
      4 * (added.length + deleted.length + free.length),
  };
}
