// What the custody app stores: map names, state names and record shapes. Records are JSON
// values in the KV store; absent optional fields are null so that every record of a kind has
// the same keys (the signer service and the API read them).

// --- maps -------------------------------------------------------------------------------------
// Public maps are in clear in the ledger: the isolated signer reads withdrawals and wallets
// from receipts. Everything else is private (encrypted with the ledger secret), decision 0021.

/** Withdrawal id → WithdrawalRecord (THE SIGNER CONTRACT: keep the shape). */
export const withdrawalsMap = 'public:custody.withdrawals';
/** Wallet id → WalletRecord (the signer reads the platform key from here too). */
export const walletsMap = 'public:custody.wallets';
/** Wallet id → PolicyRecord. */
export const policiesMap = 'custody.policies';
/** Policy change id → PolicyChangeRecord. */
export const policyChangesMap = 'custody.policy-changes';
/** Wallet id → Balances. */
export const balancesMap = 'custody.balances';
/** Wallet id → WindowEntry[] (withdrawals inside the rolling window, per wallet). */
export const windowsMap = 'custody.windows';
/** `<chain>/<address>` → AddressRecord. */
export const addressesMap = 'custody.addresses';
/** `<chain>/<chainTxId>/<outputIndex>` → DepositRecord. */
export const depositsMap = 'custody.deposits';
/** `<mspId>:<identityId>/<idempotencyKey>` → withdrawal id. */
export const idempotencyMap = 'custody.idempotency';
/** Paged history lists: `<kind>/<id>` → count, `<kind>/<id>/<page>` → HistoryEntry[]. */
export const historyMap = 'custody.history';
/** Indexes: wallets of a service, paged logs per wallet, open withdrawals per chain and state. */
export const indexMap = 'custody.index';

export const custodyMaps = [
  withdrawalsMap,
  walletsMap,
  policiesMap,
  policyChangesMap,
  balancesMap,
  windowsMap,
  addressesMap,
  depositsMap,
  idempotencyMap,
  historyMap,
  indexMap,
] as const;

// --- names ------------------------------------------------------------------------------------

/** `coffer` is the ledger-native token chain; `ethereum` (Safe) and `bitcoin` (P2WSH) are real chains. */
export const custodyChains = ['coffer', 'ethereum', 'bitcoin'] as const;
export type CustodyChain = (typeof custodyChains)[number];

export const curves = ['secp256k1', 'P-256'] as const;
export type Curve = (typeof curves)[number];

/** Every state of a withdrawal, in the order of the happy path, then the other ends. */
export const withdrawalStates = [
  'requested',
  'pending_approval',
  'approved',
  'built',
  'service_signed',
  'platform_signed',
  'broadcast',
  'confirmed',
  'failed',
  'rejected',
  'expired',
] as const;
export type WithdrawalState = (typeof withdrawalStates)[number];

export const terminalWithdrawalStates: readonly WithdrawalState[] = [
  'confirmed',
  'failed',
  'rejected',
  'expired',
];
/** States a withdrawal rests in between transactions that are not terminal. */
export const openWithdrawalStates: readonly WithdrawalState[] = [
  'pending_approval',
  'approved',
  'built',
  'service_signed',
  'platform_signed',
  'broadcast',
];

export const depositStates = ['seen', 'credited', 'dropped', 'reversed'] as const;
export type DepositState = (typeof depositStates)[number];

export const policyChangeStates = ['pending', 'applied', 'rejected', 'expired'] as const;
export type PolicyChangeState = (typeof policyChangeStates)[number];

/** How k approvals must differ: by admin identity (default) or also by organisation (MSP). */
export const approvalRules = ['distinct-admins', 'distinct-orgs'] as const;
export type ApprovalRule = (typeof approvalRules)[number];

export const historyKinds = ['wallet', 'withdrawal', 'deposit', 'policy'] as const;
export type HistoryKind = (typeof historyKinds)[number];

// --- records ----------------------------------------------------------------------------------

