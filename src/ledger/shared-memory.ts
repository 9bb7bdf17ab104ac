// Copies for another thread (a commit point's worker, decision 0038): shared memory is posted
// without a copy, and the posting thread keeps what it posted (it computes from it itself if
// the worker fails). Where the copies go is the caller's `allocate`: by default a fresh
// SharedArrayBuffer each; the engine's puts them in memory warmed before the commit point and
// records what it gave, to hand those pages back to the system once the worker is done
// (src/node/shared-pool.ts, decision 0041) instead of at V8's next full collection.

/** `bytes` of shared memory, as a view whose byteOffset is a multiple of 8. */
export type SharedAllocate = (bytes: number) => Uint8Array;

/** A SharedArrayBuffer of its own for every copy. */
export const allocateShared: SharedAllocate = (bytes) =>
  new Uint8Array(new SharedArrayBuffer(bytes));

/** A typed array's constructor over a buffer (Uint8Array, Int32Array, Float64Array…). */
export type ViewOf<T> = {
  new (buffer: SharedArrayBuffer, byteOffset: number, length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** A copy of a typed array in shared memory (a memcpy), as the same kind of typed array. */
export function sharedCopy<T extends ArrayBufferView>(
  source: T,
  as: ViewOf<T>,
  allocate: SharedAllocate = allocateShared,
): T {
  const bytes = allocate(source.byteLength);
  bytes.set(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
  return new as(
    bytes.buffer as SharedArrayBuffer,
    bytes.byteOffset,
    source.byteLength / as.BYTES_PER_ELEMENT,
  );
}

/** An allocator that remembers every view it gave, in order. */
export function recordingAllocator(allocate: SharedAllocate = allocateShared): {
  readonly allocate: SharedAllocate;
  readonly given: () => readonly Uint8Array[];
} {
  const given: Uint8Array[] = [];
  return {
    allocate: (bytes) => {
      const view = allocate(bytes);
      given.push(view);
      return view;
    },
    given: () => given,
  };
}
