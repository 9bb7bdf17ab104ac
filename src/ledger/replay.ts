// The replay window: transaction ids seen until their request expires. It is a deterministic
// function of the ordered batches (every node holds the same one), bounded because a request may
// expire at most requestTtlMsMax after the batch that orders it.
//
// Under load it holds every transaction of the last two minutes (600,000 ids at 5,000 tx/s), so
// it keeps them in flat typed arrays outside the JavaScript heap (issue 3's memory target;
// decision 0032): an id as its 32 bytes in one slab, its expiry in a Float64Array, an
// open-addressing table of slab indexes for lookups, and the entries' (expiresAt, id) order as
// one sorted index list plus a min-heap of the entries added since that list was sorted. About
// 50 bytes an id, against about 130 as strings in a Set beside arrays, and nothing for V8's
// collector to trace.
import { createHash, randomBytes } from 'node:crypto';
import {
  deleteSlot,
  homeSlot,
  insertSlot,
  mergeSorted,
  nextSlot,
  slotOfEntry,
  slotsPerEntry,
} from './slot-table.js';
import { allocateShared, sharedCopy, type SharedAllocate } from './shared-memory.js';
import { transactionIdPattern } from './tx.js';

/** Ids remembered at once; beyond this, new transactions are refused until some expire. */
export const replayEntriesMax = 4_000_000;

export type ReplayWindow = {
  readonly has: (txId: string) => boolean;
  /** Remembers txId until expiresAt; false when the window is full. */
  readonly add: (txId: string, expiresAt: number) => boolean;
  /** Forgets every id whose request expired at or before `time`. */
  readonly prune: (time: number) => void;
  readonly size: () => number;
  /** Entries the window has room for without growing (its memory: about 50 bytes each). */
  readonly capacity: () => number;
  /**
   * Entries as [txId, expiresAt], sorted by (expiresAt, txId): identical bytes on every node.
   * Ids that are not transaction ids (64 lowercase hex digits) sort after those that are.
   */
  readonly entries: () => readonly (readonly [string, number])[];
  /**
   * The same entries one at a time, without building the list (a window holds hundreds of
   * thousands under load; a commit point reads it twice). Read it to the end before the window
   * changes: a step after an add or a prune throws (the window reuses the room of what it
   * forgot).
   */
  readonly sortedEntries: () => Generator<readonly [string, number]>;
  /**
   * The same order without making strings: `each` gets a transaction id's 32 bytes (a view,
   * valid during the call; `raw` undefined) or, for any other id, its text in `raw`. `each`
   * must not change the window. A commit point encodes a snapshot's replay entries this way.
   */
  readonly forEachSorted: (
    each: (id: Buffer, raw: string | undefined, expiresAt: number) => void,
  ) => void;
  /**
   * A copy of the entries in that order, in shared memory, that another thread reads while
   * the window changes (a commit point's snapshot, decision 0038): read it with
   * frozenReplayReader.
   */
  readonly frozen: (allocate?: SharedAllocate) => FrozenReplay;
};

/**
 * A replay window's entries as of one moment (ReplayWindow.frozen): its slab and expiries by
 * entry, copied whole, and the order to read them in.
 */
export type FrozenReplay = {
  /** 32 bytes per entry: a transaction id's bytes, else the SHA-256 of the id's text. */
  readonly ids: Uint8Array;
  readonly times: Float64Array;
  /** Entry indexes in (expiresAt, id) order. */
  readonly order: Int32Array;
  /** [entry, text] of every id that is not a transaction id. */
  readonly raw: readonly (readonly [number, string])[];
};

/** A frozen window read as the window itself is read in order (entries, forEachSorted). */
export function frozenReplayReader(
  frozen: FrozenReplay,
): Pick<ReplayWindow, 'size' | 'forEachSorted' | 'sortedEntries'> {
  const ids = Buffer.from(frozen.ids.buffer, frozen.ids.byteOffset, frozen.ids.byteLength);
  const raw = new Map(frozen.raw);
  const { order, times } = frozen;
  const rawOf = (entry: number): string | undefined =>
    raw.size === 0 ? undefined : raw.get(entry);
  return {
    size: () => order.length,
    forEachSorted: (each) => {
      for (let i = 0; i < order.length; i += 1) {
        const entry = order[i] as number;
        each(
          ids.subarray(entry * idBytes, (entry + 1) * idBytes),
          rawOf(entry),
          times[entry] as number,
        );
      }
    },
    sortedEntries: function* () {
      for (let i = 0; i < order.length; i += 1) {
        const entry = order[i] as number;
        yield [
          rawOf(entry) ?? ids.toString('hex', entry * idBytes, (entry + 1) * idBytes),
          times[entry] as number,
        ] as const;
      }
    },
  };
}

