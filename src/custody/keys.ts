// Wallet keys and signatures over withdrawal digests, through src/crypto's key helpers (the
// same checks the signer applies). Chains sign a 32-byte digest directly (Bitcoin's sighash,
// Ethereum's Keccak-256 of the RLP), so signatures verify over the digest itself, without a
// further hash, and must be low-S (BIP 62/146, EIP-2). Deterministic arithmetic only.
import { cofferError } from '../errors/index.js';
import {
  derSignatureToRaw,
  digestFromHex,
  isPublicKeyHex,
  publicKeyObject,
  rawSignatureBytes,
  rawSignatureToDer,
  verifyDigestSignature as verifyRaw,
} from '../crypto/index.js';
import type { Curve } from './types.js';

/**
 * A SEC1 uncompressed public key (hex, 04‖x‖y) on `curve`, lower-cased; throws
 * CUSTODY_E_KEY_INVALID naming the field.
 */
export function normalisePublicKey(hex: string, curve: Curve, field: string): string {
  const lower = hex.toLowerCase();
  if (!isPublicKeyHex(lower)) {
    throw cofferError(
      'CUSTODY_E_KEY_INVALID',
      `${field} must be a SEC1 uncompressed public key in hex: 65 bytes, 04 ‖ x ‖ y`,
      { field },
    );
  }
  try {
    publicKeyObject(curve, lower);
  } catch {
    throw cofferError('CUSTODY_E_KEY_INVALID', `${field} is not a point on ${curve}`, {
      field,
      curve,
    });
  }
  return lower;
}

/**
 * The r‖s bytes of a signature given as hex: 64 bytes r‖s, or DER in its one canonical
 * encoding (so that a recorded signature has no malleable variant); undefined otherwise.
 */
function rawOf(signatureHex: string): Uint8Array | undefined {
  if (!/^(?:[0-9a-f]{2})+$/.test(signatureHex)) return undefined;
  const bytes = new Uint8Array(Buffer.from(signatureHex, 'hex'));
  if (bytes.length === rawSignatureBytes) return bytes;
  try {
    const raw = derSignatureToRaw(bytes);
    return Buffer.from(rawSignatureToDer(raw)).equals(bytes) ? raw : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether `signatureHex` (lower-case hex: 64-byte r‖s or canonical DER) is a low-S ECDSA
 * signature of `digestHex` (32 bytes, not hashed again) by `publicKeyHex` on `curve`.
 */
export function verifyDigestSignature(
  curve: Curve,
  publicKeyHex: string,
  digestHex: string,
  signatureHex: string,
): boolean {
  const digest = digestFromHex(digestHex);
  const raw = rawOf(signatureHex);
  return digest !== undefined && raw !== undefined && verifyRaw(curve, publicKeyHex, digest, raw);
}
