// The one registry of user-visible error codes (STYLE.md 7). Every code has a class name, a
// one-line summary and what the user should do; docs/errors.md lists the same codes, and
// test/errors/registry.test.ts keeps the three in step. Codes are stable: never renamed or reused.

export type ErrorSpec = {
  /** Class the error is raised as (its `name`). */
  readonly className: string;
  /** What went wrong, in one line. */
  readonly summary: string;
  /** What to do about it. */
  readonly fix: string;
};

export const errorRegistry = {
  // --- general / CLI -------------------------------------------------------------------------
  CLI_E_USAGE: {
    className: 'UsageError',
    summary: 'The command line is not valid.',
    fix: 'Run `coffer help` (or `coffer <command> --help`) for the accepted arguments.',
  },
  CLI_E_FILE_UNREADABLE: {
    className: 'UsageError',
    summary: 'A file named on the command line cannot be read.',
    fix: 'Check the path and its permissions.',
  },

  // --- crypto --------------------------------------------------------------------------------
  CRYPTO_E_KEY_MALFORMED: {
    className: 'CryptoError',
    summary: 'A private or public key cannot be parsed.',
    fix: 'Provide a PEM key in PKCS#8, SEC1 (EC PRIVATE KEY) or SPKI form.',
  },
  CRYPTO_E_KEY_UNSUPPORTED: {
    className: 'CryptoError',
    summary: 'The key type or curve is not supported for this operation.',
    fix: 'Use an ECDSA P-256 key (or Ed25519 where MSP v3.0 allows it).',
  },
  CRYPTO_E_SIGNATURE_MALFORMED: {
    className: 'CryptoError',
    summary: 'A signature is not a DER-encoded ECDSA signature with positive r and s.',
    fix: 'Send the DER encoding SEQUENCE{r, s} produced by the signer.',
  },

  // --- msp: reading a folder -----------------------------------------------------------------
  MSP_E_DIR_NOT_FOUND: {
    className: 'MspConfigError',
    summary: 'The MSP folder does not exist or is not a folder.',
    fix: 'Pass the path of a Fabric MSP folder (the one holding cacerts/, signcerts/, ...).',
  },
  MSP_E_CONFIG_NO_CACERTS: {
    className: 'MspConfigError',
    summary: 'The MSP has no root CA certificate (cacerts/ is missing or holds no PEM file).',
    fix: 'Put the PEM certificate of the organisation root CA into cacerts/.',
  },
  MSP_E_CONFIG_NO_SIGNCERT: {
    className: 'MspConfigError',
    summary: 'A local MSP has no signing certificate (signcerts/ is missing or holds no PEM file).',
    fix: 'Put the PEM certificate of this node or user into signcerts/, or load the MSP as verifying.',
  },
  MSP_E_FILE_UNREADABLE: {
    className: 'MspConfigError',
    summary: 'A file of the MSP folder cannot be read.',
    fix: 'Check the file permissions (the node needs read access to every file of the folder).',
  },
  MSP_E_CONFIG_YAML: {
    className: 'MspConfigError',
    summary: 'config.yaml is not valid YAML or has fields of the wrong type.',
    fix: 'Fix config.yaml; see Fabric MSP docs for OrganizationalUnitIdentifiers and NodeOUs.',
  },
  MSP_E_OU_CERT_MISSING: {
    className: 'MspConfigError',
    summary: 'A certificate named in config.yaml OrganizationalUnitIdentifiers cannot be read.',
    fix: 'Correct the Certificate path (relative to the MSP folder) or add the file.',
  },
  MSP_E_DEFINITION_INVALID: {
    className: 'MspConfigError',
    summary: 'An in-memory MSP definition has a missing or wrongly typed field.',
    fix: 'Provide the field named in the error, as in the MSP definition schema.',
  },
  MSP_E_VERSION_UNKNOWN: {
    className: 'MspConfigError',
    summary: 'The MSP version is not one Coffer knows.',
    fix: 'Use one of 1.0, 1.1, 1.3, 1.4.3 or 3.0.',
  },

  // --- msp: setup ----------------------------------------------------------------------------
  MSP_E_CERT_MALFORMED: {
    className: 'MspSetupError',
    summary: 'A certificate or CRL is not valid PEM/DER X.509.',
    fix: 'Replace the file with a valid PEM-encoded X.509 certificate (or CRL in crls/).',
  },
  MSP_E_CA_NOT_CA: {
    className: 'MspSetupError',
    summary: 'A root or intermediate certificate is not a CA (BasicConstraints CA=true missing).',
    fix: 'Only CA certificates belong in cacerts/ and intermediatecerts/; move leaf certificates out.',
  },
  MSP_E_CA_NO_SKI: {
    className: 'MspSetupError',
    summary: 'A root or intermediate CA certificate has no Subject Key Identifier extension.',
    fix: 'Reissue the CA certificate with a SubjectKeyIdentifier extension.',
  },
  MSP_E_CA_INVALID: {
    className: 'MspSetupError',
    summary: 'A CA certificate does not have exactly one valid chain to a root of the MSP.',
    fix: 'Add the missing issuer, remove the duplicate or conflicting CA, or fix its validity dates.',
  },
  MSP_E_CA_REVOKED: {
    className: 'MspSetupError',
    summary: 'An intermediate CA certificate is revoked by a CRL of its issuer.',
    fix: 'Remove the revoked intermediate from intermediatecerts/ (and certificates it issued).',
  },
  MSP_E_CRL_INVALID: {
    className: 'MspSetupError',
    summary: 'A CRL cannot be used (malformed, or without an Authority Key Identifier).',
    fix: 'Replace the file in crls/ with a CRL issued by one of the MSP CAs.',
  },
  MSP_E_TLSCA_NOT_CA: {
    className: 'MspSetupError',
    summary: 'A TLS root or intermediate certificate is not a CA.',
    fix: 'Only CA certificates belong in tlscacerts/ and tlsintermediatecerts/.',
  },
  MSP_E_TLSCA_NO_SKI: {
    className: 'MspSetupError',
    summary: 'A TLS root or intermediate CA certificate has no Subject Key Identifier.',
    fix: 'Reissue the TLS CA certificate with a SubjectKeyIdentifier extension.',
  },
  MSP_E_TLSCA_INVALID: {
    className: 'MspSetupError',
    summary: 'A TLS CA certificate does not chain among the TLS certificates, or is revoked.',
    fix: 'Add the missing TLS root, or remove the TLS intermediate that does not belong.',
  },
  MSP_E_OU_CERT_NOT_CA: {
    className: 'MspSetupError',
    summary:
      'A certificate named for an OU or NodeOU is not one of the MSP root or intermediate CAs.',
    fix: 'Point the Certificate field of config.yaml at a file in cacerts/ or intermediatecerts/.',
  },
  MSP_E_NODEOU_MISSING: {
    className: 'MspSetupError',
    summary:
      'NodeOUs are enabled but the client or peer OU is not defined (required before MSP 1.4.3).',
    fix: 'Define ClientOUIdentifier and PeerOUIdentifier in config.yaml, or use MSP version 1.4.3+.',
  },
  MSP_E_NO_ADMINS: {
    className: 'MspSetupError',
    summary: 'The MSP declares no administrators.',
    fix: 'Put admin certificates in admincerts/ or define NodeOUs.AdminOUIdentifier in config.yaml.',
  },
  MSP_E_ADMIN_INVALID: {
    className: 'MspSetupError',
    summary: 'An admin certificate is not a valid identity of the MSP.',
    fix: 'Replace the admin certificate with one issued by the MSP CAs that carries the required OUs.',
  },
  MSP_E_ADMIN_NOT_CLIENT: {
    className: 'MspSetupError',
    summary: 'With NodeOUs on, an admin certificate lacks the client (or admin) OU.',
    fix: 'Issue the admin certificate with the client or admin OU configured in NodeOUs.',
  },
  MSP_E_SIGNING_KEY_NOT_FOUND: {
    className: 'MspSetupError',
    summary: 'No private key in keystore/ matches the signing certificate.',
    fix: 'Put the private key of the signcerts/ certificate into keystore/ (PEM, PKCS#8 or SEC1).',
  },
  MSP_E_SIGNING_IDENTITY_EXPIRED: {
    className: 'MspSetupError',
    summary: 'The local signing certificate has expired.',
    fix: 'Enrol again and replace signcerts/ and keystore/ with the new certificate and key.',
  },
  MSP_E_SIGNING_IDENTITY_INVALID: {
    className: 'MspSetupError',
    summary: 'The local signing certificate cannot be used (it does not chain to the MSP).',
    fix: 'Use a signing certificate issued by one of the MSP CAs.',
  },

  // --- msp: identities, principals, signatures -----------------------------------------------
  MSP_E_IDENTITY_MALFORMED: {
    className: 'MspIdentityError',
    summary: 'The identity is not a well-formed PEM X.509 certificate.',
    fix: 'Send exactly one PEM CERTIFICATE block, without trailing bytes, with a canonical signature.',
  },
  MSP_E_IDENTITY_WRONG_MSP: {
    className: 'MspIdentityError',
    summary: 'The identity names a different MSP ID.',
    fix: 'Use the MSP ID of the organisation that issued the certificate.',
  },
  MSP_E_IDENTITY_IS_CA: {
    className: 'MspIdentityError',
    summary: 'A CA certificate cannot be used as an identity.',
    fix: 'Sign with a leaf (end-entity) certificate issued by the CA.',
  },
  MSP_E_IDENTITY_KEY_UNSUPPORTED: {
    className: 'MspIdentityError',
    summary: 'The identity key algorithm is not accepted (ECDSA, or Ed25519 from MSP 3.0).',
    fix: 'Issue the identity with an ECDSA P-256 key.',
  },
  MSP_E_IDENTITY_NOT_CHAINED: {
    className: 'MspIdentityError',
    summary: 'The identity does not have exactly one valid chain to a root of the MSP.',
    fix: 'Use a certificate issued by this organisation CAs (or add the missing intermediate).',
  },
  MSP_E_IDENTITY_PARENT_NOT_LEAF: {
    className: 'MspIdentityError',
    summary: 'The identity was issued by a CA that also issued intermediate CAs of the MSP.',
    fix: 'Issue identities from the leaf CAs of the certification tree.',
  },
  MSP_E_IDENTITY_REVOKED: {
    className: 'MspIdentityError',
    summary: 'The certificate has been revoked by a CRL of its issuer.',
    fix: 'Enrol again for a new certificate; revoked certificates never become valid again.',
  },
  MSP_E_IDENTITY_OU_MISMATCH: {
    className: 'MspIdentityError',
    summary: 'None of the identity OUs is among the OrganizationalUnitIdentifiers the MSP accepts.',
    fix: 'Issue the certificate with one of the OUs listed in config.yaml.',
  },
  MSP_E_IDENTITY_NODEOU: {
    className: 'MspIdentityError',
    summary:
      'With NodeOUs on, the identity does not carry exactly one NodeOU (client/peer/admin/orderer).',
    fix: 'Issue the certificate with exactly one NodeOU, certified by the pinned CA if one is set.',
  },
  MSP_E_PRINCIPAL_NOT_SATISFIED: {
    className: 'MspPrincipalError',
    summary: 'The identity does not satisfy the principal.',
    fix: 'Sign with an identity that has the role, OU or certificate the principal names.',
  },
  MSP_E_PRINCIPAL_INVALID: {
    className: 'MspPrincipalError',
    summary: 'The principal is malformed or of a kind this MSP version does not support.',
    fix: 'Use ROLE, ORGANIZATION_UNIT or IDENTITY (COMBINED and ANONYMITY from MSP 1.3).',
  },
  MSP_E_SIGNATURE_INVALID: {
    className: 'MspSignatureError',
    summary: 'The signature does not verify for this identity and message.',
    fix: 'Sign SHA-256(message) with the identity key; ECDSA signatures must be low-S.',
  },
  MSP_E_SIGNATURE_HIGH_S: {
    className: 'MspSignatureError',
    summary: 'The ECDSA signature has S above half the curve order (not canonical).',
    fix: 'Normalise S to n - S before sending (Fabric and Coffer accept low-S only).',
  },
  MSP_E_TLS_CLIENT_REJECTED: {
    className: 'MspIdentityError',
    summary: 'A TLS client certificate does not chain to the TLS CAs of any MSP, or is revoked.',
    fix: 'Connect with a TLS certificate issued by your organisation TLS CA that is not revoked.',
  },
  MSP_E_RELOAD_FAILED: {
    className: 'MspConfigError',
    summary: 'A changed local MSP folder failed to load; the previous MSP stays in force.',
    fix: 'Fix the folder as the error says; Coffer retries on the next change or SIGHUP.',
  },

  // --- msp: signature policies -------------------------------------------------------------
  POLICY_E_SYNTAX: {
    className: 'PolicySyntaxError',
    summary: 'A signature policy is not valid Fabric policy syntax.',
    fix: "Write policies as OR('Org1MSP.admin', ...), AND(...) or OutOf(n, ...).",
  },
  POLICY_E_LIMIT: {
    className: 'PolicySyntaxError',
    summary: 'A signature policy exceeds a size limit (length, depth, principals or rules).',
    fix: 'Simplify the policy; the limits are listed in docs/errors.md.',
  },
  POLICY_E_INVALID: {
    className: 'PolicyError',
    summary: 'A signature policy envelope is malformed, or cannot be written in policy syntax.',
    fix: 'Fix the field named in the error; policies from parsePolicy are always valid.',
  },

  // --- msp: crypto material (cryptogen) -------------------------------------------------------
  CRYPTOGEN_E_CONFIG: {
    className: 'CryptoGenError',
    summary: 'The crypto-config file is not valid cryptogen configuration.',
    fix: 'Fix the field named in the error; the format is that of Fabric cryptogen.',
  },
  CRYPTOGEN_E_OUTPUT: {
    className: 'CryptoGenError',
    summary: 'The output folder cannot be written.',
    fix: 'Choose a writable output folder.',
  },
  CRYPTOGEN_E_REVOKE: {
    className: 'CryptoGenError',
    summary:
      'The certificate cannot be revoked: its issuing CA and key are not in the given folder.',
    fix: 'Pass the organisation folder written by `coffer crypto generate` that issued the certificate.',
  },
  CRYPTOGEN_E_CERT_MALFORMED: {
    className: 'CryptoGenError',
    summary: 'The certificate to revoke is not exactly one PEM X.509 certificate.',
    fix: 'Pass the PEM file of one certificate, such as signcerts/<name>-cert.pem or tls/server.crt.',
  },
  // --- ordering (OrderingLog) ------------------------------------------------------------------

  // --- ledger: merkle tree and receipts ---------------------------------------------------------

  // --- ledger: store, ledger files, snapshots ---------------------------------------------------

} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorRegistry;
