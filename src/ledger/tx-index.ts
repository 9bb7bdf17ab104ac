// Transaction index: txId → the seqnos of the ledger entries that record it, in LevelDB
// (classic-level), so transaction statuses survive restarts without holding every id in
// memory. The index is derived data: it is written without fsync and can always be rebuilt
// from the ledger files (catchUpTxIndex). Decision 0009 gives the choices.
//
// Keys (big-endian integers; every write batch also rewrites `through` atomically):
//
//   0x00 "format"                      → "coffer-tx-index/1"
//   0x00 "through"                     → u64 indexedThrough: every entry up to it is indexed
//   0x01 txId (32 bytes) seqno (u64)   → empty. Every occurrence is kept: a request ordered
//                                        twice (a refused replay) has two entries, and the
//                                        caller picks, e.g. the committed one.
//   0x02 seqno (u64)                   → n × (txId, seqno): the entries of one write batch,
//                                        keyed by its highest seqno, so that truncateAfter
//                                        finds what to delete without a full scan.
//
// Writes are buffered and written in the background, in order, one LevelDB batch at a time;
// lookups see buffered entries. add() resolves at once unless the buffer is over its limit.
import assert from 'node:assert/strict';
import { readdir, rmdir } from 'node:fs/promises';
import type { ClassicLevel } from 'classic-level';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { readLedgerFrom, type LedgerOptions } from './files.js';
import { getU64, setU64 } from './files-format.js';
import { errnoCode } from './files-storage.js';
import { batchEnvelopesMax } from './tx.js';

// --- limits -----------------------------------------------------------------------------------

/** Entries one add() takes (the node adds one executed batch at a time). */
export const addEntriesMax: number = 4096;
/** Entries written in one LevelDB batch. */
export const writeBatchEntriesMax: number = 4096;
/** Buffered (not yet written) entries above which add()'s promise waits: backpressure. */
export const bufferEntriesMax: number = 16_384;
/** Seqnos lookupAll returns for one txId (the first ones). */
export const lookupSeqnosMax: number = 64;
/** Entries deleted per LevelDB batch by truncateAfter. */
export const truncateEntriesPerBatchMax: number = 65_536;
/** LevelDB block cache, in bytes. */
export const levelCacheBytes: number = 8 * 1_048_576;
/** LevelDB memtable, in bytes (LevelDB may hold two while one is being compacted). */
export const levelWriteBufferBytes: number = 4 * 1_048_576;
/** LevelDB table files kept open; each holds its index and Bloom filter blocks in memory. */
export const levelOpenFilesMax: number = 256;

assert(addEntriesMax >= batchEnvelopesMax, 'one executed batch fits in one add()');
assert(addEntriesMax <= writeBatchEntriesMax, 'one add() fits in one write batch');
assert(writeBatchEntriesMax <= bufferEntriesMax, 'a write batch is taken from the buffer');
assert(writeBatchEntriesMax <= truncateEntriesPerBatchMax, 'truncation takes whole records');
assert(lookupSeqnosMax >= 1);

/** Undo records read per truncation batch: each holds at most writeBatchEntriesMax entries. */
const truncateRecordsPerBatch = Math.floor(truncateEntriesPerBatchMax / writeBatchEntriesMax);

// --- format -----------------------------------------------------------------------------------

const txIdBytes = 32;
const seqnoBytes = 8;
/** txId then seqno: one entry of an undo record, and the tail of an entry key. */
const pairBytes = txIdBytes + seqnoBytes;
const entryKeyBytes = 1 + pairBytes;
const prefixEntry = 0x01;
const prefixUndo = 0x02;
const formatKey = Buffer.from('\x00format', 'latin1');
const throughKey = Buffer.from('\x00through', 'latin1');
const formatValue = 'coffer-tx-index/1';
const emptyValue = Buffer.alloc(0);
const txIdPattern = /^[0-9a-f]{64}$/;
/** Names LevelDB gives its files; a folder holding anything else is not an index folder. */
const levelDbFilePattern =
  /^(?:CURRENT|LOCK|LOG|LOG\.old|MANIFEST-\d+|\d+\.(?:log|ldb|sst|dbtmp))$/;

// --- types ------------------------------------------------------------------------------------

