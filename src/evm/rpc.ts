// Ethereum JSON-RPC over the EVM app's state (issue 9, decision 0025): what ethers.js and viem
// call to deploy and use contracts. Reads answer from the node's committed state; sending
// relays the signed transaction into the ledger (the node's part, `EvmNode.relay`). Blocks are
// Coffer batches: number = the batch's ordering log position. State is the latest only: a call
// at an older block runs on the latest state (README "Ethereum JSON-RPC").
import { createTx, type TypedTransaction } from '@ethereumjs/tx';
import { runTx } from '@ethereumjs/vm';
import { Bloom } from '@ethereumjs/vm';
import { createAddressFromString, hexToBytes, type Address } from '@ethereumjs/util';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import type { KvView } from '../contracts/index.js';
import {
  blockHash,
  blockNumberOfHash,
  blockOf,
  commonOf,
  blockGasLimit,
  txGasMax,
  withVm,
} from './chain.js';
import { decodeSignedTx } from './app.js';
import { logsBlockRangeMax, logsResultMax, rpcBatchMax } from './limits.js';
import {
  blockTxKey,
  evmParams,
  readJson,
  recordMaps,
  type BlockRecord,
  type TxRecord,
} from './records.js';
import { storedAccount, storedCode, storedSlot } from './state.js';

/** What the endpoint needs of its node. */
export type EvmNode = {
  /** The committed state. */
  readonly kv: KvView;
  /** The newest executed batch: its log position (the block number) and time. */
  readonly head: () => { readonly number: number; readonly time: number };
  /** Puts a signed transaction into the ledger; its hash, or a CofferError thrown. */
  readonly relay: (raw: string) => Promise<string>;
  /** The next nonce of `address` counting what this node relayed and the ledger has not run. */
  readonly pendingNonce: (address: string) => number | undefined;
  /** A relayed transaction the ledger has not run yet (raw 0x hex). */
  readonly pendingTx: (hash: string) => string | undefined;
};

type RpcId = string | number | null;
type RpcError = { readonly code: number; readonly message: string; readonly data?: unknown };
export type RpcResponse =
  | { readonly jsonrpc: '2.0'; readonly id: RpcId; readonly result: unknown }
  | { readonly jsonrpc: '2.0'; readonly id: RpcId; readonly error: RpcError };

/** An error with its JSON-RPC code (-32602 invalid params, -32000 refused, 3 reverted). */
class RpcFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

function invalidParams(message: string): never {
  const error = cofferError('EVM_E_RPC_INVALID', message);
  throw new RpcFailure(-32602, `${error.code}: ${message}`, { code: error.code, fix: error.fix });
}

function refusal(error: CofferError): RpcFailure {
  return new RpcFailure(-32000, `${error.code}: ${error.message}`, {
    code: error.code,
    fix: error.fix,
  });
}

const quantity = (value: bigint | number): string => `0x${value.toString(16)}`;
const zeroHash = `0x${'00'.repeat(32)}`;
const zeroBloom = `0x${'00'.repeat(256)}`;
/** Keccak of RLP([]) and of the empty trie: what Ethereum reports for empty lists. */
const emptyUnclesHash = '0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347';
const emptyTrieRoot = '0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421';

function addressParam(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(value)) {
    invalidParams(`${name} must be a 20-byte 0x hex address`);
  }
  return value.toLowerCase();
}

function hashParam(value: unknown, name: string): string {
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(value)) {
    invalidParams(`${name} must be a 32-byte 0x hex hash`);
  }
  return value.toLowerCase();
}

function dataParam(value: unknown, name: string): string {
  if (value === undefined || value === null) return '0x';
  if (typeof value !== 'string' || !/^0x(?:[0-9a-fA-F]{2})*$/.test(value)) {
    invalidParams(`${name} must be 0x hex bytes`);
  }
  return value;
}

