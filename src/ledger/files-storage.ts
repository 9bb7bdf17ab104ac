// The storage seam of ledger files, snapshots and the secret file (STYLE.md 3 and 9): every byte
// they read or write goes through these calls, so tests swap in a simulated disk (files-sim.ts)
// that tears writes, loses what was not synced, fills up and flips bits, all from one seed.
// createFsStorage() is the real one, on node:fs.
import { constants } from 'node:fs';
import { chmod, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CofferError, cofferError } from '../errors/index.js';

/** One open file. Offsets are absolute; nothing has a file position. */
export type StorageFile = {
  /** Up to `length` bytes at `offset`; fewer only where the file ends. */
  readonly read: (offset: number, length: number) => Promise<Uint8Array>;
  /** Writes all of `bytes` at `offset`, or throws (a failed write may have written a prefix). */
  readonly write: (offset: number, bytes: Uint8Array) => Promise<void>;
  /** Makes the data and size durable. After a failure, unsynced data is in an unknown state. */
  readonly sync: () => Promise<void>;
  readonly truncate: (length: number) => Promise<void>;
  readonly size: () => Promise<number>;
  readonly close: () => Promise<void>;
};

export type Storage = {
  /** Creates the directory and its missing parents. */
  readonly mkdir: (dir: string) => Promise<void>;
  /** File names in `dir` (names only, any order); ENOENT when `dir` does not exist. */
  readonly list: (dir: string) => Promise<readonly string[]>;
  /** Opens an existing file for reading and writing. */
  readonly open: (file: string) => Promise<StorageFile>;
  /** Opens an existing file for reading only (verifying a read-only copy of a ledger). */
  readonly openReadOnly: (file: string) => Promise<StorageFile>;
  /** Creates a file with permissions `mode` (an existing one is emptied), open read-write. */
  readonly create: (file: string, mode?: number) => Promise<StorageFile>;
  /** Size and permission bits of a file, or undefined when it does not exist. */
  readonly stat: (file: string) => Promise<{ size: number; mode: number } | undefined>;
  /** Atomically replaces `to` by `from` (the change is durable after syncDir). */
  readonly rename: (from: string, to: string) => Promise<void>;
  /** Removes a file if it exists (durable after syncDir). */
  readonly remove: (file: string) => Promise<void>;
  /** Makes the entries of `dir` (files created, renamed or removed in it) durable. */
  readonly syncDir: (dir: string) => Promise<void>;
};

export const fileMode = 0o644;

/** Where replaceFile writes first: `.<name>.tmp` beside the file. */
export function temporaryOf(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
}

/**
 * replaceFile syncs what it has written every this many bytes. A large file (a snapshot at a
 * million keys is about 100 MB) synced once at its end makes the file system write it all back
 * at that moment, and the ledger's own syncs wait behind it (up to 50 ms each here); in pieces
 * of 8 MiB they wait about 4 ms (decision 0041).
 */
export const replaceSyncBytes = 8 * 1024 * 1024;

/**
 * Replaces `file` with `bytes` all or nothing: written to its temporary (temporaryOf), synced
 * every replaceSyncBytes and at its end, renamed over `file`, and the folder synced. A crash
 * leaves the old file or the new one, never a mix; on failure the temporary is removed (best
 * effort) and the error rethrown as it came.
 */
export async function replaceFile(
  storage: Storage,
  file: string,
  /** The new contents, or its parts in order (written one after the other, never joined). */
  bytes: Uint8Array | readonly Uint8Array[],
  mode: number = fileMode,
): Promise<void> {
  const temporary = temporaryOf(file);
  try {
    const handle = await storage.create(temporary, mode);
    try {
      let offset = 0;
      let unsynced = 0;
      for (const part of bytes instanceof Uint8Array ? [bytes] : bytes) {
        for (let at = 0; at < part.byteLength;) {
          const piece = part.subarray(at, at + replaceSyncBytes - unsynced);
          await handle.write(offset, piece);
          at += piece.byteLength;
          offset += piece.byteLength;
          unsynced += piece.byteLength;
          if (unsynced === replaceSyncBytes) {
            await handle.sync();
            unsynced = 0;
          }
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await storage.rename(temporary, file);
    await storage.syncDir(path.dirname(file));
  } catch (error) {
    await storage.remove(temporary).catch(() => undefined);
    throw error;
  }
}

export function createFsStorage(): Storage {
  return {
    mkdir: async (dir) => {
      await mkdir(dir, { recursive: true });
    },
    list: async (dir) => readdir(dir),
    open: async (file) => wrap(await open(file, 'r+')),
    openReadOnly: async (file) => wrap(await open(file, 'r')),
    create: async (file, mode = fileMode) => {
      const handle = await open(file, 'w+', mode);
      try {
        // The umask may have cleared bits of `mode`, and an existing file keeps its old mode.
        await chmod(file, mode);
      } catch (error) {
        await handle.close();
        throw error;
      }
      return wrap(handle);
    },
    stat: async (file) => {
      try {
        const info = await stat(file);
        return { size: info.size, mode: info.mode & 0o7777 };
      } catch (error) {
        if (errnoCode(error) === 'ENOENT') return undefined;
        throw error;
      }
    },
    rename: async (from, to) => {
      await rename(from, to);
    },
    remove: async (file) => {
      await rm(file, { force: true });
    },
    syncDir,
  };
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function wrap(handle: FileHandle): StorageFile {
  return {
    read: async (offset, length) => {
      const buffer = new Uint8Array(length);
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await handle.read(buffer, filled, length - filled, offset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    },
    write: async (offset, bytes) => {
      // FileHandle.write may write less than asked (a nearly full disk): loop until done.
      let done = 0;
      while (done < bytes.byteLength) {
        const { bytesWritten } = await handle.write(
          bytes,
          done,
          bytes.byteLength - done,
          offset + done,
        );
        if (bytesWritten === 0)
          throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
        done += bytesWritten;
      }
    },
    sync: async () => {
      await handle.sync();
    },
    truncate: async (length) => {
      await handle.truncate(length);
    },
    size: async () => (await handle.stat()).size,
    close: async () => {
      await handle.close();
    },
  };
}

// --- errors -----------------------------------------------------------------------------------

export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** ENOSPC or EDQUOT: the same call may succeed once space returns. */
export function isDiskFull(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The registered error for a failed storage call: LEDGER_E_DISK_FULL (retryable) for a full
 * disk, LEDGER_E_IO otherwise. Coffer errors pass through unchanged.
 */
export function storageError(error: unknown, action: string, file: string): CofferError {
  if (error instanceof CofferError) return error;
  const errno = errnoCode(error);
  const name = path.basename(file);
  if (isDiskFull(error)) {
    return cofferError(
      'LEDGER_E_DISK_FULL',
      `${action} ${name}: the disk is full (${errno ?? 'ENOSPC'}); nothing half-written was kept`,
      { file, errno, retryable: true },
      error,
    );
  }
  const reason = error instanceof Error ? error.message : String(error);
  return cofferError('LEDGER_E_IO', `${action} ${name} failed: ${reason}`, { file, errno }, error);
}
