// Deposits, reported by the chain's worker: seen in a block, credited once the chain's
// confirmation depth is reached, dropped when a reorganisation removes them. Idempotent on
// (chain, chain tx id, output index). A credited deposit dropped later (a reorganisation
// deeper than the depth) is reversed as far as the balance allows, the rest kept as a deficit,
// and the wallet is frozen with an alert: someone must look.
import { cofferError } from '../errors/index.js';
import { onlyFields, stringArg } from '../contracts/args.js';
import type { Action, KvWriter } from '../contracts/index.js';
import { badState, envOf, loadWallet, notFound, requireWorker, type Env } from './access.js';
import {
  amountArg,
  assetPattern,
  chainArg,
  chainTxIdPattern,
  integerArg,
  normaliseAddress,
  optionalText,
  schemas,
  type Args,
} from './args.js';
import {
  alertsPerWalletMax,
  chainTxIdCharsMax,
  confirmationsMax,
  depositsPerWalletMax,
  reasonCharsMax,
} from './limits.js';
import { appendHistory, pagedAppend, readJson, writeJson } from './state.js';
import {
  addressesMap,
  depositsMap,
  indexMap,
  walletsMap,
  type AddressRecord,
  type CustodyChain,
  type DepositRecord,
  type WalletRecord,
} from './types.js';
import { addressKey, balanceNumbers, balanceOf, writeBalance } from './wallets.js';

export const depositLogKey = (walletId: string): string => `deposits/${walletId}`;
export const depositIdOf = (chain: CustodyChain, chainTxId: string, outputIndex: number): string =>
  `${chain}/${chainTxId}/${outputIndex}`;

const outputArgs = {
  chain: schemas.chain,
  chainTxId: schemas.chainTxId,
  outputIndex: { ...schemas.outputIndex, description: 'output (UTXO) or log index; 0 otherwise' },
} as const;

function outputOf(args: Args): { chain: CustodyChain; chainTxId: string; outputIndex: number } {
  return {
    chain: chainArg(args),
    chainTxId: stringArg(args, 'chainTxId', chainTxIdPattern, chainTxIdCharsMax),
    outputIndex: integerArg(args, 'outputIndex', 0, 0xffffffff),
  };
}

function loadDeposit(env: Env, id: string): DepositRecord {
  return readJson<DepositRecord>(env.context.kv, depositsMap, id) ?? notFound('deposit', id);
}

function save(env: Env, record: DepositRecord, action: string, stateChanged: boolean): void {
  writeJson(env.context.kv, depositsMap, record.id, record);
  if (stateChanged)
    appendHistory(env.context.kv, 'deposit', record.id, env.step, action, record.state);
}

/** Credits the deposit: pays any deficit first, the rest to the total. */
function credit(kv: KvWriter, record: DepositRecord): void {
  const balance = balanceNumbers(balanceOf(kv, record.walletId, record.asset));
  const amount = BigInt(record.amount);
  const paid = balance.deficit < amount ? balance.deficit : amount;
  writeBalance(kv, record.walletId, record.asset, {
    total: balance.total + amount - paid,
    reserved: balance.reserved,
    deficit: balance.deficit - paid,
  });
}

export const depositSeen: Action = {
  summary:
    "Reports a transfer to a custody address seen in a block (the chain's worker); idempotent on chain, tx id and output index.",
  args: {
    type: 'object',
    required: [
      'chain',
      'chainTxId',
      'outputIndex',
      'address',
      'asset',
      'amount',
      'blockHeight',
      'blockHash',
    ],
    additionalProperties: false,
    properties: {
      ...outputArgs,
      address: schemas.address,
      asset: schemas.asset,
      amount: schemas.positiveAmount,
      blockHeight: schemas.height,
      blockHash: schemas.chainTxId,
    },
  },
  run: (context, args) => {
    onlyFields(args, [
      'chain',
      'chainTxId',
      'outputIndex',
      'address',
      'asset',
      'amount',
      'blockHeight',
      'blockHash',
    ]);
    const env = envOf(context);
    const { kv, time } = context;
    const output = outputOf(args);
    requireWorker(env.params, context.caller, output.chain, 'report deposits');
    const address = normaliseAddress(output.chain, args['address'], 'address');
    const asset = stringArg(args, 'asset', assetPattern, 12);
    const amount = amountArg(args, 'amount').toString();
    const block = {
      height: integerArg(args, 'blockHeight', 0, Number.MAX_SAFE_INTEGER),
      hash: stringArg(args, 'blockHash', chainTxIdPattern, chainTxIdCharsMax),
    };
    const id = depositIdOf(output.chain, output.chainTxId, output.outputIndex);
    const existing = readJson<DepositRecord>(kv, depositsMap, id);
    if (existing !== undefined) {
      if (existing.address !== address || existing.asset !== asset || existing.amount !== amount) {
        throw cofferError(
          'CUSTODY_E_DEPOSIT_CONFLICT',
          `deposit ${id} was reported as ${existing.amount} ${existing.asset} to ${existing.address}`,
          { id },
        );
      }
      const sameBlock =
        existing.block.height === block.height && existing.block.hash === block.hash;
      if (sameBlock && existing.state !== 'dropped' && existing.state !== 'reversed')
        return { deposit: existing, existing: true };
      // Seen again in another block (a reorganisation moved it) or after it was dropped.
      const reseen = existing.state === 'dropped' || existing.state === 'reversed';
      const next: DepositRecord = {
        ...existing,
        block,
        confirmations: 0,
        state: existing.state === 'credited' ? 'credited' : 'seen',
        updatedAt: time,
      };
      save(env, next, 'deposit_seen', reseen || next.state !== existing.state || !sameBlock);
      return { deposit: next, existing: true };
    }
    const registered = readJson<AddressRecord>(kv, addressesMap, addressKey(output.chain, address));
    if (registered === undefined) {
      throw cofferError(
        'CUSTODY_E_UNKNOWN_ADDRESS',
        `${output.chain} address ${address} belongs to no custody wallet`,
        { chain: output.chain, address },
      );
    }
    const record: DepositRecord = {
      id,
      ...output,
      walletId: registered.walletId,
      address,
      account: registered.account,
      asset,
      amount,
      block,
      confirmations: 0,
      confirmationsRequired: env.params.chains[output.chain].confirmations,
      state: 'seen',
      seenAt: time,
      creditedAt: null,
      reorgBeyondDepth: false,
      updatedAt: time,
    };
    pagedAppend(
      kv,
      indexMap,
      depositLogKey(record.walletId),
      id,
      depositsPerWalletMax,
      'depositsPerWalletMax',
      `deposits of wallet ${record.walletId}`,
    );
    save(env, record, 'deposit_seen', true);
    return { deposit: record, existing: false };
  },
};

