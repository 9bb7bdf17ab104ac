// Pure helpers of the custody pages: routes, words for states and actions, amounts, the
// withdrawal timeline, and who may approve or reject what (the same rules as the custody app's
// actions, src/custody/withdrawals.ts and policy-actions.ts, so a button says why it is off
// before the ledger would refuse). No DOM here: test/console/custody-model.test.ts runs them.
import {
  historyKinds,
  withdrawalStates,
  type ApprovalRule,
  type HistoryEntry,
  type HistoryKind,
  type PolicyChange,
  type PolicyChangeRecord,
  type Principal,
  type WithdrawalRecord,
  type WithdrawalState,
} from '../../../../src/custody/types.js';

export type {
  AddressRecord,
  Approval,
  DepositRecord,
  HistoryEntry,
  HistoryKind,
  PolicyChange,
  PolicyChangeRecord,
  PolicyRecord,
  Principal,
  WalletRecord,
  WithdrawalRecord,
  WithdrawalState,
} from '../../../../src/custody/types.js';
export { historyKinds, withdrawalStates };

/** Who the page acts as: what `/v1/whoami` answers. */
export type Viewer = {
  readonly mspId: string;
  readonly identityId: string;
  readonly role: string | null;
  readonly isAdmin: boolean;
};

/** The custody parameters the pages need (`GET /v1/custody/params`). */
export type ApprovalParams = {
  readonly approverMsps: readonly string[];
  readonly approvalRule: ApprovalRule;
  readonly policyQuorum: number;
};

// --- routes -----------------------------------------------------------------------------------

/** Filter values of the withdrawals list that mean "no filter". */
export const anyWallet = 'all';
export const anyState = 'any';

export type CustodyRoute =
  | { readonly page: 'wallets' }
  | { readonly page: 'wallet'; readonly id: string }
  | { readonly page: 'withdrawals'; readonly wallet: string; readonly state: string }
  | { readonly page: 'withdrawal'; readonly id: string }
  | { readonly page: 'approvals' }
  | { readonly page: 'policy' }
  | { readonly page: 'history'; readonly kind: HistoryKind; readonly id: string }
  | { readonly page: 'unknown'; readonly path: string };

/**
 * `#/custody/<rest>`: wallets, wallets/<id>, withdrawals[/<wallet|all>[/<state|any>]],
 * withdrawals/<id> is not used (ids would clash with filters): one withdrawal is
 * withdrawal/<id>; approvals; policy; history/<kind>/<id> (a deposit id, with its slashes, is
 * one encoded part).
 */
export function parseCustodyRoute(route: readonly string[]): CustodyRoute {
  const [head, first, second, ...rest] = route;
  const unknown = { page: 'unknown', path: route.join('/') } as const;
  switch (head) {
    case undefined:
    case 'wallets':
      if (first === undefined) return { page: 'wallets' };
      return second === undefined ? { page: 'wallet', id: first } : unknown;
    case 'withdrawals': {
      if (rest.length > 0) return unknown;
      const state = second ?? anyState;
      if (state !== anyState && !(withdrawalStates as readonly string[]).includes(state))
        return unknown;
      return { page: 'withdrawals', wallet: first ?? anyWallet, state };
    }
    case 'withdrawal':
      return first !== undefined && second === undefined
        ? { page: 'withdrawal', id: first }
        : unknown;
    case 'approvals':
      return first === undefined ? { page: 'approvals' } : unknown;
    case 'policy':
      return first === undefined ? { page: 'policy' } : unknown;
    case 'history': {
      if (first === undefined || !(historyKinds as readonly string[]).includes(first))
        return unknown;
      const id = [second, ...rest].filter((part) => part !== undefined).join('/');
      return id === '' ? unknown : { page: 'history', kind: first as HistoryKind, id };
    }
    default:
      return unknown;
  }
}

// --- words ------------------------------------------------------------------------------------

/** `pending_approval` → `pending approval`. */
export function stateWords(state: string): string {
  return state.replace(/_/g, ' ');
}

/** Whole numbers of an asset's base unit with thousands separators (amounts are decimal strings). */
export function formatAmount(amount: string): string {
  if (!/^-?\d+$/.test(amount)) return amount;
  const negative = amount.startsWith('-');
  const digits = negative ? amount.slice(1) : amount;
  const grouped = digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return negative ? `-${grouped}` : grouped;
}

