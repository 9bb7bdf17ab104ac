// ECDSA signatures as Fabric uses them: DER SEQUENCE{r, s}, low-S on signing, high-S refused
// on verification (fabric-lib-go bccsp/sw/ecdsa.go). node:crypto (OpenSSL) does the maths.
import {
  hash as oneShotHash,
  sign as nodeSign,
  verify as nodeVerify,
  type KeyObject,
} from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { ECDSASigValue } from '@peculiar/asn1-ecc';
import { DER } from '@noble/curves/abstract/weierstrass.js';
import { cofferError } from '../errors/index.js';

/** Group orders of the curves Fabric identities use (SEC 2, FIPS 186-4 D.1.2). */
const curveOrders: Readonly<Record<string, bigint>> = {
  prime256v1: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  secp384r1:
    0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
  secp256k1: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
};

const curveAliases: Readonly<Record<string, string>> = {
  'P-256': 'prime256v1',
  'P-384': 'secp384r1',
};

export function curveOrder(curve: string): bigint | undefined {
  return curveOrders[curveAliases[curve] ?? curve];
}

export function ecCurveOf(key: KeyObject): string | undefined {
  if (key.asymmetricKeyType !== 'ec') return undefined;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === undefined ? undefined : (curveAliases[curve] ?? curve);
}

export type EcdsaSignature = { readonly r: bigint; readonly s: bigint };

function bytesToBigint(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return value;
}

function bigintToBytes(value: bigint, length?: number): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  if (length === undefined || bytes.length === length) return bytes;
  if (bytes.length > length)
    throw new RangeError(`integer needs ${bytes.length} bytes > ${length}`);
  const padded = new Uint8Array(length);
  padded.set(bytes, length - bytes.length);
  return padded;
}

/** ASN.1 INTEGER content bytes (two's complement, big-endian) to a bigint; negative allowed. */
function integerBytesToBigint(bytes: Uint8Array): bigint {
  const unsigned = bytesToBigint(bytes);
  const negative = bytes.length > 0 && ((bytes[0] ?? 0) & 0x80) !== 0;
  return negative ? unsigned - (1n << BigInt(bytes.length * 8)) : unsigned;
}

/**
 * Decodes DER SEQUENCE{r, s}. Like Go's asn1.Unmarshal in Fabric's UnmarshalECDSASignature,
 * bytes after the SEQUENCE and extra fields inside it are ignored; r and s must be positive.
 */
export function decodeEcdsaSignature(der: Uint8Array): EcdsaSignature {
  // Fast path: noble's strict DER (exactly SEQUENCE{INTEGER, INTEGER}, minimal, nothing after)
  // accepts a subset of what Go accepts, with the same r and s; anything else takes the
  // Go-compatible path below. Almost every signature is canonical, and this is ~8× cheaper.
  let strict: { r: bigint; s: bigint } | undefined;
  try {
    strict = DER.toSig(der);
  } catch {
    strict = undefined;
  }
  if (strict !== undefined && strict.r > 0n && strict.s > 0n) return strict;
  // Go's encoding/asn1 insists on the universal SEQUENCE tag; asn1js alone would accept others.
  if (der[0] !== 0x30) {
    throw cofferError('CRYPTO_E_SIGNATURE_MALFORMED', 'signature is not a DER SEQUENCE (tag 0x30)');
  }
  let parsed: ECDSASigValue;
  try {
    parsed = AsnConvert.parse(der, ECDSASigValue);
  } catch (cause) {
    throw cofferError(
      'CRYPTO_E_SIGNATURE_MALFORMED',
      'signature is not DER SEQUENCE{r, s}',
      {},
      cause,
    );
  }
  const rBytes = new Uint8Array(parsed.r);
  const sBytes = new Uint8Array(parsed.s);
  if (!minimalInteger(rBytes) || !minimalInteger(sBytes)) {
    // Go refuses non-minimally encoded INTEGERs ("integer not minimally-encoded").
    throw cofferError('CRYPTO_E_SIGNATURE_MALFORMED', 'signature r or s is not minimally encoded');
  }
  const r = integerBytesToBigint(rBytes);
  const s = integerBytesToBigint(sBytes);
  if (r <= 0n || s <= 0n) {
    throw cofferError('CRYPTO_E_SIGNATURE_MALFORMED', 'signature r and s must be larger than zero');
  }
  return { r, s };
}

function minimalInteger(bytes: Uint8Array): boolean {
  if (bytes.length === 0) return false;
  if (bytes.length === 1) return true;
  const [first = 0, second = 0] = bytes;
  return !((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80));
}

