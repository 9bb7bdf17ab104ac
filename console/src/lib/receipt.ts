// Coffer receipts verified in the browser (decision 0026): the same checks, in the same order and
// with the same error codes, as the node's `verifyReceipt` (src/ledger/receipt.ts), without
// `node:` modules or Buffer. SHA-256 and ECDSA/Ed25519 come from @noble, certificates and CRLs
// from @peculiar/x509 (signatures through WebCrypto) and @peculiar/asn1-x509, RFC 8785 from
// `canonicalize`.
//
// API
//   verifyReceiptInBrowser(receipt, anchors, options?) → Promise<ReceiptVerification>
//     `receipt` is the receipt JSON (parsed, or its text). Never throws for a bad receipt or bad
//     anchors: every failure is {ok: false, code, message} with a RECEIPT_E_ code of the
//     node's registry. Options out of range are the caller's bug and throw a RangeError, and
//     so does a page without WebCrypto (not a secure context: the console is served over HTTPS).
//   trustAnchorsFromConsortium(json) → {ok: true, anchors} | {ok: false, code, message}
//     from what a node publishes: `GET /v1/state/public:gov.config/msps` ({map, key, value}),
//     the `gov` app's `config` query (its `{result}` or the configuration itself), or the
//     definitions keyed by MSP ID.
//   decodeLedgerEntry(entry) → {ok: true, entry: LedgerEntry} | {ok: false, message}
//   cofferTxIdOf(entry): the txId a Coffer transaction entry records (the default `txIdOf`).
//
// Identities are checked as the node's MSP (MSP version ≥ 1.4.3, as consortiums set up) checks
// them, with Fabric's rules: a unique chain to a root of the signer's MSP through its
// intermediates, every certificate valid at the signer's NotBefore + 1 s (Fabric never checks
// an identity's expiry), CA, path-length, name and extended-key-usage constraints, the
// issuer's CRLs, OU identifiers and NodeOUs (the signer must be a peer when NodeOUs are on).
// Unlike the node, the page cannot tell which MSPs the consortium would refuse to set up: an
// anchor whose CAs, CRLs or OU certificates are unusable makes its signers RECEIPT_E_SIGNER_INVALID.
import 'reflect-metadata';
import { ed25519 } from '@noble/curves/ed25519.js';
import { p256, p384 } from '@noble/curves/nist.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, concatBytes, hexToBytes } from '@noble/hashes/utils.js';
import { ECParameters } from '@peculiar/asn1-ecc';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type SubjectPublicKeyInfo,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  type Extension,
} from '@peculiar/asn1-x509';
import { AuthorityKeyIdentifierExtension, X509Certificate, X509Crl } from '@peculiar/x509';
import * as asn1js from 'asn1js';
import canonicalize from 'canonicalize';

// ---- limits (the node's, src/ledger/receipt.ts and src/cli/receipt.ts) ----------------------

/** Receipt formats read: 1 (one `signedRoot`) and 2 (`signedRoots`, decision 0015). */
export const receiptVersions = [1, 2] as const;
/** Most signed roots in one receipt. */
export const signedRootsMax = 64;
/** `type` of the signed root statement. */
export const rootStatementType = 'coffer-root/1';
/** Largest ledger entry a receipt carries, in bytes (before base64). */
export const receiptEntryBytesMax = 8 * 1024 * 1024;
/** Longest node ID and MSP ID in a signed root, in characters. */
export const nodeIdCharsMax = 256;
export const mspIdCharsMax = 256;
/** Largest node certificate PEM in a signed root, in characters. */
export const certPemCharsMax = 16 * 1024;
/** Largest root signature, in bytes (ECDSA P-256 DER is at most 72, Ed25519 64). */
export const signatureBytesMax = 256;
/** Hashes in an inclusion proof: a tree below 2^53 leaves needs at most 53. */
export const receiptProofHashesMax = 64;
/** Longest receipt text accepted, in characters (the CLI reads files of up to 16 MiB). */
export const receiptTextCharsMax = 16 * 1024 * 1024;
/** Bytes of a SHA-256 hash. */
export const hashBytes = 32;
/** Organisations one set of trust anchors holds (the CLI takes at most 256 --msp-dir). */
export const consortiumMspsMax = 256;
/** Certificates (or CRLs) per list of one MSP definition, and characters per PEM text. */
export const definitionCertsMax = 1000;
export const definitionPemCharsMax = 64 * 1024;
/** Longest configuration text (`public:gov.config/msps`): the store's 1 MiB value limit. */
export const consortiumTextCharsMax = 1024 * 1024;
/** Deepest nesting of a canonical ledger entry (src/ledger/canonical.ts). */
export const canonicalDepthMax = 64;
/** Signature checks while building one certificate chain (Go's maxChainSignatureChecks). */
export const chainSignatureChecksMax = 100;
/** Certificate signature checks remembered across verifications; cleared when full. */
export const signatureCacheEntriesMax = 4096;

// ---- public types ----------------------------------------------------------------------------

/** The node's receipt error codes (src/errors/registry.ts). */
export type ReceiptErrorCode =
  | 'RECEIPT_E_MALFORMED'
  | 'RECEIPT_E_ENTRY_MISMATCH'
  | 'RECEIPT_E_TXID_MISMATCH'
  | 'RECEIPT_E_PROOF_INVALID'
  | 'RECEIPT_E_SIGNER_UNKNOWN'
  | 'RECEIPT_E_SIGNER_INVALID'
  | 'RECEIPT_E_SIGNER_NOT_PEER'
  | 'RECEIPT_E_SIGNATURE_INVALID'
  | 'RECEIPT_E_ROOTS_DISAGREE'
  | 'RECEIPT_E_SIGNER_REPEATED'
  | 'RECEIPT_E_TOO_FEW_SIGNERS';

export type Failure<Code extends string> = {
  readonly ok: false;
  readonly code: Code;
  readonly message: string;
  /** Path of the failing field, when one field is to blame. */
  readonly field?: string;
};

export type NodeOuRole = 'client' | 'peer' | 'admin' | 'orderer';

/** An OU identifier of an MSP definition; `certificate` is the PEM of the CA that certifies it. */
export type OuAnchor = {
  readonly organizationalUnitIdentifier: string;
  readonly certificate?: string;
};

/** The verifying part of one organisation's MSP, PEM texts only. */
export type MspAnchor = {
  readonly rootCerts: readonly string[];
  readonly intermediateCerts: readonly string[];
  /** CRL PEMs (the MSP's `revocationList`). */
  readonly revocationList?: readonly string[];
  readonly organizationalUnitIdentifiers?: readonly OuAnchor[];
  readonly nodeOus?: {
    readonly enable: boolean;
    readonly clientOuIdentifier?: OuAnchor;
    readonly peerOuIdentifier?: OuAnchor;
    readonly adminOuIdentifier?: OuAnchor;
    readonly ordererOuIdentifier?: OuAnchor;
  };
};

/** Trusted organisations by MSP ID. */
export type TrustAnchors = ReadonlyMap<string, MspAnchor>;

export type VerifyInBrowserOptions = {
  /** Fewest organisations (distinct MSP IDs) among the signers; default 1. */
  readonly minOrganisations?: number;
  /** Fewest nodes (distinct signing keys) whose signatures verify; default 1. */
  readonly minSignatures?: number;
  /**
   * The txId an entry records, which must be the receipt's (throw: the entry records none).
   * Default `cofferTxIdOf` (Coffer transaction entries, as `coffer receipt verify`); null skips
   * the check (`--any-entry`).
   */
  readonly txIdOf?: ((entry: Uint8Array) => string | undefined) | null;
};

export type VerifiedSigner = {
  readonly nodeId: string;
  readonly mspId: string;
  /** Milliseconds since the epoch. */
  readonly signedAt: number;
  /** The NodeOU role (`peer`), or null when the MSP has NodeOUs off. */
  readonly role: NodeOuRole | null;
};

export type VerifiedReceiptInBrowser = {
  readonly version: 1 | 2;
  readonly txId: string;
  readonly seqno: number;
  readonly treeSize: number;
  /** Lower-case hex Merkle root the signers signed. */
  readonly root: string;
  /** Every signer, in the receipt's order (by node ID). */
  readonly signers: readonly VerifiedSigner[];
  /** Distinct MSP IDs of the signers, sorted. */
  readonly organisations: readonly string[];
  /** The ledger entry bytes (decodeLedgerEntry shows them). */
  readonly entry: Uint8Array;
  /** False when `txIdOf: null` skipped the txId check. */
  readonly txIdChecked: boolean;
};

export type ReceiptVerification =
  { readonly ok: true; readonly verified: VerifiedReceiptInBrowser } | Failure<ReceiptErrorCode>;

// ---- bytes -----------------------------------------------------------------------------------

const hexPattern = /^[0-9a-f]*$/;
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;
const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** Base64 of the standard alphabet (atob accepts more: callers check the text first). */
function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function toBase64(bytes: Uint8Array): string {
  const chunkBytes = 0x8000; // String.fromCharCode takes arguments on the stack
  let binary = '';
  for (let i = 0; i < bytes.byteLength; i += chunkBytes) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunkBytes));
  }
  return btoa(binary);
}