export function principalKey(principal: Principal): string {
  return `${principal.mspId}:${principal.identityId}`;
}

export function samePrincipal(a: Principal, b: Principal): boolean {
  return a.mspId === b.mspId && a.identityId === b.identityId;
}

/** `Org1MSP:3fa2…` as `Org1MSP · 3fa2c1d0`, and `you` when it is the viewer. */
export function whoText(by: string, viewer?: Viewer): string {
  if (by === 'governance') return 'governance (accepted proposal)';
  const colon = by.indexOf(':');
  if (colon < 0) return by;
  const mspId = by.slice(0, colon);
  const identityId = by.slice(colon + 1);
  const you = viewer !== undefined && viewer.mspId === mspId && viewer.identityId === identityId;
  return `${mspId} · ${identityId.slice(0, 8)}${you ? ' (you)' : ''}`;
}

export function describePolicyChange(change: PolicyChange): string {
  switch (change.kind) {
    case 'whitelist_add':
      return `Whitelist ${change.address}${change.label === null ? '' : ` (${change.label})`}${
        change.delayMs > 0 ? `, in force ${durationText(change.delayMs)} after it applies` : ''
      }`;
    case 'whitelist_remove':
      return `Remove ${change.address} from the whitelist`;
    case 'set_limits':
      return `Limits for ${change.asset}: ${formatAmount(change.perTransaction)} per withdrawal, ${formatAmount(change.rolling24h)} per 24 h`;
    case 'set_approvals':
      return `Withdrawals over a limit need ${change.approvalsRequired} admin approval${change.approvalsRequired === 1 ? '' : 's'}`;
    case 'set_whitelist_enabled':
      return change.enabled ? 'Turn the whitelist on' : 'Turn the whitelist off';
    case 'set_frozen':
      return change.frozen ? 'Freeze the wallet' : 'Unfreeze the wallet';
  }
}

export function policyChangeTitle(kind: PolicyChange['kind']): string {
  return {
    whitelist_add: 'Whitelist addition',
    whitelist_remove: 'Whitelist removal',
    set_limits: 'Limits',
    set_approvals: 'Approvals required',
    set_whitelist_enabled: 'Whitelist on/off',
    set_frozen: 'Freeze',
  }[kind];
}

