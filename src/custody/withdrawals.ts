// The withdrawal state machine, one action per step (issue 7):
//   requested → pending_approval → approved → built → service_signed → platform_signed
//   → broadcast → confirmed | failed | rejected | expired
// `request` checks the whitelist, reserves the amount and decides on the limits in the same
// transaction, so a withdrawal rests in pending_approval (over a limit: waits for k admin
// approvals) or approved; the history shows both steps under the request's txId. Funds: the
// request reserves, rejection/expiry/failure release, confirmation debits.
import { cofferError } from '../errors/index.js';
import { onlyFields, stringArg } from '../contracts/args.js';
import type { Action } from '../contracts/index.js';
import {
  badState,
  envOf,
  isWorker,
  loadPolicy,
  loadWallet,
  loadWithdrawal,
  requireApprover,
  requireOwner,
  requireWorker,
  type Env,
} from './access.js';
import {
  amountArg,
  assetPattern,
  chainTxIdPattern,
  digestPattern,
  hexPattern,
  stringListArg,
  idArg,
  integerArg,
  keyPattern,
  normaliseAddress,
  optionalText,
  schemas,
  textPattern,
} from './args.js';
import { checkBuilt, replacementMismatch } from './build-checks.js';
import { verifyDigestSignature } from './keys.js';
import {
  chainTxIdCharsMax,
  digestsPerWithdrawalMax,
  idempotencyKeyCharsMax,
  memoCharsMax,
  openWithdrawalsPerStateMax,
  reasonCharsMax,
  rebuildsPerWithdrawalMax,
  signatureHexCharsMax,
  unsignedTxHexCharsMax,
  windowEntriesMax,
  withdrawalsPerWalletMax,
} from './limits.js';
import {
  approvalRefusal,
  approvalRefusalMessages,
  overLimits,
  pruneWindow,
  whitelistCheck,
  windowSum,
} from './policy.js';
import {
  appendHistory,
  capacity,
  listAdd,
  listRemove,
  pagedAppend,
  principalOf,
  readJson,
  samePrincipal,
  writeJson,
} from './state.js';
import {
  addressesMap,
  idempotencyMap,
  indexMap,
  openWithdrawalStates,
  windowsMap,
  withdrawalsMap,
  type CustodyChain,
  type PolicyRecord,
  type WalletRecord,
  type WindowEntry,
  type WithdrawalRecord,
  type WithdrawalState,
} from './types.js';
import { addressKey, balanceNumbers, balanceOf, writeBalance } from './wallets.js';

export const openListKey = (chain: CustodyChain, state: WithdrawalState): string =>
  `open/${chain}/${state}`;
export const withdrawalLogKey = (walletId: string): string => `withdrawals/${walletId}`;

// --- helpers ----------------------------------------------------------------------------------

function write(env: Env, record: WithdrawalRecord, previous: WithdrawalState | null): void {
  const { kv } = env.context;
  if (previous !== null && openWithdrawalStates.includes(previous))
    listRemove(kv, openListKey(record.chain, previous), record.id);
  if (openWithdrawalStates.includes(record.state)) {
    listAdd(
      kv,
      openListKey(record.chain, record.state),
      record.id,
      openWithdrawalsPerStateMax,
      'openWithdrawalsPerStateMax',
      `${record.chain} withdrawals in state ${record.state}`,
    );
  }
  writeJson(kv, withdrawalsMap, record.id, record);
}

function move(
  env: Env,
  record: WithdrawalRecord,
  state: WithdrawalState,
  action: string,
  changes: Partial<WithdrawalRecord> = {},
): WithdrawalRecord {
  const next: WithdrawalRecord = { ...record, ...changes, state, updatedAt: env.step.time };
  write(env, next, record.state);
  appendHistory(env.context.kv, 'withdrawal', record.id, env.step, action, state);
  return next;
}

function readWindow(env: Env, walletId: string): WindowEntry[] {
  return readJson<WindowEntry[]>(env.context.kv, windowsMap, walletId) ?? [];
}

function writeWindow(env: Env, walletId: string, entries: readonly WindowEntry[]): void {
  if (entries.length === 0) env.context.kv.delete(windowsMap, walletId);
  else writeJson(env.context.kv, windowsMap, walletId, entries);
}

