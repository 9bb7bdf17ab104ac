// Policy changes: proposed by the wallet's service or an admin, applied when a quorum of admin
// approvals (`policyQuorum`, never the proposer, each admin once) is reached, or applied at once
// by an accepted governance proposal (the gov app invokes apply_policy with the governance
// trigger, which no transaction can set itself).
import { cofferError } from '../errors/index.js';
import { onlyFields, stringArg } from '../contracts/args.js';
import { governanceTrigger, type Action } from '../contracts/index.js';
import {
  badState,
  envOf,
  isApprover,
  isOwner,
  loadPolicy,
  loadWallet,
  notFound,
  requireApprover,
  type Env,
} from './access.js';
import { changeIdPattern, idArg, optionalText, schemas } from './args.js';
import { pendingPolicyChangesMax, reasonCharsMax } from './limits.js';
import {
  applyPolicyChange,
  approvalRefusal,
  approvalRefusalMessages,
  parsePolicyChange,
  policyChangeSchema,
} from './policy.js';
import { appendHistory, listAdd, listRemove, readJson, samePrincipal, writeJson } from './state.js';
import {
  policiesMap,
  policyChangesMap,
  walletsMap,
  type PolicyChange,
  type PolicyChangeRecord,
  type PolicyChangeState,
  type WalletRecord,
} from './types.js';

export const pendingPolicyKey = 'pending-policy';

function loadChange(env: Env, id: string): PolicyChangeRecord {
  return (
    readJson<PolicyChangeRecord>(env.context.kv, policyChangesMap, id) ??
    notFound('policy change', id)
  );
}

function changeIdArg(args: Readonly<Record<string, unknown>>): string {
  return stringArg(args, 'changeId', changeIdPattern, 68);
}

/** Applies a change to the wallet's policy (and, for set_frozen, the wallet record). */
function applyToWallet(
  env: Env,
  wallet: WalletRecord,
  change: PolicyChange,
  changeId: string,
): void {
  const { kv, time } = env.context;
  const policy = loadPolicy(kv, wallet.id);
  writeJson(kv, policiesMap, wallet.id, applyPolicyChange(policy, change, time, changeId));
  if (change.kind === 'set_frozen') {
    if (wallet.frozen === change.frozen) {
      throw cofferError(
        'CUSTODY_E_POLICY_INVALID',
        `wallet ${wallet.id} is ${wallet.frozen ? 'frozen' : 'not frozen'} already`,
      );
    }
    writeJson(kv, walletsMap, wallet.id, { ...wallet, frozen: change.frozen, updatedAt: time });
  }
  appendHistory(
    kv,
    'wallet',
    wallet.id,
    env.step,
    `policy:${change.kind}`,
    change.kind === 'set_frozen' ? (change.frozen ? 'frozen' : 'active') : 'policy_changed',
  );
}

function end(
  env: Env,
  record: PolicyChangeRecord,
  state: PolicyChangeState,
  action: string,
  reason: string | null,
): PolicyChangeRecord {
  const { kv, time } = env.context;
  const next: PolicyChangeRecord = {
    ...record,
    state,
    ended: { by: env.step.by, reason, time },
    updatedAt: time,
  };
  writeJson(kv, policyChangesMap, record.id, next);
  listRemove(kv, pendingPolicyKey, record.id);
  appendHistory(kv, 'policy', record.id, env.step, action, state);
  return next;
}

const changeArgs = {
  type: 'object',
  required: ['walletId', 'change'],
  additionalProperties: false,
  properties: { walletId: schemas.id, change: policyChangeSchema },
} as const;

