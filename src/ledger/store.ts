// The KV store: named maps of string keys to string values, in memory, pure (no IO, no clock).
// A map whose name starts with `public:` is public (written in clear to the ledger); every
// other map is private (encrypted with the ledger secret, secret.ts), as in CCF. Callers
// JSON-encode values. Execution builds a write set in a Tx; every node applies the same write
// sets in the same order, so every node holds the same state and produces the same bytes.
import assert from 'node:assert/strict';
import { cofferError } from '../errors/index.js';
import { createCompactMap, forEachFrozen, type CompactMap, type FrozenMap } from './compact-map.js';
import type { SharedAllocate } from './shared-memory.js';

// --- types ------------------------------------------------------------------------------------

/** One write of a transaction: `value` null deletes the key. */
export type Write = { readonly map: string; readonly key: string; readonly value: string | null };

/**
 * The writes of one transaction: at most one per (map, key), in the order each (map, key) was
 * first written (the last value wins), so the same execution gives the same bytes on every node.
 */
export type WriteSet = readonly Write[];

/** A transaction: reads see its own writes first, then the store as it is. */
export type Tx = {
  readonly get: (map: string, key: string) => string | undefined;
  readonly has: (map: string, key: string) => boolean;
  readonly put: (map: string, key: string, value: string) => void;
  readonly delete: (map: string, key: string) => void;
  /** The writes so far (a copy: the Tx stays usable). */
  readonly writeSet: () => WriteSet;
};

export type Store = {
  /** The committed value of `key` in `map`, or undefined. */
  readonly read: (map: string, key: string) => string | undefined;
  /**
   * A transaction over the store as it is now. Execution is sequential: apply (or drop) a Tx's
   * write set before beginning the next; a Tx used after the store moved on throws.
   */
  readonly begin: () => Tx;
  /**
   * Applies a write set as the state at ledger position `seqno`. Checks every write before
   * changing anything (all or nothing). Seqnos strictly increase; positions whose transaction
   * wrote nothing (invalid transactions, signature entries) may be skipped.
   */
  readonly apply: (writeSet: WriteSet, seqno: number) => void;
  /** Seqno of the last applied write set (0 for an empty store). */
  readonly seqno: () => number;
  /** Names of the maps that hold at least one key, sorted. */
  readonly maps: () => string[];
  /** Number of keys in `map`. */
  readonly size: (map: string) => number;
  /**
   * The [key, value] pairs of `map`, sorted by key (JS string order), so that iteration is the
   * same on a node that replayed the ledger and on one restored from a snapshot.
   */
  readonly entries: (map: string) => IterableIterator<[string, string]>;
  /**
   * The keys of `map`, sorted as `entries` yields them, as a fresh array: a caller that goes
   * through a large map reads each value itself (no pair per entry; snapshots at commit points).
   */
  readonly sortedKeys: (map: string) => string[];
  /**
   * The entries of `map` sorted by key, as two lists (keys, and the values at the same
   * indexes), as they are now.
   */
  readonly sortedEntries: (map: string) => {
    readonly keys: readonly string[];
    readonly values: readonly string[];
  };
  /**
   * Calls `each` for every entry of `map` in key order with its UTF-8 bytes: the key in
   * bytes[keyStart, keyEnd), the value in bytes[keyEnd, valueEnd), valid during the call only
   * (snapshots at commit points go through a million entries this way, making no string). The
   * store must not change during the walk.
   */
  readonly forEachSorted: (
    map: string,
    each: (bytes: Buffer, keyStart: number, keyEnd: number, valueEnd: number) => void,
  ) => void;
  /**
   * A copy of every map in key order as of now, for another thread to encode while the store
   * goes on (a commit point's snapshot, decision 0038): read it with sortedMapsOf. The copies
   * go where `allocate` puts them (default: a SharedArrayBuffer each).
   */
  readonly frozen: (allocate?: SharedAllocate) => FrozenStore;
};

/** What a snapshot's encoding reads from a store: its maps in key order. */
export type SortedMaps = Pick<Store, 'seqno' | 'maps' | 'size' | 'forEachSorted'>;

