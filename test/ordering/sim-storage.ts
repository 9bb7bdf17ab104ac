// A simulated disk behind the Storage seam, every choice from one Rng (STYLE.md 9; after
// TigerBeetle's src/testing/storage.zig). It models what real disks do to a log:
// - a write lands in the page cache (`data`); only sync makes it durable (`durable`);
// - a crash keeps the durable bytes plus some random prefix of what was written after them,
//   sometimes with a hole (pages reach the disk out of order) or junk at the end (a torn sector);
//   it can also strike during a write, which then lands only in part (a torn write);
// - a file whose directory entry was never synced may vanish in a crash;
// - while "full", writes store a random prefix then fail with ENOSPC, syncs and creates may fail;
// - optional random EIO; bit flips in durable bytes on request.
// It also asserts two promises of the log: it never writes over bytes that are already durable,
// and it writes only to the last file of the directory (so only that one can end torn).
import { AssertionError } from 'node:assert';
import { Buffer } from 'node:buffer';
import path from 'node:path';
import type { Storage, StorageFile } from '../../src/ordering/index.js';
import type { Rng } from './rng.js';

type SimFile = {
  data: Uint8Array;
  durable: Uint8Array;
};

export type SimOptions = {
  /** Probability that any one operation fails with EIO (0 by default). */
  readonly eioRate?: number;
  /** Most microtask turns an operation takes, to vary interleavings (default 3). */
  readonly delayTurnsMax?: number;
};

export type SimDisk = {
  /** Storage for a process started now; every call fails once the disk has crashed since. */
  readonly storage: () => Storage;
  /** Power loss: reverts every file to what a real disk could hold; old handles die. */
  readonly crash: () => void;
  /** Power loss during the next write, which keeps only a random prefix of its bytes. */
  readonly tearNextWrite: () => void;
  readonly setFull: (full: boolean) => void;
  readonly isFull: () => boolean;
  /** Flips one bit of a file, in the page cache and on disk alike (media corruption). */
  readonly flipBit: (file: string, offset: number, bit: number) => void;
  readonly fileNames: () => readonly string[];
  readonly contents: (file: string) => Uint8Array;
  readonly stats: { enospc: number; eio: number; syncs: number; crashes: number };
};

class SimCrashed extends Error {
  readonly code = 'ESIMCRASHED';
}

function errno(code: string, op: string, file: string): Error {
  return Object.assign(new Error(`${code}: simulated, ${op} '${file}'`), { code });
}

