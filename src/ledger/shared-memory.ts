// Copies for another thread (a commit point's worker, decision 0038): shared memory is posted
// without a copy, and the posting thread keeps what it posted (it computes from it itself if
// the worker fails).

/** A copy of a typed array's bytes in shared memory (a memcpy). */
export function sharedCopy(source: ArrayBufferView): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(source.byteLength);
  new Uint8Array(buffer).set(new Uint8Array(source.buffer, source.byteOffset, source.byteLength));
  return buffer;
}
