// Public surface of the ordering domain (decision 0008): the OrderingLog seam, the embedded
// log on local segment files, its storage seam and its limits.
export type { LogEntry, LogHealth, OrderingLog } from './types.js';
export type { EmbeddedLog, EmbeddedLogOptions, OrderingLogger, Timers } from './embedded.js';
export { openEmbeddedLog } from './embedded.js';
export type { RecoveryReport } from './recovery.js';
export type { Storage, StorageFile } from './storage.js';
export { createFsStorage } from './fs-storage.js';
export type { Limits, LimitOptions } from './limits.js';
export {
  backpressureRetryAfterMsMax,
  backpressureRetryAfterMsMin,
  batchBytesMax,
  diskFullRetryMs,
  diskProbeBytes,
  indexStrideRecords,
  pendingBatchesMax,
  pendingBytesMax,
  positionMax,
  readBatchesMax,
  readBytesMax,
  readChunkBytes,
  recentBatchBytesMax,
  segmentBytesMax,
  segmentFileBytesMax,
} from './limits.js';
export { recordFormatVersion, recordHeaderBytes, recordMagic } from './record.js';
// --- ordering on etcd (decision 0011)
export type {
  DurableRecord,
  EtcdLog,
  EtcdLogOptions,
  EtcdLogStatus,
  EtcdMemberStatus,
  EtcdNodeStatus,
  EtcdTls,
  MirrorEntry,
  RetentionOutcome,
  RetentionRecord,
} from './etcd.js';
export { openEtcdLog } from './etcd.js';
export { seedBatchesMax, seedMirror } from './etcd-seed.js';
export type {
  EtcdCluster,
  EtcdLaunchOptions,
  EtcdMemberInfo,
  EtcdMemberSpec,
} from './etcd-launch.js';
export { etcdInstallHint, findEtcdBinary, freePort, launchEtcdCluster } from './etcd-launch.js';
export type { EtcdLimitOptions, EtcdLimits } from './etcd-limits.js';
export {
  resolveEtcdLimits,
  appendRetryMs,
  appendTimeoutMs,
  defragFreeBytesMin,
  defragFreeRatio,
  defragIntervalMs,
  defragTimeoutMs,
  deleteOpsPerTxn,
  durablePublishIntervalMs,
  etcdBatchBytesMax,
  etcdCallTimeoutMs,
  etcdClientMessageBytesMax,
  etcdMaxRequestBytes,
  etcdPendingAppendsMax,
  etcdPendingBytesMax,
  etcdQuotaBackendBytes,
  etcdRequestOverheadBytes,
  etcdSnapshotCount,
  etcdTxnOpsMax,
  healthIntervalMs,
  installBatchesMax,
  mirrorChunkBatchesMax,
  mirrorHeaderBytes,
  retentionDeleteKeysMax,
  retentionIntervalMs,
  retentionWindowMs,
  spaceCheckIntervalMs,
  spaceHighRatio,
  spaceLowRatio,
  spaceGrowthPerByteSent,
  unavailableAfterMs,
  watchBufferBatchesMax,
  watchBufferBytesMax,
  watchRetryMsMax,
  watchRetryMsMin,
  watchStallMs,
} from './etcd-limits.js';