export function createSimDisk(rng: Rng, options: SimOptions = {}): SimDisk {
  const files = new Map<string, SimFile>();
  const dirs = new Set<string>();
  /** Directory entries that survive a crash (synced with syncDir). */
  const durableNames = new Set<string>();
  let generation = 0;
  let full = false;
  let tearNextWrite = false;
  const eioRate = options.eioRate ?? 0;
  const delayTurnsMax = options.delayTurnsMax ?? 3;
  const stats = { enospc: 0, eio: 0, syncs: 0, crashes: 0 };

  /** Runs `effect` now (atomically), then resolves after a few microtask turns. */
  const operation = async <T>(gen: number, what: string, file: string, effect: () => T) => {
    if (gen !== generation) throw new SimCrashed(`${what} after a crash`);
    if (eioRate > 0 && rng.chance(eioRate)) {
      stats.eio += 1;
      throw errno('EIO', what, file);
    }
    const result = effect();
    for (let turns = rng.int(delayTurnsMax + 1); turns > 0; turns -= 1) await Promise.resolve();
    if (gen !== generation) throw new SimCrashed(`${what} interrupted by a crash`);
    return result;
  };

  const enospc = (what: string, file: string): Error => {
    stats.enospc += 1;
    return errno('ENOSPC', what, file);
  };

  const handle = (name: string, gen: number): StorageFile => {
    const get = (): SimFile => {
      const file = files.get(name);
      if (file === undefined) throw new AssertionError({ message: `sim: ${name} vanished` });
      return file;
    };
    return {
      read: (offset, length) =>
        operation(gen, 'read', name, () => get().data.slice(offset, offset + length)),
      write: (offset, bytes) =>
        operation(gen, 'write', name, () => {
          const file = get();
          if (offset < file.durable.byteLength) {
            throw new AssertionError({
              message: `sim: write at ${offset} of ${name} would overwrite durable bytes (durable up to ${file.durable.byteLength})`,
            });
          }
          // Only the last segment may ever hold a torn tail, so only it may be written to.
          const later = [...files.keys()].find(
            (other) => path.dirname(other) === path.dirname(name) && other > name,
          );
          if (later !== undefined && bytes.byteLength > 0) {
            throw new AssertionError({
              message: `sim: write to ${name}, but ${later} comes after it`,
            });
          }
          const torn = tearNextWrite;
          tearNextWrite = false;
          const kept = full || torn ? rng.int(bytes.byteLength + 1) : bytes.byteLength;
          const end = Math.max(file.data.byteLength, offset + kept);
          const next = new Uint8Array(end);
          next.set(file.data);
          next.set(bytes.subarray(0, kept), offset);
          file.data = next;
          if (torn) crash(); // power fails while this write is under way
          if (full) throw enospc('write', name);
        }),
      sync: () =>
        operation(gen, 'sync', name, () => {
          if (full && rng.chance(0.3)) throw enospc('sync', name);
          stats.syncs += 1;
          const file = get();
          file.durable = file.data.slice();
        }),
      truncate: (length) =>
        operation(gen, 'truncate', name, () => {
          const file = get();
          const next = new Uint8Array(length);
          next.set(file.data.subarray(0, length));
          file.data = next;
        }),
      size: () => operation(gen, 'size', name, () => get().data.byteLength),
      close: async () => {
        // Closing never fails and is harmless after a crash.
      },
    };
  };

  /** The storage of a process started now: it dies with the next crash, as its process. */
  const storage = (): Storage => {
    const gen = generation;
    return {
      mkdir: (dir) =>
        operation(gen, 'mkdir', dir, () => {
          if (dirs.has(dir)) return;
          if (full) throw enospc('mkdir', dir);
          dirs.add(dir); // directories are durable at once: only files matter here
        }),
      list: (dir) =>
        operation(gen, 'list', dir, () => {
          if (!dirs.has(dir)) throw errno('ENOENT', 'list', dir);
          return [...files.keys()]
            .filter((name) => path.dirname(name) === dir)
            .map((name) => path.basename(name));
        }),
      open: (name) =>
        operation(gen, 'open', name, () => {
          if (!files.has(name)) throw errno('ENOENT', 'open', name);
          return handle(name, gen);
        }),
      create: (name) =>
        operation(gen, 'create', name, () => {
          if (!dirs.has(path.dirname(name))) throw errno('ENOENT', 'create', name);
          if (full && rng.chance(0.5)) throw enospc('create', name);
          const existing = files.get(name);
          if (existing !== undefined && existing.durable.byteLength > 0) {
            throw new AssertionError({
              message: `sim: create would empty ${name}, which holds durable bytes`,
            });
          }
          if (existing === undefined)
            files.set(name, { data: new Uint8Array(0), durable: new Uint8Array(0) });
          else existing.data = new Uint8Array(0);
          return handle(name, gen);
        }),
      syncDir: (dir) =>
        operation(gen, 'syncDir', dir, () => {
          if (full && rng.chance(0.2)) throw enospc('syncDir', dir);
          for (const name of files.keys()) if (path.dirname(name) === dir) durableNames.add(name);
        }),
    };
  };

  const crash = (): void => {
    tearNextWrite = false;
    generation += 1;
    stats.crashes += 1;
    if (rng.chance(0.5)) full = false; // else recovery itself runs on a full disk
    for (const [name, file] of [...files.entries()]) {
      if (!durableNames.has(name) && rng.chance(0.5)) {
        files.delete(name);
        continue;
      }
      durableNames.add(name);
      file.data = afterPowerLoss(file);
      file.durable = file.data.slice();
    }
  };

  /** What a disk may hold after power loss: durable bytes, then maybe part of the rest. */
  const afterPowerLoss = (file: SimFile): Uint8Array => {
    const { data, durable } = file;
    const extends_ =
      data.byteLength >= durable.byteLength &&
      Buffer.from(data.buffer, data.byteOffset, durable.byteLength).equals(durable);
    if (!extends_) return rng.chance(0.5) ? durable.slice() : data.slice(); // a truncation
    const extra = data.byteLength - durable.byteLength;
    const mode = rng.int(3);
    const kept = mode === 0 ? 0 : mode === 1 ? extra : rng.int(extra + 1);
    const out = data.slice(0, durable.byteLength + kept);
    if (kept > 0 && rng.chance(0.25)) {
      // Pages of one write reached the disk out of order: a hole of zeros.
      const start = durable.byteLength + rng.int(kept);
      out.fill(0, start, start + 1 + rng.int(Math.min(64, out.byteLength - start)));
    } else if (kept > 0 && rng.chance(0.2)) {
      // A torn sector: junk at the end.
      const junk = Math.min(kept, 1 + rng.int(16));
      out.set(rng.bytes(junk), out.byteLength - junk);
    }
    return out;
  };

  return {
    storage,
    crash,
    tearNextWrite: () => {
      tearNextWrite = true;
    },
    setFull: (value) => {
      full = value;
    },
    isFull: () => full,
    flipBit: (name, offset, bit) => {
      const file = files.get(name);
      if (file === undefined) throw new Error(`sim: no file ${name}`);
      for (const bytes of [file.data, file.durable]) {
        const byte = bytes[offset];
        if (byte !== undefined) bytes[offset] = byte ^ (1 << bit);
      }
    },
    fileNames: () => [...files.keys()].sort(),
    contents: (name) => files.get(name)?.data.slice() ?? new Uint8Array(0),
    stats,
  };
}