function quantityParam(value: unknown, name: string): bigint | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !/^0x[0-9a-fA-F]{1,64}$/.test(value)) {
    invalidParams(`${name} must be a 0x hex quantity`);
  }
  return BigInt(value);
}

/** A block tag as a block number (state is the latest whatever the tag; see the header). */
function blockParam(node: EvmNode, value: unknown, name: string): number {
  const head = node.head().number;
  if (value === undefined || value === null) return head;
  if (value === 'latest' || value === 'pending' || value === 'safe' || value === 'finalized') {
    return head;
  }
  if (value === 'earliest') return 0;
  if (typeof value === 'object' && 'blockNumber' in value) {
    return blockParam(node, value.blockNumber, name);
  }
  const number = quantityParam(value, name);
  if (number === undefined || number > BigInt(head)) {
    throw new RpcFailure(
      -32000,
      `${name}: block ${JSON.stringify(value)} is beyond the newest, ${head}`,
    );
  }
  return Number(number);
}

function txRecord(kv: KvView, hash: string): TxRecord | undefined {
  return readJson<TxRecord>(kv, recordMaps.txs, hash);
}

function blockRecord(kv: KvView, number: number): BlockRecord | undefined {
  return readJson<BlockRecord>(kv, recordMaps.blocks, String(number));
}

function hashesOf(kv: KvView, block: BlockRecord): string[] {
  const hashes: string[] = [];
  for (let index = 0; index < block.count; index += 1) {
    const hash = kv.get(recordMaps.blockTxs, blockTxKey(block.number, index));
    if (hash !== undefined) hashes.push(hash);
  }
  return hashes;
}

function bloomOf(records: readonly TxRecord[]): string {
  const bloom = new Bloom();
  let any = false;
  for (const record of records) {
    for (const log of record.logs) {
      any = true;
      bloom.add(hexToBytes(log.address as `0x${string}`));
      for (const topic of log.topics) bloom.add(hexToBytes(topic as `0x${string}`));
    }
  }
  return any ? `0x${Buffer.from(bloom.bitvector).toString('hex')}` : zeroBloom;
}

/** A transaction as eth_getTransactionByHash shows it. */
function txView(
  chainId: number,
  raw: string,
  placed: { block: number; index: number } | undefined,
  from: string,
): Record<string, unknown> {
  const tx = decodeSignedTx(raw, chainId);
  const json = tx.toJSON();
  return {
    ...json,
    type: quantity(tx.type),
    hash: `0x${Buffer.from(tx.hash()).toString('hex')}`,
    from,
    to: tx.to?.toString() ?? null,
    input: json.data ?? '0x',
    gas: json.gasLimit,
    gasPrice: json.gasPrice ?? json.maxFeePerGas ?? '0x0',
    chainId: quantity(chainId),
    ...(tx.type === 0 ? {} : { yParity: json.v }),
    blockHash: placed === undefined ? null : blockHash(chainId, placed.block),
    blockNumber: placed === undefined ? null : quantity(placed.block),
    transactionIndex: placed === undefined ? null : quantity(placed.index),
  };
}

/** A signed transaction's type from its first byte (EIP-2718: below 0x80 typed, else legacy). */
function txTypeOf(raw: string): number {
  const first = Number.parseInt(raw.slice(2, 4), 16);
  return first < 0x80 ? first : 0;
}

function logsView(chainId: number, record: TxRecord): Record<string, unknown>[] {
  return record.logs.map((log, offset) => ({
    address: log.address,
    topics: log.topics,
    data: log.data,
    blockNumber: quantity(record.block),
    blockHash: blockHash(chainId, record.block),
    transactionHash: record.hash,
    transactionIndex: quantity(record.index),
    logIndex: quantity(record.logIndex + offset),
    removed: false,
  }));
}

