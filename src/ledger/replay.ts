// The replay window: transaction ids seen until their request expires. It is a deterministic
// function of the ordered batches (every node holds the same one), bounded because a request may
// expire at most requestTtlMsMax after the batch that orders it.
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
  /**
   * Entries as [txId, expiresAt], sorted by (expiresAt, txId): identical bytes on every node.
   * Ids that are not transaction ids (64 lowercase hex digits) sort after those that are.
   */
  readonly entries: () => readonly (readonly [string, number])[];
  /**
   * The same entries one at a time, without building the list (a window holds hundreds of
   * thousands under load; a commit point reads it twice). The order is kept between calls and
   * brought up to date with what was added and pruned since; what this yields is the window as
   * it was at the first step, whatever changes after.
   */
  readonly sortedEntries: () => Generator<readonly [string, number]>;
};

/** Marks a key kept as given (an id that is not 64 lowercase hex digits): not Latin-1. */
const rawMark = '\u0100';

/**
 * The window's key for an id: its 32 bytes as a 32-character Latin-1 string (48 bytes of V8 heap
 * against 80 for the hex text), or, for any other text, the text after a mark that no Latin-1
 * key holds. Byte order and hex order agree, so keys sort as the ids do.
 */
function keyOf(txId: string): string {
  return transactionIdPattern.test(txId)
    ? Buffer.from(txId, 'hex').toString('latin1')
    : rawMark + txId;
}

function idOf(key: string): string {
  return key.startsWith(rawMark) ? key.slice(1) : Buffer.from(key, 'latin1').toString('hex');
}

/** The window's order of two entries: by expiresAt, then by key (so by id, see keyOf). */
function compare(timeA: number, keyA: string, timeB: number, keyB: string): number {
  return timeA !== timeB ? timeA - timeB : keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
}

/**
 * A binary min-heap on expiresAt beside a set of the ids, so pruning costs O(log n) per expired
 * id. The heap is two parallel arrays (expiry times as unboxed doubles, keys), not an array of
 * pairs, and ids are kept as bytes (keyOf): a window holds every transaction of the last two
 * minutes, hundreds of thousands under load (issue 3's memory target).
 * Adding an id the window already holds keeps it as it was (the caller checks `has` first).
 */