export const proposePolicy: Action = {
  summary:
    "Proposes a change to a wallet's policy (its owner service or an admin); it applies once policyQuorum admins other than the proposer approve.",
  args: changeArgs,
  run: (context, args) => {
    onlyFields(args, ['walletId', 'change']);
    const env = envOf(context);
    const { caller, kv, time } = context;
    const wallet = loadWallet(kv, idArg(args, 'walletId'));
    if (!isOwner(caller, wallet) && !isApprover(env.params, caller)) {
      throw cofferError(
        'CUSTODY_E_FORBIDDEN',
        `only the owner of wallet ${wallet.id} or an approving MSP admin may propose policy changes`,
        { walletId: wallet.id },
      );
    }
    const change = parsePolicyChange(args['change'], wallet.chain);
    // Refuse now what could not apply now (it is checked again when the quorum is reached).
    applyPolicyChange(loadPolicy(kv, wallet.id), change, time, context.txId);
    if (change.kind === 'set_frozen' && wallet.frozen === change.frozen) {
      throw cofferError(
        'CUSTODY_E_POLICY_INVALID',
        `wallet ${wallet.id} is ${wallet.frozen ? 'frozen' : 'not frozen'} already`,
      );
    }
    const record: PolicyChangeRecord = {
      id: context.txId,
      walletId: wallet.id,
      change,
      state: 'pending',
      proposedBy: { mspId: caller.mspId, identityId: caller.identityId },
      proposedAt: time,
      expiresAt: time + env.params.policyChangeExpiryMs,
      quorum: env.params.policyQuorum,
      approvalRule: env.params.approvalRule,
      approvals: [],
      ended: null,
      updatedAt: time,
    };
    listAdd(
      kv,
      pendingPolicyKey,
      record.id,
      pendingPolicyChangesMax,
      'pendingPolicyChangesMax',
      'policy changes waiting for approval',
    );
    writeJson(kv, policyChangesMap, record.id, record);
    appendHistory(kv, 'policy', record.id, env.step, 'propose_policy', 'pending');
    return { change: record };
  },
};

export const approvePolicy: Action = {
  summary:
    'Approves a pending policy change (MSP admins; never the proposer, never twice); the quorum-th approval applies it.',
  args: {
    type: 'object',
    required: ['changeId'],
    additionalProperties: false,
    properties: { changeId: schemas.changeId },
  },
  run: (context, args) => {
    onlyFields(args, ['changeId']);
    const env = envOf(context);
    const { caller, kv, time } = context;
    const record = loadChange(env, changeIdArg(args));
    if (samePrincipal(caller, record.proposedBy)) {
      throw cofferError(
        'CUSTODY_E_SELF_APPROVAL',
        `policy change ${record.id}: ${approvalRefusalMessages.CUSTODY_E_SELF_APPROVAL}`,
        { id: record.id },
      );
    }
    requireApprover(env.params, caller, 'approve policy changes');
    if (record.state !== 'pending')
      badState('policy change', record.id, record.state, ['pending'], 'approval');
    if (time >= record.expiresAt) {
      throw cofferError(
        'CUSTODY_E_EXPIRED',
        `policy change ${record.id} expired at ${new Date(record.expiresAt).toISOString()}; expire it and propose again`,
        { id: record.id, expiresAt: record.expiresAt },
      );
    }
    const refusal = approvalRefusal(
      record.approvals,
      caller,
      record.proposedBy,
      record.approvalRule,
    );
    if (refusal !== undefined) {
      throw cofferError(
        refusal,
        `policy change ${record.id}: ${approvalRefusalMessages[refusal]}`,
        {
          id: record.id,
        },
      );
    }
    const approvals = [
      ...record.approvals,
      { mspId: caller.mspId, identityId: caller.identityId, time, txId: context.txId },
    ];
    const next: PolicyChangeRecord = { ...record, approvals, updatedAt: time };
    if (approvals.length < record.quorum) {
      writeJson(kv, policyChangesMap, record.id, next);
      appendHistory(kv, 'policy', record.id, env.step, 'approve_policy', 'pending');
      return { change: next };
    }
    applyToWallet(env, loadWallet(kv, record.walletId), record.change, record.id);
    const applied: PolicyChangeRecord = { ...next, state: 'applied' };
    writeJson(kv, policyChangesMap, record.id, applied);
    listRemove(kv, pendingPolicyKey, record.id);
    appendHistory(kv, 'policy', record.id, env.step, 'approve_policy', 'applied');
    return { change: applied };
  },
};

