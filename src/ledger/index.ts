// Public surface of the ledger domain (STYLE.md 1). So far it holds the transaction index
// (decision 0009) and receipts (decisions 0008, 0015); the other ledger modules are still
// imported by path.
export type {
  Receipt,
  ReceiptCheck,
  ReceiptInput,
  ReceiptInputV1,
  ReceiptInputV2,
  ReceiptProof,
  ReceiptSigner,
  ReceiptV1,
  ReceiptV2,
  RootSigner,
  RootStatement,
  SignedRoot,
  VerifiedReceipt,
  VerifyReceiptOptions,
} from './receipt.js';
export {
  createReceipt,
  parseReceipt,
  receiptVersion,
  receiptVersions,
  rootSignatureMessage,
  signedRootsForReceipt,
  signedRootsMax,
  signedRootsOf,
  signRoot,
  verifyReceipt,
  verifySignedRoot,
} from './receipt.js';
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
