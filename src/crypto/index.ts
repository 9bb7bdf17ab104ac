// Public surface of the crypto domain: hashes and ECDSA with Fabric's low-S rules.
export type { EcdsaPrepared, EcdsaSignature, EcdsaVerifyOutcome } from './ecdsa.js';
export { base64Of, isBase64 } from './base64.js';
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
  sha256Hex,
  signEcdsaSha256,
  toLowS,
  verifyEcdsaSha256,
  verifyPreparedEcdsaSha256,
} from './ecdsa.js';
// Key stores (issue 7): the Signer seam, PKCS#11 (HSM), the software store, offline key files.
export type { KeyCurve, KeyInfo, KeyStore, KeyStoreKind, Signer } from './keys.js';
export {
  checkCurve,
  derSignatureToRaw,
  digestBytes,
  digestFromHex,
  isKeyCurve,
  isPublicKeyHex,
  keyCurves,
  knownAnswerCheck,
  normaliseSignature,
  publicKeyObject,
  rawSignatureBytes,
  rawSignatureToDer,
  toHex,
  verifyDigestSignature,
} from './keys.js';
export type { KeyAttributes, PinSource, Pkcs11KeyStore, Pkcs11Options } from './pkcs11.js';
export {
  attributeShortfalls,
  openPkcs11KeyStore,
  readPin,
  requiredKeyAttributes,
} from './pkcs11.js';
export type { SoftKeyStoreOptions } from './soft-keystore.js';
export { openSoftKeyStore, softKeyStoreLabel } from './soft-keystore.js';
export { passphraseBytesMax, readSecretFile } from './sealed-file.js';