export const rejectPolicy: Action = {
  summary: 'Rejects a pending policy change (an MSP admin, or its proposer to withdraw it).',
  args: {
    type: 'object',
    required: ['changeId'],
    additionalProperties: false,
    properties: { changeId: schemas.changeId, reason: schemas.reason },
  },
  run: (context, args) => {
    onlyFields(args, ['changeId', 'reason']);
    const env = envOf(context);
    const record = loadChange(env, changeIdArg(args));
    const reason = optionalText(args, 'reason', reasonCharsMax);
    if (!samePrincipal(context.caller, record.proposedBy))
      requireApprover(env.params, context.caller, 'reject policy changes');
    if (record.state !== 'pending')
      badState('policy change', record.id, record.state, ['pending'], 'rejection');
    return { change: end(env, record, 'rejected', 'reject_policy', reason) };
  },
};

export const expirePolicy: Action = {
  summary: 'Expires a pending policy change past its expiry time (anyone).',
  args: {
    type: 'object',
    required: ['changeId'],
    additionalProperties: false,
    properties: { changeId: schemas.changeId },
  },
  run: (context, args) => {
    onlyFields(args, ['changeId']);
    const env = envOf(context);
    const record = loadChange(env, changeIdArg(args));
    if (record.state !== 'pending')
      badState('policy change', record.id, record.state, ['pending'], 'expiry');
    if (context.time < record.expiresAt) {
      throw cofferError(
        'CUSTODY_E_NOT_EXPIRED',
        `policy change ${record.id} expires at ${new Date(record.expiresAt).toISOString()}`,
        { id: record.id, expiresAt: record.expiresAt },
      );
    }
    return { change: end(env, record, 'expired', 'expire_policy', null) };
  },
};

export const applyPolicy: Action = {
  summary:
    'Applies a policy change decided by governance (only through an accepted governance proposal: the governance trigger).',
  args: changeArgs,
  run: (context, args) => {
    onlyFields(args, ['walletId', 'change']);
    if (context.trigger !== governanceTrigger) {
      throw cofferError(
        'CUSTODY_E_QUORUM_REQUIRED',
        'policies change through a quorum of admin approvals (propose_policy, approve_policy) or an accepted governance proposal; apply_policy takes only the governance trigger',
      );
    }
    const env = envOf(context, true);
    const { caller, kv, time } = context;
    const wallet = loadWallet(kv, idArg(args, 'walletId'));
    const change = parsePolicyChange(args['change'], wallet.chain);
    // One governance transaction may apply several changes: ids <txId>, <txId>/1, <txId>/2, …
    let id = context.txId;
    for (let n = 1; readJson(kv, policyChangesMap, id) !== undefined; n++) {
      if (n > 999)
        throw cofferError('CUSTODY_E_CAPACITY', 'at most 1000 policy changes per transaction', {
          limit: 'policyChangesPerTx',
          max: 1000,
        });
      id = `${context.txId}/${n}`;
    }
    applyToWallet(env, wallet, change, id);
    const record: PolicyChangeRecord = {
      id,
      walletId: wallet.id,
      change,
      state: 'applied',
      proposedBy: { mspId: caller.mspId, identityId: caller.identityId },
      proposedAt: time,
      expiresAt: time,
      quorum: 0,
      approvalRule: env.params.approvalRule,
      approvals: [],
      ended: null,
      updatedAt: time,
    };
    writeJson(kv, policyChangesMap, id, record);
    appendHistory(kv, 'policy', id, env.step, 'apply_policy', 'applied');
    return { change: record };
  },
};
