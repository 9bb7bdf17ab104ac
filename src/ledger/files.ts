// Ledger files: chunked, append-only, CRC-framed entries (format in files-format.ts), all IO
// through the Storage seam. The writer buffers appends and makes them durable at flush(), which
// the node calls at signature entries; anything after the last flush may be lost in a crash, and
// the node re-executes it from its ordering log. On open, a torn tail of the last chunk is cut.
//
// Crash safety rests on three rules: a chunk is fsync'd before the next one is created, so
// only the last chunk can have a torn tail; a failed write or fsync truncates the file back to
// its last durable offset and re-queues what was after it (after a failed fsync the page cache
// cannot be trusted), so the file never holds a half record; and every record carries the
// highest seqno already flushed, so damage that later records prove was flushed is reported as
// corruption instead of being cut as a torn tail.
import assert from 'node:assert/strict';
import path from 'node:path';
import { cofferError, type CofferError } from '../errors/index.js';
import {
  chunkBytesMaxDefault,
  chunkFileName,
  decodeHeader,
  encodeRecord,
  entryBytesMax,
  parseChunkFileName,
  recordCrcMatches,
  recordHeaderBytes,
  recordMagic,
  type EntryKind,
  type RecordDamage,
} from './files-format.js';
import { createFsStorage, storageError, type Storage, type StorageFile } from './files-storage.js';

export type { EntryKind, RecordDamage } from './files-format.js';
export { chunkBytesMaxDefault, chunkFileName, entryBytesMax } from './files-format.js';

// --- limits -----------------------------------------------------------------------------------

/** Appended records buffered in memory before one write call, in bytes. */
export const writeBufferBytesMax: number = 1_048_576;
/** Bytes read per call while scanning a chunk. */
export const readBlockBytes: number = 1_048_576;
/** Bytes of a chunk reader's first read (then doubled at each read up to readBlockBytes). */
export const readBlockBytesFirst: number = 16_384;
/** A seek index notes the offset of every entry whose seqno is a multiple of this. */
export const seekStrideEntries: number = 128;
/** Offsets a seek index holds; when full it starts again empty (offsets are only hints). */
export const seekHintsMax: number = 262_144;

assert(writeBufferBytesMax >= recordHeaderBytes && readBlockBytesFirst >= recordHeaderBytes);
assert(readBlockBytesFirst <= readBlockBytes);

// --- types ------------------------------------------------------------------------------------

export type LedgerEntry = {
  readonly seqno: number;
  readonly kind: EntryKind;
  /** The entry's bytes, exactly as appended. */
  readonly payload: Uint8Array;
};

export type LedgerOptions = { readonly storage?: Storage };

export type WriterOptions = LedgerOptions & {
  /** A new chunk starts before the record that would take a chunk past this size. */
  readonly chunkBytesMax?: number;
  /** Seqno of the first entry of an empty ledger (1; later for a node that joined from a snapshot). */
  readonly firstSeqno?: number;
};

/** What `coffer ledger verify` reports: record damage, a misnamed chunk, or a torn tail. */
export type LedgerDamage = RecordDamage | 'bad-name' | 'torn-tail';

/** The first damaged byte range of a ledger folder. */
export type LedgerProblem = {
  /** Chunk file name, relative to the ledger folder. */
  readonly file: string;
  readonly offsetStart: number;
  /** Exclusive. */
  readonly offsetEnd: number;
  readonly reason: LedgerDamage;
  /** The seqno expected at offsetStart. */
  readonly seqno: number;
  readonly message: string;
};

export type VerifyResult =
  | {
      readonly ok: true;
      readonly chunks: number;
      readonly entries: number;
      readonly signatures: number;
      /** Undefined for an empty ledger. */
      readonly firstSeqno: number | undefined;
      readonly lastSeqno: number | undefined;
      readonly bytes: number;
    }
  | ({ readonly ok: false } & LedgerProblem);

export type RecoveryReport = {
  readonly chunks: number;
  readonly firstSeqno: number | undefined;
  /** The last intact entry: the next append must be lastSeqno + 1. */
  readonly lastSeqno: number;
  /** The torn tail cut from the last chunk, if there was one. */
  readonly dropped?: {
    readonly file: string;
    readonly offsetStart: number;
    /** The file size before the cut. */
    readonly offsetEnd: number;
    /** The seqno the first dropped record would have had. */
    readonly seqno: number;
    readonly reason: RecordDamage;
  };
};

