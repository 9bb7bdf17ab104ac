// Key stores: the seam behind which custody keys live (an HSM through PKCS#11, the embedded
// software store, an offline key file). The whole signing boundary is `Signer` (STYLE.md 3):
// a 32-byte digest in, a 64-byte r‖s signature out, low-S, so that chains that insist on low-S
// (Bitcoin BIP 62/146, Ethereum EIP-2) take it unchanged. Keys never leave a store.
import { createHash, createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { p256 } from '@noble/curves/nist.js';
import { cofferError } from '../errors/index.js';
import { curveOrder, encodeEcdsaSignature, decodeEcdsaSignature, isLowS } from './ecdsa.js';

/** Curves a custody key may be on: secp256k1 for Bitcoin and Ethereum, P-256 for the rest. */
export const keyCurves = ['secp256k1', 'P-256'] as const;
export type KeyCurve = (typeof keyCurves)[number];

/** Bytes of a digest a signer signs (SHA-256, Keccak-256, a BIP 143 sighash: all 32). */
export const digestBytes = 32;
/** Bytes of one coordinate, r or s, on both curves. */
export const scalarBytes = 32;
/** Bytes of a raw signature r‖s. */
export const rawSignatureBytes = 2 * scalarBytes;
/** Bytes of a SEC1 uncompressed public key: 0x04 ‖ x ‖ y. */
export const publicKeyBytes = 1 + 2 * scalarBytes;
/** Longest key label, in characters (PKCS#11 CKA_LABEL is free-form; ours stay printable). */
export const keyLabelCharsMax = 64;
/** Keys one store lists or holds: an HSM partition holds a few thousand at most. */
export const keysPerStoreMax = 4096;

/** The HSM boundary: signs a 32-byte digest, returns r‖s (64 bytes) with s ≤ n/2. */
export type Signer = (digest: Uint8Array) => Promise<Uint8Array>;

/** What a store tells about one of its keys; never the private key. */
export type KeyInfo = {
  /** Stable, store-assigned id (lower-case hex; on PKCS#11 the CKA_ID). */
  readonly keyId: string;
  readonly label: string;
  readonly curve: KeyCurve;
  /** SEC1 uncompressed public key, lower-case hex (130 characters). */
  readonly publicKey: string;
};

/** Where a store keeps keys, said plainly in every status and log line. */
export type KeyStoreKind = 'pkcs11' | 'software';

/** A key store. Every method may throw KEYSTORE_E_* errors (coded, with what to do). */
export type KeyStore = {
  readonly kind: KeyStoreKind;
  /** One line for status output and logs, e.g. "software key store (not an HSM): /x/keys.json". */
  readonly description: string;
  readonly generate: (options: {
    readonly curve: KeyCurve;
    readonly label: string;
  }) => Promise<KeyInfo>;
  readonly list: () => Promise<readonly KeyInfo[]>;
  /** The key, or undefined when the store holds no key with this id. */
  readonly key: (keyId: string) => Promise<KeyInfo | undefined>;
  /**
   * The signer of a key, after the store's checks on it (on PKCS#11: sensitive, never
   * extractable, and a known-answer signature). KEYSTORE_E_KEY_NOT_FOUND when absent.
   */
  readonly signer: (keyId: string) => Promise<Signer>;
  readonly close: () => Promise<void>;
};

// ---- curves ---------------------------------------------------------------------------------

const nobleCurves = { secp256k1, 'P-256': p256 } as const;

export function isKeyCurve(value: unknown): value is KeyCurve {
  return typeof value === 'string' && (keyCurves as readonly string[]).includes(value);
}

function orderOf(curve: KeyCurve): bigint {
  const order = curveOrder(curve);
  if (order === undefined) throw new Error(`no group order for ${curve}`);
  return order;
}

/** DER of the curve's OID (SEC 2, RFC 5480 §2.1.1.1): PKCS#11 CKA_EC_PARAMS. */
export const curveOidDer: Readonly<Record<KeyCurve, string>> = {
  secp256k1: '06052b8104000a',
  'P-256': '06082a8648ce3d030107',
};

// ---- encodings ------------------------------------------------------------------------------

const hex64 = /^[0-9a-f]{64}$/;
const publicKeyHexPattern = /^04[0-9a-f]{128}$/;

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** A digest given as 64 lower-case hex characters, or undefined. */
export function digestFromHex(value: unknown): Uint8Array | undefined {
  return typeof value === 'string' && hex64.test(value)
    ? new Uint8Array(Buffer.from(value, 'hex'))
    : undefined;
}

export function isPublicKeyHex(value: unknown): value is string {
  return typeof value === 'string' && publicKeyHexPattern.test(value);
}

/** The checked public key bytes: on the curve, uncompressed. Throws KEYSTORE_E_KEY_INVALID. */
export function checkPublicKey(curve: KeyCurve, publicKey: Uint8Array): Uint8Array {
  if (publicKey.length !== publicKeyBytes || publicKey[0] !== 0x04) {
    throw cofferError(
      'KEYSTORE_E_KEY_INVALID',
      `a ${curve} public key must be ${publicKeyBytes} bytes of SEC1 uncompressed form (0x04 ‖ x ‖ y), got ${publicKey.length} bytes`,
      { curve },
    );
  }
  try {
    nobleCurves[curve].Point.fromBytes(publicKey).assertValidity();
  } catch (cause) {
    throw cofferError(
      'KEYSTORE_E_KEY_INVALID',
      `the public key is not a point of ${curve}`,
      { curve },
      cause,
    );
  }
  return publicKey;
}

/** node:crypto's KeyObject of a SEC1 uncompressed public key (through JWK, RFC 7518 §6.2). */
export function publicKeyObject(curve: KeyCurve, publicKeyHex: string): KeyObject {
  const bytes = checkPublicKey(curve, new Uint8Array(Buffer.from(publicKeyHex, 'hex')));
  return createPublicKey({
    format: 'jwk',
    key: {
      kty: 'EC',
      crv: curve,
      x: Buffer.from(bytes.subarray(1, 1 + scalarBytes)).toString('base64url'),
      y: Buffer.from(bytes.subarray(1 + scalarBytes)).toString('base64url'),
    },
  });
}

function bigintOf(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${toHex(bytes)}`);
}

function bytesOf(value: bigint): Uint8Array {
  return new Uint8Array(Buffer.from(value.toString(16).padStart(2 * scalarBytes, '0'), 'hex'));
}

/**
 * r‖s with s replaced by n - s when s > n/2 (BIP 62's low-S rule; the same signature to ECDSA).
 * Refuses anything that is not 64 bytes with 0 < r, s < n: a store that returns that is broken.
 */
export function normaliseSignature(curve: KeyCurve, raw: Uint8Array): Uint8Array {
  const order = orderOf(curve);
  const r = bigintOf(raw.subarray(0, scalarBytes));
  const s = bigintOf(raw.subarray(scalarBytes));
  if (raw.length !== rawSignatureBytes || r <= 0n || r >= order || s <= 0n || s >= order) {
    throw cofferError(
      'KEYSTORE_E_SIGNATURE_INVALID',
      `the key store returned a ${raw.length}-byte signature that is not r‖s on ${curve}`,
      { curve, bytes: raw.length },
    );
  }
  const low = isLowS({ r, s }, order) ? s : order - s;
  const out = new Uint8Array(rawSignatureBytes);
  out.set(bytesOf(r), 0);
  out.set(bytesOf(low), scalarBytes);
  return out;
}

/** DER SEQUENCE{r, s} of a raw r‖s signature (what Bitcoin scripts and X.509 carry). */
export function rawSignatureToDer(raw: Uint8Array): Uint8Array {
  if (raw.length !== rawSignatureBytes) {
    throw cofferError(
      'CRYPTO_E_SIGNATURE_MALFORMED',
      `a raw signature is ${rawSignatureBytes} bytes (r ‖ s), got ${raw.length}`,
    );
  }
  return encodeEcdsaSignature({
    r: bigintOf(raw.subarray(0, scalarBytes)),
    s: bigintOf(raw.subarray(scalarBytes)),
  });
}

/** Raw r‖s of a DER SEQUENCE{r, s}. Throws CRYPTO_E_SIGNATURE_MALFORMED. */
export function derSignatureToRaw(der: Uint8Array): Uint8Array {
  const { r, s } = decodeEcdsaSignature(der);
  if (r >= 1n << 256n || s >= 1n << 256n) {
    throw cofferError('CRYPTO_E_SIGNATURE_MALFORMED', 'r or s is longer than 32 bytes');
  }
  const out = new Uint8Array(rawSignatureBytes);
  out.set(bytesOf(r), 0);
  out.set(bytesOf(s), scalarBytes);
  return out;
}

/** Checks a digest's length before it reaches a store. Throws KEYSTORE_E_DIGEST_INVALID. */
export function checkDigest(digest: Uint8Array): void {
  if (digest.length !== digestBytes) {
    throw cofferError(
      'KEYSTORE_E_DIGEST_INVALID',
      `a signer signs a ${digestBytes}-byte digest, got ${digest.length} bytes; hash the message first`,
      { bytes: digest.length },
    );
  }
}

/** ECDSA verification of r‖s over a 32-byte digest (no further hashing), low-S required. */
export function verifyDigestSignature(
  curve: KeyCurve,
  publicKeyHex: string,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (digest.length !== digestBytes || signature.length !== rawSignatureBytes) return false;
  try {
    return nobleCurves[curve].verify(signature, digest, Buffer.from(publicKeyHex, 'hex'), {
      prehash: false,
      lowS: true,
    });
  } catch {
    return false;
  }
}

// ---- known-answer check (STYLE.md 13) ---------------------------------------------------------

/** The fixed message of the start-up known-answer check; its SHA-256 is what gets signed. */
export const knownAnswerMessage = new TextEncoder().encode('coffer key store known-answer v1');

/**
 * Signs SHA-256(knownAnswerMessage) with `signer` and verifies the result with node:crypto
 * (OpenSSL, a second implementation) over the message: the store signs with the key whose
 * public key it reports, over exactly the digest it was given, in low-S r‖s. ECDSA signatures
 * are randomised, so the "answer" is that the independent verifier accepts it.
 */
export async function knownAnswerCheck(signer: Signer, key: KeyInfo): Promise<void> {
  const digest = createHash('sha256').update(knownAnswerMessage).digest();
  const signature = await signer(new Uint8Array(digest));
  const order = orderOf(key.curve);
  const lowS =
    signature.length === rawSignatureBytes &&
    bigintOf(signature.subarray(scalarBytes)) <= order >> 1n;
  const verified =
    signature.length === rawSignatureBytes &&
    nodeVerify(
      'sha256',
      knownAnswerMessage,
      { key: publicKeyObject(key.curve, key.publicKey), dsaEncoding: 'ieee-p1363' },
      signature,
    );
  if (!verified || !lowS) {
    throw cofferError(
      'KEYSTORE_E_SELF_CHECK_FAILED',
      `key ${key.keyId} (${key.label}, ${key.curve}): the known-answer signature ${verified ? 'is not low-S' : 'does not verify with the public key the store reports'}`,
      { keyId: key.keyId, curve: key.curve },
    );
  }
}

/** A label check shared by the stores: printable, 1..keyLabelCharsMax characters. */
export function checkLabel(label: string): void {
  let control = false;
  for (let i = 0; i < label.length; i += 1) {
    const code = label.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) control = true;
  }
  if (label.length === 0 || label.length > keyLabelCharsMax || control) {
    throw cofferError(
      'KEYSTORE_E_LABEL_INVALID',
      `a key label is 1 to ${keyLabelCharsMax} printable characters, got ${JSON.stringify(label.slice(0, keyLabelCharsMax + 8))}`,
      { label },
    );
  }
}

export function checkCurve(curve: unknown): KeyCurve {
  if (!isKeyCurve(curve)) {
    throw cofferError(
      'KEYSTORE_E_CURVE_UNSUPPORTED',
      `curve ${JSON.stringify(curve)} is not supported; use one of ${keyCurves.join(', ')}`,
      { curve },
    );
  }
  return curve;
}

/** Software signing with a private scalar: RFC 6979 deterministic ECDSA over the digest, low-S. */
export function signDigestWithScalar(
  curve: KeyCurve,
  secretKey: Uint8Array,
  digest: Uint8Array,
): Uint8Array {
  checkDigest(digest);
  const signature = nobleCurves[curve].sign(digest, secretKey, { prehash: false, lowS: true });
  return normaliseSignature(curve, signature);
}

/** A new private scalar and its SEC1 uncompressed public key (randomness from node:crypto). */
export function generateScalarKey(curve: KeyCurve): {
  readonly secretKey: Uint8Array;
  readonly publicKey: string;
} {
  const { secretKey } = nobleCurves[curve].keygen();
  return { secretKey, publicKey: publicKeyOfScalar(curve, secretKey) };
}

export function publicKeyOfScalar(curve: KeyCurve, secretKey: Uint8Array): string {
  return toHex(nobleCurves[curve].getPublicKey(secretKey, false));
}