/** An MSP identity: a service, an admin or a worker. */
export type Principal = { readonly mspId: string; readonly identityId: string };

/** The platform's key on the HSM signer: its id there and its public key. */
export type PlatformKey = {
  readonly keyId: string;
  /** SEC1 uncompressed, lower-case hex (65 bytes, 04‖x‖y). */
  readonly publicKey: string;
  readonly curve: Curve;
};

export type WalletAlert = {
  readonly kind: 'reorg_beyond_depth';
  readonly depositId: string;
  readonly amount: string;
  readonly asset: string;
  /** What the reversal could not take from the balance (kept as the balance's deficit). */
  readonly shortfall: string;
  readonly txId: string;
  readonly time: number;
};

export type WalletRecord = {
  readonly id: string;
  readonly chain: CustodyChain;
  readonly label: string | null;
  readonly owner: Principal;
  readonly curve: Curve;
  /** m-of-n: 2-of-3 (offline, service, platform). */
  readonly threshold: { readonly m: number; readonly n: number };
  readonly keys: {
    /** SEC1 uncompressed, lower-case hex. */
    readonly offline: string;
    readonly service: string;
    readonly platform: PlatformKey;
  };
  /** A frozen wallet takes no new withdrawal and moves none before the platform signs. */
  readonly frozen: boolean;
  readonly alerts: readonly WalletAlert[];
  readonly createdAt: number;
  readonly createdTx: string;
  readonly updatedAt: number;
};

export type Approval = Principal & { readonly time: number; readonly txId: string };

export type WithdrawalRecord = {
  /** The txId of the request transaction. */
  readonly id: string;
  readonly walletId: string;
  readonly chain: CustodyChain;
  readonly asset: string;
  /** Decimal integer, in the asset's base unit. */
  readonly amount: string;
  readonly destination: string;
  readonly memo: string | null;
  readonly idempotencyKey: string;
  readonly requestedBy: Principal;
  readonly requestedAt: number;
  /** After this ledger time, anyone may expire it (until the platform signs). */
  readonly expiresAt: number;
  readonly state: WithdrawalState;
  /** Why approvals are needed: the limits the request went over (empty: none needed). */
  readonly overLimit: readonly ('per_transaction' | 'rolling_24h')[];
  readonly approvalsRequired: number;
  readonly approvalRule: ApprovalRule;
  readonly approvals: readonly Approval[];
  readonly unsignedTx: string | null;
  /**
   * Lower-case hex of the 32-byte digests the keys sign, from `built` on: one on coffer and
   * Ethereum, one per input on Bitcoin.
   */
  readonly digests: readonly string[] | null;
  /** The fee the chain takes from the wallet (base units of the asset), from `built` on. */
  readonly fee: string | null;
  /** The service key's signatures, aligned with `digests`. */
  readonly serviceSignatures: readonly string[] | null;
  /** The platform (HSM) key's signatures, aligned with `digests`. */
  readonly platformSignatures: readonly string[] | null;
  readonly platformKey: PlatformKey;
  readonly chainTxId: string | null;
  /**
   * Earlier broadcasts this one replaces (bitcoin fee bumps, `rebuild`), oldest first: any of
   * them may still be the one that confirms, so a rebuilt withdrawal is never rejected or expired.
   */
  readonly replaced: readonly { readonly chainTxId: string; readonly fee: string }[];
  readonly block: { readonly height: number; readonly hash: string } | null;
  /** Who ended it and why (reject, fail, expire). */
  readonly ended: {
    readonly by: string;
    readonly reason: string | null;
    readonly time: number;
  } | null;
  readonly updatedAt: number;
};

export type WhitelistEntry = {
  readonly address: string;
  readonly label: string | null;
  readonly addedAt: number;
  /** Ledger time from which withdrawals may go to it. */
  readonly effectiveAt: number;
  /** The policy change that added it ('governance' changes have their txId). */
  readonly changeId: string;
};

