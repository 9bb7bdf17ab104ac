// Limits of the ordering log (STYLE.md 5). Every size and count a caller or a file controls is
// bounded; options may lower or raise some of them, and the same relations are then checked
// again (see resolveLimits). Typed `number` (not literals) so the assertions are real checks.
import { cofferError, fail, ok, type Result } from '../errors/index.js';
import { recordHeaderBytes } from './record.js';

const mebibyte = 1024 * 1024;

/** A segment file is closed and a new one started before it would grow past this. */
export const segmentBytesMax: number = 64 * mebibyte;
/** Largest segment file recovery reads (it reads one whole segment at a time). */
export const segmentFileBytesMax: number = 1024 * mebibyte;
/** Largest batch one append takes. */
export const batchBytesMax: number = 4 * mebibyte;
/** Most batches one read returns. */
export const readBatchesMax: number = 1024;
/** Most payload bytes one read returns (it always returns at least one batch if any is due). */
export const readBytesMax: number = 16 * mebibyte;
/** Bytes read from a segment per read call when several records are read in a row. */
export const readChunkBytes: number = 1 * mebibyte;
/**
 * Payload bytes of the latest committed batches the embedded log keeps in memory: a node reads
 * each batch right after it commits, and then reads it from here, not from the file. An option
 * (1 keeps none: every batch is larger).
 */
export const recentBatchBytesMax: number = 8 * mebibyte;
/** Appends waiting for the next group commit; one more is refused (backpressure). */
export const pendingBatchesMax: number = 4096;
/** Payload bytes waiting for the next group commit. */
export const pendingBytesMax: number = 64 * mebibyte;
/** While the disk is full, the log checks for free space this often. */
export const diskFullRetryMs: number = 1000;
/** Bytes written (then truncated away) to check that space has returned. */
export const diskProbeBytes: number = 64 * 1024;
/** Bounds of the retryAfterMs hint of a backpressure error. */
export const backpressureRetryAfterMsMin: number = 5;
export const backpressureRetryAfterMsMax: number = 1000;
/** Records between two entries of a segment's in-memory offset index. */
export const indexStrideRecords: number = 64;
/** Positions must stay exact in a JS number (and fit the 20 digits of a segment name). */
export const positionMax: number = Number.MAX_SAFE_INTEGER;

// Relations between the limits, checked when the module loads.
assertLimit(batchBytesMax + recordHeaderBytes <= segmentBytesMax, 'a batch fits in a segment');
assertLimit(segmentBytesMax <= segmentFileBytesMax, 'recovery can read a whole segment');
assertLimit(segmentFileBytesMax < 2 ** 32, 'the u32 length field holds any batch that fits');
assertLimit(batchBytesMax <= pendingBytesMax, 'one batch fits in the pending queue');
assertLimit(batchBytesMax <= readBytesMax, 'a read can always return the next batch');
assertLimit(pendingBatchesMax >= 1 && readBatchesMax >= 1, 'queues and reads hold one batch');
assertLimit(backpressureRetryAfterMsMin <= backpressureRetryAfterMsMax, 'retry hint bounds');
assertLimit(diskProbeBytes <= segmentBytesMax, 'a disk probe is segment-sized at most');
assertLimit(indexStrideRecords >= 1 && readChunkBytes >= recordHeaderBytes, 'read geometry');

function assertLimit(condition: boolean, what: string): void {
  if (!condition) throw new Error(`ordering limits are inconsistent: ${what}`);
}

/** The limits one log runs with: the defaults above, some overridden by options. */
export type Limits = {
  readonly segmentBytesMax: number;
  readonly batchBytesMax: number;
  readonly readBatchesMax: number;
  readonly readBytesMax: number;
  readonly pendingBatchesMax: number;
  readonly pendingBytesMax: number;
  readonly diskFullRetryMs: number;
  readonly recentBatchBytesMax: number;
};

export type LimitOptions = { readonly [K in keyof Limits]?: number };

/** Defaults overridden by `options`, refused (ORDERING_E_CONFIG) when a relation breaks. */
export function resolveLimits(options: LimitOptions): Result<Limits> {
  const limits: Limits = {
    segmentBytesMax: options.segmentBytesMax ?? segmentBytesMax,
    batchBytesMax: options.batchBytesMax ?? batchBytesMax,
    readBatchesMax: options.readBatchesMax ?? readBatchesMax,
    readBytesMax: options.readBytesMax ?? readBytesMax,
    pendingBatchesMax: options.pendingBatchesMax ?? pendingBatchesMax,
    pendingBytesMax: options.pendingBytesMax ?? pendingBytesMax,
    diskFullRetryMs: options.diskFullRetryMs ?? diskFullRetryMs,
    recentBatchBytesMax: options.recentBatchBytesMax ?? recentBatchBytesMax,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      return fail(configError(`${name} must be a positive integer, not ${String(value)}`, name));
    }
  }
  const relations: readonly (readonly [boolean, string, string])[] = [
    [
      limits.batchBytesMax + recordHeaderBytes <= limits.segmentBytesMax,
      'segmentBytesMax',
      `segmentBytesMax (${limits.segmentBytesMax}) must hold one batch of batchBytesMax (${limits.batchBytesMax}) plus its ${recordHeaderBytes}-byte header`,
    ],
    [
      limits.segmentBytesMax <= segmentFileBytesMax,
      'segmentBytesMax',
      `segmentBytesMax (${limits.segmentBytesMax}) must be at most ${segmentFileBytesMax}`,
    ],
    [
      limits.batchBytesMax <= limits.pendingBytesMax,
      'pendingBytesMax',
      `pendingBytesMax (${limits.pendingBytesMax}) must be at least batchBytesMax (${limits.batchBytesMax})`,
    ],
    [
      limits.batchBytesMax <= limits.readBytesMax,
      'readBytesMax',
      `readBytesMax (${limits.readBytesMax}) must be at least batchBytesMax (${limits.batchBytesMax})`,
    ],
  ];
  for (const [holds, option, message] of relations) {
    if (!holds) return fail(configError(message, option));
  }
  return ok(limits);
}

function configError(message: string, option: string) {
  return cofferError('ORDERING_E_CONFIG', `ordering log options: ${message}`, { option });
}