export type TxIndexEntry = { readonly txId: string; readonly seqno: number };

/** Matches pino's logger, which the node passes. */
export type TxIndexLogger = {
  readonly warn: (details: object, message: string) => void;
  readonly error: (details: object, message: string) => void;
};

export type TxIndexOptions = {
  /**
   * When the folder cannot be opened or holds malformed records (TXINDEX_E_CORRUPT or
   * TXINDEX_E_IO), discard it and start empty (then run catchUpTxIndex). A folder locked by
   * another process, or holding files that are not LevelDB's, is never discarded.
   */
  readonly rebuildOnCorruption?: boolean;
  readonly logger?: TxIndexLogger;
};

export type TxIndexStats = {
  /** Highest seqno added (buffered or written). */
  readonly indexedThrough: number;
  /** Highest seqno whose batch LevelDB has taken (it survives a process crash). */
  readonly writtenThrough: number;
  /** Entries added but not yet written. */
  readonly bufferedEntries: number;
  readonly batchesWritten: number;
  readonly entriesWritten: number;
};

export type TxIndex = {
  readonly dir: string;
  /** Why openTxIndex discarded the previous folder (rebuildOnCorruption), if it did. */
  readonly discarded: CofferError | undefined;
  /**
   * Indexes `entries` (seqnos increasing, all above indexedThrough() and at most `through`)
   * and moves indexedThrough() to `through`, which may cover entries without a txId. Lookups
   * see them at once; they are written in the background. The promise resolves when the
   * buffer is below bufferEntriesMax: await it before the next add (backpressure).
   */
  readonly add: (entries: readonly TxIndexEntry[], through: number) => Promise<void>;
  /** The first (lowest) seqno that records `txId`; undefined when none does. */
  readonly lookup: (txId: string) => Promise<number | undefined>;
  /** Every seqno that records `txId`, ascending, at most lookupSeqnosMax. */
  readonly lookupAll: (txId: string) => Promise<readonly number[]>;
  readonly indexedThrough: () => number;
  /** Removes the entries after `seqno` (the ledger was cut back). Waits for pending writes. */
  readonly truncateAfter: (seqno: number) => Promise<void>;
  /** Waits until everything added is written to LevelDB (not fsync'd: derived data). */
  readonly flush: () => Promise<void>;
  /** Flushes, then closes the database. Later calls fail with TXINDEX_E_CLOSED. */
  readonly close: () => Promise<void>;
  readonly stats: () => TxIndexStats;
};

export type CatchUpReport = {
  /** indexedThrough() before, when it was beyond the ledger and the index was cut back. */
  readonly truncatedFrom: number | undefined;
  /** First seqno read from the ledger files. */
  readonly fromSeqno: number;
  /** indexedThrough() after. */
  readonly throughSeqno: number;
  readonly entriesRead: number;
  readonly txIdsAdded: number;
};

type Db = ClassicLevel<Buffer, Buffer>;
type Op = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

/** One add(): its entries as (txId, seqno) pairs, ready to be an undo record. */
type Chunk = {
  readonly pairs: Buffer;
  readonly txIds: readonly string[];
  readonly seqnos: readonly number[];
  readonly through: number;
};

// --- opening ----------------------------------------------------------------------------------

/** Opens (creating if needed) the transaction index in `dir`. */
export async function openTxIndex(dir: string, options: TxIndexOptions = {}): Promise<TxIndex> {
  const logger = options.logger ?? silentLogger;
  try {
    return await openOnce(dir, logger, undefined);
  } catch (error) {
    const rebuildable =
      isCofferError(error, 'TXINDEX_E_CORRUPT') || isCofferError(error, 'TXINDEX_E_IO');
    if (options.rebuildOnCorruption !== true || !rebuildable) throw error;
    logger.warn(
      { dir, code: error.code },
      `transaction index ${dir} is discarded and starts empty (${error.message}); ` +
        'it is rebuilt from the ledger files',
    );
    await destroyTxIndex(dir);
    return await openOnce(dir, logger, error);
  }
}

/**
 * Deletes the index in `dir` (its LevelDB files, then the folder if empty). Refuses a folder
 * holding other files (TXINDEX_E_DIR_INVALID) or one in use (TXINDEX_E_LOCKED).
 */
