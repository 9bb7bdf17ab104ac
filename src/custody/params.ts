// Custody parameters: the `custody` key of the consortium configuration (`public:gov.config`),
// set by `set_custody` proposals. Governance refuses a proposal these checks refuse (it calls
// checkCustodyParams), and the custody app checks again every time it reads the value: one it
// cannot use (a ledger written by an older version) stops every custody action with
// CUSTODY_E_PARAMS_INVALID (fail closed) instead of falling back to defaults. Without a
// governed configuration (a ledger without genesis) the defaults apply.
import { cofferError } from '../errors/index.js';
import {
  approverMspsMax,
  amountDigitsMax,
  confirmationsMax,
  tokensPerChainMax,
  policyChangeExpiryMsMax,
  policyChangeExpiryMsMin,
  policyQuorumMax,
  approvalsRequiredMax,
  withdrawalExpiryMsMax,
  withdrawalExpiryMsMin,
  workersPerChainMax,
} from './limits.js';
import { approvalRules, custodyChains, type ApprovalRule, type CustodyChain } from './types.js';

/** Where governance keeps the parameters (src/governance govConfigMap, key `custody`). */
export const custodyParamsLocation = { map: 'public:gov.config', key: 'custody' } as const;

export type ChainParams = {
  /** Confirmations after which a deposit is credited. */
  readonly confirmations: number;
  /** Chain worker identities, `<mspId>:<identityId>`: they build, broadcast and report. */
  readonly workers: readonly string[];
  /**
   * Largest fee, in base units, one withdrawal may pay the chain from the wallet (bitcoin:
   * satoshis; checked and reserved at `build`). '0' where wallets pay no fee (coffer; ethereum,
   * whose gas the worker's relayer pays).
   */
  readonly feeMax: string;
  /**
   * ethereum: the EIP-155 chain id Safe signatures are bound to (decimal); null: not set, and no
   * ethereum withdrawal can be built (a signature for the wrong chain could be replayed there).
   */
  readonly chainId: string | null;
  /** ethereum: the ERC-20 contract (0x + 40 lower-case hex) of each asset other than ETH. */
  readonly tokens: Readonly<Record<string, string>>;
};

/** The fields each chain's parameters may set beside confirmations and workers. */
const chainFields: Readonly<Record<CustodyChain, readonly string[]>> = {
  coffer: [],
  ethereum: ['chainId', 'tokens'],
  bitcoin: ['feeMax'],
};

export type CustodyParams = {
  /** Admin approvals a policy change needs (never the proposer's). */
  readonly policyQuorum: number;
  /** How approvals must differ (withdrawals and policy changes). */
  readonly approvalRule: ApprovalRule;
  /** MSPs whose admins may approve and reject; empty: any MSP's admins. */
  readonly approverMsps: readonly string[];
  /** MSPs whose clients may own wallets; empty: any MSP's. */
  readonly serviceMsps: readonly string[];
  /** From request to when anyone may expire an unsigned withdrawal. */
  readonly withdrawalExpiryMs: number;
  /** From proposal to when anyone may expire a policy change. */
  readonly policyChangeExpiryMs: number;
  /** k of a new wallet's policy. */
  readonly defaultApprovalsRequired: number;
  readonly chains: Readonly<Record<CustodyChain, ChainParams>>;
};

export const defaultCustodyParams: CustodyParams = {
  policyQuorum: 2,
  approvalRule: 'distinct-admins',
  approverMsps: [],
  serviceMsps: [],
  withdrawalExpiryMs: 24 * 3600 * 1000,
  policyChangeExpiryMs: 7 * 24 * 3600 * 1000,
  defaultApprovalsRequired: 1,
  chains: {
    coffer: { confirmations: 1, workers: [], feeMax: '0', chainId: null, tokens: {} },
    ethereum: { confirmations: 12, workers: [], feeMax: '0', chainId: null, tokens: {} },
    // 0.01 BTC: a 100-input withdrawal at 100 sat/vB stays under it.
    bitcoin: { confirmations: 6, workers: [], feeMax: '1000000', chainId: null, tokens: {} },
  },
};

const tokenAddressPattern = /^0x[0-9a-f]{40}$/;
const tokenAssetPattern = /^[A-Z][A-Z0-9]{0,11}$/;
const decimalPattern = new RegExp(`^(0|[1-9][0-9]{0,${amountDigitsMax - 1}})$`);
const chainIdPattern = /^[1-9][0-9]{0,19}$/;

const mspIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/;
const principalPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,255}:[0-9a-f]{64}$/;

function bad(field: string, what: string): never {
  throw cofferError(
    'CUSTODY_E_PARAMS_INVALID',
    `custody parameters: ${field} ${what}; fix it with a set_custody proposal`,
    { field },
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(value: Record<string, unknown>, keys: readonly string[], field: string): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) bad(`${field}.${key}`, `is not a field (expected ${keys.join(', ')})`);
  }
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    bad(field, `must be a whole number from ${min} to ${max}`);
  return value;
}

function list(value: unknown, field: string, pattern: RegExp, max: number): string[] {
  if (!Array.isArray(value)) bad(field, 'must be a list of strings');
  if (value.length > max) bad(field, `has ${value.length} entries; at most ${max}`);
  const seen = new Set<string>();
  return value.map((item: unknown, index) => {
    if (typeof item !== 'string' || !pattern.test(item))
      bad(`${field}[${index}]`, `must match ${String(pattern)}`);
    if (seen.has(item)) bad(`${field}[${index}]`, `repeats ${item}`);
    seen.add(item);
    return item;
  });
}

function text(value: unknown, field: string, pattern: RegExp, what: string): string {
  if (typeof value !== 'string' || !pattern.test(value)) bad(field, `must be ${what}`);
  return value;
}

