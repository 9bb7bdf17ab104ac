// An MSP built from its definition with Fabric's rules (Fabric msp/mspimpl.go,
// mspimplsetup.go, mspimplvalidate.go), per MSP version. Pure: the clock is an input, and an
// MSP is immutable — a new CRL or configuration makes a new MSP, which drops every cache.
import { createPrivateKey, createPublicKey, sign as nodeSign, type KeyObject } from 'node:crypto';
import { cofferError, isCofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import {
  prepareEcdsaSha256,
  sha256,
  signEcdsaSha256,
  type SignatureKind,
  type SignatureVerifier,
  verifyPrepared,
} from '../crypto/index.js';
import {
  bytesEqual,
  certificateId,
  oidEkuClientAuth,
  crlSignedBy,
  hasCanonicalSignature,
  normaliseEcdsaSignature,
  parseCertificateDer,
  parseCertificatePem,
  parseCrlPem,
  signatureVerifiedBy,
  type ParsedCert,
  type ParsedCrl,
} from './cert.js';
import {
  buildChains,
  createPool,
  legacyNameConstraintsAllow,
  type VerifyOptions,
} from './chain.js';
import { decodeFirstPem } from './pem.js';
import type {
  MspDefinition,
  MspVersion,
  NodeOuRole,
  OuIdentifier,
  PemSource,
  Principal,
  PrincipalCheck,
  SigningMaterial,
} from './types.js';

/** Identity validations remembered per MSP; the oldest is dropped beyond this. */
export const validationCacheEntriesMax = 10_000;
/** Deserialized identities remembered per MSP, keyed by their PEM text up to this size. */
export const identityCacheEntriesMax = 10_000;
export const identityCacheKeyBytesMax = 8 * 1024;
/** Nesting allowed in COMBINED principals (Fabric has none; we bound recursion). */
export const principalDepthMax = 32;

export type OrganizationalUnit = {
  readonly name: string;
  /** Hex SHA-256 over the DER of the identity's chain without the leaf (issuer … root). */
  readonly certifiersIdentifier: string;
};

/** An X.509 identity of an MSP; `cert` is low-S normalised, `id` is Fabric's identity ID. */
export type Identity = {
  readonly mspId: string;
  readonly id: string;
  readonly cert: ParsedCert;
  readonly expiresAt: Date;
};

export type Validation =
  | { readonly valid: true; readonly role: NodeOuRole | null }
  | { readonly valid: false; readonly role: NodeOuRole | null; readonly error: CofferError };

export type SigningIdentity = {
  readonly identity: Identity;
  /** Fabric's Sign: ECDSA over SHA-256(message), low-S DER; Ed25519 over the message. */
  readonly sign: (message: Uint8Array) => Uint8Array;
};

export type SetupOptions = {
  readonly version: MspVersion;
  /** The local signing identity (signcerts + keystore), for a local MSP. */
  readonly signing?: SigningMaterial;
  /** "Now" for the local signer's expiry check: the only clock Fabric's MSP reads. */
  readonly now: Date;
};

/** A set-up MSP. Methods never throw for bad input; they return outcomes with error codes. */
export type Msp = {
  readonly mspId: string;
  readonly version: MspVersion;
  readonly definition: MspDefinition;
  readonly nodeOusEnabled: boolean;
  readonly signingIdentity: SigningIdentity | undefined;
  readonly admins: readonly Identity[];
  /** Fabric DeserializeIdentity for {mspId, PEM}: the certificate must chain if ECDSA-signed. */
  readonly deserializeIdentity: (mspId: string, pem: string) => IdentityOutcome;
  readonly validate: (identity: Identity) => Validation;
  readonly organizationalUnits: (identity: Identity) => readonly OrganizationalUnit[];
  readonly role: (identity: Identity) => NodeOuRole | null;
  readonly satisfiesPrincipal: (identity: Identity, principal: Principal) => PrincipalCheck;
  readonly verify: (
    identity: Identity,
    message: Uint8Array,
    signature: Uint8Array,
  ) => SignatureCheck;
  /** The same checks as `verify`, with the arithmetic done by `verifier` (another thread). */
  readonly verifyWith: (
    identity: Identity,
    message: Uint8Array,
    signature: Uint8Array,
    verifier: SignatureVerifier,
  ) => Promise<SignatureCheck>;
  readonly isWellFormed: (mspId: string, idBytes: string) => SignatureCheck;
  /** Raw bytes of tlscacerts/ and tlsintermediatecerts/ files (Fabric GetTLSRootCerts). */
  readonly tlsRootCerts: readonly string[];
  readonly tlsIntermediateCerts: readonly string[];
  /** Checks a TLS peer certificate chain at `at`: TLS CAs of this MSP, expiry and CRLs. */
  readonly checkTlsCertificate: (leafDer: Uint8Array, at: Date) => SignatureCheck;
  /** Validation cache counters: a hit costs a lookup, a miss a chain walk. */
  readonly cacheStats: () => {
    readonly hits: number;
    readonly misses: number;
    readonly entries: number;
  };
};

export type IdentityOutcome =
  | { readonly ok: true; readonly identity: Identity }
  | { readonly ok: false; readonly error: CofferError };

export type SignatureCheck =
  { readonly ok: true } | { readonly ok: false; readonly error: CofferError };

type NodeOu = { readonly name: string; readonly certifiers: string | undefined };

type State = {
  readonly mspId: string;
  readonly version: MspVersion;
  opts: VerifyOptions;
  roots: ParsedCert[];
  intermediates: ParsedCert[];
  internalNodes: Set<string>;
  crls: ParsedCrl[];
  admins: Identity[];
  ouIdentifiers: Map<string, string[]>;
  ouEnforcement: boolean;
  nodeOus: Partial<Record<NodeOuRole, NodeOu>>;
  tlsRoots: ParsedCert[];
  tlsIntermediates: ParsedCert[];
  /** OUs with certifiers identifiers depend on this MSP's chains: cached per MSP. */
  readonly ouCache: WeakMap<Identity, readonly OrganizationalUnit[]>;
};

const versionRank: Readonly<Record<MspVersion, number>> = {
  '1.0': 0,
  '1.1': 1,
  '1.3': 2,
  '1.4.3': 3,
  '3.0': 4,
};

function atLeast(version: MspVersion, minimum: MspVersion): boolean {
  return versionRank[version] >= versionRank[minimum];
}

function err(code: ErrorCode, message: string, details: Record<string, unknown> = {}): CofferError {
  return cofferError(code, message, details);
}

const oneSecondMs = 1000;
/** The `source` of certificates that were deserialized rather than read from a folder. */
const deserializedSource = 'identity';

function validityAt(cert: ParsedCert): Date {
  // Fabric validates at NotBefore + 1s: expiry is never checked for identities.
  return new Date(cert.notBefore.getTime() + oneSecondMs);
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

// ---- chains --------------------------------------------------------------------------------

type ChainResult = { ok: true; chain: readonly ParsedCert[] } | { ok: false; reason: string };

function uniqueChain(cert: ParsedCert, opts: VerifyOptions): ChainResult {
  const outcome = buildChains(cert, opts);
  if (!outcome.ok)
    return { ok: false, reason: `the supplied identity is not valid: ${outcome.reason}` };
  const [chain] = outcome.chains;
  if (outcome.chains.length !== 1 || chain === undefined) {
    return {
      ok: false,
      reason: `this MSP only supports a single validation chain, got ${outcome.chains.length}`,
    };
  }
  if (!legacyNameConstraintsAllow(chain)) {
    return {
      ok: false,
      reason:
        'the supplied identity is not valid: a certificate without SANs whose CN is a host name cannot be issued under a name-constrained CA',
    };
  }
  return { ok: true, chain };
}

function optsFor(state: State, cert: ParsedCert): VerifyOptions {
  return { roots: state.opts.roots, intermediates: state.opts.intermediates, at: validityAt(cert) };
}

/** Fabric sanitizeCert: low-S re-encoding of ECDSA-signed certs, which needs the issuer. */
function sanitize(
  state: State,
  cert: ParsedCert,
): { ok: true; cert: ParsedCert } | { ok: false; reason: string } {
  if (!cert.isEcdsaSigned) return { ok: true, cert };
  if (cert.isCa && signatureVerifiedBy(cert, cert) && cert.keyUsageCertSign !== false) {
    const normalised = normaliseEcdsaSignature(cert, cert);
    const chain = uniqueChain(normalised, {
      roots: createPool([normalised]),
      intermediates: state.opts.intermediates,
      at: validityAt(normalised),
    });
    return chain.ok ? { ok: true, cert: normalised } : chain;
  }
  const chain = uniqueChain(cert, optsFor(state, cert));
  if (!chain.ok) return chain;
  const parent = chain.chain[1];
  if (parent === undefined) {
    return {
      ok: false,
      reason:
        'failed to traverse certificate verification chain for leaf or intermediate certificate',
    };
  }
  return { ok: true, cert: normaliseEcdsaSignature(cert, parent) };
}

function makeIdentity(state: State, cert: ParsedCert): Identity {
  return { mspId: state.mspId, id: certificateId(cert), cert, expiresAt: cert.notAfter };
}

/** Fabric getValidationChain: unique chain of length >= 2, parent a leaf of the CA tree. */
function validationChain(
  state: State,
  cert: ParsedCert,
  intermediateChain: boolean,
): { ok: true; chain: readonly ParsedCert[] } | { ok: false; code: ErrorCode; reason: string } {
  const chain = uniqueChain(cert, optsFor(state, cert));
  if (!chain.ok) return { ok: false, code: 'MSP_E_IDENTITY_NOT_CHAINED', reason: chain.reason };
  if (chain.chain.length < 2) {
    return {
      ok: false,
      code: 'MSP_E_IDENTITY_NOT_CHAINED',
      reason: `expected a chain of length at least 2, got ${chain.chain.length}`,
    };
  }
  const parent = chain.chain[intermediateChain ? 0 : 1];
  if (parent !== undefined && state.internalNodes.has(parent.hex)) {
    return {
      ok: false,
      code: 'MSP_E_IDENTITY_PARENT_NOT_LEAF',
      reason:
        'invalid validation chain. Parent certificate should be a leaf of the certification tree',
    };
  }
  return chain;
}

/** Fabric validateCertAgainstChain: a CRL of the issuer (AKI == issuer SKI) lists the serial. */
function revokedBy(state: State, cert: ParsedCert, issuer: ParsedCert): ParsedCrl | undefined {
  if (issuer.ski === undefined) return undefined;
  for (const crl of state.crls) {
    if (!bytesEqual(crl.aki, issuer.ski)) continue;
    if (!crl.revokedSerials.has(cert.serial)) continue;
    // A CRL with the right AKI but another signer is skipped, as in Fabric.
    if (crlSignedBy(crl, issuer)) return crl;
  }
  return undefined;
}

function chainIdentifier(chain: readonly ParsedCert[]): string {
  return hexOf(sha256(Buffer.concat(chain.map((cert) => cert.der))));
}

// ---- setup ---------------------------------------------------------------------------------

class SetupFailure extends Error {
  constructor(readonly error: CofferError) {
    super(error.message);
  }
}

function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new SetupFailure(err(code, message, details));
}

function parseCert(source: PemSource): ParsedCert {
  try {
    return parseCertificatePem(source.pem, source.source);
  } catch (error) {
    if (isCofferError(error)) throw new SetupFailure(error);
    throw error;
  }
}

function setupCas(state: State, definition: MspDefinition): void {
  if (definition.rootCerts.length === 0) {
    fail('MSP_E_CONFIG_NO_CACERTS', 'expected at least one CA certificate');
  }
  const roots = definition.rootCerts.map(parseCert);
  const intermediates = definition.intermediateCerts.map(parseCert);
  for (const cert of [...roots, ...intermediates]) {
    if (!cert.isCa) {
      fail(
        'MSP_E_CA_NOT_CA',
        `${cert.source}: CA Certificate did not have the CA attribute (SN: ${cert.serial.toString(16)})`,
        { file: cert.source },
      );
    }
  }
  state.opts = {
    roots: createPool(roots),
    intermediates: createPool(intermediates),
    at: new Date(0),
  };
  const sanitizeCa = (cert: ParsedCert): ParsedCert => {
    const outcome = sanitize(state, cert);
    if (!outcome.ok) {
      fail(
        'MSP_E_CA_INVALID',
        `${cert.source}: ${outcome.reason}` +
          (roots.includes(cert)
            ? ' (a certificate in cacerts/ must be a self-signed root CA)'
            : ''),
        { file: cert.source },
      );
    }
    return outcome.cert;
  };
  state.roots = roots.map(sanitizeCa);
  state.intermediates = intermediates.map(sanitizeCa);
  state.opts = {
    roots: createPool(state.roots),
    intermediates: createPool(state.intermediates),
    at: new Date(0),
  };
}

function setupCrls(state: State, definition: MspDefinition): void {
  state.crls = definition.revocationList.map((source) => {
    let crl: ParsedCrl;
    try {
      crl = parseCrlPem(source.pem, source.source);
    } catch (error) {
      if (isCofferError(error)) throw new SetupFailure(error);
      throw error;
    }
    if (crl.aki === undefined) {
      // Fabric fails every later validation on such a CRL; refusing it at setup says why.
      fail('MSP_E_CRL_INVALID', `${source.source}: the CRL has no Authority Key Identifier`, {
        file: source.source,
      });
    }
    return crl;
  });
}

function finalizeCas(state: State): void {
  for (const cert of [...state.roots, ...state.intermediates]) {
    if (cert.ski === undefined) {
      fail(
        'MSP_E_CA_NO_SKI',
        `${cert.source}: CA Certificate problem with Subject Key Identifier extension: ${cert.skiProblem ?? 'missing'}`,
        { file: cert.source },
      );
    }
    const chain = uniqueChain(cert, optsFor(state, cert));
    if (!chain.ok) {
      fail('MSP_E_CA_INVALID', `${cert.source}: CA Certificate is not valid: ${chain.reason}`, {
        file: cert.source,
      });
    }
    const issuer = chain.chain[1];
    if (issuer !== undefined) {
      const crl = revokedBy(state, cert, issuer);
      if (crl !== undefined) {
        fail(
          'MSP_E_CA_REVOKED',
          `${cert.source}: CA Certificate is not valid: revoked by ${crl.source} (serial ${cert.serial.toString(16)})`,
          { file: cert.source, crl: crl.source },
        );
      }
    }
  }
  state.internalNodes = new Set();
  for (const cert of state.intermediates) {
    const chain = uniqueChain(cert, optsFor(state, cert));
    if (!chain.ok) continue;
    for (const parent of chain.chain.slice(1)) state.internalNodes.add(parent.hex);
  }
}

function certifiersIdentifier(state: State, source: PemSource | undefined, field: string): string {
  if (source === undefined) {
    fail('MSP_E_DEFINITION_INVALID', `${field}: certificate is required`, { field });
  }
  const cert = parseCert(source);
  const sanitized = sanitize(state, cert);
  const normalised = sanitized.ok ? sanitized.cert : cert;
  const root = state.roots.find((candidate) => candidate.hex === normalised.hex);
  const intermediate = state.intermediates.find((candidate) => candidate.hex === normalised.hex);
  if (!sanitized.ok || (root === undefined && intermediate === undefined)) {
    fail(
      'MSP_E_OU_CERT_NOT_CA',
      `${field}: Failed adding OU. Certificate ${source.source} not in root or intermediate certs`,
      { file: source.source, field },
    );
  }
  if (root !== undefined) return chainIdentifier([root]);
  const chain = validationChain(state, normalised, true);
  if (!chain.ok) {
    fail('MSP_E_OU_CERT_NOT_CA', `${field}: ${source.source}: ${chain.reason}`, {
      file: source.source,
      field,
    });
  }
  return chainIdentifier(chain.chain);
}

function setupOus(state: State, definition: MspDefinition): void {
  state.ouIdentifiers = new Map();
  definition.organizationalUnitIdentifiers.forEach((ou, index) => {
    const field = `OrganizationalUnitIdentifiers[${index}]`;
    const identifier = certifiersIdentifier(state, ou.certificate, field);
    const list = state.ouIdentifiers.get(ou.organizationalUnitIdentifier) ?? [];
    if (!list.includes(identifier)) list.push(identifier);
    state.ouIdentifiers.set(ou.organizationalUnitIdentifier, list);
  });
}

const nodeOuFields: readonly [
  NodeOuRole,
  'clientOuIdentifier' | 'peerOuIdentifier' | 'adminOuIdentifier' | 'ordererOuIdentifier',
  string,
][] = [
  ['client', 'clientOuIdentifier', 'ClientOUIdentifier'],
  ['peer', 'peerOuIdentifier', 'PeerOUIdentifier'],
  ['admin', 'adminOuIdentifier', 'AdminOUIdentifier'],
  ['orderer', 'ordererOuIdentifier', 'OrdererOUIdentifier'],
];

function nodeOu(state: State, ou: OuIdentifier, field: string): NodeOu {
  return {
    name: ou.organizationalUnitIdentifier,
    certifiers:
      ou.certificate === undefined ? undefined : certifiersIdentifier(state, ou.certificate, field),
  };
}

function setupNodeOus(state: State, definition: MspDefinition): void {
  const config = definition.nodeOus;
  state.ouEnforcement = false;
  state.nodeOus = {};
  if (config?.enable !== true) return;
  if (!atLeast(state.version, '1.4.3')) {
    // MSP 1.1 and 1.3 know client and peer only, and both are mandatory.
    state.ouEnforcement = true;
    for (const [role, key, yamlName] of nodeOuFields.slice(0, 2)) {
      const ou = config[key];
      if (ou === undefined || ou.organizationalUnitIdentifier.length === 0) {
        fail(
          'MSP_E_NODEOU_MISSING',
          `Failed setting up NodeOUs. ${role === 'client' ? 'ClientOU' : 'PeerOU'} must be different from nil (config.yaml NodeOUs.${yamlName}).`,
          { role },
        );
      }
      state.nodeOus[role] = nodeOu(state, ou, `NodeOUs.${yamlName}`);
    }
    return;
  }
  for (const [role, key, yamlName] of nodeOuFields) {
    const ou = config[key];
    if (ou === undefined || ou.organizationalUnitIdentifier.length === 0) continue;
    state.nodeOus[role] = nodeOu(state, ou, `NodeOUs.${yamlName}`);
  }
  state.ouEnforcement = Object.keys(state.nodeOus).length > 0;
}

function setupAdmins(state: State, definition: MspDefinition): void {
  state.admins = definition.admins.map((source, index) => {
    const outcome = identityFromCert(state, parseCert(source));
    if (!outcome.ok) {
      fail(
        'MSP_E_ADMIN_INVALID',
        `admin ${index} (${source.source}) is invalid: ${outcome.error.message}`,
        {
          file: source.source,
        },
      );
    }
    return outcome.identity;
  });
  if (atLeast(state.version, '1.4.3') && state.admins.length === 0) {
    if (!state.ouEnforcement || state.nodeOus.admin === undefined) {
      fail(
        'MSP_E_NO_ADMINS',
        'administrators must be declared when no admin ou classification is set (admincerts/ is empty and NodeOUs.AdminOUIdentifier is not set)',
      );
    }
  }
}

function setupTlsCas(state: State, definition: MspDefinition): void {
  state.tlsRoots = definition.tlsRootCerts.map(parseCert);
  state.tlsIntermediates = definition.tlsIntermediateCerts.map(parseCert);
  const roots = createPool(state.tlsRoots);
  const intermediates = createPool(state.tlsIntermediates);
  for (const cert of [...state.tlsRoots, ...state.tlsIntermediates]) {
    if (!cert.isCa) {
      fail('MSP_E_TLSCA_NOT_CA', `${cert.source}: CA Certificate did not have the CA attribute`, {
        file: cert.source,
      });
    }
    if (cert.ski === undefined) {
      fail(
        'MSP_E_TLSCA_NO_SKI',
        `${cert.source}: CA Certificate problem with Subject Key Identifier extension`,
        { file: cert.source },
      );
    }
    const chain = uniqueChain(cert, { roots, intermediates, at: validityAt(cert) });
    if (!chain.ok) {
      fail('MSP_E_TLSCA_INVALID', `${cert.source}: CA Certificate is not valid: ${chain.reason}`, {
        file: cert.source,
      });
    }
    const issuer = chain.chain[1];
    if (issuer !== undefined && revokedBy(state, cert, issuer) !== undefined) {
      fail(
        'MSP_E_TLSCA_INVALID',
        `${cert.source}: CA Certificate is not valid: it has been revoked`,
        {
          file: cert.source,
        },
      );
    }
  }
}

function findPrivateKey(
  signCert: ParsedCert,
  keystore: readonly PemSource[],
): KeyObject | undefined {
  const wanted = Buffer.from(signCert.publicKey.export({ format: 'der', type: 'spki' }));
  for (const source of keystore) {
    let key: KeyObject;
    try {
      key = createPrivateKey(source.pem);
    } catch {
      continue; // Fabric's keystore ignores files that are not keys.
    }
    if (key.asymmetricKeyType !== signCert.publicKey.asymmetricKeyType) continue;
    const publicDer = Buffer.from(createPublicKey(key).export({ format: 'der', type: 'spki' }));
    if (publicDer.equals(wanted)) return key;
  }
  return undefined;
}

function setupSigningIdentity(
  state: State,
  signing: SigningMaterial | undefined,
  now: Date,
): SigningIdentity | undefined {
  if (signing === undefined) return undefined;
  const parsed = parseCert(signing.signCert);
  const outcome = identityFromCert(state, parsed);
  if (!outcome.ok) {
    fail(
      'MSP_E_SIGNING_IDENTITY_INVALID',
      `${signing.signCert.source}: the signing certificate cannot be used: ${outcome.error.message}`,
      { file: signing.signCert.source },
    );
  }
  if (parsed.keyType !== 'ec' && !(parsed.keyType === 'ed25519' && atLeast(state.version, '3.0'))) {
    // Fabric finds the key and fails at the first signature; a node that cannot sign is refused now.
    fail(
      'MSP_E_SIGNING_IDENTITY_INVALID',
      `${signing.signCert.source}: ${parsed.keyType} signing keys are not supported at MSP ${state.version} (ECDSA${atLeast(state.version, '3.0') ? ' or Ed25519' : ''} only)`,
      { file: signing.signCert.source },
    );
  }
  const key = findPrivateKey(parsed, signing.keystore);
  if (key === undefined) {
    fail(
      'MSP_E_SIGNING_KEY_NOT_FOUND',
      `KeyMaterial not found in SigningIdentityInfo: no key in keystore/ matches ${signing.signCert.source}`,
      { file: signing.signCert.source },
    );
  }
  const identity = outcome.identity;
  if (identity.expiresAt.getTime() <= now.getTime()) {
    fail(
      'MSP_E_SIGNING_IDENTITY_EXPIRED',
      `${signing.signCert.source}: signing identity expired at ${identity.expiresAt.toISOString()} (now ${now.toISOString()})`,
      { file: signing.signCert.source, expiredAt: identity.expiresAt.toISOString() },
    );
  }
  return {
    identity,
    sign: (message) =>
      identity.cert.keyType === 'ed25519'
        ? new Uint8Array(nodeSign(null, message, key))
        : signEcdsaSha256(key, message),
  };
}

function hasOuName(state: State, identity: Identity, role: NodeOuRole): string | undefined {
  const ou = state.nodeOus[role];
  if (ou === undefined) {
    return `cannot test for classification, node ou for type [${role.toUpperCase()}], not defined, msp: [${state.mspId}]`;
  }
  if (ousOf(state, identity).some((item) => item.name === ou.name)) return undefined;
  return `The identity does not contain OU [${role.toUpperCase()}], MSP: [${state.mspId}]`;
}

function postSetup(state: State): void {
  const v1 = (): void => {
    state.admins.forEach((admin, index) => {
      const outcome = validateIdentity(state, admin);
      if (!outcome.valid) {
        fail('MSP_E_ADMIN_INVALID', `admin ${index} is invalid: ${outcome.error.message}`, {
          file: admin.cert.source,
        });
      }
    });
  };
  if (!state.ouEnforcement) {
    v1();
    return;
  }
  if (!atLeast(state.version, '1.4.3')) {
    state.admins.forEach((admin, index) => {
      const outcome = validateIdentity(state, admin);
      if (!outcome.valid) {
        const code =
          outcome.error.code === 'MSP_E_IDENTITY_NODEOU' && outcome.error.details['kind'] === 'none'
            ? 'MSP_E_ADMIN_NOT_CLIENT'
            : 'MSP_E_ADMIN_INVALID';
        fail(code, `admin ${index} is invalid: ${outcome.error.message}`, {
          file: admin.cert.source,
        });
      }
      const missing = hasOuName(state, admin, 'client');
      if (missing !== undefined) {
        fail('MSP_E_ADMIN_NOT_CLIENT', `admin ${index} is invalid: ${missing}`, {
          file: admin.cert.source,
        });
      }
    });
    return;
  }
  // From 1.4.3 an admin only has to carry the client or admin OU name; it is not validated.
  state.admins.forEach((admin, index) => {
    const notClient = hasOuName(state, admin, 'client');
    const notAdmin = hasOuName(state, admin, 'admin');
    if (notClient !== undefined && notAdmin !== undefined) {
      fail('MSP_E_ADMIN_NOT_CLIENT', `admin ${index} is invalid [${notClient}, ${notAdmin}]`, {
        file: admin.cert.source,
      });
    }
  });
}

// ---- identities ----------------------------------------------------------------------------

function identityFromCert(state: State, cert: ParsedCert): IdentityOutcome {
  const sanitized = sanitize(state, cert);
  if (!sanitized.ok) {
    return {
      ok: false,
      error: err('MSP_E_IDENTITY_NOT_CHAINED', `${cert.source}: ${sanitized.reason}`, {
        file: cert.source,
      }),
    };
  }
  return { ok: true, identity: makeIdentity(state, sanitized.cert) };
}

function ousOf(
  state: State,
  identity: Identity,
  known?: readonly ParsedCert[],
): readonly OrganizationalUnit[] {
  const cached = state.ouCache.get(identity);
  if (cached !== undefined) return cached;
  const chain =
    known === undefined
      ? validationChain(state, identity.cert, false)
      : { ok: true as const, chain: known };
  const ous = chain.ok
    ? identity.cert.organizationalUnits.map((name) => ({
        name,
        certifiersIdentifier: chainIdentifier(chain.chain.slice(1)),
      }))
    : [];
  state.ouCache.set(identity, ous);
  return ous;
}

function roleOf(state: State, identity: Identity): NodeOuRole | null {
  if (!state.ouEnforcement) return null;
  for (const ou of identity.cert.organizationalUnits) {
    for (const role of ['client', 'peer', 'admin', 'orderer'] as const) {
      if (state.nodeOus[role]?.name === ou) return role;
    }
  }
  return null;
}

function identityError(
  code: ErrorCode,
  identity: Identity,
  reason: string,
  extra: Record<string, unknown> = {},
): CofferError {
  // Certificates that came from a folder name their file; deserialized ones their ID.
  const where =
    identity.cert.source === deserializedSource
      ? `identity ${identity.id.slice(0, 16)}…`
      : identity.cert.source;
  return err(code, `${where}: the identity is not valid under MSP ${identity.mspId}: ${reason}`, {
    file: identity.cert.source,
    identityId: identity.id,
    ...extra,
  });
}

function validateIdentity(state: State, identity: Identity): Validation {
  const role = roleOf(state, identity);
  const invalid = (error: CofferError): Validation => ({ valid: false, role, error });
  const cert = identity.cert;
  if (cert.isCa) {
    return invalid(
      identityError(
        'MSP_E_IDENTITY_IS_CA',
        identity,
        'An X509 certificate with Basic Constraint: Certificate Authority equals true cannot be used as an identity',
      ),
    );
  }
  const keyOk =
    cert.keyType === 'ec' || (cert.keyType === 'ed25519' && atLeast(state.version, '3.0'));
  if (!keyOk) {
    return invalid(
      identityError(
        'MSP_E_IDENTITY_KEY_UNSUPPORTED',
        identity,
        `${cert.keyType} identity keys are not supported at MSP ${state.version} (ECDSA${atLeast(state.version, '3.0') ? ' or Ed25519' : ''} only)`,
      ),
    );
  }
  const chain = validationChain(state, cert, false);
  if (!chain.ok)
    return invalid(
      identityError(chain.code, identity, `could not obtain certification chain: ${chain.reason}`),
    );
  const issuer = chain.chain[1];
  if (issuer !== undefined) {
    const crl = revokedBy(state, cert, issuer);
    if (crl !== undefined) {
      return invalid(
        identityError(
          'MSP_E_IDENTITY_REVOKED',
          identity,
          `could not validate identity against certification chain: The certificate has been revoked (by ${crl.source})`,
          { crl: crl.source },
        ),
      );
    }
  }
  // OUs (with certifiers identifiers) are only needed for OU lists and NodeOUs.
  const ous =
    state.ouIdentifiers.size > 0 || state.ouEnforcement ? ousOf(state, identity, chain.chain) : [];
  if (state.ouIdentifiers.size > 0) {
    const found = ous.some(
      (ou) => state.ouIdentifiers.get(ou.name)?.includes(ou.certifiersIdentifier) === true,
    );
    if (!found) {
      return invalid(
        identityError(
          'MSP_E_IDENTITY_OU_MISMATCH',
          identity,
          ous.length === 0
            ? "could not validate identity's OUs: the identity certificate does not contain an Organizational Unit (OU)"
            : `could not validate identity's OUs: none of the identity's organizational units [${ous.map((ou) => ou.name).join(', ')}] are in MSP ${state.mspId}`,
        ),
      );
    }
  }
  if (state.ouEnforcement) {
    const byName = new Map<string, NodeOu>();
    for (const ou of Object.values(state.nodeOus)) byName.set(ou.name, ou);
    let counter = 0;
    for (const ou of ous) {
      const node = byName.get(ou.name);
      if (node === undefined) continue;
      if (node.certifiers !== undefined && node.certifiers !== ou.certifiersIdentifier) {
        return invalid(
          identityError(
            'MSP_E_IDENTITY_NODEOU',
            identity,
            `could not validate identity's OUs: certifiersIdentifier does not match for OU ${ou.name}`,
            { kind: 'certifiers' },
          ),
        );
      }
      counter += 1;
      if (counter > 1) break;
    }
    const roles = atLeast(state.version, '1.4.3')
      ? 'client, peer, orderer, or admin role'
      : 'client or peer';
    if (counter !== 1) {
      return invalid(
        identityError(
          'MSP_E_IDENTITY_NODEOU',
          identity,
          counter === 0
            ? `the identity does not have an OU that resolves to ${roles}. OUs: [${ous.map((ou) => ou.name).join(', ')}], MSP: [${state.mspId}]`
            : `the identity must have exactly one NodeOU (${roles}), not a combination of them. OUs: [${ous.map((ou) => ou.name).join(', ')}]`,
          { kind: counter === 0 ? 'none' : 'several' },
        ),
      );
    }
  }
  return { valid: true, role };
}

// ---- principals ----------------------------------------------------------------------------

const roleNames = ['MEMBER', 'ADMIN', 'CLIENT', 'PEER', 'ORDERER'] as const;

function notSatisfied(reason: string): PrincipalCheck {
  return { satisfied: false, code: 'MSP_E_PRINCIPAL_NOT_SATISFIED', reason };
}

function invalidPrincipal(reason: string): PrincipalCheck {
  return { satisfied: false, code: 'MSP_E_PRINCIPAL_INVALID', reason };
}

type Validator = (identity: Identity) => Validation;

function satisfies(
  state: State,
  validate: Validator,
  deserialize: (mspId: string, pem: string) => IdentityOutcome,
  identity: Identity,
  principal: Principal,
  depth: number,
): PrincipalCheck {
  if (depth > principalDepthMax)
    return invalidPrincipal(`principal nesting deeper than ${principalDepthMax}`);
  const v13 = atLeast(state.version, '1.3');
  const v143 = atLeast(state.version, '1.4.3');
  const validOr = (then: () => PrincipalCheck): PrincipalCheck => {
    const outcome = validate(identity);
    return outcome.valid
      ? then()
      : notSatisfied(
          `The identity is not valid under this MSP [${state.mspId}]: ${outcome.error.message}`,
        );
  };
  const sameMsp = (mspId: string): PrincipalCheck | undefined =>
    mspId === state.mspId
      ? undefined
      : notSatisfied(
          `the identity is a member of a different MSP (expected ${mspId}, got ${state.mspId})`,
        );
  switch (principal.type) {
    case 'COMBINED':
      if (!v13) return invalidPrincipal('invalid principal type COMBINED before MSP 1.3');
      if (principal.principals.length === 0)
        return invalidPrincipal('No principals in CombinedPrincipal');
      for (const part of principal.principals) {
        const outcome = satisfies(state, validate, deserialize, identity, part, depth + 1);
        if (!outcome.satisfied) return outcome;
      }
      return { satisfied: true };
    case 'ANONYMITY':
      if (!v13) return invalidPrincipal('invalid principal type ANONYMITY before MSP 1.3');
      if (principal.anonymity === 'NOMINAL') return { satisfied: true };
      if (principal.anonymity === 'ANONYMOUS') {
        return notSatisfied(
          'Principal is anonymous, but X.509 MSP does not support anonymous identities',
        );
      }
      return invalidPrincipal('Invalid MSPIdentityAnonymityType');
    case 'ROLE': {
      const other = sameMsp(principal.mspId);
      if (other !== undefined) return other;
      const role = typeof principal.role === 'number' ? roleNames[principal.role] : principal.role;
      switch (role) {
        case 'MEMBER':
          return validOr(() => ({ satisfied: true }));
        case 'ADMIN':
          if (state.admins.some((admin) => admin.cert.hex === identity.cert.hex))
            return { satisfied: true };
          if (v143 && state.ouEnforcement && state.nodeOus.admin !== undefined) {
            return validOr(() => {
              const missing = hasOuName(state, identity, 'admin');
              return missing === undefined ? { satisfied: true } : notSatisfied(missing);
            });
          }
          return notSatisfied('This identity is not an admin');
        case 'CLIENT':
        case 'PEER':
        case 'ORDERER': {
          if (role === 'ORDERER' && !v143)
            return invalidPrincipal(`invalid MSP role type ORDERER before MSP 1.4.3`);
          return validOr(() => {
            if (!state.ouEnforcement)
              return notSatisfied('NodeOUs not activated. Cannot tell apart identities.');
            const missing = hasOuName(state, identity, role.toLowerCase() as NodeOuRole);
            return missing === undefined
              ? { satisfied: true }
              : notSatisfied(
                  `The identity is not a [${role}] under this MSP [${state.mspId}]: ${missing}`,
                );
          });
        }
        default:
          return invalidPrincipal(`invalid MSP role type ${String(principal.role)}`);
      }
    }
    case 'ORGANIZATION_UNIT': {
      const other = sameMsp(principal.mspId);
      if (other !== undefined) return other;
      return validOr(() => {
        const match = ousOf(state, identity).some(
          (ou) =>
            ou.name === principal.ou &&
            principal.certifiersIdentifier !== null &&
            ou.certifiersIdentifier === principal.certifiersIdentifier.toLowerCase(),
        );
        return match ? { satisfied: true } : notSatisfied('The identities do not match');
      });
    }
    case 'IDENTITY': {
      const other = deserialize(principal.mspId, principal.certPem);
      if (!other.ok)
        return invalidPrincipal(
          `invalid identity principal, not a certificate: ${other.error.message}`,
        );
      if (other.identity.cert.hex !== identity.cert.hex)
        return notSatisfied('The identities do not match');
      const outcome = validate(other.identity);
      return outcome.valid ? { satisfied: true } : notSatisfied(outcome.error.message);
    }
    default:
      return invalidPrincipal(`invalid principal type ${String(principal.type)}`);
  }
}

// ---- signatures ----------------------------------------------------------------------------

/** What remains of a signature check once Fabric's encoding rules passed: the arithmetic. */
type PreparedSignature =
  | { readonly ok: false; readonly check: SignatureCheck }
  | {
      readonly ok: true;
      readonly key: KeyObject;
      readonly kind: SignatureKind;
      readonly signature: Uint8Array;
      /** The refusal if the arithmetic says no (built only then: an error costs a stack). */
      readonly failed: () => SignatureCheck;
    };

function prepareSignature(identity: Identity, signature: Uint8Array): PreparedSignature {
  const invalid = (code: ErrorCode, reason: string): SignatureCheck => ({
    ok: false,
    error: err(
      code,
      `signature by ${identity.mspId} identity ${identity.id.slice(0, 16)}…: ${reason}`,
      {
        identityId: identity.id,
      },
    ),
  });
  const key = identity.cert.publicKey;
  if (identity.cert.keyType === 'ed25519') {
    return {
      ok: true,
      key,
      kind: 'ed25519',
      signature,
      failed: () => invalid('MSP_E_SIGNATURE_INVALID', 'Ed25519 signature does not verify'),
    };
  }
  if (identity.cert.keyType !== 'ec') {
    return {
      ok: false,
      check: invalid(
        'MSP_E_SIGNATURE_INVALID',
        `${identity.cert.keyType} keys cannot sign Coffer transactions`,
      ),
    };
  }
  const prepared = prepareEcdsaSha256(key, signature);
  switch (prepared.outcome) {
    case 'ready':
      return {
        ok: true,
        key,
        kind: 'ec',
        signature: prepared.p1363,
        failed: () => invalid('MSP_E_SIGNATURE_INVALID', 'ECDSA signature does not verify'),
      };
    case 'high-s':
      return {
        ok: false,
        check: invalid('MSP_E_SIGNATURE_HIGH_S', 'Invalid S. Must be smaller than half the order'),
      };
    case 'malformed':
      return {
        ok: false,
        check: invalid(
          'MSP_E_SIGNATURE_INVALID',
          'signature is not DER SEQUENCE{r, s} with r, s > 0',
        ),
      };
    case 'invalid':
      return {
        ok: false,
        check: invalid('MSP_E_SIGNATURE_INVALID', 'ECDSA signature does not verify'),
      };
  }
}

function verifySignature(
  identity: Identity,
  message: Uint8Array,
  signature: Uint8Array,
): SignatureCheck {
  const prepared = prepareSignature(identity, signature);
  if (!prepared.ok) return prepared.check;
  return verifyPrepared(prepared.key, prepared.kind, message, prepared.signature)
    ? { ok: true }
    : prepared.failed();
}

/** `verifySignature` with the arithmetic done by `verifier` (e.g. a worker-thread pool). */
async function verifySignatureWith(
  identity: Identity,
  message: Uint8Array,
  signature: Uint8Array,
  verifier: SignatureVerifier,
): Promise<SignatureCheck> {
  const prepared = prepareSignature(identity, signature);
  if (!prepared.ok) return prepared.check;
  const ok = await verifier(prepared.key, prepared.kind, message, prepared.signature);
  return ok ? { ok: true } : prepared.failed();
}

function isWellFormed(mspId: string, idBytes: string): SignatureCheck {
  const bad = (reason: string): SignatureCheck => ({
    ok: false,
    error: err('MSP_E_IDENTITY_MALFORMED', `identity for MSP ${mspId}: ${reason}`),
  });
  const block = decodeFirstPem(idBytes);
  if (block === undefined) return bad('PEM decoding resulted in an empty block');
  if (block.rest.length > 0) return bad('has trailing bytes after the PEM block');
  if (block.type !== 'CERTIFICATE' && block.type !== '') {
    return bad(`pem type is ${block.type}, should be 'CERTIFICATE' or missing`);
  }
  let cert: ParsedCert;
  try {
    cert = parseCertificateDer(block.der, 'identity');
  } catch (error) {
    return bad((error as Error).message);
  }
  return hasCanonicalSignature(cert) ? { ok: true } : bad('has a non canonical signature');
}

// ---- assembly ------------------------------------------------------------------------------

export type SetupOutcome =
  { readonly ok: true; readonly msp: Msp } | { readonly ok: false; readonly error: CofferError };

/** Sets up an MSP from its definition as Fabric's Setup does for `options.version`. */
export function setupMsp(definition: MspDefinition, options: SetupOptions): SetupOutcome {
  const state: State = {
    mspId: definition.mspId,
    version: options.version,
    opts: { roots: createPool([]), intermediates: createPool([]), at: new Date(0) },
    roots: [],
    intermediates: [],
    internalNodes: new Set(),
    crls: [],
    admins: [],
    ouIdentifiers: new Map(),
    ouEnforcement: false,
    nodeOus: {},
    tlsRoots: [],
    tlsIntermediates: [],
    ouCache: new WeakMap(),
  };
  let signingIdentity: SigningIdentity | undefined;
  try {
    setupCas(state, definition);
    if (atLeast(state.version, '1.4.3')) {
      setupCrls(state, definition);
      finalizeCas(state);
      signingIdentity = setupSigningIdentity(state, options.signing, options.now);
      setupTlsCas(state, definition);
      setupOus(state, definition);
      setupNodeOus(state, definition);
      setupAdmins(state, definition);
    } else {
      setupAdmins(state, definition);
      setupCrls(state, definition);
      finalizeCas(state);
      signingIdentity = setupSigningIdentity(state, options.signing, options.now);
      setupTlsCas(state, definition);
      setupOus(state, definition);
      if (state.version !== '1.0') setupNodeOus(state, definition);
    }
    postSetup(state);
  } catch (error) {
    if (error instanceof SetupFailure) return { ok: false, error: error.error };
    throw error;
  }
  return { ok: true, msp: assemble(state, definition, signingIdentity) };
}

function assemble(
  state: State,
  definition: MspDefinition,
  signingIdentity: SigningIdentity | undefined,
): Msp {
  const cache = new Map<string, Validation>();
  const counters = { hits: 0, misses: 0 };
  const validate = (identity: Identity): Validation => {
    const cached = cache.get(identity.id);
    if (cached !== undefined) {
      counters.hits += 1;
      return cached;
    }
    counters.misses += 1;
    const outcome = validateIdentity(state, identity);
    if (cache.size >= validationCacheEntriesMax) {
      const oldest = cache.keys().next();
      if (oldest.done !== true) cache.delete(oldest.value);
    }
    cache.set(identity.id, outcome);
    return outcome;
  };
  const identities = new Map<string, IdentityOutcome>();
  const deserialize = (mspId: string, pem: string): IdentityOutcome => {
    if (mspId !== state.mspId) {
      return {
        ok: false,
        error: err(
          'MSP_E_IDENTITY_WRONG_MSP',
          `expected MSP ID ${state.mspId}, received ${mspId}`,
          { mspId },
        ),
      };
    }
    // Parsing dominates the cost of a new certificate; the same PEM again is a lookup.
    const cached = identities.get(pem);
    if (cached !== undefined) return cached;
    let outcome: IdentityOutcome;
    try {
      outcome = identityFromCert(state, parseCertificatePem(pem, deserializedSource));
    } catch (error) {
      outcome = {
        ok: false,
        error: err(
          'MSP_E_IDENTITY_MALFORMED',
          `could not decode the identity certificate: ${(error as Error).message}`,
        ),
      };
    }
    if (pem.length <= identityCacheKeyBytesMax) {
      if (identities.size >= identityCacheEntriesMax) {
        const oldest = identities.keys().next();
        if (oldest.done !== true) identities.delete(oldest.value);
      }
      identities.set(pem, outcome);
    }
    return outcome;
  };
  const tlsRoots = createPool(state.tlsRoots);
  const tlsIntermediates = createPool(state.tlsIntermediates);
  return {
    mspId: state.mspId,
    version: state.version,
    definition,
    nodeOusEnabled: state.ouEnforcement,
    signingIdentity,
    admins: state.admins,
    deserializeIdentity: deserialize,
    validate,
    organizationalUnits: (identity) => ousOf(state, identity),
    role: (identity) => roleOf(state, identity),
    satisfiesPrincipal: (identity, principal) =>
      satisfies(state, validate, deserialize, identity, principal, 0),
    verify: verifySignature,
    verifyWith: verifySignatureWith,
    isWellFormed,
    tlsRootCerts: definition.tlsRootCerts.map((source) => source.pem),
    tlsIntermediateCerts: definition.tlsIntermediateCerts.map((source) => source.pem),
    cacheStats: () => ({ ...counters, entries: cache.size }),
    checkTlsCertificate: (leafDer, at) => {
      const reject = (reason: string, revoked = false): SignatureCheck => ({
        ok: false,
        error: err(
          'MSP_E_TLS_CLIENT_REJECTED',
          `TLS certificate rejected by MSP ${state.mspId}: ${reason}`,
          { mspId: state.mspId, revoked },
        ),
      });
      let leaf: ParsedCert;
      try {
        leaf = parseCertificateDer(leafDer, 'tls-client');
      } catch (error) {
        return reject((error as Error).message);
      }
      // TLS is checked at the real time (unlike identities), then against the MSP CRLs.
      const outcome = buildChains(leaf, {
        roots: tlsRoots,
        intermediates: tlsIntermediates,
        at,
        usage: oidEkuClientAuth,
      });
      if (!outcome.ok) return reject(outcome.reason);
      for (const chain of outcome.chains) {
        for (let i = 0; i + 1 < chain.length; i += 1) {
          const cert = chain[i];
          const issuer = chain[i + 1];
          if (cert === undefined || issuer === undefined) continue;
          const crl = revokedBy(state, cert, issuer);
          if (crl !== undefined)
            return reject(
              `certificate serial ${cert.serial.toString(16)} is revoked by ${crl.source}`,
              true,
            );
        }
      }
      return { ok: true };
    },
  };
}
