import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  deleteSlot,
  insertSlot,
  mergeSorted,
  nextSlot,
  slotOfEntry,
} from '../../src/ledger/slot-table.js';

describe('slot table (open addressing, linear probing, backward-shift deletion)', () => {
  it('finds every entry it holds after any inserts and deletes, with colliding homes and wrap-around', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 16 }),
        fc.array(fc.record({ add: fc.boolean(), entry: fc.integer({ min: 0, max: 30 }) }), {
          maxLength: 200,
        }),
        (size, ops) => {
          const slots = new Int32Array(size * 2);
          // Few homes, near the end: probes collide and wrap around past the last slot.
          const homeOf = (entry: number): number => slots.length - 1 - (entry % 3);
          const held = new Set<number>();
          const find = (entry: number): number => {
            for (let slot = homeOf(entry), seen = 0; seen < slots.length; seen += 1) {
              if (slots[slot] === 0) return -1;
              if (slots[slot] === entry + 1) return slot;
              slot = nextSlot(slots, slot);
            }
            return -1;
          };
          for (const { add, entry } of ops) {
            if (add && !held.has(entry) && held.size < size) {
              insertSlot(slots, homeOf(entry), entry);
              held.add(entry);
            } else if (!add && held.has(entry)) {
              deleteSlot(slots, slotOfEntry(slots, homeOf(entry), entry), homeOf);
              held.delete(entry);
            }
            for (let entry = 0; entry <= 30; entry += 1) {
              expect(find(entry) >= 0, `entry ${entry}`).toBe(held.has(entry));
            }
          }
          expect(slots.filter((slot) => slot !== 0)).toHaveLength(held.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('mergeSorted', () => {
  it('gives the sorted union of old[from..] without the dropped entries and fresh, never comparing a dropped entry', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 120 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 400 }), { maxLength: 40 }),
        fc.nat({ max: 20 }),
        fc.integer({ min: 0, max: 3 }),
        (oldValues, freshValues, fromAsked, dropEvery) => {
          const oldSorted = Int32Array.from(oldValues).sort();
          const freshSorted = Int32Array.from(
            freshValues.filter((value) => !oldValues.includes(value)),
          ).sort();
          const from = Math.min(fromAsked, oldSorted.length);
          const isDropped = (entry: number): boolean => dropEvery > 0 && entry % 4 < dropEvery;
          const compare = (a: number, b: number): number => {
            if (isDropped(a) && oldValues.includes(a)) throw new Error(`compared dropped ${a}`);
            if (isDropped(b) && oldValues.includes(b)) throw new Error(`compared dropped ${b}`);
            return a - b;
          };
          const kept = [...oldSorted.subarray(from)].filter((entry) => !isDropped(entry));
          const expected = [...kept, ...freshSorted].sort((a, b) => a - b);
          const merged = mergeSorted(
            oldSorted,
            from,
            freshSorted,
            compare,
            expected.length,
            dropEvery > 0 ? isDropped : undefined,
          );
          expect([...merged]).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('finds places by galloping: a few thousand entries into a million cost comparisons by the thousand, not by the million', () => {
    const old = Int32Array.from({ length: 1_000_000 }, (_, i) => i * 2);
    // Spread over the whole list (the worst case for galloping), and all at its end.
    const spread = Int32Array.from({ length: 4096 }, (_, i) => i * 488 + 1);
    const atEnd = Int32Array.from({ length: 4096 }, (_, i) => 2_000_000 + i);
    for (const fresh of [spread, atEnd]) {
      let comparisons = 0;
      const merged = mergeSorted(
        old,
        0,
        fresh,
        (a, b) => {
          comparisons += 1;
          return a - b;
        },
        old.length + fresh.length,
      );
      expect(merged.length).toBe(old.length + fresh.length);
      for (let i = 1; i < merged.length; i += 1) {
        if ((merged[i - 1] as number) >= (merged[i] as number)) throw new Error(`unsorted at ${i}`);
      }
      // About 4096 · 2 · log2(1e6 / 4096) ≈ 65,000 at most; a linear merge makes 1,004,096.
      expect(comparisons).toBeLessThan(80_000);
    }
  });
});