/** A store's maps as of one moment (Store.frozen), in buffers another thread can take. */
export type FrozenStore = {
  readonly seqno: number;
  /** Sorted by name; every map holds at least one key. */
  readonly maps: readonly ({ readonly name: string } & FrozenMap)[];
};

/** Reads a frozen store as a snapshot's encoding reads a store. */
export function sortedMapsOf(frozen: FrozenStore): SortedMaps {
  const byName = new Map(frozen.maps.map((map) => [map.name, map]));
  return {
    seqno: () => frozen.seqno,
    maps: () => frozen.maps.map((map) => map.name),
    size: (name) => byName.get(name)?.order.length ?? 0,
    forEachSorted: (name, each) => {
      const map = byName.get(name);
      if (map !== undefined) forEachFrozen(map, each);
    },
  };
}

// --- limits (STYLE.md 5) ----------------------------------------------------------------------
// Not configurable per node: a limit decides whether a transaction is valid, so every node must
// apply the same ones.

/** Longest map name, in UTF-8 bytes (the `public:` prefix included). */
export const mapNameBytesMax: number = 128;
/** Longest key, in UTF-8 bytes. */
export const keyBytesMax: number = 4096;
/** Longest value, in UTF-8 bytes. */
export const valueBytesMax: number = 1_048_576;
/** Distinct (map, key) pairs one transaction may write. */
export const writesPerTxMax: number = 10_000;
/** Map name, key and value bytes of one write set, summed over its writes. */
export const writeSetBytesMax: number = 8 * 1_048_576;
/** Non-empty maps the store may hold. */
export const mapsMax: number = 4096;

/**
 * UTF-8 bytes of keys and values one map holds at most (a write past it is refused, on every
 * node alike): a map keeps its text in one arena with u32 offsets (compact-map.ts), which holds
 * up to twice the live text between rewrites.
 */
export const mapBytesMax: number = 1_073_741_824;

assert(mapNameBytesMax + keyBytesMax + valueBytesMax <= writeSetBytesMax, 'one largest write fits');
assert(writesPerTxMax >= 1 && mapsMax >= 1);

/** Prefix of public maps (CCF's convention). */
export const publicMapPrefix = 'public:';

// A name is an optional `public:` then letters, digits and `_ . - /`. No `:` after the prefix
// and no NUL, so `public:` is unambiguous and (map, key) pairs join without collisions.
const mapNamePattern = /^(?:public:)?[A-Za-z0-9_][A-Za-z0-9_.\-/]*$/;
// Lone UTF-16 surrogates have no UTF-8 encoding: two different keys would encode alike.
const loneSurrogate = /\p{Cs}/u;

export function isPublicMap(map: string): boolean {
  return map.startsWith(publicMapPrefix);
}

// --- validation -------------------------------------------------------------------------------

function limitError(limit: string, max: number, actual: number, what: string): Error {
  return cofferError(
    'STORE_E_LIMIT',
    `${what} is ${actual} bytes or items; at most ${max} (${limit})`,
    { limit, max, actual },
  );
}

/** Checks a map name; throws STORE_E_INVALID or STORE_E_LIMIT. */
export function checkMapName(map: string): void {
  const bytes = Buffer.byteLength(map, 'utf8');
  if (bytes > mapNameBytesMax) {
    throw limitError('mapNameBytesMax', mapNameBytesMax, bytes, `map name ${map.slice(0, 40)}…`);
  }
  if (!mapNamePattern.test(map)) {
    throw cofferError(
      'STORE_E_INVALID',
      `map name ${JSON.stringify(map)} is not valid: use letters, digits and _ . - /, ` +
        `optionally after "public:"`,
      { map },
    );
  }
}

function utf8Bytes(text: string, what: 'key' | 'value', map: string): number {
  if (loneSurrogate.test(text)) {
    throw cofferError(
      'STORE_E_INVALID',
      `a ${what} in map ${map} is not well-formed Unicode (it holds a lone surrogate)`,
      { map, what },
    );
  }
  return Buffer.byteLength(text, 'utf8');
}

