// Policy decisions, pure: the rolling window, which limits a withdrawal goes over, whether an
// approval counts, and what a policy change does to a policy. The actions call these; the
// property tests compare them with naive references (test/custody/properties.test.ts).
import { cofferError } from '../errors/index.js';
import { invalidArgs, stringArg } from '../contracts/args.js';
import {
  amountArg,
  assetPattern,
  booleanArg,
  integerArg,
  normaliseAddress,
  optionalInteger,
  optionalText,
  schemas,
  type Args,
} from './args.js';
import {
  approvalsRequiredMax,
  assetsPerWalletMax,
  labelCharsMax,
  rollingWindowMs,
  whitelistDelayMsMax,
  whitelistEntriesMax,
} from './limits.js';
import type {
  ApprovalRule,
  AssetLimits,
  CustodyChain,
  PolicyChange,
  PolicyRecord,
  Principal,
  WindowEntry,
} from './types.js';

// --- rolling window ---------------------------------------------------------------------------

/** Whether a withdrawal requested at `time` still counts at `now` (the last 24 h, `now` excluded from the past end). */
export function inWindow(time: number, now: number): boolean {
  return now - time < rollingWindowMs;
}

/** The entries that still count at `now`. */
export function pruneWindow(entries: readonly WindowEntry[], now: number): WindowEntry[] {
  return entries.filter((entry) => inWindow(entry.time, now));
}

/** Sum of the asset's withdrawals that count at `now`. */
export function windowSum(entries: readonly WindowEntry[], asset: string, now: number): bigint {
  let sum = 0n;
  for (const entry of entries) {
    if (entry.asset === asset && inWindow(entry.time, now)) sum += BigInt(entry.amount);
  }
  return sum;
}

export type OverLimit = 'per_transaction' | 'rolling_24h';

/**
 * The limits a withdrawal of `amount` goes over, given what the window already holds. An asset
 * without limits has limits of zero: every withdrawal of it needs approvals (fail closed).
 */
export function overLimits(
  limits: AssetLimits | undefined,
  amount: bigint,
  alreadyInWindow: bigint,
): OverLimit[] {
  const perTransaction = BigInt(limits?.perTransaction ?? '0');
  const rolling = BigInt(limits?.rolling24h ?? '0');
  const over: OverLimit[] = [];
  if (amount > perTransaction) over.push('per_transaction');
  if (alreadyInWindow + amount > rolling) over.push('rolling_24h');
  return over;
}

// --- approvals --------------------------------------------------------------------------------

export type ApprovalRefusal =
  'CUSTODY_E_SELF_APPROVAL' | 'CUSTODY_E_ALREADY_APPROVED' | 'CUSTODY_E_SAME_ORG';

/**
 * Why `approver` may not add an approval (undefined: it counts). Never the requester; an admin
 * counts once; under `distinct-orgs` an organisation counts once. The caller checks first that
 * the approver is an admin it accepts.
 */
export function approvalRefusal(
  approvals: readonly Principal[],
  approver: Principal,
  requester: Principal,
  rule: ApprovalRule,
): ApprovalRefusal | undefined {
  if (approver.mspId === requester.mspId && approver.identityId === requester.identityId)
    return 'CUSTODY_E_SELF_APPROVAL';
  if (approvals.some((a) => a.mspId === approver.mspId && a.identityId === approver.identityId))
    return 'CUSTODY_E_ALREADY_APPROVED';
  if (rule === 'distinct-orgs' && approvals.some((a) => a.mspId === approver.mspId))
    return 'CUSTODY_E_SAME_ORG';
  return undefined;
}

export const approvalRefusalMessages: Readonly<Record<ApprovalRefusal, string>> = {
  CUSTODY_E_SELF_APPROVAL: 'the requester (or proposer) cannot approve it; ask another admin',
  CUSTODY_E_ALREADY_APPROVED: 'this admin has approved it already; each admin counts once',
  CUSTODY_E_SAME_ORG:
    'an admin of this organisation has approved it already; the distinct-orgs rule counts each organisation once',
};

// --- policies ---------------------------------------------------------------------------------

export function defaultPolicy(
  walletId: string,
  approvalsRequired: number,
  time: number,
): PolicyRecord {
  return {
    walletId,
    whitelistEnabled: true,
    approvalsRequired,
    limits: {},
    whitelist: [],
    updatedAt: time,
  };
}

export const policyChangeKinds = [
  'whitelist_add',
  'whitelist_remove',
  'set_limits',
  'set_approvals',
  'set_whitelist_enabled',
  'set_frozen',
] as const;

export const policyChangeSchema = {
  description: 'one policy change; `kind` says which fields it takes',
  oneOf: [
    {
      type: 'object',
      required: ['kind', 'address'],
      additionalProperties: false,
      properties: {
        kind: { const: 'whitelist_add' },
        address: schemas.address,
        label: schemas.label,
        delayMs: {
          type: 'integer',
          minimum: 0,
          maximum: whitelistDelayMsMax,
          description: 'the address takes effect this long after the change is applied',
        },
      },
    },
    {
      type: 'object',
      required: ['kind', 'address'],
      additionalProperties: false,
      properties: { kind: { const: 'whitelist_remove' }, address: schemas.address },
    },
    {
      type: 'object',
      required: ['kind', 'asset', 'perTransaction', 'rolling24h'],
      additionalProperties: false,
      properties: {
        kind: { const: 'set_limits' },
        asset: schemas.asset,
        perTransaction: schemas.amount,
        rolling24h: schemas.amount,
      },
    },
    {
      type: 'object',
      required: ['kind', 'approvalsRequired'],
      additionalProperties: false,
      properties: {
        kind: { const: 'set_approvals' },
        approvalsRequired: { type: 'integer', minimum: 1, maximum: approvalsRequiredMax },
      },
    },
    {
      type: 'object',
      required: ['kind', 'enabled'],
      additionalProperties: false,
      properties: { kind: { const: 'set_whitelist_enabled' }, enabled: { type: 'boolean' } },
    },
    {
      type: 'object',
      required: ['kind', 'frozen'],
      additionalProperties: false,
      properties: { kind: { const: 'set_frozen' }, frozen: { type: 'boolean' } },
    },
  ],
} as const;