function receiptView(chainId: number, record: TxRecord): Record<string, unknown> {
  return {
    transactionHash: record.hash,
    transactionIndex: quantity(record.index),
    blockHash: blockHash(chainId, record.block),
    blockNumber: quantity(record.block),
    from: record.from,
    to: record.to,
    cumulativeGasUsed: quantity(BigInt(record.cumulativeGasUsed)),
    gasUsed: quantity(BigInt(record.gasUsed)),
    effectiveGasPrice: '0x0',
    contractAddress: record.contractAddress,
    logs: logsView(chainId, record),
    logsBloom: bloomOf([record]),
    status: quantity(record.status),
    type: quantity(txTypeOf(record.raw)),
  };
}

function blockView(
  node: EvmNode,
  chainId: number,
  number: number,
  full: boolean,
): Record<string, unknown> {
  const head = node.head();
  const record = blockRecord(node.kv, number);
  const hashes = record === undefined ? [] : hashesOf(node.kv, record);
  const records = hashes.flatMap((hash) => txRecord(node.kv, hash) ?? []);
  // A batch that ran no EVM transaction keeps no record: its time is known only for the newest.
  const time = record?.time ?? (number === head.number ? head.time : 0);
  return {
    number: quantity(number),
    hash: blockHash(chainId, number),
    parentHash: blockHash(chainId, number - 1),
    nonce: '0x0000000000000000',
    sha3Uncles: emptyUnclesHash,
    logsBloom: bloomOf(records),
    transactionsRoot: emptyTrieRoot,
    stateRoot: zeroHash,
    receiptsRoot: emptyTrieRoot,
    miner: `0x${'00'.repeat(20)}`,
    difficulty: '0x0',
    totalDifficulty: '0x0',
    extraData: '0x',
    size: '0x0',
    gasLimit: quantity(blockGasLimit),
    gasUsed: quantity(BigInt(record?.gasUsed ?? '0')),
    timestamp: quantity(Math.floor(time / 1000)),
    baseFeePerGas: '0x0',
    mixHash: zeroHash,
    uncles: [],
    transactions: full
      ? records.map((tx) => txView(chainId, tx.raw, { block: tx.block, index: tx.index }, tx.from))
      : hashes,
  };
}

type CallParams = {
  readonly from: string;
  readonly to: string | undefined;
  readonly data: string;
  readonly value: bigint;
  readonly gas: bigint;
};

function callParams(value: unknown): CallParams {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalidParams('the call must be an object {from?, to?, data?, value?, gas?}');
  }
  const call = value as Record<string, unknown>;
  const gas = quantityParam(call['gas'], 'gas') ?? txGasMax;
  return {
    from: call['from'] === undefined ? `0x${'00'.repeat(20)}` : addressParam(call['from'], 'from'),
    to:
      call['to'] === undefined || call['to'] === null ? undefined : addressParam(call['to'], 'to'),
    data: dataParam(call['data'] ?? call['input'], 'data'),
    value: quantityParam(call['value'], 'value') ?? 0n,
    gas: gas > txGasMax ? txGasMax : gas,
  };
}

type CallOutcome = {
  readonly ok: boolean;
  readonly returnValue: string;
  readonly gasSpent: bigint;
  readonly gasRefund: bigint;
  readonly error?: string;
};

/** Runs a call as a transaction from `from` on the latest state, keeping nothing. */
async function simulate(node: EvmNode, chainId: number, call: CallParams): Promise<CallOutcome> {
  const common = commonOf(chainId);
  const nonce = storedAccount(node.kv, call.from)?.nonce ?? 0n;
  const tx: TypedTransaction = createTx(
    {
      nonce,
      gasLimit: call.gas,
      gasPrice: 0n,
      value: call.value,
      data: hexToBytes(call.data as `0x${string}`),
      ...(call.to === undefined ? {} : { to: createAddressFromString(call.to) }),
    },
    { common, freeze: false },
  );
  const sender: Address = createAddressFromString(call.from);
  // Unsigned: the caller is taken as given (eth_call's `from`), as Ethereum nodes do.
  tx.getSenderAddress = () => sender;
  const head = node.head();
  try {
    return await withVm(chainId, node.kv, async (vm) => {
      const ran = await runTx(vm, {
        tx,
        block: blockOf(chainId, head.number + 1, head.time),
        skipNonce: true,
        skipBalance: true,
        skipBlockGasLimitValidation: true,
      });
      const failed = ran.execResult.exceptionError;
      return {
        ok: failed === undefined,
        returnValue: `0x${Buffer.from(ran.execResult.returnValue).toString('hex')}`,
        gasSpent: ran.totalGasSpent,
        gasRefund: ran.gasRefund,
        ...(failed === undefined ? {} : { error: failed.error }),
      };
    });
  } catch (error) {
    // Refused before running (e.g. gas below the intrinsic cost): as Ethereum nodes say it.
    throw new RpcFailure(-32000, (error as Error).message);
  }
}