function hasLoneSurrogate(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i += 1;
    } else if (unit >= 0xdc00 && unit <= 0xdfff) {
      return true;
    }
  }
  return false;
}

// ---- receipt shape (parseReceipt of src/ledger/receipt.ts) -------------------------------------

type SignedRoot = {
  readonly treeSize: number;
  readonly root: string;
  readonly nodeId: string;
  readonly signedAt: number;
  readonly mspId: string;
  readonly certPem: string;
  readonly signature: string;
};

type Receipt = {
  readonly version: 1 | 2;
  readonly txId: string;
  readonly seqno: number;
  readonly entry: Uint8Array;
  readonly proof: {
    readonly leafIndex: number;
    readonly treeSize: number;
    readonly leafHash: string;
    readonly hashes: readonly string[];
  };
  readonly signedRoots: readonly SignedRoot[];
};

/** Thrown inside parsing only; parseReceipt turns it into a RECEIPT_E_MALFORMED result. */
class Malformed extends Error {
  constructor(
    readonly field: string,
    what: string,
  ) {
    super(`${field} ${what}`);
  }
}

type Json = Readonly<Record<string, unknown>>;

function object(value: unknown, field: string, keys: readonly string[]): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Malformed(field, 'must be a JSON object');
  }
  const json = value as Json;
  for (const key of keys) {
    if (!(key in json)) throw new Malformed(`${field}.${key}`, 'is missing');
  }
  const extra = Object.keys(json).find((key) => !keys.includes(key));
  if (extra !== undefined) throw new Malformed(`${field}.${extra}`, 'is not a field of a receipt');
  return json;
}

function integer(value: unknown, field: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new Malformed(field, `must be an integer ≥ ${min}`);
  }
  return value;
}

function text(value: unknown, field: string, charsMax: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) {
    throw new Malformed(field, `must be a non-empty string of at most ${charsMax} characters`);
  }
  return value;
}

function hash(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length !== 2 * hashBytes || !hexPattern.test(value)) {
    throw new Malformed(field, `must be ${2 * hashBytes} lower-case hex characters (SHA-256)`);
  }
  return value;
}

/** Strict base64: standard alphabet, padded, and exactly the encoding of what it decodes to. */
function base64(value: unknown, field: string, bytesMax: number): Uint8Array {
  if (
    typeof value !== 'string' ||
    value.length % 4 !== 0 ||
    !base64Pattern.test(value) ||
    value.length > (Math.ceil(bytesMax / 3) + 1) * 4
  ) {
    throw new Malformed(field, 'must be padded base64 (RFC 4648 §4)');
  }
  const bytes = fromBase64(value);
  if (toBase64(bytes) !== value) {
    throw new Malformed(field, 'must be canonical base64 (RFC 4648 §4, zero padding bits)');
  }
  if (bytes.byteLength > bytesMax) throw new Malformed(field, `is larger than ${bytesMax} bytes`);
  return bytes;
}

/** Orders by node ID in UTF-16 code units, as RFC 8785 §3.2.3 sorts keys. */
function byNodeId(a: SignedRoot, b: SignedRoot): number {
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

function parseSignedRoot(value: unknown, field: string): SignedRoot {
  const json = object(value, field, [
    'treeSize',
    'root',
    'nodeId',
    'signedAt',
    'mspId',
    'certPem',
    'signature',
  ]);
  const certPem = text(json['certPem'], `${field}.certPem`, certPemCharsMax);
  if (!certPem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new Malformed(`${field}.certPem`, 'must be a PEM certificate');
  }
  const signature = base64(json['signature'], `${field}.signature`, signatureBytesMax);
  if (signature.byteLength === 0) throw new Malformed(`${field}.signature`, 'must not be empty');
  const signedRoot: SignedRoot = {
    treeSize: integer(json['treeSize'], `${field}.treeSize`, 1),
    root: hash(json['root'], `${field}.root`),
    nodeId: text(json['nodeId'], `${field}.nodeId`, nodeIdCharsMax),
    signedAt: integer(json['signedAt'], `${field}.signedAt`, 0),
    mspId: text(json['mspId'], `${field}.mspId`, mspIdCharsMax),
    certPem,
    signature: json['signature'] as string,
  };
  // The node ID is signed as RFC 8785 text, which has no lone surrogates.
  if (hasLoneSurrogate(signedRoot.nodeId)) {
    throw new Malformed(`${field}.nodeId`, 'must be well-formed Unicode text');
  }
  return signedRoot;
}

function parseSignedRoots(value: unknown, field: string): SignedRoot[] {
  if (!Array.isArray(value) || value.length === 0 || value.length > signedRootsMax) {
    throw new Malformed(field, `must be a list of 1 to ${signedRootsMax} signed roots`);
  }
  const signedRoots = value.map((item: unknown, i) => parseSignedRoot(item, `${field}[${i}]`));
  signedRoots.forEach((signedRoot, i) => {
    const previous = signedRoots[i - 1];
    // Equal node IDs are RECEIPT_E_SIGNER_REPEATED, reported by verification.
    if (previous !== undefined && byNodeId(previous, signedRoot) > 0) {
      throw new Malformed(
        `${field}[${i}].nodeId`,
        `must not sort before the node ID of ${field}[${i - 1}]: signed roots are sorted by node ID`,
      );
    }
  });
  return signedRoots;
}

function parseReceipt(json: unknown): Receipt {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new Malformed('receipt', 'must be a JSON object');
  }
  const version = (json as Json)['version'];
  if (version !== 1 && version !== 2) {
    throw new Malformed('receipt.version', `must be one of ${receiptVersions.join(', ')}`);
  }
  const receipt = object(json, 'receipt', [
    'version',
    'txId',
    'seqno',
    'entry',
    'proof',
    version === 1 ? 'signedRoot' : 'signedRoots',
  ]);
  const txId = hash(receipt['txId'], 'receipt.txId');
  const seqno = integer(receipt['seqno'], 'receipt.seqno', 1);
  const entry = base64(receipt['entry'], 'receipt.entry', receiptEntryBytesMax);
  const proof = object(receipt['proof'], 'receipt.proof', [
    'leafIndex',
    'treeSize',
    'leafHash',
    'hashes',
  ]);
  const leafIndex = integer(proof['leafIndex'], 'receipt.proof.leafIndex', 0);
  if (seqno !== leafIndex + 1) {
    throw new Malformed('receipt.seqno', `is ${seqno} but proof.leafIndex + 1 is ${leafIndex + 1}`);
  }
  const hashes = proof['hashes'];
  if (!Array.isArray(hashes) || hashes.length > receiptProofHashesMax) {
    throw new Malformed(
      'receipt.proof.hashes',
      `must be a list of at most ${receiptProofHashesMax} hashes`,
    );
  }
  return {
    version,
    txId,
    seqno,
    entry,
    proof: {
      leafIndex,
      treeSize: integer(proof['treeSize'], 'receipt.proof.treeSize', 1),
      leafHash: hash(proof['leafHash'], 'receipt.proof.leafHash'),
      hashes: hashes.map((item: unknown, i) => hash(item, `receipt.proof.hashes[${i}]`)),
    },
    signedRoots:
      version === 1
        ? [parseSignedRoot(receipt['signedRoot'], 'receipt.signedRoot')]
        : parseSignedRoots(receipt['signedRoots'], 'receipt.signedRoots'),
  };
}

// ---- Merkle tree (RFC 9162 §2.1, as src/ledger/merkle.ts) ------------------------------------

/** RFC 9162 §2.1.1: HASH(0x00 ‖ entry). */
function leafHash(entry: Uint8Array): Uint8Array {
  return sha256.create().update(Uint8Array.of(0x00)).update(entry).digest();
}

/** RFC 9162 §2.1.1: HASH(0x01 ‖ left ‖ right). */
function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(concatBytes(Uint8Array.of(0x01), left, right));
}