/** Gives the reserved amount back and takes the withdrawal out of the rolling window. */
function release(env: Env, record: WithdrawalRecord): void {
  const { kv } = env.context;
  const balance = balanceNumbers(balanceOf(kv, record.walletId, record.asset));
  writeBalance(kv, record.walletId, record.asset, {
    ...balance,
    reserved: balance.reserved - heldFor(record),
  });
  const window = pruneWindow(readWindow(env, record.walletId), env.step.time);
  writeWindow(
    env,
    record.walletId,
    window.filter((entry) => entry.withdrawalId !== record.id),
  );
}

/** What a withdrawal holds of its wallet's balance: the amount, and from `build` the chain fee. */
function heldFor(record: WithdrawalRecord): bigint {
  return BigInt(record.amount) + BigInt(record.fee ?? '0');
}

/** A withdrawal one of whose transactions went out can only end confirmed or failed. */
function requireNeverBroadcast(record: WithdrawalRecord, what: string): void {
  if (record.replaced.length === 0) return;
  throw cofferError(
    'CUSTODY_E_BAD_STATE',
    `withdrawal ${record.id} cannot be ${what}: it was broadcast (${record.replaced.map((item) => item.chainTxId).join(', ')}) and is being rebuilt with a higher fee; it ends confirmed, or failed by its worker`,
    { id: record.id, state: record.state },
  );
}

function requireNotExpired(env: Env, record: WithdrawalRecord, what: string): void {
  // A rebuilt withdrawal was broadcast: its earlier transaction may confirm any time, so it
  // goes on to be signed again however late.
  if (record.replaced.length > 0) return;
  if (env.step.time >= record.expiresAt) {
    throw cofferError(
      'CUSTODY_E_EXPIRED',
      `withdrawal ${record.id} expired at ${new Date(record.expiresAt).toISOString()}; it can only be expired now, not ${what}`,
      { id: record.id, expiresAt: record.expiresAt },
    );
  }
}

function requireNotFrozen(wallet: WalletRecord, what: string): void {
  if (wallet.frozen) {
    throw cofferError(
      'CUSTODY_E_WALLET_FROZEN',
      `wallet ${wallet.id} is frozen${wallet.alerts.length > 0 ? ` (${wallet.alerts.length} alert(s))` : ''}; nothing may ${what} until a set_frozen policy change unfreezes it`,
      { walletId: wallet.id },
    );
  }
}

function requireWhitelisted(policy: PolicyRecord, address: string, now: number): void {
  const check = whitelistCheck(policy, address, now);
  if (check.ok) return;
  throw cofferError(
    'CUSTODY_E_NOT_WHITELISTED',
    check.effectiveAt === null
      ? `${address} is not on the whitelist of wallet ${policy.walletId}; propose whitelist_add and collect its approvals`
      : `${address} is whitelisted from ${new Date(check.effectiveAt).toISOString()} (its delay has not passed)`,
    { address, effectiveAt: check.effectiveAt },
  );
}

/** A step past approval on a withdrawal still waiting for approvals: the limit bypass. */
function requireApprovals(record: WithdrawalRecord, what: string): void {
  if (record.state !== 'pending_approval') return;
  throw cofferError(
    'CUSTODY_E_LIMIT_EXCEEDED',
    `withdrawal ${record.id} is over ${record.overLimit.join(' and ')} limit(s) and has ${record.approvals.length} of ${record.approvalsRequired} admin approvals; it cannot be ${what} before`,
    {
      id: record.id,
      overLimit: record.overLimit,
      approvals: record.approvals.length,
      approvalsRequired: record.approvalsRequired,
    },
  );
}

function requireState(
  record: WithdrawalRecord,
  allowed: readonly WithdrawalState[],
  what: string,
): void {
  if (!allowed.includes(record.state))
    badState('withdrawal', record.id, record.state, allowed, what);
}

function withdrawalIdArg(args: Readonly<Record<string, unknown>>): string {
  return idArg(args, 'withdrawalId');
}

const idOnly = {
  type: 'object',
  required: ['withdrawalId'],
  additionalProperties: false,
  properties: { withdrawalId: schemas.id },
} as const;

