// Recovery scenarios on real files (STYLE.md 10 and 12): one log of 20 batches in three
// segments, damaged one way per row, and what opening it must do: cut a torn tail of the last
// segment (and say so), or refuse with ORDERING_E_CORRUPT naming the file and byte offset.
import { appendFile, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openEmbeddedLog, recordHeaderBytes } from '../../src/ordering/index.js';
import { tempDir, textOf } from './helpers.js';

const options = { segmentBytesMax: 1000, batchBytesMax: 200 };
const payloadBytes = 100;
const recordBytes = recordHeaderBytes + payloadBytes; // 132: 7 records to a segment
const seg = (first: number): string => `log-${String(first).padStart(20, '0')}.seg`;
// Segments: 1 (positions 1-7), 8 (8-14), 15 (15-20, the last).

type Expected =
  | {
      readonly committed: number;
      readonly cut?: { readonly reason: string; readonly droppedBytes: number };
    }
  | { readonly corrupt: string; readonly offset: number; readonly message?: RegExp };

type Scenario = {
  readonly name: string;
  readonly damage: (dir: string) => Promise<void>;
  readonly expected: Expected;
};

async function flipByte(file: string, offset: number): Promise<void> {
  const bytes = await readFile(file);
  bytes[offset] = (bytes[offset] ?? 0) ^ 0x10;
  await writeFile(file, bytes);
}

const scenarios: readonly Scenario[] = [
  { name: 'intact', damage: () => Promise.resolve(), expected: { committed: 20 } },
  {
    name: 'last record torn inside its header',
    damage: (dir) => truncate(path.join(dir, seg(15)), 5 * recordBytes + 10),
    expected: { committed: 19, cut: { reason: 'short-header', droppedBytes: 10 } },
  },
  {
    name: 'last record torn inside its payload',
    damage: (dir) => truncate(path.join(dir, seg(15)), 6 * recordBytes - 50),
    expected: { committed: 19, cut: { reason: 'short-payload', droppedBytes: recordBytes - 50 } },
  },
  {
    name: 'junk after the last record',
    damage: (dir) => appendFile(path.join(dir, seg(15)), Buffer.from('garbage'.repeat(6))),
    expected: { committed: 20, cut: { reason: 'bad-magic', droppedBytes: 42 } },
  },
  {
    name: 'a few junk bytes after the last record',
    damage: (dir) => appendFile(path.join(dir, seg(15)), Buffer.from('garbage')),
    expected: { committed: 20, cut: { reason: 'short-header', droppedBytes: 7 } },
  },
  {
    name: 'zeros after the last record (a preallocated or half-flushed block)',
    damage: (dir) => appendFile(path.join(dir, seg(15)), Buffer.alloc(4096)),
    expected: { committed: 20, cut: { reason: 'bad-magic', droppedBytes: 4096 } },
  },
  {
    name: 'bit flip in the last record, which nothing vouches for',
    damage: (dir) => flipByte(path.join(dir, seg(15)), 5 * recordBytes + recordHeaderBytes + 3),
    expected: { committed: 19, cut: { reason: 'crc-mismatch', droppedBytes: recordBytes } },
  },
  {
    name: 'bit flip in a record of the last segment that later records vouch for',
    damage: (dir) => flipByte(path.join(dir, seg(15)), recordBytes + recordHeaderBytes + 3),
    expected: {
      corrupt: seg(15),
      offset: recordBytes,
      message: /position 16 is damaged \(crc-mismatch\); a later record shows/,
    },
  },
  {
    name: 'bit flip in the length of a vouched-for record',
    damage: (dir) => flipByte(path.join(dir, seg(15)), 2 * recordBytes + 10),
    expected: { corrupt: seg(15), offset: 2 * recordBytes },
  },
  {
    name: 'bit flip in an earlier segment',
    damage: (dir) => flipByte(path.join(dir, seg(8)), 2 * recordBytes + 40),
    expected: {
      corrupt: seg(8),
      offset: 2 * recordBytes,
      message: /only the last segment may end in a torn record/,
    },
  },
  {
    name: 'earlier segment cut short',
    damage: (dir) => truncate(path.join(dir, seg(1)), 7 * recordBytes - 1),
    expected: { corrupt: seg(1), offset: 6 * recordBytes },
  },
  {
    name: 'middle segment missing',
    damage: (dir) => rm(path.join(dir, seg(8))),
    expected: { corrupt: seg(15), offset: 0, message: /positions 8\.\.14 are missing/ },
  },
  {
    name: 'first segment missing',
    damage: (dir) => rm(path.join(dir, seg(1))),
    expected: { corrupt: seg(8), offset: 0, message: /positions 1\.\.7 are missing/ },
  },
  {
    name: 'stray empty segment inside the log',
    damage: (dir) => writeFile(path.join(dir, seg(10)), ''),
    expected: { corrupt: seg(10), offset: 0, message: /overlaps the previous segment/ },
  },
  {
    name: 'records of the wrong position (a segment renamed)',
    damage: async (dir) => {
      await rm(path.join(dir, seg(15)));
      await writeFile(path.join(dir, seg(15)), await readFile(path.join(dir, seg(8))));
      await rm(path.join(dir, seg(8)));
      await writeFile(path.join(dir, seg(8)), await readFile(path.join(dir, seg(1))));
    },
    expected: { corrupt: seg(8), offset: 0, message: /wrong-position/ },
  },
  {
    name: 'empty last segment (killed right after a rollover)',
    damage: (dir) => writeFile(path.join(dir, seg(21)), ''),
    expected: { committed: 20 },
  },
  {
    name: 'whole last segment lost but its (empty) file',
    damage: (dir) => truncate(path.join(dir, seg(15)), 0),
    expected: { committed: 14 },
  },
  {
    name: 'files that are not segments are ignored',
    damage: async (dir) => {
      await writeFile(path.join(dir, 'README'), 'notes');
      await writeFile(path.join(dir, `${seg(21)}.tmp`), 'junk');
    },
    expected: { committed: 20 },
  },
];

