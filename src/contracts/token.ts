// A fungible token app: MSP admins mint, holders transfer, anyone reads balances and supply.
// Accounts are consortium identities ("<mspId>:<identityId>"); amounts are decimal strings of
// integers (no floats anywhere near money), bounded by tokenAmountMax.
import { cofferError } from '../errors/index.js';
import { invalidArgs, onlyFields, stringArg } from './args.js';
import type { ActionContext, App, KvView } from './types.js';

/** 2^128 - 1: the largest balance or supply. */
export const tokenAmountMax = (1n << 128n) - 1n;
const symbolPattern = /^[A-Z][A-Z0-9]{0,11}$/;
const accountPattern = /^[A-Za-z0-9_.-]{1,256}:[0-9a-f]{64}$/;
const amountPattern = /^(0|[1-9][0-9]{0,38})$/;

const balancesMap = 'token.balances';
const supplyMap = 'public:token.supply';

export function accountOf(mspId: string, identityId: string): string {
  return `${mspId}:${identityId}`;
}

function amountArg(args: Readonly<Record<string, unknown>>): bigint {
  const text = stringArg(args, 'amount', amountPattern, 39);
  const amount = BigInt(text);
  if (amount <= 0n) invalidArgs('amount', 'must be greater than zero');
  if (amount > tokenAmountMax) invalidArgs('amount', `must be at most ${tokenAmountMax}`);
  return amount;
}

function read(kv: KvView, map: string, key: string): bigint {
  return BigInt(kv.get(map, key) ?? '0');
}

function credit(context: ActionContext, symbol: string, account: string, amount: bigint): bigint {
  const next = read(context.kv, balancesMap, `${symbol}/${account}`) + amount;
  if (next > tokenAmountMax) {
    throw cofferError(
      'TOKEN_E_OVERFLOW',
      `balance of ${account} would exceed ${tokenAmountMax} ${symbol}`,
    );
  }
  context.kv.put(balancesMap, `${symbol}/${account}`, next.toString());
  return next;
}

const symbolArg = { type: 'string', pattern: symbolPattern.source };
const accountArg = {
  type: 'string',
  pattern: accountPattern.source,
  description: '<mspId>:<identityId>',
};
const amountSchema = {
  type: 'string',
  pattern: amountPattern.source,
  description: 'decimal integer',
};

export const tokenApp: App = {
  name: 'token',
  version: '1.0.0',
  summary: 'Fungible tokens: admins mint, holders transfer; balances private, supply public.',
  actions: {
    mint: {
      summary: 'Creates amount new tokens in account (MSP admins only).',
      args: {
        type: 'object',
        required: ['symbol', 'to', 'amount'],
        properties: { symbol: symbolArg, to: accountArg, amount: amountSchema },
      },
      run: (context, args) => {
        onlyFields(args, ['symbol', 'to', 'amount']);
        if (!context.caller.isAdmin) {
          throw cofferError(
            'APP_E_FORBIDDEN',
            `only MSP admins may mint; ${context.caller.mspId} identity ${context.caller.identityId.slice(0, 16)}… is not an admin`,
          );
        }
        const symbol = stringArg(args, 'symbol', symbolPattern, 12);
        const to = stringArg(args, 'to', accountPattern, 321);
        const amount = amountArg(args);
        const supply = read(context.kv, supplyMap, symbol) + amount;
        if (supply > tokenAmountMax) {
          throw cofferError(
            'TOKEN_E_OVERFLOW',
            `supply of ${symbol} would exceed ${tokenAmountMax}`,
          );
        }
        const balance = credit(context, symbol, to, amount);
        context.kv.put(supplyMap, symbol, supply.toString());
        return { symbol, to, balance: balance.toString(), supply: supply.toString() };
      },
    },
    transfer: {
      summary: "Moves amount from the caller's account to another account.",
      args: {
        type: 'object',
        required: ['symbol', 'to', 'amount'],
        properties: { symbol: symbolArg, to: accountArg, amount: amountSchema },
      },
      run: (context, args) => {
        onlyFields(args, ['symbol', 'to', 'amount']);
        const symbol = stringArg(args, 'symbol', symbolPattern, 12);
        const to = stringArg(args, 'to', accountPattern, 321);
        const amount = amountArg(args);
        const from = accountOf(context.caller.mspId, context.caller.identityId);
        const balance = read(context.kv, balancesMap, `${symbol}/${from}`);
        if (balance < amount) {
          throw cofferError(
            'TOKEN_E_INSUFFICIENT_FUNDS',
            `${from} holds ${balance} ${symbol}, less than ${amount}`,
            {
              balance: balance.toString(),
            },
          );
        }
        context.kv.put(balancesMap, `${symbol}/${from}`, (balance - amount).toString());
        const received = credit(context, symbol, to, amount);
        return {
          symbol,
          from,
          to,
          amount: amount.toString(),
          fromBalance: (balance - amount).toString(),
          toBalance: received.toString(),
        };
      },
    },
  },
  queries: {
    balance: {
      summary: 'Balance of an account (default: the caller).',
      args: {
        type: 'object',
        required: ['symbol'],
        properties: { symbol: symbolArg, account: accountArg },
      },
      run: (context, args) => {
        onlyFields(args, ['symbol', 'account']);
        const symbol = stringArg(args, 'symbol', symbolPattern, 12);
        let account: string;
        if (args['account'] === undefined) {
          if (context.caller === undefined)
            invalidArgs('account', 'is required without a caller identity');
          account = accountOf(context.caller.mspId, context.caller.identityId);
        } else {
          account = stringArg(args, 'account', accountPattern, 321);
        }
        return {
          symbol,
          account,
          balance: read(context.kv, balancesMap, `${symbol}/${account}`).toString(),
        };
      },
    },
    supply: {
      summary: 'Total supply of a token.',
      args: { type: 'object', required: ['symbol'], properties: { symbol: symbolArg } },
      run: (context, args) => {
        onlyFields(args, ['symbol']);
        const symbol = stringArg(args, 'symbol', symbolPattern, 12);
        return { symbol, supply: read(context.kv, supplyMap, symbol).toString() };
      },
    },
  },
};
