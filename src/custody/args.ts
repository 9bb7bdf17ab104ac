// Argument checks of the custody app: each failure is APP_E_INVALID_ARGS naming the field (as
// the other built-in apps), or a CUSTODY_E code where the value is well-formed but wrong for
// the chain (an address). The JSON Schemas next to them are what the OpenAPI shows.
import { cofferError } from '../errors/index.js';
import { invalidArgs, stringArg } from '../contracts/args.js';
import { tokenAmountMax } from '../contracts/index.js';
import {
  accountCharsMax,
  addressCharsMax,
  amountDigitsMax,
  chainTxIdCharsMax,
  derivationPathCharsMax,
  idempotencyKeyCharsMax,
  keyIdCharsMax,
  labelCharsMax,
  memoCharsMax,
  queryItemsMax,
  reasonCharsMax,
  digestsPerWithdrawalMax,
  signatureHexCharsMax,
  unsignedTxHexCharsMax,
} from './limits.js';
import { custodyChains, type CustodyChain } from './types.js';

export type Args = Readonly<Record<string, unknown>>;

export const idPattern = /^[0-9a-f]{64}$/;
/** Policy changes applied by governance get `<txId>/<n>` when one transaction applies several. */
export const changeIdPattern = /^[0-9a-f]{64}(?:\/[0-9]{1,3})?$/;
export const assetPattern = /^[A-Z][A-Z0-9]{0,11}$/;
export const amountPattern = /^(0|[1-9][0-9]{0,38})$/;
export const hexPattern = /^(?:[0-9a-f]{2})+$/;
export const digestPattern = /^[0-9a-f]{64}$/;
/** Text without control characters. */
export const textPattern = /^\P{Cc}*$/u;
export const keyPattern = /^[A-Za-z0-9_.:-]+$/;
export const pathPattern = /^m(?:\/[0-9]{1,10}'?){0,16}$/;
export const chainTxIdPattern = /^[A-Za-z0-9_.:-]+$/;
export const principalPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,255}:[0-9a-f]{64}$/;

// --- JSON Schemas -----------------------------------------------------------------------------

export const schemas = {
  id: { type: 'string', pattern: idPattern.source, description: 'a txId (64 hex)' },
  changeId: { type: 'string', pattern: changeIdPattern.source },
  chain: { type: 'string', enum: [...custodyChains] },
  asset: { type: 'string', pattern: assetPattern.source, description: 'asset symbol' },
  amount: {
    type: 'string',
    pattern: amountPattern.source,
    maxLength: amountDigitsMax,
    description: 'decimal integer in base units, at most 2^128 - 1',
  },
  positiveAmount: {
    type: 'string',
    pattern: amountPattern.source,
    maxLength: amountDigitsMax,
    description: 'decimal integer in base units, 1 to 2^128 - 1',
  },
  address: {
    type: 'string',
    minLength: 1,
    maxLength: addressCharsMax,
    description:
      'chain address: coffer <mspId>:<identityId>; ethereum 0x + 40 hex; bitcoin base58 or bech32',
  },
  label: { type: 'string', maxLength: labelCharsMax },
  account: { type: 'string', pattern: keyPattern.source, maxLength: accountCharsMax },
  path: { type: 'string', pattern: pathPattern.source, maxLength: derivationPathCharsMax },
  memo: { type: 'string', maxLength: memoCharsMax },
  reason: { type: 'string', maxLength: reasonCharsMax },
  idempotencyKey: {
    type: 'string',
    pattern: keyPattern.source,
    minLength: 1,
    maxLength: idempotencyKeyCharsMax,
  },
  publicKey: {
    type: 'string',
    pattern: '^04[0-9a-fA-F]{128}$',
    description: 'SEC1 uncompressed public key (04 ‖ x ‖ y), hex',
  },
  keyId: { type: 'string', pattern: keyPattern.source, maxLength: keyIdCharsMax },
  curve: { type: 'string', enum: ['secp256k1', 'P-256'] },
  unsignedTx: { type: 'string', pattern: hexPattern.source, maxLength: unsignedTxHexCharsMax },
  digest: { type: 'string', pattern: digestPattern.source, description: '32 bytes, hex' },
  signature: {
    type: 'string',
    pattern: hexPattern.source,
    maxLength: signatureHexCharsMax,
    description:
      'ECDSA over the digest (not hashed again), low-S; 64-byte r||s or canonical DER, hex',
  },
  chainTxId: { type: 'string', pattern: chainTxIdPattern.source, maxLength: chainTxIdCharsMax },
  digests: {
    type: 'array',
    minItems: 1,
    maxItems: digestsPerWithdrawalMax,
    items: { type: 'string', pattern: digestPattern.source },
    description: '32-byte digests, hex: one on coffer and ethereum, one per input on bitcoin',
  },
  signatures: {
    type: 'array',
    minItems: 1,
    maxItems: digestsPerWithdrawalMax,
    items: { type: 'string', pattern: hexPattern.source, maxLength: signatureHexCharsMax },
    description:
      "one key's ECDSA signatures of the withdrawal's digests, in their order (not hashed again), low-S; 64-byte r||s or canonical DER, hex",
  },
  height: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  outputIndex: { type: 'integer', minimum: 0, maximum: 0xffffffff },
  principal: {
    type: 'string',
    pattern: principalPattern.source,
    description: '<mspId>:<identityId>',
  },
  cursor: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER },
  limit: { type: 'integer', minimum: 1, maximum: queryItemsMax },
} as const;