/** RFC 9162 §2.1.3.2: the root `proof` leads to, or undefined when it cannot be valid. */
function rootFromInclusionProof(
  leaf: Uint8Array,
  index: number,
  treeSize: number,
  proof: readonly Uint8Array[],
): Uint8Array | undefined {
  if (index >= treeSize || proof.length > receiptProofHashesMax) return undefined;
  let fn = index;
  let sn = treeSize - 1;
  let r = leaf;
  for (const p of proof) {
    if (p.byteLength !== hashBytes || sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : undefined;
}

/** RFC 8785 bytes of {"type":"coffer-root/1","treeSize","root","nodeId","signedAt"}. */
function rootSignatureMessage(signedRoot: SignedRoot): Uint8Array {
  const canonical = canonicalize({
    type: rootStatementType,
    treeSize: signedRoot.treeSize,
    root: signedRoot.root,
    nodeId: signedRoot.nodeId,
    signedAt: signedRoot.signedAt,
  });
  if (canonical === undefined) throw new Error('receipt: a root statement has no JSON (a bug)');
  return utf8.encode(canonical);
}

// ---- certificates (src/msp/cert.ts, chain.ts) ------------------------------------------------

const oidOrganizationalUnit = '2.5.4.11';
const oidCommonName = '2.5.4.3';
const oidEkuAny = '2.5.29.37.0';
const oidEkuServerAuth = '1.3.6.1.5.5.7.3.1';
const oidEcPublicKey = '1.2.840.10045.2.1';
const oidEd25519 = '1.3.101.112';
const oidRsa = new Set(['1.2.840.113549.1.1.1', '1.2.840.113549.1.1.10']);
const curves = {
  '1.2.840.10045.3.1.7': { name: 'P-256', ecdsa: p256 },
  '1.3.132.0.34': { name: 'P-384', ecdsa: p384 },
} as const;

/** Signature algorithms Go's x509 refuses in chains. */
const insecureSignatureOids = new Set([
  '1.2.840.113549.1.1.5',
  '1.2.840.10045.4.1',
  '1.2.840.10040.4.3',
  '1.2.840.113549.1.1.4',
]);

/** Extensions Go's x509 understands; any other critical one makes a leaf unverifiable. */
const handledExtensionOids = new Set([
  id_ce_keyUsage,
  id_ce_basicConstraints,
  id_ce_subjectAltName,
  id_ce_nameConstraints,
  '2.5.29.31',
  id_ce_authorityKeyIdentifier,
  id_ce_extKeyUsage,
  id_ce_subjectKeyIdentifier,
  '2.5.29.32',
  '1.3.6.1.5.5.7.1.1',
  '2.5.29.33',
  '2.5.29.36',
  '2.5.29.54',
]);

type PublicKeyOf =
  | { readonly kind: 'ec'; readonly curve: keyof typeof curves; readonly point: Uint8Array }
  | { readonly kind: 'ec-other' }
  | { readonly kind: 'ed25519'; readonly raw: Uint8Array }
  | { readonly kind: 'rsa' | 'other' };

type Cert = {
  readonly der: Uint8Array;
  readonly hex: string;
  /** Hex SHA-256 of the DER: a short key for caches. */
  readonly id: string;
  readonly subjectKey: string;
  readonly issuerKey: string;
  readonly serial: bigint;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly version: number;
  readonly basicConstraintsValid: boolean;
  readonly isCa: boolean;
  readonly maxPathLen: number | undefined;
  readonly keyUsageCertSign: boolean | undefined;
  readonly ski: string | undefined;
  readonly aki: string | undefined;
  readonly organizationalUnits: readonly string[];
  readonly commonName: string | undefined;
  readonly dnsNames: readonly string[];
  readonly hasSan: boolean;
  readonly sanHex: string | undefined;
  readonly spkiHex: string;
  readonly key: PublicKeyOf;
  readonly permittedDns: readonly string[];
  readonly excludedDns: readonly string[];
  readonly hasNameConstraints: boolean;
  readonly extKeyUsages: readonly string[];
  readonly unhandledCritical: readonly string[];
  readonly signatureInsecure: boolean;
  readonly x509: X509Certificate;
};

type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; reason: string };

const pemBlockPattern =
  /-----BEGIN ([^\r\n-]*)-----\r?\n([\s\S]*?)(?:\r?\n)?-----END \1-----[ \t]*(?:\r?\n|$)/;

/** The first PEM block with a valid body, as Go's pem.Decode (src/msp/pem.ts). */
function decodeFirstPem(pem: string): Uint8Array<ArrayBuffer> | undefined {
  let search = pem;
  for (;;) {
    const match = pemBlockPattern.exec(search);
    if (match === null) return undefined;
    const body = (match[2] ?? '')
      .split(/\r?\n/)
      .filter((line) => !line.includes(':'))
      .join('')
      .replace(/[ \t]/g, '');
    if (base64Pattern.test(body) && body.length % 4 === 0) return fromBase64(body);
    search = search.slice(match.index + match[0].length);
  }
}

function publicKeyOf(spki: SubjectPublicKeyInfo): PublicKeyOf {
  const algorithm = spki.algorithm.algorithm;
  if (algorithm === oidEd25519) {
    return { kind: 'ed25519', raw: new Uint8Array(spki.subjectPublicKey) };
  }
  if (oidRsa.has(algorithm)) return { kind: 'rsa' };
  if (algorithm !== oidEcPublicKey) return { kind: 'other' };
  const parameters = spki.algorithm.parameters;
  if (parameters === null || parameters === undefined) return { kind: 'ec-other' };
  const curve = AsnConvert.parse(parameters, ECParameters).namedCurve;
  return curve === '1.2.840.10045.3.1.7' || curve === '1.3.132.0.34'
    ? { kind: 'ec', curve, point: new Uint8Array(spki.subjectPublicKey) }
    : { kind: 'ec-other' };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A certificate as src/msp/cert.ts reads it: DER only, no trailing data. */
function parseCertDer(der: Uint8Array<ArrayBuffer>): Parsed<Cert> {
  try {
    return { ok: true, value: parseCertUnguarded(der) };
  } catch (error) {
    return { ok: false, reason: `not a valid X.509 certificate: ${messageOf(error)}` };
  }
}

function parseCertUnguarded(der: Uint8Array<ArrayBuffer>): Cert {
  const decoded = asn1js.fromBER(der);
  if (decoded.offset === -1 || !(decoded.result instanceof asn1js.Sequence)) {
    throw new Error('not a DER SEQUENCE (truncated or corrupted)');
  }
  // Trailing data would give one key several encodings (Go's ParseCertificate refuses it).
  if (decoded.offset !== der.byteLength) {
    throw new Error(`${der.byteLength - decoded.offset} bytes of trailing data after the DER`);
  }
  const cert = AsnConvert.parse(der, Certificate);
  const x509 = new X509Certificate(der);
  const tbs = cert.tbsCertificate;
  let basicConstraintsValid = false;
  let isCa = false;
  let maxPathLen: number | undefined;
  let keyUsageCertSign: boolean | undefined;
  let ski: string | undefined;
  let aki: string | undefined;
  let hasSan = false;
  let sanHex: string | undefined;
  const dnsNames: string[] = [];
  let hasNameConstraints = false;
  const permittedDns: string[] = [];
  const excludedDns: string[] = [];
  const extKeyUsages: string[] = [];
  const unhandledCritical: string[] = [];
  const extensions: Extension[] = tbs.extensions === undefined ? [] : [...tbs.extensions];
  for (const ext of extensions) {
    const value = new Uint8Array(ext.extnValue.buffer);
    if (ext.critical && !handledExtensionOids.has(ext.extnID)) unhandledCritical.push(ext.extnID);
    switch (ext.extnID) {
      case id_ce_basicConstraints: {
        const bc = AsnConvert.parse(value, BasicConstraints);
        basicConstraintsValid = true;
        isCa = bc.cA;
        maxPathLen = bc.pathLenConstraint;
        break;
      }
      case id_ce_keyUsage: {
        const bits = AsnConvert.parse(value, KeyUsage).toNumber();
        keyUsageCertSign = bits === 0 ? undefined : (bits & KeyUsageFlags.keyCertSign) !== 0;
        break;
      }
      case id_ce_subjectKeyIdentifier:
        try {
          ski = bytesToHex(new Uint8Array(AsnConvert.parse(value, SubjectKeyIdentifier).buffer));
        } catch {
          ski = undefined;
        }
        break;
      case id_ce_authorityKeyIdentifier: {
        const id = AsnConvert.parse(value, AuthorityKeyIdentifier).keyIdentifier;
        if (id !== undefined) aki = bytesToHex(new Uint8Array(id.buffer));
        break;
      }
      case id_ce_subjectAltName:
        hasSan = true;
        sanHex = bytesToHex(value);
        for (const name of AsnConvert.parse(value, SubjectAlternativeName)) {
          if (name.dNSName !== undefined) dnsNames.push(name.dNSName);
        }
        break;
      case id_ce_nameConstraints: {
        hasNameConstraints = true;
        const nc = AsnConvert.parse(value, NameConstraints);
        for (const subtree of nc.permittedSubtrees === undefined ? [] : [...nc.permittedSubtrees]) {
          if (subtree.base.dNSName !== undefined) permittedDns.push(subtree.base.dNSName);
        }
        for (const subtree of nc.excludedSubtrees === undefined ? [] : [...nc.excludedSubtrees]) {
          if (subtree.base.dNSName !== undefined) excludedDns.push(subtree.base.dNSName);
        }
        break;
      }
      case id_ce_extKeyUsage:
        extKeyUsages.push(...AsnConvert.parse(value, ExtendedKeyUsage).map(String));
        break;
      default:
        break;
    }
  }
  const organizationalUnits: string[] = [];
  let commonName: string | undefined;
  for (const rdn of tbs.subject) {
    for (const attribute of rdn) {
      if (attribute.type === oidOrganizationalUnit) {
        organizationalUnits.push(attribute.value.toString());
      }
      if (attribute.type === oidCommonName && commonName === undefined) {
        commonName = attribute.value.toString();
      }
    }
  }
  const serialHex = bytesToHex(new Uint8Array(tbs.serialNumber));
  return {
    der,
    hex: bytesToHex(der),
    id: bytesToHex(sha256(der)),
    subjectKey: bytesToHex(new Uint8Array(AsnConvert.serialize(tbs.subject))),
    issuerKey: bytesToHex(new Uint8Array(AsnConvert.serialize(tbs.issuer))),
    serial: BigInt(`0x${serialHex || '0'}`),
    notBefore: tbs.validity.notBefore.getTime().getTime(),
    notAfter: tbs.validity.notAfter.getTime().getTime(),
    version: tbs.version + 1,
    basicConstraintsValid,
    isCa,
    maxPathLen,
    keyUsageCertSign,
    ski,
    aki,
    organizationalUnits,
    commonName,
    dnsNames,
    hasSan,
    sanHex,
    spkiHex: bytesToHex(new Uint8Array(AsnConvert.serialize(tbs.subjectPublicKeyInfo))),
    key: publicKeyOf(tbs.subjectPublicKeyInfo),
    permittedDns,
    excludedDns,
    hasNameConstraints,
    extKeyUsages,
    unhandledCritical,
    signatureInsecure: insecureSignatureOids.has(cert.signatureAlgorithm.algorithm),
    x509,
  };
}

function parseCertPem(pem: string): Parsed<Cert> {
  const der = decodeFirstPem(pem);
  return der === undefined ? { ok: false, reason: 'no PEM block found' } : parseCertDer(der);
}

const signatureChecks = new Map<string, boolean>();

/** Does `parent`'s key verify `child`'s signature (Go's CheckSignature)? Through WebCrypto. */
async function signatureVerifiedBy(child: Cert, parent: Cert): Promise<boolean> {
  const key = `${child.id}:${parent.id}`;
  const known = signatureChecks.get(key);
  if (known !== undefined) return known;
  let verified: boolean;
  try {
    verified = await child.x509.verify({ publicKey: parent.x509.publicKey, signatureOnly: true });
  } catch {
    verified = false;
  }
  if (signatureChecks.size >= signatureCacheEntriesMax) signatureChecks.clear();
  signatureChecks.set(key, verified);
  return verified;
}

type Pool = {
  readonly bySubject: ReadonlyMap<string, readonly Cert[]>;
  readonly hexes: ReadonlySet<string>;
};

function createPool(certs: readonly Cert[]): Pool {
  const bySubject = new Map<string, Cert[]>();
  const hexes = new Set<string>();
  for (const cert of certs) {
    if (hexes.has(cert.hex)) continue;
    hexes.add(cert.hex);
    bySubject.set(cert.subjectKey, [...(bySubject.get(cert.subjectKey) ?? []), cert]);
  }
  return { bySubject, hexes };
}

/** Candidate parents in Go's order: matching key IDs first, mismatching last. */
function potentialParents(pool: Pool, cert: Cert): Cert[] {
  const matching: Cert[] = [];
  const one: Cert[] = [];
  const mismatch: Cert[] = [];
  for (const candidate of pool.bySubject.get(cert.issuerKey) ?? []) {
    if (candidate.ski !== undefined && candidate.ski === cert.aki) matching.push(candidate);
    else if ((candidate.ski === undefined) !== (cert.aki === undefined)) one.push(candidate);
    else if (candidate.ski === undefined && cert.aki === undefined) matching.push(candidate);
    else mismatch.push(candidate);
  }
  return [...matching, ...one, ...mismatch];
}

function validAt(cert: Cert, at: number): boolean {
  return at >= cert.notBefore && at <= cert.notAfter;
}

/** Go's CheckSignatureFrom: the parent's constraints, then the signature. */
async function signedBy(child: Cert, parent: Cert): Promise<boolean> {
  if (parent.version === 3 && !parent.basicConstraintsValid) return false;
  if (parent.basicConstraintsValid && !parent.isCa) return false;
  if (parent.keyUsageCertSign === false) return false;
  if (child.signatureInsecure) return false;
  return signatureVerifiedBy(child, parent);
}

/** Fabric's validHostname (src/msp/chain.ts). */
function looksLikeHostname(name: string): boolean {
  const host = name.endsWith('.') ? name.slice(0, -1) : name;
  if (host.length === 0) return false;
  return host.split('.').every((label, index) => {
    if (label.length === 0) return false;
    if (index === 0 && label === '*') return true;
    return /^[A-Za-z0-9_:][A-Za-z0-9_:-]*$/.test(label);
  });
}

function dnsMatches(name: string, constraint: string): boolean {
  if (constraint.length === 0) return true;
  const n = name.toLowerCase();
  const c = constraint.toLowerCase();
  if (c.startsWith('.')) return n.endsWith(c) && n.length > c.length;
  return n === c || n.endsWith(`.${c}`);
}

function nameConstraintsAllow(ca: Cert, leaf: Cert): boolean {
  if (!ca.hasNameConstraints) return true;
  for (const name of leaf.dnsNames) {
    if (ca.excludedDns.some((constraint) => dnsMatches(name, constraint))) return false;
    if (ca.permittedDns.length > 0 && !ca.permittedDns.some((c) => dnsMatches(name, c))) {
      return false;
    }
  }
  return true;
}

function sameCertificateIdentity(a: Cert, b: Cert): boolean {
  return a.subjectKey === b.subjectKey && a.spkiHex === b.spkiHex && a.sanHex === b.sanHex;
}

/** Fabric's verifyLegacyNameConstraints on the one chain left. */
function legacyNameConstraintsAllow(chain: readonly Cert[]): boolean {
  const [leaf, ...cas] = chain;
  if (leaf === undefined || cas.length === 0 || leaf.hasSan) return true;
  if (leaf.commonName === undefined || !looksLikeHostname(leaf.commonName)) return true;
  return !cas.some((ca) => ca.hasNameConstraints);
}

function chainAllowsUsage(chain: readonly Cert[], usage: string): boolean {
  return chain.every(
    (cert) =>
      cert.extKeyUsages.length === 0 ||
      cert.extKeyUsages.includes(oidEkuAny) ||
      cert.extKeyUsages.includes(usage),
  );
}

type Pools = { readonly roots: Pool; readonly intermediates: Pool };

/** Every chain from `leaf` to a root, as Go's Certificate.Verify finds them (leaf first). */
async function buildChains(leaf: Cert, pools: Pools, at: number): Promise<Parsed<Cert[][]>> {
  if (leaf.unhandledCritical.length > 0) {
    return {
      ok: false,
      reason: `unhandled critical extension ${leaf.unhandledCritical.join(', ')}`,
    };
  }
  if (!validAt(leaf, at)) {
    return { ok: false, reason: 'certificate is not valid at its own NotBefore + 1s' };
  }
  let failure = 'certificate signed by unknown authority';
  let candidates: Cert[][];
  if (pools.roots.hexes.has(leaf.hex)) {
    candidates = [[leaf]];
  } else {
    let checks = 0;
    const extend = async (chain: Cert[]): Promise<Cert[][]> => {
      const current = chain[chain.length - 1];
      if (current === undefined) return [];
      const found: Cert[][] = [];
      const consider = async (candidate: Cert, isRoot: boolean): Promise<void> => {
        if (chain.some((c) => sameCertificateIdentity(c, candidate))) return;
        checks += 1;
        if (checks > chainSignatureChecksMax) {
          failure = 'signature check attempts limit reached while verifying certificate chain';
          return;
        }
        if (!(await signedBy(current, candidate))) return;
        if (!validAt(candidate, at)) {
          failure = "a CA certificate is not valid at the identity's NotBefore + 1s";
          return;
        }
        if (!isRoot && !(candidate.basicConstraintsValid && candidate.isCa)) return;
        if (candidate.basicConstraintsValid && candidate.maxPathLen !== undefined) {
          if (chain.length - 1 > candidate.maxPathLen) return;
        }
        if (!nameConstraintsAllow(candidate, leaf)) {
          failure = 'name constraints of a CA refuse the certificate';
          return;
        }
        if (isRoot) found.push([...chain, candidate]);
        else found.push(...(await extend([...chain, candidate])));
      };
      for (const root of potentialParents(pools.roots, current)) await consider(root, true);
      for (const inter of potentialParents(pools.intermediates, current)) {
        await consider(inter, false);
      }
      return found;
    };
    candidates = await extend([leaf]);
  }
  if (candidates.length === 0) return { ok: false, reason: failure };
  // Identities are checked for Go's (and Fabric's) default usage, serverAuth (fabric#5091).
  const chains = candidates.filter((chain) => chainAllowsUsage(chain, oidEkuServerAuth));
  if (chains.length === 0) {
    return {
      ok: false,
      reason: `certificate specifies an incompatible extended key usage (needs ${oidEkuServerAuth} or any)`,
    };
  }
  return { ok: true, value: chains };
}

/** Fabric validates identities at NotBefore + 1 s: an identity's expiry is never checked. */
function validityAt(cert: Cert): number {
  return cert.notBefore + 1000;
}

async function uniqueChain(cert: Cert, pools: Pools): Promise<Parsed<readonly Cert[]>> {
  const outcome = await buildChains(cert, pools, validityAt(cert));
  if (!outcome.ok) return { ok: false, reason: `the identity is not valid: ${outcome.reason}` };
  const [chain] = outcome.value;
  if (outcome.value.length !== 1 || chain === undefined) {
    return {
      ok: false,
      reason: `this MSP only supports a single validation chain, got ${outcome.value.length}`,
    };
  }
  if (!legacyNameConstraintsAllow(chain)) {
    return {
      ok: false,
      reason:
        'a certificate without SANs whose CN is a host name cannot be issued under a name-constrained CA',
    };
  }
  return { ok: true, value: chain };
}

// ---- MSPs (src/msp/msp.ts, MSP version ≥ 1.4.3) ----------------------------------------------

type Crl = { readonly aki: string; readonly serials: ReadonlySet<bigint>; readonly x509: X509Crl };

type NodeOu = { readonly name: string; readonly certifiers: string | undefined };

type PreparedMsp = {
  readonly pools: Pools;
  readonly roots: readonly Cert[];
  readonly intermediates: readonly Cert[];
  /** Hex DER of CAs that issued another CA of the MSP: they may not issue identities. */
  readonly internalNodes: ReadonlySet<string>;
  readonly crls: readonly Crl[];
  readonly ouIdentifiers: ReadonlyMap<string, readonly string[]>;
  readonly nodeOus: Partial<Record<NodeOuRole, NodeOu>>;
  readonly ouEnforcement: boolean;
};

const nodeOuRoles = ['client', 'peer', 'admin', 'orderer'] as const;

async function crlSignedBy(crl: Crl, issuer: Cert): Promise<boolean> {
  try {
    return await crl.x509.verify({ publicKey: issuer.x509.publicKey });
  } catch {
    return false;
  }
}

/** Fabric's validateCertAgainstChain: a CRL of the issuer (AKI = its SKI) lists the serial. */
async function revokedBy(crls: readonly Crl[], cert: Cert, issuer: Cert): Promise<boolean> {
  if (issuer.ski === undefined) return false;
  for (const crl of crls) {
    if (crl.aki !== issuer.ski || !crl.serials.has(cert.serial)) continue;
    // A CRL with the issuer's AKI but another signer is skipped, as in Fabric.
    if (await crlSignedBy(crl, issuer)) return true;
  }
  return false;
}

function chainIdentifier(chain: readonly Cert[]): string {
  return bytesToHex(sha256(concatBytes(...chain.map((cert) => cert.der))));
}

/** Fabric's getValidationChain: a unique chain of 2 or more, its parent a leaf of the CA tree. */
async function validationChain(
  msp: Pick<PreparedMsp, 'pools' | 'internalNodes'>,
  cert: Cert,
  intermediateChain: boolean,
): Promise<Parsed<readonly Cert[]>> {
  const chain = await uniqueChain(cert, msp.pools);
  if (!chain.ok) return chain;
  if (chain.value.length < 2) {
    return {
      ok: false,
      reason: `expected a chain of length at least 2, got ${chain.value.length}`,
    };
  }
  const parent = chain.value[intermediateChain ? 0 : 1];
  if (parent !== undefined && msp.internalNodes.has(parent.hex)) {
    return {
      ok: false,
      reason: 'invalid validation chain: the parent certificate must be a leaf of the CA tree',
    };
  }
  return chain;
}

function readPem<T>(
  pems: readonly string[],
  what: string,
  read: (der: Uint8Array<ArrayBuffer>) => T,
): T[] {
  return pems.map((pem, i) => {
    const der = decodeFirstPem(pem);
    if (der === undefined) throw new Error(`${what}[${i}] has no PEM block`);
    try {
      return read(der);
    } catch (error) {
      throw new Error(`${what}[${i}] cannot be read: ${messageOf(error)}`);
    }
  });
}

function certOf(der: Uint8Array<ArrayBuffer>): Cert {
  const parsed = parseCertDer(der);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.value;
}

/** Sets up an MSP's verifying state as setupMsp does, or says why it cannot be used. */
async function prepareMsp(anchor: MspAnchor): Promise<Parsed<PreparedMsp>> {
  try {
    return { ok: true, value: await prepareMspUnguarded(anchor) };
  } catch (error) {
    return { ok: false, reason: messageOf(error) };
  }
}

async function prepareMspUnguarded(anchor: MspAnchor): Promise<PreparedMsp> {
  if (anchor.rootCerts.length === 0) throw new Error('expected at least one CA certificate');
  const roots = readPem(anchor.rootCerts, 'rootCerts', certOf);
  const intermediates = readPem(anchor.intermediateCerts, 'intermediateCerts', certOf);
  for (const [i, cert] of [...roots, ...intermediates].entries()) {
    if (!cert.isCa) throw new Error(`CA certificate ${i} does not have the CA attribute`);
    if (cert.ski === undefined) throw new Error(`CA certificate ${i} has no Subject Key ID`);
  }
  for (const [i, root] of roots.entries()) {
    if (root.keyUsageCertSign === false || !(await signatureVerifiedBy(root, root))) {
      throw new Error(`rootCerts[${i}] is not a self-signed root CA`);
    }
  }
  const crls = readPem(anchor.revocationList ?? [], 'revocationList', (der): Crl => {
    const x509 = new X509Crl(der);
    const aki = x509.getExtension(AuthorityKeyIdentifierExtension)?.keyId;
    if (aki === undefined) throw new Error('the CRL has no Authority Key Identifier');
    const serials = new Set(x509.entries.map((entry) => BigInt(`0x${entry.serialNumber || '0'}`)));
    return { aki: aki.toLowerCase(), serials, x509 };
  });
  const pools: Pools = { roots: createPool(roots), intermediates: createPool(intermediates) };
  const internalNodes = new Set<string>();
  const base = { pools, roots, intermediates, internalNodes, crls };
  for (const [i, cert] of [...roots, ...intermediates].entries()) {
    const chain = await uniqueChain(cert, pools);
    if (!chain.ok) throw new Error(`CA certificate ${i} is not valid: ${chain.reason}`);
    const issuer = chain.value[1];
    if (issuer !== undefined && (await revokedBy(crls, cert, issuer))) {
      throw new Error(`CA certificate ${i} is revoked`);
    }
    if (chain.value.length > 1 && intermediates.includes(cert)) {
      for (const parent of chain.value.slice(1)) internalNodes.add(parent.hex);
    }
  }
  const certifiers = async (ou: OuAnchor, field: string): Promise<string> => {
    if (ou.certificate === undefined) throw new Error(`${field}: certificate is required`);
    const der = decodeFirstPem(ou.certificate);
    const cert = der === undefined ? undefined : certOf(der);
    const root = roots.find((candidate) => candidate.hex === cert?.hex);
    if (root !== undefined) return chainIdentifier([root]);
    const intermediate = intermediates.find((candidate) => candidate.hex === cert?.hex);
    if (intermediate === undefined) {
      throw new Error(`${field}: the certificate is not one of the MSP's CAs`);
    }
    const chain = await validationChain(base, intermediate, true);
    if (!chain.ok) throw new Error(`${field}: ${chain.reason}`);
    return chainIdentifier(chain.value);
  };
  const ouIdentifiers = new Map<string, string[]>();
  for (const [i, ou] of (anchor.organizationalUnitIdentifiers ?? []).entries()) {
    const identifier = await certifiers(ou, `organizationalUnitIdentifiers[${i}]`);
    const list = ouIdentifiers.get(ou.organizationalUnitIdentifier) ?? [];
    if (!list.includes(identifier)) list.push(identifier);
    ouIdentifiers.set(ou.organizationalUnitIdentifier, list);
  }
  const nodeOus: Partial<Record<NodeOuRole, NodeOu>> = {};
  if (anchor.nodeOus?.enable === true) {
    for (const role of nodeOuRoles) {
      const ou = anchor.nodeOus[`${role}OuIdentifier`];
      if (ou === undefined || ou.organizationalUnitIdentifier.length === 0) continue;
      nodeOus[role] = {
        name: ou.organizationalUnitIdentifier,
        certifiers:
          ou.certificate === undefined ? undefined : await certifiers(ou, `nodeOus.${role}`),
      };
    }
  }
  return {
    ...base,
    ouIdentifiers,
    nodeOus,
    ouEnforcement: Object.keys(nodeOus).length > 0,
  };
}

const prepared = new WeakMap<MspAnchor, Promise<Parsed<PreparedMsp>>>();

function preparedOf(anchor: MspAnchor): Promise<Parsed<PreparedMsp>> {
  let outcome = prepared.get(anchor);
  if (outcome === undefined) {
    outcome = prepareMsp(anchor);
    prepared.set(anchor, outcome);
  }
  return outcome;
}

function roleOf(msp: PreparedMsp, cert: Cert): NodeOuRole | null {
  if (!msp.ouEnforcement) return null;
  for (const ou of cert.organizationalUnits) {
    for (const role of nodeOuRoles) if (msp.nodeOus[role]?.name === ou) return role;
  }
  return null;
}

/** Fabric's validateIdentity for MSP ≥ 1.4.3: the role, or why the identity is not valid. */
async function validateIdentity(
  msp: PreparedMsp,
  cert: Cert,
): Promise<Parsed<{ readonly role: NodeOuRole | null }>> {
  const role = roleOf(msp, cert);
  if (cert.isCa) {
    return {
      ok: false,
      reason: 'a certificate with Basic Constraint CA = true cannot be used as an identity',
    };
  }
  if (cert.key.kind !== 'ec' && cert.key.kind !== 'ec-other' && cert.key.kind !== 'ed25519') {
    return { ok: false, reason: `${cert.key.kind} identity keys are not supported` };
  }
  const chain = await validationChain(msp, cert, false);
  if (!chain.ok) {
    return { ok: false, reason: `could not obtain certification chain: ${chain.reason}` };
  }
  const issuer = chain.value[1];
  if (issuer !== undefined && (await revokedBy(msp.crls, cert, issuer))) {
    return { ok: false, reason: 'the certificate has been revoked by its CA (a CRL of the MSP)' };
  }
  const certifiersIdentifier = chainIdentifier(chain.value.slice(1));
  const ous = cert.organizationalUnits;
  if (msp.ouIdentifiers.size > 0) {
    const found = ous.some(
      (name) => msp.ouIdentifiers.get(name)?.includes(certifiersIdentifier) === true,
    );
    if (!found) {
      return {
        ok: false,
        reason: `none of the identity's organizational units [${ous.join(', ')}] are in the MSP`,
      };
    }
  }
  if (msp.ouEnforcement) {
    const byName = new Map<string, NodeOu>();
    for (const ou of Object.values(msp.nodeOus)) byName.set(ou.name, ou);
    let counter = 0;
    for (const name of ous) {
      const node = byName.get(name);
      if (node === undefined) continue;
      if (node.certifiers !== undefined && node.certifiers !== certifiersIdentifier) {
        return { ok: false, reason: `certifiersIdentifier does not match for OU ${name}` };
      }
      counter += 1;
      if (counter > 1) break;
    }
    if (counter !== 1) {
      return {
        ok: false,
        reason:
          counter === 0
            ? `the identity does not have an OU that resolves to client, peer, orderer or admin. OUs: [${ous.join(', ')}]`
            : `the identity must have exactly one NodeOU, not a combination of them. OUs: [${ous.join(', ')}]`,
      };
    }
  }
  return { ok: true, value: { role } };
}

// ---- root signatures -------------------------------------------------------------------------

/** Why `signature` is not the signer's over `message`, or undefined when it is. */
function rootSignatureProblem(
  key: PublicKeyOf,
  message: Uint8Array,
  signature: Uint8Array,
): string | undefined {
  switch (key.kind) {
    case 'ed25519':
      try {
        // RFC 8032 verification, as OpenSSL does (not ZIP 215's looser rules).
        return ed25519.verify(signature, message, key.raw, { zip215: false })
          ? undefined
          : 'the Ed25519 signature does not verify';
      } catch {
        return 'the Ed25519 signature does not verify';
      }
    case 'ec': {
      const { ecdsa } = curves[key.curve];
      let canonical: Uint8Array;
      try {
        const parsed = ecdsa.Signature.fromBytes(signature, 'der');
        if (parsed.hasHighS()) return 'the ECDSA signature has a high S (S must be below n/2)';
        canonical = parsed.toBytes('der');
      } catch {
        canonical = new Uint8Array(0);
      }
      // Only the one encoding nodes produce is valid: a signature cannot be re-encoded into
      // another valid receipt.
      if (!bytesEqual(canonical, signature)) {
        return 'the signature is not the canonical DER SEQUENCE{r, s} that nodes produce';
      }
      try {
        return ecdsa.verify(signature, sha256(message), key.point, {
          format: 'der',
          prehash: false,
          lowS: true,
        })
          ? undefined
          : 'the ECDSA signature does not verify';
      } catch {
        return 'the ECDSA signature does not verify';
      }
    }
    case 'ec-other':
      return 'the node key is on a curve Coffer does not sign with (P-256 or P-384)';
    default:
      return `${key.kind} keys cannot sign roots`;
  }
}

type SignerChecked = { readonly spkiHex: string; readonly role: NodeOuRole | null };

type Checked<T> = { readonly ok: true; readonly value: T } | Failure<ReceiptErrorCode>;

function failure(
  code: ReceiptErrorCode,
  message: string,
  field?: string,
): Failure<ReceiptErrorCode> {
  return field === undefined ? { ok: false, code, message } : { ok: false, code, message, field };
}

/** verifySignedRoot of src/ledger/receipt.ts: the signer is a peer of a trusted MSP and signed. */
async function verifySignedRoot(
  signedRoot: SignedRoot,
  anchors: TrustAnchors,
): Promise<Checked<SignerChecked>> {
  const { mspId } = signedRoot;
  const anchor = anchors.get(mspId);
  if (anchor === undefined) {
    return failure(
      'RECEIPT_E_SIGNER_UNKNOWN',
      `the root is signed by a node of MSP ${mspId}, which is not among the trusted MSPs [${[...anchors.keys()].join(', ')}]`,
    );
  }
  const msp = await preparedOf(anchor);
  if (!msp.ok) {
    return failure(
      'RECEIPT_E_SIGNER_INVALID',
      `the trusted definition of MSP ${mspId} cannot be used: ${msp.reason}`,
    );
  }
  const cert = parseCertPem(signedRoot.certPem);
  if (!cert.ok) {
    return failure(
      'RECEIPT_E_SIGNER_INVALID',
      `the node certificate is not an identity of MSP ${mspId}: ${cert.reason}`,
    );
  }
  const validation = await validateIdentity(msp.value, cert.value);
  if (!validation.ok) {
    return failure(
      'RECEIPT_E_SIGNER_INVALID',
      `the node certificate is not a valid identity of MSP ${mspId}: ${validation.reason}`,
    );
  }
  const { role } = validation.value;
  if (msp.value.ouEnforcement && role !== 'peer') {
    return failure(
      'RECEIPT_E_SIGNER_NOT_PEER',
      `the root is signed by ${role === null ? 'a role-less' : role === 'admin' || role === 'orderer' ? `an ${role}` : `a ${role}`} identity of MSP ${mspId}; only peers (ledger nodes) sign roots`,
    );
  }
  const problem = rootSignatureProblem(
    cert.value.key,
    rootSignatureMessage(signedRoot),
    fromBase64(signedRoot.signature),
  );
  if (problem !== undefined) {
    return failure(
      'RECEIPT_E_SIGNATURE_INVALID',
      `the signature over the root at tree size ${signedRoot.treeSize} is not node ${signedRoot.nodeId}'s: ${problem}`,
    );
  }
  return { ok: true, value: { spkiHex: cert.value.spkiHex, role } };
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

// ---- verification ----------------------------------------------------------------------------

/**
 * Verifies a receipt against the trusted organisations, in the node's order: shape; (1) the
 * entry is the proof's leaf and records the txId; (2) every signed root is for one tree size and
 * root, each from another node; (3) the inclusion proof leads to that root; for each signed
 * root, (4) the certificate is a valid identity (a peer, with NodeOUs) of its MSP and (5) the
 * signature verifies; (6) no key signs twice; (7) enough signers and organisations.
 */
export async function verifyReceiptInBrowser(
  receipt: unknown,
  anchors: TrustAnchors,
  options: VerifyInBrowserOptions = {},
): Promise<ReceiptVerification> {
  const minSignatures = options.minSignatures ?? 1;
  const minOrganisations = options.minOrganisations ?? 1;
  for (const [name, value] of [
    ['minSignatures', minSignatures],
    ['minOrganisations', minOrganisations],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1 || value > signedRootsMax) {
      throw new RangeError(`${name} must be an integer from 1 to ${signedRootsMax}, got ${value}`);
    }
  }

  // Certificate signatures go through WebCrypto, which browsers offer only to secure contexts
  // (HTTPS, localhost): without it every chain would fail and blame the receipt.
  if (typeof globalThis.crypto === 'undefined' || typeof globalThis.crypto.subtle === 'undefined') {
    throw new Error(
      'WebCrypto (crypto.subtle) is unavailable: open the console over HTTPS to verify receipts',
    );
  }
  let json = receipt;
  if (typeof receipt === 'string') {
    if (receipt.length > receiptTextCharsMax) {
      return failure(
        'RECEIPT_E_MALFORMED',
        `the receipt text is ${receipt.length} characters; a receipt is at most ${receiptTextCharsMax}`,
        'receipt',
      );
    }
    try {
      json = JSON.parse(receipt) as unknown;
    } catch (error) {
      return failure('RECEIPT_E_MALFORMED', `receipt is not JSON: ${messageOf(error)}`, 'receipt');
    }
  }
  let parsed: Receipt;
  try {
    parsed = parseReceipt(json);
  } catch (error) {
    if (error instanceof Malformed) {
      return failure('RECEIPT_E_MALFORMED', error.message, error.field);
    }
    throw error;
  }
  const { proof, signedRoots, entry } = parsed;
  const fieldOf = (i: number): string =>
    parsed.version === 1 ? 'receipt.signedRoot' : `receipt.signedRoots[${i}]`;

  // (1) The entry is the leaf, and records the transaction.
  const entryLeaf = bytesToHex(leafHash(entry));
  if (entryLeaf !== proof.leafHash) {
    return failure(
      'RECEIPT_E_ENTRY_MISMATCH',
      `the entry hashes to leaf ${entryLeaf}, but the proof starts from leaf ${proof.leafHash}`,
    );
  }
  const txIdOf = options.txIdOf === undefined ? cofferTxIdOf : options.txIdOf;
  if (txIdOf !== null) {
    let recorded: string | undefined;
    try {
      recorded = txIdOf(entry);
    } catch (error) {
      return failure(
        'RECEIPT_E_TXID_MISMATCH',
        `the entry does not decode to a transaction: ${messageOf(error)}`,
      );
    }
    if (recorded !== parsed.txId) {
      return failure(
        'RECEIPT_E_TXID_MISMATCH',
        `the receipt is for txId ${parsed.txId}, but its entry records ${String(recorded)}`,
      );
    }
  }

  // (2) One position, distinct nodes.
  const [first] = signedRoots;
  if (first === undefined) throw new Error('receipt: a parsed receipt has a signed root (a bug)');
  const seen = new Map<string, number>();
  for (const [i, signedRoot] of signedRoots.entries()) {
    if (signedRoot.treeSize !== first.treeSize || signedRoot.root !== first.root) {
      return failure(
        'RECEIPT_E_ROOTS_DISAGREE',
        `${fieldOf(i)} (node ${signedRoot.nodeId}) signs root ${signedRoot.root} at tree size ${signedRoot.treeSize}, but ${fieldOf(0)} (node ${first.nodeId}) signs root ${first.root} at tree size ${first.treeSize}`,
        fieldOf(i),
      );
    }
    const before = seen.get(signedRoot.nodeId);
    if (before !== undefined) {
      return failure(
        'RECEIPT_E_SIGNER_REPEATED',
        `${fieldOf(i)} and ${fieldOf(before)} are both signed as node ${signedRoot.nodeId}; a receipt counts each node once`,
        fieldOf(i),
      );
    }
    seen.set(signedRoot.nodeId, i);
  }

  // (3) The proof leads to the signed root, for the signed tree size.
  if (proof.treeSize !== first.treeSize) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `the proof is for a tree of ${proof.treeSize} leaves, but the root was signed at ${first.treeSize}`,
    );
  }
  if (proof.leafIndex >= proof.treeSize) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `leaf ${proof.leafIndex} is not in a tree of ${proof.treeSize} leaves`,
    );
  }
  const computed = rootFromInclusionProof(
    hexToBytes(proof.leafHash),
    proof.leafIndex,
    proof.treeSize,
    proof.hashes.map(hexToBytes),
  );
  if (computed === undefined) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `an inclusion proof of ${proof.hashes.length} hashes cannot prove leaf ${proof.leafIndex} in a tree of ${proof.treeSize} leaves`,
    );
  }
  if (bytesToHex(computed) !== first.root) {
    return failure(
      'RECEIPT_E_PROOF_INVALID',
      `the inclusion proof leads to root ${bytesToHex(computed)}, but the signed root is ${first.root}`,
    );
  }

  // (4), (5): each signer is a peer of a trusted organisation and signed this root; (6) each
  // signing key counts once, whatever node ID it signs under.
  const signers: VerifiedSigner[] = [];
  const keys = new Map<string, number>();
  for (const [i, signedRoot] of signedRoots.entries()) {
    const checked = await verifySignedRoot(signedRoot, anchors);
    if (!checked.ok) {
      return parsed.version === 1
        ? checked
        : failure(
            checked.code,
            `${fieldOf(i)} (node ${signedRoot.nodeId}): ${checked.message}`,
            fieldOf(i),
          );
    }
    const before = keys.get(checked.value.spkiHex);
    if (before !== undefined) {
      return failure(
        'RECEIPT_E_SIGNER_REPEATED',
        `${fieldOf(i)} (node ${signedRoot.nodeId}) and ${fieldOf(before)} (node ${signedRoots[before]?.nodeId ?? '?'}) are signed with the same key; a receipt counts each node once`,
        fieldOf(i),
      );
    }
    keys.set(checked.value.spkiHex, i);
    signers.push({
      nodeId: signedRoot.nodeId,
      mspId: signedRoot.mspId,
      signedAt: signedRoot.signedAt,
      role: checked.value.role,
    });
  }

  // (7) Enough nodes, of enough organisations.
  const organisations = [...new Set(signers.map((signer) => signer.mspId))].sort();
  if (signers.length < minSignatures || organisations.length < minOrganisations) {
    const wanted =
      signers.length < minSignatures
        ? `at least ${plural(minSignatures, 'node', 'nodes')}`
        : `nodes of at least ${plural(minOrganisations, 'organisation', 'organisations')}`;
    return failure(
      'RECEIPT_E_TOO_FEW_SIGNERS',
      `the root is signed by ${plural(signers.length, 'node', 'nodes')} of ${plural(organisations.length, 'organisation', 'organisations')} (${organisations.join(', ')}), but the page requires ${wanted}`,
    );
  }

  return {
    ok: true,
    verified: {
      version: parsed.version,
      txId: parsed.txId,
      seqno: parsed.seqno,
      treeSize: first.treeSize,
      root: first.root,
      signers,
      organisations,
      entry,
      txIdChecked: txIdOf !== null,
    },
  };
}

