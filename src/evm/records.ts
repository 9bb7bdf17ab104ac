// What the EVM app keeps besides the EVM's state (decision 0025), all in public maps: account
// bindings, transactions with their receipts, and blocks (one per Coffer batch that ran EVM
// transactions). The JSON-RPC endpoint answers from these.
import { readJson, type KvView } from '../contracts/index.js';
import { defaultChainId } from './binding.js';

export const evmAppName = 'evm';

export const recordMaps = {
  /** Ethereum address (lower-case 0x hex) → BindingRecord. */
  bindings: 'public:evm.bindings',
  /** `<mspId>/<identityId>` → the addresses bound to that identity (JSON list). */
  identities: 'public:evm.identities',
  /** Transaction hash (0x hex) → TxRecord. */
  txs: 'public:evm.txs',
  /** Block number (the batch's log position, decimal) → BlockRecord. */
  blocks: 'public:evm.blocks',
  /** `<block>/<index>` → the hash of that block's index-th transaction. */
  blockTxs: 'public:evm.block-txs',
  /** `params` → EvmParams (set by governance; defaults when absent). */
  params: 'public:evm.params',
} as const;

export type BindingRecord = {
  readonly address: string;
  readonly mspId: string;
  readonly identityId: string;
  /** Batch time of the binding. */
  readonly boundAt: number;
  /** The Coffer transaction that bound it. */
  readonly txId: string;
};

export type LogRecord = {
  readonly address: string;
  readonly topics: readonly string[];
  readonly data: string;
};

export type TxRecord = {
  readonly hash: string;
  readonly block: number;
  readonly index: number;
  readonly from: string;
  readonly to: string | null;
  readonly contractAddress: string | null;
  /** 1: executed; 0: reverted or out of gas (the nonce still moved on, as on Ethereum). */
  readonly status: 0 | 1;
  /** Decimal strings. */
  readonly gasUsed: string;
  readonly cumulativeGasUsed: string;
  /** Index in its block of its first log. */
  readonly logIndex: number;
  readonly logs: readonly LogRecord[];
  /** The signed transaction as sent (0x hex). */
  readonly raw: string;
  /** The EVM's error for status 0 (e.g. `revert`, `out of gas`) and its return data (0x hex). */
  readonly error?: string;
  readonly output?: string;
  /** The Coffer transaction that carried it (its receipt proves this record). */
  readonly txId: string;
};

export type BlockRecord = {
  readonly number: number;
  /** Batch time, ms since the epoch. */
  readonly time: number;
  readonly count: number;
  readonly gasUsed: string;
  readonly logs: number;
};

export type EvmParams = { readonly chainId: number };

export { readJson };

export function evmParams(kv: KvView): EvmParams {
  return readJson<EvmParams>(kv, recordMaps.params, 'params') ?? { chainId: defaultChainId };
}

export const identityKey = (mspId: string, identityId: string): string => `${mspId}/${identityId}`;
export const blockTxKey = (block: number, index: number): string => `${block}/${index}`;
