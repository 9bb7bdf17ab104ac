// Limits of the EVM app and its JSON-RPC endpoint (STYLE.md: a limit on everything).

/** A signed transaction's bytes: its request (hex, in JSON) must fit the ledger's 64 KiB. */
export const rawTxBytesMax = 30 * 1024;
/** Ethereum accounts one identity may have bound. */
export const accountsPerIdentityMax = 16;
/** Logs one transaction may emit (more makes it invalid: nothing of it is kept). */
export const logsPerTxMax = 1024;
/** Return data of a failed transaction kept in its record (revert reasons are short). */
export const outputBytesKeptMax = 4096;
/** A transaction record (with its logs) in the store. */
export const txRecordBytesMax = 512 * 1024;
/** Blocks one eth_getLogs may scan, and logs it may return. */
export const logsBlockRangeMax = 10_000;
export const logsResultMax = 10_000;
/** Requests in one JSON-RPC batch. */
export const rpcBatchMax = 100;
/** Transactions one sender may have relayed by a node and not yet executed. */
export const pendingPerSenderMax = 64;
