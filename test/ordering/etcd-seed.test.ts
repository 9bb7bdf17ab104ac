// The mirror of a node that joins from a snapshot (decision 0027): an embedded log that starts
// at a later position, seeded with checked batches, refused reads before its start, and a
// reopen that keeps the start.
import { describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import { decodeMirrorRecord } from '../../src/ordering/etcd-mirror.js';
import { openEmbeddedLog, seedMirror } from '../../src/ordering/index.js';
import { bytesOf, tempDir, textOf } from './helpers.js';

const entries = (first: number, count: number, revision = 100) =>
  Array.from({ length: count }, (_, index) => ({
    position: first + index,
    revision: revision + 3 * index,
    batch: bytesOf(`batch ${first + index}`),
  }));

describe('seedMirror and a log that starts after position 1', () => {
  it('holds the seeded batches at their positions with their revisions, and goes on after them', async () => {
    const dir = await tempDir();
    await seedMirror(dir, 41, entries(41, 5));
    const log = await openEmbeddedLog(dir, { firstPosition: 41 });
    try {
      expect(log.committedPosition()).toBe(45);
      const read = await log.read(41, 100);
      expect(read.map((entry) => entry.position)).toEqual([41, 42, 43, 44, 45]);
      const decoded = read.map((entry) => decodeMirrorRecord(entry.batch, entry.position));
      expect(decoded.map((item) => (item.ok ? item.revision : -1))).toEqual([
        100, 103, 106, 109, 112,
      ]);
      expect(decoded.map((item) => (item.ok ? textOf(item.batch) : ''))).toEqual(
        [41, 42, 43, 44, 45].map((position) => `batch ${position}`),
      );
      await expect(log.read(40, 1)).rejects.toSatisfy((error) =>
        isCofferError(error, 'ORDERING_E_READ_RANGE'),
      );
      expect(await log.append(bytesOf('next'))).toBe(46);
    } finally {
      await log.close();
    }
    // Opened without its start, the log refuses: the positions before it are missing.
    await expect(openEmbeddedLog(dir)).rejects.toSatisfy((error) =>
      isCofferError(error, 'ORDERING_E_CORRUPT'),
    );
  });

  it('refuses gaps, revisions that do not increase, no entries, and a folder that holds a mirror', async () => {
    const dir = await tempDir();
    const gap = [...entries(10, 2), ...entries(13, 1, 200)];
    const backwards = [...entries(10, 2), { position: 12, revision: 1, batch: bytesOf('x') }];
    for (const bad of [gap, backwards, []]) {
      await expect(seedMirror(dir, 10, bad)).rejects.toSatisfy((error) =>
        isCofferError(error, 'ORDERING_E_PEER_ENTRIES'),
      );
    }
    await seedMirror(dir, 10, entries(10, 2));
    await expect(seedMirror(dir, 10, entries(10, 2))).rejects.toSatisfy((error) =>
      isCofferError(error, 'ORDERING_E_PEER_ENTRIES'),
    );
  });
});