const chainTxIdArgs = {
  type: 'object',
  required: ['withdrawalId', 'chainTxId'],
  additionalProperties: false,
  properties: { withdrawalId: schemas.id, chainTxId: schemas.chainTxId },
} as const;

/** `replaced` with the withdrawal's current broadcast added: a rebuild or rebroadcast. */
function withBroadcastReplaced(record: WithdrawalRecord): WithdrawalRecord['replaced'] {
  return [...record.replaced, { chainTxId: record.chainTxId ?? '', fee: record.fee ?? '0' }];
}

function chainTxIdArg(args: Readonly<Record<string, unknown>>): string {
  return stringArg(args, 'chainTxId', chainTxIdPattern, chainTxIdCharsMax);
}

/**
 * The unsigned transaction and digests of a build or rebuild, checked against the approved
 * withdrawal (build-checks.ts), with the fee the chain takes from the wallet.
 */
function builtArgs(
  env: Env,
  record: WithdrawalRecord,
  wallet: WalletRecord,
  args: Readonly<Record<string, unknown>>,
): { unsignedTx: string; digests: string[]; fee: bigint } {
  const { kv } = env.context;
  const unsignedTx = stringArg(args, 'unsignedTx', hexPattern, unsignedTxHexCharsMax);
  const digests = stringListArg(args, 'digests', digestPattern, 64, digestsPerWithdrawalMax);
  const { fee } = checkBuilt({
    record,
    wallet,
    params: env.params.chains[record.chain],
    unsignedTx,
    digests,
    addressWallet: (address) =>
      readJson<{ walletId: string }>(kv, addressesMap, addressKey(record.chain, address))?.walletId,
  });
  return { unsignedTx, digests, fee };
}

// --- request ----------------------------------------------------------------------------------

const requestFields = ['walletId', 'asset', 'amount', 'destination', 'idempotencyKey', 'memo'];