// ---- trust anchors from the consortium configuration ------------------------------------------

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function pemText(value: unknown, field: string): string {
  const pem = isObject(value) ? value['pem'] : value;
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN')) {
    throw new Malformed(field, 'must be PEM text');
  }
  if (pem.length > definitionPemCharsMax) {
    throw new Malformed(field, `is longer than ${definitionPemCharsMax} characters`);
  }
  return pem;
}

function pemList(value: unknown, field: string): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new Malformed(field, 'must be a list of PEM texts');
  if (value.length > definitionCertsMax) {
    throw new Malformed(field, `has more than ${definitionCertsMax} entries`);
  }
  return value.map((item: unknown, i) => pemText(item, `${field}[${i}]`));
}

function ouAnchor(value: unknown, field: string): OuAnchor {
  if (!isObject(value)) throw new Malformed(field, 'must be an object');
  const name = value['organizationalUnitIdentifier'];
  if (typeof name !== 'string') {
    throw new Malformed(`${field}.organizationalUnitIdentifier`, 'must be a string');
  }
  const certificate = value['certificate'];
  return certificate === undefined
    ? { organizationalUnitIdentifier: name }
    : {
        organizationalUnitIdentifier: name,
        certificate: pemText(certificate, `${field}.certificate`),
      };
}

