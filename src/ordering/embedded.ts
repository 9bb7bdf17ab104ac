// The embedded OrderingLog: CRC-framed records in segment files on local disk (decision 0008).
//
// One writer task owns the tail. Appends queue up; the writer takes the whole queue as one
// group, writes its records with one write call, fsyncs once, then resolves every append of
// the group. While it waits on the disk, new appends queue for the next group (group commit).
// Only bytes up to the last fsync are ever read or relied on; anything past them after a
// failure is truncated before the next write, so acknowledged records are never rewritten.
import { AssertionError, ok as assert } from 'node:assert';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { createFsStorage } from './fs-storage.js';
import {
  backpressureRetryAfterMsMax,
  backpressureRetryAfterMsMin,
  diskProbeBytes,
  indexStrideRecords,
  positionMax,
  readChunkBytes,
  resolveLimits,
  type LimitOptions,
} from './limits.js';
import { decodeHeader, decodeRecord, encodeRecords, recordHeaderBytes } from './record.js';
import {
  createSegmentFile,
  newSegment,
  recoverLog,
  type RecoveryReport,
  type Segment,
} from './recovery.js';
import { errnoCode, isDiskFull, type Storage, type StorageFile } from './storage.js';
import type { LogEntry, LogHealth, OrderingLog } from './types.js';

/** Timers as a seam, so simulations run the disk-full retry on virtual time. */
export type Timers = {
  /** Calls `callback` once after `ms`; returns a function that cancels it. */
  readonly setTimeout: (callback: () => void, ms: number) => () => void;
};

/** The few log calls the log makes (a pino Logger fits). */
export type OrderingLogger = {
  readonly info: (details: object, message: string) => void;
  readonly warn: (details: object, message: string) => void;
  readonly error: (details: object, message: string) => void;
};

export type EmbeddedLogOptions = LimitOptions & {
  /** File IO (default: node:fs). Tests inject a simulated disk. */
  readonly storage?: Storage;
  /** fsync each group (default true). False only to measure what fsync costs in benchmarks. */
  readonly fsync?: boolean;
  readonly logger?: OrderingLogger;
  /** Wall clock in ms since the epoch (default Date.now), for health and retry hints. */
  readonly now?: () => number;
  readonly timers?: Timers;
  /**
   * Position of the first record (default 1): later for the mirror of a node that joined from
   * a snapshot, which never holds the batches before it. Reads before it are refused.
   */
  readonly firstPosition?: number;
};

export type EmbeddedLog = OrderingLog & {
  /** What opening the directory found and repaired. */
  readonly recovery: () => RecoveryReport;
  /** Bytes of the latest committed batches held in memory for reads (recentBatchBytesMax). */
  readonly heldBatchBytes: () => number;
};

type Pending = {
  readonly batch: Uint8Array;
  readonly resolve: (position: number) => void;
  readonly reject: (error: CofferError) => void;
};

type State =
  | { readonly kind: 'ok' }
  | { readonly kind: 'disk-full' | 'failed'; readonly since: number; readonly error: CofferError };

const realTimers: Timers = {
  setTimeout: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    timer.unref(); // a disk-full retry alone must not keep the process alive
    return () => {
      clearTimeout(timer);
    };
  },
};

const silentLogger: OrderingLogger = { info: noop, warn: noop, error: noop };

function noop(): void {
  // deliberately empty
}

