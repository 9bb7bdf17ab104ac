// Public surface of the custody domain (issue 7): the custody app, its maps, states and
// record shapes (the signer service reads withdrawals and wallets from ledger entries), its
// parameters from governance, its limits, and the pure policy decisions.
export { custodyApp, custodyAppName } from './app.js';
export type {
  AddressRecord,
  ApprovalRule,
  Approval,
  AssetLimits,
  BalanceEntry,
  Balances,
  Curve,
  CustodyChain,
  DepositRecord,
  DepositState,
  HistoryEntry,
  HistoryKind,
  PlatformKey,
  PolicyChange,
  PolicyChangeRecord,
  PolicyChangeState,
  PolicyRecord,
  Principal,
  WalletAlert,
  WalletRecord,
  WhitelistEntry,
  WindowEntry,
  WithdrawalRecord,
  WithdrawalState,
} from './types.js';
export {
  addressesMap,
  approvalRules,
  balancesMap,
  curves,
  custodyChains,
  custodyMaps,
  depositStates,
  depositsMap,
  historyKinds,
  historyMap,
  idempotencyMap,
  indexMap,
  openWithdrawalStates,
  policiesMap,
  policyChangeStates,
  policyChangesMap,
  terminalWithdrawalStates,
  walletsMap,
  windowsMap,
  withdrawalStates,
  withdrawalsMap,
} from './types.js';
export type { ChainParams, CustodyParams } from './params.js';
export {
  checkCustodyParams,
  custodyParamsLocation,
  defaultCustodyParams,
  readCustodyParams,
} from './params.js';
export type { ApprovalRefusal, OverLimit } from './policy.js';
export {
  applyPolicyChange,
  approvalRefusal,
  inWindow,
  overLimits,
  policyChangeKinds,
  pruneWindow,
  whitelistCheck,
  windowSum,
} from './policy.js';
export { normalisePublicKey, verifyDigestSignature } from './keys.js';
export * as custodyLimits from './limits.js';
