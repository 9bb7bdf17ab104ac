// Who may do what, and loading the objects a step acts on. Services (client identities) act on
// their own wallets; admins approve and reject; chain workers named in the custody parameters
// build, broadcast and report chain events.
import { cofferError } from '../errors/index.js';
import type { ActionContext, Caller, KvView } from '../contracts/index.js';
import { readCustodyParams, type CustodyParams } from './params.js';
import { principalOf, readJson, samePrincipal, type Step } from './state.js';
import {
  policiesMap,
  walletsMap,
  withdrawalsMap,
  type CustodyChain,
  type PolicyRecord,
  type WalletRecord,
  type WithdrawalRecord,
} from './types.js';

/** What every action starts from: the parameters in force and the step for the history. */
export type Env = {
  readonly context: ActionContext;
  readonly params: CustodyParams;
  readonly step: Step;
};

export function envOf(context: ActionContext, governance = false): Env {
  return {
    context,
    params: readCustodyParams(context.readPublic),
    step: {
      txId: context.txId,
      time: context.time,
      by: governance ? 'governance' : principalOf(context.caller),
    },
  };
}

function short(caller: Caller): string {
  return `${caller.mspId} identity ${caller.identityId.slice(0, 16)}…`;
}

export function notFound(kind: string, id: string): never {
  throw cofferError('CUSTODY_E_NOT_FOUND', `no ${kind} ${id}`, { kind, id });
}

export function loadWallet(kv: KvView, walletId: string): WalletRecord {
  return readJson<WalletRecord>(kv, walletsMap, walletId) ?? notFound('wallet', walletId);
}

export function loadPolicy(kv: KvView, walletId: string): PolicyRecord {
  const policy = readJson<PolicyRecord>(kv, policiesMap, walletId);
  if (policy === undefined) throw new Error(`custody invariant: wallet ${walletId} has no policy`);
  return policy;
}

export function loadWithdrawal(kv: KvView, id: string): WithdrawalRecord {
  return readJson<WithdrawalRecord>(kv, withdrawalsMap, id) ?? notFound('withdrawal', id);
}

export function isOwner(caller: Caller | undefined, wallet: WalletRecord): boolean {
  return caller !== undefined && samePrincipal(caller, wallet.owner);
}

export function requireOwner(caller: Caller, wallet: WalletRecord, what: string): void {
  if (!isOwner(caller, wallet)) {
    throw cofferError(
      'CUSTODY_E_FORBIDDEN',
      `only the service that owns wallet ${wallet.id} (${wallet.owner.mspId}) may ${what}; ${short(caller)} does not own it`,
      { walletId: wallet.id },
    );
  }
}

export function isWorker(
  params: CustodyParams,
  caller: Caller | undefined,
  chain: CustodyChain,
): boolean {
  return caller !== undefined && params.chains[chain].workers.includes(principalOf(caller));
}

export function requireWorker(
  params: CustodyParams,
  caller: Caller,
  chain: CustodyChain,
  what: string,
): void {
  if (!isWorker(params, caller, chain)) {
    throw cofferError(
      'CUSTODY_E_NOT_WORKER',
      `only a ${chain} chain worker (custody.chains.${chain}.workers) may ${what}; ${short(caller)} is not one`,
      { chain },
    );
  }
}

/** An admin of an MSP the parameters let approve (any MSP when `approverMsps` is empty). */
export function isApprover(params: CustodyParams, caller: Caller | undefined): boolean {
  return (
    caller !== undefined &&
    caller.isAdmin &&
    (params.approverMsps.length === 0 || params.approverMsps.includes(caller.mspId))
  );
}

export function requireApprover(params: CustodyParams, caller: Caller, what: string): void {
  if (!isApprover(params, caller)) {
    const msps =
      params.approverMsps.length === 0 ? 'any MSP' : `MSPs ${params.approverMsps.join(', ')}`;
    throw cofferError(
      'CUSTODY_E_NOT_ADMIN',
      `only MSP admins of ${msps} may ${what}; ${short(caller)} is not one`,
    );
  }
}

/** Services own wallets: client identities (or MSP members without NodeOUs), never admins. */
export function requireService(params: CustodyParams, caller: Caller): void {
  if (caller.isAdmin || (caller.role !== 'client' && caller.role !== null)) {
    throw cofferError(
      'CUSTODY_E_FORBIDDEN',
      `wallets belong to services (client identities that are not admins, so that no owner approves its own withdrawals); ${short(caller)} is a ${caller.isAdmin ? 'admin' : String(caller.role)}`,
    );
  }
  if (params.serviceMsps.length > 0 && !params.serviceMsps.includes(caller.mspId)) {
    throw cofferError(
      'CUSTODY_E_FORBIDDEN',
      `the custody parameters let services of ${params.serviceMsps.join(', ')} own wallets, not ${caller.mspId}`,
    );
  }
}

export function badState(
  kind: string,
  id: string,
  state: string,
  allowed: readonly string[],
  what: string,
): never {
  throw cofferError(
    'CUSTODY_E_BAD_STATE',
    `${kind} ${id} is ${state}; ${what} starts from ${allowed.join(' or ')}`,
    { kind, id, state, allowed },
  );
}
