// Public surface of the MSP domain: Fabric-compatible membership service providers.
export type {
  MspDefinition,
  MspRoleName,
  MspVersion,
  NodeOuRole,
  NodeOus,
  OuIdentifier,
  PemSource,
  Principal,
  PrincipalCheck,
  SigningMaterial,
} from './types.js';
export { defaultMspVersion, mspVersions } from './types.js';
export type {
  Identity,
  IdentityOutcome,
  Msp,
  OrganizationalUnit,
  SetupOptions,
  SetupOutcome,
  SignatureCheck,
  SigningIdentity,
  Validation,
} from './msp.js';
export {
  identityCacheEntriesMax,
  identityCacheKeyBytesMax,
  principalDepthMax,
  setupMsp,
  validationCacheEntriesMax,
} from './msp.js';
export type { LoadedFolder } from './folder.js';
export { readMspFolder } from './folder.js';

export type { FolderOutcome, LoadFolderOptions } from './load.js';
export { loadMspFolder } from './load.js';
export { fabricReasonOf } from './reasons.js';
export type { LocalMsp, LocalMspOptions, ReloadOutcome } from './reload.js';
export { openLocalMsp, reloadDebounceMs } from './reload.js';
export { definitionCertsMax, definitionPemBytesMax, parseMspDefinition } from './definition.js';
export type { TlsPeerCheck } from './tls.js';
export { checkTlsPeerCertificate, checkTlsSocket, guardTlsServer, tlsTrustOf } from './tls.js';
export type { Rule, SignaturePolicy, SignedIdentity } from './policy.js';
export {
  evaluatePolicy,
  formatPolicy,
  parsePolicy,
  policyDepthMax,
  policyPrincipalsMax,
  policyRulesMax,
  policyTextBytesMax,
} from './policy.js';
export type { PolicySigner, SignedData, SignerRejection } from './signers.js';
export { policySatisfied, policySignaturesMax, verifiedSigners } from './signers.js';
export { encodePem, pemCertificateRef } from './pem.js';
