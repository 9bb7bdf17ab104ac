// Helpers for the real-filesystem tests: temporary directories, and wrappers around the real
// Storage that count calls or inject errors (the seam, not module mocks: STYLE.md Tooling).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { createFsStorage, type Storage, type StorageFile } from '../../src/ordering/index.js';

const made: string[] = [];

/** A fresh directory under the system temp dir, removed after the test. */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'coffer-ordering-'));
  made.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

export type Counts = {
  writes: number;
  syncs: number;
  syncDirs: number;
  creates: number;
  opens: number;
};

/** The real storage, counting writes, fsyncs and opens. */
export function countingStorage(inner: Storage = createFsStorage()): {
  storage: Storage;
  counts: Counts;
} {
  const counts: Counts = { writes: 0, syncs: 0, syncDirs: 0, creates: 0, opens: 0 };
  const wrap = (file: StorageFile): StorageFile => ({
    ...file,
    write: (offset, bytes) => {
      counts.writes += 1;
      return file.write(offset, bytes);
    },
    sync: () => {
      counts.syncs += 1;
      return file.sync();
    },
  });
  return {
    counts,
    storage: {
      ...inner,
      open: async (name) => {
        counts.opens += 1;
        return wrap(await inner.open(name));
      },
      create: async (name) => {
        counts.creates += 1;
        return wrap(await inner.create(name));
      },
      syncDir: (dir) => {
        counts.syncDirs += 1;
        return inner.syncDir(dir);
      },
    },
  };
}

/**
 * The real storage, failing on demand: while `fault.code` is set, a write stores half of its
 * bytes then throws that errno (as a nearly full disk does), and syncs throw it too.
 */
export function faultyStorage(inner: Storage = createFsStorage()): {
  storage: Storage;
  /** `code`: writes and syncs fail with it (a write after half its bytes); `truncateDelayMs`: truncations wait that long first (a slow disk). */
  fault: { code: string | undefined; truncateDelayMs?: number };
} {
  const fault: { code: string | undefined; truncateDelayMs?: number } = { code: undefined };
  const failure = (op: string): Error =>
    Object.assign(new Error(`${fault.code ?? ''}: injected, ${op}`), { code: fault.code });
  const wrap = (file: StorageFile): StorageFile => ({
    ...file,
    write: async (offset, bytes) => {
      if (fault.code === undefined) return file.write(offset, bytes);
      await file.write(offset, bytes.subarray(0, bytes.byteLength >> 1));
      throw failure('write');
    },
    sync: async () => {
      if (fault.code !== undefined) throw failure('sync');
      return file.sync();
    },
    truncate: async (size) => {
      const delay = fault.truncateDelayMs ?? 0;
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      return file.truncate(size);
    },
  });
  return {
    fault,
    storage: {
      ...inner,
      open: async (name) => wrap(await inner.open(name)),
      create: async (name) => wrap(await inner.create(name)),
    },
  };
}

export function bytesOf(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function textOf(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