function reverted(outcome: CallOutcome): RpcFailure {
  if (outcome.error === 'revert') {
    return new RpcFailure(3, 'execution reverted', outcome.returnValue);
  }
  return new RpcFailure(-32000, outcome.error ?? 'execution failed');
}

/** The least gas the call succeeds with (binary search, as geth's eth_estimateGas). */
async function estimateGas(node: EvmNode, chainId: number, call: CallParams): Promise<bigint> {
  const first = await simulate(node, chainId, call);
  if (!first.ok) throw reverted(first);
  let low = first.gasSpent - 1n;
  let high = first.gasSpent + first.gasRefund;
  if (!(await simulate(node, chainId, { ...call, gas: high })).ok) high = call.gas;
  while (high - low > 1n && (high - low) * 100n > high) {
    const middle = (low + high) / 2n;
    if ((await simulate(node, chainId, { ...call, gas: middle })).ok) high = middle;
    else low = middle;
  }
  return high;
}

type LogFilter = {
  readonly from: number;
  readonly to: number;
  readonly addresses: readonly string[] | undefined;
  readonly topics: readonly (readonly string[] | null)[];
};

function logFilter(node: EvmNode, chainId: number, value: unknown): LogFilter {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalidParams('the filter must be an object {fromBlock?, toBlock?, address?, topics?}');
  }
  const filter = value as Record<string, unknown>;
  let from: number;
  let to: number;
  if (filter['blockHash'] !== undefined) {
    const number = blockNumberOfHash(chainId, hashParam(filter['blockHash'], 'blockHash'));
    if (number === undefined) throw new RpcFailure(-32000, 'blockHash: no such block');
    from = number;
    to = number;
  } else {
    from = blockParam(node, filter['fromBlock'] ?? 'latest', 'fromBlock');
    to = blockParam(node, filter['toBlock'] ?? 'latest', 'toBlock');
  }
  if (to - from + 1 > logsBlockRangeMax) {
    invalidParams(`the block range holds ${to - from + 1} blocks; at most ${logsBlockRangeMax}`);
  }
  const address = filter['address'];
  const addresses =
    address === undefined || address === null
      ? undefined
      : (Array.isArray(address) ? address : [address]).map((item, index) =>
          addressParam(item, `address[${index}]`),
        );
  const topicsValue = filter['topics'] ?? [];
  if (!Array.isArray(topicsValue) || topicsValue.length > 4) {
    invalidParams('topics must be a list of at most 4 entries');
  }
  const topics = topicsValue.map((topic: unknown, index) =>
    topic === null
      ? null
      : (Array.isArray(topic) ? topic : [topic]).map((item: unknown) =>
          hashParam(item, `topics[${index}]`),
        ),
  );
  return { from, to, addresses, topics };
}

