// Limits and timings of the etcd OrderingLog (decision 0011; STYLE.md 5). Every queue, buffer
// and message between Coffer and etcd is bounded here, and the relations between these
// numbers, etcd's own limits and the embedded mirror's limits are checked when the module loads
// and again for the options of each log (resolveEtcdLimits).
import { cofferError, fail, ok, type Result } from '../errors/index.js';
import { batchBytesMax, pendingBytesMax, readBytesMax, segmentBytesMax } from './limits.js';
import { recordHeaderBytes } from './record.js';

const kibibyte = 1024;
const mebibyte = 1024 * kibibyte;

/** Largest batch one etcd append takes: the same as the embedded log, so a node's batches fit both. */
export const etcdBatchBytesMax: number = batchBytesMax;
/** Bytes a mirror record adds to a batch: format version (1) and etcd mod revision (u64). */
export const mirrorHeaderBytes: number = 9;
/** Room in one etcd request for the key, the transaction framing and gRPC overhead. */
export const etcdRequestOverheadBytes: number = 64 * kibibyte;
/** etcd's --max-request-bytes for Coffer's clusters (its default, 1.5 MiB, is below one batch). */
export const etcdMaxRequestBytes: number = etcdBatchBytesMax + etcdRequestOverheadBytes;
/** Largest gRPC message the client accepts; watch responses are fragmented by etcd above max-request-bytes. */
export const etcdClientMessageBytesMax: number = etcdMaxRequestBytes + 1 * mebibyte;
/** etcd's --quota-backend-bytes for Coffer's clusters (etcd's own default is 2 GiB, advised max 8 GiB). */
export const etcdQuotaBackendBytes: number = 4 * 1024 * mebibyte;
/** etcd's --snapshot-count: raft entries kept in memory are bounded by it (plus 5000 for catch-up). */
export const etcdSnapshotCount: number = 2000;
/** etcd's --max-txn-ops default; a retention delete transaction stays within it. */
export const etcdTxnOpsMax: number = 128;

/** Appends sent to etcd and not yet in this node's mirror; one more is refused (backpressure). */
export const etcdPendingAppendsMax: number = 1024;
/** Batch bytes of those appends. */
export const etcdPendingBytesMax: number = 64 * mebibyte;
/** Watched batches buffered before the mirror writes them; above, the watch stream is paused. */
export const watchBufferBatchesMax: number = 1024;
/** Batch bytes of that buffer (one more response may arrive before the pause takes effect). */
export const watchBufferBytesMax: number = 32 * mebibyte;
/** Batches written to the mirror as one group (one fsync). */
export const mirrorChunkBatchesMax: number = 256;
/** Most entries one installFromPeer call takes. */
export const installBatchesMax: number = 4096;

/** An append with no position after this long is refused with ORDERING_E_OUTCOME_UNKNOWN. */
export const appendTimeoutMs: number = 10_000;
/** Deadline of one etcd call (an append attempt, a probe, a retention step). */
export const etcdCallTimeoutMs: number = 2_000;
/** Pause between two attempts of the same append (its key makes a retry idempotent). */
export const appendRetryMs: number = 200;
/** The health probe (a linearizable read) runs this often. */
export const healthIntervalMs: number = 500;
/** With no successful etcd call for this long, health is 'unavailable' and appends are refused. */
export const unavailableAfterMs: number = 1_500;
/** A watch that has not reached a revision the cluster had this long ago is restarted. */
export const watchStallMs: number = 5_000;
/** Bounds of the pause before a watch stream is opened again after an error. */
export const watchRetryMsMin: number = 100;
export const watchRetryMsMax: number = 2_000;
/** This node's mirrored position is published at most this often (when it changed). */
export const durablePublishIntervalMs: number = 500;
/** A node silent (durable record unchanged) longer than this no longer holds retention back. */
export const retentionWindowMs: number = 5 * 60_000;
/** The retention task (delete mirrored batches, compact) runs this often. */
export const retentionIntervalMs: number = 5_000;
/** Batch keys deleted by one retention round (in transactions of deleteOpsPerTxn). */
export const retentionDeleteKeysMax: number = 4096;
export const deleteOpsPerTxn: number = 64;
/** Members are checked for fragmentation at most this often (by the node that compacted). */
export const defragIntervalMs: number = 60_000;
/** A member is defragmented when at least this many bytes ... */
export const defragFreeBytesMin: number = 64 * mebibyte;
/** ... and at least this share of its file are free. */
export const defragFreeRatio: number = 0.5;
/** Deadline of one defragment call (it blocks the member while it copies the database). */
export const defragTimeoutMs: number = 60_000;
/**
 * Above this share of the quota on any member, batch appends are refused (ORDERING_E_ETCD_NOSPACE)
 * while the small writes retention needs (durable positions, its record) still fit: etcd's own
 * NOSPACE alarm would refuse those too and leave retention without fresh positions.
 */