export async function destroyTxIndex(dir: string): Promise<void> {
  await checkFolder(dir);
  const { ClassicLevel } = await import('classic-level');
  try {
    await ClassicLevel.destroy(dir);
  } catch (error) {
    throw indexError(error, 'deleting', dir);
  }
  try {
    await rmdir(dir);
  } catch (error) {
    if (errnoCode(error) !== 'ENOENT') throw indexError(error, 'deleting', dir);
  }
}

async function checkFolder(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return;
    if (errnoCode(error) === 'ENOTDIR') {
      throw cofferError('TXINDEX_E_DIR_INVALID', `transaction index ${dir} is not a folder`, {
        dir,
      });
    }
    throw indexError(error, 'listing', dir);
  }
  const foreign = names.filter((name) => !levelDbFilePattern.test(name));
  if (foreign.length > 0) {
    throw cofferError(
      'TXINDEX_E_DIR_INVALID',
      `transaction index ${dir} holds files that are not LevelDB's (${foreign.slice(0, 5).join(', ')}); ` +
        'give the index a folder of its own',
      { dir, files: foreign.slice(0, 20) },
    );
  }
}

async function openOnce(
  dir: string,
  logger: TxIndexLogger,
  discarded: CofferError | undefined,
): Promise<TxIndex> {
  // Checked before LevelDB creates files, so a mistaken path (the ledger folder) is left alone.
  await checkFolder(dir);
  // Loaded lazily (STYLE.md 3): importing the ledger module costs nothing without the index.
  const { ClassicLevel } = await import('classic-level');
  const db: Db = new ClassicLevel<Buffer, Buffer>(dir, {
    keyEncoding: 'buffer',
    valueEncoding: 'buffer',
    createIfMissing: true,
    // Keys are random hashes: Snappy would spend time and save nothing.
    compression: false,
    cacheSize: levelCacheBytes,
    writeBufferSize: levelWriteBufferBytes,
    maxOpenFiles: levelOpenFilesMax,
  });
  try {
    await db.open();
  } catch (error) {
    // abstract-level wraps the LevelDB error (LEVEL_CORRUPTION, LEVEL_LOCKED, ...) as cause.
    throw indexError(
      error instanceof Error && error.cause !== undefined ? error.cause : error,
      'opening',
      dir,
    );
  }
  let through: number;
  try {
    through = await readMeta(db, dir);
  } catch (error) {
    await db.close().catch(() => undefined);
    throw isCofferError(error) ? error : indexError(error, 'reading', dir);
  }
  return createTxIndex(db, dir, through, logger, discarded);
}

/** indexedThrough from the meta keys, creating them for a new index; checks the undo records. */
async function readMeta(db: Db, dir: string): Promise<number> {
  const format = await db.get(formatKey);
  if (format === undefined) {
    const any = await db.keys({ limit: 1 }).all();
    if (any.length > 0) throw corrupt(dir, 'it has records but no format marker');
    await db.batch([
      { type: 'put', key: formatKey, value: Buffer.from(formatValue) },
      { type: 'put', key: throughKey, value: seqnoBuffer(0) },
    ]);
    return 0;
  }
  if (format.toString('latin1') !== formatValue) {
    throw corrupt(
      dir,
      `its format is "${format.toString('latin1').slice(0, 40)}", not ${formatValue}`,
    );
  }
  const value = await db.get(throughKey);
  if (value?.byteLength !== seqnoBytes)
    throw corrupt(dir, 'its indexedThrough record is malformed');
  const through = readSeqno(value, 0);
  if (!Number.isSafeInteger(through))
    throw corrupt(dir, 'its indexedThrough is not a safe integer');
  // Every batch writes its undo record and `through` together, so none is beyond `through`.
  const [last] = await db
    .keys({
      gte: Buffer.from([prefixUndo]),
      lt: Buffer.from([prefixUndo + 1]),
      reverse: true,
      limit: 1,
    })
    .all();
  if (last !== undefined && (last.byteLength !== 1 + seqnoBytes || readSeqno(last, 1) > through)) {
    throw corrupt(dir, `an undo record is beyond indexedThrough ${through}`);
  }
  return through;
}

