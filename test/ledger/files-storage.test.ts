// replaceFile on the real file system: all or nothing, and a large file synced in pieces.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createFsStorage,
  replaceFile,
  replaceSyncBytes,
  type Storage,
} from '../../src/ledger/files-storage.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-files-storage-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** The real storage, recording the bytes written since the last sync at each sync. */
function countingStorage(): { storage: Storage; syncedAfter: number[] } {
  const real = createFsStorage();
  const syncedAfter: number[] = [];
  const storage: Storage = {
    ...real,
    create: async (file, mode) => {
      const handle = await real.create(file, mode);
      let unsynced = 0;
      return {
        ...handle,
        write: async (offset, bytes) => {
          unsynced += bytes.byteLength;
          await handle.write(offset, bytes);
        },
        sync: async () => {
          syncedAfter.push(unsynced);
          unsynced = 0;
          await handle.sync();
        },
      };
    },
  };
  return { storage, syncedAfter };
}

describe('replaceFile', () => {
  it('syncs a large file every replaceSyncBytes as it writes it, whatever its parts', async () => {
    const { storage, syncedAfter } = countingStorage();
    const file = path.join(work, 'large');
    // 20 MiB and 3 bytes in parts that straddle the sync points.
    const parts = [
      new Uint8Array(3 * 1024 * 1024).fill(1),
      new Uint8Array(11 * 1024 * 1024).fill(2),
      new Uint8Array(6 * 1024 * 1024 + 3).fill(3),
    ];
    await replaceFile(storage, file, parts);
    expect(syncedAfter).toEqual([replaceSyncBytes, replaceSyncBytes, 4 * 1024 * 1024 + 3]);
    const written = await readFile(file);
    expect(written.byteLength).toBe(20 * 1024 * 1024 + 3);
    expect(written[3 * 1024 * 1024 - 1]).toBe(1);
    expect(written[3 * 1024 * 1024]).toBe(2);
    expect(written[14 * 1024 * 1024]).toBe(3);
    expect(written.at(-1)).toBe(3);
  });

  it('syncs a small or empty file once', async () => {
    const { storage, syncedAfter } = countingStorage();
    await replaceFile(storage, path.join(work, 'small'), Buffer.from('hello'));
    await replaceFile(storage, path.join(work, 'empty'), []);
    expect(syncedAfter).toEqual([5, 0]);
    expect(await readFile(path.join(work, 'small'), 'utf8')).toBe('hello');
    expect((await readFile(path.join(work, 'empty'))).byteLength).toBe(0);
  });
});
