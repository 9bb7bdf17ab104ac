// The Bitcoin chain worker (issue 8, decision 0023), the IO edge over a Bitcoin node: a wallet's
// address is its 2-of-3 P2WSH (bitcoin-script.ts); a withdrawal is a PSBT over the wallet's coins
// with change back to the same address, one BIP 143 digest per input (bitcoin-psbt.ts); each key
// signs every digest and `broadcast` puts the raw signatures in, finalises and sends; deposits
// are outputs to watched addresses in raw blocks (bitcoin-deposits.ts), reported until they have
// the configured depth. Coins come from a UtxoSource (bcoin's address index by default).
import assert from 'node:assert/strict';
import type { Network } from 'bitcoinjs-lib';
import { cofferError } from '../../errors/index.js';
import { digestsPerWithdrawalMax, unsignedTxHexCharsMax } from '../limits.js';
import type { WalletRecord, WithdrawalRecord } from '../types.js';
import { bitcoinAsset, scanBitcoinDeposits, watchList } from './bitcoin-deposits.js';
import {
  buildPsbt,
  bumpFee,
  decodePsbt,
  feeRateSatPerVbMax,
  inputDigests,
  inputsPerTxMax,
  outpointOf,
  planOfPsbt,
  planWithdrawal,
  psbtOutpoints,
  psbtWithdrawalMismatch,
  signedWalletTransaction,
  spendableCoins,
} from './bitcoin-psbt.js';
import {
  bcoinUtxoSource,
  createBitcoinRpc,
  type BitcoinRpc,
  type BitcoinRpcOptions,
  type UtxoSource,
} from './bitcoin-rpc.js';
import {
  bitcoinNetworks,
  outputScriptOf,
  walletP2wsh,
  type BitcoinNetworkName,
  type P2wshMultisig,
} from './bitcoin-script.js';
import { addressRegistrar, oneAtATime } from './register.js';
import type {
  BuiltTx,
  ChainBlock,
  ChainTxStatus,
  ChainWorker,
  DepositScan,
  LedgerPort,
} from './types.js';

/** Default depth: six blocks, the customary Bitcoin finality (governed per chain). */
export const bitcoinConfirmationsDefault = 6;
/** A fee bump raises the broadcast fee rate by at least this many percent. */
export const bitcoinBumpPercent = 25;
/** Blocks within which estimatesmartfee's rate should confirm a withdrawal. */
export const bitcoinFeeTargetBlocksDefault = 6;
/** Default cap of the fee rate a build pays, sat/vB (above every peak of the public mempool). */
export const bitcoinFeeRateMaxSatPerVbDefault: number = 500;
/** How long broadcast waits for the node's mempool to take a transaction, ms. */
export const bitcoinMempoolWaitMsDefault = 5000;
/** How often the mempool is polled meanwhile, ms. */
export const bitcoinPollMsDefault = 100;
/** Signed transactions remembered (to rebroadcast one a node dropped, and for follow). */
export const bitcoinSentTxsKeptMax = 1024;
/** Builds whose coins stay claimed until the ledger records them, across wallets (the oldest go). */
export const bitcoinClaimsMax = 1000;
/** Pages of one ledger list read while collecting coins of open withdrawals (100 each). */
export const ledgerPagesMax = 100;
/** Withdrawal states that hold a built PSBT whose coins may still be spent by it. */
const builtOpenStates = ['built', 'service_signed', 'platform_signed', 'broadcast'] as const;

/** Wallet scripts kept derived (a wallet's keys never change). */
const walletsCachedMax = 10_000;

assert(
  bitcoinFeeRateMaxSatPerVbDefault <= feeRateSatPerVbMax,
  'the default fee cap is a valid rate',
);
assert(
  digestsPerWithdrawalMax <= inputsPerTxMax,
  'a withdrawal of the most digests can be planned',
);

