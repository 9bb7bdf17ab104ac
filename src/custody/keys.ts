// Wallet keys and signatures over withdrawal digests. Chains sign a 32-byte digest directly
// (Bitcoin's sighash, Ethereum's Keccak-256 of the RLP), so signatures verify over the digest
// itself, without a further hash, and must be low-S (BIP-62/BIP-146, EIP-2). Deterministic:
// pure arithmetic on the inputs (noble curves, as src/crypto uses them).
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { cofferError } from '../errors/index.js';
import type { Curve } from './types.js';

const curveImpl = { secp256k1, 'P-256': p256 } as const;

const hexPattern = /^(?:[0-9a-fA-F]{2})+$/;

function bytesOfHex(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/**
 * A SEC1 public key (hex, compressed or uncompressed) on `curve`, as SEC1 uncompressed
 * lower-case hex; throws CUSTODY_E_KEY_INVALID naming the field.
 */
export function normalisePublicKey(hex: string, curve: Curve, field: string): string {
  if (!hexPattern.test(hex) || (hex.length !== 66 && hex.length !== 130)) {
    throw cofferError(
      'CUSTODY_E_KEY_INVALID',
      `${field} must be a SEC1 public key in hex: 33 bytes compressed (02/03…) or 65 uncompressed (04…)`,
      { field },
    );
  }
  try {
    const point = curveImpl[curve].Point.fromBytes(bytesOfHex(hex));
    point.assertValidity();
    return Buffer.from(point.toBytes(false)).toString('hex');
  } catch {
    throw cofferError('CUSTODY_E_KEY_INVALID', `${field} is not a point on ${curve}`, {
      field,
      curve,
    });
  }
}

/**
 * Whether `signatureHex` (DER, or 64-byte r‖s) is a low-S ECDSA signature of `digestHex` (32
 * bytes, not hashed again) by `publicKeyHex` (SEC1) on `curve`.
 */
export function verifyDigestSignature(
  curve: Curve,
  publicKeyHex: string,
  digestHex: string,
  signatureHex: string,
): boolean {
  if (!hexPattern.test(signatureHex)) return false;
  const signature = bytesOfHex(signatureHex);
  const format = signature.length === 64 ? 'compact' : 'der';
  try {
    return curveImpl[curve].verify(signature, bytesOfHex(digestHex), bytesOfHex(publicKeyHex), {
      prehash: false,
      lowS: true,
      format,
    });
  } catch {
    return false;
  }
}