export const requestWithdrawal: Action = {
  summary:
    "Requests a withdrawal from the caller's wallet (idempotent per service and key); reserves the amount; over a limit it waits for admin approvals.",
  args: {
    type: 'object',
    required: ['walletId', 'asset', 'amount', 'destination', 'idempotencyKey'],
    additionalProperties: false,
    properties: {
      walletId: schemas.id,
      asset: schemas.asset,
      amount: schemas.positiveAmount,
      destination: schemas.address,
      idempotencyKey: {
        ...schemas.idempotencyKey,
        description: 'a replay with the same key returns the first withdrawal',
      },
      memo: schemas.memo,
    },
  },
  run: (context, args) => {
    onlyFields(args, requestFields);
    const env = envOf(context);
    const { caller, kv, time } = context;
    const wallet = loadWallet(kv, idArg(args, 'walletId'));
    requireOwner(caller, wallet, 'request withdrawals from it');
    const asset = stringArg(args, 'asset', assetPattern, 12);
    const amount = amountArg(args, 'amount');
    const destination = normaliseAddress(wallet.chain, args['destination'], 'destination');
    const idempotencyKey = stringArg(args, 'idempotencyKey', keyPattern, idempotencyKeyCharsMax);
    const memo = optionalText(args, 'memo', memoCharsMax);

    const keyOfIdempotency = `${principalOf(caller)}/${idempotencyKey}`;
    const previousId = kv.get(idempotencyMap, keyOfIdempotency);
    if (previousId !== undefined) {
      const previous = loadWithdrawal(kv, previousId);
      const same =
        previous.walletId === wallet.id &&
        previous.asset === asset &&
        previous.amount === amount.toString() &&
        previous.destination === destination &&
        previous.memo === memo;
      if (!same) {
        throw cofferError(
          'CUSTODY_E_IDEMPOTENCY_CONFLICT',
          `idempotency key ${idempotencyKey} was used for withdrawal ${previous.id} with other parameters`,
          { id: previous.id, idempotencyKey },
        );
      }
      return { replayed: true, withdrawal: previous };
    }

    requireNotFrozen(wallet, 'be withdrawn');
    const policy = loadPolicy(kv, wallet.id);
    requireWhitelisted(policy, destination, time);
    const balance = balanceNumbers(balanceOf(kv, wallet.id, asset));
    const available = balance.total - balance.reserved;
    if (available < amount) {
      throw cofferError(
        'CUSTODY_E_INSUFFICIENT_FUNDS',
        `wallet ${wallet.id} has ${available} ${asset} available (${balance.total} held, ${balance.reserved} reserved), less than ${amount}`,
        { available: available.toString(), total: balance.total.toString() },
      );
    }
    const window = pruneWindow(readWindow(env, wallet.id), time);
    if (window.length >= windowEntriesMax)
      capacity('windowEntriesMax', windowEntriesMax, `withdrawals of wallet ${wallet.id} in 24 h`);
    const over = overLimits(policy.limits[asset], amount, windowSum(window, asset, time));
    const state: WithdrawalState = over.length > 0 ? 'pending_approval' : 'approved';
    const record: WithdrawalRecord = {
      id: context.txId,
      walletId: wallet.id,
      chain: wallet.chain,
      asset,
      amount: amount.toString(),
      destination,
      memo,
      idempotencyKey,
      requestedBy: { mspId: caller.mspId, identityId: caller.identityId },
      requestedAt: time,
      expiresAt: time + env.params.withdrawalExpiryMs,
      state,
      overLimit: over,
      approvalsRequired: over.length > 0 ? policy.approvalsRequired : 0,
      approvalRule: env.params.approvalRule,
      approvals: [],
      unsignedTx: null,
      digests: null,
      fee: null,
      serviceSignatures: null,
      platformSignatures: null,
      platformKey: wallet.keys.platform,
      chainTxId: null,
      replaced: [],
      block: null,
      ended: null,
      updatedAt: time,
    };
    if (readJson(kv, withdrawalsMap, record.id) !== undefined)
      throw new Error(`custody invariant: withdrawal ${record.id} exists before its transaction`);
    writeBalance(kv, wallet.id, asset, { ...balance, reserved: balance.reserved + amount });
    writeWindow(env, wallet.id, [
      ...window,
      { withdrawalId: record.id, asset, amount: record.amount, time },
    ]);
    kv.put(idempotencyMap, keyOfIdempotency, record.id);
    pagedAppend(
      kv,
      indexMap,
      withdrawalLogKey(wallet.id),
      record.id,
      withdrawalsPerWalletMax,
      'withdrawalsPerWalletMax',
      `withdrawals of wallet ${wallet.id}`,
    );
    write(env, record, null);
    appendHistory(kv, 'withdrawal', record.id, env.step, 'request', 'requested');
    appendHistory(kv, 'withdrawal', record.id, env.step, 'policy', state);
    return { replayed: false, withdrawal: record };
  },
};

// --- approvals --------------------------------------------------------------------------------

export const approveWithdrawal: Action = {
  summary:
    'Approves a withdrawal waiting for approvals (MSP admins; never the requester, never twice); the k-th approval approves it.',
  args: idOnly,
  run: (context, args) => {
    onlyFields(args, ['withdrawalId']);
    const env = envOf(context);
    const { caller, kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    // The requester first: a requester that is also an admin must hear why, not "not admin".
    if (samePrincipal(caller, record.requestedBy)) {
      throw cofferError(
        'CUSTODY_E_SELF_APPROVAL',
        `withdrawal ${record.id}: ${approvalRefusalMessages.CUSTODY_E_SELF_APPROVAL}`,
        { id: record.id },
      );
    }
    requireApprover(env.params, caller, 'approve withdrawals');
    requireState(record, ['pending_approval'], 'approval');
    requireNotExpired(env, record, 'approved');
    const refusal = approvalRefusal(
      record.approvals,
      caller,
      record.requestedBy,
      record.approvalRule,
    );
    if (refusal !== undefined) {
      throw cofferError(refusal, `withdrawal ${record.id}: ${approvalRefusalMessages[refusal]}`, {
        id: record.id,
      });
    }
    const approvals = [
      ...record.approvals,
      {
        mspId: caller.mspId,
        identityId: caller.identityId,
        time: context.time,
        txId: context.txId,
      },
    ];
    const state: WithdrawalState =
      approvals.length >= record.approvalsRequired ? 'approved' : 'pending_approval';
    return { withdrawal: move(env, record, state, 'approve', { approvals }) };
  },
};

export const rejectWithdrawal: Action = {
  summary:
    'Rejects a withdrawal before the platform signs it (an MSP admin, or the requesting service to cancel); releases the amount.',
  args: {
    type: 'object',
    required: ['withdrawalId'],
    additionalProperties: false,
    properties: { withdrawalId: schemas.id, reason: schemas.reason },
  },
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'reason']);
    const env = envOf(context);
    const { caller, kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    const reason = optionalText(args, 'reason', reasonCharsMax);
    if (!samePrincipal(caller, record.requestedBy))
      requireApprover(env.params, caller, 'reject withdrawals');
    requireState(record, ['pending_approval', 'approved', 'built', 'service_signed'], 'rejection');
    requireNeverBroadcast(record, 'rejected');
    release(env, record);
    return {
      withdrawal: move(env, record, 'rejected', 'reject', {
        ended: { by: env.step.by, reason, time: context.time },
      }),
    };
  },
};

