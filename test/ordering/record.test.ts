// The on-disk record format: a known-answer vector, round trips, every kind of damage, and the
// rule that tells a torn tail (cut it) from damage a later record proves was acknowledged.
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRecord,
  encodeRecords,
  parseSegmentFileName,
  recordHeaderBytes,
  scanSegment,
  segmentFileName,
} from '../../src/ordering/record.js';
import { bytesOf } from './helpers.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('segment file names', () => {
  it('carry the first position in 20 digits', () => {
    expect(segmentFileName(1)).toBe('log-00000000000000000001.seg');
    expect(segmentFileName(Number.MAX_SAFE_INTEGER)).toBe('log-00009007199254740991.seg');
    expect(parseSegmentFileName('log-00000000000000000042.seg')).toBe(42);
  });

  it('ignore anything else', () => {
    for (const name of [
      'log-42.seg',
      'log-00000000000000000000.seg',
      'log-00000000000000000001.seg.tmp',
      'log-99999999999999999999.seg',
      'README',
    ]) {
      expect(parseSegmentFileName(name), name).toBeUndefined();
    }
  });
});

describe('records', () => {
  it('match the known-answer vector (the format is stable)', () => {
    // magic "CFOL", version 1, flags 0, reserved 0, length 3, position 7, committed 6, CRC-32.
    expect(hex(encodeRecords([bytesOf('abc')], 7, 6))).toBe(
      '43464f4c0100000000000003' + '0000000000000007' + '0000000000000006' + 'f205c064' + '616263',
    );
  });

  it('round-trip any batches (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 40 }),
        fc.integer({ min: 1, max: 2 ** 40 }),
        (batches, first) => {
          const bytes = encodeRecords(batches, first, first - 1);
          const scan = scanSegment(bytes, first, 4);
          expect(scan.damage).toBeUndefined();
          expect(scan.records).toBe(batches.length);
          expect(scan.validBytes).toBe(bytes.byteLength);
          expect(scan.index.length).toBe(Math.ceil(batches.length / 4));
          let offset = 0;
          batches.forEach((batch, i) => {
            const record = decodeRecord(bytes, offset, first + i);
            if (!record.ok) throw new Error(record.damage);
            if (i % 4 === 0) expect(scan.index[i / 4]).toBe(offset);
            expect(bytes.subarray(record.payloadOffset, record.end)).toEqual(batch);
            offset = record.end;
          });
        },
      ),
    );
  });

  it('a cut anywhere leaves exactly the whole records before it, unvouched (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 100 }), { minLength: 1, maxLength: 20 }),
        fc.nat(),
        (batches, cutSeed) => {
          const bytes = encodeRecords(batches, 1, 0);
          const cut = cutSeed % bytes.byteLength;
          const scan = scanSegment(bytes.subarray(0, cut), 1, 64);
          let boundary = 0;
          let whole = 0;
          for (const batch of batches) {
            if (boundary + recordHeaderBytes + batch.byteLength > cut) break;
            boundary += recordHeaderBytes + batch.byteLength;
            whole += 1;
          }
          expect(scan.records).toBe(whole);
          expect(scan.validBytes).toBe(boundary);
          if (cut > boundary) {
            expect(scan.damage?.attested).toBe(false);
            expect(scan.damage?.position).toBe(whole + 1);
          }
        },
      ),
    );
  });

  it('names each kind of damage', () => {
    const good = encodeRecords([bytesOf('hello')], 1, 0);
    const damaged = (edit: (bytes: Uint8Array) => void): Uint8Array => {
      const copy = good.slice();
      edit(copy);
      return copy;
    };
    const cases: [string, Uint8Array, number | undefined][] = [
      ['short-header', good.subarray(0, recordHeaderBytes - 1), 1],
      ['short-payload', good.subarray(0, good.byteLength - 1), 1],
      ['bad-magic', damaged((b) => (b[0] = 0)), 1],
      ['bad-format', damaged((b) => (b[4] = 2)), 1],
      ['bad-format', damaged((b) => (b[6] = 1)), 1],
      ['crc-mismatch', damaged((b) => (b[recordHeaderBytes] = 0)), 1],
      ['crc-mismatch', damaged((b) => (b[19] = 2)), 1], // the position is covered by the CRC
      ['wrong-position', good, 2],
    ];
    for (const [damage, bytes, expected] of cases) {
      expect(decodeRecord(bytes, 0, expected), damage).toEqual({ ok: false, damage });
    }
    expect(decodeRecord(good, 0, 1).ok).toBe(true);
  });
});

describe('torn tail or corruption', () => {
  // Two groups: positions 1-3 written when 0 was durable, 4-5 once 3 was.
  const first = encodeRecords([bytesOf('one'), bytesOf('two'), bytesOf('three')], 1, 0);
  const second = encodeRecords([bytesOf('four'), bytesOf('five')], 4, 3);
  const segment = new Uint8Array([...first, ...second]);
  const offsetOf = (position: number): number => {
    let offset = 0;
    for (let p = 1; p < position; p += 1) {
      const record = decodeRecord(segment, offset);
      if (!record.ok) throw new Error('bad fixture');
      offset = record.end;
    }
    return offset;
  };
  const flip = (position: number): Uint8Array => {
    const copy = segment.slice();
    const at = offsetOf(position) + recordHeaderBytes;
    copy[at] = (copy[at] ?? 0) ^ 1;
    return copy;
  };

  it('damage a later group vouches for is corruption', () => {
    for (const position of [1, 2, 3]) {
      const scan = scanSegment(flip(position), 1, 64);
      expect(scan.damage, `position ${position}`).toMatchObject({ position, attested: true });
      expect(scan.validBytes).toBe(offsetOf(position));
    }
  });

  it('damage in the last group is a torn tail', () => {
    for (const position of [4, 5]) {
      const scan = scanSegment(flip(position), 1, 64);
      expect(scan.damage, `position ${position}`).toMatchObject({ position, attested: false });
    }
  });

  it('a hole of zeros inside the last group is a torn tail too', () => {
    const copy = segment.slice();
    copy.fill(0, offsetOf(4) + 3, offsetOf(4) + 20);
    expect(scanSegment(copy, 1, 64).damage).toMatchObject({ position: 4, attested: false });
  });
});
