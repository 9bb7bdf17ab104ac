// Public surface of the crypto domain: hashes and ECDSA with Fabric's low-S rules.
export type { EcdsaPrepared, EcdsaSignature, EcdsaVerifyOutcome } from './ecdsa.js';
export type { SignatureKind, SignatureVerifier, VerifyPool } from './verify-pool.js';
export { createVerifyPool, verifyPoolLimits, verifyPrepared } from './verify-pool.js';
export {
  curveOrder,
  decodeEcdsaSignature,
  ecCurveOf,
  encodeEcdsaSignature,
  isLowS,
  prepareEcdsaSha256,
  sha256,
  signEcdsaSha256,
  toLowS,
  verifyEcdsaSha256,
  verifyPreparedEcdsaSha256,
} from './ecdsa.js';