/** Bytes of an id in the slab. */
const idBytes = 32;
/** Entries the window first has room for. */
const capacityMin = 1024;
/** Growth of the room when full (a quarter: little unused room at any size). */
const capacityGrowth = 1.25;
/**
 * Entries added since the order was merged, before merging them in: a merge costs a copy of the
 * order and about k·log2(n/k) comparisons (mergeSorted), a few milliseconds for a full window,
 * instead of a sort of everything added since once the added outnumber the ordered.
 */
const addedBeforeOrdering = 4096;

/**
 * A window with room for `options.entriesMax` ids at most (replayEntriesMax by default), holding
 * `initial` (a snapshot's entries). Adding an id the window already holds keeps it as it was
 * (the caller checks `has` first).
 */
export function createReplayWindow(
  initial: readonly (readonly [string, number])[] = [],
  options: { readonly entriesMax?: number } = {},
): ReplayWindow {
  const entriesMax = options.entriesMax ?? replayEntriesMax;
  // Lookups hash an id's bytes with a seed of this process: ids are hashes, but a submitter could
  // search for ids that share a slot of a known hash function. Where an entry sits in the table
  // is never observable, so the window stays deterministic.
  const seed = randomBytes(4).readInt32LE(0);

  // Entries by index: the id's 32 bytes (for an id that is not a transaction id, the SHA-256 of
  // its text, which rawIds keeps), and its expiry; for a free entry, times holds the next free
  // index (-1 ends the list).
  let capacity = 0;
  let slab = Buffer.alloc(0);
  let words = new Int32Array(0);
  let times = new Float64Array(0);
  let firstFree = -1;
  let allocated = 0; // entries below this index were used once (free ones are on the list)
  let live = 0;
  const rawIds = new Map<number, string>();
  // The lookup table: entry index + 1, 0 for an empty slot; linear probing.
  let slots = new Int32Array(0);
  // The order: ordered[orderedStart..] sorted by (expiresAt, id), and a min-heap on
  // expiresAt of the entries added since. Every live entry is in exactly one of them.
  let ordered = new Int32Array(0);
  let spare = new Int32Array(0); // the order before the last merge: the next one's room
  let orderedStart = 0;
  let heap = new Int32Array(0);
  let heapSize = 0;
  let changes = 0; // bumped by every add and every prune that forgets something

  const probeWords = new Int32Array(idBytes / 4);
  const probeBytes = Buffer.from(probeWords.buffer);

  /** The table slot an id hashes to: all 8 words of it (`from`: its first word in `source`). */
  const homeOf = (source: Int32Array, from: number): number => {
    let h = seed;
    for (let i = from; i < from + 8; i += 1) {
      h = Math.imul(h ^ (source[i] as number), 0x9e3779b1);
      h ^= h >>> 15;
    }
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    return homeSlot(h, slots);
  };
  const entryHome = (entry: number): number => homeOf(words, entry * 8);

  /** Puts the probe's id (raw: the text of an id that is not a transaction id) in probeWords. */
  const setProbe = (txId: string): string | undefined => {
    if (transactionIdPattern.test(txId)) {
      probeBytes.write(txId, 0, idBytes, 'hex');
      return undefined;
    }
    createHash('sha256').update(txId, 'utf8').digest().copy(probeBytes);
    return txId;
  };
  const probeIs = (entry: number, raw: string | undefined): boolean => {
    const at = entry * 8;
    for (let i = 0; i < 8; i += 1) if (words[at + i] !== probeWords[i]) return false;
    return rawIds.size === 0 ? raw === undefined : rawIds.get(entry) === raw;
  };
  /** The slot holding the probe's id, or -1. */
  const find = (raw: string | undefined): number => {
    if (slots.length === 0) return -1;
    for (let slot = homeOf(probeWords, 0); ;) {
      const held = slots[slot] as number;
      if (held === 0) return -1;
      if (probeIs(held - 1, raw)) return slot;
      slot = nextSlot(slots, slot);
    }
  };
  const insertEntry = (entry: number): void => {
    insertSlot(slots, entryHome(entry), entry);
  };

  /** Resizes the room to `room` entries, keeping every live entry (at new indexes): to shrink. */
  const resize = (room: number): void => {
    const oldSlab = slab;
    const oldTimes = times;
    const oldRaw = new Map(rawIds);
    capacity = room;
    slab = Buffer.alloc(room * idBytes);
    words = new Int32Array(slab.buffer, slab.byteOffset, room * 8);
    times = new Float64Array(room);
    slots = new Int32Array(room * slotsPerEntry);
    rawIds.clear();
    allocated = 0;
    firstFree = -1;
    const move = (entry: number): number => {
      const moved = allocated;
      allocated += 1;
      oldSlab.copy(slab, moved * idBytes, entry * idBytes, (entry + 1) * idBytes);
      times[moved] = oldTimes[entry] as number;
      const raw = oldRaw.get(entry);
      if (raw !== undefined) rawIds.set(moved, raw);
      insertEntry(moved);
      return moved;
    };
    const keptOrdered = new Int32Array(ordered.length - orderedStart);
    for (let i = orderedStart; i < ordered.length; i += 1) {
      keptOrdered[i - orderedStart] = move(ordered[i] as number);
    }
    orderedStart = 0;
    ordered = keptOrdered;
    const keptHeap = new Int32Array(room);
    for (let i = 0; i < heapSize; i += 1) keptHeap[i] = move(heap[i] as number);
    heap = keptHeap;
  };

  /**
   * More room, every entry staying where it is: the room is full only when no entry is free, so
   * the entries below `allocated` are all live. One copy of the slab and the times, and the
   * table built again (no entry moved, so the order and the heap stay as they are).
   */
  const grow = (room: number): void => {
    const oldSlab = slab;
    const oldTimes = times;
    capacity = room;
    slab = Buffer.alloc(room * idBytes);
    oldSlab.copy(slab, 0, 0, allocated * idBytes);
    words = new Int32Array(slab.buffer, slab.byteOffset, room * 8);
    times = new Float64Array(room);
    times.set(oldTimes.subarray(0, allocated));
    slots = new Int32Array(room * slotsPerEntry);
    for (let entry = 0; entry < allocated; entry += 1) insertEntry(entry);
  };

  const allocate = (): number => {
    if (firstFree >= 0) {
      const entry = firstFree;
      firstFree = times[entry] as number;
      return entry;
    }
    if (allocated === capacity) {
      grow(Math.min(entriesMax, Math.max(capacityMin, Math.ceil(capacity * capacityGrowth))));
    }
    const entry = allocated;
    allocated += 1;
    return entry;
  };
  const release = (entry: number): void => {
    deleteSlot(slots, slotOfEntry(slots, entryHome(entry), entry), entryHome);
    rawIds.delete(entry);
    times[entry] = firstFree;
    firstFree = entry;
    live -= 1;
  };

  /** The window's order of two entries: by expiresAt, then by id (hex ids before other text). */
  const compareEntries = (a: number, b: number): number => {
    const timeA = times[a] as number;
    const timeB = times[b] as number;
    if (timeA !== timeB) return timeA < timeB ? -1 : 1;
    if (rawIds.size > 0) {
      const rawA = rawIds.get(a);
      const rawB = rawIds.get(b);
      if (rawA !== undefined || rawB !== undefined) {
        if (rawA === undefined) return -1;
        if (rawB === undefined) return 1;
        return rawA < rawB ? -1 : rawA > rawB ? 1 : 0;
      }
    }
    for (let i = 0, atA = a * idBytes, atB = b * idBytes; i < idBytes; i += 1) {
      const difference = (slab[atA + i] as number) - (slab[atB + i] as number);
      if (difference !== 0) return difference;
    }
    return 0;
  };

  const heapBefore = (i: number, j: number): boolean =>
    (times[heap[i] as number] as number) < (times[heap[j] as number] as number);
  const heapSwap = (i: number, j: number): void => {
    const entry = heap[i] as number;
    heap[i] = heap[j] as number;
    heap[j] = entry;
  };
  const heapPush = (entry: number): void => {
    if (heapSize === heap.length) {
      const grown = new Int32Array(Math.max(capacity, heapSize + 1));
      grown.set(heap);
      heap = grown;
    }
    heap[heapSize] = entry;
    heapSize += 1;
    for (let i = heapSize - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!heapBefore(i, parent)) break;
      heapSwap(i, parent);
      i = parent;
    }
  };
  const heapPopEarliest = (): void => {
    heapSize -= 1;
    heap[0] = heap[heapSize] as number;
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let first = i;
      if (left < heapSize && heapBefore(left, first)) first = left;
      if (right < heapSize && heapBefore(right, first)) first = right;
      if (first === i) break;
      heapSwap(i, first);
      i = first;
    }
  };

  /** Sorts the entries added since into the order (merging: they are few against it). */
  const order = (): void => {
    if (heapSize === 0) return;
    const before = ordered;
    ordered = mergeSorted(
      ordered,
      orderedStart,
      heap.slice(0, heapSize).sort(compareEntries),
      compareEntries,
      ordered.length - orderedStart + heapSize,
      undefined,
      spare,
    );
    spare = before;
    orderedStart = 0;
    heapSize = 0;
  };

  const idOf = (entry: number): string =>
    rawIds.get(entry) ?? slab.toString('hex', entry * idBytes, (entry + 1) * idBytes);

  const add = (txId: string, expiresAt: number): boolean => {
    const raw = setProbe(txId);
    if (find(raw) >= 0) return true;
    if (live >= entriesMax) return false;
    const entry = allocate();
    probeBytes.copy(slab, entry * idBytes);
    times[entry] = expiresAt;
    if (raw !== undefined) rawIds.set(entry, raw);
    insertEntry(entry);
    live += 1;
    heapPush(entry);
    changes += 1;
    if (heapSize >= addedBeforeOrdering) order();
    return true;
  };

  const prune = (time: number): void => {
    const before = live;
    while (
      orderedStart < ordered.length &&
      (times[ordered[orderedStart] as number] as number) <= time
    ) {
      release(ordered[orderedStart] as number);
      orderedStart += 1;
    }
    while (heapSize > 0 && (times[heap[0] as number] as number) <= time) {
      release(heap[0] as number);
      heapPopEarliest();
    }
    if (live === before) return;
    changes += 1;
    // Hand back room once three quarters of it are unused (after a burst of load).
    if (capacity > capacityMin && live < capacity / 4) {
      resize(Math.max(capacityMin, Math.ceil(live * capacityGrowth)));
    }
  };

  function* sortedEntries(): Generator<readonly [string, number]> {
    order();
    const at = changes;
    const list = ordered;
    for (let i = orderedStart; i < list.length; i += 1) {
      if (changes !== at) throw new Error('the replay window changed while it was being read');
      const entry = list[i] as number;
      yield [idOf(entry), times[entry] as number] as const;
    }
  }

  const forEachSorted: ReplayWindow['forEachSorted'] = (each) => {
    order();
    const at = changes;
    for (let i = orderedStart; i < ordered.length; i += 1) {
      const entry = ordered[i] as number;
      each(
        slab.subarray(entry * idBytes, (entry + 1) * idBytes),
        rawIds.size === 0 ? undefined : rawIds.get(entry),
        times[entry] as number,
      );
      if (changes !== at) throw new Error('the replay window changed while it was being read');
    }
  };

  const frozen = (allocate: SharedAllocate = allocateShared): FrozenReplay => {
    order();
    // Whole copies (free entries included; memcpys): the walk in order is the reader's.
    return {
      ids: sharedCopy(slab.subarray(0, allocated * idBytes), Uint8Array, allocate),
      times: sharedCopy(times.subarray(0, allocated), Float64Array, allocate),
      order: sharedCopy(ordered.subarray(orderedStart), Int32Array, allocate),
      raw: [...rawIds],
    };
  };

  for (const [txId, expiresAt] of initial) add(txId, expiresAt);

  return {
    has: (txId) => find(setProbe(txId)) >= 0,
    add,
    prune,
    size: () => live,
    capacity: () => capacity,
    entries: () => [...sortedEntries()],
    sortedEntries,
    forEachSorted,
    frozen,
  };
}