/** Parses `args.change` for a wallet of `chain` (addresses normalised). */
export function parsePolicyChange(value: unknown, chain: CustodyChain): PolicyChange {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalidArgs('change', 'must be a JSON object with a kind');
  const change = value as Args;
  const kind = change['kind'];
  const at = (field: string): string => `change.${field}`;
  const nested = (fields: readonly string[]): void => {
    for (const key of Object.keys(change)) {
      if (!fields.includes(key))
        invalidArgs(at(key), `is not a field of ${String(kind)} (expected ${fields.join(', ')})`);
    }
  };
  switch (kind) {
    case 'whitelist_add':
      nested(['kind', 'address', 'label', 'delayMs']);
      return {
        kind,
        address: normaliseAddress(chain, change['address'], at('address')),
        label: optionalText(change, 'label', labelCharsMax),
        delayMs: optionalInteger(change, 'delayMs', 0, whitelistDelayMsMax) ?? 0,
      };
    case 'whitelist_remove':
      nested(['kind', 'address']);
      return { kind, address: normaliseAddress(chain, change['address'], at('address')) };
    case 'set_limits':
      nested(['kind', 'asset', 'perTransaction', 'rolling24h']);
      return {
        kind,
        asset: stringArg(change, 'asset', assetPattern, 12),
        perTransaction: amountArg(change, 'perTransaction', true).toString(),
        rolling24h: amountArg(change, 'rolling24h', true).toString(),
      };
    case 'set_approvals':
      nested(['kind', 'approvalsRequired']);
      return {
        kind,
        approvalsRequired: integerArg(change, 'approvalsRequired', 1, approvalsRequiredMax),
      };
    case 'set_whitelist_enabled':
      nested(['kind', 'enabled']);
      return { kind, enabled: booleanArg(change, 'enabled') };
    case 'set_frozen':
      nested(['kind', 'frozen']);
      return { kind, frozen: booleanArg(change, 'frozen') };
    default:
      return invalidArgs('change.kind', `must be one of ${policyChangeKinds.join(', ')}`);
  }
}

function notApplicable(what: string): never {
  throw cofferError('CUSTODY_E_POLICY_INVALID', what);
}

/**
 * The policy after `change` (applied at `time` by change `changeId`); throws
 * CUSTODY_E_POLICY_INVALID when it does not apply, CUSTODY_E_CAPACITY past a limit.
 * `set_frozen` leaves the policy as it is (it changes the wallet record).
 */
export function applyPolicyChange(
  policy: PolicyRecord,
  change: PolicyChange,
  time: number,
  changeId: string,
): PolicyRecord {
  switch (change.kind) {
    case 'whitelist_add': {
      if (policy.whitelist.some((entry) => entry.address === change.address))
        notApplicable(`${change.address} is on the whitelist already`);
      if (policy.whitelist.length >= whitelistEntriesMax) {
        throw cofferError(
          'CUSTODY_E_CAPACITY',
          `the whitelist holds ${whitelistEntriesMax} addresses (whitelistEntriesMax)`,
          { limit: 'whitelistEntriesMax', max: whitelistEntriesMax },
        );
      }
      const entry = {
        address: change.address,
        label: change.label,
        addedAt: time,
        effectiveAt: time + change.delayMs,
        changeId,
      };
      return { ...policy, whitelist: [...policy.whitelist, entry], updatedAt: time };
    }
    case 'whitelist_remove':
      if (!policy.whitelist.some((entry) => entry.address === change.address))
        notApplicable(`${change.address} is not on the whitelist`);
      return {
        ...policy,
        whitelist: policy.whitelist.filter((entry) => entry.address !== change.address),
        updatedAt: time,
      };
    case 'set_limits': {
      const assets = new Set([...Object.keys(policy.limits), change.asset]);
      if (assets.size > assetsPerWalletMax) {
        throw cofferError(
          'CUSTODY_E_CAPACITY',
          `the policy has limits for ${assetsPerWalletMax} assets (assetsPerWalletMax)`,
          { limit: 'assetsPerWalletMax', max: assetsPerWalletMax },
        );
      }
      return {
        ...policy,
        limits: {
          ...policy.limits,
          [change.asset]: { perTransaction: change.perTransaction, rolling24h: change.rolling24h },
        },
        updatedAt: time,
      };
    }
    case 'set_approvals':
      return { ...policy, approvalsRequired: change.approvalsRequired, updatedAt: time };
    case 'set_whitelist_enabled':
      return { ...policy, whitelistEnabled: change.enabled, updatedAt: time };
    case 'set_frozen':
      return policy;
  }
}

/** The whitelist entry in force for `address` at `now`, or why there is none. */
export function whitelistCheck(
  policy: PolicyRecord,
  address: string,
  now: number,
): { readonly ok: true } | { readonly ok: false; readonly effectiveAt: number | null } {
  if (!policy.whitelistEnabled) return { ok: true };
  const entry = policy.whitelist.find((item) => item.address === address);
  if (entry === undefined) return { ok: false, effectiveAt: null };
  if (entry.effectiveAt > now) return { ok: false, effectiveAt: entry.effectiveAt };
  return { ok: true };
}