/** Bytes `write` counts toward writeSetBytesMax; throws when a key or value is too large. */
function checkWrite(map: string, key: string, value: string | null): number {
  const keyBytes = utf8Bytes(key, 'key', map);
  if (keyBytes > keyBytesMax) {
    throw limitError('keyBytesMax', keyBytesMax, keyBytes, `a key of map ${map}`);
  }
  let valueBytes = 0;
  if (value !== null) {
    valueBytes = utf8Bytes(value, 'value', map);
    if (valueBytes > valueBytesMax) {
      throw limitError('valueBytesMax', valueBytesMax, valueBytes, `the value of ${map}[${key}]`);
    }
  }
  return Buffer.byteLength(map, 'utf8') + keyBytes + valueBytes;
}

// --- the store --------------------------------------------------------------------------------

/** A map's entries sorted by key (JS string order): keys and values in two lists. */
type SortedEntries = { readonly keys: readonly string[]; readonly values: readonly string[] };

export function createStore(): Store {
  return storeOver(new Map(), 0);
}

/**
 * A store holding `maps` at `seqno` (a snapshot being restored). Checks every name, key and
 * value as `apply` would; throws STORE_E_INVALID or STORE_E_LIMIT. The maps are copied into the
 * store's own form, so the caller may drop them.
 */
export function createStoreFrom(
  seqno: number,
  maps: ReadonlyMap<string, ReadonlyMap<string, string>>,
): Store {
  if (maps.size > mapsMax) throw limitError('mapsMax', mapsMax, maps.size, 'the number of maps');
  const compact = new Map<string, CompactMap>();
  for (const [map, entries] of maps) {
    checkMapName(map);
    const into = createCompactMap();
    for (const [key, value] of entries) {
      checkWrite(map, key, value);
      into.set(key, value);
    }
    compact.set(map, into);
  }
  return createStoreOver(seqno, compact);
}

/**
 * A store over maps already in the store's form, taking ownership of them: a snapshot decoded
 * straight into them (decodeSnapshot checked every key and value as it went, so no second copy
 * of a million-key state is made). Checks map names and counts; throws STORE_E_INVALID or
 * STORE_E_LIMIT.
 */
export function createStoreOver(seqno: number, maps: Map<string, CompactMap>): Store {
  assert(Number.isSafeInteger(seqno) && seqno >= 0, 'store seqno');
  if (maps.size > mapsMax) throw limitError('mapsMax', mapsMax, maps.size, 'the number of maps');
  for (const [map, entries] of maps) {
    checkMapName(map);
    if (entries.size() === 0) {
      throw cofferError('STORE_E_INVALID', `map ${map} is empty; empty maps are not stored`, {
        map,
      });
    }
    if (entries.liveBytes() > mapBytesMax) {
      throw limitError('mapBytesMax', mapBytesMax, entries.liveBytes(), `map ${map}`);
    }
  }
  return storeOver(maps, seqno);
}