/** Opens (creating if needed) the log in `dir`, after checking and repairing it (recovery.ts). */
export async function openEmbeddedLog(
  dir: string,
  options: EmbeddedLogOptions = {},
): Promise<EmbeddedLog> {
  const resolved = resolveLimits(options);
  if (!resolved.ok) throw resolved.error;
  const limits = resolved.value;
  const storage = options.storage ?? createFsStorage();
  const durable = options.fsync ?? true;
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const timers = options.timers ?? realTimers;
  const firstPosition = options.firstPosition ?? 1;
  assert(Number.isSafeInteger(firstPosition) && firstPosition >= 1, 'firstPosition >= 1');

  let recovered;
  try {
    recovered = await recoverLog(storage, dir, indexStrideRecords, durable, firstPosition);
  } catch (error) {
    rethrowBug(error);
    if (isCofferError(error)) throw error;
    throw isDiskFull(error)
      ? diskFullError(dir, error, limits.diskFullRetryMs)
      : cofferError(
          'ORDERING_E_IO',
          `cannot open the ordering log at ${dir}: ${messageOf(error)}`,
          { dir, errno: errnoCode(error) ?? null, retryable: false },
          error,
        );
  }
  const { segments, report } = recovered;
  let tail: StorageFile = recovered.tail;
  if (report.truncated !== undefined) {
    logger.warn(
      { ...report.truncated },
      `ordering log: cut a torn tail of ${report.truncated.droppedBytes} bytes from ${report.truncated.file} at byte ${report.truncated.offset} (never acknowledged)`,
    );
  }

  let committed = report.committedPosition;
  let state: State = { kind: 'ok' };
  let closed = false;
  let closing: Promise<void> | undefined;
  const queue: Pending[] = [];
  let queuedBytes = 0;
  /** True from the first append of an idle log until the writer finds the queue empty. */
  let writing = false;
  let writer: Promise<void> = Promise.resolve();
  /** Bytes past the last durable offset of the tail may exist (a write or probe failed). */
  let dirtyTail = false;
  /** The tail is full: the next write goes to a new segment. */
  let rolloverDue = false;
  let lastGroupMs = 0;
  let cancelProbeTimer: (() => void) | undefined;
  let probing: Promise<void> | undefined;
  let lastProbeAt = 0;
  const listeners = new Set<{ readonly listener: (position: number) => void }>();

  const lastSegment = (): Segment => {
    const segment = segments[segments.length - 1];
    if (segment === undefined) throw new Error('ordering invariant broken: no segment');
    return segment;
  };

  const notify = (position: number): void => {
    for (const { listener } of listeners) {
      try {
        listener(position);
      } catch (error) {
        // A listener's bug must not stop the log, but must not pass silently either.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  };

  const enterTrouble = (cause: unknown): void => {
    if (isDiskFull(cause)) {
      if (state.kind !== 'disk-full') {
        state = {
          kind: 'disk-full',
          since: now(),
          error: diskFullError(dir, cause, limits.diskFullRetryMs),
        };
        lastProbeAt = now();
        logger.error({ dir, errno: errnoCode(cause) }, state.error.message);
      }
      scheduleProbe();
    } else if (state.kind !== 'failed') {
      state = {
        kind: 'failed',
        since: now(),
        error: cofferError(
          'ORDERING_E_IO',
          `ordering log at ${dir} stopped after an I/O error: ${messageOf(cause)}; appends are refused until the node restarts`,
          { dir, errno: errnoCode(cause) ?? null, retryable: false },
          cause,
        ),
      };
      cancelProbeTimer?.();
      logger.error({ dir, errno: errnoCode(cause) }, state.error.message);
    }
  };

  /** The error an append gets now, given the state (not 'ok'). */
  const refusal = (current: Exclude<State, { kind: 'ok' }>): CofferError =>
    current.kind === 'disk-full'
      ? diskFullError(
          dir,
          current.error.cause,
          Math.max(1, lastProbeAt + limits.diskFullRetryMs - now()),
        )
      : current.error;

  /** Cuts whatever a failed write left past the durable end of the tail. */
  const cleanTail = async (): Promise<void> => {
    if (!dirtyTail) return;
    await tail.truncate(lastSegment().bytes);
    if (durable) await tail.sync();
    dirtyTail = false;
  };

  const rollover = async (): Promise<void> => {
    // Every record so far is durable, so only the new (last) segment can ever hold a torn tail.
    const segment = newSegment(dir, committed + 1);
    const handle = await createSegmentFile(storage, dir, segment.file, durable);
    const previous = tail;
    tail = handle;
    segments.push(segment);
    await previous.close().catch((error: unknown) => {
      logger.warn({ dir, errno: errnoCode(error) }, `closing a full segment: ${messageOf(error)}`);
    });
  };

  /** Writes and fsyncs one group; resolves its appends (or rejects the rest on failure). */
  const commitGroup = async (group: readonly Pending[]): Promise<void> => {
    const started = now();
    assert(committed + group.length <= positionMax, 'positions stay below 2^53');
    let done = 0;
    try {
      while (done < group.length) {
        let segment = lastSegment();
        const firstBytes = recordHeaderBytes + (group[done]?.batch.byteLength ?? 0);
        if (
          rolloverDue ||
          (segment.bytes > 0 && segment.bytes + firstBytes > limits.segmentBytesMax)
        ) {
          // Once due, stays due until it succeeds: a failed attempt may leave the new (empty)
          // file behind, and it must stay the last one, so nothing more goes to this segment.
          rolloverDue = true;
          await rollover();
          rolloverDue = false;
          segment = lastSegment();
        }
        // As many records as fit in this segment; the first always does (limits.ts relations).
        const offsets: number[] = [];
        let end = segment.bytes;
        let stop = done;
        for (const pending of group.slice(done)) {
          const bytes = recordHeaderBytes + pending.batch.byteLength;
          if (stop > done && end + bytes > limits.segmentBytesMax) break;
          offsets.push(end);
          end += bytes;
          stop += 1;
        }
        const chunk = group.slice(done, stop);
        const first = committed + 1;
        const records = encodeRecords(
          chunk.map((pending) => pending.batch),
          first,
          committed,
        );
        assert(records.byteLength === end - segment.bytes, 'encoded size matches the plan');
        dirtyTail = true;
        await tail.write(segment.bytes, records);
        if (durable) await tail.sync();
        dirtyTail = false;
        offsets.forEach((offset, k) => {
          if ((segment.records + k) % indexStrideRecords === 0) segment.index.push(offset);
        });
        segment.records += chunk.length;
        segment.bytes = end;
        committed += chunk.length;
        chunk.forEach((pending, k) => {
          keepRecent(first + k, pending.batch);
        });
        chunk.forEach((pending, k) => {
          pending.resolve(first + k);
        });
        done = stop;
        notify(committed);
      }
      lastGroupMs = now() - started;
    } catch (error) {
      rethrowBug(error);
      enterTrouble(error);
      const refused = state.kind === 'ok' ? undefined : refusal(state);
      assert(refused !== undefined, 'a failed write leaves the log refusing appends');
      const rejected = [...group.slice(done), ...queue.splice(0)];
      queuedBytes = 0;
      // The partial record is cut before anyone hears of the failure: a caller that looks at the
      // log, or retries, right after the refusal finds it as it was before.
      await cleanTail().catch(enterTrouble);
      for (const pending of rejected) pending.reject(refused);
    }
  };

  const runWriter = async (): Promise<void> => {
    await Promise.resolve(); // let appends made in the same turn join the first group
    while (queue.length > 0 && state.kind === 'ok') {
      const group = queue.splice(0);
      queuedBytes = 0;
      await commitGroup(group);
    }
    // Cleared in the same turn as the empty-queue check: an append arriving later starts a
    // new writer instead of waiting for this one.
    writing = false;
  };

  const scheduleProbe = (): void => {
    if (closed || cancelProbeTimer !== undefined || probing !== undefined) return;
    cancelProbeTimer = timers.setTimeout(() => {
      cancelProbeTimer = undefined;
      startProbe();
    }, limits.diskFullRetryMs);
  };

  const startProbe = (): void => {
    if (state.kind !== 'disk-full' || probing !== undefined || closed) return;
    cancelProbeTimer?.();
    cancelProbeTimer = undefined;
    lastProbeAt = now();
    // After the writer: it may still be cutting the tail its failed group left.
    probing = (async () => {
      await writer;
      await probe(); // never throws but for our bugs
      probing = undefined;
      if (state.kind === 'disk-full') scheduleProbe();
    })();
  };

  /** Is there space again? Write zeros past the durable end, fsync, cut them off. */
  const probe = async (): Promise<void> => {
    try {
      await cleanTail();
      if (rolloverDue) {
        // The failed rollover may have left the new file behind: the old tail is no longer
        // the last file, and a crash mid-probe must leave its zeros in the last one only.
        await rollover();
        rolloverDue = false;
      }
      dirtyTail = true;
      await tail.write(lastSegment().bytes, new Uint8Array(diskProbeBytes));
      if (durable) await tail.sync();
      await cleanTail();
      state = { kind: 'ok' };
      logger.info({ dir }, `ordering log at ${dir}: disk space returned; appends resume`);
    } catch (error) {
      rethrowBug(error);
      enterTrouble(error);
      await cleanTail().catch(enterTrouble);
    }
  };

  const append = (batch: Uint8Array): Promise<number> => {
    if (closed) return Promise.reject(closedError(dir));
    if (batch.byteLength > limits.batchBytesMax) {
      return Promise.reject(
        cofferError(
          'ORDERING_E_BATCH_TOO_LARGE',
          `a batch of ${batch.byteLength} bytes is larger than batchBytesMax (${limits.batchBytesMax})`,
          { bytes: batch.byteLength, batchBytesMax: limits.batchBytesMax },
        ),
      );
    }
    if (state.kind !== 'ok') {
      // "On the next append": check for space now if the timer has not done it for a while.
      if (state.kind === 'disk-full' && now() - lastProbeAt >= limits.diskFullRetryMs) {
        startProbe();
      }
      return Promise.reject(refusal(state));
    }
    if (
      queue.length >= limits.pendingBatchesMax ||
      queuedBytes + batch.byteLength > limits.pendingBytesMax
    ) {
      const retryAfterMs = Math.min(
        backpressureRetryAfterMsMax,
        Math.max(backpressureRetryAfterMsMin, Math.ceil(2 * lastGroupMs)),
      );
      return Promise.reject(
        cofferError(
          'ORDERING_E_BACKPRESSURE',
          `${queue.length} appends (${queuedBytes} bytes) already wait for the next fsync of the ordering log; retry in ${retryAfterMs} ms`,
          {
            retryAfterMs,
            retryable: true,
            pendingBatches: queue.length,
            pendingBytes: queuedBytes,
            pendingBatchesMax: limits.pendingBatchesMax,
            pendingBytesMax: limits.pendingBytesMax,
          },
        ),
      );
    }
    return new Promise<number>((resolve, reject) => {
      queue.push({ batch, resolve, reject });
      queuedBytes += batch.byteLength;
      if (!writing) {
        writing = true;
        writer = runWriter();
      }
    });
  };

  // The latest committed batches, oldest first, contiguous up to `committed`: reads of them
  // (the node's, right after each commit) take copies from here instead of opening the file.
  // Slots before recentHead are emptied at once (they must not keep their batches alive) and
  // cut from the array once they are most of it.
  type Kept = { readonly position: number; readonly batch: Uint8Array };
  const recent: (Kept | undefined)[] = [];
  let recentHead = 0;
  let recentBytes = 0;
  const keepRecent = (position: number, batch: Uint8Array): void => {
    recent.push({ position, batch });
    recentBytes += batch.byteLength;
    while (recentBytes > limits.recentBatchBytesMax && recentHead < recent.length) {
      recentBytes -= recent[recentHead]?.batch.byteLength ?? 0;
      recent[recentHead] = undefined;
      recentHead += 1;
    }
    if (recentHead * 2 > recent.length) {
      recent.splice(0, recentHead);
      recentHead = 0;
    }
  };
  /** Serves a read of positions from..last from `recent` if it holds them all. */
  const readRecent = (
    from: number,
    last: number,
    budget: { bytes: number },
    out: LogEntry[],
  ): boolean => {
    const oldest = recent[recentHead];
    if (oldest === undefined || from < oldest.position) return false;
    for (let position = from; position <= last; position += 1) {
      const kept = recent[recentHead + position - oldest.position];
      assert(kept?.position === position, 'recent batches are contiguous up to committed');
      if (out.length > 0 && budget.bytes < kept.batch.byteLength) break;
      out.push({ position, batch: kept.batch.slice() });
      budget.bytes -= kept.batch.byteLength;
    }
    return true;
  };

  /** Committed records of `segment` from position `from` to `upto`, within `budget` bytes. */
  const readSegment = async (
    segment: Segment,
    from: number,
    upto: number,
    budget: { bytes: number },
    out: LogEntry[],
  ): Promise<boolean> => {
    const segmentBytes = segment.bytes; // durable bytes now; reads never look past them
    const k = from - segment.firstPosition;
    const slot = Math.floor(k / indexStrideRecords);
    let offset = segment.index[slot];
    assert(offset !== undefined, 'every committed record is covered by the index');
    let recordNo = slot * indexStrideRecords;
    const handle = await storage.open(segment.file);
    try {
      let window: Uint8Array = new Uint8Array(0);
      let windowStart = offset;
      const load = async (at: number, length: number): Promise<void> => {
        window = await handle.read(
          at,
          Math.min(Math.max(length, readChunkBytes), segmentBytes - at),
        );
        windowStart = at;
      };
      for (let position = segment.firstPosition + recordNo; position <= upto;) {
        if (offset + recordHeaderBytes > windowStart + window.byteLength) {
          await load(offset, recordHeaderBytes);
        }
        const header = decodeHeader(window, offset - windowStart);
        if (!header.ok) throw readCorrupt(segment, offset, position, header.damage);
        if (position < from) {
          offset += recordHeaderBytes + header.length;
          recordNo += 1;
          position += 1;
          continue;
        }
        if (out.length > 0 && budget.bytes < header.length) return true;
        if (offset + recordHeaderBytes + header.length > windowStart + window.byteLength) {
          await load(offset, recordHeaderBytes + header.length);
        }
        const record = decodeRecord(window, offset - windowStart, position);
        if (!record.ok) throw readCorrupt(segment, offset, position, record.damage);
        const start = record.payloadOffset;
        out.push({ position, batch: window.slice(start, start + record.length) });
        budget.bytes -= record.length;
        offset = record.end + windowStart;
        position += 1;
      }
      return false;
    } finally {
      await handle.close();
    }
  };

  const read = async (from: number, max: number): Promise<readonly LogEntry[]> => {
    if (closed) throw closedError(dir);
    if (!Number.isSafeInteger(from) || from < 1 || !Number.isSafeInteger(max) || max < 1) {
      throw cofferError(
        'ORDERING_E_READ_RANGE',
        `read(from, max) needs integers from >= 1 and max >= 1, not from=${String(from)}, max=${String(max)}`,
        { from: String(from), max: String(max) },
      );
    }
    if (from < firstPosition) {
      throw cofferError(
        'ORDERING_E_READ_RANGE',
        `this log starts at position ${firstPosition} (its node joined from a snapshot); position ${from} is not in it`,
        { from: String(from), max: String(max) },
      );
    }
    const last = Math.min(committed, from + Math.min(max, limits.readBatchesMax) - 1);
    const out: LogEntry[] = [];
    const budget = { bytes: limits.readBytesMax };
    if (readRecent(from, last, budget, out)) return out;
    try {
      for (let position = from; position <= last;) {
        const segment = segments[segmentOf(segments, position)];
        assert(segment !== undefined, 'a committed position has a segment');
        const upto = Math.min(last, segment.firstPosition + segment.records - 1);
        if (await readSegment(segment, position, upto, budget, out)) break;
        position = upto + 1;
      }
    } catch (error) {
      rethrowBug(error);
      if (isCofferError(error)) throw error;
      throw cofferError(
        'ORDERING_E_IO',
        `reading the ordering log at ${dir} from position ${from} failed: ${messageOf(error)}`,
        { dir, from, errno: errnoCode(error) ?? null, retryable: true },
        error,
      );
    }
    return out;
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      cancelProbeTimer?.();
      cancelProbeTimer = undefined;
      await writer;
      await probing;
      await tail.close().catch((error: unknown) => {
        throw cofferError(
          'ORDERING_E_IO',
          `closing the ordering log at ${dir}: ${messageOf(error)}`,
          { dir, errno: errnoCode(error) ?? null, retryable: false },
          error,
        );
      });
    })();
    return closing;
  };

  return {
    append,
    read,
    committedPosition: () => committed,
    onCommit: (listener) => {
      const entry = { listener };
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
      };
    },
    health: (): LogHealth =>
      state.kind === 'ok' ? 'ok' : { state: state.kind, since: state.since, error: state.error },
    close,
    recovery: () => report,
    heldBatchBytes: () => recentBytes,
  };
}