// --- the index --------------------------------------------------------------------------------

function createTxIndex(
  db: Db,
  dir: string,
  initialThrough: number,
  logger: TxIndexLogger,
  discarded: CofferError | undefined,
): TxIndex {
  /** Added, not yet taken by the writer, oldest first. */
  const queue: Chunk[] = [];
  /** Buffered entries by txId (a number, or several for a repeated txId), for lookups. */
  const buffered = new Map<string, number | number[]>();
  let bufferedEntries = 0;
  let indexedThrough = initialThrough;
  let writtenThrough = initialThrough;
  let batchesWritten = 0;
  let entriesWritten = 0;
  let writing: Promise<void> | undefined;
  let failure: CofferError | undefined;
  let truncating = false;
  let closed = false;
  let roomWaiters: { resolve: () => void; reject: (error: CofferError) => void }[] = [];

  const closedError = (): CofferError =>
    cofferError('TXINDEX_E_CLOSED', `transaction index ${dir} is closed`, { dir });

  const settleWaiters = (): void => {
    if (failure === undefined && bufferedEntries > bufferEntriesMax) return;
    const waiters = roomWaiters;
    roomWaiters = [];
    for (const waiter of waiters) {
      if (failure === undefined) waiter.resolve();
      else waiter.reject(failure);
    }
  };

  const unmap = (txId: string, seqno: number): void => {
    const known = buffered.get(txId);
    if (known === seqno) buffered.delete(txId);
    else if (Array.isArray(known)) {
      const rest = known.filter((value) => value !== seqno);
      if (rest.length === 1 && rest[0] !== undefined) buffered.set(txId, rest[0]);
      else buffered.set(txId, rest);
    }
  };

  /** Takes whole chunks, up to writeBatchEntriesMax entries, off the queue. */
  const takeBatch = (): Chunk[] => {
    const taken: Chunk[] = [];
    let entries = 0;
    for (const chunk of queue) {
      if (taken.length > 0 && entries + chunk.seqnos.length > writeBatchEntriesMax) break;
      taken.push(chunk);
      entries += chunk.seqnos.length;
    }
    queue.splice(0, taken.length);
    return taken;
  };

  /**
   * Writes one LevelDB batch for `chunks`. A chained batch copies each key when it is put, so
   * one key buffer serves every entry and nothing per entry outlives the call.
   */
  const writeChunks = async (chunks: readonly Chunk[]): Promise<void> => {
    const batch = db.batch();
    try {
      const key = Buffer.allocUnsafe(entryKeyBytes);
      key[0] = prefixEntry;
      for (const chunk of chunks) {
        for (let i = 0; i < chunk.seqnos.length; i += 1) {
          chunk.pairs.copy(key, 1, i * pairBytes, (i + 1) * pairBytes);
          batch.put(key, emptyValue);
        }
      }
      const withEntries = chunks.filter((chunk) => chunk.seqnos.length > 0);
      const highest = withEntries.at(-1)?.seqnos.at(-1);
      if (highest !== undefined) {
        const [only] = withEntries;
        const pairs =
          withEntries.length === 1 && only !== undefined
            ? only.pairs
            : Buffer.concat(withEntries.map((chunk) => chunk.pairs));
        batch.put(undoKey(highest), pairs);
      }
      const last = chunks.at(-1);
      assert(last !== undefined);
      batch.put(throughKey, seqnoBuffer(last.through));
    } catch (error) {
      await batch.close();
      throw error;
    }
    await batch.write();
  };

  /** Writes the queue in order, one batch at a time, until it is empty or a write fails. */
  const writeLoop = async (): Promise<void> => {
    while (queue.length > 0 && failure === undefined && !truncating) {
      const chunks = takeBatch();
      try {
        await writeChunks(chunks);
      } catch (error) {
        // LevelDB refuses every write after a failed one: the index must be reopened. What was
        // not written stays visible to lookups and is re-added by catchUpTxIndex after reopening.
        failure = indexError(error, 'writing', dir);
        logger.error({ dir, code: failure.code }, failure.message);
        queue.unshift(...chunks);
        settleWaiters();
        return;
      }
      let written = 0;
      for (const chunk of chunks) {
        chunk.txIds.forEach((txId, i) => {
          const seqno = chunk.seqnos[i];
          assert(seqno !== undefined);
          unmap(txId, seqno);
        });
        written += chunk.seqnos.length;
        writtenThrough = chunk.through;
      }
      bufferedEntries -= written;
      entriesWritten += written;
      batchesWritten += 1;
      settleWaiters();
    }
  };

  const kick = (): void => {
    if (writing !== undefined || failure !== undefined || truncating) return;
    if (queue.length === 0) return;
    writing = writeLoop().finally(() => {
      writing = undefined;
    });
  };

  /** Waits until the writer is idle with an empty queue; throws the write failure, if any. */
  const drain = async (): Promise<void> => {
    kick();
    while (writing !== undefined) {
      await writing;
      kick();
    }
    if (failure !== undefined) throw failure;
  };

  const add = (entries: readonly TxIndexEntry[], through: number): Promise<void> => {
    if (closed) return Promise.reject(closedError());
    if (failure !== undefined) return Promise.reject(failure);
    assert(!truncating, 'add() while truncateAfter() runs');
    assert(entries.length <= addEntriesMax, `add() takes at most ${addEntriesMax} entries`);
    assert(Number.isSafeInteger(through) && through >= indexedThrough, 'add() through');
    assert(
      bufferedEntries <= bufferEntriesMax + addEntriesMax,
      'add() called again before the previous one resolved (backpressure)',
    );
    const pairs = Buffer.allocUnsafe(entries.length * pairBytes);
    const view = new DataView(pairs.buffer, pairs.byteOffset, pairs.byteLength);
    const txIds: string[] = [];
    const seqnos: number[] = [];
    let previous = indexedThrough;
    entries.forEach(({ txId, seqno }, i) => {
      assert(txIdPattern.test(txId), 'add() txId is 64 lowercase hex digits');
      assert(Number.isSafeInteger(seqno) && seqno > previous && seqno <= through, 'add() seqno');
      previous = seqno;
      pairs.write(txId, i * pairBytes, txIdBytes, 'hex');
      setU64(view, i * pairBytes + txIdBytes, seqno);
      txIds.push(txId);
      seqnos.push(seqno);
    });
    if (entries.length === 0 && through === indexedThrough) return Promise.resolve();
    txIds.forEach((txId, i) => {
      const seqno = seqnos[i];
      assert(seqno !== undefined);
      const known = buffered.get(txId);
      if (known === undefined) buffered.set(txId, seqno);
      else if (Array.isArray(known)) known.push(seqno);
      else buffered.set(txId, [known, seqno]);
    });
    queue.push({ pairs, txIds, seqnos, through });
    bufferedEntries += entries.length;
    indexedThrough = through;
    kick();
    if (bufferedEntries <= bufferEntriesMax) return Promise.resolve();
    return new Promise((resolve, reject) => {
      roomWaiters.push({ resolve, reject });
    });
  };

  const lookupAll = async (txId: string, limit = lookupSeqnosMax): Promise<readonly number[]> => {
    if (closed) throw closedError();
    // A string that is not a txId was never added.
    if (!txIdPattern.test(txId)) return [];
    // The buffer is read first: an entry written meanwhile is then found on disk instead.
    const known = buffered.get(txId);
    const fromBuffer = known === undefined ? [] : Array.isArray(known) ? [...known] : [known];
    const low = Buffer.alloc(entryKeyBytes, 0x00);
    low[0] = prefixEntry;
    low.write(txId, 1, txIdBytes, 'hex');
    const high = Buffer.from(low);
    high.fill(0xff, 1 + txIdBytes);
    let keys: Buffer[];
    try {
      keys = await db.keys({ gte: low, lte: high, limit }).all();
    } catch (error) {
      throw indexError(error, 'reading', dir);
    }
    const seqnos = new Set(fromBuffer);
    for (const key of keys) seqnos.add(readSeqno(key, 1 + txIdBytes));
    return [...seqnos].sort((a, b) => a - b).slice(0, limit);
  };

  const truncateAfter = async (seqno: number): Promise<void> => {
    if (closed) throw closedError();
    assert(Number.isSafeInteger(seqno) && seqno >= 0, 'truncateAfter seqno');
    await drain();
    if (seqno >= indexedThrough) return;
    truncating = true;
    const from = indexedThrough;
    let removed = 0;
    try {
      // Highest records first, and `through` lowered with each batch: after a crash in the
      // middle, the index is still correct up to its `through`, which the caller cuts again.
      for (;;) {
        const ops: Op[] = [];
        let lowestCut = indexedThrough + 1;
        let deleted = 0;
        const records = await db
          .iterator({
            gt: undoKey(seqno),
            lt: Buffer.from([prefixUndo + 1]),
            reverse: true,
            limit: truncateRecordsPerBatch,
          })
          .all();
        for (const [key, pairs] of records) {
          if (pairs.byteLength % pairBytes !== 0) throw corrupt(dir, 'an undo record is malformed');
          ops.push({ type: 'del', key });
          let kept = 0;
          for (let offset = 0; offset < pairs.byteLength; offset += pairBytes) {
            const entrySeqno = readSeqno(pairs, offset + txIdBytes);
            if (entrySeqno <= seqno) {
              kept = offset + pairBytes;
              continue;
            }
            const entryKey = Buffer.allocUnsafe(entryKeyBytes);
            entryKey[0] = prefixEntry;
            pairs.copy(entryKey, 1, offset, offset + pairBytes);
            ops.push({ type: 'del', key: entryKey });
            lowestCut = Math.min(lowestCut, entrySeqno);
            deleted += 1;
          }
          if (kept > 0) {
            const rest = pairs.subarray(0, kept);
            ops.push({
              type: 'put',
              key: undoKey(readSeqno(rest, kept - seqnoBytes)),
              value: rest,
            });
          }
        }
        const through = records.length === 0 ? seqno : Math.max(seqno, lowestCut - 1);
        ops.push({ type: 'put', key: throughKey, value: seqnoBuffer(through) });
        await db.batch(ops);
        indexedThrough = through;
        writtenThrough = through;
        removed += deleted;
        if (records.length === 0) break;
      }
      logger.warn(
        { dir, from, through: seqno, removed },
        `transaction index ${dir} cut back from ${from} to ${seqno} (${removed} entries removed)`,
      );
    } catch (error) {
      throw isCofferError(error) ? error : indexError(error, 'truncating', dir);
    } finally {
      truncating = false;
    }
  };

  return {
    dir,
    discarded,
    add,
    lookup: async (txId) => (await lookupAll(txId, 1))[0],
    lookupAll: (txId) => lookupAll(txId),
    indexedThrough: () => indexedThrough,
    truncateAfter,
    flush: async () => {
      if (closed) throw closedError();
      await drain();
    },
    close: async () => {
      if (closed) return;
      // A write failure was logged and reported by add() and flush(); closing goes on.
      await drain().catch(() => undefined);
      closed = true;
      try {
        await db.close();
      } catch (error) {
        throw indexError(error, 'closing', dir);
      }
    },
    stats: () => ({
      indexedThrough,
      writtenThrough,
      bufferedEntries,
      batchesWritten,
      entriesWritten,
    }),
  };
}