export type LedgerWriter = {
  /**
   * Appends the entry at `seqno` (the one after lastSeqno()). Usually buffers in memory; when
   * it writes and the disk is full it throws LEDGER_E_DISK_FULL and the entry is not taken:
   * retry the same call once there is space.
   */
  readonly append: (seqno: number, kind: EntryKind, payload: Uint8Array) => Promise<void>;
  /** Makes the next append start a new chunk (call it after a signature entry). */
  readonly endChunk: () => void;
  /** Bytes in the chunk being written, appended entries not yet written included. */
  readonly chunkBytes: () => number;
  /**
   * Writes and fsyncs everything appended. On LEDGER_E_DISK_FULL (or LEDGER_E_IO) the files
   * are back at the last flush and nothing is lost from memory: call flush() again.
   */
  readonly flush: () => Promise<void>;
  /** Drops every entry after `seqno`, durably. On failure, reopen the ledger. */
  readonly truncateAfter: (seqno: number) => Promise<void>;
  /** The last appended entry (0, or firstSeqno - 1, when there is none). */
  readonly lastSeqno: () => number;
  /** The last entry made durable by flush(), open or truncateAfter. */
  readonly flushedSeqno: () => number;
  /** Flushes, then closes the files. */
  readonly close: () => Promise<void>;
};

// --- reading chunks ---------------------------------------------------------------------------

type ChunkRef = { readonly name: string; readonly file: string; readonly first: number };

type ChunkReader = {
  readonly size: number;
  /** Up to `length` bytes at `offset` (fewer at the end of the file), read in large blocks. */
  readonly at: (offset: number, length: number) => Promise<Uint8Array>;
};

function chunkReader(file: StorageFile, size: number): ChunkReader {
  let windowStart = 0;
  let window: Uint8Array = new Uint8Array(0);
  // Blocks start small and double up to readBlockBytes: a read of one entry (a seek) reads a
  // few KiB, a scan soon reads whole blocks.
  let block = readBlockBytesFirst;
  return {
    size,
    at: async (offset, length) => {
      const end = Math.min(offset + length, size);
      if (end <= offset) return new Uint8Array(0);
      if (offset >= windowStart && end <= windowStart + window.byteLength) {
        return window.subarray(offset - windowStart, end - windowStart);
      }
      window = await file.read(offset, Math.min(Math.max(end - offset, block), size - offset));
      block = Math.min(block * 2, readBlockBytes);
      windowStart = offset;
      return window.subarray(0, Math.min(end - offset, window.byteLength));
    },
  };
}

type Step =
  | {
      readonly ok: true;
      readonly seqno: number;
      readonly kind: EntryKind;
      readonly flushed: number;
      /** A view into the read window: copy before keeping it. */
      readonly payload: Uint8Array;
      readonly offset: number;
      readonly end: number;
    }
  | {
      readonly ok: false;
      readonly damage: RecordDamage;
      readonly offset: number;
      readonly end: number;
      /** The seqno expected here. */
      readonly seqno: number;
      /** The seqno a CRC-valid record in the wrong place holds. */
      readonly found?: number;
    };

/** The record at `offset`, checked completely (framing, CRC and, if given, its seqno). */
async function readRecord(reader: ChunkReader, offset: number, expected: number): Promise<Step> {
  const damaged = (damage: RecordDamage, end: number, found?: number): Step => ({
    ok: false,
    damage,
    offset,
    end,
    seqno: expected,
    ...(found === undefined ? {} : { found }),
  });
  const headerBytes = await reader.at(offset, recordHeaderBytes);
  const decoded = decodeHeader(headerBytes);
  if (!decoded.ok) {
    return damaged(decoded.damage, Math.min(offset + recordHeaderBytes, reader.size));
  }
  const { header } = decoded;
  const end = offset + recordHeaderBytes + header.length;
  if (end > reader.size) return damaged('truncated', reader.size);
  // The payload read may move the window: keep a copy of the header.
  const headerCopy = new Uint8Array(headerBytes);
  const payload = await reader.at(offset + recordHeaderBytes, header.length);
  if (payload.byteLength !== header.length) return damaged('truncated', reader.size);
  if (!recordCrcMatches(headerCopy, payload)) return damaged('crc-mismatch', end);
  if (expected !== -1 && header.seqno !== expected) return damaged('seqno-gap', end, header.seqno);
  return {
    ok: true,
    seqno: header.seqno,
    kind: header.kind,
    flushed: header.flushed,
    payload,
    offset,
    end,
  };
}

