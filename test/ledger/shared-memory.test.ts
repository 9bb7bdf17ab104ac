// Copies into shared memory for the commit-point worker (decision 0038).
import { describe, expect, it } from 'vitest';
import { sharedCopy } from '../../src/ledger/shared-memory.js';

describe('shared copies', () => {
  it('copy a view’s bytes, not its whole buffer, and do not follow later changes', () => {
    const source = new Uint32Array([1, 2, 3, 4, 5]);
    const view = source.subarray(1, 4);
    const copy = sharedCopy(view);
    expect(copy).toBeInstanceOf(SharedArrayBuffer);
    expect([...new Uint32Array(copy)]).toEqual([2, 3, 4]);
    source[2] = 99;
    expect([...new Uint32Array(copy)]).toEqual([2, 3, 4]);
    expect(sharedCopy(new Uint8Array(0)).byteLength).toBe(0);
  });
});