// --- catching up from the ledger files --------------------------------------------------------

/**
 * Brings the index level with the ledger files in `ledgerDir`, whose last entry is
 * `ledgerLastSeqno`: the writer's lastSeqno() once recovery and any cut back to the snapshot
 * are done, before anything new is appended. Cuts the index back if it is ahead (the ledger's
 * unflushed tail may be lost in a crash while the index kept it), then adds the txIds of the
 * entries after indexedThrough(). Run it on node start, before serving lookups.
 */
export async function catchUpTxIndex(
  index: TxIndex,
  ledgerDir: string,
  ledgerLastSeqno: number,
  options: LedgerOptions = {},
): Promise<CatchUpReport> {
  assert(Number.isSafeInteger(ledgerLastSeqno) && ledgerLastSeqno >= 0, 'ledgerLastSeqno');
  let truncatedFrom: number | undefined;
  if (index.indexedThrough() > ledgerLastSeqno) {
    truncatedFrom = index.indexedThrough();
    await index.truncateAfter(ledgerLastSeqno);
  }
  const fromSeqno = index.indexedThrough() + 1;
  let pending: TxIndexEntry[] = [];
  let last = index.indexedThrough();
  let entriesRead = 0;
  let txIdsAdded = 0;
  if (fromSeqno <= ledgerLastSeqno) {
    for await (const entry of readLedgerFrom(ledgerDir, fromSeqno, options)) {
      if (entry.seqno > ledgerLastSeqno) break;
      entriesRead += 1;
      last = entry.seqno;
      if (entry.kind !== 'tx') continue;
      const txId = txIdOfEntry(entry.payload, entry.seqno, ledgerDir);
      if (txId !== null) pending.push({ txId, seqno: entry.seqno });
      if (pending.length === addEntriesMax) {
        txIdsAdded += pending.length;
        await index.add(pending, last);
        pending = [];
      }
    }
  }
  if (pending.length > 0 || last > index.indexedThrough()) {
    txIdsAdded += pending.length;
    await index.add(pending, last);
  }
  await index.flush();
  return {
    truncatedFrom,
    fromSeqno,
    throughSeqno: index.indexedThrough(),
    entriesRead,
    txIdsAdded,
  };
}

