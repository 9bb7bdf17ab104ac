// The short reason codes of Fabric's MSP verdicts (as in the conformance corpus) for Coffer's
// error codes, so tools can compare Coffer's verdicts with Fabric's.
import type { CofferError, ErrorCode } from '../errors/index.js';

const reasons: Partial<Record<ErrorCode, string>> = {
  MSP_E_CONFIG_NO_CACERTS: 'CONFIG_NO_CACERTS',
  MSP_E_CONFIG_NO_SIGNCERT: 'CONFIG_NO_SIGNCERT',
  MSP_E_SIGNING_KEY_NOT_FOUND: 'SIGNING_KEY_NOT_FOUND',
  MSP_E_SIGNING_IDENTITY_EXPIRED: 'SIGNING_IDENTITY_EXPIRED',
  MSP_E_CA_NOT_CA: 'CA_NOT_CA',
  MSP_E_CA_NO_SKI: 'CA_NO_SKI',
  MSP_E_CA_REVOKED: 'CA_REVOKED',
  MSP_E_TLSCA_NOT_CA: 'TLSCA_NOT_CA',
  MSP_E_TLSCA_NO_SKI: 'TLSCA_NO_SKI',
  MSP_E_OU_CERT_NOT_CA: 'OU_CERT_NOT_CA',
  MSP_E_NO_ADMINS: 'NO_ADMINS',
  MSP_E_ADMIN_INVALID: 'ADMIN_INVALID',
  MSP_E_ADMIN_NOT_CLIENT: 'ADMIN_NOT_CLIENT',
  MSP_E_IDENTITY_IS_CA: 'IS_CA',
  MSP_E_IDENTITY_NOT_CHAINED: 'NOT_CHAINED',
  MSP_E_IDENTITY_PARENT_NOT_LEAF: 'PARENT_NOT_LEAF',
  MSP_E_IDENTITY_REVOKED: 'REVOKED',
  MSP_E_IDENTITY_OU_MISMATCH: 'OU_MISMATCH',
  MSP_E_IDENTITY_NODEOU: 'NODEOU_NONE',
  MSP_E_IDENTITY_KEY_UNSUPPORTED: 'UNSUPPORTED_KEY_ALGO',
};

/** Fabric's reason for a Coffer MSP error, or undefined when the corpus has no name for it. */
export function fabricReasonOf(error: CofferError): string | undefined {
  if (error.code === 'MSP_E_NODEOU_MISSING') {
    return error.details['role'] === 'peer' ? 'NODEOU_MISSING_PEER' : 'NODEOU_MISSING_CLIENT';
  }
  return reasons[error.code];
}