export type BitcoinChainOptions = {
  readonly rpc: BitcoinRpcOptions;
  /** Coins of an address (default: bcoin's REST address index on the rpc url). */
  readonly utxos?: UtxoSource;
  readonly network: BitcoinNetworkName;
  /** Depth at which deposits are final and scanned past (default bitcoinConfirmationsDefault). */
  readonly confirmations?: number;
  readonly feeTargetBlocks?: number;
  /** Fee rate, sat/vB, when the node has no estimate (regtest, a young node); none: refuse. */
  readonly feeRateFallbackSatPerVb?: number;
  readonly feeRateMaxSatPerVb?: number;
  /** The governed custody.chains.bitcoin.feeMax, sat: a build over it waits (the ledger refuses it). */
  readonly feeMaxSat?: bigint;
  /** Inputs one withdrawal may spend (default and at most digestsPerWithdrawalMax). */
  readonly inputsMax?: number;
  /** Addresses to watch from the start, address → wallet id (after a restart: all of them). */
  readonly knownAddresses?: Readonly<Record<string, string>>;
  /** Block the scan starts at without a cursor (default 1; on a public chain: the first wallet's). */
  readonly startHeight?: number;
  /** Build skips coins of the wallet's open withdrawals; prepareWallet registers the address. */
  readonly ledger?: LedgerPort;
  readonly mempoolWaitMs?: number;
  readonly pollMs?: number;
};

export type BitcoinChain = ChainWorker & {
  /**
   * Whether a deposit reported earlier is still in the block it was seen in (that block is still
   * on the best chain): false after a reorganisation took the block away.
   */
  readonly depositInBlock: (deposit: {
    readonly chainTxId: string;
    readonly block: { readonly hash: string; readonly height?: number };
  }) => Promise<boolean>;
  readonly rpc: BitcoinRpc;
  readonly close: () => void;
};

