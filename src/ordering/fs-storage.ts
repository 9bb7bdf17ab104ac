// The real Storage, on node:fs. Positional reads and writes on one descriptor per file;
// fdatasync for data (it also makes a grown or truncated size durable), fsync on the
// directory for new entries (POSIX leaves a new file's name volatile until then).
import { mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Storage, StorageFile } from './storage.js';

export function createFsStorage(): Storage {
  return {
    mkdir: async (dir) => {
      const first = await mkdir(dir, { recursive: true });
      if (first === undefined) return; // it existed already
      // Each created level's entry lives in its parent: sync from the parent of the first
      // created one down to the parent of `dir`.
      const created = path.resolve(first);
      for (let level = path.resolve(dir); ; level = path.dirname(level)) {
        await syncDir(path.dirname(level));
        if (level === created || level === path.dirname(level)) break;
      }
    },
    list: async (dir) => readdir(dir),
    open: async (file) => wrap(await open(file, 'r+')),
    create: async (file) => wrap(await open(file, 'w+')),
    syncDir,
  };
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
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
        if (bytesRead === 0) break; // end of file
        filled += bytesRead;
      }
      return filled === length ? buffer : buffer.subarray(0, filled);
    },
    write: async (offset, bytes) => {
      // write(2) may write less than asked (a signal, a nearly full disk): loop until all is out.
      let written = 0;
      while (written < bytes.byteLength) {
        const result = await handle.write(
          bytes,
          written,
          bytes.byteLength - written,
          offset + written,
        );
        // Zero bytes for a non-empty write would loop forever; POSIX reports failures instead.
        if (result.bytesWritten === 0) throw new Error(`write at ${offset} made no progress`);
        written += result.bytesWritten;
      }
    },
    sync: () => handle.datasync(),
    truncate: (length) => handle.truncate(length),
    size: async () => (await handle.stat()).size,
    close: () => handle.close(),
  };
}
