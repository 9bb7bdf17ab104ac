// The chain-worker seam (issue 7): what the custody worker loop needs from one chain. The loop
// (src/custody/worker.ts) records every step on the ledger; a ChainWorker only talks to its
// chain: build the unsigned transaction and its digest, put the signatures in and broadcast,
// follow the transaction to its confirmation depth, and find transfers to custody addresses.
// The ledger-native chain (`coffer`, the token app) is the first; Ethereum and Bitcoin follow
// behind the same type.
import type { CustodyChain, WalletRecord, WithdrawalRecord } from '../types.js';

/**
 * The unsigned chain transaction (hex) and the 32-byte digests the keys sign (hex): one on coffer
 * and Ethereum, one per input on Bitcoin (at most digestsPerWithdrawalMax). Each key signs every
 * digest; signatures are kept aligned with the digests by index.
 */
export type BuiltTx = { readonly unsignedTx: string; readonly digests: readonly string[] };

export type ChainBlock = { readonly height: number; readonly hash: string };

/** Where a broadcast transaction stands on its chain. */
export type ChainTxStatus =
  | { readonly state: 'pending' }
  | {
      readonly state: 'confirmed';
      readonly block: ChainBlock;
      /** Blocks on top of and including the transaction's. */
      readonly confirmations: number;
    }
  | { readonly state: 'failed'; readonly reason: string };

/** A transfer to a custody address seen on the chain. */
export type SeenDeposit = {
  readonly chainTxId: string;
  readonly outputIndex: number;
  readonly address: string;
  /** The wallet the address belongs to, when the chain's addresses name it (coffer's do). */
  readonly walletId: string | null;
  readonly asset: string;
  readonly amount: string;
  readonly block: ChainBlock;
  readonly confirmations: number;
  /** The scan cursor just after this deposit. */
  readonly next: string;
};

export type DepositScan = {
  readonly deposits: readonly SeenDeposit[];
  /** Opaque position to scan on from; the same cursor returns the same deposits again. */
  readonly cursor: string;
};

export type ChainWorker = {
  readonly chain: CustodyChain;
  /** Blocks after which the chain does not reorganise in practice (coffer: 1, no reorgs). */
  readonly confirmations: number;
  /** The wallet's custody address on the chain, made ready to receive (idempotent). */
  readonly prepareWallet: (wallet: WalletRecord) => Promise<string>;
  /** Builds the unsigned transaction of an approved withdrawal. Pure in what it returns. */
  readonly build: (withdrawal: WithdrawalRecord, wallet: WalletRecord) => Promise<BuiltTx>;
  /**
   * Puts the m keys' signatures into the built transaction and broadcasts it; resolves with the
   * chain tx id, or a failure the chain reported (the funds did not move). `signatures` holds one
   * list per key (service, platform), each aligned with `withdrawal.digests`.
   */
  readonly broadcast: (
    withdrawal: WithdrawalRecord,
    wallet: WalletRecord,
    signatures: readonly (readonly string[])[],
  ) => Promise<{ readonly chainTxId: string } | { readonly failed: string }>;
  /** Where the broadcast transaction stands. */
  readonly follow: (chainTxId: string) => Promise<ChainTxStatus>;
  /**
   * A replacement of a broadcast withdrawal's transaction paying a higher fee (Bitcoin's
   * replace-by-fee), recorded with `rebuild` and signed again; null when none can be made now
   * (over the fee cap). Chains whose worker pays the fees itself (coffer, Ethereum) leave it out.
   */
  readonly bump?: (withdrawal: WithdrawalRecord, wallet: WalletRecord) => Promise<BuiltTx | null>;
  /**
   * Sends a stuck transaction of the worker's own again with a higher fee and the same effect
   * (Ethereum: the relayer's transaction, same nonce); the replacement's id, recorded with
   * `rebroadcast`; null when there is nothing to replace.
   */
  readonly unstick?: (chainTxId: string) => Promise<string | null>;
  /** Transfers to custody addresses from `cursor` on (null: from the start). */
  readonly scanDeposits: (cursor: string | null) => Promise<DepositScan>;
  /**
   * Whether a deposit reported below the depth is still in the block it was seen in; false once
   * a reorganisation took it out (the loop then reports `deposit_dropped`). Chains without
   * reorganisations (coffer) leave it out.
   */
  readonly depositInBlock?: (deposit: {
    readonly chainTxId: string;
    readonly block: ChainBlock;
  }) => Promise<boolean>;
};

/** A transaction's outcome as a node reports it (the client SDK's TxResult). */
export type LedgerTxResult = {
  readonly txId: string;
  readonly status: 'Unknown' | 'Pending' | 'Committed' | 'Invalid';
  readonly seqno?: number;
  readonly code?: string;
  readonly message?: string;
  readonly result?: unknown;
};

/**
 * What workers need of a ledger node: the client SDK's `Client` fits it (structurally, so the
 * custody domain does not import the SDK).
 */
export type LedgerPort = {
  readonly submit: (
    app: string,
    action: string,
    args: Readonly<Record<string, unknown>>,
    options?: { readonly wait?: 'none' | 'commit' },
  ) => Promise<LedgerTxResult>;
  readonly status: (
    txId: string,
    options?: { readonly wait?: 'none' | 'commit' },
  ) => Promise<LedgerTxResult>;
  readonly query: (
    app: string,
    query: string,
    args?: Readonly<Record<string, unknown>>,
  ) => Promise<unknown>;
  readonly receipt: (txId: string) => Promise<unknown>;
};