/** The txId a 'tx' entry records (null for an envelope that could not be read). */
function txIdOfEntry(payload: Uint8Array, seqno: number, dir: string): string | null {
  const malformed = (why: string): CofferError =>
    cofferError(
      'LEDGER_E_ENTRY_MALFORMED',
      `ledger ${dir}: the tx entry at seqno ${seqno} ${why}`,
      { dir, seqno },
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(
      Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString('utf8'),
    );
  } catch {
    throw malformed('is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw malformed('is not a JSON object');
  const { txId, seqno: recorded } = parsed as { txId?: unknown; seqno?: unknown };
  if (recorded !== seqno) throw malformed(`records seqno ${String(recorded)}`);
  if (txId === null) return null;
  if (typeof txId !== 'string' || !txIdPattern.test(txId)) {
    throw malformed('has a txId that is not 64 lowercase hex digits');
  }
  return txId;
}

// --- helpers ----------------------------------------------------------------------------------

const silentLogger: TxIndexLogger = { warn: noop, error: noop };

function noop(): void {
  // deliberately empty
}

function seqnoBuffer(seqno: number): Buffer {
  const buffer = Buffer.allocUnsafe(seqnoBytes);
  setU64(new DataView(buffer.buffer, buffer.byteOffset, seqnoBytes), 0, seqno);
  return buffer;
}

function readSeqno(bytes: Uint8Array, offset: number): number {
  return getU64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), offset);
}

