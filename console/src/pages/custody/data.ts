// The custody reads the pages make, as the signed-in person (`GET /v1/custody/...`: the
// custody app's own access rules decide what each caller sees).
import { api, ApiError } from '../../lib/api.js';
import {
  anyWallet,
  isTerminal,
  type AddressRecord,
  type ApprovalParams,
  type DepositRecord,
  type HistoryEntry,
  type HistoryKind,
  type PolicyChangeRecord,
  type PolicyRecord,
  type Viewer,
  type WalletRecord,
  type WithdrawalRecord,
} from './model.js';

/** Items per request (the custody queries' own maximum, queryItemsMax). */
export const pageItemsMax = 100;
/** Wallets the all-wallets withdrawal list asks one by one (past this: pick a wallet). */
export const fanOutWalletsMax = 25;
/** Withdrawals asked of each wallet in the all-wallets list. */
export const fanOutItemsPerWallet = 25;
/** Chains custody knows (src/custody/types.ts custodyChains). */
export const chains = ['coffer', 'ethereum', 'bitcoin'] as const;

export type Balance = {
  readonly asset: string;
  readonly total: string;
  readonly reserved: string;
  readonly available: string;
  readonly deficit: string;
};

const path = encodeURIComponent;

function query(params: Record<string, string | number | undefined>): string {
  const entries = Object.entries(params).filter(
    (entry): entry is [string, string | number] => entry[1] !== undefined,
  );
  if (entries.length === 0) return '';
  return `?${entries.map(([key, value]) => `${key}=${encodeURIComponent(String(value))}`).join('&')}`;
}

export async function approvalParams(): Promise<ApprovalParams> {
  return (await api<{ params: ApprovalParams }>('GET', '/v1/custody/params')).params;
}

/**
 * The wallets the viewer may look at: MSP admins every wallet of every chain, a service its own.
 * `partial` when there were more than one page of them.
 */
export async function visibleWallets(
  viewer: Viewer,
): Promise<{ wallets: WalletRecord[]; partial: boolean }> {
  if (viewer.isAdmin) {
    const pages = await Promise.all(
      chains.map((chain) =>
        api<{ wallets: WalletRecord[]; next: number | null }>(
          'GET',
          `/v1/custody/chains/${chain}/wallets${query({ limit: pageItemsMax })}`,
        ),
      ),
    );
    return {
      wallets: pages.flatMap((page) => page.wallets),
      partial: pages.some((page) => page.next !== null),
    };
  }
  const own = await api<{ wallets: WalletRecord[]; next: number | null }>(
    'GET',
    `/v1/custody/wallets${query({ limit: pageItemsMax })}`,
  );
  return { wallets: own.wallets, partial: own.next !== null };
}

export async function wallet(id: string): Promise<WalletRecord> {
  return (await api<{ wallet: WalletRecord }>('GET', `/v1/custody/wallets/${path(id)}`)).wallet;
}

export async function balances(walletId: string): Promise<Balance[]> {
  return (
    await api<{ balances: Balance[] }>('GET', `/v1/custody/wallets/${path(walletId)}/balances`)
  ).balances;
}

export async function addresses(walletId: string): Promise<AddressRecord[]> {
  return (
    await api<{ addresses: AddressRecord[] }>(
      'GET',
      `/v1/custody/wallets/${path(walletId)}/addresses${query({ limit: pageItemsMax })}`,
    )
  ).addresses;
}

export type PolicyView = {
  readonly policy: PolicyRecord;
  readonly frozen: boolean;
  readonly pending: PolicyChangeRecord[];
};

export async function policy(walletId: string): Promise<PolicyView> {
  return api<PolicyView>('GET', `/v1/custody/wallets/${path(walletId)}/policy`);
}

export async function deposits(walletId: string): Promise<DepositRecord[]> {
  return (
    await api<{ deposits: DepositRecord[] }>(
      'GET',
      `/v1/custody/deposits${query({ walletId, limit: pageItemsMax })}`,
    )
  ).deposits;
}

export type WithdrawalPage = {
  readonly withdrawals: WithdrawalRecord[];
  readonly next: number | null;
};

export async function walletWithdrawals(
  walletId: string,
  state: string | undefined,
  limit: number = pageItemsMax,
  cursor?: number,
): Promise<WithdrawalPage> {
  return api<WithdrawalPage>(
    'GET',
    `/v1/custody/withdrawals${query({ walletId, state, limit, cursor })}`,
  );
}

/** Open withdrawals of one state across every wallet (MSP admins, chain workers). */
export async function openWithdrawals(state: string): Promise<WithdrawalRecord[]> {
  return (
    await api<WithdrawalPage>(
      'GET',
      `/v1/custody/withdrawals${query({ state, limit: pageItemsMax })}`,
    )
  ).withdrawals;
}

