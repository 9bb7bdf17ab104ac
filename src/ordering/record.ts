// The on-disk format of the ordering log, as pure functions over bytes (no IO here).
//
// A segment file `log-<first position, 20 digits>.seg` is a run of records, each a 32-byte
// header then the batch bytes. All integers are big-endian:
//
//   0  u32  magic 0x43464F4C ("CFOL")
//   4  u8   format version (1)
//   5  u8   flags (0)
//   6  u16  reserved (0)
//   8  u32  payload length
//  12  u64  position (high u32, low u32): segment start + index, checked on every read
//  20  u64  committed: the highest durable position when this record was written
//  28  u32  CRC-32 (zlib.crc32) of header bytes 0..27, then the payload
//
// `committed` lets recovery tell a torn tail from lost data: records past a damaged one that
// say "position p was already durable when I was written" prove p was acknowledged, so the
// damage is corruption, never a tail to cut.
import { ok as assert } from 'node:assert';
import { crc32 } from 'node:zlib';

export const recordMagic = 0x43464f4c;
export const recordFormatVersion = 1;
export const recordHeaderBytes = 32;

const crcOffset = 28;
const twoTo32 = 2 ** 32;
const segmentNamePattern = /^log-(\d{20})\.seg$/;

/** `log-00000000000000000001.seg` for a segment whose first record has position 1. */
export function segmentFileName(firstPosition: number): string {
  assert(Number.isSafeInteger(firstPosition) && firstPosition >= 1, 'segment start position');
  return `log-${String(firstPosition).padStart(20, '0')}.seg`;
}

/** The first position a segment file name declares, or undefined for other files. */
export function parseSegmentFileName(name: string): number | undefined {
  const digits = segmentNamePattern.exec(name)?.[1];
  if (digits === undefined) return undefined;
  const position = Number(digits);
  return Number.isSafeInteger(position) && position >= 1 ? position : undefined;
}

/**
 * The records of consecutive positions `firstPosition`, `firstPosition + 1`, ..., one per batch,
 * in one buffer (one write call), each stamped with the `committed` position.
 */
export function encodeRecords(
  batches: readonly Uint8Array[],
  firstPosition: number,
  committed: number,
): Uint8Array {
  assert(committed < firstPosition, 'records are written after the position they attest');
  let total = 0;
  for (const batch of batches) total += recordHeaderBytes + batch.byteLength;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  let offset = 0;
  batches.forEach((batch, index) => {
    const position = firstPosition + index;
    assert(Number.isSafeInteger(position), 'positions stay exact');
    view.setUint32(offset, recordMagic);
    view.setUint8(offset + 4, recordFormatVersion);
    view.setUint32(offset + 8, batch.byteLength);
    setU64(view, offset + 12, position);
    setU64(view, offset + 20, committed);
    const header = out.subarray(offset, offset + crcOffset);
    view.setUint32(offset + crcOffset, crc32(batch, crc32(header)));
    out.set(batch, offset + recordHeaderBytes);
    offset += recordHeaderBytes + batch.byteLength;
  });
  return out;
}

export type Damage =
  'short-header' | 'bad-magic' | 'bad-format' | 'short-payload' | 'crc-mismatch' | 'wrong-position';

export type Decoded =
  | {
      readonly ok: true;
      readonly position: number;
      readonly committed: number;
      readonly payloadOffset: number;
      readonly length: number;
      /** Offset just past the record. */
      readonly end: number;
    }
  | { readonly ok: false; readonly damage: Damage };

/**
 * The record at `offset` of `bytes` (which end where the file or the read ends), checked
 * completely: framing, CRC and, when `expectedPosition` is given, its position.
 */