/**
 * Every record of a chunk in order from `offset` (where the record `expected` starts), stopping
 * after the first damaged one.
 */
async function* scanChunk(
  reader: ChunkReader,
  first: number,
  from: { readonly offset: number; readonly seqno: number } = { offset: 0, seqno: first },
): AsyncGenerator<Step> {
  let offset = from.offset;
  let expected = from.seqno;
  while (offset < reader.size) {
    const step = await readRecord(reader, offset, expected);
    yield step;
    if (!step.ok) return;
    offset = step.end;
    expected += 1;
  }
}

/** True when a valid record at or after `from` was written once `seqno` was already flushed. */
async function attestedLater(reader: ChunkReader, from: number, seqno: number): Promise<boolean> {
  const magic = Buffer.alloc(4);
  magic.writeUInt32BE(recordMagic);
  let position = from;
  while (position + recordHeaderBytes <= reader.size) {
    const block = await reader.at(position, readBlockBytes);
    const index = Buffer.from(block.buffer, block.byteOffset, block.byteLength).indexOf(magic);
    if (index < 0) {
      // Overlap by 3 bytes so a magic split between two blocks is still found.
      position += Math.max(1, block.byteLength - 3);
      continue;
    }
    const candidate = position + index;
    const step = await readRecord(reader, candidate, -1);
    if (step.ok && step.flushed >= seqno) return true;
    position = candidate + 1;
  }
  return false;
}

async function listChunks(storage: Storage, dir: string): Promise<ChunkRef[] | LedgerProblem> {
  const chunks: ChunkRef[] = [];
  for (const name of await storage.list(dir)) {
    const first = parseChunkFileName(name);
    if (first === undefined) continue;
    if (first === 'bad') {
      const size = (await storage.stat(path.join(dir, name)))?.size ?? 0;
      return {
        file: name,
        offsetStart: 0,
        offsetEnd: size,
        reason: 'bad-name',
        seqno: 0,
        message: `${name} is not named ledger-<first seqno, 20 digits>.chunk`,
      };
    }
    chunks.push({ name, file: path.join(dir, name), first });
  }
  return chunks.sort((a, b) => a.first - b.first);
}

function describe(step: Step & { ok: false }, torn: boolean): string {
  if (torn) {
    return (
      `the record of seqno ${step.seqno} is ${step.damage === 'truncated' ? 'incomplete' : `damaged (${step.damage})`} ` +
      `at the end of the last chunk and no later record proves it was flushed ` +
      `(a write torn by a crash; opening the ledger cuts it)`
    );
  }
  switch (step.damage) {
    case 'truncated':
      return `the record of seqno ${step.seqno} is cut short: the file ends inside it`;
    case 'bad-magic':
      return `no record starts at byte ${step.offset} (bad magic) where seqno ${step.seqno} should`;
    case 'bad-header':
      return `the header of seqno ${step.seqno} has an unknown version or kind, or a length above ${entryBytesMax}`;
    case 'crc-mismatch':
      return `the record of seqno ${step.seqno} fails its CRC-32: its bytes were altered`;
    case 'seqno-gap':
      return `expected seqno ${step.seqno} but found ${step.found ?? '?'}: entries are missing or out of order`;
  }
}

/** `torn`: damage in the last chunk that recovery would cut (no later record attests it). */
function problemAt(chunk: ChunkRef, step: Step & { ok: false }, torn: boolean): LedgerProblem {
  return {
    file: chunk.name,
    offsetStart: step.offset,
    offsetEnd: step.end,
    reason: torn ? 'torn-tail' : step.damage,
    seqno: step.seqno,
    message: describe(step, torn),
  };
}