// --- chain steps ------------------------------------------------------------------------------

export const buildWithdrawal: Action = {
  summary:
    "Records the unsigned chain transaction and the digests the keys sign (the chain's worker). The app checks that the digests are the chain's and that the transaction pays exactly the approved withdrawal; a fee the chain takes from the wallet (bitcoin) is capped by custody.chains.<chain>.feeMax and reserved.",
  args: {
    type: 'object',
    required: ['withdrawalId', 'unsignedTx', 'digests'],
    additionalProperties: false,
    properties: {
      withdrawalId: schemas.id,
      unsignedTx: {
        ...schemas.unsignedTx,
        description:
          'the unsigned chain transaction, hex: coffer transfer bytes, an ethereum SafeTx envelope, a bitcoin PSBT',
      },
      digests: schemas.digests,
    },
  },
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'unsignedTx', 'digests']);
    const env = envOf(context);
    const { caller, kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    requireWorker(env.params, caller, record.chain, 'build withdrawals');
    requireApprovals(record, 'built');
    requireState(record, ['approved'], 'build');
    requireNotExpired(env, record, 'built');
    const wallet = loadWallet(kv, record.walletId);
    requireNotFrozen(wallet, 'be built');
    // Whitelist again: an address removed after the request must not be paid.
    requireWhitelisted(loadPolicy(kv, wallet.id), record.destination, context.time);
    const { unsignedTx, digests, fee } = builtArgs(env, record, wallet, args);
    if (fee > 0n) {
      const balance = balanceNumbers(balanceOf(kv, wallet.id, record.asset));
      const available = balance.total - balance.reserved;
      if (available < fee) {
        throw cofferError(
          'CUSTODY_E_INSUFFICIENT_FUNDS',
          `wallet ${wallet.id} has ${available} ${record.asset} available beside this withdrawal, less than its ${fee} fee; wait for deposits or build at a lower fee rate`,
          { available: available.toString(), fee: fee.toString() },
        );
      }
      writeBalance(kv, wallet.id, record.asset, { ...balance, reserved: balance.reserved + fee });
    }
    return {
      withdrawal: move(env, record, 'built', 'build', {
        unsignedTx,
        digests,
        fee: fee.toString(),
      }),
    };
  },
};

function signaturesArg(args: Readonly<Record<string, unknown>>): string[] {
  return stringListArg(
    args,
    'signatures',
    hexPattern,
    signatureHexCharsMax,
    digestsPerWithdrawalMax,
  );
}

const signArgs = {
  type: 'object',
  required: ['withdrawalId', 'signatures'],
  additionalProperties: false,
  properties: { withdrawalId: schemas.id, signatures: schemas.signatures },
} as const;