export function durationText(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

// --- the withdrawal timeline ------------------------------------------------------------------

/** The happy path a withdrawal walks (pending_approval only when it went over a limit). */
export const happyPath: readonly WithdrawalState[] = [
  'requested',
  'pending_approval',
  'approved',
  'built',
  'service_signed',
  'platform_signed',
  'broadcast',
  'confirmed',
];

const endedStates: readonly string[] = ['failed', 'rejected', 'expired'];

export function isTerminal(state: string): boolean {
  return state === 'confirmed' || endedStates.includes(state);
}

/** One step of the timeline: done (with its transaction), the state it rests in, or ahead. */
export type TimelineStep = {
  readonly key: string;
  readonly state: string;
  readonly title: string;
  readonly status: 'done' | 'current' | 'ended' | 'future';
  readonly txId?: string;
  readonly time?: number;
  readonly by?: string;
};

const futureTitles: Readonly<Record<string, string>> = {
  pending_approval: 'Admin approvals',
  approved: 'Approved',
  built: 'Built by the chain worker',
  service_signed: 'Signed with the service key',
  platform_signed: 'Signed with the platform key (HSM)',
  broadcast: 'Broadcast to the chain',
  confirmed: 'Confirmed on the chain',
};

function stepTitle(entry: HistoryEntry, record: WithdrawalRecord, approvalsSoFar: number): string {
  const k = record.approvalsRequired;
  switch (entry.action) {
    case 'request':
      return 'Requested by the service';
    case 'policy':
      return entry.state === 'pending_approval'
        ? `Over the ${record.overLimit.map(stateWords).join(' and ')} limit: waits for ${k} admin approval${k === 1 ? '' : 's'}`
        : 'Within the limits: approved without admins';
    case 'approve':
      return entry.state === 'approved'
        ? `Approved by an admin (${approvalsSoFar} of ${k}): approved`
        : `Approved by an admin (${approvalsSoFar} of ${k})`;
    case 'reject':
      return 'Rejected';
    case 'build':
      return 'Built: unsigned transaction and digests recorded';
    case 'rebuild':
      return 'Rebuilt with a higher fee';
    case 'service_sign':
      return 'Signed with the service key';
    case 'platform_sign':
      return 'Signed with the platform key (HSM)';
    case 'broadcast':
      return 'Broadcast to the chain';
    case 'rebroadcast':
      return 'Broadcast again with a higher fee';
    case 'confirm':
      return 'Confirmed on the chain';
    case 'fail':
      return 'Failed on the chain side';
    case 'expire':
      return 'Expired';
    default:
      return stateWords(entry.action);
  }
}

/**
 * Every state the withdrawal went through (from its audit history, oldest first: one step per
 * transaction, with who and when), then the states still ahead on the happy path. Without the
 * history (a caller who may not read it), the record alone: the request and the approvals,
 * then the state it is in.
 */
export function withdrawalTimeline(
  record: WithdrawalRecord,
  history: readonly HistoryEntry[] | undefined,
): TimelineStep[] {
  const steps: TimelineStep[] = [];
  if (history !== undefined && history.length > 0) {
    let approvals = 0;
    history.forEach((entry, index) => {
      if (entry.action === 'approve') approvals += 1;
      steps.push({
        key: `${entry.txId}/${index}`,
        state: entry.state,
        title: stepTitle(entry, record, approvals),
        status: 'done',
        txId: entry.txId,
        time: entry.time,
        by: entry.by,
      });
    });
  } else {
    steps.push({
      key: 'requested',
      state: 'requested',
      title: 'Requested by the service',
      status: 'done',
      txId: record.id,
      time: record.requestedAt,
      by: principalKey(record.requestedBy),
    });
    record.approvals.forEach((approval, index) => {
      steps.push({
        key: `approval/${index}`,
        state: 'pending_approval',
        title: `Approved by an admin (${index + 1} of ${record.approvalsRequired})`,
        status: 'done',
        txId: approval.txId,
        time: approval.time,
        by: principalKey(approval),
      });
    });
    if (record.state !== 'requested') {
      steps.push({
        key: `state/${record.state}`,
        state: record.state,
        title: futureTitles[record.state] ?? stateWords(record.state),
        status: 'done',
        time: record.updatedAt,
      });
    }
  }
  const last = steps.length - 1;
  const lastStep = steps[last];
  if (lastStep !== undefined) {
    steps[last] = {
      ...lastStep,
      status: endedStates.includes(record.state)
        ? 'ended'
        : record.state === 'confirmed'
          ? 'done'
          : 'current',
    };
  }
  if (isTerminal(record.state)) return steps;
  const at = happyPath.indexOf(record.state);
  for (const state of happyPath.slice(at + 1)) {
    if (state === 'pending_approval' && record.approvalsRequired === 0) continue;
    steps.push({
      key: `future/${state}`,
      state,
      title: futureTitles[state] ?? state,
      status: 'future',
    });
  }
  return steps;
}

/** `k of n` approvals, e.g. `1 of 2`. */
export function approvalsText(have: number, need: number): string {
  return `${have} of ${need}`;
}

// --- who may do what --------------------------------------------------------------------------

/** An MSP admin the parameters let approve (any MSP when approverMsps is empty). */
export function isApprover(viewer: Viewer, params: ApprovalParams | undefined): boolean {
  if (!viewer.isAdmin) return false;
  return (
    params === undefined ||
    params.approverMsps.length === 0 ||
    params.approverMsps.includes(viewer.mspId)
  );
}

function roleWords(viewer: Viewer): string {
  return viewer.isAdmin ? 'an admin' : `a ${viewer.role ?? 'member'} identity`;
}

/** Why the viewer's approval would not count (undefined: it would), as the app decides. */
function approvalRefusal(
  viewer: Viewer,
  params: ApprovalParams | undefined,
  what: 'withdrawal' | 'policy change',
  author: Principal,
  approvals: readonly Principal[],
  rule: ApprovalRule,
): string | undefined {
  if (!viewer.isAdmin)
    return `Only MSP admins approve a ${what}; you are signed in as ${roleWords(viewer)} of ${viewer.mspId}.`;
  if (samePrincipal(viewer, author))
    return `You ${what === 'withdrawal' ? 'requested' : 'proposed'} it; another admin must approve it.`;
  if (!isApprover(viewer, params))
    return `The custody parameters let admins of ${params?.approverMsps.join(', ') ?? ''} approve, not ${viewer.mspId}.`;
  if (approvals.some((approval) => samePrincipal(approval, viewer)))
    return 'You approved it already; each admin counts once.';
  if (rule === 'distinct-orgs' && approvals.some((approval) => approval.mspId === viewer.mspId))
    return `An admin of ${viewer.mspId} approved it already; the distinct-orgs rule counts each organisation once.`;
  return undefined;
}

/** Why the viewer may not approve this withdrawal now (undefined: they may). */
export function withdrawalApproveBlocker(
  record: WithdrawalRecord,
  viewer: Viewer,
  params: ApprovalParams | undefined,
  now: number,
): string | undefined {
  if (record.state !== 'pending_approval')
    return `It is ${stateWords(record.state)}; only a withdrawal pending approval takes approvals.`;
  const refusal = approvalRefusal(
    viewer,
    params,
    'withdrawal',
    record.requestedBy,
    record.approvals,
    record.approvalRule,
  );
  if (refusal !== undefined) return refusal;
  if (now >= record.expiresAt) return 'It has expired; it can only be expired now.';
  return undefined;
}

const rejectableStates: readonly string[] = [
  'pending_approval',
  'approved',
  'built',
  'service_signed',
];

/** Why the viewer may not reject (or, as its requester, cancel) this withdrawal now. */
export function withdrawalRejectBlocker(
  record: WithdrawalRecord,
  viewer: Viewer,
  params: ApprovalParams | undefined,
): string | undefined {
  if (!rejectableStates.includes(record.state))
    return `It is ${stateWords(record.state)}; a withdrawal can be rejected only before the platform signs it.`;
  if (record.replaced.length > 0)
    return 'It was broadcast once and is being rebuilt; it ends confirmed or failed.';
  if (samePrincipal(viewer, record.requestedBy)) return undefined;
  if (!isApprover(viewer, params))
    return `Only MSP admins (or the requesting service, to cancel) reject a withdrawal; you are ${roleWords(viewer)} of ${viewer.mspId}.`;
  return undefined;
}

/** Why the viewer may not approve this policy change now. */
export function policyApproveBlocker(
  change: PolicyChangeRecord,
  viewer: Viewer,
  params: ApprovalParams | undefined,
  now: number,
): string | undefined {
  if (change.state !== 'pending')
    return `It is ${change.state}; only a pending change takes approvals.`;
  const refusal = approvalRefusal(
    viewer,
    params,
    'policy change',
    change.proposedBy,
    change.approvals,
    change.approvalRule,
  );
  if (refusal !== undefined) return refusal;
  if (now >= change.expiresAt) return 'It has expired; propose it again.';
  return undefined;
}

/** Why the viewer may not reject (or, as its proposer, withdraw) this policy change now. */
export function policyRejectBlocker(
  change: PolicyChangeRecord,
  viewer: Viewer,
  params: ApprovalParams | undefined,
): string | undefined {
  if (change.state !== 'pending')
    return `It is ${change.state}; only a pending change can be rejected.`;
  if (samePrincipal(viewer, change.proposedBy)) return undefined;
  if (!isApprover(viewer, params))
    return `Only MSP admins (or its proposer) reject a policy change; you are ${roleWords(viewer)} of ${viewer.mspId}.`;
  return undefined;
}

// --- deposit addresses ------------------------------------------------------------------------

/**
 * What a deposit address's QR code holds: the address as it is, which every wallet app's
 * scanner reads (BIP-21 / EIP-681 URIs would add an amount we do not know).
 */
export function qrText(address: string): string {
  return address;
}

/** qrcode's options for every QR code the console draws (the browser test draws the same). */
export const qrOptions = {
  type: 'svg',
  errorCorrectionLevel: 'M',
  margin: 2,
  width: 200,
  color: { dark: '#000000ff', light: '#ffffffff' },
} as const;
