// Queries of the custody app. Wallets and withdrawals are public records (anyone reads them,
// as anyone holding the ledger could); balances, addresses, policies, deposits and history
// are private: the owner service, MSP admins and the chain's workers read them. Lists come
// in pages: `cursor` and `limit` in, `next` out (null at the end).
import { cofferError } from '../errors/index.js';
import { invalidArgs, onlyFields, stringArg } from '../contracts/args.js';
import type { Caller, KvView, Query, QueryContext } from '../contracts/index.js';
import { isOwner, isWorker, loadPolicy, loadWallet, loadWithdrawal, notFound } from './access.js';
import {
  chainArg,
  chainTxIdPattern,
  changeIdPattern,
  idArg,
  integerArg,
  normaliseAddress,
  optionalInteger,
  principalPattern,
  schemas,
  type Args,
} from './args.js';
import { depositIdOf, depositLogKey } from './deposits.js';
import { chainTxIdCharsMax, queryItemsMax, queryScanMax } from './limits.js';
import { readCustodyParams, type CustodyParams } from './params.js';
import { pendingPolicyKey } from './policy-actions.js';
import { pagedCount, pagedSlice, principalOf, readJson, readList } from './state.js';
import {
  addressesMap,
  custodyChains,
  depositStates,
  depositsMap,
  historyKinds,
  historyMap,
  indexMap,
  openWithdrawalStates,
  policyChangesMap,
  walletsMap,
  withdrawalStates,
  withdrawalsMap,
  type AddressRecord,
  type CustodyChain,
  type DepositRecord,
  type HistoryEntry,
  type HistoryKind,
  type PolicyChangeRecord,
  type WalletRecord,
  type WithdrawalRecord,
  type WithdrawalState,
} from './types.js';
import {
  addressKey,
  addressLogKey,
  chainWalletsKey,
  readBalances,
  walletsIndexKey,
} from './wallets.js';
import { openListKey, withdrawalLogKey } from './withdrawals.js';

function paramsOf(context: QueryContext): CustodyParams {
  return readCustodyParams(context.readPublic);
}

/** Private data of a wallet: its owner service, MSP admins, the chain's workers. */
function requireReader(context: QueryContext, wallet: WalletRecord): void {
  const { caller } = context;
  if (isOwner(caller, wallet) || caller?.isAdmin === true) return;
  if (isWorker(paramsOf(context), caller, wallet.chain)) return;
  throw cofferError(
    'CUSTODY_E_FORBIDDEN',
    `wallet ${wallet.id}'s private data is for its owner service, MSP admins and ${wallet.chain} workers`,
    { walletId: wallet.id },
  );
}

function requireAdminOrWorker(context: QueryContext, chains: readonly CustodyChain[]): Caller {
  const { caller } = context;
  if (caller === undefined) {
    throw cofferError(
      'CUSTODY_E_FORBIDDEN',
      'this list is for MSP admins and chain workers; sign in',
    );
  }
  if (caller.isAdmin) return caller;
  const params = paramsOf(context);
  if (chains.every((chain) => isWorker(params, caller, chain))) return caller;
  throw cofferError(
    'CUSTODY_E_FORBIDDEN',
    `this list is for MSP admins and the workers of ${chains.join(', ')}; name a walletId you own instead`,
  );
}

function page(args: Args): { cursor: number | undefined; limit: number } {
  return {
    cursor: optionalInteger(args, 'cursor', 0, Number.MAX_SAFE_INTEGER),
    limit: optionalInteger(args, 'limit', 1, queryItemsMax) ?? queryItemsMax,
  };
}

const pageProps = { cursor: schemas.cursor, limit: schemas.limit } as const;

/**
 * Newest first over a paged log: from index `before` (exclusive; default the end) backwards,
 * up to `limit` items that `keep`, looking at most at queryScanMax entries. `next` is the
 * cursor to pass for the following page.
 */