export const depositConfirmations: Action = {
  summary:
    "Reports a deposit's confirmations (the chain's worker); credits it once they reach the chain's depth.",
  args: {
    type: 'object',
    required: ['chain', 'chainTxId', 'outputIndex', 'confirmations'],
    additionalProperties: false,
    properties: {
      ...outputArgs,
      confirmations: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
    },
  },
  run: (context, args) => {
    onlyFields(args, ['chain', 'chainTxId', 'outputIndex', 'confirmations']);
    const env = envOf(context);
    const output = outputOf(args);
    requireWorker(env.params, context.caller, output.chain, 'report confirmations');
    const confirmations = integerArg(args, 'confirmations', 0, Number.MAX_SAFE_INTEGER);
    const record = loadDeposit(
      env,
      depositIdOf(output.chain, output.chainTxId, output.outputIndex),
    );
    if (record.state === 'dropped' || record.state === 'reversed')
      badState('deposit', record.id, record.state, ['seen', 'credited'], 'a confirmation count');
    // A depth raised by governance after the deposit was seen applies too.
    const required = Math.min(
      confirmationsMax,
      Math.max(record.confirmationsRequired, env.params.chains[record.chain].confirmations),
    );
    if (record.state === 'seen' && confirmations >= required) {
      credit(context.kv, record);
      const next: DepositRecord = {
        ...record,
        confirmations,
        confirmationsRequired: required,
        state: 'credited',
        creditedAt: context.time,
        updatedAt: context.time,
      };
      save(env, next, 'deposit_confirmations', true);
      return { deposit: next };
    }
    const next: DepositRecord = { ...record, confirmations, updatedAt: context.time };
    save(env, next, 'deposit_confirmations', false);
    return { deposit: next };
  },
};

export const depositDropped: Action = {
  summary:
    "Reports that a reorganisation dropped a deposit (the chain's worker): uncredited, it is forgotten; credited, it is reversed, the wallet frozen and alerted.",
  args: {
    type: 'object',
    required: ['chain', 'chainTxId', 'outputIndex'],
    additionalProperties: false,
    properties: { ...outputArgs, reason: schemas.reason },
  },
  run: (context, args) => {
    onlyFields(args, ['chain', 'chainTxId', 'outputIndex', 'reason']);
    const env = envOf(context);
    const { kv, time } = context;
    const output = outputOf(args);
    requireWorker(env.params, context.caller, output.chain, 'report dropped deposits');
    optionalText(args, 'reason', reasonCharsMax);
    const record = loadDeposit(
      env,
      depositIdOf(output.chain, output.chainTxId, output.outputIndex),
    );
    if (record.state === 'seen') {
      const next: DepositRecord = { ...record, state: 'dropped', updatedAt: time };
      save(env, next, 'deposit_dropped', true);
      return { deposit: next, reversed: false };
    }
    if (record.state !== 'credited')
      badState('deposit', record.id, record.state, ['seen', 'credited'], 'a drop');
    // Beyond the depth: take back what is not reserved, owe the rest, freeze, alert.
    const balance = balanceNumbers(balanceOf(kv, record.walletId, record.asset));
    const amount = BigInt(record.amount);
    const free = balance.total - balance.reserved;
    const taken = free < amount ? free : amount;
    writeBalance(kv, record.walletId, record.asset, {
      total: balance.total - taken,
      reserved: balance.reserved,
      deficit: balance.deficit + amount - taken,
    });
    const wallet = loadWallet(kv, record.walletId);
    const alert = {
      kind: 'reorg_beyond_depth' as const,
      depositId: record.id,
      amount: record.amount,
      asset: record.asset,
      shortfall: (amount - taken).toString(),
      txId: context.txId,
      time,
    };
    const frozen: WalletRecord = {
      ...wallet,
      frozen: true,
      alerts: [...wallet.alerts, alert].slice(-alertsPerWalletMax),
      updatedAt: time,
    };
    writeJson(kv, walletsMap, wallet.id, frozen);
    appendHistory(kv, 'wallet', wallet.id, env.step, 'reorg_beyond_depth', 'frozen');
    const next: DepositRecord = {
      ...record,
      state: 'reversed',
      reorgBeyondDepth: true,
      updatedAt: time,
    };
    save(env, next, 'deposit_dropped', true);
    return { deposit: next, reversed: true, alert };
  },
};