/** parseMspDefinition of src/msp/definition.ts, keeping what verifying a signer needs. */
function mspAnchor(value: unknown, mspId: string, field: string): MspAnchor {
  if (!isObject(value)) throw new Malformed(field, 'must be an MSP definition object');
  if (value['mspId'] !== mspId) {
    throw new Malformed(`${field}.mspId`, `must be ${JSON.stringify(mspId)}, its key`);
  }
  const ous = value['organizationalUnitIdentifiers'] ?? [];
  if (!Array.isArray(ous))
    throw new Malformed(`${field}.organizationalUnitIdentifiers`, 'must be a list');
  const nodeOusJson = value['nodeOus'];
  let nodeOus: MspAnchor['nodeOus'];
  if (nodeOusJson !== undefined) {
    if (!isObject(nodeOusJson)) throw new Malformed(`${field}.nodeOus`, 'must be an object');
    const enable = nodeOusJson['enable'];
    if (typeof enable !== 'boolean') {
      throw new Malformed(`${field}.nodeOus.enable`, 'must be true or false');
    }
    const out: {
      -readonly [K in keyof NonNullable<MspAnchor['nodeOus']>]: NonNullable<
        MspAnchor['nodeOus']
      >[K];
    } = { enable };
    for (const role of nodeOuRoles) {
      const key = `${role}OuIdentifier` as const;
      if (nodeOusJson[key] !== undefined) {
        out[key] = ouAnchor(nodeOusJson[key], `${field}.nodeOus.${key}`);
      }
    }
    nodeOus = out;
  }
  return {
    rootCerts: pemList(value['rootCerts'], `${field}.rootCerts`),
    intermediateCerts: pemList(value['intermediateCerts'], `${field}.intermediateCerts`),
    revocationList: pemList(value['revocationList'], `${field}.revocationList`),
    organizationalUnitIdentifiers: ous.map((item: unknown, i) =>
      ouAnchor(item, `${field}.organizationalUnitIdentifiers[${i}]`),
    ),
    ...(nodeOus === undefined ? {} : { nodeOus }),
  };
}