function corruptError(dir: string, problem: LedgerProblem, note = ''): CofferError {
  return cofferError(
    'LEDGER_E_CORRUPT',
    `${path.join(dir, problem.file)} bytes ${problem.offsetStart}..${problem.offsetEnd}: ` +
      `${problem.message}${note}`,
    { dir, ...problem },
  );
}

async function withFile<T>(
  open: Promise<StorageFile>,
  use: (file: StorageFile) => Promise<T>,
): Promise<T> {
  const file = await open;
  try {
    return await use(file);
  } finally {
    await file.close();
  }
}

// --- verify -----------------------------------------------------------------------------------

/**
 * Checks every record of every chunk: names, framing, CRCs and seqno contiguity. Returns counts,
 * or the FIRST damaged byte range. Opens files read-only: it runs on copies too.
 */
export async function verifyLedgerDir(
  dir: string,
  options: LedgerOptions = {},
): Promise<VerifyResult> {
  const storage = options.storage ?? createFsStorage();
  try {
    const chunks = await listChunks(storage, dir);
    if (!Array.isArray(chunks)) return { ok: false, ...chunks };
    let entries = 0;
    let signatures = 0;
    let bytes = 0;
    let expected: number | undefined;
    for (const [index, chunk] of chunks.entries()) {
      const last = index === chunks.length - 1;
      const found = await withFile(storage.openReadOnly(chunk.file), async (file) => {
        const reader = chunkReader(file, await file.size());
        bytes += reader.size;
        if (expected !== undefined && chunk.first !== expected) {
          const head = await readRecord(reader, 0, -1);
          return {
            file: chunk.name,
            offsetStart: 0,
            offsetEnd: head.end,
            reason: 'seqno-gap',
            seqno: expected,
            message:
              `the chunk starts at seqno ${chunk.first} but the previous one ends at ` +
              `${expected - 1}: entries are missing or out of order`,
          } satisfies LedgerProblem;
        }
        expected = chunk.first;
        for await (const step of scanChunk(reader, chunk.first)) {
          if (!step.ok) {
            // The same rule as recovery: damage in the last chunk that no later record attests
            // is a torn write that opening the ledger cuts; anything else is corruption.
            const torn = last && !(await attestedLater(reader, step.offset, step.seqno));
            return problemAt(chunk, step, torn);
          }
          entries += 1;
          if (step.kind === 'signature') signatures += 1;
          expected = step.seqno + 1;
        }
        return undefined;
      });
      if (found !== undefined) return { ok: false, ...found };
    }
    const firstSeqno = chunks[0]?.first;
    return {
      ok: true,
      chunks: chunks.length,
      entries,
      signatures,
      firstSeqno,
      lastSeqno: expected === undefined ? undefined : expected - 1,
      bytes,
    };
  } catch (error) {
    throw storageError(error, 'verifying', dir);
  }
}

/** One line for `coffer ledger verify DIR`. */
export function formatVerifyResult(result: VerifyResult): string {
  if (result.ok) {
    const range =
      result.firstSeqno === undefined
        ? 'no entries'
        : `seqno ${result.firstSeqno}..${result.lastSeqno ?? '?'}`;
    return (
      `ok: ${result.chunks} chunks, ${result.entries} entries (${range}, ` +
      `${result.signatures} signatures), ${result.bytes} bytes`
    );
  }
  return (
    `corrupt: ${result.file} bytes ${result.offsetStart}..${result.offsetEnd}: ` +
    `${result.reason}: ${result.message}`
  );
}

// --- recover ----------------------------------------------------------------------------------

type Recovered = { readonly report: RecoveryReport; readonly chunks: ChunkRef[] };

/**
 * Opens a ledger folder after a crash: reads the last chunk, cuts a torn tail (damage no later
 * record proves was flushed) and makes what remains durable. Earlier chunks are not read (they
 * were fsync'd before the next one started); verifyLedgerDir checks them. Damage to flushed
 * data throws LEDGER_E_CORRUPT and changes nothing.
 */
export async function recoverLedger(
  dir: string,
  options: LedgerOptions & { readonly firstSeqno?: number } = {},
): Promise<RecoveryReport> {
  return (await recoverChunks(options.storage ?? createFsStorage(), dir, options.firstSeqno ?? 1))
    .report;
}