/** Canonical DER of SEQUENCE{r, s}. */
export function encodeEcdsaSignature(signature: EcdsaSignature): Uint8Array {
  const value = new ECDSASigValue();
  value.r = toDerInteger(signature.r);
  value.s = toDerInteger(signature.s);
  return new Uint8Array(AsnConvert.serialize(value));
}

function toDerInteger(value: bigint): ArrayBuffer {
  const bytes = bigintToBytes(value);
  // A leading 0x00 keeps a positive integer positive when its top bit is set.
  const out = (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : Buffer.from(bytes);
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength);
}

export function isLowS(signature: EcdsaSignature, order: bigint): boolean {
  return signature.s <= order >> 1n;
}

export function toLowS(signature: EcdsaSignature, order: bigint): EcdsaSignature {
  return isLowS(signature, order) ? signature : { r: signature.r, s: order - signature.s };
}

/** Signs SHA-256(message) with an EC private key; returns canonical low-S DER (Fabric's Sign). */
export function signEcdsaSha256(privateKey: KeyObject, message: Uint8Array): Uint8Array {
  const curve = ecCurveOf(privateKey);
  const order = curve === undefined ? undefined : curveOrder(curve);
  if (order === undefined) {
    throw cofferError(
      'CRYPTO_E_KEY_UNSUPPORTED',
      `ECDSA key on unsupported curve ${String(curve)}`,
    );
  }
  const der = nodeSign('sha256', message, { key: privateKey, dsaEncoding: 'der' });
  return encodeEcdsaSignature(toLowS(decodeEcdsaSignature(der), order));
}

export type EcdsaVerifyOutcome = 'valid' | 'invalid' | 'high-s' | 'malformed';

/** A signature that passed Fabric's encoding rules, ready for the curve arithmetic. */
export type EcdsaPrepared =
  | { readonly outcome: 'ready'; readonly p1363: Uint8Array }
  | { readonly outcome: Exclude<EcdsaVerifyOutcome, 'valid'> };

/**
 * Fabric's checks that come before the arithmetic: DER with r, s > 0, s <= n/2, r and s below
 * the order. Cheap (microseconds); the arithmetic (`verifyPreparedEcdsaSha256`) is what may run
 * on another thread.
 */
export function prepareEcdsaSha256(publicKey: KeyObject, signatureDer: Uint8Array): EcdsaPrepared {
  const curve = ecCurveOf(publicKey);
  const order = curve === undefined ? undefined : curveOrder(curve);
  if (order === undefined) return { outcome: 'invalid' };
  let signature: EcdsaSignature;
  try {
    signature = decodeEcdsaSignature(signatureDer);
  } catch {
    return { outcome: 'malformed' };
  }
  if (!isLowS(signature, order)) return { outcome: 'high-s' };
  if (signature.r >= order || signature.s >= order) return { outcome: 'invalid' };
  const digits = Math.ceil(order.toString(16).length / 2) * 2;
  const p1363 = Buffer.from(
    signature.r.toString(16).padStart(digits, '0') + signature.s.toString(16).padStart(digits, '0'),
    'hex',
  );
  return { outcome: 'ready', p1363 };
}

/** ECDSA over SHA-256(message) with an r‖s signature from `prepareEcdsaSha256`. */
export function verifyPreparedEcdsaSha256(
  publicKey: KeyObject,
  message: Uint8Array,
  p1363: Uint8Array,
): boolean {
  return nodeVerify('sha256', message, { key: publicKey, dsaEncoding: 'ieee-p1363' }, p1363);
}

/**
 * Verifies an ECDSA signature over SHA-256(message) the way Fabric does: DER with r, s > 0,
 * s <= n/2, then ECDSA. Returns why it failed instead of throwing, for hot paths.
 */
export function verifyEcdsaSha256(
  publicKey: KeyObject,
  message: Uint8Array,
  signatureDer: Uint8Array,
): EcdsaVerifyOutcome {
  const prepared = prepareEcdsaSha256(publicKey, signatureDer);
  if (prepared.outcome !== 'ready') return prepared.outcome;
  return verifyPreparedEcdsaSha256(publicKey, message, prepared.p1363) ? 'valid' : 'invalid';
}

/** SHA-256 of `data`, one-shot (no Hash object: about a quarter less time for small inputs). */
export function sha256(data: Uint8Array): Uint8Array {
  return oneShotHash('sha256', data, 'buffer');
}

/** SHA-256 of `data` as 64 lowercase hex digits, without a Buffer in between. */
export function sha256Hex(data: Uint8Array): string {
  return oneShotHash('sha256', data, 'hex');
}