/** The MSP definitions (keyed by MSP ID) in any of the shapes a node publishes them. */
function definitionsOf(json: unknown): { readonly definitions: Json; readonly field: string } {
  if (!isObject(json)) throw new Malformed('consortium', 'must be a JSON object');
  // GET /v1/state/public:gov.config/msps answers {map, key, value: canonical JSON text}.
  if (typeof json['value'] === 'string' && 'map' in json && 'key' in json) {
    if (json['map'] !== 'public:gov.config' || json['key'] !== 'msps') {
      throw new Malformed(
        'consortium',
        `is the value of ${String(json['map'])}/${String(json['key'])}; read public:gov.config/msps`,
      );
    }
    const value = json['value'];
    if (value.length > consortiumTextCharsMax) {
      throw new Malformed('msps', `is longer than ${consortiumTextCharsMax} characters`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw new Malformed('msps', `is not JSON: ${messageOf(error)}`);
    }
    if (!isObject(parsed)) throw new Malformed('msps', 'must be a JSON object');
    return { definitions: parsed, field: 'msps' };
  }
  // POST /v1/query {app: "gov", query: "config"} answers {result: configuration}.
  if (isObject(json['result'])) return definitionsOf(json['result']);
  if (isObject(json['msps']) && Array.isArray(json['members'])) {
    return { definitions: json['msps'], field: 'config.msps' };
  }
  return { definitions: json, field: 'msps' };
}

/**
 * Trust anchors from the consortium's MSP definitions as the ledger stores them (the
 * `public:gov.config` key `msps`, decision 0017): the state route's answer, the `gov` app's
 * `config` query, or the definitions keyed by MSP ID (PEMs as text or `{pem}`).
 */
export function trustAnchorsFromConsortium(
  json: unknown,
): { readonly ok: true; readonly anchors: TrustAnchors } | Failure<'MSP_E_DEFINITION_INVALID'> {
  try {
    const { definitions, field } = definitionsOf(json);
    const mspIds = Object.keys(definitions).sort();
    if (mspIds.length === 0) throw new Malformed(field, 'has no MSP definition');
    if (mspIds.length > consortiumMspsMax) {
      throw new Malformed(field, `has more than ${consortiumMspsMax} MSP definitions`);
    }
    const anchors = new Map<string, MspAnchor>();
    for (const mspId of mspIds) {
      anchors.set(mspId, mspAnchor(definitions[mspId], mspId, `${field}.${mspId}`));
    }
    return { ok: true, anchors };
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    return {
      ok: false,
      code: 'MSP_E_DEFINITION_INVALID',
      message: `MSP definition ${error.message}`,
      field: error.field,
    };
  }
}

// ---- ledger entries (src/node/engine.ts writes them as RFC 8785 JSON) ------------------------

/** A transaction entry: the signed envelope, its outcome and its public writes. */
export type TxLedgerEntry = {
  readonly kind: 'tx';
  readonly seqno: number;
  /** Null only when the envelope itself was unreadable. */
  readonly txId: string | null;
  readonly status: string;
  readonly code: string | undefined;
  readonly message: string | undefined;
  readonly result: unknown;
  /** Who signed the transaction (their Fabric identity ID). */
  readonly signer: { readonly mspId: string; readonly identityId: string } | undefined;
  readonly app: string | undefined;
  readonly action: string | undefined;
  /** The signed request the envelope carries, decoded (undefined when unreadable). */
  readonly request: unknown;
  /** Hex SHA-256 of the request bytes: a transaction's ID is this hash. */
  readonly requestHash: string | undefined;
  readonly publicWrites: readonly (readonly [map: string, key: string, value: string])[];
  /** Bytes of the encrypted private writes (what they hide stays hidden). */
  readonly privateWritesBytes: number;
  readonly json: Json;
};

/** A signature entry (marker): the tree the nodes signed, and when. */
export type SignatureLedgerEntry = {
  readonly kind: 'signature';
  readonly treeSize: number;
  readonly root: string;
  readonly time: number;
  readonly json: Json;
};

export type LedgerEntry =
  TxLedgerEntry | SignatureLedgerEntry | { readonly kind: 'other'; readonly json: unknown };

/** Nesting depth of JSON text outside strings; the offset where it passes the limit. */
function exceedsDepth(jsonText: string): number | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < jsonText.length; i += 1) {
    const c = jsonText.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i += 1;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > canonicalDepthMax) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth -= 1;
    }
  }
  return undefined;
}

