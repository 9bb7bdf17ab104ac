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
   * thousands under load; a commit point reads it twice). The order is computed once per
   * change of the window. Do not change the window while iterating.
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
  const before = (a: number, b: number): boolean => {
    const ta = heapTimes[a] as number;
    const tb = heapTimes[b] as number;
    return ta < tb || (ta === tb && (heapIds[a] as string) < (heapIds[b] as string));
  };
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
  const add = (txId: string, expiresAt: number): boolean => {
    const key = keyOf(txId);
    if (ids.has(key)) return true;
    if (ids.size >= entriesMax) return false;
    ids.add(key);
    push(expiresAt, key);
    sorted = undefined;
    return true;
  };
  /** Heap indexes in (expiresAt, key) order, until the window changes. */
  let sorted: Uint32Array | undefined;
  const order = (): Uint32Array => {
    if (sorted === undefined) {
      const indexes = new Uint32Array(heapTimes.length);
      for (let i = 0; i < indexes.length; i += 1) indexes[i] = i;
      sorted = indexes.sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
    }
    return sorted;
  };
  function* sortedEntries(): Generator<readonly [string, number]> {
    for (const index of order()) {
      yield [idOf(heapIds[index] as string), heapTimes[index] as number] as const;
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
        sorted = undefined;
      }
    },
    size: () => ids.size,
    entries: () => [...sortedEntries()],
    sortedEntries,
  };
}