export type AssetLimits = {
  /** Largest amount one withdrawal may have without approvals. */
  readonly perTransaction: string;
  /** Largest sum of withdrawals in 24 h of ledger time without approvals. */
  readonly rolling24h: string;
};

export type PolicyRecord = {
  readonly walletId: string;
  readonly whitelistEnabled: boolean;
  /** k: admin approvals a withdrawal above a limit waits for. */
  readonly approvalsRequired: number;
  /** Per asset; an asset without limits needs approvals for every withdrawal. */
  readonly limits: Readonly<Record<string, AssetLimits>>;
  readonly whitelist: readonly WhitelistEntry[];
  readonly updatedAt: number;
};

export type PolicyChange =
  | {
      readonly kind: 'whitelist_add';
      readonly address: string;
      readonly label: string | null;
      readonly delayMs: number;
    }
  | { readonly kind: 'whitelist_remove'; readonly address: string }
  | {
      readonly kind: 'set_limits';
      readonly asset: string;
      readonly perTransaction: string;
      readonly rolling24h: string;
    }
  | { readonly kind: 'set_approvals'; readonly approvalsRequired: number }
  | { readonly kind: 'set_whitelist_enabled'; readonly enabled: boolean }
  | { readonly kind: 'set_frozen'; readonly frozen: boolean };

export type PolicyChangeRecord = {
  /** The txId of the propose transaction. */
  readonly id: string;
  readonly walletId: string;
  readonly change: PolicyChange;
  readonly state: PolicyChangeState;
  readonly proposedBy: Principal;
  readonly proposedAt: number;
  readonly expiresAt: number;
  /** Admin approvals it needs (the `policyQuorum` parameter when proposed). */
  readonly quorum: number;
  readonly approvalRule: ApprovalRule;
  readonly approvals: readonly Approval[];
  readonly ended: {
    readonly by: string;
    readonly reason: string | null;
    readonly time: number;
  } | null;
  readonly updatedAt: number;
};

export type BalanceEntry = {
  /** What the wallet holds on the chain, as credited. */
  readonly total: string;
  /** Held by withdrawals that are not over yet. */
  readonly reserved: string;
  /** What a reversal beyond depth could not take back; later credits pay it first. */
  readonly deficit: string;
};
export type Balances = Readonly<Record<string, BalanceEntry>>;

export type WindowEntry = {
  readonly withdrawalId: string;
  readonly asset: string;
  readonly amount: string;
  readonly time: number;
};

export type AddressRecord = {
  readonly chain: CustodyChain;
  readonly address: string;
  readonly walletId: string;
  /** The service's own account (customer, sub-account) this address belongs to. */
  readonly account: string | null;
  /** Derivation path (BIP-32) when the address was derived from the wallet keys. */
  readonly path: string | null;
  readonly addedAt: number;
  readonly txId: string;
  readonly addedBy: string;
};

export type DepositRecord = {
  /** `<chain>/<chainTxId>/<outputIndex>`. */
  readonly id: string;
  readonly chain: CustodyChain;
  readonly chainTxId: string;
  readonly outputIndex: number;
  readonly walletId: string;
  readonly address: string;
  readonly account: string | null;
  readonly asset: string;
  readonly amount: string;
  readonly block: { readonly height: number; readonly hash: string };
  readonly confirmations: number;
  /** The chain's depth when the deposit was seen (from the custody parameters). */
  readonly confirmationsRequired: number;
  readonly state: DepositState;
  readonly seenAt: number;
  readonly creditedAt: number | null;
  /** Set when a credited deposit was dropped by a reorganisation deeper than the depth. */
  readonly reorgBeyondDepth: boolean;
  readonly updatedAt: number;
};

export type HistoryEntry = {
  readonly txId: string;
  readonly action: string;
  /** The object's state after the step. */
  readonly state: string;
  readonly time: number;
  /** `<mspId>:<identityId>`, or `governance`. */
  readonly by: string;
};