/** Coffer's JCS profile (src/ledger/canonical.ts): safe integers, well-formed strings. */
function profileProblem(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value))
      return `${path} is a number outside ±(2^53 - 1) or a fraction`;
    return Object.is(value, -0) ? `${path} is negative zero` : undefined;
  }
  if (typeof value === 'string') {
    return hasLoneSurrogate(value) ? `${path} holds a lone UTF-16 surrogate` : undefined;
  }
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const problem = profileProblem(item, `${path}[${i}]`);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }
  if (isObject(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (hasLoneSurrogate(key)) return `${path} has a member name with a lone UTF-16 surrogate`;
      const problem = profileProblem(item, `${path}.${key}`);
      if (problem !== undefined) return problem;
    }
  }
  return undefined;
}

/** parseCanonical: bytes that are exactly the RFC 8785 form of the JSON they hold; throws. */
function parseCanonical(bytes: Uint8Array, bytesMax: number): unknown {
  if (bytes.byteLength > bytesMax)
    throw new Error(`it is ${bytes.byteLength} bytes; at most ${bytesMax}`);
  const jsonText = utf8Strict.decode(bytes);
  if (exceedsDepth(jsonText) !== undefined) {
    throw new Error(`it is nested deeper than ${canonicalDepthMax} levels`);
  }
  const value = JSON.parse(jsonText) as unknown;
  const problem = profileProblem(value, '$');
  if (problem !== undefined) throw new Error(problem);
  if (canonicalize(value) !== jsonText) throw new Error('it is not RFC 8785 canonical JSON');
  return value;
}