export const spaceHighRatio: number = 0.8;
/** Appends resume once every member is below this share again (after compaction and defragment). */
export const spaceLowRatio: number = 0.7;
/** Members' database sizes are checked this often. */
export const spaceCheckIntervalMs: number = 2_000;
/**
 * Between two checks, each batch byte sent counts this many bytes of database growth: etcd's
 * database grew by 1.2-1.4 bytes a batch byte in a test (twelve 1 MiB puts: 14.7 MB in use,
 * 16.8 MB of file).
 */
export const spaceGrowthPerByteSent: number = 2;
/**
 * etcd reports a put in its database size only once its backend commits (every 100 ms by
 * default): a reading counts as covering the bytes sent until this long before it began.
 */
export const spaceReportLagMs: number = 500;

// Relations between the limits, checked when the module loads.
assertLimit(
  etcdBatchBytesMax + mirrorHeaderBytes + recordHeaderBytes <= segmentBytesMax,
  'a mirror record fits in a segment of the embedded mirror',
);
assertLimit(
  etcdBatchBytesMax + mirrorHeaderBytes <= readBytesMax,
  'a mirror read returns at least one batch',
);
assertLimit(
  etcdBatchBytesMax + mirrorHeaderBytes <= pendingBytesMax,
  'a mirror record fits the mirror queue',
);
assertLimit(etcdMaxRequestBytes <= 10 * mebibyte, "etcd's advised request bound (10 MiB)");
assertLimit(etcdClientMessageBytesMax > etcdMaxRequestBytes, 'a watch fragment fits a message');
assertLimit(etcdBatchBytesMax <= etcdPendingBytesMax, 'one batch fits the pending appends');
assertLimit(etcdBatchBytesMax <= watchBufferBytesMax, 'one batch fits the watch buffer');
assertLimit(mirrorChunkBatchesMax <= watchBufferBatchesMax, 'a mirror chunk fits the buffer');
assertLimit(deleteOpsPerTxn <= etcdTxnOpsMax, 'a delete transaction stays within --max-txn-ops');
assertLimit(etcdCallTimeoutMs < appendTimeoutMs, 'an append can try etcd more than once');
assertLimit(healthIntervalMs < unavailableAfterMs, 'one failed probe does not refuse appends');
assertLimit(durablePublishIntervalMs * 4 <= retentionWindowMs, 'live nodes publish in the window');
assertLimit(watchRetryMsMin <= watchRetryMsMax, 'watch retry bounds');
assertLimit(defragFreeRatio > 0 && defragFreeRatio < 1, 'defragmentation threshold');
assertLimit(
  0 < spaceLowRatio && spaceLowRatio < spaceHighRatio && spaceHighRatio < 1,
  'space ratios',
);
assertLimit(
  etcdMaxRequestBytes < etcdQuotaBackendBytes * (1 - spaceHighRatio),
  'headroom holds a batch',
);

function assertLimit(condition: boolean, what: string): void {
  if (!condition) throw new Error(`etcd ordering limits are inconsistent: ${what}`);
}

/** The limits one etcd log runs with: the defaults above, some overridden by options. */
export type EtcdLimits = {
  readonly batchBytesMax: number;
  readonly pendingAppendsMax: number;
  readonly pendingBytesMax: number;
  readonly watchBufferBatchesMax: number;
  readonly watchBufferBytesMax: number;
  readonly appendTimeoutMs: number;
  readonly callTimeoutMs: number;
  readonly healthIntervalMs: number;
  readonly unavailableAfterMs: number;
  readonly watchStallMs: number;
  readonly durablePublishIntervalMs: number;
  readonly retentionWindowMs: number;
  readonly retentionIntervalMs: number;
  readonly defragIntervalMs: number;
  readonly defragFreeBytesMin: number;
  /** The etcd cluster's --quota-backend-bytes (default: what Coffer's launcher sets). */
  readonly quotaBackendBytes: number;
  readonly spaceCheckIntervalMs: number;
};

