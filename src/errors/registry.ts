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
    summary:
      "A changed MSP folder (the node's own MSP, or a consortium MSP the signer reads) failed to load; the previous MSP stays in force.",
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
  // --- transactions and execution -------------------------------------------------------------
  TX_E_MALFORMED: {
    className: 'TransactionError',
    summary: 'The transaction envelope or request is not well-formed.',
    fix: 'Build requests with the Coffer client SDK; the error names the failing field.',
  },
  TX_E_EXPIRED: {
    className: 'TransactionError',
    summary: 'The request expired before it was ordered (expiresAt is not after the batch time).',
    fix: 'Sign a new request with a fresh nonce and a later expiresAt.',
  },
  TX_E_EXPIRY_TOO_FAR: {
    className: 'TransactionError',
    summary: 'The request expiresAt is further in the future than the node accepts.',
    fix: 'Use an expiresAt at most requestTtlMsMax after now (the SDK does this).',
  },
  TX_E_TOO_LARGE: {
    className: 'TransactionError',
    summary:
      "The request is larger than the consortium's settings allow (settings.requestBytesMax).",
    fix: 'Send a smaller request, or have the members raise settings.requestBytesMax (at most 65536) by a set_settings proposal.',
  },
  TX_E_REPLAY: {
    className: 'TransactionError',
    summary: 'The same signed request was already submitted (replay).',
    fix: 'Sign a new request with a new nonce; look the earlier one up by its transaction id.',
  },
  TX_E_UNKNOWN_MSP: {
    className: 'TransactionError',
    summary: 'The request names an MSP that is not part of the consortium.',
    fix: 'Use the MSP ID of a member organisation.',
  },
  TX_E_UNKNOWN_CERT: {
    className: 'TransactionError',
    summary: 'The signer certificate is neither in the envelope nor known to the ledger.',
    fix: 'Send the signer certificate with the envelope (the SDK does by default).',
  },
  TX_E_CERT_MISMATCH: {
    className: 'TransactionError',
    summary: 'The certificate in the envelope is not the one the request names (certId).',
    fix: 'Set signer.certId to the hex SHA-256 of the DER of the certificate you send and sign with.',
  },
  TX_E_ENDORSEMENT_INVALID: {
    className: 'TransactionError',
    summary:
      'An endorsement of the request does not hold: unknown MSP, invalid or revoked identity, a signature that does not verify over the request bytes, or an identity that signs twice.',
    fix: 'Have each endorser sign the exact request bytes with their own MSP identity (SDK endorseEnvelope); an identity endorses once and not its own request.',
  },
  TX_E_UNKNOWN_APP: {
    className: 'TransactionError',
    summary: 'The request names an app or action that is not installed.',
    fix: 'List the installed apps and actions in the node OpenAPI document.',
  },
  APP_E_INVALID_ARGS: {
    className: 'AppError',
    summary: 'The app action arguments are invalid.',
    fix: 'Send the arguments the action schema describes; the error names the field.',
  },
  APP_E_FORBIDDEN: {
    className: 'AppError',
    summary: 'The caller is not allowed to run this action.',
    fix: 'Sign with an identity that has the required role (for example an MSP admin).',
  },
  APP_E_FAILED: {
    className: 'AppError',
    summary: 'The app failed while executing the transaction; nothing it wrote was kept.',
    fix: 'This is a bug in the app: report the transaction id and message.',
  },
  TOKEN_E_INSUFFICIENT_FUNDS: {
    className: 'AppError',
    summary: 'The sender balance is lower than the amount.',
    fix: 'Transfer at most the current balance (GET the balance first).',
  },
  TOKEN_E_OVERFLOW: {
    className: 'AppError',
    summary: 'The amount would exceed the largest supply the token allows.',
    fix: 'Mint or transfer a smaller amount.',
  },
  // --- token multisig accounts (src/contracts/token.ts, issue 7) ------------------------------
  TOKEN_E_MULTISIG_WALLET_NOT_FOUND: {
    className: 'TokenMultisigError',
    summary: 'register_multisig names a custody wallet that does not exist.',
    fix: 'Create the wallet with custody create_wallet on chain coffer first, then register its id.',
  },
  TOKEN_E_MULTISIG_WRONG_CHAIN: {
    className: 'TokenMultisigError',
    summary:
      'register_multisig names a custody wallet on another chain than coffer; only coffer wallets hold tokens.',
    fix: 'Register a custody wallet created on chain coffer.',
  },
  TOKEN_E_MULTISIG_PLAIN_TRANSFER: {
    className: 'TokenMultisigError',
    summary:
      'A plain transfer was sent from a multisig account, whose funds move only by multisig_transfer.',
    fix: 'Send a multisig_transfer with signatures by the threshold of the account keys.',
  },
  TOKEN_E_MULTISIG_NOT_REGISTERED: {
    className: 'TokenMultisigError',
    summary: 'The transfer is from an account that is not a registered multisig account.',
    fix: 'Send from ms:<walletId> once register_multisig has registered that coffer custody wallet.',
  },
  TOKEN_E_MULTISIG_TX_MALFORMED: {
    className: 'TokenMultisigError',
    summary:
      'args.tx is not the canonical bytes (RFC 8785 JSON) of a multisig transfer; the field is named.',
    fix: 'Build the bytes with multisigTransferBytes (the coffer custody worker builds them) and sign their SHA-256.',
  },
  TOKEN_E_MULTISIG_SIGNATURE_MALFORMED: {
    className: 'TokenMultisigError',
    summary: 'A signature is neither 64 bytes r||s nor one canonical DER ECDSA signature, in hex.',
    fix: 'Send each signature as the key store returns it: hex of r||s (64 bytes) or of its DER encoding.',
  },
  TOKEN_E_MULTISIG_SIGNATURE_INVALID: {
    className: 'TokenMultisigError',
    summary:
      'A signature does not verify over the transfer digest with any key of the account (another key, other bytes, or high S).',
    fix: 'Sign exactly the SHA-256 of args.tx (not hashed again, low-S) with a key of the multisig account.',
  },
  TOKEN_E_MULTISIG_DUPLICATE_SIGNER: {
    className: 'TokenMultisigError',
    summary: 'Two signatures of one multisig transfer are by the same key; each key counts once.',
    fix: 'Send one signature per key, from distinct keys of the account.',
  },
  TOKEN_E_MULTISIG_THRESHOLD_NOT_MET: {
    className: 'TokenMultisigError',
    summary: 'Fewer distinct keys of the account signed than its threshold m.',
    fix: 'Collect signatures by m distinct keys of the account over the digest named in the message.',
  },
  TOKEN_E_MULTISIG_NONCE_SPENT: {
    className: 'TokenMultisigError',
    summary:
      'The nonce of the multisig transfer was already spent by an earlier transaction (replay).',
    fix: 'Build and sign a new transfer with an unspent nonce; the multisig_nonce query names the spending transaction.',
  },

  // --- sandboxed apps and oracles (decision 0014) ----------------------------------------------
  APP_E_BUNDLE_INVALID: {
    className: 'AppBundleError',
    summary: 'An app bundle or its manifest is malformed; the message names the failing field.',
    fix: 'Fix the field the message names (see README, Apps) and build again with `coffer app build`.',
  },
  APP_E_VERSION_NOT_NEWER: {
    className: 'AppBundleError',
    summary: 'An app is already installed at this version or a higher one.',
    fix: 'Raise `version` in app.json (semantic versioning) and build again; an upgrade must be a higher version.',
  },
  APP_E_NAME_RESERVED: {
    className: 'AppBundleError',
    summary: 'The app name is taken by a built-in app or is reserved.',
    fix: 'Choose another name in app.json; built-in apps (kv, token, apps, oracles) cannot be replaced.',
  },
  APP_E_POLICY_UNSUPPORTED: {
    className: 'AppBundleError',
    summary: 'An endpoint auth policy needs more signers than a transaction carries (one today).',
    fix: "Use a policy that one identity can satisfy, such as OR('Org1MSP.admin','Org2MSP.admin'); multi-signer policies come later.",
  },
  APP_E_CPU_LIMIT: {
    className: 'AppLimitError',
    summary:
      'The app used more than its instruction budget for one call (or hit the wall-clock backstop).',
    fix: 'Do less work per call (bound your loops), or split the work over several transactions.',
  },
  APP_E_MEMORY_LIMIT: {
    className: 'AppLimitError',
    summary: 'The app used more memory or stack than one app runtime allows.',
    fix: 'Keep less in memory per call and avoid deep recursion; store data in KV maps instead.',
  },
  APP_E_OUTPUT_LIMIT: {
    className: 'AppLimitError',
    summary: 'The app returned, logged or wrote more than one call allows.',
    fix: 'Return less data (page through results), log less, or write smaller values.',
  },
  APP_E_OUTPUT_INVALID: {
    className: 'AppError',
    summary: 'The app returned a result that does not match its endpoint output schema.',
    fix: 'This is a bug in the app: fix the result or the output schema in app.json.',
  },
  APP_E_READONLY: {
    className: 'AppError',
    summary: 'A read-only endpoint tried to write, or a read-write endpoint was called as a query.',
    fix: 'Call read-write endpoints as signed transactions; do not write from a readonly endpoint.',
  },
  APP_E_REJECTED: {
    className: 'AppError',
    summary: 'The app refused the call (it called fail() with its own code).',
    fix: "Read the app code and message in the details; they are the app author's.",
  },
  ORACLE_E_UNKNOWN_FEED: {
    className: 'OracleError',
    summary: 'No oracle feed with this name is registered.',
    fix: 'Register the feed first (oracles/register, by an MSP admin), or check its name.',
  },
  ORACLE_E_FEED_OWNED: {
    className: 'OracleError',
    summary: 'The feed is registered by another organisation.',
    fix: 'Ask an admin of the MSP that registered the feed to change it.',
  },
  ORACLE_E_PUBLISHER_FORBIDDEN: {
    className: 'OracleError',
    summary: 'The signer is not one of the allowed publishers of the feed.',
    fix: 'Publish with an identity listed in the feed publishers, or have an admin of the feed owner MSP add it.',
  },
  ORACLE_E_POINT_INVALID: {
    className: 'OracleError',
    summary:
      'The data point is not newer than the latest one, is dated after the batch time, or is too large.',
    fix: 'Send a point whose time is after the latest point and not after now, with a value of at most oracleValueBytesMax.',
  },

  // --- governance (decision 0017) -----------------------------------------------------------
  GOV_E_NO_CONFIG: {
    className: 'GovernanceError',
    summary: 'The ledger holds no governance configuration (no genesis configuration was stored).',
    fix: 'Start the network from a genesis configuration (`coffer network init`); governance needs members to vote.',
  },
  GOV_E_CONFIG_INVALID: {
    className: 'GovConfigError',
    summary:
      'A genesis configuration, or the configuration a proposal would produce, has a missing, wrongly typed or inconsistent field (the error names its path).',
    fix: 'Fix the named field: members and nodes must name MSPs of config.msps, codes are hex SHA-256, settings are whole numbers within their bounds.',
  },
  GOV_E_MSP_SETUP: {
    className: 'GovConfigError',
    summary:
      'An MSP definition of the configuration does not set up (its certificates, CRLs or OUs are refused; the MSP error is given).',
    fix: "Fix the organisation's MSP folder as the MSP error says (see its code in this page), then read it again.",
  },
  GOV_E_DUPLICATE_MSP: {
    className: 'GovConfigError',
    summary:
      'Two MSP definitions use the same MSP ID with different certificates (identical ones are merged, as in Fabric).',
    fix: 'Give each organisation its own MSP ID, or use the same, identical MSP folder for both.',
  },
  GOV_E_INVALID_ARGS: {
    className: 'GovernanceError',
    summary:
      'The arguments of a gov transaction or query are missing, unknown or of the wrong type (the field is named).',
    fix: "Send the arguments the gov app lists (GET /v1/apps): e.g. vote takes {proposalId, ballot: 'yes'|'no'}.",
  },
  GOV_E_ACTION_INVALID: {
    className: 'GovernanceError',
    summary:
      'An action of a proposal is malformed: unknown name, unknown or missing argument, or a value that is refused (the path is named, e.g. actions[1].args.codeId).',
    fix: 'Fix the named action; `coffer gov propose --help` lists the actions and their arguments.',
  },
  GOV_E_NOT_MEMBER: {
    className: 'GovernanceError',
    summary:
      "The caller's organisation is not a member of the consortium, so its admins cannot propose or vote.",
    fix: 'Ask the members to propose add_member for your organisation (after set_msp).',
  },
  GOV_E_JOIN_INVALID: {
    className: 'GovernanceError',
    summary:
      'A join request is not signed by a peer identity, or names a node id that belongs to another organisation.',
    fix: 'Let the node send it (it signs with its own peer identity at start), under a node id of its own organisation.',
  },
  GOV_E_NOT_ADMIN: {
    className: 'GovernanceError',
    summary:
      'The caller is not an MSP admin of its organisation; only admins propose, vote and withdraw.',
    fix: "Sign with an admin identity of your organisation (a profile whose mspDir is an admin's MSP folder).",
  },
  GOV_E_NOT_PROPOSER: {
    className: 'GovernanceError',
    summary: 'Only admins of the organisation that made a proposal may withdraw it.',
    fix: 'Vote no instead, or ask the proposing organisation to withdraw it.',
  },
  GOV_E_PROPOSAL_UNKNOWN: {
    className: 'GovernanceError',
    summary: 'No proposal has this id.',
    fix: 'Check the id: it is the transaction id of the propose transaction (`coffer gov list`).',
  },
  GOV_E_PROPOSAL_EXPIRED: {
    className: 'GovernanceError',
    summary:
      'The proposal expired before this ballot or withdrawal (the next governance transaction marks it Expired).',
    fix: 'Propose the actions again; use --expires-in for a longer lifetime (at most settings.proposalTtlMs).',
  },
  GOV_E_PROPOSAL_CLOSED: {
    className: 'GovernanceError',
    summary: 'The proposal is no longer open (accepted, rejected, withdrawn, dropped or failed).',
    fix: 'Nothing to vote on; `coffer gov show ID` tells its state. Propose again if still needed.',
  },
  GOV_E_UNKNOWN_MSP: {
    className: 'GovernanceError',
    summary: 'An action names an MSP ID that has no MSP definition in the configuration.',
    fix: 'Add set_msp for that organisation before the action (in the same proposal or an earlier one).',
  },
  GOV_E_UNKNOWN_NODE: {
    className: 'GovernanceError',
    summary: 'An action names a node id that was never admitted.',
    fix: 'Check the node id (`coffer gov show` or the config query lists nodes).',
  },
  GOV_E_NODE_EXISTS: {
    className: 'GovernanceError',
    summary: 'admit_node names a node id already admitted for another organisation.',
    fix: 'Choose another node id; node ids stay taken even after retirement.',
  },
  GOV_E_MSP_IN_USE: {
    className: 'GovernanceError',
    summary: 'remove_msp names an organisation that is still a member or still has admitted nodes.',
    fix: 'Propose remove_member and retire_node for it first (they may come earlier in the same proposal).',
  },
  GOV_E_LAST_MEMBER: {
    className: 'GovernanceError',
    summary: 'remove_member would leave the consortium without members.',
    fix: 'Add another member first; someone must be able to vote.',
  },
  GOV_E_CODE_NOT_ALLOWED: {
    className: 'GovernanceError',
    summary: 'admit_node names a code id the consortium does not allow.',
    fix: 'Propose allow_code for that code id first (it may come earlier in the same proposal).',
  },
  GOV_E_LIMIT: {
    className: 'GovernanceError',
    summary:
      'A governance limit is reached (actions per proposal, proposal bytes, open proposals, configuration bytes); the limit is named.',
    fix: 'Split the proposal, or vote on, withdraw or let expire the open proposals; the limits are listed in docs/errors.md.',
  },
  GOV_E_CONSTITUTION_REFUSED: {
    className: 'GovernanceError',
    summary:
      "The JavaScript constitution's validate refused the proposal (its code and message are given).",
    fix: "Change the proposal as the constitution's message says.",
  },
  GOV_E_CONSTITUTION_FAILED: {
    className: 'GovernanceError',
    summary:
      'The JavaScript constitution failed (threw, hit a sandbox limit or returned something other than Open, Accepted or Rejected).',
    fix: 'Fix the constitution module and set it again (set_constitution); the error says which function failed.',
  },
  // --- custody (issue 7, decision 0021) ------------------------------------------------------
  CUSTODY_E_PARAMS_INVALID: {
    className: 'CustodyConfigError',
    summary:
      'The custody parameters in the consortium configuration cannot be used (the field is named); every custody action stops until they are fixed.',
    fix: 'Propose set_custody with a corrected value (see docs/decisions/0021-custody-app.md for the fields and bounds).',
  },
  CUSTODY_E_FORBIDDEN: {
    className: 'CustodyAccessError',
    summary:
      'The caller may not do this: services act only on their own wallets, and only client identities own wallets.',
    fix: 'Sign with the service identity that owns the wallet (or an admin for approvals, a chain worker for chain steps).',
  },
  CUSTODY_E_NOT_ADMIN: {
    className: 'CustodyAccessError',
    summary: 'Only MSP admins (of the MSPs the custody parameters allow) approve or reject.',
    fix: 'Sign the approval or rejection with an MSP admin identity of an allowed organisation.',
  },
  CUSTODY_E_NOT_WORKER: {
    className: 'CustodyAccessError',
    summary: 'The caller is not a chain worker of this chain in the custody parameters.',
    fix: 'Submit chain steps from a worker identity listed in custody.chains.<chain>.workers (set_custody proposal).',
  },
  CUSTODY_E_SELF_APPROVAL: {
    className: 'CustodyApprovalError',
    summary: 'The requester of a withdrawal or proposer of a policy change cannot approve it.',
    fix: 'Ask another admin to approve.',
  },
  CUSTODY_E_ALREADY_APPROVED: {
    className: 'CustodyApprovalError',
    summary:
      'This admin has already approved this withdrawal or policy change; one admin counts once.',
    fix: 'Ask a different admin to approve.',
  },
  CUSTODY_E_SAME_ORG: {
    className: 'CustodyApprovalError',
    summary:
      'Under the distinct-orgs approval rule an organisation counts once, and this one has already approved.',
    fix: 'Ask an admin of another organisation to approve.',
  },
  CUSTODY_E_QUORUM_REQUIRED: {
    className: 'CustodyPolicyError',
    summary:
      'Policies change only through a quorum of admin approvals or an accepted governance proposal.',
    fix: 'Propose the change with propose_policy and collect the approvals, or pass it through governance.',
  },
  CUSTODY_E_NOT_FOUND: {
    className: 'CustodyStateError',
    summary: 'No wallet, withdrawal, deposit or policy change has this id.',
    fix: 'Check the id (wallet and withdrawal ids are the txIds that created them).',
  },
  CUSTODY_E_BAD_STATE: {
    className: 'CustodyStateError',
    summary:
      'The object is not in a state this step may start from (the message names the state and the steps it allows).',
    fix: 'Query the object and take the step its state allows.',
  },
  CUSTODY_E_LIMIT_EXCEEDED: {
    className: 'CustodyPolicyError',
    summary: 'The withdrawal is over a wallet limit and does not have its admin approvals yet.',
    fix: 'Wait for the approvals the withdrawal needs (pending_approvals query) before building or signing it.',
  },
  CUSTODY_E_NOT_WHITELISTED: {
    className: 'CustodyPolicyError',
    summary:
      'The destination is not on the wallet whitelist, or its entry has not taken effect yet.',
    fix: 'Propose whitelist_add for the address, collect the approvals and wait for its delay, then request again.',
  },
  CUSTODY_E_POLICY_INVALID: {
    className: 'CustodyPolicyError',
    summary:
      'The policy change does not apply to the wallet policy (an address already listed or not listed, a chain-invalid address).',
    fix: 'Query the wallet policy and propose a change that applies to it.',
  },
  CUSTODY_E_WALLET_FROZEN: {
    className: 'CustodyPolicyError',
    summary:
      'The wallet is frozen (by a policy change or a reorganisation beyond the confirmation depth): nothing new moves out.',
    fix: 'Investigate the alerts on the wallet, then unfreeze it with a set_frozen policy change.',
  },
  CUSTODY_E_IDEMPOTENCY_CONFLICT: {
    className: 'CustodyRequestError',
    summary:
      'The idempotency key was used before by this service for a withdrawal with other parameters.',
    fix: 'Use a new idempotency key for a new withdrawal; replay a key only with the same parameters.',
  },
  CUSTODY_E_INSUFFICIENT_FUNDS: {
    className: 'CustodyFundsError',
    summary:
      'The wallet available balance (total minus reserved) of the asset is less than the amount.',
    fix: 'Wait for deposits to be credited or for other withdrawals to end, or request less.',
  },
  CUSTODY_E_AMOUNT_OVERFLOW: {
    className: 'CustodyFundsError',
    summary: 'A balance or sum would exceed 2^128 - 1 base units.',
    fix: 'Split the amount; no custody balance can exceed 2^128 - 1.',
  },
  CUSTODY_E_KEY_INVALID: {
    className: 'CustodyKeyError',
    summary:
      'A wallet public key is not a valid SEC1 point on the wallet curve, or the keys repeat.',
    fix: 'Send three distinct SEC1 public keys (hex) on the wallet curve; the platform key with its HSM key id.',
  },
  CUSTODY_E_SIGNATURE_INVALID: {
    className: 'CustodyKeyError',
    summary:
      'The signature does not verify over the withdrawal digest with the wallet key (or is not low-S DER or r||s).',
    fix: 'Sign the recorded digest (no further hashing) with the wallet key; send DER or 64-byte r||s hex, low-S.',
  },
  CUSTODY_E_DIGEST_MISMATCH: {
    className: 'CustodyKeyError',
    summary:
      'The digest is not the one the chain defines for the unsigned transaction (coffer chain: SHA-256 of its bytes).',
    fix: 'Compute the digest from the unsigned transaction bytes as the chain defines it.',
  },
  CUSTODY_E_TX_MISMATCH: {
    className: 'CustodyKeyError',
    summary:
      'The built chain transaction does not pay exactly the approved withdrawal: another destination, amount, asset, wallet or chain, or an extra payment (the chain worker is misconfigured or not to be trusted).',
    fix: 'Rebuild the withdrawal from its approved record with a correctly configured chain worker; check the worker and the custody.chains parameters.',
  },
  CUSTODY_E_FEE_TOO_HIGH: {
    className: 'CustodyKeyError',
    summary:
      'The built transaction pays the chain a fee over the governed cap (custody.chains.<chain>.feeMax), or the wallet cannot cover it beside the amount.',
    fix: 'Build again at a lower fee rate, or raise feeMax with a set_custody proposal; the fee is paid from the wallet and is reserved at build.',
  },
  CUSTODY_E_ADDRESS_INVALID: {
    className: 'CustodyRequestError',
    summary: 'The address is not a valid address of the wallet chain.',
    fix: 'Send an address in the chain format (coffer: <mspId>:<identityId>; ethereum: 0x + 40 hex; bitcoin: base58 or bech32).',
  },
  CUSTODY_E_ADDRESS_TAKEN: {
    className: 'CustodyRequestError',
    summary: 'The address is already registered for another wallet or account.',
    fix: 'Derive a new address; an address belongs to one wallet and account.',
  },
  CUSTODY_E_UNKNOWN_ADDRESS: {
    className: 'CustodyRequestError',
    summary: 'The deposit goes to an address no wallet registered.',
    fix: 'Register the address with add_address before reporting deposits to it.',
  },
  CUSTODY_E_DEPOSIT_CONFLICT: {
    className: 'CustodyRequestError',
    summary:
      'A deposit with this chain, transaction id and output index was reported with another address, asset or amount.',
    fix: 'Report the chain output as it is; the first report of an output cannot change its address, asset or amount.',
  },
  CUSTODY_E_EXPIRED: {
    className: 'CustodyStateError',
    summary: 'The withdrawal or policy change is past its expiry time; it can only be expired.',
    fix: 'Expire it (expire or expire_policy) and request or propose again.',
  },
  CUSTODY_E_NOT_EXPIRED: {
    className: 'CustodyStateError',
    summary: 'The withdrawal or policy change is not past its expiry time yet.',
    fix: 'Wait until expiresAt (ledger time) before expiring it.',
  },
  CUSTODY_E_CAPACITY: {
    className: 'CustodyLimitError',
    summary:
      'A custody limit on a collection is reached (addresses, whitelist entries, assets, open withdrawals, window entries, history).',
    fix: 'Let open withdrawals or policy changes end, or use another wallet; the limit is named in the message.',
  },
  // --- custody API (src/node/custody-routes.ts) ---------------------------------------------
  CUSTODY_E_ROUTE_MISMATCH: {
    className: 'CustodyApiError',
    summary:
      "The signed envelope sent to a custody route is not that route's custody action, or names another object than the path.",
    fix: 'Sign the custody action the route names (see /v1/openapi.json), with the id of the path, or send other actions to POST /v1/tx.',
  },
  // --- custody chain workers (src/custody/worker-state.ts) -----------------------------------
  CUSTODY_E_WORKER_STATE_CORRUPT: {
    className: 'CustodyWorkerError',
    summary:
      "The custody worker's deposit-cursor file in its state folder is not a cursor of this chain (not JSON, torn, another version or chain); the worker does not start.",
    fix: 'Delete the file the message names to rescan the chain deposits from the start (reports are idempotent), or restore it from a backup.',
  },
  CUSTODY_E_WORKER_STATE_IO: {
    className: 'CustodyWorkerError',
    summary:
      'The custody worker cannot read or write its state folder (permissions, a full disk, an I/O error).',
    fix: 'Check the --state-dir folder named in the message: it must be creatable and writable by the worker, on a disk with free space.',
  },
  CUSTODY_E_CHAIN_NODE: {
    className: 'CustodyWorkerError',
    summary:
      "A chain node did not answer the custody worker's call as expected (unreachable, timed out, credentials refused, an answer over the size limit or not JSON-RPC, or an RPC error); the worker tries again on its next step.",
    fix: 'Check the node URL and credentials in the chain options and that the node runs and is synced; the message names the call and the node answer (details.kind, details.rpcCode).',
  },
  // --- node ----------------------------------------------------------------------------------
  NODE_E_BACKPRESSURE: {
    className: 'NodeError',
    summary: 'The node has as many pending transactions as it accepts (HTTP 429).',
    fix: 'Retry after the Retry-After delay; spread load over time or over more nodes.',
  },
  NODE_E_TOO_MANY_SESSIONS: {
    className: 'NodeError',
    summary:
      'The listener has more open connections than its sessions.softMax: this connection is answered HTTP 503 and closed (past sessions.hardMax, new connections are closed at once).',
    fix: 'Retry after the Retry-After delay on a new connection; keep connections alive and reuse them instead of opening many; an operator can raise sessions.softMax and sessions.hardMax in the node config.',
  },
  NODE_E_UNAVAILABLE: {
    className: 'NodeError',
    summary: 'The node cannot accept transactions now (stopping, disk full, or stopped executing).',
    fix: 'Retry later; GET /v1/health says why. A full disk clears once space returns.',
  },
  NODE_E_FAILED: {
    className: 'NodeError',
    summary: 'The node stopped executing because of an internal failure.',
    fix: 'Read the node log line with this code, fix the cause (often the disk), restart the node.',
  },
  NODE_E_NOT_FOUND: {
    className: 'NodeError',
    summary: 'No such transaction, key or resource on this node.',
    fix: 'Check the id; a transaction id is the hex SHA-256 of its request bytes.',
  },
  NODE_E_RECEIPT_PENDING: {
    className: 'NodeError',
    summary: 'The transaction is committed but no signature entry covers it yet.',
    fix: 'Retry after the Retry-After delay (at most the signature interval).',
  },
  NODE_E_UNAUTHENTICATED: {
    className: 'NodeError',
    summary:
      'The request has no valid client certificate of a consortium member (or, on the console listener, no valid console session).',
    fix: 'Connect with mutual TLS using a TLS certificate issued by your organisation TLS CA; in the web console, sign in again.',
  },
  NODE_E_CONSOLE_SIGNIN: {
    className: 'NodeError',
    summary:
      'A console sign-in was refused: the challenge is unknown, used or expired, the certificate is not a valid identity of the named organisation, or the signature does not verify with it.',
    fix: 'Sign in again with a key store made by `coffer console keystore` from your MSP folder; the message says which check failed (a revoked or expired certificate needs a new one from your CA).',
  },
  NODE_E_CONSOLE_UNAVAILABLE: {
    className: 'NodeError',
    summary: "The web console's files are not built on this node (HTTP 503).",
    fix: 'Run `npm run build` in the Coffer folder (it builds the console into dist/console), then reload /console/.',
  },
  NODE_E_DIVERGED: {
    className: 'NodeError',
    summary:
      "This node's Merkle root disagrees with the roots its peers signed at the same position: it stopped executing (a bug or an attack).",
    fix: 'Keep the data directory for investigation; compare `coffer status` of every node and the logs (ROOTS DIVERGE lines); rebuild this node from a peer once the cause is known.',
  },
  NODE_E_FORBIDDEN: {
    className: 'NodeError',
    summary:
      "The caller's identity is valid but lacks the role this endpoint needs (e.g. node-to-node endpoints serve peer identities only).",
    fix: 'Call it with the TLS identity of a node (a peer of a member organisation); clients use the /v1 client endpoints.',
  },
  NODE_E_NOT_ADMITTED: {
    className: 'NodeError',
    summary:
      'The consortium has not admitted this node, has retired it, or no longer allows the code id it runs: it takes governance requests only.',
    fix: "Send the request to an admitted node; to admit this one, members propose and accept admit_node (or allow_code for its code id): see the node's GET /v1/status admission and attestation.",
  },
  NODE_E_CATCHUP_REFUSED: {
    className: 'NodeError',
    summary:
      'Entries a peer sent for catch-up do not verify against the signature entries of the other nodes (Merkle root, transactions or signatures): nothing was installed.',
    fix: 'Nothing to do for the moment: the node asks another peer. If every peer is refused, compare `coffer status` of every node; a peer serving bad entries is a bug or an attack.',
  },
  NODE_E_CATCHUP_UNAVAILABLE: {
    className: 'NodeError',
    summary:
      'A peer cannot serve catch-up now (its ledger files do not reach the asked position yet, it orders on the embedded log, or not enough nodes signed the root).',
    fix: 'The behind node retries by itself; make sure a majority of the nodes run and are reachable from it (peers in its config).',
  },
  NODE_E_SNAPSHOT_UNVERIFIED: {
    className: 'NodeError',
    summary:
      'A snapshot a peer sent does not verify: its state is not the one its signature entry commits to, or no majority of the organisations signed a root that extends its Merkle tree. Nothing was installed.',
    fix: 'Nothing to do for the moment: the joining node asks another peer. If every peer is refused, compare `coffer status` of every node; a peer serving a bad snapshot is a bug or an attack.',
  },
  NODE_E_DATA_DIR_LOCKED: {
    className: 'NodeError',
    summary: 'Another running node (or custody worker) already uses this directory.',
    fix: 'Stop the other process (its pid is in the error and in DIR/LOCK) or give this one its own directory.',
  },
  NODE_E_PRIVATE_MAP: {
    className: 'NodeError',
    summary:
      'The map is private: its values are encrypted in the ledger and served only through the app that owns it.',
    fix: "Read it with the owning app's query (POST /v1/query); raw state reads serve public: maps only.",
  },
  NODE_E_BAD_REQUEST: {
    className: 'NodeError',
    summary: 'The HTTP request does not match the API (body, parameters or size).',
    fix: 'See GET /v1/openapi.json for the request format; the error names the field.',
  },
  NODE_E_REQUEST_TIMEOUT: {
    className: 'NodeError',
    summary:
      'The request did not arrive whole (headers and body) within the listener request time limit (60 s by default): HTTP 408, and the connection is closed.',
    fix: 'Send the whole request again on a new connection; a client that streams a large body slowly should send smaller batches.',
  },
  NODE_E_EXPLORER_BUSY: {
    className: 'NodeError',
    summary:
      'The ledger explorer is already reading as many older entries back from the ledger files as it allows at once (HTTP 429).',
    fix: 'Retry after the Retry-After delay; recent entries (the newest 10,000) are served from memory without waiting.',
  },

  // --- network (coffer network, decision 0012) ----------------------------------------------
  NETWORK_E_RUNNING: {
    className: 'NetworkError',
    summary: 'A local network already runs from this folder.',
    fix: 'Use it, or stop it first with `coffer network down --dir DIR`.',
  },
  NETWORK_E_NOT_RUNNING: {
    className: 'NetworkError',
    summary: 'No local network was started from this folder.',
    fix: 'Start one with `coffer network up --dir DIR`, or pass the --dir it was started with.',
  },
  NETWORK_E_START_FAILED: {
    className: 'NetworkError',
    summary: 'The local network did not become ready; everything it started was stopped.',
    fix: 'Read the log lines in the error (DIR/logs/); fix the cause (often etcd missing or a port in use) and run up again.',
  },

  // --- ordering (OrderingLog) ------------------------------------------------------------------
  ORDERING_E_BATCH_TOO_LARGE: {
    className: 'OrderingInputError',
    summary: 'A batch is larger than batchBytesMax.',
    fix: 'Cut fewer requests per batch; the limit and the batch size are in the error details.',
  },
  ORDERING_E_READ_RANGE: {
    className: 'OrderingInputError',
    summary: 'A log read asked for a start position or count that is not a positive integer.',
    fix: 'Call read(from, max) with integers from >= 1 and max >= 1.',
  },
  ORDERING_E_BACKPRESSURE: {
    className: 'OrderingBusyError',
    summary: 'Too many appends already wait for the next fsync of the ordering log.',
    fix: 'Retry after details.retryAfterMs milliseconds (the node answers HTTP 429 with Retry-After).',
  },
  ORDERING_E_DISK_FULL: {
    className: 'OrderingStorageError',
    summary:
      'The disk of the ordering log is full (ENOSPC or EDQUOT); appends are refused, reads work.',
    fix: 'Free space or grow the volume; appends resume by themselves once a write succeeds again.',
  },
  ORDERING_E_IO: {
    className: 'OrderingStorageError',
    summary:
      'An input/output error on the ordering log disk; after a failed write or fsync the log refuses appends until reopened.',
    fix: 'Check the disk and the system log (the cause is in the error); after a failed write, restart the node.',
  },
  ORDERING_E_CORRUPT: {
    className: 'OrderingCorruptError',
    summary:
      'A log segment holds damaged or missing acknowledged data (file and byte offset given).',
    fix: 'Do not delete or edit segments: restore the named file from a replica or a backup.',
  },
  ORDERING_E_CLOSED: {
    className: 'OrderingClosedError',
    summary: 'The ordering log was closed; it refuses appends and reads.',
    fix: 'Open the log again with openEmbeddedLog (one open log per directory).',
  },
  ORDERING_E_CONFIG: {
    className: 'OrderingConfigError',
    summary: 'An ordering log option breaks a limit or a relation between limits.',
    fix: 'Fix the option named in the error; the limits are listed in docs/errors.md.',
  },
  // --- ordering on etcd (decision 0011) --------------------------------------------------------
  ORDERING_E_UNAVAILABLE: {
    className: 'OrderingUnavailableError',
    summary:
      'The etcd cluster cannot order writes now (unreachable, no leader, or the TLS handshake is refused); appends are refused, reads of the local mirror still work.',
    fix: 'Check the etcd members (coffer status, etcdctl endpoint health) and the node TLS certificate; appends resume by themselves once etcd answers again.',
  },
  ORDERING_E_OUTCOME_UNKNOWN: {
    className: 'OrderingUnavailableError',
    summary:
      'An append was sent to etcd but got no position within appendTimeoutMs; the batch may be ordered (details.ordered says when it is known to be).',
    fix: 'Do not assume it failed: look its transactions up by id once etcd is back; resubmitting is safe because replays are refused.',
  },
  ORDERING_E_COMPACTED: {
    className: 'OrderingBehindError',
    summary:
      'This node is behind etcd retained history: batches it has not mirrored were compacted away while it was inactive longer than the retention window.',
    fix: 'Catch up from a peer: fetch the missing entries (positions and revisions in the details) from another node and pass them to installFromPeer; the node then follows etcd again.',
  },
  ORDERING_E_ETCD_NOSPACE: {
    className: 'OrderingUnavailableError',
    summary:
      'etcd raised its NOSPACE alarm (backend quota reached) and refuses writes until space is freed and the alarm is disarmed.',
    fix: 'Retention frees space once every active node has mirrored the batches, then defragments and disarms; bring a lagging node up to date or stop it, and raise --quota-backend-bytes if it recurs.',
  },
  ORDERING_E_PEER_ENTRIES: {
    className: 'OrderingInputError',
    summary:
      'Entries given to installFromPeer do not continue this mirror (positions not consecutive from the next one, revisions not increasing past the mirrored one), or the node is not behind.',
    fix: 'Fetch entries from position committedPosition()+1 from a peer that is not behind, and install them in order while health() reports ORDERING_E_COMPACTED.',
  },
  ORDERING_E_ETCD_UNEXPECTED: {
    className: 'OrderingCorruptError',
    summary:
      'etcd delivered data that breaks the ordering rules (revisions going back, two batches at one revision, or a damaged mirror record); the log stops following.',
    fix: 'Do not write under the Coffer key prefix with other tools and give every node of a network the same prefix and cluster; restart the node once fixed (details name the key and revision).',
  },
  ORDERING_E_ETCD_LAUNCH: {
    className: 'EtcdLaunchError',
    summary:
      'An etcd member could not be started or did not become healthy in time (binary missing, port taken, bad TLS files).',
    fix: 'Install etcd (apt-get install etcd-server), read the member log named in the error, and start again.',
  },

  // --- ledger: merkle tree and receipts ---------------------------------------------------------
  LEDGER_E_MERKLE_RANGE: {
    className: 'MerkleError',
    summary: 'A leaf index or tree size is outside the Merkle tree.',
    fix: 'Ask for an index below the tree size, and a size no larger than the leaves appended.',
  },
  LEDGER_E_MERKLE_HASH: {
    className: 'MerkleError',
    summary: 'A hash given to the Merkle tree is not 32 bytes (SHA-256).',
    fix: 'Append leafHash(entry bytes): 32 bytes per leaf, leaf hashes concatenated for fromLeafHashes.',
  },
  LEDGER_E_MERKLE_STATE: {
    className: 'MerkleError',
    summary: 'A serialized Merkle tree state is malformed or its hashes do not match its leaves.',
    fix: 'Restore from an intact snapshot, or rebuild the tree from the ledger files (fromLeafHashes).',
  },
  LEDGER_E_MERKLE_SPILL: {
    className: 'MerkleError',
    summary:
      'The node could not open its Merkle leaf file (DATA/merkle-leaves), or read back leaf hashes it had written there.',
    fix: 'Check the disk and the permissions of the data folder (merkle-leaves must be a file the node can write), then start the node again: it writes the file again from its snapshot and ledger.',
  },
  LEDGER_E_JSON_MALFORMED: {
    className: 'CanonicalJsonError',
    summary: 'The bytes are not one JSON value in UTF-8.',
    fix: 'Send one JSON value, UTF-8 encoded, without a byte order mark or trailing bytes.',
  },
  LEDGER_E_NOT_CANONICAL: {
    className: 'CanonicalJsonError',
    summary: 'The JSON bytes are not in RFC 8785 (JCS) canonical form.',
    fix: 'Serialize with RFC 8785 (e.g. the canonicalize package) and sign and send exactly those bytes.',
  },
  LEDGER_E_JSON_LIMIT: {
    className: 'CanonicalJsonError',
    summary: 'The JSON is larger or nested deeper than the canonical JSON limits.',
    fix: 'Keep it within canonicalBytesMax bytes and canonicalDepthMax levels (see docs/errors.md).',
  },
  LEDGER_E_JSON_VALUE: {
    className: 'CanonicalJsonError',
    summary:
      'The JSON holds a value Coffer does not sign: a non-integer or unsafe-integer number, a lone surrogate, or non-JSON data.',
    fix: 'Send amounts and fractions as decimal strings; numbers must be integers within ±(2^53 - 1).',
  },
  RECEIPT_E_MALFORMED: {
    className: 'ReceiptError',
    summary: 'The receipt is not a well-formed Coffer receipt.',
    fix: 'Fix the field the error names; pass the receipt JSON exactly as the node returned it.',
  },
  RECEIPT_E_ENTRY_MISMATCH: {
    className: 'ReceiptError',
    summary: 'The ledger entry in the receipt does not hash to the leaf its proof starts from.',
    fix: 'The entry or leaf hash was altered: fetch the receipt again from a node.',
  },
  RECEIPT_E_TXID_MISMATCH: {
    className: 'ReceiptError',
    summary: 'The receipt txId is not the transaction its ledger entry records.',
    fix: 'The txId or entry was altered: fetch the receipt for this transaction again from a node.',
  },
  RECEIPT_E_PROOF_INVALID: {
    className: 'ReceiptError',
    summary:
      'The inclusion proof does not lead from the leaf to the signed root for the tree size.',
    fix: 'The proof, index, size or root was altered: fetch the receipt again from a node.',
  },
  RECEIPT_E_SIGNER_UNKNOWN: {
    className: 'ReceiptError',
    summary: 'The signed root names an MSP that is not among the trusted organisations.',
    fix: 'Verify with the MSP folders of every consortium organisation, the signing node one included.',
  },
  RECEIPT_E_SIGNER_INVALID: {
    className: 'ReceiptError',
    summary: 'The node certificate is not a valid identity of the MSP the signed root names.',
    fix: 'Use the organisation current MSP folder (CAs, CRLs); a foreign or revoked certificate never verifies.',
  },
  RECEIPT_E_SIGNER_NOT_PEER: {
    className: 'ReceiptError',
    summary: 'The root was signed by an identity that is not a peer (NodeOU role peer).',
    fix: 'Only ledger nodes sign roots: use a receipt from a node, not one signed by a client or admin.',
  },
  RECEIPT_E_SIGNATURE_INVALID: {
    className: 'ReceiptError',
    summary: 'The signature over the signed root does not verify with the node certificate.',
    fix: 'The signed root or signature was altered: fetch the receipt again from a node.',
  },
  RECEIPT_E_ROOTS_DISAGREE: {
    className: 'ReceiptError',
    summary: 'The signed roots of the receipt are not all for the same tree size and root.',
    fix: 'Fetch the receipt again; if every signature verifies, the nodes diverged: report it to the consortium with the receipt.',
  },
  RECEIPT_E_SIGNER_REPEATED: {
    className: 'ReceiptError',
    summary: 'Two signed roots of the receipt come from the same node ID or the same signing key.',
    fix: 'A receipt counts each node once: fetch the receipt again from a node.',
  },
  RECEIPT_E_TOO_FEW_SIGNERS: {
    className: 'ReceiptError',
    summary: 'Fewer nodes or organisations signed the root than the verifier requires.',
    fix: 'Fetch the receipt again once more nodes have signed the root, or ask for fewer signatures (--min-signatures, --min-orgs).',
  },

  // --- ledger: store, ledger files, snapshots ---------------------------------------------------
  STORE_E_LIMIT: {
    className: 'StoreError',
    summary:
      'A transaction or store exceeds a store limit (key, value, map name, writes or bytes per transaction, maps, snapshot size).',
    fix: 'Write smaller keys and values or fewer of them per transaction; details name the limit and its maximum.',
  },
  STORE_E_INVALID: {
    className: 'StoreError',
    summary:
      'A map name, key or value is not valid (map name syntax, or text that is not well-formed Unicode).',
    fix: 'Name maps with letters, digits and _ . - / (after "public:" for public maps); keys and values must be well-formed Unicode.',
  },
  STORE_E_MALFORMED: {
    className: 'StoreError',
    summary:
      'Encoded write set bytes cannot be decoded (lengths, UTF-8, or a write in the wrong public/private part).',
    fix: 'The ledger entry is damaged or was not written by Coffer; run `coffer ledger verify` on the ledger folder.',
  },
  STORE_E_DECRYPT: {
    className: 'StoreError',
    summary:
      'Private writes or snapshot maps do not authenticate under the ledger secret (altered, or another seqno or secret).',
    fix: 'Check that the node uses the ledger secret of this ledger; otherwise the entry or snapshot was altered.',
  },
  LEDGER_E_SECRET_INVALID: {
    className: 'LedgerSecretError',
    summary:
      'The ledger secret file is missing, malformed (not 64 hex digits) or readable by others than its owner.',
    fix: 'Restore the secret file of this ledger with mode 0600 (chmod 600); never generate a new one for an existing ledger.',
  },
  LEDGER_E_SECRET_EXISTS: {
    className: 'LedgerSecretError',
    summary: 'A ledger secret file already exists where a new one was to be created.',
    fix: 'Load the existing secret instead; creating one is only for a new ledger.',
  },
  LEDGER_E_DISK_FULL: {
    className: 'LedgerFileError',
    summary:
      'The disk holding ledger files or snapshots is full (ENOSPC or EDQUOT); nothing half-written was kept (retryable).',
    fix: 'Free disk space, then retry the same call (details.retryable is true).',
  },
  LEDGER_E_IO: {
    className: 'LedgerFileError',
    summary: 'An input/output error on ledger files, snapshots or the secret file.',
    fix: 'Check the disk and the permissions of the named file; reopen the ledger to recover.',
  },
  LEDGER_E_CORRUPT: {
    className: 'LedgerFileError',
    summary:
      'A ledger chunk holds damaged or missing entries that were flushed (file and byte range given).',
    fix: 'Run `coffer ledger verify DIR`; if the disk is healthy, move the ledger folder aside and the node rebuilds it from its ordering log.',
  },
  SNAPSHOT_E_CORRUPT: {
    className: 'SnapshotError',
    summary: 'A snapshot file fails its checks (header, SHA-256 digest, sections or contents).',
    fix: 'Nothing to do when an older snapshot loads instead; otherwise delete the file and the node replays the ledger.',
  },
  // --- ledger: transaction index (decision 0009) ----------------------------------------------
  LEDGER_E_ENTRY_MALFORMED: {
    className: 'LedgerFileError',
    summary: 'A tx entry of the ledger files is not the JSON object a node writes (seqno, txId).',
    fix: 'Run `coffer ledger verify DIR`; if the disk is healthy, move the ledger folder aside and the node rebuilds it from its ordering log.',
  },
  TXINDEX_E_CORRUPT: {
    className: 'TxIndexError',
    summary: 'The transaction index folder holds damaged or malformed records.',
    fix: 'Delete the index folder (or open it with rebuildOnCorruption); catchUpTxIndex rebuilds it from the ledger files.',
  },
  TXINDEX_E_IO: {
    className: 'TxIndexError',
    summary:
      'An input/output error on the transaction index folder; after a failed write the index refuses adds until reopened.',
    fix: 'Check the disk and permissions (the cause is in the error), then reopen the index; catchUpTxIndex re-adds what was not written.',
  },
  TXINDEX_E_LOCKED: {
    className: 'TxIndexError',
    summary:
      'The transaction index folder is already open, in this or another process (LevelDB LOCK).',
    fix: 'Stop the other process that uses the folder; each node needs an index folder of its own.',
  },
  TXINDEX_E_CLOSED: {
    className: 'TxIndexError',
    summary: 'The transaction index was closed; it refuses adds and lookups.',
    fix: 'Open the index again with openTxIndex.',
  },
  TXINDEX_E_DIR_INVALID: {
    className: 'TxIndexError',
    summary:
      "The transaction index path is not a folder, or the folder holds files that are not LevelDB's.",
    fix: 'Give the index a folder of its own, not the ledger, ordering or snapshot folder (a folder with other files is never deleted).',
  },
  // --- signer / key stores (issue 7, decision 0020) ------------------------------------------
  KEYSTORE_E_HSM_UNAVAILABLE: {
    className: 'KeyStoreError',
    summary:
      'The PKCS#11 module, token or session failed (cannot load, C_Initialize, a call that failed or timed out, a session lost twice in a row).',
    fix: 'Check keyStore.library, that the HSM is reachable and the token present (the PKCS#11 return value is in the message), then retry or restart the signer.',
  },
  KEYSTORE_E_TOKEN_NOT_FOUND: {
    className: 'KeyStoreError',
    summary: 'No token with the configured label is present in the PKCS#11 module.',
    fix: 'Initialise the token (softhsm2-util --init-token --free --label LABEL for SoftHSM2) or correct keyStore.tokenLabel; the message lists the labels present.',
  },
  KEYSTORE_E_PIN_WRONG: {
    className: 'KeyStoreError',
    summary: 'The token refused the user PIN.',
    fix: 'Fix the PIN file or environment variable; the token locks the PIN after a few wrong tries.',
  },
  KEYSTORE_E_PIN_LOCKED: {
    className: 'KeyStoreError',
    summary: 'The token user PIN is locked after too many wrong tries.',
    fix: 'Have the token security officer unlock or reset the user PIN, then fix the configured PIN.',
  },
  KEYSTORE_E_SECRET_UNREADABLE: {
    className: 'KeyStoreError',
    summary:
      'A PIN or passphrase file cannot be read, or its environment variable is unset or too long.',
    fix: 'Create the file (mode 0600) or set the variable in the service environment; the message names which.',
  },
  KEYSTORE_E_KEY_NOT_FOUND: {
    className: 'KeyStoreError',
    summary: 'The key store holds no key with this id.',
    fix: 'List the keys (coffer signer keys) and use a key id from the list, or generate one (coffer signer keygen).',
  },
  KEYSTORE_E_KEY_INVALID: {
    className: 'KeyStoreError',
    summary:
      'A key is not an EC key on secp256k1 or P-256, or its public key is not a point of its curve.',
    fix: 'Use a key generated by coffer signer keygen or coffer custody offline keygen.',
  },
  KEYSTORE_E_KEY_EXPORTABLE: {
    className: 'KeyStoreError',
    summary:
      'An HSM key is, or once was, readable outside the token (not sensitive, extractable, not always sensitive or not never extractable); it is not used.',
    fix: 'Generate a new key on the token with coffer signer keygen (sensitive and never extractable) and move the wallet to it.',
  },
  KEYSTORE_E_SELF_CHECK_FAILED: {
    className: 'KeyStoreError',
    summary:
      'The known-answer check failed: a signature by the key does not verify with its public key, or is not low-S.',
    fix: 'Do not use this key store: check the PKCS#11 module and key (the message names the key); report it if the module is a supported one.',
  },
  KEYSTORE_E_SIGNATURE_INVALID: {
    className: 'KeyStoreError',
    summary: 'The key store returned a signature that is not 64 bytes of r and s in range.',
    fix: 'Check the PKCS#11 module (CKM_ECDSA must return r||s); the signature was not used.',
  },
  KEYSTORE_E_DIGEST_INVALID: {
    className: 'KeyStoreError',
    summary: 'A signer was given something other than a 32-byte digest.',
    fix: 'Hash the message as the chain defines it and pass the 32-byte digest.',
  },
  KEYSTORE_E_CURVE_UNSUPPORTED: {
    className: 'KeyStoreError',
    summary: 'The curve is not one a custody key may use.',
    fix: 'Use secp256k1 (Bitcoin, Ethereum) or P-256.',
  },
  KEYSTORE_E_LABEL_INVALID: {
    className: 'KeyStoreError',
    summary: 'A key label is empty, too long or holds control characters.',
    fix: 'Give a label of 1 to 64 printable characters.',
  },
  KEYSTORE_E_BUSY: {
    className: 'KeyStoreError',
    summary: 'Too many operations wait for a key store session.',
    fix: 'Retry later, or give the key store more sessions (keyStore.sessions).',
  },
  KEYSTORE_E_CLOSED: {
    className: 'KeyStoreError',
    summary: 'The key store was closed.',
    fix: 'Open the key store again; a closed store signs nothing.',
  },
  KEYSTORE_E_FILE_INVALID: {
    className: 'KeyStoreError',
    summary: 'A key store or key file is not JSON of the expected format (the field is named).',
    fix: 'Restore the file from its backup; never edit a key file by hand.',
  },
  KEYSTORE_E_STORE_NOT_FOUND: {
    className: 'KeyStoreError',
    summary: 'The software key store file does not exist.',
    fix: 'Check keyStore.file, or create the store with coffer signer keygen.',
  },
  KEYSTORE_E_PASSPHRASE_WRONG: {
    className: 'KeyStoreError',
    summary: 'A sealed key does not open: the passphrase is wrong, or the file was altered.',
    fix: 'Give the passphrase the file was created with; if it is right, restore the file from its backup.',
  },
  KEYSTORE_E_PASSPHRASE_WEAK: {
    className: 'KeyStoreError',
    summary: 'A passphrase is shorter than 12 characters or longer than 4096 bytes.',
    fix: 'Use a passphrase of at least 12 characters (a generated one is best).',
  },
  KEYSTORE_E_FULL: {
    className: 'KeyStoreError',
    summary: 'The key store holds as many keys as it may.',
    fix: 'Use another key store file, or retire keys that no wallet uses.',
  },
  KEYSTORE_E_REQUEST_INVALID: {
    className: 'KeyStoreError',
    summary:
      'An offline signing request file is not {withdrawalId, walletId, digest} with a 32-byte hex digest.',
    fix: 'Export the request again from the custody system; the message names the field.',
  },
  KEYSTORE_E_FILE_EXISTS: {
    className: 'KeyStoreError',
    summary: 'The output file already exists; a key or signature file is never overwritten.',
    fix: 'Choose another --out path, or move the existing file away first.',
  },
  SIGNER_E_CONFIG_INVALID: {
    className: 'SignerConfigError',
    summary: 'The signer configuration file is not valid (the field is named).',
    fix: 'Fix the field in signer.json; see the README section Signer isolation for the format.',
  },
  SIGNER_E_UNAUTHENTICATED: {
    className: 'SignerAccessError',
    summary:
      'The caller sent no client certificate, or one that is not a valid identity of a consortium MSP (HTTP 401).',
    fix: 'Connect with mutual TLS using the custody worker MSP identity certificate and key.',
  },
  SIGNER_E_CALLER_FORBIDDEN: {
    className: 'SignerAccessError',
    summary:
      'The caller is a valid MSP identity but not one the signer configuration authorises (HTTP 403).',
    fix: 'Sign through an authorised custody worker, or add the identity to authorisedCallers in signer.json.',
  },
  SIGNER_E_REQUEST_INVALID: {
    className: 'SignerRequestError',
    summary: 'The sign request does not match the API (fields, types, sizes).',
    fix: 'Send {walletId, withdrawalId, digests, keyId, receipt} as JSON; the message names the field.',
  },
  SIGNER_E_DIGEST_INVALID: {
    className: 'SignerRequestError',
    summary:
      'The digests are not a list of 1 to 100 digests of 64 lower-case hex characters (32 bytes) each.',
    fix: 'Send the 32-byte digests the ledger recorded, in their order, as lower-case hex.',
  },
  SIGNER_E_BUSY: {
    className: 'SignerRequestError',
    summary: 'The signer has as many requests in flight as it accepts (HTTP 429).',
    fix: 'Retry after the Retry-After delay.',
  },
  SIGNER_E_KEY_UNKNOWN: {
    className: 'SignerRequestError',
    summary: 'The signer key store holds no key with the requested keyId.',
    fix: 'Use the keyId of the platform key the wallet was created with (coffer signer keys lists them).',
  },
  SIGNER_E_RECEIPT_INVALID: {
    className: 'SignerApprovalError',
    summary:
      'The receipt does not verify against the consortium MSPs with the configured number of organisations (its RECEIPT_E_ code is in receiptCode).',
    fix: 'Fetch a fresh receipt for the approving transaction from a node (GET /v1/receipt) once enough organisations have signed its root.',
  },
  SIGNER_E_RECEIPT_STALE: {
    className: 'SignerApprovalError',
    summary:
      'The receipt root was signed longer ago than receiptAgeMsMax, or in the future beyond the allowed clock skew.',
    fix: 'Fetch a fresh receipt for the same transaction from a node; check the clocks of the signer and the nodes.',
  },
  SIGNER_E_NOT_APPROVAL: {
    className: 'SignerApprovalError',
    summary:
      'The receipt entry is not a committed custody transaction that writes this withdrawal record.',
    fix: 'Send the receipt of the custody transaction that moved the withdrawal to service_signed.',
  },
  SIGNER_E_WITHDRAWAL_MISMATCH: {
    className: 'SignerApprovalError',
    summary:
      'The withdrawal record in the receipt is for another withdrawal or another wallet than the request.',
    fix: 'Send the receipt of this withdrawal, and the walletId and withdrawalId it records.',
  },
  SIGNER_E_STATE_NOT_APPROVED: {
    className: 'SignerApprovalError',
    summary: 'The withdrawal record in the receipt is not in state service_signed.',
    fix: 'Wait until the custody app records the service signature, then send that transaction receipt.',
  },
  SIGNER_E_DIGEST_NOT_APPROVED: {
    className: 'SignerApprovalError',
    summary:
      'The requested digests are not the digests, in order, the ledger approved for this withdrawal.',
    fix: 'Ask only for the digests the withdrawal record carries, in their order; rebuild the chain transaction if it changed.',
  },
  SIGNER_E_KEY_MISMATCH: {
    className: 'SignerApprovalError',
    summary:
      'The requested key, or its public key on the HSM, is not the wallet platform key the ledger recorded.',
    fix: 'Send the keyId the withdrawal record names; if the HSM key differs from the recorded public key, stop and investigate.',
  },
  SIGNER_E_WITHDRAWAL_EXPIRED: {
    className: 'SignerApprovalError',
    summary:
      'The withdrawal record in the receipt has an expiresAt that is past on the signer clock; an expired withdrawal is never signed.',
    fix: 'Expire the withdrawal on the ledger and request a new one; if it should not have expired, check the signer clock against the nodes.',
  },
  SIGNER_E_TOO_MANY_CONNECTIONS: {
    className: 'SignerError',
    summary:
      'The signer has more open connections than its connectionsMax: this connection is answered HTTP 503 and closed (64 more, and new connections are closed at once).',
    fix: 'Retry after the Retry-After delay on a new connection; callers should keep connections alive and reuse them; an operator can raise connectionsMax in signer.json.',
  },
  SIGNER_E_AUDIT_FAILED: {
    className: 'SignerError',
    summary: 'The audit log could not be written; the signature was withheld.',
    fix: 'Check the audit log disk and permissions (the cause is in the signer log), then retry.',
  },
  SIGNER_E_FAILED: {
    className: 'SignerError',
    summary: 'The signer failed unexpectedly (HTTP 500); nothing was signed.',
    fix: 'See the signer log for the cause, then retry.',
  },

  // --- EVM (issue 9, decision 0025) ------------------------------------------------------------
  EVM_E_TX_INVALID: {
    className: 'EvmTxError',
    summary:
      'The raw Ethereum transaction is not one the chain runs: undecodable, unsigned, for another chain id, an unsupported type, over the gas cap, or refused by the EVM (wrong nonce, intrinsic gas, balance).',
    fix: 'Sign a type 0 (EIP-155), 1 or 2 transaction for this chain id (eth_chainId) with the nonce eth_getTransactionCount returns, gas price 0 and gas at most 10,000,000; the message names the check.',
  },
  EVM_E_ACCOUNT_UNBOUND: {
    className: 'EvmAccountError',
    summary:
      'The Ethereum account that signed the transaction is bound to no MSP identity of the consortium.',
    fix: "Bind the account first: the identity signs evm/bind with the account's signature over the binding message (coffer evm bind).",
  },
  EVM_E_IDENTITY_INVALID: {
    className: 'EvmAccountError',
    summary:
      'The MSP identity the account is bound to is no longer valid (revoked, expired, or its organisation left the consortium).',
    fix: "Bind the account to a valid identity of a member organisation (the MSP's admins may unbind it first).",
  },
  EVM_E_ACCOUNT_BOUND: {
    className: 'EvmAccountError',
    summary: 'The Ethereum account is already bound to another MSP identity.',
    fix: 'Use another account, or have the bound identity (or an admin of its MSP) unbind it first.',
  },
  EVM_E_BINDING_PROOF: {
    className: 'EvmAccountError',
    summary:
      "The binding signature is not the account's personal_sign signature over the binding message for this identity and chain.",
    fix: "Sign the exact message `coffer evm binding-message` prints (EIP-191 personal_sign) with the account's key and send the 65-byte signature.",
  },
  EVM_E_BINDINGS_FULL: {
    className: 'EvmAccountError',
    summary: 'The identity has as many Ethereum accounts bound as it may (16).',
    fix: 'Unbind an account the identity no longer uses, or use another identity.',
  },
  EVM_E_RPC_INVALID: {
    className: 'EvmRpcError',
    summary:
      'The JSON-RPC request is not valid: not JSON-RPC 2.0, an unknown method, or parameters of the wrong shape or over a limit.',
    fix: 'Send a JSON-RPC 2.0 request with one of the methods README "Ethereum JSON-RPC" lists; the message names the parameter.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof errorRegistry;
