// The local mirror of the etcd log (decision 0011): each batch etcd ordered is one record of an
// embedded log at the same position, wrapped with the etcd mod revision of its put, so that a
// restart resumes the watch after the last mirrored revision. Pure encoding only.
import { cofferError, type CofferError } from '../errors/index.js';
import { etcdBatchBytesMax, mirrorHeaderBytes } from './etcd-limits.js';

/** Format of a mirror record: [version u8 = 1][revision u64 big-endian][batch bytes]. */
export const mirrorFormatVersion = 1;

/** One batch as the mirror holds it: its global position, its etcd revision, its bytes. */
export type MirrorEntry = {
  readonly position: number;
  readonly revision: number;
  readonly batch: Uint8Array;
};

export function encodeMirrorRecord(revision: number, batch: Uint8Array): Uint8Array {
  if (!Number.isSafeInteger(revision) || revision < 1) {
    throw new Error(`mirror invariant broken: revision ${String(revision)} is not positive`);
  }
  const record = new Uint8Array(mirrorHeaderBytes + batch.byteLength);
  const view = new DataView(record.buffer);
  view.setUint8(0, mirrorFormatVersion);
  view.setBigUint64(1, BigInt(revision));
  record.set(batch, mirrorHeaderBytes);
  return record;
}

/**
 * Why `entries` cannot follow a mirror whose last record is at `after` (position 0 and revision
 * 0 for an empty one): their positions must follow on one by one, their revisions increase, and
 * each batch fit etcd's limit. Undefined when they can.
 */
export function mirrorEntriesProblem(
  entries: readonly MirrorEntry[],
  after: { readonly position: number; readonly revision: number },
): { readonly reason: string; readonly at: number } | undefined {
  let expected = after.position + 1;
  let lastRevision = after.revision;
  for (const entry of entries) {
    const at = entry.position;
    if (at !== expected) return { reason: `entry for position ${at} where ${expected} comes`, at };
    if (!Number.isSafeInteger(entry.revision) || entry.revision <= lastRevision) {
      const reason = `revision ${entry.revision} at position ${at} does not come after ${lastRevision}`;
      return { reason, at };
    }
    if (entry.batch.byteLength > etcdBatchBytesMax) {
      return {
        reason: `the batch at position ${at} is larger than ${etcdBatchBytesMax} bytes`,
        at,
      };
    }
    expected += 1;
    lastRevision = entry.revision;
  }
  return undefined;
}

/** The revision and batch of a mirror record (the batch is a view into `record`). */
export function decodeMirrorRecord(
  record: Uint8Array,
  position: number,
):
  | { readonly ok: true; readonly revision: number; readonly batch: Uint8Array }
  | {
      readonly ok: false;
      readonly error: CofferError;
    } {
  if (record.byteLength < mirrorHeaderBytes) {
    return {
      ok: false,
      error: damaged(position, `${record.byteLength} bytes, shorter than the header`),
    };
  }
  const view = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const version = view.getUint8(0);
  if (version !== mirrorFormatVersion) {
    return {
      ok: false,
      error: damaged(position, `format version ${version}, expected ${mirrorFormatVersion}`),
    };
  }
  const revision = view.getBigUint64(1);
  if (revision < 1n || revision > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { ok: false, error: damaged(position, `revision ${revision.toString()} out of range`) };
  }
  return { ok: true, revision: Number(revision), batch: record.subarray(mirrorHeaderBytes) };
}

function damaged(position: number, reason: string): CofferError {
  return cofferError(
    'ORDERING_E_ETCD_UNEXPECTED',
    `the etcd mirror record at position ${position} is not a mirror record: ${reason}`,
    { position, reason },
  );
}
