// A simulated disk behind the Storage seam, for seeded fault-injection tests (STYLE.md 9, after
// TigerBeetle's src/testing/storage.zig). Everything is in memory and every fault comes from one
// seeded generator, so a failing seed replays exactly.
//
// Model: each file has its durable bytes (as of its last sync) and the ops since then; each
// folder has its durable entries and the entry changes since its last syncDir. A crash keeps,
// per file and per folder, a random prefix of those ops (writes reach the disk in order), and
// may tear the first op it drops (a prefix of its bytes, then zeros or garbage). A failed sync
// does the same to that one file without a crash (the page cache cannot be trusted after it).
// The disk has a capacity: a write past it writes what fits, then fails with ENOSPC.
import assert from 'node:assert/strict';
import path from 'node:path';
import type { Storage, StorageFile } from './files-storage.js';

// --- seeded randomness ------------------------------------------------------------------------

export type SimRandom = {
  readonly seed: number;
  /** Uniform in [0, 1). */
  readonly next: () => number;
  /** Uniform integer in [0, n). */
  readonly int: (n: number) => number;
  readonly chance: (probability: number) => boolean;
  readonly bytes: (length: number) => Uint8Array;
};

/** mulberry32: small, fast and good enough to drive faults; not for cryptography. */
export function createRandom(seed: number): SimRandom {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  return {
    seed,
    next,
    int,
    chance: (probability) => next() < probability,
    bytes: (length) => Uint8Array.from({ length }, () => int(256)),
  };
}

// --- the simulated disk -----------------------------------------------------------------------

export type SimFaults = {
  /** Total bytes of all files; a write past it writes what fits, then fails with ENOSPC. */
  capacityBytes: number;
  /** Probability that a file sync fails (ENOSPC or EIO) and loses some unsynced writes. */
  syncFailProbability: number;
  /** Probability that a folder sync fails with EIO (its entry changes stay pending). */
  syncDirFailProbability: number;
};

export type SimStorage = Storage & {
  readonly random: SimRandom;
  readonly faults: SimFaults;
  /** Power loss: see the model above. Handles opened before are dead afterwards. */
  readonly crash: () => void;
  /** After `calls` more storage calls, every call throws (code ESIMCRASH) until crash(). */
  readonly crashAfter: (calls: number) => void;
  /** True once a crash scheduled by crashAfter is due (calls now fail). */
  readonly crashed: () => boolean;
  /** Flips one bit of a file at rest (in its durable and current bytes). */
  readonly flipBit: (file: string, offset: number, bit: number) => void;
  /** The current bytes of a file (what a read would see), or undefined. */
  readonly contents: (file: string) => Uint8Array | undefined;
  /** Puts a durable file (to load fixtures). */
  readonly putDurable: (file: string, bytes: Uint8Array, mode?: number) => void;
  /** Bytes used by all files. */
  readonly usedBytes: () => number;
  /** Storage calls made so far. */
  readonly calls: () => number;
  /** The faults injected so far, in order (the last ones are printed when a test fails). */
  readonly events: string[];
};

type FileOp =
  | { readonly type: 'write'; readonly offset: number; readonly bytes: Uint8Array }
  | { readonly type: 'truncate'; readonly length: number }
  | { readonly type: 'replace'; readonly bytes: Uint8Array };

type Inode = { current: Uint8Array; durable: Uint8Array; ops: FileOp[]; mode: number };

type DirOp =
  | { readonly type: 'link'; readonly name: string; readonly inode: Inode }
  | { readonly type: 'unlink'; readonly name: string }
  | { readonly type: 'rename'; readonly from: string; readonly to: string };

type Dir = { current: Map<string, Inode>; durable: Map<string, Inode>; ops: DirOp[] };

