// What the replay window and the state's maps share (both keep their entries in typed arrays
// outside V8's heap, decisions 0032 and 0033):
// - open addressing with linear probing over an Int32Array: a slot holds an entry index + 1, or
//   0 when empty. Deletion shifts later entries back (no tombstones), so a table never fills
//   with deleted slots. Tables have slotsPerEntry slots for each entry of room: at most half
//   are ever taken;
// - the merge of newly added entries into a list of entry indexes kept sorted.

import assert from 'node:assert/strict';

/** Slots of a table per entry of room. */
export const slotsPerEntry = 2;

/** The slot after `slot`, wrapping around. */
export function nextSlot(slots: Int32Array, slot: number): number {
  return slot + 1 === slots.length ? 0 : slot + 1;
}

/** The slot a 32-bit hash starts probing at, in a table of any size (multiply-shift). */
export function homeSlot(hash: number, slots: Int32Array): number {
  return Math.floor(((hash >>> 0) * slots.length) / 4_294_967_296);
}

/** Puts `entry` in the first empty slot from `home` on. */
export function insertSlot(slots: Int32Array, home: number, entry: number): void {
  let slot = home;
  while (slots[slot] !== 0) slot = nextSlot(slots, slot);
  slots[slot] = entry + 1;
}

/** The slot holding `entry` (which the table holds), probing from its home. */
export function slotOfEntry(slots: Int32Array, home: number, entry: number): number {
  let slot = home;
  while (slots[slot] !== entry + 1) slot = nextSlot(slots, slot);
  return slot;
}

/**
 * Empties a slot, moving back the entries after it that probing from their home would no
 * longer reach. `homeOf`: where an entry's probing starts.
 */
export function deleteSlot(
  slots: Int32Array,
  emptied: number,
  homeOf: (entry: number) => number,
): void {
  let hole = emptied;
  slots[hole] = 0;
  const size = slots.length;
  for (let slot = nextSlot(slots, hole); slots[slot] !== 0; slot = nextSlot(slots, slot)) {
    const held = slots[slot] as number;
    const home = homeOf(held - 1);
    // The entry may fill the hole when the hole lies on its probe path: home … hole … slot.
    if ((slot - home + size) % size >= (slot - hole + size) % size) {
      slots[hole] = held;
      slots[slot] = 0;
      hole = slot;
    }
  }
}

/**
 * A new sorted list of `size` entries: `fresh` (sorted) merged into old[from..] (sorted), in
 * `compare` order, leaving out the old entries `dropped` says are gone (their fields may no
 * longer be compared). Equal entries are not expected (no entry is in both lists).
 *
 * Each fresh entry's place is found by galloping from the previous one's (1, 3, 7, … entries
 * ahead, then a binary search), and the old entries between two places are copied as one run:
 * k fresh entries into n old ones cost about k·log2(n/k) comparisons and a copy of n indexes,
 * not n + k comparisons. The lists' owners merge every few thousand additions, so a merge
 * stays a few milliseconds however large the list.
 *
 * The result is written into `spare` (e.g. the list merged before this one) when it has room,
 * else into a new buffer with a quarter more room: merging every few thousand additions then
 * neither allocates nor zeroes a list-sized buffer each time. `spare` must not share `old`'s.
 */
export function mergeSorted(
  old: Int32Array,
  from: number,
  fresh: Int32Array,
  compare: (a: number, b: number) => number,
  size: number,
  dropped?: (entry: number) => boolean,
  spare?: Int32Array<ArrayBuffer>,
): Int32Array<ArrayBuffer> {
  assert(spare === undefined || spare.buffer !== old.buffer, 'the spare is not the old list');
  // Without the dropped entries first: galloping compares entries it skips over.
  let source = old.subarray(from);
  if (dropped !== undefined) {
    const kept = new Int32Array(source.length);
    let count = 0;
    for (const entry of source) {
      if (!dropped(entry)) {
        kept[count] = entry;
        count += 1;
      }
    }
    source = kept.subarray(0, count);
  }
  const merged =
    spare !== undefined && spare.buffer.byteLength - spare.byteOffset >= size * 4
      ? new Int32Array(spare.buffer, spare.byteOffset, size)
      : new Int32Array(Math.ceil(size * 1.25)).subarray(0, size);
  const end = source.length;
  let at = 0;
  let next = 0; // source[..next] is merged
  for (const entry of fresh) {
    // Gallop: source[next, low) all come before entry; source[high] (if any) does not.
    let low = next;
    let ahead = 0;
    while (next + ahead < end && compare(source[next + ahead] as number, entry) < 0) {
      low = next + ahead + 1;
      ahead = ahead * 2 + 1;
    }
    let high = Math.min(end, next + ahead);
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (compare(source[middle] as number, entry) < 0) low = middle + 1;
      else high = middle;
    }
    merged.set(source.subarray(next, low), at);
    at += low - next;
    next = low;
    merged[at] = entry;
    at += 1;
  }
  merged.set(source.subarray(next), at);
  return merged;
}
