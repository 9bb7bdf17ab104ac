// The replay window: transaction ids seen until their request expires. It is a deterministic
// function of the ordered batches (every node holds the same one), bounded because a request may
// expire at most requestTtlMsMax after the batch that orders it.

/** Ids remembered at once; beyond this, new transactions are refused until some expire. */
export const replayEntriesMax = 4_000_000;

export type ReplayWindow = {
  readonly has: (txId: string) => boolean;
  /** Remembers txId until expiresAt; false when the window is full. */
  readonly add: (txId: string, expiresAt: number) => boolean;
  /** Forgets every id whose request expired at or before `time`. */
  readonly prune: (time: number) => void;
  readonly size: () => number;
  /** Entries as [txId, expiresAt], sorted by (expiresAt, txId): identical bytes on every node. */
  readonly entries: () => readonly (readonly [string, number])[];
};

/** A binary min-heap on expiresAt beside a map, so pruning costs O(log n) per expired id. */
export function createReplayWindow(
  initial: readonly (readonly [string, number])[] = [],
): ReplayWindow {
  const expiry = new Map<string, number>();
  const heap: [number, string][] = [];

  const less = (a: [number, string], b: [number, string]): boolean =>
    a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const push = (item: [number, string]): void => {
    heap.push(item);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent];
      const c = heap[i];
      if (p === undefined || c === undefined || !less(c, p)) break;
      heap[parent] = c;
      heap[i] = p;
      i = parent;
    }
  };
  const pop = (): [number, string] | undefined => {
    const top = heap[0];
    const last = heap.pop();
    if (top === undefined || last === undefined) return undefined;
    if (heap.length === 0) return top;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let smallest = i;
      const at = (k: number): [number, string] | undefined => heap[k];
      const s = at(smallest);
      const l = at(left);
      const r = at(right);
      if (l !== undefined && s !== undefined && less(l, s)) smallest = left;
      const s2 = at(smallest);
      if (r !== undefined && s2 !== undefined && less(r, s2)) smallest = right;
      if (smallest === i) break;
      const a = heap[i];
      const b = heap[smallest];
      if (a === undefined || b === undefined) break;
      heap[i] = b;
      heap[smallest] = a;
      i = smallest;
    }
    return top;
  };

  for (const [txId, expiresAt] of initial) {
    expiry.set(txId, expiresAt);
    push([expiresAt, txId]);
  }

  return {
    has: (txId) => expiry.has(txId),
    add: (txId, expiresAt) => {
      if (expiry.size >= replayEntriesMax) return false;
      expiry.set(txId, expiresAt);
      push([expiresAt, txId]);
      return true;
    },
    prune: (time) => {
      for (let top = heap[0]; top !== undefined && top[0] <= time; top = heap[0]) {
        pop();
        if (expiry.get(top[1]) === top[0]) expiry.delete(top[1]);
      }
    },
    size: () => expiry.size,
    entries: () =>
      [...expiry.entries()].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
  };
}