/** Each signature verifies over its digest with the key; all or none. Returns them lower-cased. */
function checkSignatures(
  record: WithdrawalRecord,
  curve: WalletRecord['curve'],
  publicKey: string,
  signatures: readonly string[],
  whose: string,
): string[] {
  const { digests } = record;
  if (digests === null) throw new Error(`custody invariant: ${record.id} has no digests`);
  if (signatures.length !== digests.length) {
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `withdrawal ${record.id} has ${digests.length} digests; args.signatures has ${signatures.length} (one per digest, in order)`,
      { id: record.id, key: whose },
    );
  }
  signatures.forEach((signature, i) => {
    const digest = digests[i] ?? '';
    if (!verifyDigestSignature(curve, publicKey, digest, signature)) {
      throw cofferError(
        'CUSTODY_E_SIGNATURE_INVALID',
        `signatures[${i}] does not verify with the ${whose} key of wallet ${record.walletId} over digest ${digest} (ECDSA ${curve}, low-S, DER or r||s, the digest not hashed again)`,
        { id: record.id, key: whose, index: i },
      );
    }
  });
  return signatures.map((signature) => signature.toLowerCase());
}

export const serviceSign: Action = {
  summary:
    "Records the service's signatures of the digests (the owner service, or the chain's worker relaying them); each verified with the wallet's service key.",
  args: signArgs,
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'signatures']);
    const env = envOf(context);
    const { caller, kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    const wallet = loadWallet(kv, record.walletId);
    if (!samePrincipal(caller, wallet.owner) && !isWorker(env.params, caller, wallet.chain))
      requireOwner(caller, wallet, 'sign its withdrawals');
    requireApprovals(record, 'signed');
    requireState(record, ['built'], 'the service signature');
    requireNotExpired(env, record, 'signed');
    requireNotFrozen(wallet, 'be signed');
    const signatures = checkSignatures(
      record,
      wallet.curve,
      wallet.keys.service,
      signaturesArg(args),
      'service',
    );
    return {
      withdrawal: move(env, record, 'service_signed', 'service_sign', {
        serviceSignatures: signatures,
      }),
    };
  },
};

export const platformSign: Action = {
  summary:
    "Records the platform's (HSM) signatures of the digests; each verified with the wallet's platform key, which is the authorisation (any caller may relay them).",
  args: signArgs,
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'signatures']);
    const env = envOf(context);
    const { kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    requireApprovals(record, 'signed');
    requireState(record, ['service_signed'], 'the platform signature');
    requireNotExpired(env, record, 'signed');
    const wallet = loadWallet(kv, record.walletId);
    requireNotFrozen(wallet, 'be signed');
    const signatures = checkSignatures(
      record,
      record.platformKey.curve,
      record.platformKey.publicKey,
      signaturesArg(args),
      'platform',
    );
    return {
      withdrawal: move(env, record, 'platform_signed', 'platform_sign', {
        platformSignatures: signatures,
      }),
    };
  },
};

export const broadcastWithdrawal: Action = {
  summary:
    "Records that the chain's worker broadcast the signed transaction, with its chain tx id.",
  args: chainTxIdArgs,
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'chainTxId']);
    const env = envOf(context);
    const record = loadWithdrawal(context.kv, withdrawalIdArg(args));
    requireWorker(env.params, context.caller, record.chain, 'report broadcasts');
    requireApprovals(record, 'broadcast');
    requireState(record, ['platform_signed'], 'broadcast');
    const chainTxId = chainTxIdArg(args);
    return { withdrawal: move(env, record, 'broadcast', 'broadcast', { chainTxId }) };
  },
};

