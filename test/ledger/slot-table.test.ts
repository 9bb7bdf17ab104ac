import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { deleteSlot, insertSlot, nextSlot, slotOfEntry } from '../../src/ledger/slot-table.js';

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