function getLogs(node: EvmNode, chainId: number, filter: LogFilter): Record<string, unknown>[] {
  const found: Record<string, unknown>[] = [];
  for (let number = filter.from; number <= filter.to; number += 1) {
    const block = blockRecord(node.kv, number);
    if (block === undefined || block.logs === 0) continue;
    for (const hash of hashesOf(node.kv, block)) {
      const record = txRecord(node.kv, hash);
      if (record === undefined) continue;
      const views = logsView(chainId, record);
      record.logs.forEach((log, offset) => {
        if (filter.addresses !== undefined && !filter.addresses.includes(log.address)) return;
        const matches = filter.topics.every(
          (wanted, index) => wanted === null || wanted.includes(log.topics[index] ?? ''),
        );
        if (!matches) return;
        if (found.length >= logsResultMax) {
          invalidParams(`the query matches more than ${logsResultMax} logs; narrow it`);
        }
        const view = views[offset];
        if (view !== undefined) found.push(view);
      });
    }
  }
  return found;
}

function feeHistory(node: EvmNode, params: readonly unknown[]): Record<string, unknown> {
  const count = Number(
    typeof params[0] === 'number'
      ? BigInt(params[0])
      : (quantityParam(params[0], 'blockCount') ?? 1n),
  );
  const blocks = Math.max(1, Math.min(count, 1024));
  const newest = blockParam(node, params[1], 'newestBlock');
  const oldest = Math.max(0, newest - blocks + 1);
  const span = newest - oldest + 1;
  const percentiles = Array.isArray(params[2]) ? params[2] : [];
  return {
    oldestBlock: quantity(oldest),
    baseFeePerGas: new Array<string>(span + 1).fill('0x0'),
    gasUsedRatio: Array.from({ length: span }, (_, offset) => {
      const used = BigInt(blockRecord(node.kv, oldest + offset)?.gasUsed ?? '0');
      return Number((used * 10_000n) / blockGasLimit) / 10_000;
    }),
    ...(percentiles.length === 0
      ? {}
      : { reward: Array.from({ length: span }, () => percentiles.map(() => '0x0')) }),
  };
}

async function dispatch(
  node: EvmNode,
  method: string,
  params: readonly unknown[],
): Promise<unknown> {
  const { kv } = node;
  const chainId = evmParams(kv).chainId;
  switch (method) {
    case 'eth_chainId':
      return quantity(chainId);
    case 'net_version':
      return String(chainId);
    case 'net_listening':
      return true;
    case 'web3_clientVersion':
      return 'Coffer/0.1.0';
    case 'eth_syncing':
      return false;
    case 'eth_accounts':
      return [];
    case 'eth_blockNumber':
      return quantity(node.head().number);
    case 'eth_gasPrice':
    case 'eth_maxPriorityFeePerGas':
      return '0x0';
    case 'eth_feeHistory':
      return feeHistory(node, params);
    case 'eth_getBalance':
      blockParam(node, params[1], 'block');
      return quantity(storedAccount(kv, addressParam(params[0], 'address'))?.balance ?? 0n);
    case 'eth_getTransactionCount': {
      const address = addressParam(params[0], 'address');
      const stored = Number(storedAccount(kv, address)?.nonce ?? 0n);
      const pending = params[1] === 'pending' ? node.pendingNonce(address) : undefined;
      if (params[1] !== 'pending') blockParam(node, params[1], 'block');
      return quantity(Math.max(stored, pending ?? 0));
    }
    case 'eth_getCode':
      blockParam(node, params[1], 'block');
      return `0x${Buffer.from(storedCode(kv, addressParam(params[0], 'address'))).toString('hex')}`;
    case 'eth_getStorageAt': {
      const address = addressParam(params[0], 'address');
      const slot = quantityParam(params[1], 'slot') ?? 0n;
      blockParam(node, params[2], 'block');
      const key = Buffer.from(slot.toString(16).padStart(64, '0'), 'hex');
      const value = storedSlot(kv, address, key);
      return `0x${Buffer.from(value).toString('hex').padStart(64, '0')}`;
    }
    case 'eth_call': {
      const call = callParams(params[0]);
      blockParam(node, params[1], 'block');
      const outcome = await simulate(node, chainId, call);
      if (!outcome.ok) throw reverted(outcome);
      return outcome.returnValue;
    }
    case 'eth_estimateGas':
      return quantity(await estimateGas(node, chainId, callParams(params[0])));
    case 'eth_sendRawTransaction':
      try {
        return await node.relay(dataParam(params[0], 'transaction'));
      } catch (error) {
        if (isCofferError(error)) throw refusal(error);
        throw error;
      }
    case 'eth_getTransactionByHash': {
      const hash = hashParam(params[0], 'hash');
      const record = txRecord(kv, hash);
      if (record !== undefined) {
        return txView(
          chainId,
          record.raw,
          { block: record.block, index: record.index },
          record.from,
        );
      }
      const pending = node.pendingTx(hash);
      if (pending === undefined) return null;
      const tx = decodeSignedTx(pending, chainId);
      return txView(chainId, pending, undefined, tx.getSenderAddress().toString());
    }
    case 'eth_getTransactionReceipt': {
      const record = txRecord(kv, hashParam(params[0], 'hash'));
      return record === undefined ? null : receiptView(chainId, record);
    }
    case 'eth_getBlockByNumber':
      return blockView(node, chainId, blockParam(node, params[0], 'block'), params[1] === true);
    case 'eth_getBlockByHash': {
      const number = blockNumberOfHash(chainId, hashParam(params[0], 'hash'));
      if (number === undefined || number > node.head().number) return null;
      return blockView(node, chainId, number, params[1] === true);
    }
    case 'eth_getBlockTransactionCountByNumber':
      return quantity(blockRecord(kv, blockParam(node, params[0], 'block'))?.count ?? 0);
    case 'eth_getLogs':
      return getLogs(node, chainId, logFilter(node, chainId, params[0]));
    default:
      throw new RpcFailure(
        -32601,
        `the method ${method} is not served (README "Ethereum JSON-RPC")`,
      );
  }
}

