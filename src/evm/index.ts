// The EVM domain (issue 9, decision 0025): Ethereum contracts executed in Coffer. The app
// (accounts bound to identities, signed Ethereum transactions), its state in the key-value
// store, and the Ethereum JSON-RPC methods a node serves.
export { bindingMessage, defaultChainId } from './binding.js';
export {
  boundAccount,
  decodeSignedTx,
  evmApp,
  invalidTx,
  personalSigner,
  readBinding,
  senderOf,
} from './app.js';
export { blockHash, commonOf, txGasMax } from './chain.js';
export { evmAppName, evmParams, recordMaps } from './records.js';
export type { BindingRecord, BlockRecord, LogRecord, TxRecord } from './records.js';
export { KvStateManager, evmMaps, storedAccount, storedCode, storedSlot } from './state.js';
