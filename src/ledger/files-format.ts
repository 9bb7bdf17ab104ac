// The on-disk format of ledger files, as pure functions over bytes (files.ts does the IO).
//
// A chunk file `ledger-<first seqno, 20 digits>.chunk` is a run of records, one per ledger
// entry, each a 32-byte header then the entry's bytes (opaque here). Integers are big-endian:
//
//   0  u32  magic 0x43464C45 ("CFLE")
//   4  u8   format version (1)
//   5  u8   kind: 1 transaction, 2 signature
//   6  u16  reserved (0)
//   8  u32  payload length
//  12  u64  seqno, checked on every read: seqnos are contiguous across the whole ledger
//  20  u64  flushed: the highest seqno already durable (flushed) when this record was written
//  28  u32  CRC-32 (zlib.crc32) of header bytes 0..27, then the payload
//
// `flushed` tells a torn tail from corruption: a valid record past a damaged one that says
// "seqno s was already durable when I was written" proves the damage hit flushed data.
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';

export type EntryKind = 'tx' | 'signature';

export const recordMagic = 0x43464c45;
export const recordFormatVersion = 1;
export const recordHeaderBytes = 32;
const crcOffset = 28;

/** Largest entry payload, in bytes (a transaction with its largest write set fits, secret.ts). */
export const entryBytesMax: number = 32 * 1_048_576;
/** Default size at which the writer starts a new chunk, in bytes. */
export const chunkBytesMaxDefault: number = 16 * 1_048_576;

assert(entryBytesMax + recordHeaderBytes <= 0xffff_ffff, 'the length field holds any entry');
assert(chunkBytesMaxDefault >= recordHeaderBytes);

const kindCodes: Readonly<Record<EntryKind, number>> = { tx: 1, signature: 2 };
const twoTo32 = 2 ** 32;
const chunkNamePattern = /^ledger-(\d{20})\.chunk$/;

/** `ledger-00000000000000000001.chunk` for a chunk whose first entry has seqno 1. */
export function chunkFileName(firstSeqno: number): string {
  assert(Number.isSafeInteger(firstSeqno) && firstSeqno >= 1, 'chunk first seqno');
  return `ledger-${String(firstSeqno).padStart(20, '0')}.chunk`;
}

/**
 * The first seqno a chunk file name declares; 'bad' for a name that looks like a chunk but is
 * not well-formed; undefined for other files (which a ledger folder may hold).
 */
export function parseChunkFileName(name: string): number | 'bad' | undefined {
  const digits = chunkNamePattern.exec(name)?.[1];
  if (digits === undefined) {
    return name.startsWith('ledger-') && name.endsWith('.chunk') ? 'bad' : undefined;
  }
  const seqno = Number(digits);
  return Number.isSafeInteger(seqno) && seqno >= 1 ? seqno : 'bad';
}

/** One record: header then payload, stamped with the highest durable seqno. */
export function encodeRecord(
  seqno: number,
  kind: EntryKind,
  payload: Uint8Array,
  flushed: number,
): Uint8Array {
  assert(Number.isSafeInteger(seqno) && seqno >= 1, 'record seqno');
  assert(Number.isSafeInteger(flushed) && flushed >= 0 && flushed < seqno, 'flushed < seqno');
  assert(payload.byteLength <= entryBytesMax, `entry of ${payload.byteLength} bytes`);
  const out = new Uint8Array(recordHeaderBytes + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, recordMagic);
  view.setUint8(4, recordFormatVersion);
  view.setUint8(5, kindCodes[kind]);
  view.setUint32(8, payload.byteLength);
  setU64(view, 12, seqno);
  setU64(view, 20, flushed);
  out.set(payload, recordHeaderBytes);
  view.setUint32(crcOffset, crc32(payload, crc32(out.subarray(0, crcOffset))));
  return out;
}

/** What can be wrong with a record, as `coffer ledger verify` names it. */
export type RecordDamage = 'truncated' | 'bad-magic' | 'bad-header' | 'crc-mismatch' | 'seqno-gap';

export type RecordHeader = {
  readonly kind: EntryKind;
  readonly seqno: number;
  readonly flushed: number;
  readonly length: number;
};

/** The fields of a 32-byte header, or what is wrong with them (the CRC is checked later). */
export function decodeHeader(
  header: Uint8Array,
): { ok: true; header: RecordHeader } | { ok: false; damage: RecordDamage } {
  if (header.byteLength < recordHeaderBytes) return { ok: false, damage: 'truncated' };
  const view = new DataView(header.buffer, header.byteOffset, recordHeaderBytes);
  if (view.getUint32(0) !== recordMagic) return { ok: false, damage: 'bad-magic' };
  const kindCode = view.getUint8(5);
  const kind: EntryKind | undefined =
    kindCode === kindCodes.tx ? 'tx' : kindCode === kindCodes.signature ? 'signature' : undefined;
  const length = view.getUint32(8);
  const seqno = getU64(view, 12);
  const flushed = getU64(view, 20);
  if (
    view.getUint8(4) !== recordFormatVersion ||
    kind === undefined ||
    view.getUint16(6) !== 0 ||
    length > entryBytesMax ||
    !Number.isSafeInteger(seqno) ||
    !Number.isSafeInteger(flushed)
  ) {
    return { ok: false, damage: 'bad-header' };
  }
  return { ok: true, header: { kind, seqno, flushed, length } };
}

/** True when the stored CRC matches the header fields and the payload. */
export function recordCrcMatches(header: Uint8Array, payload: Uint8Array): boolean {
  const view = new DataView(header.buffer, header.byteOffset, recordHeaderBytes);
  return crc32(payload, crc32(header.subarray(0, crcOffset))) === view.getUint32(crcOffset);
}

export function setU64(view: DataView, offset: number, value: number): void {
  assert(Number.isSafeInteger(value) && value >= 0, 'u64 value');
  view.setUint32(offset, Math.floor(value / twoTo32));
  view.setUint32(offset + 4, value >>> 0);
}

/** A u64 as a number; above 2^53 it is inexact, and callers refuse it (isSafeInteger). */
export function getU64(view: DataView, offset: number): number {
  return view.getUint32(offset) * twoTo32 + view.getUint32(offset + 4);
}
