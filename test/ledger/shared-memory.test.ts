// Copies into shared memory for the commit-point worker (decisions 0038, 0041).
import { describe, expect, it } from 'vitest';
import { recordingAllocator, sharedCopy } from '../../src/ledger/shared-memory.js';

describe('shared copies', () => {
  it('copy a view’s bytes, not its whole buffer, and do not follow later changes', () => {
    const source = new Uint32Array([1, 2, 3, 4, 5]);
    const view = source.subarray(1, 4);
    const copy = sharedCopy(view, Uint32Array);
    expect(copy).toBeInstanceOf(Uint32Array);
    expect(copy.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect([...copy]).toEqual([2, 3, 4]);
    source[2] = 99;
    expect([...copy]).toEqual([2, 3, 4]);
    expect(sharedCopy(new Uint8Array(0), Uint8Array).byteLength).toBe(0);
  });

  it('go where the allocator says, which can record every view it gave', () => {
    const copies = recordingAllocator();
    const times = sharedCopy(new Float64Array([1.5, 2.5]), Float64Array, copies.allocate);
    const ids = sharedCopy(new Uint8Array([7, 8, 9]), Uint8Array, copies.allocate);
    expect([...times]).toEqual([1.5, 2.5]);
    expect([...ids]).toEqual([7, 8, 9]);
    expect(copies.given().map((view) => view.byteLength)).toEqual([16, 3]);
    expect(copies.given()[0]?.buffer).toBe(times.buffer);
    expect(copies.given()[1]?.buffer).toBe(ids.buffer);
  });
});