async function recoverChunks(
  storage: Storage,
  dir: string,
  firstSeqno: number,
): Promise<Recovered> {
  assert(Number.isSafeInteger(firstSeqno) && firstSeqno >= 1, 'firstSeqno');
  let chunks: ChunkRef[] | LedgerProblem;
  try {
    await storage.mkdir(dir);
    chunks = await listChunks(storage, dir);
  } catch (error) {
    throw storageError(error, 'listing', dir);
  }
  if (!Array.isArray(chunks)) throw corruptError(dir, chunks);
  const last = chunks.at(-1);
  if (last === undefined) {
    try {
      // Chunks an earlier process removed may still be named in an unsynced folder.
      await storage.syncDir(dir);
    } catch (error) {
      throw storageError(error, 'syncing', dir);
    }
    return { report: { chunks: 0, firstSeqno: undefined, lastSeqno: firstSeqno - 1 }, chunks };
  }
  let file: StorageFile;
  try {
    file = await storage.open(last.file);
  } catch (error) {
    throw storageError(error, 'opening', last.file);
  }
  try {
    const reader = chunkReader(file, await file.size());
    let lastSeqno = last.first - 1;
    let damage: (Step & { ok: false }) | undefined;
    for await (const step of scanChunk(reader, last.first)) {
      if (step.ok) lastSeqno = step.seqno;
      else damage = step;
    }
    let dropped: RecoveryReport['dropped'];
    if (damage !== undefined) {
      if (await attestedLater(reader, damage.offset, damage.seqno)) {
        throw corruptError(
          dir,
          problemAt(last, damage, false),
          `; later records prove seqno ${damage.seqno} was flushed, so this is not a torn write`,
        );
      }
      await file.truncate(damage.offset);
      dropped = {
        file: last.name,
        offsetStart: damage.offset,
        offsetEnd: reader.size,
        seqno: damage.seqno,
        reason: damage.damage,
      };
    }
    // What survived may still be only in the page cache (the previous process was killed):
    // make it durable so that flushedSeqno() is true from the start.
    await file.sync();
    await storage.syncDir(dir);
    const report: RecoveryReport = {
      chunks: chunks.length,
      firstSeqno: chunks[0]?.first,
      lastSeqno,
      ...(dropped === undefined ? {} : { dropped }),
    };
    return { report, chunks };
  } catch (error) {
    throw storageError(error, 'recovering', last.file);
  } finally {
    await file.close().catch(() => undefined);
  }
}

// --- read -------------------------------------------------------------------------------------

/**
 * Where some entries start in their chunk files, so that reading one entry of a 16 MiB chunk
 * does not scan the chunk from its start. Filled by the reads that use it (every
 * seekStrideEntries-th entry they pass); an offset is only a hint: the record found there must
 * have the noted seqno and a valid CRC, else the chunk is scanned from its start and its hints
 * forgotten. So a truncated or replaced chunk cannot make a read return a wrong entry.
 */
export type LedgerSeekIndex = {
  /** The noted start closest at or before `seqno` in chunk file `name`, if any. */
  readonly hint: (name: string, first: number, seqno: number) => SeekHint | undefined;
  readonly note: (name: string, seqno: number, offset: number) => void;
  readonly forget: (name: string) => void;
  /** Offsets held (tests; at most seekHintsMax). */
  readonly size: () => number;
};

export type SeekHint = { readonly seqno: number; readonly offset: number };

export function createSeekIndex(): LedgerSeekIndex {
  const chunks = new Map<string, Map<number, number>>();
  let size = 0;
  return {
    hint: (name, first, seqno) => {
      const offsets = chunks.get(name);
      if (offsets === undefined) return undefined;
      // Aligned seqnos only: at most chunk length / stride probes, usually one.
      for (
        let at = seqno - (seqno % seekStrideEntries);
        at >= first && at > 0;
        at -= seekStrideEntries
      ) {
        const offset = offsets.get(at);
        if (offset !== undefined) return { seqno: at, offset };
      }
      return undefined;
    },
    note: (name, seqno, offset) => {
      if (seqno % seekStrideEntries !== 0) return;
      let offsets = chunks.get(name);
      if (offsets === undefined) {
        offsets = new Map();
        chunks.set(name, offsets);
      }
      if (offsets.has(seqno)) return;
      if (size >= seekHintsMax) {
        chunks.clear();
        size = 0;
        offsets = new Map();
        chunks.set(name, offsets);
      }
      offsets.set(seqno, offset);
      size += 1;
    },
    forget: (name) => {
      size -= chunks.get(name)?.size ?? 0;
      chunks.delete(name);
    },
    size: () => size,
  };
}