function errno(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

function applyOp(bytes: Uint8Array, op: FileOp): Uint8Array {
  switch (op.type) {
    case 'replace':
      return op.bytes;
    case 'truncate': {
      const out = new Uint8Array(op.length);
      out.set(bytes.subarray(0, Math.min(op.length, bytes.byteLength)));
      return out;
    }
    case 'write': {
      const out = new Uint8Array(Math.max(bytes.byteLength, op.offset + op.bytes.byteLength));
      out.set(bytes);
      out.set(op.bytes, op.offset);
      return out;
    }
  }
}

function applyDirOp(entries: Map<string, Inode>, op: DirOp): void {
  switch (op.type) {
    case 'link':
      entries.set(op.name, op.inode);
      return;
    case 'unlink':
      entries.delete(op.name);
      return;
    case 'rename': {
      const inode = entries.get(op.from);
      if (inode === undefined) return;
      entries.delete(op.from);
      entries.set(op.to, inode);
      return;
    }
  }
}

export function createSimStorage(seed: number, faults: Partial<SimFaults> = {}): SimStorage {
  const random = createRandom(seed);
  const settings: SimFaults = {
    capacityBytes: faults.capacityBytes ?? Number.MAX_SAFE_INTEGER,
    syncFailProbability: faults.syncFailProbability ?? 0,
    syncDirFailProbability: faults.syncDirFailProbability ?? 0,
  };
  const dirs = new Map<string, Dir>();
  let epoch = 0;
  let callCount = 0;
  let crashIn: number | undefined;
  const events: string[] = [];

  function dirOf(dir: string): Dir {
    const key = path.resolve(dir);
    let found = dirs.get(key);
    if (found === undefined) {
      found = { current: new Map(), durable: new Map(), ops: [] };
      dirs.set(key, found);
    }
    return found;
  }

  function lookup(file: string): Inode | undefined {
    return dirs.get(path.resolve(path.dirname(file)))?.current.get(path.basename(file));
  }

  function dirOp(file: string, op: DirOp): void {
    const dir = dirOf(path.dirname(file));
    dir.ops.push(op);
    applyDirOp(dir.current, op);
  }

  function fileOp(inode: Inode, op: FileOp): void {
    inode.ops.push(op);
    inode.current = applyOp(inode.current, op);
  }

  function used(): number {
    let total = 0;
    const seen = new Set<Inode>();
    for (const dir of dirs.values()) {
      for (const inode of dir.current.values()) {
        if (!seen.has(inode)) total += inode.current.byteLength;
        seen.add(inode);
      }
    }
    return total;
  }

  /** Counts a call; throws once a scheduled crash is due. */
  function tick(): void {
    callCount += 1;
    if (crashIn === undefined) return;
    if (crashIn <= 0) throw errno('ESIMCRASH', 'the simulated machine has crashed');
    crashIn -= 1;
  }

  /** The durable bytes plus a random prefix of the ops, the first dropped one maybe torn. */
  function survivor(inode: Inode): Uint8Array {
    const kept = random.int(inode.ops.length + 1);
    let bytes = inode.durable;
    for (const op of inode.ops.slice(0, kept)) bytes = applyOp(bytes, op);
    const torn = inode.ops[kept];
    if (torn?.type === 'write' && random.chance(0.5)) {
      const cut = random.int(torn.bytes.byteLength + 1);
      const tail = torn.bytes.byteLength - cut;
      const variant = random.int(3);
      const filler =
        variant === 0
          ? new Uint8Array(0)
          : variant === 1
            ? new Uint8Array(tail)
            : random.bytes(tail);
      const written = new Uint8Array(cut + filler.byteLength);
      written.set(torn.bytes.subarray(0, cut));
      written.set(filler, cut);
      bytes = applyOp(bytes, { type: 'write', offset: torn.offset, bytes: written });
    }
    return bytes;
  }

  function handle(inode: Inode, file: string, writable: boolean): StorageFile {
    const opened = epoch;
    let closed = false;
    const live = (): void => {
      tick();
      if (opened !== epoch) throw errno('EBADF', `${file} was opened before a crash`);
      if (closed) throw errno('EBADF', `${file} is closed`);
    };
    const mutable = (): void => {
      live();
      if (!writable) throw errno('EBADF', `${file} is open read-only`);
    };
    return {
      read: (offset, length) => {
        live();
        return Promise.resolve(inode.current.slice(offset, offset + length));
      },
      write: (offset, bytes) => {
        mutable();
        const size = inode.current.byteLength;
        const room = settings.capacityBytes - used();
        const fits = Math.max(0, Math.min(bytes.byteLength, size + room - offset));
        if (fits < bytes.byteLength) {
          events.push(
            `ENOSPC writing ${path.basename(file)} at ${offset}: ${fits} of ${bytes.byteLength} bytes written`,
          );
          if (fits > 0) fileOp(inode, { type: 'write', offset, bytes: bytes.slice(0, fits) });
          return Promise.reject(errno('ENOSPC', `no space left writing ${file}`));
        }
        fileOp(inode, { type: 'write', offset, bytes: bytes.slice() });
        return Promise.resolve();
      },
      sync: () => {
        mutable();
        if (inode.ops.length > 0 && random.chance(settings.syncFailProbability)) {
          // Writeback failed: some unsynced writes are gone, and the page cache says so.
          const bytes = survivor(inode);
          events.push(
            `sync of ${path.basename(file)} failed: ${inode.current.byteLength} -> ${bytes.byteLength} bytes`,
          );
          inode.ops = [{ type: 'replace', bytes }];
          inode.current = bytes;
          return Promise.reject(errno(random.chance(0.5) ? 'ENOSPC' : 'EIO', `sync of ${file}`));
        }
        inode.durable = inode.current;
        inode.ops = [];
        return Promise.resolve();
      },
      truncate: (length) => {
        mutable();
        fileOp(inode, { type: 'truncate', length });
        return Promise.resolve();
      },
      size: () => {
        live();
        return Promise.resolve(inode.current.byteLength);
      },
      close: () => {
        closed = true;
        return Promise.resolve();
      },
    };
  }

  const storage: SimStorage = {
    random,
    faults: settings,
    mkdir: (dir) => {
      tick();
      dirOf(dir);
      return Promise.resolve();
    },
    list: (dir) => {
      tick();
      const found = dirs.get(path.resolve(dir));
      if (found === undefined) return Promise.reject(errno('ENOENT', dir));
      return Promise.resolve([...found.current.keys()]);
    },
    open: (file) => {
      tick();
      const inode = lookup(file);
      if (inode === undefined) return Promise.reject(errno('ENOENT', file));
      return Promise.resolve(handle(inode, file, true));
    },
    openReadOnly: (file) => {
      tick();
      const inode = lookup(file);
      if (inode === undefined) return Promise.reject(errno('ENOENT', file));
      return Promise.resolve(handle(inode, file, false));
    },
    create: (file, mode = 0o644) => {
      tick();
      const existing = lookup(file);
      if (existing !== undefined) {
        fileOp(existing, { type: 'truncate', length: 0 });
        existing.mode = mode;
        return Promise.resolve(handle(existing, file, true));
      }
      const inode: Inode = {
        current: new Uint8Array(0),
        durable: new Uint8Array(0),
        ops: [],
        mode,
      };
      dirOp(file, { type: 'link', name: path.basename(file), inode });
      return Promise.resolve(handle(inode, file, true));
    },
    stat: (file) => {
      tick();
      const inode = lookup(file);
      return Promise.resolve(
        inode === undefined ? undefined : { size: inode.current.byteLength, mode: inode.mode },
      );
    },
    rename: (from, to) => {
      tick();
      assert(path.resolve(path.dirname(from)) === path.resolve(path.dirname(to)), 'same folder');
      if (lookup(from) === undefined) return Promise.reject(errno('ENOENT', from));
      dirOp(from, { type: 'rename', from: path.basename(from), to: path.basename(to) });
      return Promise.resolve();
    },
    remove: (file) => {
      tick();
      if (lookup(file) !== undefined) dirOp(file, { type: 'unlink', name: path.basename(file) });
      return Promise.resolve();
    },
    syncDir: (dir) => {
      tick();
      if (random.chance(settings.syncDirFailProbability)) {
        events.push(`sync of folder ${dir} failed`);
        return Promise.reject(errno('EIO', `sync of folder ${dir}`));
      }
      const found = dirOf(dir);
      found.durable = new Map(found.current);
      found.ops = [];
      return Promise.resolve();
    },

    crash: () => {
      events.push('crash');
      const inodes = new Set<Inode>();
      for (const dir of dirs.values()) {
        const kept = random.int(dir.ops.length + 1);
        if (dir.ops.length > 0) {
          const ops = dir.ops.map((op) =>
            op.type === 'rename' ? `rename ${op.from} ${op.to}` : `${op.type} ${op.name}`,
          );
          events.push(`  folder keeps ${kept} of [${ops.join(', ')}]`);
        }
        const entries = new Map(dir.durable);
        for (const op of dir.ops.slice(0, kept)) applyDirOp(entries, op);
        dir.durable = entries;
        dir.current = new Map(entries);
        dir.ops = [];
        for (const inode of entries.values()) inodes.add(inode);
      }
      for (const inode of inodes) {
        const before = inode.current.byteLength;
        const bytes = survivor(inode);
        if (bytes.byteLength !== before || inode.ops.length > 0) {
          events.push(
            `  a file of ${before} bytes (${inode.ops.length} unsynced ops) keeps ${bytes.byteLength}`,
          );
        }
        inode.durable = bytes;
        inode.current = bytes;
        inode.ops = [];
      }
      epoch += 1;
      crashIn = undefined;
    },
    crashAfter: (calls) => {
      crashIn = calls;
    },
    crashed: () => crashIn !== undefined && crashIn <= 0,
    flipBit: (file, offset, bit) => {
      const inode = lookup(file);
      assert(inode !== undefined && inode.ops.length === 0, `${file} exists and is at rest`);
      assert(offset >= 0 && offset < inode.current.byteLength, 'offset inside the file');
      const bytes = inode.current.slice();
      bytes[offset] = (bytes[offset] ?? 0) ^ (1 << bit);
      inode.current = bytes;
      inode.durable = bytes;
    },
    contents: (file) => lookup(file)?.current.slice(),
    putDurable: (file, bytes, mode = 0o644) => {
      const dir = dirOf(path.dirname(file));
      const inode: Inode = { current: bytes.slice(), durable: bytes.slice(), ops: [], mode };
      dir.current.set(path.basename(file), inode);
      dir.durable.set(path.basename(file), inode);
    },
    usedBytes: used,
    calls: () => callCount,
    events,
  };
  return storage;
}
