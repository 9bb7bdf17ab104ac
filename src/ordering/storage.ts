// The storage seam of the embedded log (STYLE.md 3 and 9): every byte the log reads or writes
// goes through these few calls, so tests can swap in a simulated disk that tears writes, loses
// what was not synced, fills up and flips bits, all from one seed. fs-storage.ts is the real one.

/** One open file. Offsets are absolute; nothing has a file position. */
export type StorageFile = {
  /** Up to `length` bytes at `offset`; fewer only where the file ends. */
  readonly read: (offset: number, length: number) => Promise<Uint8Array>;
  /** Writes all of `bytes` at `offset`, or throws (a failed write may have written a prefix). */
  readonly write: (offset: number, bytes: Uint8Array) => Promise<void>;
  /** Makes the data and size durable (fdatasync). */
  readonly sync: () => Promise<void>;
  readonly truncate: (length: number) => Promise<void>;
  readonly size: () => Promise<number>;
  readonly close: () => Promise<void>;
};

export type Storage = {
  /** Creates the directory and its missing parents, and makes their entries durable. */
  readonly mkdir: (dir: string) => Promise<void>;
  /** File names in `dir` (names only, any order). */
  readonly list: (dir: string) => Promise<readonly string[]>;
  /** Opens an existing file for reading and writing. */
  readonly open: (file: string) => Promise<StorageFile>;
  /** Creates a file, empty (an existing one is emptied), open for reading and writing. */
  readonly create: (file: string) => Promise<StorageFile>;
  /** Makes the entries of `dir` (files created in it) durable. */
  readonly syncDir: (dir: string) => Promise<void>;
};

/** ENOSPC or EDQUOT: the write may succeed later, once space returns. */
export function isDiskFull(error: unknown): boolean {
  const code = errnoCode(error);
  return code === 'ENOSPC' || code === 'EDQUOT';
}

export function errnoCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}