function tokens(value: unknown, field: string): Record<string, string> {
  if (!isObject(value)) bad(field, 'must be a JSON object of asset symbol to token contract');
  const entries = Object.entries(value);
  if (entries.length > tokensPerChainMax)
    bad(field, `has ${entries.length} tokens; at most ${tokensPerChainMax}`);
  const result: Record<string, string> = {};
  for (const [asset, address] of entries) {
    if (!tokenAssetPattern.test(asset) || asset === 'ETH')
      bad(`${field}.${asset}`, 'must be an asset symbol other than ETH (A-Z, 0-9, up to 12)');
    result[asset] = text(
      address,
      `${field}.${asset}`,
      tokenAddressPattern,
      '0x and 40 lower-case hex',
    );
  }
  return result;
}

/**
 * Checks custody parameters (the JSON stored under `custody`) and fills in defaults. Throws
 * CUSTODY_E_PARAMS_INVALID naming the field. Governance may call it to refuse a bad
 * set_custody proposal before it is accepted.
 */
export function checkCustodyParams(value: unknown): CustodyParams {
  if (!isObject(value)) bad('custody', 'must be a JSON object');
  const base = defaultCustodyParams;
  onlyKeys(
    value,
    [
      'policyQuorum',
      'approvalRule',
      'approverMsps',
      'serviceMsps',
      'withdrawalExpiryMs',
      'policyChangeExpiryMs',
      'defaultApprovalsRequired',
      'chains',
    ],
    'custody',
  );
  const pick = <T>(key: string, check: (item: unknown, field: string) => T, fallback: T): T =>
    value[key] === undefined ? fallback : check(value[key], `custody.${key}`);
  const approvalRule = pick(
    'approvalRule',
    (item, field) => {
      if (typeof item !== 'string' || !(approvalRules as readonly string[]).includes(item))
        bad(field, `must be one of ${approvalRules.join(', ')}`);
      return item as ApprovalRule;
    },
    base.approvalRule,
  );
  const chainsValue = value['chains'] ?? {};
  if (!isObject(chainsValue)) bad('custody.chains', 'must be a JSON object keyed by chain');
  onlyKeys(chainsValue, custodyChains, 'custody.chains');
  const chains = {} as Record<CustodyChain, ChainParams>;
  for (const chain of custodyChains) {
    const field = `custody.chains.${chain}`;
    const item = chainsValue[chain] ?? {};
    if (!isObject(item)) bad(field, 'must be a JSON object');
    onlyKeys(item, ['confirmations', 'workers', 'feeMax', 'chainId', 'tokens'], field);
    const fallback = base.chains[chain];
    // A field of another chain is refused unless it holds the default the params query shows
    // for it (so the query's answer is itself a valid value).
    for (const key of ['feeMax', 'chainId', 'tokens'] as const) {
      if (item[key] === undefined || chainFields[chain].includes(key)) continue;
      if (JSON.stringify(item[key]) !== JSON.stringify(fallback[key]))
        bad(
          `${field}.${key}`,
          `does not apply to ${chain} (it is ${chainFields.ethereum.includes(key) ? 'ethereum' : 'bitcoin'}'s)`,
        );
    }
    chains[chain] = {
      confirmations:
        item['confirmations'] === undefined
          ? base.chains[chain].confirmations
          : integer(item['confirmations'], `${field}.confirmations`, 1, confirmationsMax),
      workers:
        item['workers'] === undefined
          ? base.chains[chain].workers
          : list(item['workers'], `${field}.workers`, principalPattern, workersPerChainMax),
      feeMax:
        item['feeMax'] === undefined
          ? fallback.feeMax
          : text(item['feeMax'], `${field}.feeMax`, decimalPattern, 'a decimal string'),
      chainId:
        item['chainId'] === undefined || item['chainId'] === null
          ? fallback.chainId
          : text(item['chainId'], `${field}.chainId`, chainIdPattern, 'a decimal string'),
      tokens:
        item['tokens'] === undefined ? fallback.tokens : tokens(item['tokens'], `${field}.tokens`),
    };
  }
  return {
    policyQuorum: pick(
      'policyQuorum',
      (item, field) => integer(item, field, 1, policyQuorumMax),
      base.policyQuorum,
    ),
    approvalRule,
    approverMsps: pick(
      'approverMsps',
      (item, field) => list(item, field, mspIdPattern, approverMspsMax),
      base.approverMsps,
    ),
    serviceMsps: pick(
      'serviceMsps',
      (item, field) => list(item, field, mspIdPattern, approverMspsMax),
      base.serviceMsps,
    ),
    withdrawalExpiryMs: pick(
      'withdrawalExpiryMs',
      (item, field) => integer(item, field, withdrawalExpiryMsMin, withdrawalExpiryMsMax),
      base.withdrawalExpiryMs,
    ),
    policyChangeExpiryMs: pick(
      'policyChangeExpiryMs',
      (item, field) => integer(item, field, policyChangeExpiryMsMin, policyChangeExpiryMsMax),
      base.policyChangeExpiryMs,
    ),
    defaultApprovalsRequired: pick(
      'defaultApprovalsRequired',
      (item, field) => integer(item, field, 1, approvalsRequiredMax),
      base.defaultApprovalsRequired,
    ),
    chains,
  };
}

/** The parameters in force: governance's `custody` value, or the defaults when there is none. */
export function readCustodyParams(
  readPublic: ((map: string, key: string) => string | undefined) | undefined,
): CustodyParams {
  const text = readPublic?.(custodyParamsLocation.map, custodyParamsLocation.key);
  if (text === undefined) return defaultCustodyParams;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return bad('custody', 'is not JSON');
  }
  return checkCustodyParams(value);
}
