// What the replay window and the state's maps share (both keep their entries in typed arrays
// outside V8's heap, decisions 0032 and 0033):
// - open addressing with linear probing over an Int32Array: a slot holds an entry index + 1, or
//   0 when empty. Deletion shifts later entries back (no tombstones), so a table never fills
//   with deleted slots. Tables have slotsPerEntry slots for each entry of room: at most half
//   are ever taken;
// - the merge of newly added entries into a list of entry indexes kept sorted.

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
 */
export function mergeSorted(
  old: Int32Array,
  from: number,
  fresh: Int32Array,
  compare: (a: number, b: number) => number,
  size: number,
  dropped: (entry: number) => boolean = () => false,
): Int32Array<ArrayBuffer> {
  const merged = new Int32Array(size);
  const to = old.length;
  let at = 0;
  let i = from;
  const takeOld = (): void => {
    const entry = old[i] as number;
    i += 1;
    if (dropped(entry)) return;
    merged[at] = entry;
    at += 1;
  };
  for (const entry of fresh) {
    while (i < to && (dropped(old[i] as number) || compare(old[i] as number, entry) < 0)) {
      takeOld();
    }
    merged[at] = entry;
    at += 1;
  }
  while (i < to) takeOld();
  return merged;
}