export const confirmWithdrawal: Action = {
  summary:
    "Records the transaction's confirmation on the chain (the chain's worker); debits the amount and the fee of the transaction that confirmed (a rebuilt withdrawal's earlier one may be it: name it with chainTxId).",
  args: {
    type: 'object',
    required: ['withdrawalId', 'blockHeight', 'blockHash'],
    additionalProperties: false,
    properties: {
      withdrawalId: schemas.id,
      blockHeight: schemas.height,
      blockHash: schemas.chainTxId,
      chainTxId: {
        ...schemas.chainTxId,
        description: 'the transaction that confirmed, when not the last broadcast one',
      },
    },
  },
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'blockHeight', 'blockHash', 'chainTxId']);
    const env = envOf(context);
    const { kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    requireWorker(env.params, context.caller, record.chain, 'confirm withdrawals');
    const block = {
      height: integerArg(args, 'blockHeight', 0, Number.MAX_SAFE_INTEGER),
      hash: stringArg(args, 'blockHash', chainTxIdPattern, chainTxIdCharsMax),
    };
    const named = args['chainTxId'] === undefined ? record.chainTxId : chainTxIdArg(args);
    // The last broadcast transaction (state broadcast), or one it replaced (any state after a
    // rebuild: the earlier transaction may confirm while the bump waits for signatures).
    const earlier = record.replaced.find((item) => item.chainTxId === named);
    if (earlier === undefined) {
      requireState(record, ['broadcast'], 'confirmation');
      if (named !== record.chainTxId)
        throw cofferError(
          'CUSTODY_E_BAD_STATE',
          `withdrawal ${record.id} was broadcast as ${String(record.chainTxId)}${record.replaced.length > 0 ? ` (replacing ${record.replaced.map((item) => item.chainTxId).join(', ')})` : ''}, not ${String(named)}`,
          { id: record.id, state: record.state },
        );
    } else {
      requireState(
        record,
        ['built', 'service_signed', 'platform_signed', 'broadcast'],
        'confirmation',
      );
    }
    const fee = earlier === undefined ? BigInt(record.fee ?? '0') : BigInt(earlier.fee);
    const amount = BigInt(record.amount);
    const balance = balanceNumbers(balanceOf(kv, record.walletId, record.asset));
    // The reservation holds the highest fee (the last build's); the fee paid may be lower.
    writeBalance(kv, record.walletId, record.asset, {
      ...balance,
      total: balance.total - amount - fee,
      reserved: balance.reserved - heldFor(record),
    });
    return {
      withdrawal: move(env, record, 'confirmed', 'confirm', {
        block,
        chainTxId: named,
        fee: fee.toString(),
      }),
    };
  },
};

export const rebroadcastWithdrawal: Action = {
  summary:
    'Records that the ethereum worker sent a stuck broadcast again with a higher fee and the same effect (its relayer transaction, same nonce): the new chain tx id; the earlier one may still be the one that confirms.',
  args: chainTxIdArgs,
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'chainTxId']);
    const env = envOf(context);
    const record = loadWithdrawal(context.kv, withdrawalIdArg(args));
    requireWorker(env.params, context.caller, record.chain, 'report broadcasts');
    requireState(record, ['broadcast'], 'a rebroadcast');
    if (record.chain !== 'ethereum')
      throw cofferError(
        'CUSTODY_E_BAD_STATE',
        `withdrawal ${record.id} is on ${record.chain}: ${record.chain === 'bitcoin' ? 'a higher fee changes what the keys signed, rebuild it' : 'nothing to send again'}`,
        { id: record.id, state: record.state },
      );
    if (record.replaced.length >= rebuildsPerWithdrawalMax)
      capacity('rebuildsPerWithdrawalMax', rebuildsPerWithdrawalMax, `fee bumps of ${record.id}`);
    const chainTxId = chainTxIdArg(args);
    if (
      chainTxId === record.chainTxId ||
      record.replaced.some((item) => item.chainTxId === chainTxId)
    )
      throw cofferError(
        'CUSTODY_E_BAD_STATE',
        `withdrawal ${record.id} was broadcast as ${chainTxId} already`,
        { id: record.id, state: record.state },
      );
    return {
      withdrawal: move(env, record, 'broadcast', 'rebroadcast', {
        chainTxId,
        replaced: withBroadcastReplaced(record),
      }),
    };
  },
};