export function createReplayWindow(
  initial: readonly (readonly [string, number])[] = [],
  options: { readonly entriesMax?: number } = {},
): ReplayWindow {
  const entriesMax = options.entriesMax ?? replayEntriesMax;
  const ids = new Set<string>();
  const heapTimes: number[] = [];
  const heapIds: string[] = [];

  /** Whether heap item a comes before heap item b: (expiresAt, txId) order. */
  const before = (a: number, b: number): boolean =>
    compare(
      heapTimes[a] as number,
      heapIds[a] as string,
      heapTimes[b] as number,
      heapIds[b] as string,
    ) < 0;
  const swap = (a: number, b: number): void => {
    const time = heapTimes[a] as number;
    heapTimes[a] = heapTimes[b] as number;
    heapTimes[b] = time;
    const id = heapIds[a] as string;
    heapIds[a] = heapIds[b] as string;
    heapIds[b] = id;
  };
  const push = (expiresAt: number, txId: string): void => {
    heapTimes.push(expiresAt);
    heapIds.push(txId);
    for (let i = heapTimes.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!before(i, parent)) break;
      swap(i, parent);
      i = parent;
    }
  };
  /** Removes the earliest item (the heap is not empty). */
  const popEarliest = (): void => {
    const last = heapTimes.length - 1;
    swap(0, last);
    heapTimes.pop();
    heapIds.pop();
    for (let i = 0; ;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let first = i;
      if (left < last && before(left, first)) first = left;
      if (right < last && before(right, first)) first = right;
      if (first === i) break;
      swap(i, first);
      i = first;
    }
  };
  /**
   * The window in (expiresAt, key) order as of the last `order()` (keys and times in two lists),
   * the entries added since, and the latest pruning time since. Pruning removes every entry at or
   * before its time, so what it removed from the ordered lists is a prefix of them; the next
   * order() drops that prefix, sorts only the entries added since and merges them in, instead of
   * sorting the whole window again (600,000 ids under load, at every commit point). The lists
   * cost 16 bytes an entry. Entries added since are kept at most addedKeptMax(): past it,
   * order() sorts the window from scratch.
   */
  let orderedKeys: string[] = [];
  let orderedTimes: number[] = [];
  let addedKeys: string[] = [];
  let addedTimes: number[] = [];
  let prunedThrough = -Infinity;
  let fromScratch = false;
  const addedKeptMax = (): number => 2 * ids.size + 65_536;

  const add = (txId: string, expiresAt: number): boolean => {
    const key = keyOf(txId);
    if (ids.has(key)) return true;
    if (ids.size >= entriesMax) return false;
    ids.add(key);
    push(expiresAt, key);
    if (!fromScratch && addedKeys.length >= addedKeptMax()) {
      fromScratch = true;
      orderedKeys = [];
      orderedTimes = [];
      addedKeys = [];
      addedTimes = [];
    }
    if (!fromScratch) {
      addedKeys.push(key);
      addedTimes.push(expiresAt);
    }
    return true;
  };

  /** Brings the ordered lists up to date with the window (see above). */
  const order = (): void => {
    // Nothing added or pruned since the last order (prune moves prunedThrough only when it
    // removes something).
    if (!fromScratch && addedKeys.length === 0 && prunedThrough === -Infinity) return;
    let kept = 0; // entries ordered before that are still there: all after prunedThrough
    let newKeys: string[];
    let newTimes: number[];
    // With more added since than kept (a first read, after a restart too), sorting the window
    // itself is cheaper than sorting the added entries and merging.
    if (fromScratch || addedKeys.length * 2 > ids.size) {
      orderedKeys = [];
      orderedTimes = [];
      // Read only, below: the heap itself, not a copy.
      newKeys = heapIds;
      newTimes = heapTimes;
    } else {
      let high = orderedTimes.length;
      while (kept < high) {
        const middle = (kept + high) >>> 1;
        if ((orderedTimes[middle] as number) <= prunedThrough) kept = middle + 1;
        else high = middle;
      }
      // An id added, pruned and added again since is there with its latest time only.
      const latest = new Map<string, number>();
      addedKeys.forEach((key, index) => latest.set(key, addedTimes[index] as number));
      newKeys = [];
      newTimes = [];
      for (const [key, time] of latest) {
        if (!ids.has(key)) continue;
        newKeys.push(key);
        newTimes.push(time);
      }
    }
    // Indexes sorted, not pairs: no pair per entry, and the comparator reads two flat lists.
    const sortedNew = new Uint32Array(newKeys.length);
    for (let k = 0; k < sortedNew.length; k += 1) sortedNew[k] = k;
    sortedNew.sort((a, b) =>
      compare(
        newTimes[a] as number,
        newKeys[a] as string,
        newTimes[b] as number,
        newKeys[b] as string,
      ),
    );
    const keys: string[] = [];
    const times: number[] = [];
    let i = kept;
    for (const k of sortedNew) {
      const key = newKeys[k] as string;
      const time = newTimes[k] as number;
      while (
        i < orderedKeys.length &&
        compare(orderedTimes[i] as number, orderedKeys[i] as string, time, key) < 0
      ) {
        keys.push(orderedKeys[i] as string);
        times.push(orderedTimes[i] as number);
        i += 1;
      }
      keys.push(key);
      times.push(time);
    }
    for (; i < orderedKeys.length; i += 1) {
      keys.push(orderedKeys[i] as string);
      times.push(orderedTimes[i] as number);
    }
    orderedKeys = keys;
    orderedTimes = times;
    addedKeys = [];
    addedTimes = [];
    prunedThrough = -Infinity;
    fromScratch = false;
  };
  function* sortedEntries(): Generator<readonly [string, number]> {
    order();
    const keys = orderedKeys;
    const times = orderedTimes;
    for (let i = 0; i < keys.length; i += 1) {
      yield [idOf(keys[i] as string), times[i] as number] as const;
    }
  }

  for (const [txId, expiresAt] of initial) add(txId, expiresAt);

  return {
    has: (txId) => ids.has(keyOf(txId)),
    add,
    prune: (time) => {
      while (heapTimes.length > 0 && (heapTimes[0] as number) <= time) {
        ids.delete(heapIds[0] as string);
        popEarliest();
        prunedThrough = Math.max(prunedThrough, time);
      }
    },
    size: () => ids.size,
    entries: () => [...sortedEntries()],
    sortedEntries,
  };
}
