// The chain the EVM app runs (decision 0025): its rules (@ethereumjs/common, Prague, with the
// consortium's chain id), its blocks (one per Coffer batch), and VMs to run transactions in.
// Senders are recovered by libsecp256k1 (the `secp256k1` bindings): @ethereumjs's own
// pure-JS recovery ran about 300 per second on this machine, libsecp256k1 about 9,000.
import { createBlock, paramsBlock, type Block } from '@ethereumjs/block';
import { paramsEVM } from '@ethereumjs/evm';
import { paramsTx } from '@ethereumjs/tx';
import { createCustomCommon, Hardfork, Mainnet, type Common } from '@ethereumjs/common';
import { createVM, paramsVM, type VM } from '@ethereumjs/vm';
import { hexToBytes } from '@ethereumjs/util';
import { id } from 'ethers';
import secp256k1 from 'secp256k1';
import { KvStateManager } from './state.js';
import type { KvView, KvWriter } from '../contracts/index.js';

export { defaultChainId } from './binding.js';
/**
 * Gas one transaction may use at most. Gas is free and every node runs every transaction, so
 * this bounds how long one transaction can hold execution: a tight loop of 10M gas takes about
 * 1.2 s of one core of this machine (30M, Ethereum's block limit: 3.5 s). An ERC-20 deployment
 * takes about 0.5M, large contracts' deployments up to about 6M.
 */
export const txGasMax = 10_000_000n;
/** The gas limit blocks report: a batch holds many transactions, each under txGasMax. */
export const blockGasLimit = 1_000_000_000n;

/** Public key (64 bytes, no prefix) that signed `hash`; Ethereum's v as @ethereumjs passes it. */
function ecrecover(
  hash: Uint8Array,
  v: bigint,
  r: Uint8Array,
  s: Uint8Array,
  chainId?: bigint,
): Uint8Array {
  if (r.length > 32 || s.length > 32) throw new Error('Invalid signature: r or s is too long');
  const signature = new Uint8Array(64);
  signature.set(r, 32 - r.length);
  signature.set(s, 64 - s.length);
  const recovery = v <= 1n ? v : chainId === undefined ? v - 27n : v - 35n - 2n * chainId; // typed | legacy | EIP-155
  if (recovery !== 0n && recovery !== 1n) throw new Error('Invalid signature v value');
  return secp256k1.ecdsaRecover(signature, Number(recovery), hash, false).slice(1);
}

const commons = new Map<number, Common>();

/**
 * Every transaction and block @ethereumjs decodes copies the chain's Common and merges its
 * module's parameter set into it again (a JSON deep copy and a cache rebuild, about a third of
 * a transfer's execution). The chain's Common merges the four modules' sets once, when it is
 * made, before any copy; copies share those parameters and that cache (Common.copy is
 * shallow), so merging one of those sets again is skipped. Any other set is merged as usual.
 */
function mergeParamsOnce(common: Common): void {
  const known = [paramsTx, paramsBlock, paramsVM, paramsEVM];
  for (const params of known) common.updateParams(params);
  const merge = common.updateParams.bind(common);
  common.updateParams = function (this: Common, params) {
    if (known.includes(params)) return;
    if (this === common) merge(params);
    else (Object.getPrototypeOf(common) as Common).updateParams.call(this, params);
  };
}

/** The chain's rules: Prague, the given chain id, libsecp256k1 recovery. One per chain id. */
export function commonOf(chainId: number): Common {
  let common = commons.get(chainId);
  if (common === undefined) {
    common = createCustomCommon({ chainId, name: `coffer-${chainId}` }, Mainnet, {
      hardfork: Hardfork.Prague,
      customCrypto: { ecrecover },
    });
    mergeParamsOnce(common);
    commons.set(chainId, common);
  }
  return common;
}

/**
 * A block's hash: 24 bytes of keccak256 over (chain, number), then the number in 8 bytes. The
 * same on every node, and the number reads back from it (eth_getBlockByHash). It names the
 * block; Coffer's receipts, not this hash, prove what the block holds (README "EVM").
 */
export function blockHash(chainId: number, number: number): string {
  if (number < 0) return `0x${'00'.repeat(32)}`;
  const prefix = id(`coffer-evm-block:${chainId}:${number}`).slice(2, 50);
  return `0x${prefix}${number.toString(16).padStart(16, '0')}`;
}

/** The block number a blockHash names, or undefined when it is no block hash of this chain. */
export function blockNumberOfHash(chainId: number, hash: string): number | undefined {
  const number = Number.parseInt(hash.slice(50), 16);
  if (!Number.isSafeInteger(number)) return undefined;
  return blockHash(chainId, number) === hash.toLowerCase() ? number : undefined;
}

let lastBlock: { chainId: number; number: number; timeMs: number; block: Block } | undefined;

/** The block a batch's transactions run in: number = the batch's log position, no fees. */
export function blockOf(chainId: number, number: number, timeMs: number): Block {
  // The transactions of one batch share their block (making one copies the chain's rules).
  const last = lastBlock;
  if (last?.chainId === chainId && last.number === number && last.timeMs === timeMs) {
    return last.block;
  }
  const block = createBlock(
    {
      header: {
        number: BigInt(number),
        timestamp: BigInt(Math.floor(timeMs / 1000)),
        gasLimit: blockGasLimit,
        baseFeePerGas: 0n,
        parentHash: hexToBytes(blockHash(chainId, number - 1) as `0x${string}`),
      },
    },
    { common: commonOf(chainId) },
  );
  lastBlock = { chainId, number, timeMs, block };
  return block;
}

type Pooled = { readonly vm: VM; readonly state: KvStateManager };
const pools = new Map<number, Pooled[]>();
/** Idle VMs kept per chain; more are made while several calls run at once. */
const idleVmsMax = 4;

/**
 * Runs `work` with a VM whose state is `kv` (a transaction's view, or a read-only view for
 * calls whose state is thrown away). VMs are reused: making one costs more than a transfer.
 */
export async function withVm<T>(
  chainId: number,
  kv: KvWriter | KvView,
  work: (vm: VM, state: KvStateManager) => Promise<T>,
): Promise<T> {
  const pool = pools.get(chainId) ?? [];
  pools.set(chainId, pool);
  let pooled = pool.pop();
  if (pooled === undefined) {
    const common = commonOf(chainId);
    const state = new KvStateManager(kv, common);
    pooled = { vm: await createVM({ common, stateManager: state }), state };
  }
  pooled.state.use(kv);
  const result = await work(pooled.vm, pooled.state);
  // Only a VM whose run finished goes back: one that threw may hold a checkpoint half-open.
  pooled.state.use({ get: () => undefined });
  if (pool.length < idleVmsMax) pool.push(pooled);
  return result;
}