function storeOver(state: Map<string, CompactMap>, initialSeqno: number): Store {
  let seqno = initialSeqno;

  function read(map: string, key: string): string | undefined {
    return state.get(map)?.get(key);
  }

  function sortedEntries(map: string): SortedEntries {
    return state.get(map)?.sorted() ?? { keys: [], values: [] };
  }

  function sortedKeys(map: string): string[] {
    return [...sortedEntries(map).keys];
  }

  function apply(writeSet: WriteSet, at: number): void {
    assert(Number.isSafeInteger(at) && at > seqno, `seqno ${at} does not follow ${seqno}`);
    if (writeSet.length > writesPerTxMax) {
      throw limitError('writesPerTxMax', writesPerTxMax, writeSet.length, 'the write set');
    }
    // Every check before any change (STYLE.md 4): a refused write set leaves the store as it was.
    let bytes = 0;
    const newMaps = new Set<string>();
    // Text each map may hold after the writes, counting every written key and value as new (a
    // bound from above, the same on every node).
    const mapBytes = new Map<string, number>();
    for (const { map, key, value } of writeSet) {
      if (!state.has(map)) {
        checkMapName(map);
        if (value !== null) newMaps.add(map);
      }
      const size = checkWrite(map, key, value);
      bytes += size;
      if (value !== null) {
        const before = mapBytes.get(map) ?? state.get(map)?.liveBytes() ?? 0;
        mapBytes.set(map, before + size - Buffer.byteLength(map, 'utf8'));
      }
    }
    if (bytes > writeSetBytesMax) {
      throw limitError('writeSetBytesMax', writeSetBytesMax, bytes, 'the write set');
    }
    if (state.size + newMaps.size > mapsMax) {
      throw limitError('mapsMax', mapsMax, state.size + newMaps.size, 'the number of maps');
    }
    for (const [map, after] of mapBytes) {
      if (after > mapBytesMax) throw limitError('mapBytesMax', mapBytesMax, after, `map ${map}`);
    }
    for (const { map, key, value } of writeSet) {
      let entries = state.get(map);
      if (value === null) {
        if (entries?.delete(key) === true && entries.size() === 0) state.delete(map);
        continue;
      }
      if (entries === undefined) {
        entries = createCompactMap();
        state.set(map, entries);
      }
      entries.set(key, value);
    }
    seqno = at;
  }

  function begin(): Tx {
    const base = seqno;
    // Keyed by map + NUL + key (map names hold no NUL); Map keeps first-insertion order.
    const writes = new Map<string, { map: string; key: string; value: string | null }>();
    const createdMaps = new Set<string>();
    let bytes = 0;

    function current(): void {
      assert(seqno === base, 'a Tx was used after the store moved on; begin a new one');
    }

    function lookup(map: string, key: string): string | undefined {
      current();
      const written = writes.get(`${map}\u0000${key}`);
      if (written !== undefined) return written.value ?? undefined;
      return read(map, key);
    }

    function write(map: string, key: string, value: string | null): void {
      current();
      const known = state.has(map) || createdMaps.has(map);
      if (!known) checkMapName(map);
      const size = checkWrite(map, key, value);
      const id = `${map}\u0000${key}`;
      const previous = writes.get(id);
      if (previous === undefined && writes.size >= writesPerTxMax) {
        throw limitError('writesPerTxMax', writesPerTxMax, writes.size + 1, 'the transaction');
      }
      const previousSize =
        previous === undefined
          ? 0
          : Buffer.byteLength(map, 'utf8') +
            Buffer.byteLength(key, 'utf8') +
            (previous.value === null ? 0 : Buffer.byteLength(previous.value, 'utf8'));
      if (bytes - previousSize + size > writeSetBytesMax) {
        throw limitError(
          'writeSetBytesMax',
          writeSetBytesMax,
          bytes - previousSize + size,
          'the transaction',
        );
      }
      if (!known && value !== null) {
        if (state.size + createdMaps.size + 1 > mapsMax) {
          throw limitError(
            'mapsMax',
            mapsMax,
            state.size + createdMaps.size + 1,
            'the number of maps',
          );
        }
        createdMaps.add(map);
      }
      bytes += size - previousSize;
      if (previous === undefined) writes.set(id, { map, key, value });
      else previous.value = value;
    }

    return {
      get: lookup,
      has: (map, key) => lookup(map, key) !== undefined,
      put: (map, key, value) => {
        write(map, key, value);
      },
      delete: (map, key) => {
        write(map, key, null);
      },
      writeSet: () => {
        current();
        return Array.from(writes.values(), ({ map, key, value }) => ({ map, key, value }));
      },
    };
  }

  return {
    read,
    begin,
    apply,
    seqno: () => seqno,
    maps: () => [...state.keys()].sort(),
    size: (map) => state.get(map)?.size() ?? 0,
    entries: function* (map) {
      // The entries as they are now: later writes do not change what this yields.
      const { keys, values } = sortedEntries(map);
      for (let i = 0; i < keys.length; i += 1) yield [keys[i] as string, values[i] as string];
    },
    sortedKeys,
    sortedEntries,
    forEachSorted: (map, each) => {
      state.get(map)?.forEachSorted(each);
    },
    frozen: (allocate) => ({
      seqno,
      maps: [...state.keys()].sort().map((name) => ({
        name,
        ...(state.get(name) as CompactMap).frozen(allocate),
      })),
    }),
  };
}