export type EtcdLimitOptions = { readonly [K in keyof EtcdLimits]?: number };

/** Defaults overridden by `options`, refused (ORDERING_E_CONFIG) when a relation breaks. */
export function resolveEtcdLimits(options: EtcdLimitOptions): Result<EtcdLimits> {
  const limits: EtcdLimits = {
    batchBytesMax: options.batchBytesMax ?? etcdBatchBytesMax,
    pendingAppendsMax: options.pendingAppendsMax ?? etcdPendingAppendsMax,
    pendingBytesMax: options.pendingBytesMax ?? etcdPendingBytesMax,
    watchBufferBatchesMax: options.watchBufferBatchesMax ?? watchBufferBatchesMax,
    watchBufferBytesMax: options.watchBufferBytesMax ?? watchBufferBytesMax,
    appendTimeoutMs: options.appendTimeoutMs ?? appendTimeoutMs,
    callTimeoutMs: options.callTimeoutMs ?? etcdCallTimeoutMs,
    healthIntervalMs: options.healthIntervalMs ?? healthIntervalMs,
    unavailableAfterMs: options.unavailableAfterMs ?? unavailableAfterMs,
    watchStallMs: options.watchStallMs ?? watchStallMs,
    durablePublishIntervalMs: options.durablePublishIntervalMs ?? durablePublishIntervalMs,
    retentionWindowMs: options.retentionWindowMs ?? retentionWindowMs,
    retentionIntervalMs: options.retentionIntervalMs ?? retentionIntervalMs,
    defragIntervalMs: options.defragIntervalMs ?? defragIntervalMs,
    defragFreeBytesMin: options.defragFreeBytesMin ?? defragFreeBytesMin,
    quotaBackendBytes: options.quotaBackendBytes ?? etcdQuotaBackendBytes,
    spaceCheckIntervalMs: options.spaceCheckIntervalMs ?? spaceCheckIntervalMs,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      return fail(configError(`${name} must be a positive integer, not ${String(value)}`, name));
    }
  }
  const relations: readonly (readonly [boolean, string, string])[] = [
    [
      limits.batchBytesMax <= etcdBatchBytesMax,
      'batchBytesMax',
      `batchBytesMax (${limits.batchBytesMax}) must be at most ${etcdBatchBytesMax}, what etcd's --max-request-bytes of Coffer clusters and the mirror take`,
    ],
    [
      limits.batchBytesMax <= limits.pendingBytesMax,
      'pendingBytesMax',
      `pendingBytesMax (${limits.pendingBytesMax}) must be at least batchBytesMax (${limits.batchBytesMax})`,
    ],
    [
      limits.batchBytesMax <= limits.watchBufferBytesMax,
      'watchBufferBytesMax',
      `watchBufferBytesMax (${limits.watchBufferBytesMax}) must be at least batchBytesMax (${limits.batchBytesMax})`,
    ],
    [
      limits.callTimeoutMs < limits.appendTimeoutMs,
      'appendTimeoutMs',
      `appendTimeoutMs (${limits.appendTimeoutMs}) must be longer than callTimeoutMs (${limits.callTimeoutMs})`,
    ],
    [
      limits.healthIntervalMs < limits.unavailableAfterMs,
      'unavailableAfterMs',
      `unavailableAfterMs (${limits.unavailableAfterMs}) must be longer than healthIntervalMs (${limits.healthIntervalMs})`,
    ],
    [
      limits.durablePublishIntervalMs * 4 <= limits.retentionWindowMs,
      'retentionWindowMs',
      `retentionWindowMs (${limits.retentionWindowMs}) must be at least 4 x durablePublishIntervalMs (${limits.durablePublishIntervalMs}), so live nodes stay active`,
    ],
  ];
  for (const [holds, option, message] of relations) {
    if (!holds) return fail(configError(message, option));
  }
  return ok(limits);
}

function configError(message: string, option: string) {
  return cofferError('ORDERING_E_CONFIG', `etcd ordering log options: ${message}`, { option });
}
