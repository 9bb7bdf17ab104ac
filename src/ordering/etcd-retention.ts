// Retention of the etcd log, the pure part (decision 0011): which nodes still hold history back,
// how far etcd may be compacted, and the records nodes publish. The IO (reading the records,
// deleting keys, compacting) is in etcd.ts; everything here is a function of its inputs.
//
// Facts the plan relies on:
// - Positions count batch puts in etcd revision order, so "batches with revision < r" is a
//   number of positions, the same on every node.
// - A node that mirrored position P whose batch has revision R holds every batch with
//   revision <= R, so its watch can resume at R + 1.
// - The retention record {compactRevision X, position P} says exactly P batches have a revision
//   below X. It is written before etcd is compacted at X, so whenever etcd's compaction is K,
//   the record has X >= K. A node holding P batches can then resume at max(R + 1, X) even if
//   its own R + 1 was compacted.

/** What a node publishes under `<prefix>/durable/<nodeId>`. */
export type DurableRecord = {
  readonly nodeId: string;
  /** Highest position durably (fsync'd) in the node's mirror. */
  readonly position: number;
  /** etcd mod revision of the batch at that position (0 when the mirror is empty). */
  readonly revision: number;
  /** The publisher's wall clock, ms since the epoch (shown by status; not used for activity). */
  readonly at: number;
};

/** `<prefix>/retention`: the last compaction Coffer made, and what lies below it. */
export type RetentionRecord = {
  /** etcd was (or is about to be) compacted at this revision. */
  readonly compactRevision: number;
  /** Exactly this many batches have a revision below compactRevision. */
  readonly position: number;
  /** Revision of the last retention deletes (their tombstones go at the next compaction above it). */
  readonly tombstoneRevision: number;
};

/** "Batches with a revision below `revision` number exactly `position`." */
export type RevisionMark = { readonly revision: number; readonly position: number };

/**
 * The lowest revision from which some active node could need history, with the number of
 * batches below it; undefined when no active node counts. Nodes behind the record (fewer
 * batches than lie below its revision) cannot resume from etcd anyway: they need a peer, and
 * do not hold retention back.
 */
export function retentionBase(
  active: readonly Pick<DurableRecord, 'position' | 'revision'>[],
  record: RetentionRecord | undefined,
): RevisionMark | undefined {
  let base: RevisionMark | undefined;
  for (const node of active) {
    if (record !== undefined && node.position < record.position) continue;
    const resume =
      record !== undefined
        ? Math.max(node.revision + 1, record.compactRevision)
        : node.revision + 1;
    if (base === undefined || resume < base.revision)
      base = { revision: resume, position: node.position };
  }
  return base;
}

/**
 * How far etcd can be compacted: up to the first batch at or above the base (it must stay), or
 * up to the current revision when there is none. Batches below the target are exactly those
 * below the base.
 */
export function compactionTarget(
  base: RevisionMark,
  firstBatchFromBase: number | undefined,
  currentRevision: number,
): RevisionMark | undefined {
  if (firstBatchFromBase !== undefined) {
    return { revision: firstBatchFromBase, position: base.position };
  }
  return currentRevision >= base.revision
    ? { revision: currentRevision, position: base.position }
    : undefined;
}

/** Whether a round compacts: something to free (batch keys, or earlier deletes' tombstones). */
export function shouldCompact(
  target: RevisionMark,
  record: RetentionRecord | undefined,
  batchKeysBelowTarget: boolean,
): boolean {
  const compacted = record?.compactRevision ?? 0;
  if (target.revision <= compacted) return false;
  const tombstones =
    record !== undefined &&
    record.tombstoneRevision >= compacted &&
    target.revision > record.tombstoneRevision;
  return batchKeysBelowTarget || tombstones;
}

/** Parses a durable record; undefined when it is not one (it is then ignored). */
export function parseDurableRecord(text: string): DurableRecord | undefined {
  const value = parseObject(text);
  if (value === undefined) return undefined;
  const { nodeId, position, revision, at } = value;
  if (typeof nodeId !== 'string' || !isCount(position) || !isCount(revision) || !isCount(at)) {
    return undefined;
  }
  return { nodeId, position, revision, at };
}

export function parseRetentionRecord(text: string): RetentionRecord | undefined {
  const value = parseObject(text);
  if (value === undefined) return undefined;
  const { compactRevision, position, tombstoneRevision } = value;
  if (!isCount(compactRevision) || !isCount(position) || !isCount(tombstoneRevision)) {
    return undefined;
  }
  return { compactRevision, position, tombstoneRevision };
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}
