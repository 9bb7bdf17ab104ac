// Limits of the custody app (STYLE.md 5). Not configurable per node: a limit decides whether a
// transaction is valid, so every node applies the same ones. Governance tunes the custody
// parameters (params.ts) only inside these bounds.
import assert from 'node:assert/strict';

// --- collections ------------------------------------------------------------------------------

/** Wallets one service identity may own. */
export const walletsPerServiceMax: number = 1000;
/** Wallets of one chain, in creation order (what its workers prepare and watch). */
export const walletsPerChainMax: number = 100_000_000;
/** Deposit addresses registered for one wallet (kept in pages, never one big value). */
export const addressesPerWalletMax: number = 1_000_000;
/** Withdrawals one wallet may ever have (its paged log). */
export const withdrawalsPerWalletMax: number = 100_000_000;
/** Deposits one wallet may ever have (its paged log). */
export const depositsPerWalletMax: number = 100_000_000;
/** Destination whitelist entries of one wallet. */
export const whitelistEntriesMax: number = 1000;
/** Assets with a balance or limits in one wallet. */
export const assetsPerWalletMax: number = 64;
/** Withdrawals of one wallet inside one rolling window (what the rolling limit sums over). */
export const windowEntriesMax: number = 1000;
/** Withdrawals of one chain in one open (non-terminal) state, across wallets. */
export const openWithdrawalsPerStateMax: number = 1000;
/** Policy changes waiting for approval, across wallets. */
export const pendingPolicyChangesMax: number = 1000;
/** Alerts (reorganisations beyond depth) kept on one wallet record. */
export const alertsPerWalletMax: number = 100;
/** History entries of one object (wallet, withdrawal, deposit, policy change). */
export const historyEntriesPerObjectMax: number = 100_000;
/** Entries in one stored page of a paged list (history, withdrawals, deposits, addresses). */
export const pageEntriesMax: number = 100;
/** Items one query returns. */
export const queryItemsMax: number = 100;
/** Entries one query looks at while filtering (a filtered page may come back short). */
export const queryScanMax: number = 1000;

// --- approvals and parameters -------------------------------------------------------------

/** Admin approvals a wallet policy may require above its limits (k). */
export const approvalsRequiredMax: number = 16;
/** Admin approvals a policy change may require (the `policyQuorum` parameter). */
export const policyQuorumMax: number = 16;
/** MSPs in the `approverMsps` parameter. */
export const approverMspsMax: number = 64;
/** Chain worker identities per chain in the `chains.<chain>.workers` parameter. */
export const workersPerChainMax: number = 16;
/** Confirmation depth a chain may require. */
export const confirmationsMax: number = 10_000;
/** ERC-20 contracts the ethereum chain's parameters may name. */
export const tokensPerChainMax: number = 64;

// --- time -------------------------------------------------------------------------------------

/** The rolling window of the rolling limit: 24 hours of ledger time (issue 7). */
export const rollingWindowMs: number = 24 * 3600 * 1000;
export const withdrawalExpiryMsMin: number = 60 * 1000;
export const withdrawalExpiryMsMax: number = 30 * 24 * 3600 * 1000;
export const policyChangeExpiryMsMin: number = 60 * 1000;
export const policyChangeExpiryMsMax: number = 90 * 24 * 3600 * 1000;
/** Longest delay before a whitelisted address takes effect. */
export const whitelistDelayMsMax: number = 30 * 24 * 3600 * 1000;

// --- sizes ------------------------------------------------------------------------------------

export const labelCharsMax: number = 128;
export const accountCharsMax: number = 128;
export const derivationPathCharsMax: number = 128;
export const memoCharsMax: number = 256;
export const reasonCharsMax: number = 512;
export const idempotencyKeyCharsMax: number = 128;
/** coffer accounts are `<mspId>:<identityId>` (token app: up to 321 characters). */
export const addressCharsMax: number = 321;
export const chainTxIdCharsMax: number = 128;
export const keyIdCharsMax: number = 128;
/** Hex characters of an unsigned chain transaction (64 KiB of bytes). */
export const unsignedTxHexCharsMax: number = 2 * 64 * 1024;
/** Hex characters of a signature: DER ECDSA of a 256-bit curve is at most 72 bytes. */
export const signatureHexCharsMax: number = 2 * 72;
/**
 * Digests one withdrawal's keys sign: one per input on Bitcoin (the Bitcoin worker selects at most
 * this many coins). Each key's signatures of them, with the withdrawal's other fields, must fit
 * one ledger request (64 KiB).
 */
export const digestsPerWithdrawalMax: number = 100;
/** Fee bumps (`rebuild`) one withdrawal may have. */
export const rebuildsPerWithdrawalMax: number = 10;
/** Decimal digits of an amount (2^128 - 1 has 39). */
export const amountDigitsMax: number = 39;

assert(
  digestsPerWithdrawalMax * (signatureHexCharsMax + 3) <= 32 * 1024,
  "one key's signatures of a withdrawal fit half a ledger request",
);
assert(queryItemsMax <= queryScanMax, 'a query can fill a page from what it scans');
assert(pageEntriesMax <= queryScanMax, 'a query scans at least one stored page');
assert(historyEntriesPerObjectMax % pageEntriesMax === 0, 'history ends on a page boundary');
assert(withdrawalExpiryMsMin < withdrawalExpiryMsMax);
assert(policyChangeExpiryMsMin < policyChangeExpiryMsMax);
