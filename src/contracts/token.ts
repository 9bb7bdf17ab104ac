// A fungible token app: MSP admins mint, holders transfer, anyone reads balances and supply.
// Accounts are consortium identities ("<mspId>:<identityId>"); amounts are decimal strings of
// integers (no floats anywhere near money), bounded by tokenAmountMax.
//
// Multisig accounts (issue 7, the ledger-native custody chain): `ms:<walletId>` holds the funds
// of a custody wallet on chain `coffer`. Its keys and threshold come from the wallet record the
// custody app keeps in clear (`public:custody.wallets`), so nobody can register other keys
// under a wallet's account first. Its funds move only by `multisig_transfer`: the canonical
// bytes of {symbol, from, to, amount, nonce} and m signatures by distinct registered keys over
// their SHA-256 digest (signed as is, not hashed again, low-S). Each nonce is spent once per
// account (a set of spent nonces, not a counter, so that withdrawals built in parallel can be
// broadcast in any order). Transfers into a multisig account are logged in order for the
// custody chain worker to report as deposits. Every multisig refusal has its own stable code,
// TOKEN_E_MULTISIG_* (src/errors/registry.ts), which execution passes to the caller as is.
import { createHash } from 'node:crypto';
import {
  derSignatureToRaw,
  isPublicKeyHex,
  rawSignatureBytes,
  rawSignatureToDer,
  verifyDigestSignature,
  type KeyCurve,
} from '../crypto/index.js';
import { cofferError } from '../errors/index.js';
import { canonicalBytes } from '../ledger/canonical.js';
import { invalidArgs, onlyFields, stringArg } from './args.js';
import type { ActionContext, App, KvView, KvWriter } from './types.js';

/** 2^128 - 1: the largest balance or supply. */
export const tokenAmountMax = (1n << 128n) - 1n;
const symbolPattern = /^[A-Z][A-Z0-9]{0,11}$/;
const accountPattern = /^[A-Za-z0-9_.-]{1,256}:[0-9a-f]{64}$/;
const amountPattern = /^(0|[1-9][0-9]{0,38})$/;

const balancesMap = 'token.balances';
const supplyMap = 'public:token.supply';
/** Multisig account → MultisigAccount (public: keys are public, the worker reads them). */
export const multisigMap = 'public:token.multisig';
/** `<account>/<nonce>` → txId of the multisig transfer that spent the nonce. */
const noncesMap = 'token.multisig-nonces';
/** `count` → n; `<n>` (0-based) → IncomingTransfer: transfers into multisig accounts, in order. */
const incomingMap = 'token.multisig-incoming';
/** The custody app's public wallet records (src/custody walletsMap; read, never written). */
const custodyWalletsMap = 'public:custody.wallets';

export const multisigPrefix = 'ms';
const multisigAccountPattern = /^ms:[0-9a-f]{64}$/;
const walletIdPattern = /^[0-9a-f]{64}$/;
const noncePattern = /^[A-Za-z0-9_.:-]{1,128}$/;
const txHexPattern = /^(?:[0-9a-f]{2})+$/;
/** Hex characters of a multisig transfer's canonical bytes (far above a real one, ~700). */
export const multisigTxHexCharsMax = 4096;
/** Signatures a multisig transfer may carry (n of a custody wallet is 3). */
export const multisigSignaturesMax = 8;
/** Incoming transfers one `multisig_incoming` query returns. */
export const incomingPageMax = 256;
/** Hex characters of one signature: DER of a 256-bit curve is at most 72 bytes. */
const signatureHexCharsMax = 144;

export type MultisigAccount = {
  readonly account: string;
  readonly walletId: string;
  readonly curve: KeyCurve;
  readonly threshold: number;
  /** SEC1 uncompressed public keys, lower-case hex. */
  readonly keys: readonly string[];
  readonly registeredTx: string;
};

