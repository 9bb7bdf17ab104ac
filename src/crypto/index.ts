// Public surface of the crypto domain: hashes and ECDSA with Fabric's low-S rules.
export type { EcdsaSignature, EcdsaVerifyOutcome } from './ecdsa.js';
export {
  curveOrder,
  decodeEcdsaSignature,
  ecCurveOf,
  encodeEcdsaSignature,
  isLowS,
  sha256,
  signEcdsaSha256,
  toLowS,
  verifyEcdsaSha256,
} from './ecdsa.js';