function undoKey(seqno: number): Buffer {
  const key = Buffer.allocUnsafe(1 + seqnoBytes);
  key[0] = prefixUndo;
  setU64(new DataView(key.buffer, key.byteOffset, key.byteLength), 1, seqno);
  return key;
}

function corrupt(dir: string, why: string): CofferError {
  return cofferError('TXINDEX_E_CORRUPT', `transaction index ${dir} is damaged: ${why}`, { dir });
}

/** The registered error for a failed LevelDB or file call. */
function indexError(error: unknown, action: string, dir: string): CofferError {
  if (isCofferError(error)) return error;
  const code =
    typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  const reason = error instanceof Error ? error.message : String(error);
  const details =
    typeof code === 'string' && code.startsWith('LEVEL_')
      ? { dir, levelCode: code }
      : { dir, errno: errnoCode(error) };
  if (code === 'LEVEL_CORRUPTION') {
    return cofferError(
      'TXINDEX_E_CORRUPT',
      `${action} transaction index ${dir}: ${reason}`,
      details,
      error,
    );
  }
  if (code === 'LEVEL_DATABASE_NOT_OPEN') {
    return cofferError('TXINDEX_E_CLOSED', `transaction index ${dir} is closed`, details, error);
  }
  if (code === 'LEVEL_LOCKED') {
    return cofferError(
      'TXINDEX_E_LOCKED',
      `transaction index ${dir} is already open, in this or another process (${reason})`,
      details,
      error,
    );
  }
  return cofferError(
    'TXINDEX_E_IO',
    `${action} transaction index ${dir} failed: ${reason}`,
    details,
    error,
  );
}