/**
 * The entries with seqno >= `from`, in order, each checked (CRC, seqno) before it is yielded.
 * Stops quietly at an incomplete record at the end of the last chunk (not written yet); any
 * other damage throws LEDGER_E_CORRUPT. Sees only what the writer has written (flush writes).
 * With `seek`, starts at the closest noted entry at or before `from` in its chunk (damage
 * before that point in the chunk then goes unseen: `verifyLedgerDir` is the whole check).
 */
export async function* readLedgerFrom(
  dir: string,
  from: number,
  options: LedgerOptions & { readonly seek?: LedgerSeekIndex } = {},
): AsyncGenerator<LedgerEntry> {
  assert(Number.isSafeInteger(from) && from >= 1, 'readLedgerFrom seqno');
  const storage = options.storage ?? createFsStorage();
  const seek = options.seek;
  let chunks: ChunkRef[] | LedgerProblem;
  try {
    chunks = await listChunks(storage, dir);
  } catch (error) {
    throw storageError(error, 'listing', dir);
  }
  if (!Array.isArray(chunks)) throw corruptError(dir, chunks);
  let start = 0;
  chunks.forEach((chunk, index) => {
    if (chunk.first <= from) start = index;
  });
  let expected: number | undefined;
  for (let index = start; index < chunks.length; index += 1) {
    const chunk = chunks[index];
    assert(chunk !== undefined);
    const last = index === chunks.length - 1;
    if (expected !== undefined && chunk.first !== expected) {
      throw corruptError(dir, {
        file: chunk.name,
        offsetStart: 0,
        offsetEnd: 0,
        reason: 'seqno-gap',
        seqno: expected,
        message: `the chunk starts at seqno ${chunk.first}, expected ${expected}`,
      });
    }
    expected = chunk.first;
    let file: StorageFile;
    try {
      file = await storage.openReadOnly(chunk.file);
    } catch (error) {
      throw storageError(error, 'opening', chunk.file);
    }
    try {
      const reader = chunkReader(file, await file.size());
      let position: SeekHint | undefined;
      if (seek !== undefined && index === start) {
        position = seek.hint(chunk.name, chunk.first, from);
        if (
          position !== undefined &&
          !(await readRecord(reader, position.offset, position.seqno)).ok
        ) {
          seek.forget(chunk.name);
          position = undefined;
        }
      }
      for await (const step of scanChunk(reader, chunk.first, position)) {
        if (!step.ok) {
          if (last && step.damage === 'truncated') return;
          throw corruptError(dir, problemAt(chunk, step, false));
        }
        seek?.note(chunk.name, step.seqno, step.offset);
        expected = step.seqno + 1;
        if (step.seqno >= from) {
          yield { seqno: step.seqno, kind: step.kind, payload: new Uint8Array(step.payload) };
        }
      }
    } finally {
      await file.close().catch(() => undefined);
    }
  }
}

// --- write ------------------------------------------------------------------------------------

type Pending = { readonly seqno: number; readonly bytes: Uint8Array };

type Current = {
  readonly ref: ChunkRef;
  readonly file: StorageFile;
  /** End of the whole records written. */
  written: number;
  /** End of what the last successful fsync made durable. */
  durable: number;
  /**
   * Highest end written since that fsync. After a failure `written` goes back to `durable`, but
   * until the next fsync a crash may bring back the bytes up to `high`.
   */
  high: number;
};

