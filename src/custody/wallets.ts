// Wallets, their deposit addresses and balances. A wallet is per chain and 2-of-3: the
// service's offline (cold) key, the service's own key (its KMS) and the platform's HSM key;
// two signatures move funds, and the ledger records the service's and the platform's.
import assert from 'node:assert/strict';
import { cofferError } from '../errors/index.js';
import { onlyFields, stringArg } from '../contracts/args.js';
import { tokenAmountMax, type Action, type KvView, type KvWriter } from '../contracts/index.js';
import { envOf, loadWallet, isWorker, requireService } from './access.js';
import {
  chainArg,
  idArg,
  keyPattern,
  normaliseAddress,
  objectArg,
  optionalText,
  pathPattern,
  schemas,
  type Args,
} from './args.js';
import { normalisePublicKey } from './keys.js';
import {
  accountCharsMax,
  addressesPerWalletMax,
  derivationPathCharsMax,
  keyIdCharsMax,
  labelCharsMax,
  walletsPerChainMax,
  walletsPerServiceMax,
} from './limits.js';
import { defaultPolicy } from './policy.js';
import {
  appendHistory,
  listAdd,
  pagedAppend,
  principalOf,
  readJson,
  samePrincipal,
  writeJson,
} from './state.js';
import {
  addressesMap,
  balancesMap,
  curves,
  indexMap,
  policiesMap,
  walletsMap,
  type AddressRecord,
  type BalanceEntry,
  type Balances,
  type Curve,
  type CustodyChain,
  type WalletRecord,
} from './types.js';

// --- balances ---------------------------------------------------------------------------------

const zero: BalanceEntry = { total: '0', reserved: '0', deficit: '0' };

export function readBalances(kv: KvView, walletId: string): Balances {
  return readJson<Balances>(kv, balancesMap, walletId) ?? {};
}

export function balanceOf(kv: KvView, walletId: string, asset: string): BalanceEntry {
  return readBalances(kv, walletId)[asset] ?? zero;
}

/** Writes one asset's balance; asserts 0 <= reserved <= total and deficit >= 0. */
export function writeBalance(
  kv: KvWriter,
  walletId: string,
  asset: string,
  next: { total: bigint; reserved: bigint; deficit: bigint },
): void {
  assert(next.reserved >= 0n && next.reserved <= next.total, 'custody: 0 <= reserved <= total');
  assert(next.deficit >= 0n, 'custody: deficit >= 0');
  if (next.total > tokenAmountMax) {
    throw cofferError(
      'CUSTODY_E_AMOUNT_OVERFLOW',
      `the ${asset} balance of wallet ${walletId} would exceed ${tokenAmountMax}`,
      { walletId, asset },
    );
  }
  const balances = { ...readBalances(kv, walletId) };
  balances[asset] = {
    total: next.total.toString(),
    reserved: next.reserved.toString(),
    deficit: next.deficit.toString(),
  };
  writeJson(kv, balancesMap, walletId, balances);
}

export function balanceNumbers(entry: BalanceEntry): {
  total: bigint;
  reserved: bigint;
  deficit: bigint;
} {
  return {
    total: BigInt(entry.total),
    reserved: BigInt(entry.reserved),
    deficit: BigInt(entry.deficit),
  };
}

// --- indexes ----------------------------------------------------------------------------------

export const walletsIndexKey = (owner: string): string => `wallets/${owner}`;
export const addressLogKey = (walletId: string): string => `addresses/${walletId}`;
/** Every wallet of a chain in creation order: its workers page through it (chain_wallets). */
export const chainWalletsKey = (chain: CustodyChain): string => `chain-wallets/${chain}`;
export const addressKey = (chain: CustodyChain, address: string): string => `${chain}/${address}`;

// --- actions ----------------------------------------------------------------------------------

const defaultCurve: Readonly<Record<CustodyChain, Curve>> = {
  coffer: 'P-256',
  ethereum: 'secp256k1',
  bitcoin: 'secp256k1',
};

function curveArg(args: Args, chain: CustodyChain): Curve {
  const value = args['curve'] ?? defaultCurve[chain];
  if (typeof value !== 'string' || !(curves as readonly string[]).includes(value)) {
    throw cofferError('APP_E_INVALID_ARGS', `args.curve must be one of ${curves.join(', ')}`, {
      field: 'args.curve',
    });
  }
  if (chain !== 'coffer' && value !== 'secp256k1') {
    throw cofferError(
      'CUSTODY_E_KEY_INVALID',
      `${chain} signs with secp256k1; args.curve is ${value}`,
      { field: 'args.curve' },
    );
  }
  return value as Curve;
}

const keysSchema = {
  type: 'object',
  required: ['offline', 'service', 'platform'],
  additionalProperties: false,
  description: 'the three keys of the 2-of-3 wallet, all on the wallet curve and distinct',
  properties: {
    offline: { ...schemas.publicKey, description: "the service's offline (cold) key, SEC1 hex" },
    service: { ...schemas.publicKey, description: "the service's own (KMS) key, SEC1 hex" },
    platform: {
      type: 'object',
      required: ['keyId', 'publicKey', 'curve'],
      additionalProperties: false,
      description: "the platform's HSM key: its id on the signer and its public key",
      properties: { keyId: schemas.keyId, publicKey: schemas.publicKey, curve: schemas.curve },
    },
  },
} as const;