export const rebuildWithdrawal: Action = {
  summary:
    "Replaces a broadcast bitcoin withdrawal's transaction with one paying a higher fee (replace-by-fee; the chain's worker): it spends every coin of the broadcast one and pays exactly the approved withdrawal; back to built, to be signed again. The extra fee is reserved; the earlier transaction may still be the one that confirms.",
  args: {
    type: 'object',
    required: ['withdrawalId', 'unsignedTx', 'digests'],
    additionalProperties: false,
    properties: {
      withdrawalId: schemas.id,
      unsignedTx: { ...schemas.unsignedTx, description: 'the replacement PSBT, hex' },
      digests: schemas.digests,
    },
  },
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'unsignedTx', 'digests']);
    const env = envOf(context);
    const { caller, kv } = context;
    const record = loadWithdrawal(kv, withdrawalIdArg(args));
    requireWorker(env.params, caller, record.chain, 'rebuild withdrawals');
    requireState(record, ['broadcast'], 'a rebuild');
    if (record.chain !== 'bitcoin')
      throw cofferError(
        'CUSTODY_E_BAD_STATE',
        `withdrawal ${record.id} is on ${record.chain}; only bitcoin withdrawals are rebuilt with a higher fee (an ethereum worker replaces its own relayer transaction)`,
        { id: record.id, state: record.state },
      );
    if (record.replaced.length >= rebuildsPerWithdrawalMax)
      capacity('rebuildsPerWithdrawalMax', rebuildsPerWithdrawalMax, `fee bumps of ${record.id}`);
    const wallet = loadWallet(kv, record.walletId);
    const { unsignedTx, digests, fee } = builtArgs(env, record, wallet, args);
    const previousFee = BigInt(record.fee ?? '0');
    if (fee <= previousFee)
      throw cofferError(
        'CUSTODY_E_TX_MISMATCH',
        `withdrawal ${record.id}: a replacement must pay more than the broadcast fee of ${previousFee} sat; it pays ${fee}`,
        { id: record.id, fee: fee.toString() },
      );
    const why = replacementMismatch(record.unsignedTx ?? '', unsignedTx);
    if (why !== null)
      throw cofferError(
        'CUSTODY_E_TX_MISMATCH',
        `withdrawal ${record.id}: the replacement ${why}`,
        { id: record.id },
      );
    const extra = fee - previousFee;
    const balance = balanceNumbers(balanceOf(kv, wallet.id, record.asset));
    if (balance.total - balance.reserved < extra)
      throw cofferError(
        'CUSTODY_E_INSUFFICIENT_FUNDS',
        `wallet ${wallet.id} has ${balance.total - balance.reserved} ${record.asset} available, less than the ${extra} sat the higher fee adds`,
        { available: (balance.total - balance.reserved).toString(), fee: extra.toString() },
      );
    writeBalance(kv, wallet.id, record.asset, { ...balance, reserved: balance.reserved + extra });
    return {
      withdrawal: move(env, record, 'built', 'rebuild', {
        unsignedTx,
        digests,
        fee: fee.toString(),
        serviceSignatures: null,
        platformSignatures: null,
        chainTxId: null,
        replaced: withBroadcastReplaced(record),
      }),
    };
  },
};

export const failWithdrawal: Action = {
  summary:
    "Records that the withdrawal failed on the chain side (the chain's worker); releases the amount.",
  args: {
    type: 'object',
    required: ['withdrawalId', 'reason'],
    additionalProperties: false,
    properties: { withdrawalId: schemas.id, reason: schemas.reason },
  },
  run: (context, args) => {
    onlyFields(args, ['withdrawalId', 'reason']);
    const env = envOf(context);
    const record = loadWithdrawal(context.kv, withdrawalIdArg(args));
    requireWorker(env.params, context.caller, record.chain, 'fail withdrawals');
    requireState(
      record,
      ['approved', 'built', 'service_signed', 'platform_signed', 'broadcast'],
      'failure',
    );
    const reason = stringArg(args, 'reason', textPattern, reasonCharsMax);
    release(env, record);
    return {
      withdrawal: move(env, record, 'failed', 'fail', {
        ended: { by: env.step.by, reason, time: context.time },
      }),
    };
  },
};

export const expireWithdrawal: Action = {
  summary:
    'Expires a withdrawal past its expiry time that the platform has not signed (anyone); releases the amount.',
  args: idOnly,
  run: (context, args) => {
    onlyFields(args, ['withdrawalId']);
    const env = envOf(context);
    const record = loadWithdrawal(context.kv, withdrawalIdArg(args));
    requireState(record, ['pending_approval', 'approved', 'built', 'service_signed'], 'expiry');
    requireNeverBroadcast(record, 'expired');
    if (context.time < record.expiresAt) {
      throw cofferError(
        'CUSTODY_E_NOT_EXPIRED',
        `withdrawal ${record.id} expires at ${new Date(record.expiresAt).toISOString()}`,
        { id: record.id, expiresAt: record.expiresAt },
      );
    }
    release(env, record);
    return {
      withdrawal: move(env, record, 'expired', 'expire', {
        ended: { by: env.step.by, reason: null, time: context.time },
      }),
    };
  },
};
