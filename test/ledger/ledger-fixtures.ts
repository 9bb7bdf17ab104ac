// Builds the negative vectors of test/fixtures/ledger/ (STYLE.md 12): small ledger folders, each
// with the verdict `coffer ledger verify` must give in expected.json. files.test.ts checks that
// the committed folders are what this code builds; rewrite them with
//   COFFER_REWRITE_FIXTURES=1 npx vitest run test/ledger/files.test.ts
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  chunkFileName,
  encodeRecord,
  recordHeaderBytes,
  type EntryKind,
} from '../../src/ledger/files-format.js';

export type FixtureExpectation = {
  readonly description: string;
  readonly ok: boolean;
  /** For ok: false, the first damaged range verifyLedgerDir must report. */
  readonly file?: string;
  readonly offsetStart?: number;
  readonly offsetEnd?: number;
  readonly reason?: string;
  /** For ok: true, the counts. */
  readonly entries?: number;
  readonly signatures?: number;
  readonly lastSeqno?: number;
  /** What recoverLedger does on a copy: cut a torn tail, or refuse with a code. */
  readonly recover?:
    | { readonly lastSeqno: number; readonly droppedFrom?: number; readonly droppedReason?: string }
    | { readonly code: string };
};

type Fixture = {
  readonly files: Record<string, Uint8Array>;
  readonly expected: FixtureExpectation;
};

function payload(seqno: number, kind: EntryKind): Uint8Array {
  return Buffer.from(JSON.stringify({ seqno, kind, note: `fixture entry ${seqno}` }), 'utf8');
}

/** Records `from`..`to`, signature every third; each says its predecessor was flushed. */
function records(from: number, to: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let seqno = from; seqno <= to; seqno += 1) {
    const kind: EntryKind = seqno % 3 === 0 ? 'signature' : 'tx';
    out.push(encodeRecord(seqno, kind, payload(seqno, kind), seqno - 1));
  }
  return out;
}

function offsetOf(parts: readonly Uint8Array[], index: number): number {
  return parts.slice(0, index).reduce((sum, part) => sum + part.byteLength, 0);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(parts);
}

const c1 = chunkFileName(1);

function build(): Record<string, Fixture> {
  const fixtures: Record<string, Fixture> = {};

  {
    const first = records(1, 3);
    const second = records(4, 5);
    fixtures.valid = {
      files: { [c1]: concat(first), [chunkFileName(4)]: concat(second) },
      expected: {
        description: 'Two intact chunks, entries 1..5; the control vector.',
        ok: true,
        entries: 5,
        signatures: 1,
        lastSeqno: 5,
        recover: { lastSeqno: 5 },
      },
    };
  }

  {
    const parts = records(1, 4);
    const start = offsetOf(parts, 1);
    const bytes = concat(parts);
    const flipAt = start + recordHeaderBytes + 5;
    bytes[flipAt] = (bytes[flipAt] ?? 0) ^ 0x04;
    fixtures['bit-flip-payload'] = {
      files: { [c1]: bytes },
      expected: {
        description: 'One bit flipped in the payload of seqno 2; seqnos 3 and 4 say 2 was flushed.',
        ok: false,
        file: c1,
        offsetStart: start,
        offsetEnd: offsetOf(parts, 2),
        reason: 'crc-mismatch',
        recover: { code: 'LEDGER_E_CORRUPT' },
      },
    };
  }

  {
    const parts = records(1, 3);
    const start = offsetOf(parts, 2);
    const cut = concat(parts).subarray(0, start + 10);
    fixtures['truncated-header'] = {
      files: { [c1]: cut, [chunkFileName(3)]: concat(records(3, 4)) },
      expected: {
        description:
          'The first chunk ends 10 bytes into the header of seqno 3; a later chunk exists.',
        ok: false,
        file: c1,
        offsetStart: start,
        offsetEnd: start + 10,
        reason: 'truncated',
        // Recovery reads only the last chunk (earlier ones were fsync'd before it was started).
        recover: { lastSeqno: 4 },
      },
    };
  }

  {
    const parts = records(1, 4);
    const start = offsetOf(parts, 2);
    const bytes = concat(parts);
    bytes.set(Buffer.from('XXXX', 'latin1'), start);
    fixtures['bad-magic'] = {
      files: { [c1]: bytes },
      expected: {
        description: 'The magic of seqno 3 is overwritten with "XXXX".',
        ok: false,
        file: c1,
        offsetStart: start,
        offsetEnd: start + recordHeaderBytes,
        reason: 'bad-magic',
        recover: { code: 'LEDGER_E_CORRUPT' },
      },
    };
  }

  {
    const parts = [...records(1, 2), ...records(4, 5)];
    fixtures['seqno-gap'] = {
      files: { [c1]: concat(parts) },
      expected: {
        description: 'Seqno 3 is missing: intact records 1, 2, 4, 5 in one chunk.',
        ok: false,
        file: c1,
        offsetStart: offsetOf(parts, 2),
        offsetEnd: offsetOf(parts, 3),
        reason: 'seqno-gap',
        recover: { code: 'LEDGER_E_CORRUPT' },
      },
    };
  }

  {
    const second = records(4, 5);
    fixtures['chunk-gap'] = {
      files: { [c1]: concat(records(1, 2)), [chunkFileName(4)]: concat(second) },
      expected: {
        description: 'Chunks 1..2 and 4..5: seqno 3 is missing between two chunks.',
        ok: false,
        file: chunkFileName(4),
        offsetStart: 0,
        offsetEnd: second[0]?.byteLength ?? 0,
        reason: 'seqno-gap',
        recover: { lastSeqno: 5 },
      },
    };
  }

  {
    const parts = records(1, 4);
    const start = offsetOf(parts, 3);
    const end = start + recordHeaderBytes + 7;
    fixtures['torn-tail'] = {
      files: { [c1]: concat(parts).subarray(0, end) },
      expected: {
        description: 'The last record (seqno 4) stops 7 bytes into its payload: a torn write.',
        ok: false,
        file: c1,
        offsetStart: start,
        offsetEnd: end,
        reason: 'torn-tail',
        recover: { lastSeqno: 3, droppedFrom: start, droppedReason: 'truncated' },
      },
    };
  }

  {
    const parts = records(1, 3);
    const start = offsetOf(parts, 3);
    fixtures['zero-tail'] = {
      files: { [c1]: concat([...parts, new Uint8Array(100)]) },
      expected: {
        description:
          '100 zero bytes after seqno 3: a torn write whose data never reached the disk.',
        ok: false,
        file: c1,
        offsetStart: start,
        offsetEnd: start + recordHeaderBytes,
        reason: 'torn-tail',
        recover: { lastSeqno: 3, droppedFrom: start, droppedReason: 'bad-magic' },
      },
    };
  }

  return fixtures;
}

/** Writes every vector under `root` (replacing what is there). */
export async function writeLedgerFixtures(root: string): Promise<string[]> {
  const fixtures = build();
  for (const [name, fixture] of Object.entries(fixtures)) {
    const dir = path.join(root, name);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    for (const [file, bytes] of Object.entries(fixture.files)) {
      await writeFile(path.join(dir, file), bytes);
    }
    await writeFile(
      path.join(dir, 'expected.json'),
      `${JSON.stringify(fixture.expected, null, 2)}\n`,
    );
  }
  return Object.keys(fixtures).sort();
}