export type WithdrawalList = {
  readonly withdrawals: WithdrawalRecord[];
  /** Wallets that were not asked (past fanOutWalletsMax) or answered more than a page. */
  readonly partial: boolean;
  readonly next: number | null;
};

/**
 * Withdrawals for the list's filters: one wallet's (paged by the node), open ones of a state
 * across wallets (one node query), or the newest of each visible wallet merged (newest first).
 */
export async function withdrawalList(
  viewer: Viewer,
  walletFilter: string,
  state: string | undefined,
  cursor?: number,
): Promise<WithdrawalList> {
  if (walletFilter !== anyWallet) {
    const page = await walletWithdrawals(walletFilter, state, pageItemsMax, cursor);
    return { withdrawals: page.withdrawals, partial: false, next: page.next };
  }
  if (viewer.isAdmin && state !== undefined && !isTerminal(state) && state !== 'requested') {
    return { withdrawals: await openWithdrawals(state), partial: false, next: null };
  }
  const { wallets, partial } = await visibleWallets(viewer);
  const asked = wallets.slice(0, fanOutWalletsMax);
  const pages = await Promise.all(
    asked.map((item) => walletWithdrawals(item.id, state, fanOutItemsPerWallet)),
  );
  const withdrawals = pages
    .flatMap((page) => page.withdrawals)
    .sort((a, b) => b.requestedAt - a.requestedAt);
  return {
    withdrawals,
    partial: partial || wallets.length > asked.length || pages.some((page) => page.next !== null),
    next: null,
  };
}

export async function withdrawal(id: string): Promise<WithdrawalRecord> {
  return (await api<{ withdrawal: WithdrawalRecord }>('GET', `/v1/custody/withdrawals/${path(id)}`))
    .withdrawal;
}

export type PendingApprovals = {
  readonly withdrawals: WithdrawalRecord[];
  readonly policyChanges: PolicyChangeRecord[];
};

/** What waits for admins: the node's queue for MSP admins, the own wallets' for a service. */
export async function pendingApprovals(viewer: Viewer): Promise<PendingApprovals> {
  if (viewer.isAdmin) return api<PendingApprovals>('GET', '/v1/custody/approvals/pending');
  const { wallets } = await visibleWallets(viewer);
  const asked = wallets.slice(0, fanOutWalletsMax);
  const [withdrawalPages, policies] = await Promise.all([
    Promise.all(asked.map((item) => walletWithdrawals(item.id, 'pending_approval'))),
    Promise.all(asked.map((item) => policy(item.id))),
  ]);
  return {
    withdrawals: withdrawalPages.flatMap((page) => page.withdrawals),
    policyChanges: policies.flatMap((view) => view.pending),
  };
}

/** One deposit by its id `<chain>/<chainTxId>/<outputIndex>` (the route's three parts). */
export async function deposit(id: string): Promise<DepositRecord> {
  const tail = id.split('/').map(path).join('/');
  return (await api<{ deposit: DepositRecord }>('GET', `/v1/custody/deposits/${tail}`)).deposit;
}

export async function policyChange(id: string): Promise<PolicyChangeRecord> {
  return (
    await api<{ change: PolicyChangeRecord }>('GET', `/v1/custody/policy-changes/${path(id)}`)
  ).change;
}

export type HistoryStep = HistoryEntry & { readonly receiptUrl: string };

/** An object's audit history, oldest first (receipts by link: the panel downloads them). */
export async function history(
  kind: HistoryKind,
  id: string,
  cursor?: number,
): Promise<{ entries: HistoryStep[]; next: number | null }> {
  // The id is the path's tail: a deposit id keeps its slashes (`coffer/<tx>/0`).
  const tail = id.split('/').map(path).join('/');
  return api<{ entries: HistoryStep[]; next: number | null }>(
    'GET',
    `/v1/custody/history/${kind}/${tail}${query({ receipts: 'link', limit: pageItemsMax, cursor })}`,
  );
}

/** The history when the viewer may read it; undefined when custody says it is not theirs. */
export async function historyIfAllowed(
  kind: HistoryKind,
  id: string,
): Promise<HistoryStep[] | undefined> {
  try {
    const entries: HistoryStep[] = [];
    let cursor: number | undefined;
    for (let pages = 0; pages < 10; pages += 1) {
      const page = await history(kind, id, cursor);
      entries.push(...page.entries);
      if (page.next === null) break;
      cursor = page.next;
    }
    return entries;
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) return undefined;
    throw error;
  }
}