// --- checks -----------------------------------------------------------------------------------

export function idArg(args: Args, field: string): string {
  return stringArg(args, field, idPattern, 64);
}

export function optionalText(args: Args, field: string, charsMax: number): string | null {
  if (args[field] === undefined) return null;
  return stringArg(args, field, textPattern, charsMax);
}

export function chainArg(args: Args, field = 'chain'): CustodyChain {
  const value = args[field];
  if (typeof value !== 'string' || !(custodyChains as readonly string[]).includes(value))
    invalidArgs(field, `must be one of ${custodyChains.join(', ')}`);
  return value as CustodyChain;
}

export function integerArg(args: Args, field: string, min: number, max: number): number {
  const value = args[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    invalidArgs(field, `must be a whole number from ${min} to ${max}`);
  return value;
}

export function optionalInteger(
  args: Args,
  field: string,
  min: number,
  max: number,
): number | undefined {
  return args[field] === undefined ? undefined : integerArg(args, field, min, max);
}

/** A list of 1 to `itemsMax` strings, each matching `pattern`. */
export function stringListArg(
  args: Args,
  field: string,
  pattern: RegExp,
  charsMax: number,
  itemsMax: number,
): string[] {
  const value = args[field];
  if (!Array.isArray(value) || value.length === 0 || value.length > itemsMax)
    invalidArgs(field, `must be a list of 1 to ${itemsMax} strings`);
  return value.map((item: unknown, index) =>
    stringArg({ [`${field}[${index}]`]: item }, `${field}[${index}]`, pattern, charsMax),
  );
}

export function booleanArg(args: Args, field: string): boolean {
  const value = args[field];
  if (typeof value !== 'boolean') invalidArgs(field, 'must be true or false');
  return value;
}

export function objectArg(args: Args, field: string): Args {
  const value = args[field];
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalidArgs(field, 'must be a JSON object');
  return value as Args;
}

/** An amount of base units: 0 allowed only when `zeroOk` (limits). */
export function amountArg(args: Args, field: string, zeroOk = false): bigint {
  const amount = BigInt(stringArg(args, field, amountPattern, amountDigitsMax));
  if (!zeroOk && amount === 0n) invalidArgs(field, 'must be greater than zero');
  if (amount > tokenAmountMax) invalidArgs(field, `must be at most ${tokenAmountMax}`);
  return amount;
}

const addressPatterns: Readonly<Record<CustodyChain, readonly RegExp[]>> = {
  coffer: [/^[A-Za-z0-9_.-]{1,256}:[0-9a-f]{64}$/],
  ethereum: [/^0x[0-9a-f]{40}$/],
  // bech32 prefixes: mainnet bc, testnet tb, Bitcoin Core regtest bcrt, bcoin regtest rb.
  bitcoin: [/^(?:bc|tb|bcrt|rb)1[02-9ac-hj-np-z]{6,87}$/, /^[123mn][1-9A-HJ-NP-Za-km-z]{25,34}$/],
};

/**
 * An address of `chain`, normalised (Ethereum and bech32 lower-case) so that one address has
 * one spelling in whitelists and address maps. Checksums are the chain workers' to verify.
 */
export function normaliseAddress(chain: CustodyChain, value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > addressCharsMax)
    invalidArgs(field, `must be a string of 1 to ${addressCharsMax} characters`);
  let address = value;
  if (chain === 'ethereum') address = value.toLowerCase();
  if (chain === 'bitcoin' && /^(?:BC|TB|BCRT|RB)1/.test(value) && value === value.toUpperCase())
    address = value.toLowerCase();
  if (!addressPatterns[chain].some((pattern) => pattern.test(address))) {
    throw cofferError(
      'CUSTODY_E_ADDRESS_INVALID',
      `args.${field} (${value.slice(0, 80)}) is not a ${chain} address`,
      { field: `args.${field}`, chain },
    );
  }
  return address;
}