/** Recovers `dir` (recoverLedger) and opens it for appending after its last intact entry. */
export async function openLedgerWriter(
  dir: string,
  options: WriterOptions = {},
): Promise<{ writer: LedgerWriter; recovery: RecoveryReport }> {
  const storage = options.storage ?? createFsStorage();
  const chunkBytesMax = options.chunkBytesMax ?? chunkBytesMaxDefault;
  assert(chunkBytesMax >= recordHeaderBytes, 'chunkBytesMax holds at least a header');
  const firstSeqno = options.firstSeqno ?? 1;
  const recovered = await recoverChunks(storage, dir, firstSeqno);
  let chunks = recovered.chunks;
  let last = recovered.report.lastSeqno;
  let flushed = last;
  let current: Current | undefined;
  const tail = chunks.at(-1);
  if (tail !== undefined) {
    try {
      const file = await storage.open(tail.file);
      const size = await file.size();
      current = { ref: tail, file, written: size, durable: size, high: size };
    } catch (error) {
      throw storageError(error, 'opening', tail.file);
    }
  }
  let pending: Pending[] = [];
  let pendingBytes = 0;
  // Records written to the current chunk since its last fsync: re-queued if that fsync fails.
  let unsynced: Pending[] = [];
  let endChunkRequested = false;
  let dirDirty = false;
  let busy = false;
  let closed = false;
  let broken: CofferError | undefined;

  async function exclusive(action: () => Promise<void>): Promise<void> {
    assert(!busy, 'LedgerWriter calls must not overlap: await each one');
    assert(!closed, 'the LedgerWriter is closed');
    if (broken !== undefined) throw broken;
    busy = true;
    try {
      await action();
    } finally {
      busy = false;
    }
  }

  /** After a failed write or fsync: back to the last durable offset, everything re-queued. */
  async function restore(error: unknown, action: string, chunk: Current): Promise<never> {
    const cause = storageError(error, action, chunk.ref.file);
    try {
      await chunk.file.truncate(chunk.durable);
    } catch (truncateError) {
      broken = cofferError(
        'LEDGER_E_IO',
        `${chunk.ref.file}: cannot truncate back to byte ${chunk.durable} after "${cause.message}"; ` +
          `reopen the ledger to recover`,
        { file: chunk.ref.file, offset: chunk.durable },
        truncateError,
      );
      throw broken;
    }
    pending = [...unsynced, ...pending];
    pendingBytes = pending.reduce((sum, record) => sum + record.bytes.byteLength, 0);
    unsynced = [];
    chunk.written = chunk.durable;
    throw cause;
  }

  async function writePending(): Promise<void> {
    if (pending.length === 0) return;
    assert(current !== undefined, 'pending records have a chunk');
    const bytes = Buffer.concat(pending.map((record) => record.bytes));
    // A failed write may still have put a prefix on the disk.
    current.high = Math.max(current.high, current.written + bytes.byteLength);
    try {
      await current.file.write(current.written, bytes);
    } catch (error) {
      await restore(error, 'appending to', current);
    }
    current.written += bytes.byteLength;
    unsynced.push(...pending);
    pending = [];
    pendingBytes = 0;
  }

  async function syncCurrent(): Promise<void> {
    if (current === undefined || current.written === current.durable) return;
    try {
      await current.file.sync();
    } catch (error) {
      await restore(error, 'syncing', current);
    }
    current.durable = current.written;
    current.high = current.written;
    unsynced = [];
  }

  async function createChunk(first: number): Promise<void> {
    assert(
      chunks.every((chunk) => chunk.first < first),
      'chunks are created in seqno order',
    );
    const name = chunkFileName(first);
    const ref: ChunkRef = { name, file: path.join(dir, name), first };
    let file: StorageFile;
    try {
      file = await storage.create(ref.file);
    } catch (error) {
      throw storageError(error, 'creating', ref.file);
    }
    const previous = current;
    current = { ref, file, written: 0, durable: 0, high: 0 };
    chunks.push(ref);
    // The new name is durable at the next flush (which syncs the folder).
    dirDirty = true;
    endChunkRequested = false;
    await previous?.file.close().catch(() => undefined);
  }

  async function flushNow(): Promise<void> {
    await writePending();
    await syncCurrent();
    if (dirDirty) {
      try {
        await storage.syncDir(dir);
      } catch (error) {
        throw storageError(error, 'syncing the folder of', dir);
      }
      dirDirty = false;
    }
    flushed = last;
  }

  const writer: LedgerWriter = {
    append: (seqno, kind, payload) =>
      exclusive(async () => {
        assert(seqno === last + 1, `append of seqno ${seqno} after ${last}: seqnos are contiguous`);
        const record = encodeRecord(seqno, kind, payload, flushed);
        if (current === undefined) {
          await createChunk(seqno);
        } else {
          const chunkBytes = current.written + pendingBytes;
          if (
            chunkBytes > 0 &&
            (endChunkRequested || chunkBytes + record.byteLength > chunkBytesMax)
          ) {
            // A chunk is complete and durable before the next one exists: only the last chunk
            // can ever have a torn tail.
            await writePending();
            await syncCurrent();
            await createChunk(seqno);
          } else if (pending.length > 0 && pendingBytes + record.byteLength > writeBufferBytesMax) {
            await writePending();
          }
        }
        pending.push({ seqno, bytes: record });
        pendingBytes += record.byteLength;
        last = seqno;
      }),

    endChunk: () => {
      endChunkRequested = true;
    },

    flush: () => exclusive(flushNow),

    truncateAfter: (seqno) =>
      exclusive(async () => {
        const floor = (chunks[0]?.first ?? last + 1) - 1;
        assert(
          Number.isSafeInteger(seqno) && seqno >= floor && seqno <= last,
          `truncateAfter(${seqno}) outside ${floor}..${last}`,
        );
        if (seqno === last) return;
        const lastWritten = (pending[0]?.seqno ?? last + 1) - 1;
        pending = pending.filter((record) => record.seqno <= seqno);
        pendingBytes = pending.reduce((sum, record) => sum + record.bytes.byteLength, 0);
        last = seqno;
        flushed = Math.min(flushed, seqno);
        if (seqno >= lastWritten) {
          // Dropped records may have been written once, before a failed write or fsync rewound
          // the file: cut them durably, or a crash could bring them back.
          if (current !== undefined && current.high > current.written) {
            const chunk = current;
            try {
              await chunk.file.truncate(chunk.written);
              await chunk.file.sync();
            } catch (error) {
              broken = cofferError(
                'LEDGER_E_IO',
                `${storageError(error, 'truncating', chunk.ref.file).message}; the writer stopped: ` +
                  `reopen the ledger to recover`,
                { file: chunk.ref.file, seqno },
                error,
              );
              throw broken;
            }
            chunk.durable = chunk.written;
            chunk.high = chunk.written;
            unsynced = [];
          }
          return;
        }
        // Later chunks go first (highest first, then the folder is synced), so a crash at any
        // point leaves a contiguous ledger; then the chunk holding `seqno` is cut after it.
        try {
          if (current !== undefined && current.ref.first > seqno) {
            await current.file.close();
            current = undefined;
          }
          const doomed = chunks.filter((chunk) => chunk.first > seqno).reverse();
          for (const chunk of doomed) await storage.remove(chunk.file);
          chunks = chunks.filter((chunk) => chunk.first <= seqno);
          await storage.syncDir(dir);
          dirDirty = false;
          unsynced = [];
          endChunkRequested = false;
          const target = chunks.at(-1);
          if (target !== undefined) {
            const file = current?.file ?? (await storage.open(target.file));
            const reader = chunkReader(file, await file.size());
            let end: number | undefined;
            for await (const step of scanChunk(reader, target.first)) {
              if (!step.ok)
                throw corruptError(dir, problemAt(target, step, step.damage === 'truncated'));
              if (step.seqno === seqno) {
                end = step.end;
                break;
              }
            }
            assert(end !== undefined, `seqno ${seqno} is in ${target.name}`);
            await file.truncate(end);
            await file.sync();
            current = { ref: target, file, written: end, durable: end, high: end };
          }
          flushed = seqno;
        } catch (error) {
          // Part of the cut may be done: only a fresh recovery knows where the ledger ends.
          const cause = storageError(error, 'truncating the ledger in', dir);
          broken =
            cause.code === 'LEDGER_E_CORRUPT'
              ? cause
              : cofferError(
                  'LEDGER_E_IO',
                  `${cause.message}; the writer stopped: reopen the ledger to recover`,
                  { dir, seqno },
                  cause,
                );
          throw broken;
        }
      }),

    lastSeqno: () => last,
    chunkBytes: () => (current?.written ?? 0) + pendingBytes,
    flushedSeqno: () => flushed,

    close: async () => {
      try {
        await exclusive(flushNow);
      } finally {
        closed = true;
        await current?.file.close().catch(() => undefined);
      }
    },
  };
  return { writer, recovery: recovered.report };
}
