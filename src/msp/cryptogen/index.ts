// Public surface of the crypto-material generator: Fabric cryptogen's crypto-config.yaml in,
// cryptogen's folder layout out, plus revocation through per-CA CRLs copied into every MSP.
export type {
  CaSpec,
  CaSubject,
  CryptoConfig,
  GenerateOptions,
  GenerateResult,
  GeneratedOrg,
  NodeSpec,
  OrgKind,
  OrgSpec,
  RevokeOptions,
  RevokeResult,
  UserSpec,
} from './types.js';
export { checkCryptoConfig, cryptoConfigFromValue, parseCryptoConfig } from './config.js';
export { generateCryptoMaterial } from './generate.js';
export { revokeCertificate } from './revoke.js';
export {
  certValidityDays,
  configBytesMax,
  crlEntriesMax,
  crlValidityDays,
  identitiesMax,
  nameCharsMax,
  nodesPerOrgMax,
  orgsMax,
  sansPerNodeMax,
  templateStartMax,
  usersPerOrgMax,
} from './limits.js';