async function buildLog(): Promise<string> {
  const dir = await tempDir();
  const log = await openEmbeddedLog(dir, options);
  // One at a time: each record is written once the previous one is durable, so it vouches for it.
  for (let i = 1; i <= 20; i += 1) {
    await log.append(Buffer.from(`batch-${i}`.padEnd(payloadBytes, '.')));
  }
  await log.close();
  return dir;
}

describe('embedded ordering log recovery', () => {
  for (const { name, damage, expected } of scenarios) {
    it(name, async () => {
      const dir = await buildLog();
      await damage(dir);
      if ('corrupt' in expected) {
        const error: unknown = await openEmbeddedLog(dir, options).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toMatchObject({
          code: 'ORDERING_E_CORRUPT',
          details: { file: path.join(dir, expected.corrupt), offset: expected.offset },
        });
        expect((error as Error).message).toContain(expected.corrupt);
        if (expected.message !== undefined)
          expect((error as Error).message).toMatch(expected.message);
        return;
      }
      const warnings: string[] = [];
      const logger = {
        info: () => undefined,
        warn: (_: object, message: string) => warnings.push(message),
        error: () => undefined,
      };
      const log = await openEmbeddedLog(dir, { ...options, logger });
      expect(log.committedPosition()).toBe(expected.committed);
      const truncated = log.recovery().truncated;
      if (expected.cut === undefined) {
        expect(truncated).toBeUndefined();
        expect(warnings).toEqual([]);
      } else {
        expect(truncated).toMatchObject({ ...expected.cut, position: expected.committed + 1 });
        expect(warnings.join()).toMatch(`cut a torn tail of ${expected.cut.droppedBytes} bytes`);
      }
      const entries = await log.read(1, 100);
      expect(entries.map((e) => textOf(e.batch).split('.')[0])).toEqual(
        Array.from({ length: expected.committed }, (_, i) => `batch-${i + 1}`),
      );
      // Appending continues right after what survived, and survives a reopen.
      expect(await log.append(Buffer.from('next'))).toBe(expected.committed + 1);
      await log.close();
      const again = await openEmbeddedLog(dir, options);
      expect(again.recovery().truncated).toBeUndefined();
      expect(
        textOf((await again.read(expected.committed + 1, 1))[0]?.batch ?? new Uint8Array()),
      ).toBe('next');
      await again.close();
    });
  }
});
