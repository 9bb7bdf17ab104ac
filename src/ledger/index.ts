// Public surface of the ledger domain (STYLE.md 1). So far it holds the transaction index
// (decision 0009); the other ledger modules are still imported by path.
export type {
  CatchUpReport,
  TxIndex,
  TxIndexEntry,
  TxIndexLogger,
  TxIndexOptions,
  TxIndexStats,
} from './tx-index.js';
export {
  addEntriesMax,
  bufferEntriesMax,
  levelCacheBytes,
  catchUpTxIndex,
  destroyTxIndex,
  lookupSeqnosMax,
  levelOpenFilesMax,
  openTxIndex,
  truncateEntriesPerBatchMax,
  writeBatchEntriesMax,
  levelWriteBufferBytes,
} from './tx-index.js';
