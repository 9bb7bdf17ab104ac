// Limits of sandboxed apps (STYLE.md 5). They decide whether a transaction is valid, so every
// node applies the same ones: they are constants, not node configuration. Decision 0014.
import assert from 'node:assert/strict';

/** Largest bundle (manifest and code, as JSON), in UTF-8 bytes: it travels in one request. */
export const bundleBytesMax = 56 * 1024;
/** Largest compiled code of a bundle, in UTF-8 bytes. */
export const codeBytesMax = 48 * 1024;
/** Most endpoints one app declares. */
export const endpointsMax = 64;
/** Largest JSON Schema of one endpoint input or output, as JSON, in UTF-8 bytes. */
export const schemaBytesMax = 8 * 1024;

/** Memory one app runtime may allocate (QuickJS malloc limit), in bytes. */
export const memoryBytesMax = 8 * 1024 * 1024;
/**
 * WebAssembly memory of one QuickJS instance (all its runtimes): the hard cap behind
 * memoryBytesMax, which QuickJS checks only at polls for large blocks (decision 0014).
 */
export const wasmMemoryBytesMax = 256 * 1024 * 1024;
/** Stack one app runtime may use (QuickJS max stack size), in bytes: far below Node's own. */
export const stackBytesMax = 128 * 1024;
/**
 * Interrupt polls one call may take. QuickJS polls once every 10,000 interpreter ticks
 * (function calls and backward jumps), a count that depends only on the code and its inputs,
 * so every node stops a runaway call at the same point: about 2 million ticks, ~50 ms here.
 */
export const callPollsMax = 200;
/**
 * Node-local backstop for native work the tick count does not see (a builtin such as sort on
 * a large array runs between two polls). Far above what callPollsMax allows for plain code;
 * a call that reaches it may end differently on a slower node, which divergence detection
 * then reports (decision 0014).
 */
export const callWallMsBackstop = 5_000;
/** Largest JSON result of one call, in UTF-8 bytes (the ledger's own resultBytesMax is 64 KiB). */
export const callResultBytesMax = 32 * 1024;
/** Log lines one call may write, and the longest line, in characters. */
export const callLogLinesMax = 32;
export const logLineCharsMax = 1024;
/** Host (KV) calls one call may make. */
export const callHostCallsMax = 10_000;
/** Longest error message kept from an app, in characters. */
export const appMessageCharsMax = 512;

/** Compiled apps kept in memory (parsed manifest and schema validators), by bundle digest. */
export const compiledAppsCachedMax = 64;
/** App runtimes alive at once in one batch (one per app version used in the batch). */
export const batchRuntimesMax = 8;

/** Endpoints triggered by one oracle feed, and the largest value of one data point. */
export const feedTriggersMax = 16;
export const oracleValueBytesMax = 4 * 1024;
/** Allowed publishers of one feed. */
export const feedPublishersMax = 32;

assert(codeBytesMax < bundleBytesMax, 'the code fits in a bundle');
// A bundle travels as one argument of one transaction: requestBytesMax (64 KiB) bounds it.
assert(bundleBytesMax <= 60 * 1024, 'a bundle fits in one request with its envelope');
assert(stackBytesMax * 4 <= memoryBytesMax);
assert(callResultBytesMax <= 64 * 1024, 'a result fits in the ledger (resultBytesMax)');
assert(batchRuntimesMax * memoryBytesMax * 2 <= wasmMemoryBytesMax, 'runtimes fit in wasm memory');