function scanBackward<T>(
  kv: KvView,
  prefix: string,
  cursor: number | undefined,
  limit: number,
  load: (id: string) => T | undefined,
  keep: (item: T) => boolean,
): { items: T[]; next: number | null } {
  const count = pagedCount(kv, indexMap, prefix);
  const before = Math.min(cursor ?? count, count);
  const from = Math.max(0, before - queryScanMax);
  const ids = pagedSlice<string>(kv, indexMap, prefix, from, before);
  const items: T[] = [];
  let index = before;
  for (let i = ids.length - 1; i >= 0 && items.length < limit; i--) {
    index = from + i;
    const item = load(ids[i] as string);
    if (item !== undefined && keep(item)) items.push(item);
  }
  return { items, next: index > 0 && (items.length === limit || from > 0) ? index : null };
}

function withdrawalStateArg(args: Args): WithdrawalState | undefined {
  const value = args['state'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !(withdrawalStates as readonly string[]).includes(value))
    invalidArgs('state', `must be one of ${withdrawalStates.join(', ')}`);
  return value as WithdrawalState;
}

function readWithdrawal(kv: KvView, id: string): WithdrawalRecord | undefined {
  return readJson<WithdrawalRecord>(kv, withdrawalsMap, id);
}

function walletOfObject(context: QueryContext, kind: HistoryKind, id: string): WalletRecord {
  const { kv } = context;
  switch (kind) {
    case 'wallet':
      return loadWallet(kv, id);
    case 'withdrawal':
      return loadWallet(kv, loadWithdrawal(kv, id).walletId);
    case 'deposit':
      return loadWallet(
        kv,
        (readJson<DepositRecord>(kv, depositsMap, id) ?? notFound('deposit', id)).walletId,
      );
    case 'policy':
      return loadWallet(
        kv,
        (readJson<PolicyChangeRecord>(kv, policyChangesMap, id) ?? notFound('policy change', id))
          .walletId,
      );
  }
}

const walletIdOnly = {
  type: 'object',
  required: ['walletId'],
  additionalProperties: false,
  properties: { walletId: schemas.id },
} as const;

