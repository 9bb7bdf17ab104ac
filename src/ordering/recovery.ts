// Opening a log directory: every segment is read and checked in order (record.ts decides, this
// file does the IO). Only the last segment may end in a torn or damaged record that no later
// record vouches for; that tail was never acknowledged, so it is cut. Anything else (damage in
// an earlier segment, damage a later record proves was durable, a gap in positions) stops the
// open with ORDERING_E_CORRUPT naming the file and offset: acknowledged data is never skipped.
import { AssertionError } from 'node:assert';
import path from 'node:path';
import { cofferError } from '../errors/index.js';
import { segmentFileBytesMax } from './limits.js';
import {
  parseSegmentFileName,
  scanSegment,
  segmentFileName,
  type Damage,
  type SegmentScan,
} from './record.js';
import type { Storage, StorageFile } from './storage.js';

/** What the log knows about one segment file. Only the last one changes (it is appended to). */
export type Segment = {
  readonly name: string;
  readonly file: string;
  readonly firstPosition: number;
  /** Durable records. */
  records: number;
  /** Durable bytes: where the next record goes. */
  bytes: number;
  /** Offsets of records 0, stride, 2 × stride, ... */
  readonly index: number[];
};

export type RecoveryReport = {
  readonly segments: number;
  readonly committedPosition: number;
  /** The torn tail cut from the last segment, if there was one. */
  readonly truncated?: {
    readonly file: string;
    readonly offset: number;
    readonly droppedBytes: number;
    /** Position the first dropped record would have had. */
    readonly position: number;
    readonly reason: Damage;
  };
};

export type Recovered = {
  readonly segments: Segment[];
  /** The last segment, open for appending. */
  readonly tail: StorageFile;
  readonly report: RecoveryReport;
};

export async function recoverLog(
  storage: Storage,
  dir: string,
  indexStride: number,
  durable: boolean,
  /** Position of the log's first record (later than 1 for a node that joined from a snapshot). */
  firstPosition = 1,
): Promise<Recovered> {
  await storage.mkdir(dir);
  const found = (await storage.list(dir))
    .flatMap((name) => {
      const firstPosition = parseSegmentFileName(name);
      return firstPosition === undefined ? [] : [{ name, firstPosition }];
    })
    .sort((a, b) => a.firstPosition - b.firstPosition);

  if (found.length === 0) {
    const segment = newSegment(dir, firstPosition);
    const tail = await createSegmentFile(storage, dir, segment.file, durable);
    return {
      segments: [segment],
      tail,
      report: { segments: 1, committedPosition: firstPosition - 1 },
    };
  }

  const segments: Segment[] = [];
  let next = firstPosition;
  let truncated: RecoveryReport['truncated'];
  for (const [i, { name, firstPosition }] of found.entries()) {
    const file = path.join(dir, name);
    const last = i === found.length - 1;
    if (firstPosition !== next) {
      const what =
        firstPosition > next
          ? `positions ${next}..${firstPosition - 1} are missing before it`
          : `it overlaps the previous segment, which ends at position ${next - 1}`;
      throw corrupt(file, 0, `${name} starts at position ${firstPosition}, but ${what}`);
    }
    const handle = await storage.open(file);
    let keepOpen = false;
    try {
      const size = await handle.size();
      if (size > segmentFileBytesMax) {
        throw corrupt(
          file,
          segmentFileBytesMax,
          `${name} is larger than ${segmentFileBytesMax} bytes`,
        );
      }
      const bytes = await handle.read(0, size);
      const scan: SegmentScan = scanSegment(bytes, firstPosition, indexStride);
      if (scan.damage !== undefined) {
        const { offset, position, reason, attested } = scan.damage;
        if (!last || attested) {
          const why = last
            ? 'a later record shows this position was already durable'
            : 'only the last segment may end in a torn record';
          throw corrupt(
            file,
            offset,
            `${name} byte ${offset}: record for position ${position} is damaged (${reason}); ${why}`,
            { position, reason },
          );
        }
        // A torn or damaged tail no later record vouches for: never acknowledged, so cut.
        await handle.truncate(scan.validBytes);
        truncated = { file, offset, droppedBytes: size - offset, position, reason };
      }
      if (!last && scan.records === 0) {
        throw corrupt(file, 0, `${name} holds no record, but segments follow it`);
      }
      segments.push({
        name,
        file,
        firstPosition,
        records: scan.records,
        bytes: scan.validBytes,
        index: [...scan.index],
      });
      next = firstPosition + scan.records;
      if (last) {
        // What we read may sit only in the page cache (the previous process may have died
        // before its fsync, or before the fsync of the directory after creating this file):
        // make it durable before anyone is told it is committed.
        await handle.sync();
        await storage.syncDir(dir);
        keepOpen = true;
        const report: RecoveryReport = {
          segments: segments.length,
          committedPosition: next - 1,
          ...(truncated === undefined ? {} : { truncated }),
        };
        return { segments, tail: handle, report };
      }
    } finally {
      if (!keepOpen) await handle.close();
    }
  }
  throw new AssertionError({ message: 'ordering recovery: the last segment was not returned' });
}

export function newSegment(dir: string, firstPosition: number): Segment {
  const name = segmentFileName(firstPosition);
  return { name, file: path.join(dir, name), firstPosition, records: 0, bytes: 0, index: [] };
}

/** Creates an empty segment file and makes it and its directory entry durable. */
export async function createSegmentFile(
  storage: Storage,
  dir: string,
  file: string,
  durable: boolean,
): Promise<StorageFile> {
  const handle = await storage.create(file);
  if (!durable) return handle; // benchmarks only (fsync: false)
  try {
    await handle.sync();
    await storage.syncDir(dir);
  } catch (error) {
    await handle.close().catch(() => undefined);
    throw error;
  }
  return handle;
}

function corrupt(
  file: string,
  offset: number,
  message: string,
  extra: Readonly<Record<string, unknown>> = {},
) {
  return cofferError(
    'ORDERING_E_CORRUPT',
    `ordering log corrupt: ${message}. Acknowledged data must not be skipped: restore ${path.basename(file)} from a replica or backup`,
    { file, offset, ...extra },
  );
}