export const createWallet: Action = {
  summary:
    'Creates a 2-of-3 wallet on a chain for the calling service (a client identity); its id is this txId.',
  args: {
    type: 'object',
    required: ['chain', 'keys'],
    additionalProperties: false,
    properties: {
      chain: schemas.chain,
      label: schemas.label,
      curve: { ...schemas.curve, description: 'default: P-256 on coffer, secp256k1 elsewhere' },
      keys: keysSchema,
    },
  },
  run: (context, args) => {
    onlyFields(args, ['chain', 'label', 'curve', 'keys']);
    const env = envOf(context);
    const { caller, kv } = context;
    requireService(env.params, caller);
    const chain = chainArg(args);
    const label = optionalText(args, 'label', labelCharsMax);
    const curve = curveArg(args, chain);
    const keys = objectArg(args, 'keys');
    onlyFields(keys, ['offline', 'service', 'platform']);
    const platformArgs = objectArg(keys, 'platform');
    onlyFields(platformArgs, ['keyId', 'publicKey', 'curve']);
    const keyText = (from: Args, field: string, path: string): string => {
      const value = from[field];
      if (typeof value !== 'string') {
        throw cofferError('CUSTODY_E_KEY_INVALID', `${path} must be a SEC1 public key in hex`, {
          field: path,
        });
      }
      return normalisePublicKey(value, curve, path);
    };
    if (platformArgs['curve'] !== curve) {
      throw cofferError(
        'CUSTODY_E_KEY_INVALID',
        `args.keys.platform.curve must be the wallet curve, ${curve}`,
        { field: 'args.keys.platform.curve' },
      );
    }
    const offline = keyText(keys, 'offline', 'args.keys.offline');
    const service = keyText(keys, 'service', 'args.keys.service');
    const platform = {
      keyId: stringArg(platformArgs, 'keyId', keyPattern, keyIdCharsMax),
      publicKey: keyText(platformArgs, 'publicKey', 'args.keys.platform.publicKey'),
      curve,
    };
    if (new Set([offline, service, platform.publicKey]).size !== 3) {
      throw cofferError(
        'CUSTODY_E_KEY_INVALID',
        'the offline, service and platform keys must be three different keys (2-of-3 with a repeated key is 2-of-2 or worse)',
        { field: 'args.keys' },
      );
    }
    const id = context.txId;
    if (readJson(kv, walletsMap, id) !== undefined)
      throw new Error(`custody invariant: wallet ${id} exists before its transaction`);
    const owner = { mspId: caller.mspId, identityId: caller.identityId };
    const wallet: WalletRecord = {
      id,
      chain,
      label,
      owner,
      curve,
      threshold: { m: 2, n: 3 },
      keys: { offline, service, platform },
      frozen: false,
      alerts: [],
      createdAt: context.time,
      createdTx: context.txId,
      updatedAt: context.time,
    };
    listAdd(
      kv,
      walletsIndexKey(principalOf(owner)),
      id,
      walletsPerServiceMax,
      'walletsPerServiceMax',
      `wallets of ${principalOf(owner)}`,
    );
    writeJson(kv, walletsMap, id, wallet);
    pagedAppend(
      kv,
      indexMap,
      chainWalletsKey(chain),
      id,
      walletsPerChainMax,
      'walletsPerChainMax',
      `${chain} wallets`,
    );
    writeJson(
      kv,
      policiesMap,
      id,
      defaultPolicy(id, env.params.defaultApprovalsRequired, context.time),
    );
    appendHistory(kv, 'wallet', id, env.step, 'create_wallet', 'active');
    return { wallet };
  },
};

export const addAddress: Action = {
  summary:
    "Registers a deposit address derived for a wallet (its owner service or the chain's worker).",
  args: {
    type: 'object',
    required: ['walletId', 'address'],
    additionalProperties: false,
    properties: {
      walletId: schemas.id,
      address: schemas.address,
      account: { ...schemas.account, description: "the service's account the address is for" },
      path: { ...schemas.path, description: 'BIP-32 derivation path, e.g. m/0/17' },
    },
  },
  run: (context, args) => {
    onlyFields(args, ['walletId', 'address', 'account', 'path']);
    const env = envOf(context);
    const { caller, kv } = context;
    const wallet = loadWallet(kv, idArg(args, 'walletId'));
    if (!samePrincipal(caller, wallet.owner) && !isWorker(env.params, caller, wallet.chain)) {
      throw cofferError(
        'CUSTODY_E_FORBIDDEN',
        `only the owner of wallet ${wallet.id} or a ${wallet.chain} chain worker may add its addresses`,
        { walletId: wallet.id },
      );
    }
    const address = normaliseAddress(wallet.chain, args['address'], 'address');
    const account =
      args['account'] === undefined
        ? null
        : stringArg(args, 'account', keyPattern, accountCharsMax);
    const path =
      args['path'] === undefined
        ? null
        : stringArg(args, 'path', pathPattern, derivationPathCharsMax);
    const key = addressKey(wallet.chain, address);
    const existing = readJson<AddressRecord>(kv, addressesMap, key);
    if (existing !== undefined) {
      if (existing.walletId === wallet.id && existing.account === account)
        return { address: existing, existing: true };
      throw cofferError(
        'CUSTODY_E_ADDRESS_TAKEN',
        `${wallet.chain} address ${address} is registered already (wallet ${existing.walletId}, account ${String(existing.account)})`,
        { address },
      );
    }
    const record: AddressRecord = {
      chain: wallet.chain,
      address,
      walletId: wallet.id,
      account,
      path,
      addedAt: context.time,
      txId: context.txId,
      addedBy: env.step.by,
    };
    writeJson(kv, addressesMap, key, record);
    pagedAppend(
      kv,
      indexMap,
      addressLogKey(wallet.id),
      address,
      addressesPerWalletMax,
      'addressesPerWalletMax',
      `addresses of wallet ${wallet.id}`,
    );
    return { address: record, existing: false };
  },
};