async function handleOne(node: EvmNode, request: unknown): Promise<RpcResponse> {
  const id: RpcId =
    typeof request === 'object' &&
    request !== null &&
    ['string', 'number'].includes(typeof (request as { id?: unknown }).id)
      ? (request as { id: string | number }).id
      : null;
  try {
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      throw new RpcFailure(-32600, 'a request must be a JSON-RPC 2.0 object');
    }
    const { jsonrpc, method, params } = request as Record<string, unknown>;
    if (jsonrpc !== '2.0' || typeof method !== 'string') {
      throw new RpcFailure(-32600, 'a request must have jsonrpc "2.0" and a method');
    }
    if (params !== undefined && !Array.isArray(params)) {
      invalidParams('params must be a list');
    }
    return { jsonrpc: '2.0', id, result: await dispatch(node, method, params ?? []) };
  } catch (error) {
    if (error instanceof RpcFailure) {
      return {
        jsonrpc: '2.0',
        id,
        error: {
          code: error.code,
          message: error.message,
          ...(error.data === undefined ? {} : { data: error.data }),
        },
      };
    }
    if (isCofferError(error)) {
      const failure = refusal(error);
      return {
        jsonrpc: '2.0',
        id,
        error: { code: failure.code, message: failure.message, data: failure.data },
      };
    }
    throw error;
  }
}

/** Answers a JSON-RPC request or batch (at most rpcBatchMax requests). */
export async function handleRpc(
  node: EvmNode,
  body: unknown,
): Promise<RpcResponse | RpcResponse[]> {
  if (!Array.isArray(body)) return handleOne(node, body);
  if (body.length === 0 || body.length > rpcBatchMax) {
    return {
      jsonrpc: '2.0',
      id: null,
      error: { code: -32600, message: `a batch holds 1 to ${rpcBatchMax} requests` },
    };
  }
  // Together, in order: each request runs synchronously up to its first wait in the order
  // given (a relay reserves its sender's nonce there), so one sender's transactions in a batch
  // keep their order and reach the ordering log in one batch instead of one per request.
  return Promise.all(body.map((request) => handleOne(node, request)));
}