/** The Bitcoin chain worker. */
export function createBitcoinChain(options: BitcoinChainOptions): BitcoinChain {
  const network = bitcoinNetworks[options.network];
  const depth = options.confirmations ?? bitcoinConfirmationsDefault;
  const inputsMax = options.inputsMax ?? digestsPerWithdrawalMax;
  const feeRateMax = options.feeRateMaxSatPerVb ?? bitcoinFeeRateMaxSatPerVbDefault;
  const fallback = options.feeRateFallbackSatPerVb;
  const startHeight = options.startHeight ?? 1;
  const mempoolWaitMs = options.mempoolWaitMs ?? bitcoinMempoolWaitMsDefault;
  const pollMs = options.pollMs ?? bitcoinPollMsDefault;
  const check = (ok: boolean, what: string) => {
    if (!ok) throw cofferError('APP_E_INVALID_ARGS', `bitcoin worker options: ${what}`);
  };
  check(
    (network as Network | undefined) !== undefined,
    `network is one of ${Object.keys(bitcoinNetworks).join(', ')}`,
  );
  check(Number.isInteger(depth) && depth >= 1, 'confirmations must be an integer ≥ 1');
  check(
    Number.isInteger(inputsMax) && inputsMax >= 1 && inputsMax <= digestsPerWithdrawalMax,
    `inputsMax must be 1 to ${digestsPerWithdrawalMax}`,
  );
  check(
    feeRateMax >= 1 && feeRateMax <= feeRateSatPerVbMax,
    `feeRateMaxSatPerVb must be 1 to ${feeRateSatPerVbMax}`,
  );
  check(
    fallback === undefined || (fallback >= 1 && fallback <= feeRateMax),
    'feeRateFallbackSatPerVb must be 1 to feeRateMaxSatPerVb',
  );
  check(Number.isInteger(startHeight) && startHeight >= 1, 'startHeight must be an integer ≥ 1');
  const rpc = createBitcoinRpc(options.rpc);
  const utxos = options.utxos ?? bcoinUtxoSource(rpc);
  const ledger = options.ledger;

  /** Watched address → its wallet (null: unknown). */
  const watched = new Map<string, string | null>();
  let scripts: Map<string, string> | null = null;
  const watch = (address: string, walletId: string | null) => {
    outputScriptOf(address, network);
    if (watched.get(address) === walletId) return;
    watched.set(address, walletId);
    scripts = null;
  };
  for (const [address, walletId] of Object.entries(options.knownAddresses ?? {}))
    watch(address, walletId);

  const p2wshes = new Map<string, P2wshMultisig>();
  const scriptOf = (wallet: WalletRecord): P2wshMultisig => {
    if (wallet.chain !== 'bitcoin' || wallet.curve !== 'secp256k1')
      throw new Error(
        `bitcoin worker invariant: wallet ${wallet.id} is ${wallet.chain}/${wallet.curve}`,
      );
    let p2wsh = p2wshes.get(wallet.id);
    if (p2wsh === undefined) {
      p2wsh = walletP2wsh(wallet.threshold.m, wallet.keys, network);
      if (p2wshes.size >= walletsCachedMax) p2wshes.clear();
      p2wshes.set(wallet.id, p2wsh);
    }
    return p2wsh;
  };

  // --- prepareWallet: watch the address, register it on the ledger once --------------------
  const register = addressRegistrar(ledger, 'bitcoin');
  const prepareOnce = async (wallet: WalletRecord): Promise<string> => {
    const { address } = scriptOf(wallet);
    watch(address, wallet.id);
    await register(wallet.id, address);
    return address;
  };
  const prepareWallet = oneAtATime(prepareOnce);

  /** Sets `key` as the newest entry of `map`; the oldest go past `max`. */
  const remember = <V>(map: Map<string, V>, key: string, value: V, max: number) => {
    map.delete(key);
    map.set(key, value);
    for (const oldest of map.keys()) {
      if (map.size <= max) break;
      map.delete(oldest);
    }
  };

  // --- build: coins not held by another withdrawal, one build per wallet at a time ----------
  /**
   * Withdrawal id → the coins of its build, until the ledger records it (the bridge between a
   * build and its `built` record); the oldest are forgotten past bitcoinClaimsMax.
   */
  const claims = new Map<
    string,
    { readonly walletId: string; readonly coins: readonly string[] }
  >();
  const buildLocks = new Map<string, Promise<unknown>>();

  /** Coins of the wallet's open built withdrawals on the ledger, and of recent builds. */
  const heldCoins = async (wallet: WalletRecord, self: string, listed: ReadonlySet<string>) => {
    const held = new Set<string>();
    if (ledger !== undefined) {
      // The chain's open lists are complete and bounded (openWithdrawalsPerStateMax); a wallet's
      // own log may answer short filtered pages.
      for (const state of builtOpenStates) {
        let cursor: number | null = null;
        for (let page = 0; ; page += 1) {
          if (page >= ledgerPagesMax)
            throw new Error(
              `the ledger's ${state} bitcoin withdrawals span over ${ledgerPagesMax} pages`,
            );
          const args: Record<string, unknown> = { chain: 'bitcoin', state };
          if (cursor !== null) args['cursor'] = cursor;
          const answer = (await ledger.query('custody', 'withdrawals', args)) as {
            withdrawals: readonly WithdrawalRecord[];
            next?: number | null;
          };
          for (const other of answer.withdrawals) {
            if (other.walletId !== wallet.id || other.id === self || other.unsignedTx === null)
              continue;
            for (const coin of psbtOutpoints(decodePsbt(other.unsignedTx, other.id, network)))
              held.add(coin);
          }
          cursor = answer.next ?? null;
          if (cursor === null) break;
        }
      }
    }
    for (const [id, { walletId, coins }] of claims) {
      if (id === self || walletId !== wallet.id) continue;
      // A claim ends when its coins are spent, or (with the ledger) once its build is recorded
      // (the list above holds its coins then) or the withdrawal ended before.
      let keep = coins.some((coin) => listed.has(coin));
      if (keep && ledger !== undefined) {
        const answer = (await ledger
          .query('custody', 'withdrawal', { withdrawalId: id })
          .catch((error: unknown) => {
            if ((error as { code?: unknown } | null)?.code === 'CUSTODY_E_NOT_FOUND') return null;
            throw error;
          })) as { withdrawal: WithdrawalRecord } | null;
        keep = answer?.withdrawal.state === 'approved';
      }
      if (keep) for (const coin of coins) held.add(coin);
      else claims.delete(id);
    }
    return held;
  };

  const feeRateNow = async (): Promise<number> => {
    const target = options.feeTargetBlocks ?? bitcoinFeeTargetBlocksDefault;
    const rate = (await rpc.estimateFeeRate(target)) ?? fallback;
    if (rate === undefined)
      throw cofferError(
        'CUSTODY_E_CHAIN_NODE',
        `the Bitcoin node has no fee estimate for ${target} blocks (regtest, or a node that has not seen enough blocks); give the feeRateFallbackSatPerVb option or wait`,
        { method: 'estimatesmartfee', kind: 'rpc' },
      );
    return Math.min(Math.max(rate, 1), feeRateMax);
  };

  const buildNow = async (withdrawal: WithdrawalRecord, wallet: WalletRecord): Promise<BuiltTx> => {
    if (withdrawal.asset !== bitcoinAsset)
      throw cofferError(
        'APP_E_INVALID_ARGS',
        `asset ${withdrawal.asset}: the bitcoin worker moves ${bitcoinAsset} only (amounts in satoshis); reject withdrawal ${withdrawal.id}`,
        { field: 'asset' },
      );
    const p2wsh = scriptOf(wallet);
    const tip = await rpc.blocks.getBlockCount();
    const coins = await utxos.coinsOf(p2wsh.address);
    const listed = new Set(coins.map((coin) => outpointOf(coin.txid, coin.vout)));
    const held = await heldCoins(wallet, withdrawal.id, listed);
    const plan = planWithdrawal({
      wallet: p2wsh,
      utxos: spendableCoins(coins, tip, held),
      destination: withdrawal.destination,
      amount: BigInt(withdrawal.amount),
      feeRateSatPerVb: await feeRateNow(),
      network,
      inputsMax,
    });
    if (options.feeMaxSat !== undefined && plan.fee > options.feeMaxSat)
      throw cofferError(
        'CUSTODY_E_FEE_TOO_HIGH',
        `withdrawal ${withdrawal.id} would pay a ${plan.fee} sat fee (${plan.inputs.length} inputs at ${plan.feeRateSatPerVb} sat/vB), over feeMax ${options.feeMaxSat} sat; it is built when fees fall, or raise feeMax`,
        { id: withdrawal.id, fee: plan.fee.toString(), feeMax: options.feeMaxSat.toString() },
      );
    const psbt = buildPsbt(plan, p2wsh, network);
    const unsignedTx = psbt.toHex();
    if (unsignedTx.length > unsignedTxHexCharsMax)
      throw new Error(
        `bitcoin worker invariant: a PSBT of ${plan.inputs.length} inputs is over ${unsignedTxHexCharsMax} hex characters`,
      );
    remember(
      claims,
      withdrawal.id,
      { walletId: wallet.id, coins: psbtOutpoints(psbt) },
      bitcoinClaimsMax,
    );
    return {
      unsignedTx,
      digests: inputDigests(psbt).map((digest) => Buffer.from(digest).toString('hex')),
    };
  };
  const build = (withdrawal: WithdrawalRecord, wallet: WalletRecord): Promise<BuiltTx> => {
    const run = (buildLocks.get(wallet.id) ?? Promise.resolve()).then(() =>
      buildNow(withdrawal, wallet),
    );
    buildLocks.set(
      wallet.id,
      run.catch(() => undefined),
    );
    return run;
  };

  /**
   * A replacement of a broadcast withdrawal: the same coins and payment at the node's fee rate
   * now, at least bitcoinBumpPercent over the broadcast rate (capped by feeRateMaxSatPerVb);
   * null when its fee would be over feeMaxSat. The change pays the difference.
   */
  const bump = async (
    withdrawal: WithdrawalRecord,
    wallet: WalletRecord,
  ): Promise<BuiltTx | null> => {
    if (withdrawal.unsignedTx === null)
      throw new Error(`bitcoin worker invariant: withdrawal ${withdrawal.id} is not built`);
    const p2wsh = scriptOf(wallet);
    const current = planOfPsbt(
      decodePsbt(withdrawal.unsignedTx, withdrawal.id, network),
      withdrawal.destination,
      p2wsh,
    );
    const raised = Math.ceil((current.feeRateSatPerVb * (100 + bitcoinBumpPercent)) / 100);
    const rate = Math.min(feeRateMax, Math.max(await feeRateNow(), raised));
    if (rate <= current.feeRateSatPerVb) return null;
    const next = bumpFee(current, p2wsh, rate, network);
    if (options.feeMaxSat !== undefined && next.fee > options.feeMaxSat) return null;
    const psbt = buildPsbt(next, p2wsh, network);
    return {
      unsignedTx: psbt.toHex(),
      digests: inputDigests(psbt).map((digest) => Buffer.from(digest).toString('hex')),
    };
  };

  // --- broadcast and follow --------------------------------------------------------------------
  /** Signed transactions of this process: to send again after a node dropped one. */
  const sentTxs = new Map<string, { readonly hex: string; readonly coins: readonly string[] }>();
  /** txid → tip height when its coins were first seen spent by another transaction. */
  const conflictSeen = new Map<string, number>();

  /**
   * Whether the coins of `txid` were spent by another transaction in a block: 'none' (all
   * unspent), 'mined' (by `txid` itself after all), 'young' (another spend, fewer than `depth`
   * blocks seen since) or 'final' (depth blocks since: the transaction can never confirm).
   */
  const conflictOf = async (txid: string, coins: readonly string[]) => {
    const spent: string[] = [];
    for (const coin of coins) {
      const [hash = '', vout = ''] = coin.split(':');
      if (!(await rpc.unspentInChain(hash, Number(vout)))) spent.push(coin);
    }
    if (spent.length === 0) {
      conflictSeen.delete(txid);
      return { state: 'none' as const };
    }
    if ((await rpc.transaction(txid))?.blockHash != null) return { state: 'mined' as const };
    const tip = await rpc.blocks.getBlockCount();
    const since = conflictSeen.get(txid) ?? tip;
    remember(conflictSeen, txid, since, bitcoinSentTxsKeptMax);
    const reason = `coins ${spent.join(', ')} were spent by another transaction`;
    return tip - since + 1 >= depth
      ? { state: 'final' as const, reason }
      : {
          state: 'young' as const,
          reason: `${reason} ${tip - since + 1} blocks ago; reported failed at ${depth}`,
        };
  };

  const waitForMempool = async (txid: string): Promise<boolean> => {
    const deadline = Date.now() + mempoolWaitMs;
    for (;;) {
      if ((await rpc.transaction(txid)) !== null) return true;
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  };

  const broadcast = async (
    withdrawal: WithdrawalRecord,
    wallet: WalletRecord,
    signatures: readonly (readonly string[])[],
  ): Promise<{ readonly chainTxId: string } | { readonly failed: string }> => {
    if (withdrawal.unsignedTx === null)
      throw new Error(`bitcoin worker invariant: withdrawal ${withdrawal.id} is not built`);
    const psbt = decodePsbt(withdrawal.unsignedTx, withdrawal.id, network);
    const mismatch = psbtWithdrawalMismatch(psbt, withdrawal, scriptOf(wallet), network);
    if (mismatch !== null)
      throw new Error(`bitcoin worker invariant: withdrawal ${withdrawal.id}'s PSBT ${mismatch}`);
    // Every signature is checked before anything is sent.
    const tx = signedWalletTransaction(psbt, wallet, signatures, `withdrawal ${withdrawal.id}`);
    const txid = tx.getId();
    const coins = psbtOutpoints(psbt);
    remember(sentTxs, txid, { hex: tx.toHex(), coins }, bitcoinSentTxsKeptMax);
    // Sent before (a crash between broadcast and its ledger record): the same txid.
    if ((await rpc.transaction(txid)) !== null) return { chainTxId: txid };
    /** What spent coins say: mined by this transaction, failed for good, or not yet. */
    const settled = async () => {
      const conflict = await conflictOf(txid, coins);
      if (conflict.state === 'mined') return { chainTxId: txid };
      if (conflict.state === 'final') return { failed: conflict.reason };
      if (conflict.state === 'young')
        throw new Error(`withdrawal ${withdrawal.id} not sent: ${conflict.reason}`);
      return null;
    };
    const before = await settled();
    if (before !== null) return before;
    try {
      await rpc.sendRawTransaction(tx.toHex(), txid);
    } catch (error) {
      // Bitcoin Core says why it refused; only spent coins make that final.
      if ((error as { details?: { kind?: unknown } }).details?.kind !== 'rpc') throw error;
      const after = await settled();
      if (after !== null) return after;
      throw error;
    }
    // bcoin answers before its mempool looked at the transaction, and never says it refused.
    if (await waitForMempool(txid)) return { chainTxId: txid };
    const after = await settled();
    if (after !== null) return after;
    throw new Error(
      `the Bitcoin node did not take ${txid} of withdrawal ${withdrawal.id} into its mempool within ${mempoolWaitMs} ms (an unconfirmed spend of the same coins, a fee under its minimum: bcoin says why in its log only); tried again next step`,
    );
  };

  /** A block of the best chain with the transaction's confirmations; null: not on it now. */
  const confirmedIn = async (
    blockHash: string,
  ): Promise<{ block: ChainBlock; confirmations: number } | null> => {
    const header = await rpc.blockHeader(blockHash);
    if (header === null || header.confirmations < 1) return null;
    return {
      block: { height: header.height, hash: blockHash },
      confirmations: header.confirmations,
    };
  };

  const follow = async (chainTxId: string): Promise<ChainTxStatus> => {
    const info = await rpc.transaction(chainTxId);
    if (info?.blockHash != null) {
      const at = await confirmedIn(info.blockHash);
      return at === null ? { state: 'pending' } : { state: 'confirmed', ...at };
    }
    if (info !== null) return { state: 'pending' };
    // Neither in the mempool nor in a block: dropped (a reorganisation, mempool eviction, a
    // node restart) or spent around. Only a transaction this process sent can be told apart.
    const sent = sentTxs.get(chainTxId);
    if (sent === undefined) return { state: 'pending' };
    const conflict = await conflictOf(chainTxId, sent.coins);
    if (conflict.state === 'final') return { state: 'failed', reason: conflict.reason };
    if (conflict.state === 'none') {
      // Its coins are unspent: send it again; a refusal shows in the next follow.
      await rpc.sendRawTransaction(sent.hex, chainTxId).catch((error: unknown) => {
        if ((error as { details?: { kind?: unknown } }).details?.kind !== 'rpc') throw error;
      });
    }
    return { state: 'pending' };
  };

  // --- deposits ------------------------------------------------------------------------------
  /** The cursor of the block before startHeight: where a scan without a cursor stands. */
  const startCursor = async () =>
    `${startHeight - 1}:${await rpc.blocks.getBlockHash(startHeight - 1)}`;

  const scanDeposits = async (cursor: string | null): Promise<DepositScan> => {
    scripts ??= watchList([...watched.keys()], network);
    const scan = await scanBitcoinDeposits(rpc.blocks, scripts, cursor, startHeight, depth);
    const needsStart = scan.cursor === null || scan.deposits.some((deposit) => deposit.next === '');
    const start = needsStart ? await startCursor() : '';
    return {
      deposits: scan.deposits.map((deposit) => ({
        ...deposit,
        walletId: watched.get(deposit.address) ?? null,
        next: deposit.next === '' ? start : deposit.next,
      })),
      cursor: scan.cursor ?? start,
    };
  };

  const depositInBlock = async (deposit: {
    readonly chainTxId: string;
    readonly block: { readonly hash: string; readonly height?: number };
  }): Promise<boolean> => {
    let height = deposit.block.height;
    if (height === undefined) {
      const header = await rpc.blockHeader(deposit.block.hash);
      if (header === null) return false;
      height = header.height;
    }
    if (height > (await rpc.blocks.getBlockCount())) return false;
    // A block's transactions are fixed by its hash: still on the best chain, still in it.
    return (await rpc.blocks.getBlockHash(height)) === deposit.block.hash;
  };

  return {
    chain: 'bitcoin',
    confirmations: depth,
    prepareWallet,
    build,
    broadcast,
    follow,
    bump,
    scanDeposits,
    depositInBlock,
    rpc,
    close: () => {
      rpc.close();
    },
  };
}