export const custodyQueries: Readonly<Record<string, Query>> = {
  params: {
    summary: 'The custody parameters in force (governance `custody` with defaults filled in).',
    args: { type: 'object', additionalProperties: false, properties: {} },
    run: (context, args) => {
      onlyFields(args, []);
      return { params: paramsOf(context) };
    },
  },
  wallet: {
    summary: 'A wallet record (public: keys, owner, threshold, frozen, alerts).',
    args: walletIdOnly,
    run: (context, args) => {
      onlyFields(args, ['walletId']);
      return { wallet: loadWallet(context.kv, idArg(args, 'walletId')) };
    },
  },
  wallets: {
    summary: "A service's wallets (default: the caller's; another service's for MSP admins).",
    args: {
      type: 'object',
      additionalProperties: false,
      properties: { owner: schemas.principal, ...pageProps },
    },
    run: (context, args) => {
      onlyFields(args, ['owner', 'cursor', 'limit']);
      const { caller, kv } = context;
      let owner: string;
      if (args['owner'] === undefined) {
        if (caller === undefined) invalidArgs('owner', 'is required without a caller identity');
        owner = principalOf(caller);
      } else {
        owner = stringArg(args, 'owner', principalPattern, 321);
        if (caller === undefined || (principalOf(caller) !== owner && !caller.isAdmin)) {
          throw cofferError(
            'CUSTODY_E_FORBIDDEN',
            "only MSP admins list another service's wallets",
          );
        }
      }
      const { cursor, limit } = page(args);
      const ids = readList(kv, walletsIndexKey(owner));
      const start = cursor ?? 0;
      const wallets = ids
        .slice(start, start + limit)
        .map((id) => readJson<WalletRecord>(kv, walletsMap, id))
        .filter((item): item is WalletRecord => item !== undefined);
      return { owner, wallets, next: start + limit < ids.length ? start + limit : null };
    },
  },
  chain_wallets: {
    summary:
      "Every wallet of a chain in creation order, from index `cursor` on (the chain's workers and MSP admins): how a worker finds the wallets to prepare and watch.",
    args: {
      type: 'object',
      required: ['chain'],
      additionalProperties: false,
      properties: { chain: schemas.chain, ...pageProps },
    },
    run: (context, args) => {
      onlyFields(args, ['chain', 'cursor', 'limit']);
      const chain = chainArg(args);
      requireAdminOrWorker(context, [chain]);
      const { cursor, limit } = page(args);
      const count = pagedCount(context.kv, indexMap, chainWalletsKey(chain));
      const from = Math.min(cursor ?? 0, count);
      const to = Math.min(from + limit, count);
      const wallets = pagedSlice<string>(context.kv, indexMap, chainWalletsKey(chain), from, to)
        .map((id) => readJson<WalletRecord>(context.kv, walletsMap, id))
        .filter((item): item is WalletRecord => item !== undefined);
      return { chain, wallets, count, next: to < count ? to : null };
    },
  },
  balances: {
    summary: "A wallet's balances per asset: total, reserved, available and any deficit.",
    args: walletIdOnly,
    run: (context, args) => {
      onlyFields(args, ['walletId']);
      const wallet = loadWallet(context.kv, idArg(args, 'walletId'));
      requireReader(context, wallet);
      const balances = Object.entries(readBalances(context.kv, wallet.id))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([asset, entry]) => ({
          asset,
          ...entry,
          available: (BigInt(entry.total) - BigInt(entry.reserved)).toString(),
        }));
      return { walletId: wallet.id, balances };
    },
  },
  addresses: {
    summary: "A wallet's deposit addresses, newest first.",
    args: {
      type: 'object',
      required: ['walletId'],
      additionalProperties: false,
      properties: { walletId: schemas.id, ...pageProps },
    },
    run: (context, args) => {
      onlyFields(args, ['walletId', 'cursor', 'limit']);
      const wallet = loadWallet(context.kv, idArg(args, 'walletId'));
      requireReader(context, wallet);
      const { cursor, limit } = page(args);
      const { items, next } = scanBackward(
        context.kv,
        addressLogKey(wallet.id),
        cursor,
        limit,
        (address) =>
          readJson<AddressRecord>(context.kv, addressesMap, addressKey(wallet.chain, address)),
        () => true,
      );
      return { walletId: wallet.id, addresses: items, next };
    },
  },
  address: {
    summary: 'Which wallet and account a chain address belongs to.',
    args: {
      type: 'object',
      required: ['chain', 'address'],
      additionalProperties: false,
      properties: { chain: schemas.chain, address: schemas.address },
    },
    run: (context, args) => {
      onlyFields(args, ['chain', 'address']);
      const chain = chainArg(args);
      const address = normaliseAddress(chain, args['address'], 'address');
      const record =
        readJson<AddressRecord>(context.kv, addressesMap, addressKey(chain, address)) ??
        notFound('address', `${chain}/${address}`);
      requireReader(context, loadWallet(context.kv, record.walletId));
      return { address: record };
    },
  },
  policy: {
    summary:
      "A wallet's policy (whitelist, limits per asset, approvals required) and its pending changes.",
    args: walletIdOnly,
    run: (context, args) => {
      onlyFields(args, ['walletId']);
      const wallet = loadWallet(context.kv, idArg(args, 'walletId'));
      requireReader(context, wallet);
      const pending = readList(context.kv, pendingPolicyKey)
        .map((id) => readJson<PolicyChangeRecord>(context.kv, policyChangesMap, id))
        .filter((item): item is PolicyChangeRecord => item?.walletId === wallet.id);
      return { policy: loadPolicy(context.kv, wallet.id), frozen: wallet.frozen, pending };
    },
  },
  whitelist: {
    summary:
      "A wallet's destination whitelist (an entry is in force from its effectiveAt, ledger time).",
    args: walletIdOnly,
    run: (context, args) => {
      onlyFields(args, ['walletId']);
      const wallet = loadWallet(context.kv, idArg(args, 'walletId'));
      requireReader(context, wallet);
      const policy = loadPolicy(context.kv, wallet.id);
      return {
        walletId: wallet.id,
        enabled: policy.whitelistEnabled,
        whitelist: policy.whitelist,
      };
    },
  },
  policy_change: {
    summary: 'A policy change: what it changes, its approvals and its state.',
    args: {
      type: 'object',
      required: ['changeId'],
      additionalProperties: false,
      properties: { changeId: schemas.changeId },
    },
    run: (context, args) => {
      onlyFields(args, ['changeId']);
      const id = stringArg(args, 'changeId', changeIdPattern, 68);
      const record =
        readJson<PolicyChangeRecord>(context.kv, policyChangesMap, id) ??
        notFound('policy change', id);
      requireReader(context, loadWallet(context.kv, record.walletId));
      return { change: record };
    },
  },
  withdrawal: {
    summary: 'A withdrawal record (public: what the signer reads).',
    args: {
      type: 'object',
      required: ['withdrawalId'],
      additionalProperties: false,
      properties: { withdrawalId: schemas.id },
    },
    run: (context, args) => {
      onlyFields(args, ['withdrawalId']);
      return { withdrawal: loadWithdrawal(context.kv, idArg(args, 'withdrawalId')) };
    },
  },
  withdrawals: {
    summary:
      "Withdrawals, newest first: a wallet's (optionally in one state), or across wallets of a chain in an open state (admins, the chain's workers).",
    args: {
      type: 'object',
      additionalProperties: false,
      properties: {
        walletId: schemas.id,
        chain: schemas.chain,
        state: { type: 'string', enum: [...withdrawalStates] },
        ...pageProps,
      },
    },
    run: (context, args) => {
      onlyFields(args, ['walletId', 'chain', 'state', 'cursor', 'limit']);
      const { kv } = context;
      const state = withdrawalStateArg(args);
      const { cursor, limit } = page(args);
      if (args['walletId'] !== undefined) {
        const wallet = loadWallet(kv, idArg(args, 'walletId'));
        requireReader(context, wallet);
        const { items, next } = scanBackward(
          kv,
          withdrawalLogKey(wallet.id),
          cursor,
          limit,
          (id) => readWithdrawal(kv, id),
          (item) => state === undefined || item.state === state,
        );
        return { withdrawals: items, next };
      }
      if (state === undefined || !openWithdrawalStates.includes(state)) {
        invalidArgs(
          'state',
          `without walletId must be an open state: ${openWithdrawalStates.join(', ')}`,
        );
      }
      const chains = args['chain'] === undefined ? [...custodyChains] : [chainArg(args)];
      requireAdminOrWorker(context, chains);
      const ids = chains.flatMap((chain) => readList(kv, openListKey(chain, state)));
      const start = cursor ?? 0;
      const withdrawals = ids
        .slice(start, start + limit)
        .map((id) => readWithdrawal(kv, id))
        .filter((item): item is WithdrawalRecord => item !== undefined);
      return { withdrawals, next: start + limit < ids.length ? start + limit : null };
    },
  },
  pending_approvals: {
    summary:
      'What waits for admin approval: withdrawals in pending_approval and pending policy changes (MSP admins).',
    args: {
      type: 'object',
      additionalProperties: false,
      properties: { chain: schemas.chain },
    },
    run: (context, args) => {
      onlyFields(args, ['chain']);
      const { caller, kv } = context;
      if (caller?.isAdmin !== true)
        throw cofferError('CUSTODY_E_NOT_ADMIN', 'pending approvals are listed for MSP admins');
      const chains = args['chain'] === undefined ? [...custodyChains] : [chainArg(args)];
      const withdrawals = chains
        .flatMap((chain) => readList(kv, openListKey(chain, 'pending_approval')))
        .map((id) => readWithdrawal(kv, id))
        .filter((item): item is WithdrawalRecord => item !== undefined);
      const policyChanges = readList(kv, pendingPolicyKey)
        .map((id) => readJson<PolicyChangeRecord>(kv, policyChangesMap, id))
        .filter((item): item is PolicyChangeRecord => item !== undefined)
        .filter(
          (item) =>
            args['chain'] === undefined ||
            readJson<WalletRecord>(kv, walletsMap, item.walletId)?.chain === args['chain'],
        );
      return { withdrawals, policyChanges };
    },
  },
  deposits: {
    summary: "A wallet's deposits, newest first (optionally in one state).",
    args: {
      type: 'object',
      required: ['walletId'],
      additionalProperties: false,
      properties: {
        walletId: schemas.id,
        state: { type: 'string', enum: [...depositStates] },
        ...pageProps,
      },
    },
    run: (context, args) => {
      onlyFields(args, ['walletId', 'state', 'cursor', 'limit']);
      const { kv } = context;
      const wallet = loadWallet(kv, idArg(args, 'walletId'));
      requireReader(context, wallet);
      const state = args['state'];
      if (state !== undefined && !(depositStates as readonly unknown[]).includes(state))
        invalidArgs('state', `must be one of ${depositStates.join(', ')}`);
      const { cursor, limit } = page(args);
      const { items, next } = scanBackward(
        kv,
        depositLogKey(wallet.id),
        cursor,
        limit,
        (id) => readJson<DepositRecord>(kv, depositsMap, id),
        (item) => state === undefined || item.state === state,
      );
      return { deposits: items, next };
    },
  },
  deposit: {
    summary: 'One deposit, by chain, chain tx id and output index.',
    args: {
      type: 'object',
      required: ['chain', 'chainTxId', 'outputIndex'],
      additionalProperties: false,
      properties: {
        chain: schemas.chain,
        chainTxId: schemas.chainTxId,
        outputIndex: schemas.outputIndex,
      },
    },
    run: (context, args) => {
      onlyFields(args, ['chain', 'chainTxId', 'outputIndex']);
      const id = depositIdOf(
        chainArg(args),
        stringArg(args, 'chainTxId', chainTxIdPattern, chainTxIdCharsMax),
        integerArg(args, 'outputIndex', 0, 0xffffffff),
      );
      const record =
        readJson<DepositRecord>(context.kv, depositsMap, id) ?? notFound('deposit', id);
      requireReader(context, loadWallet(context.kv, record.walletId));
      return { deposit: record };
    },
  },
  history: {
    summary:
      "An object's audit history, oldest first: each step's txId (fetch its receipt), action, resulting state, time and who.",
    args: {
      type: 'object',
      required: ['kind', 'id'],
      additionalProperties: false,
      properties: {
        kind: { type: 'string', enum: [...historyKinds] },
        id: {
          type: 'string',
          minLength: 1,
          maxLength: 200,
          description: 'wallet, withdrawal or policy change id; deposit <chain>/<chainTxId>/<n>',
        },
        ...pageProps,
      },
    },
    run: (context, args) => {
      onlyFields(args, ['kind', 'id', 'cursor', 'limit']);
      const kind = args['kind'];
      if (typeof kind !== 'string' || !(historyKinds as readonly string[]).includes(kind))
        invalidArgs('kind', `must be one of ${historyKinds.join(', ')}`);
      const id = stringArg(args, 'id', /^[A-Za-z0-9_.:/-]+$/, 200);
      requireReader(context, walletOfObject(context, kind as HistoryKind, id));
      const { cursor, limit } = page(args);
      const prefix = `${kind}/${id}`;
      const count = pagedCount(context.kv, historyMap, prefix);
      const start = cursor ?? 0;
      const entries = pagedSlice<HistoryEntry>(
        context.kv,
        historyMap,
        prefix,
        start,
        Math.min(count, start + limit),
      );
      return { kind, id, entries, next: start + limit < count ? start + limit : null };
    },
  },
};