/**
 * The txId a Coffer transaction entry records (`txIdOfEntry` of src/cli/receipt.ts). Anything
 * else records no transaction and throws, which verification reports as RECEIPT_E_TXID_MISMATCH.
 */
export function cofferTxIdOf(entry: Uint8Array): string | undefined {
  const value = parseCanonical(entry, receiptEntryBytesMax);
  if (!isObject(value)) throw new Error('it is not a JSON object');
  const type = value['type'];
  if (type !== 'tx') {
    const what = typeof type === 'string' ? `a ${JSON.stringify(type)}` : 'an untyped';
    throw new Error(`it is ${what} entry, not a transaction entry (type "tx")`);
  }
  const txId = value['txId'];
  return typeof txId === 'string' ? txId : undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** The signed request of an entry's envelope ({request: base64 canonical JSON, ...}). */
function requestOf(envelope: unknown): { request: unknown; requestHash: string | undefined } {
  const encoded = isObject(envelope) ? envelope['request'] : undefined;
  if (typeof encoded !== 'string' || encoded.length % 4 !== 0 || !base64Pattern.test(encoded)) {
    return { request: undefined, requestHash: undefined };
  }
  const bytes = fromBase64(encoded);
  let request: unknown;
  try {
    request = JSON.parse(utf8Strict.decode(bytes)) as unknown;
  } catch {
    request = undefined;
  }
  return { request, requestHash: bytesToHex(sha256(bytes)) };
}

/** What a ledger entry says, for showing what a receipt proves. Never throws. */
export function decodeLedgerEntry(
  entry: Uint8Array,
):
  | { readonly ok: true; readonly entry: LedgerEntry }
  | { readonly ok: false; readonly message: string } {
  let value: unknown;
  try {
    value = parseCanonical(entry, receiptEntryBytesMax);
  } catch (error) {
    return { ok: false, message: `the entry is not canonical JSON: ${messageOf(error)}` };
  }
  if (!isObject(value)) return { ok: true, entry: { kind: 'other', json: value } };
  const type = value['type'];
  if (
    type === 'signature' &&
    typeof value['treeSize'] === 'number' &&
    typeof value['root'] === 'string' &&
    typeof value['time'] === 'number'
  ) {
    return {
      ok: true,
      entry: {
        kind: 'signature',
        treeSize: value['treeSize'],
        root: value['root'],
        time: value['time'],
        json: value,
      },
    };
  }
  const txId = value['txId'];
  const writes = value['writes'];
  if (
    type !== 'tx' ||
    typeof value['seqno'] !== 'number' ||
    (txId !== null && typeof txId !== 'string') ||
    typeof value['status'] !== 'string' ||
    !isObject(writes)
  ) {
    return { ok: true, entry: { kind: 'other', json: value } };
  }
  const signer = value['signer'];
  const publicWrites = Array.isArray(writes['public'])
    ? writes['public'].flatMap((write: unknown) =>
        Array.isArray(write) &&
        write.length === 3 &&
        write.every((part: unknown) => typeof part === 'string')
          ? [write as unknown as readonly [string, string, string]]
          : [],
      )
    : [];
  const privateWrites = writes['private'];
  return {
    ok: true,
    entry: {
      kind: 'tx',
      seqno: value['seqno'],
      txId,
      status: value['status'],
      code: optionalString(value['code']),
      message: optionalString(value['message']),
      result: value['result'],
      signer:
        isObject(signer) &&
        typeof signer['mspId'] === 'string' &&
        typeof signer['identityId'] === 'string'
          ? { mspId: signer['mspId'], identityId: signer['identityId'] }
          : undefined,
      app: optionalString(value['app']),
      action: optionalString(value['action']),
      ...requestOf(value['envelope']),
      publicWrites,
      privateWritesBytes:
        typeof privateWrites === 'string' && base64Pattern.test(privateWrites)
          ? Math.floor((privateWrites.replace(/=+$/, '').length * 3) / 4)
          : 0,
      json: value,
    },
  };
}