/** Index of the segment holding `position` (the last one starting at or before it). */
function segmentOf(segments: readonly Segment[], position: number): number {
  let low = 0;
  let high = segments.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    const start = segments[mid]?.firstPosition ?? Infinity;
    if (start <= position) low = mid;
    else high = mid - 1;
  }
  return low;
}

function diskFullError(dir: string, cause: unknown, retryAfterMs: number): CofferError {
  return cofferError(
    'ORDERING_E_DISK_FULL',
    `disk full at ${dir}: ${messageOf(cause)}; appends resume when space returns`,
    { dir, errno: errnoCode(cause) ?? null, retryable: true, retryAfterMs },
    cause,
  );
}

function closedError(dir: string): CofferError {
  return cofferError('ORDERING_E_CLOSED', `the ordering log at ${dir} is closed`, { dir });
}

function readCorrupt(segment: Segment, offset: number, position: number, damage: string) {
  return cofferError(
    'ORDERING_E_CORRUPT',
    `ordering log corrupt: ${segment.name} byte ${offset}: committed record for position ${position} is damaged (${damage}). Restore ${segment.name} from a replica or backup`,
    { file: segment.file, offset, position, reason: damage },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Our bugs crash loudly (STYLE.md 6); only the world's errors become coded results. */
function rethrowBug(error: unknown): void {
  if (error instanceof AssertionError) throw error;
}
