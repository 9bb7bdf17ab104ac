// The EVM domain (issue 9, decision 0025): Ethereum contracts executed in Coffer. So far, the
// EVM's state in the key-value store; the app, the account binding and the JSON-RPC endpoint
// come next.
export { KvStateManager, evmMaps } from './state.js';