export function decodeRecord(
  bytes: Uint8Array,
  offset: number,
  expectedPosition?: number,
): Decoded {
  const header = decodeHeader(bytes, offset);
  if (!header.ok) return header;
  const { payloadOffset, length } = header;
  if (payloadOffset + length > bytes.byteLength) return { ok: false, damage: 'short-payload' };
  const stored = u32(bytes, offset + crcOffset);
  const headerBytes = bytes.subarray(offset, offset + crcOffset);
  const payload = bytes.subarray(payloadOffset, payloadOffset + length);
  if (crc32(payload, crc32(headerBytes)) !== stored) return { ok: false, damage: 'crc-mismatch' };
  if (expectedPosition !== undefined && header.position !== expectedPosition) {
    return { ok: false, damage: 'wrong-position' };
  }
  return header;
}

/** The header at `offset` without the CRC check (to skip over records already verified). */
export function decodeHeader(bytes: Uint8Array, offset: number): Decoded {
  if (offset + recordHeaderBytes > bytes.byteLength) return { ok: false, damage: 'short-header' };
  if (u32(bytes, offset) !== recordMagic) return { ok: false, damage: 'bad-magic' };
  if (u32(bytes, offset + 4) !== recordFormatVersion * 2 ** 24) {
    return { ok: false, damage: 'bad-format' }; // version, then zero flags and reserved bytes
  }
  const length = u32(bytes, offset + 8);
  const position = u32(bytes, offset + 12) * twoTo32 + u32(bytes, offset + 16);
  const committed = u32(bytes, offset + 20) * twoTo32 + u32(bytes, offset + 24);
  const payloadOffset = offset + recordHeaderBytes;
  return { ok: true, position, committed, payloadOffset, length, end: payloadOffset + length };
}

export type SegmentScan = {
  /** Valid records, in order, from the start of the segment. */
  readonly records: number;
  /** Bytes those records take: the offset where the first damage (if any) starts. */
  readonly validBytes: number;
  /** Offsets of records 0, stride, 2 × stride, ... (an index for reads). */
  readonly index: readonly number[];
  /** The first damaged record, if any. */
  readonly damage?: {
    readonly offset: number;
    readonly position: number;
    readonly reason: Damage;
    /** A valid record further on says this position was already durable when it was written. */
    readonly attested: boolean;
  };
};

/** Checks every record of one segment whose first record has position `firstPosition`. */
export function scanSegment(
  bytes: Uint8Array,
  firstPosition: number,
  indexStride: number,
): SegmentScan {
  const index: number[] = [];
  let offset = 0;
  let records = 0;
  while (offset < bytes.byteLength) {
    const position = firstPosition + records;
    const decoded = decodeRecord(bytes, offset, position);
    if (!decoded.ok) {
      const attested = attestedLater(bytes, offset + 1, position);
      return {
        records,
        validBytes: offset,
        index,
        damage: { offset, position, reason: decoded.damage, attested },
      };
    }
    if (records % indexStride === 0) index.push(offset);
    records += 1;
    offset = decoded.end;
  }
  return { records, validBytes: offset, index };
}

/** True when some valid record starting at or after `from` was written once `position` was durable. */
function attestedLater(bytes: Uint8Array, from: number, position: number): boolean {
  const magic0 = recordMagic >>> 24;
  for (let offset = bytes.indexOf(magic0, from); offset >= 0;) {
    const decoded = decodeRecord(bytes, offset);
    if (decoded.ok && decoded.committed >= position) return true;
    offset = bytes.indexOf(magic0, offset + 1);
  }
  return false;
}

function setU64(view: DataView, offset: number, value: number): void {
  view.setUint32(offset, Math.floor(value / twoTo32));
  view.setUint32(offset + 4, value >>> 0);
}

/** Big-endian u32 at `offset` (the caller has checked the bounds). */
function u32(bytes: Uint8Array, offset: number): number {
  return (
    (((bytes[offset] ?? 0) << 24) |
      ((bytes[offset + 1] ?? 0) << 16) |
      ((bytes[offset + 2] ?? 0) << 8) |
      (bytes[offset + 3] ?? 0)) >>>
    0
  );
}