/** What the keys of a multisig account sign. */
export type MultisigTransfer = {
  readonly symbol: string;
  readonly from: string;
  readonly to: string;
  /** Decimal integer. */
  readonly amount: string;
  readonly nonce: string;
};

export type IncomingTransfer = {
  readonly index: number;
  readonly txId: string;
  readonly symbol: string;
  /** The sender's account, or null for a mint. */
  readonly from: string | null;
  readonly to: string;
  readonly amount: string;
  readonly time: number;
};

const multisigTxType = 'coffer.token.multisig_transfer.v1';

export function multisigAccountOf(walletId: string): string {
  return `${multisigPrefix}:${walletId}`;
}

/** The canonical bytes (RFC 8785 JSON) of a multisig transfer: what is built and signed. */
export function multisigTransferBytes(transfer: MultisigTransfer): Uint8Array {
  return canonicalBytes({ type: multisigTxType, ...transfer });
}

/** SHA-256 of the canonical bytes: the digest the keys sign. */
export function multisigTransferDigest(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

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

function readMultisig(kv: KvView, account: string): MultisigAccount | undefined {
  const text = kv.get(multisigMap, account);
  return text === undefined ? undefined : (JSON.parse(text) as MultisigAccount);
}

/** Appends a transfer into a multisig account to the incoming log. */
function logIncoming(
  context: ActionContext,
  entry: Omit<IncomingTransfer, 'index' | 'txId' | 'time'>,
): void {
  const kv: KvWriter = context.kv;
  const index = Number(kv.get(incomingMap, 'count') ?? '0');
  const record: IncomingTransfer = { index, txId: context.txId, ...entry, time: context.time };
  kv.put(incomingMap, String(index), JSON.stringify(record));
  kv.put(incomingMap, 'count', String(index + 1));
}

function credit(
  context: ActionContext,
  symbol: string,
  account: string,
  amount: bigint,
  from: string | null,
): bigint {
  // Logged before registration too: funds sent to a wallet's account early are still found.
  if (multisigAccountPattern.test(account))
    logIncoming(context, { symbol, from, to: account, amount: amount.toString() });
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

/** r‖s of a signature in hex: 64 bytes r‖s, or DER in its one canonical encoding. */
function rawSignatureOf(hex: string): Uint8Array | undefined {
  if (!txHexPattern.test(hex)) return undefined;
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  if (bytes.length === rawSignatureBytes) return bytes;
  try {
    const raw = derSignatureToRaw(bytes);
    return Buffer.from(rawSignatureToDer(raw)).equals(bytes) ? raw : undefined;
  } catch {
    return undefined;
  }
}

function malformedTx(field: string, what: string): never {
  throw cofferError(
    'TOKEN_E_MULTISIG_TX_MALFORMED',
    `${field} ${what}; build the bytes with multisigTransferBytes (the coffer custody worker's build step does)`,
    { field },
  );
}

/** A string field of the transfer inside args.tx; TOKEN_E_MULTISIG_TX_MALFORMED names it. */
function txField(
  fields: Readonly<Record<string, unknown>>,
  name: string,
  pattern: RegExp,
  charsMax: number,
): string {
  const value = fields[name];
  if (typeof value !== 'string' || value.length > charsMax || !pattern.test(value))
    malformedTx(`args.tx.${name}`, `must be a string matching ${String(pattern)}`);
  return value;
}

const transferFields = ['symbol', 'from', 'to', 'amount', 'nonce'];

/** The transfer inside canonical bytes given as hex; refuses anything not canonical. */
function parseMultisigTx(hex: string): MultisigTransfer {
  const bytes = Buffer.from(hex, 'hex');
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return malformedTx('args.tx', 'is not the canonical JSON of a multisig transfer');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    malformedTx('args.tx', 'is not the canonical JSON of a multisig transfer');
  const fields = value as Record<string, unknown>;
  const { type, ...rest } = fields;
  if (type !== multisigTxType) malformedTx('args.tx.type', `must be ${multisigTxType}`);
  for (const key of Object.keys(rest)) {
    if (!transferFields.includes(key))
      malformedTx(`args.tx.${key}`, `is not a field (expected type, ${transferFields.join(', ')})`);
  }
  const amount = BigInt(txField(rest, 'amount', amountPattern, 39));
  if (amount <= 0n || amount > tokenAmountMax)
    malformedTx('args.tx.amount', `must be from 1 to ${tokenAmountMax}`);
  const transfer: MultisigTransfer = {
    symbol: txField(rest, 'symbol', symbolPattern, 12),
    from: txField(rest, 'from', accountPattern, 321),
    to: txField(rest, 'to', accountPattern, 321),
    amount: amount.toString(),
    nonce: txField(rest, 'nonce', noncePattern, 128),
  };
  // One byte string per transfer: no whitespace or key-order variants to replay.
  if (!Buffer.from(multisigTransferBytes(transfer)).equals(bytes))
    malformedTx('args.tx', 'must be the canonical bytes (RFC 8785) of the transfer');
  return transfer;
}

function walletKeys(text: string, walletId: string): Omit<MultisigAccount, 'registeredTx'> {
  const wallet = JSON.parse(text) as {
    chain?: unknown;
    curve?: unknown;
    threshold?: { m?: unknown };
    keys?: { offline?: unknown; service?: unknown; platform?: { publicKey?: unknown } };
  };
  const keys = [wallet.keys?.offline, wallet.keys?.service, wallet.keys?.platform?.publicKey];
  const m = wallet.threshold?.m;
  if (wallet.chain !== 'coffer') {
    throw cofferError(
      'TOKEN_E_MULTISIG_WRONG_CHAIN',
      `custody wallet ${walletId} is on chain ${String(wallet.chain)}; only coffer wallets hold tokens: create a custody wallet on chain coffer`,
      { walletId, chain: String(wallet.chain) },
    );
  }
  if (
    (wallet.curve !== 'P-256' && wallet.curve !== 'secp256k1') ||
    typeof m !== 'number' ||
    !Number.isSafeInteger(m) ||
    m < 1 ||
    m > keys.length ||
    !keys.every(isPublicKeyHex)
  )
    throw new Error(`token invariant: custody wallet ${walletId} has no usable keys`);
  return {
    account: multisigAccountOf(walletId),
    walletId,
    curve: wallet.curve,
    threshold: m,
    keys: keys,
  };
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
        const balance = credit(context, symbol, to, amount, null);
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
        const multisig = readMultisig(context.kv, from);
        if (multisig !== undefined) {
          throw cofferError(
            'TOKEN_E_MULTISIG_PLAIN_TRANSFER',
            `${from} is a multisig account; move its funds with multisig_transfer (signatures by ${multisig.threshold} of its keys)`,
            { account: from },
          );
        }
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
        const received = credit(context, symbol, to, amount, from);
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
    register_multisig: {
      summary:
        "Registers the multisig account ms:<walletId> of a coffer custody wallet with the wallet's keys and threshold (anyone; idempotent).",
      args: {
        type: 'object',
        required: ['walletId'],
        properties: { walletId: { type: 'string', pattern: walletIdPattern.source } },
      },
      run: (context, args) => {
        onlyFields(args, ['walletId']);
        const walletId = stringArg(args, 'walletId', walletIdPattern, 64);
        const account = multisigAccountOf(walletId);
        const existing = readMultisig(context.kv, account);
        if (existing !== undefined) return { multisig: existing, existing: true };
        const text = context.readPublic?.(custodyWalletsMap, walletId);
        if (text === undefined) {
          throw cofferError(
            'TOKEN_E_MULTISIG_WALLET_NOT_FOUND',
            `args.walletId: no custody wallet ${walletId}; create it with custody create_wallet (chain coffer) first`,
            { field: 'args.walletId', walletId },
          );
        }
        const multisig: MultisigAccount = {
          ...walletKeys(text, walletId),
          registeredTx: context.txId,
        };
        context.kv.put(multisigMap, account, JSON.stringify(multisig));
        return { multisig, existing: false };
      },
    },
    multisig_transfer: {
      summary:
        'Moves tokens out of a multisig account: its canonical transfer bytes and m signatures by distinct registered keys over their SHA-256 (any caller may relay).',
      args: {
        type: 'object',
        required: ['tx', 'signatures'],
        properties: {
          tx: {
            type: 'string',
            pattern: txHexPattern.source,
            maxLength: multisigTxHexCharsMax,
            description: 'hex of the canonical JSON {type, symbol, from, to, amount, nonce}',
          },
          signatures: {
            type: 'array',
            maxItems: multisigSignaturesMax,
            items: { type: 'string', pattern: txHexPattern.source },
            description: 'ECDSA signatures (r||s or DER, low-S) over SHA-256 of the bytes',
          },
        },
      },
      run: (context, args) => {
        onlyFields(args, ['tx', 'signatures']);
        const hex = stringArg(args, 'tx', txHexPattern, multisigTxHexCharsMax);
        const transfer = parseMultisigTx(hex);
        const multisig = readMultisig(context.kv, transfer.from);
        if (multisig === undefined) {
          throw cofferError(
            'TOKEN_E_MULTISIG_NOT_REGISTERED',
            `${transfer.from} is not a registered multisig account; send from ms:<walletId> after register_multisig of its coffer custody wallet`,
            { field: 'args.tx.from', account: transfer.from },
          );
        }
        const signatures = args['signatures'];
        if (!Array.isArray(signatures) || signatures.length > multisigSignaturesMax)
          invalidArgs(
            'signatures',
            `must be a list of at most ${multisigSignaturesMax} hex strings`,
          );
        const digest = multisigTransferDigest(Buffer.from(hex, 'hex'));
        const digestHex = Buffer.from(digest).toString('hex');
        /** Key → index of the signature it made. */
        const signedBy = new Map<string, number>();
        signatures.forEach((item: unknown, index) => {
          const field = `args.signatures[${index}]`;
          const raw =
            typeof item === 'string' && item.length <= signatureHexCharsMax
              ? rawSignatureOf(item)
              : undefined;
          if (raw === undefined) {
            throw cofferError(
              'TOKEN_E_MULTISIG_SIGNATURE_MALFORMED',
              `${field} is neither 64 bytes r||s nor one canonical DER ECDSA signature in hex; send the signature as the key store returns it`,
              { field },
            );
          }
          const key = multisig.keys.find((candidate) =>
            verifyDigestSignature(multisig.curve, candidate, digest, raw),
          );
          if (key === undefined) {
            // A stranger's key and a signature over other bytes look the same here.
            throw cofferError(
              'TOKEN_E_MULTISIG_SIGNATURE_INVALID',
              `${field} does not verify with any key of ${transfer.from} over ${digestHex} (ECDSA ${multisig.curve}, low-S, the digest not hashed again); sign exactly this digest with a key of the account`,
              { field, digest: digestHex },
            );
          }
          const earlier = signedBy.get(key);
          if (earlier !== undefined) {
            throw cofferError(
              'TOKEN_E_MULTISIG_DUPLICATE_SIGNER',
              `${field} is by the same key as args.signatures[${earlier}]; each key of ${transfer.from} signs once: send signatures by ${multisig.threshold} distinct keys`,
              { field, duplicateOf: `args.signatures[${earlier}]` },
            );
          }
          signedBy.set(key, index);
        });
        if (signedBy.size < multisig.threshold) {
          throw cofferError(
            'TOKEN_E_MULTISIG_THRESHOLD_NOT_MET',
            `${transfer.from} needs signatures by ${multisig.threshold} distinct keys; ${signedBy.size} signed: add ${multisig.threshold - signedBy.size} by its other keys over ${digestHex}`,
            { signed: signedBy.size, threshold: multisig.threshold, digest: digestHex },
          );
        }
        const nonceKey = `${transfer.from}/${transfer.nonce}`;
        const spent = context.kv.get(noncesMap, nonceKey);
        if (spent !== undefined) {
          throw cofferError(
            'TOKEN_E_MULTISIG_NONCE_SPENT',
            `nonce ${transfer.nonce} of ${transfer.from} was spent by transaction ${spent}; build a new transfer with an unspent nonce`,
            { field: 'args.tx.nonce', nonce: transfer.nonce, spentBy: spent },
          );
        }
        const amount = BigInt(transfer.amount);
        const { symbol, from, to } = transfer;
        const balance = read(context.kv, balancesMap, `${symbol}/${from}`);
        if (balance < amount) {
          throw cofferError(
            'TOKEN_E_INSUFFICIENT_FUNDS',
            `${from} holds ${balance} ${symbol}, less than ${amount}`,
            { balance: balance.toString() },
          );
        }
        context.kv.put(noncesMap, nonceKey, context.txId);
        context.kv.put(balancesMap, `${symbol}/${from}`, (balance - amount).toString());
        const received = credit(context, symbol, to, amount, from);
        return {
          symbol,
          from,
          to,
          amount: transfer.amount,
          nonce: transfer.nonce,
          digest: digestHex,
          fromBalance: (balance - amount).toString(),
          toBalance: received.toString(),
        };
      },
    },
  },
  queries: {
    multisig: {
      summary: 'A multisig account: its wallet, keys, threshold (null when not registered).',
      args: { type: 'object', required: ['account'], properties: { account: accountArg } },
      run: (context, args) => {
        onlyFields(args, ['account']);
        const account = stringArg(args, 'account', accountPattern, 321);
        return { multisig: readMultisig(context.kv, account) ?? null };
      },
    },
    multisig_nonce: {
      summary:
        'Whether a nonce of a multisig account is spent, and by which transaction (null: not spent).',
      args: {
        type: 'object',
        required: ['account', 'nonce'],
        properties: {
          account: accountArg,
          nonce: { type: 'string', pattern: noncePattern.source },
        },
      },
      run: (context, args) => {
        onlyFields(args, ['account', 'nonce']);
        const account = stringArg(args, 'account', accountPattern, 321);
        const nonce = stringArg(args, 'nonce', noncePattern, 128);
        return {
          account,
          nonce,
          spentBy: context.kv.get(noncesMap, `${account}/${nonce}`) ?? null,
        };
      },
    },
    multisig_incoming: {
      summary:
        'Transfers into multisig accounts from index `from` on, oldest first (what custody workers report as deposits).',
      args: {
        type: 'object',
        properties: {
          from: { type: 'integer', minimum: 0 },
          limit: { type: 'integer', minimum: 1, maximum: incomingPageMax },
        },
      },
      run: (context, args) => {
        onlyFields(args, ['from', 'limit']);
        const from = args['from'] ?? 0;
        const limit = args['limit'] ?? incomingPageMax;
        if (typeof from !== 'number' || !Number.isSafeInteger(from) || from < 0)
          invalidArgs('from', 'must be a whole number from 0');
        if (
          typeof limit !== 'number' ||
          !Number.isSafeInteger(limit) ||
          limit < 1 ||
          limit > incomingPageMax
        )
          invalidArgs('limit', `must be a whole number from 1 to ${incomingPageMax}`);
        const count = Number(context.kv.get(incomingMap, 'count') ?? '0');
        const transfers: IncomingTransfer[] = [];
        for (let index = from; index < Math.min(count, from + limit); index += 1) {
          const text = context.kv.get(incomingMap, String(index));
          if (text === undefined)
            throw new Error(`token invariant: incoming ${index} of ${count} missing`);
          transfers.push(JSON.parse(text) as IncomingTransfer);
        }
        return { transfers, next: Math.min(count, from + limit), count };
      },
    },
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
