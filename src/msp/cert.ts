// Parsed X.509 certificates and CRLs with the fields Fabric's MSP rules read. ASN.1 goes
// through @peculiar/asn1-x509 and asn1js; signatures are checked by node:crypto (OpenSSL).
import 'reflect-metadata';
import {
  createPublicKey,
  verify as nodeVerify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  CertificateList,
  ExtendedKeyUsage,
  Extension,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_nameConstraints,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
} from '@peculiar/asn1-x509';
import { cofferError, isCofferError } from '../errors/index.js';
import {
  curveOrder,
  decodeEcdsaSignature,
  ecCurveOf,
  encodeEcdsaSignature,
  sha256,
  toLowS,
} from '../crypto/index.js';
import { decodeFirstPem } from './pem.js';

const oidOrganizationalUnit = '2.5.4.11';
const oidCommonName = '2.5.4.3';
export const oidEkuAny = '2.5.29.37.0';
export const oidEkuServerAuth = '1.3.6.1.5.5.7.3.1';
export const oidEkuClientAuth = '1.3.6.1.5.5.7.3.2';

/** Signature algorithms Go's x509 refuses in chains (SHA-1 is insecure since Go 1.18). */
const insecureSignatureOids = new Set([
  '1.2.840.113549.1.1.5', // sha1WithRSAEncryption
  '1.2.840.10045.4.1', // ecdsa-with-SHA1
  '1.2.840.10040.4.3', // dsa-with-sha1
  '1.2.840.113549.1.1.4', // md5WithRSAEncryption
]);

const hashBySignatureOid: Readonly<Record<string, string | null>> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.3.101.112': null, // Ed25519 signs the message itself
};

/** Extensions Go's x509 understands; any other critical extension makes a leaf unverifiable. */
const handledExtensionOids = new Set([
  id_ce_keyUsage,
  id_ce_basicConstraints,
  id_ce_subjectAltName,
  id_ce_nameConstraints,
  '2.5.29.31', // CRL distribution points
  id_ce_authorityKeyIdentifier,
  id_ce_extKeyUsage,
  id_ce_subjectKeyIdentifier,
  '2.5.29.32', // certificate policies
  '1.3.6.1.5.5.7.1.1', // authority information access
  '2.5.29.33', // policy mappings (handled by Go since 1.22)
  '2.5.29.36', // policy constraints (idem)
  '2.5.29.54', // inhibit anyPolicy (idem)
]);

export type KeyType = 'ec' | 'ed25519' | 'rsa' | 'other';

/** A certificate as the MSP sees it; `der` is exactly what was parsed. */
export type ParsedCert = {
  readonly source: string;
  readonly der: Uint8Array;
  readonly hex: string;
  readonly subjectKey: string;
  readonly issuerKey: string;
  readonly serial: bigint;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly version: number;
  readonly basicConstraintsValid: boolean;
  readonly isCa: boolean;
  readonly maxPathLen: number | undefined;
  readonly keyUsageCertSign: boolean | undefined;
  readonly ski: Uint8Array | undefined;
  readonly skiProblem: string | undefined;
  readonly aki: Uint8Array | undefined;
  readonly organizationalUnits: readonly string[];
  readonly commonName: string | undefined;
  readonly dnsNames: readonly string[];
  readonly hasSan: boolean;
  /** Raw subjectAltName extension value, for Go's "already in chain" comparison. */
  readonly sanHex: string | undefined;
  /** SPKI DER of the public key, hex. */
  readonly spkiHex: string;
  readonly permittedDns: readonly string[];
  readonly excludedDns: readonly string[];
  readonly hasNameConstraints: boolean;
  readonly extKeyUsages: readonly string[];
  readonly unhandledCritical: readonly string[];
  readonly keyType: KeyType;
  readonly publicKey: KeyObject;
  readonly signatureOid: string;
  readonly isEcdsaSigned: boolean;
  readonly signatureInsecure: boolean;
  readonly signatureValue: Uint8Array;
  /** Raw DER of tbsCertificate and signatureAlgorithm, for re-encoding the signature. */
  readonly tbsRaw: Uint8Array;
  readonly algorithmRaw: Uint8Array;
  readonly node: X509Certificate;
};

function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function malformed(source: string, what: string, cause?: unknown): never {
  throw cofferError('MSP_E_CERT_MALFORMED', `${source}: ${what}`, { file: source }, cause);
}

/** Splits a signed ASN.1 object (certificate or CRL) into its three raw parts. */
function splitSigned(
  der: Uint8Array,
  source: string,
): { tbs: Uint8Array; algorithm: Uint8Array; signature: Uint8Array } {
  const decoded = asn1js.fromBER(der);
  if (decoded.offset === -1 || !(decoded.result instanceof asn1js.Sequence)) {
    malformed(source, 'not a DER SEQUENCE (truncated or corrupted)');
  }
  // Go's x509.ParseCertificate refuses trailing data; accepting it would give one key
  // several identity IDs (and so several votes in a policy).
  if (decoded.offset !== der.byteLength) {
    malformed(source, `${der.byteLength - decoded.offset} bytes of trailing data after the DER`);
  }
  const [tbs, algorithm, signature] = decoded.result.valueBlock.value;
  if (tbs === undefined || algorithm === undefined || !(signature instanceof asn1js.BitString)) {
    malformed(source, 'signed object does not have {tbs, algorithm, signature}');
  }
  return {
    tbs: new Uint8Array(tbs.valueBeforeDecodeView),
    algorithm: new Uint8Array(algorithm.valueBeforeDecodeView),
    signature: new Uint8Array(signature.valueBlock.valueHexView),
  };
}

function keyTypeOf(key: KeyObject): KeyType {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return 'ec';
    case 'ed25519':
      return 'ed25519';
    case 'rsa':
    case 'rsa-pss':
      return 'rsa';
    default:
      return 'other';
  }
}

function parseCertificateDerUnguarded(der: Uint8Array, source: string): ParsedCert {
  let cert: Certificate;
  let node: X509Certificate;
  try {
    cert = AsnConvert.parse(der, Certificate);
    node = new X509Certificate(der);
  } catch (cause) {
    malformed(source, 'not a valid X.509 certificate (truncated or corrupted DER)', cause);
  }
  const parts = splitSigned(der, source);
  const tbs = cert.tbsCertificate;
  let basicConstraintsValid = false;
  let isCa = false;
  let maxPathLen: number | undefined;
  let keyUsageCertSign: boolean | undefined;
  let ski: Uint8Array | undefined;
  let skiProblem: string | undefined = 'subjectKeyIdentifier not found in certificate';
  let aki: Uint8Array | undefined;
  let hasSan = false;
  let sanHex: string | undefined;
  const dnsNames: string[] = [];
  let hasNameConstraints = false;
  const permittedDns: string[] = [];
  const excludedDns: string[] = [];
  const extKeyUsages: string[] = [];
  const unhandledCritical: string[] = [];
  try {
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
          const ku = AsnConvert.parse(value, KeyUsage);
          keyUsageCertSign =
            ku.toNumber() === 0 ? undefined : (ku.toNumber() & KeyUsageFlags.keyCertSign) !== 0;
          break;
        }
        case id_ce_subjectKeyIdentifier:
          try {
            ski = new Uint8Array(AsnConvert.parse(value, SubjectKeyIdentifier).buffer);
            skiProblem = undefined;
          } catch {
            skiProblem = 'subjectKeyIdentifier extension is malformed';
          }
          break;
        case id_ce_authorityKeyIdentifier: {
          const parsed = AsnConvert.parse(value, AuthorityKeyIdentifier);
          if (parsed.keyIdentifier !== undefined) aki = new Uint8Array(parsed.keyIdentifier.buffer);
          break;
        }
        case id_ce_subjectAltName:
          hasSan = true;
          sanHex = Buffer.from(value).toString('hex');
          dnsNames.push(...sanDnsNames(value));
          break;
        case id_ce_nameConstraints: {
          hasNameConstraints = true;
          const nc = AsnConvert.parse(value, NameConstraints);
          for (const subtree of nc.permittedSubtrees === undefined
            ? []
            : [...nc.permittedSubtrees]) {
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
  } catch (cause) {
    malformed(source, 'certificate has a malformed extension', cause);
  }
  const organizationalUnits: string[] = [];
  let commonName: string | undefined;
  for (const rdn of tbs.subject) {
    for (const attribute of rdn) {
      if (attribute.type === oidOrganizationalUnit)
        organizationalUnits.push(attribute.value.toString());
      if (attribute.type === oidCommonName && commonName === undefined) {
        commonName = attribute.value.toString();
      }
    }
  }
  let publicKey: KeyObject;
  try {
    publicKey = node.publicKey;
  } catch {
    try {
      publicKey = createPublicKey({
        key: Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)),
        format: 'der',
        type: 'spki',
      });
    } catch (cause) {
      malformed(source, 'the certificate public key cannot be decoded', cause);
    }
  }
  const signatureOid = cert.signatureAlgorithm.algorithm;
  return {
    source,
    der,
    hex: toHex(der),
    subjectKey: toHex(new Uint8Array(AsnConvert.serialize(tbs.subject))),
    issuerKey: toHex(new Uint8Array(AsnConvert.serialize(tbs.issuer))),
    serial: BigInt(`0x${toHex(new Uint8Array(tbs.serialNumber)) || '0'}`),
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    version: tbs.version + 1,
    basicConstraintsValid,
    isCa,
    maxPathLen,
    keyUsageCertSign,
    ski,
    skiProblem,
    aki,
    organizationalUnits,
    commonName,
    dnsNames,
    hasSan,
    sanHex,
    spkiHex: Buffer.from(AsnConvert.serialize(tbs.subjectPublicKeyInfo)).toString('hex'),
    permittedDns,
    excludedDns,
    hasNameConstraints,
    extKeyUsages,
    unhandledCritical,
    keyType: keyTypeOf(publicKey),
    publicKey,
    signatureOid,
    isEcdsaSigned: signatureOid.startsWith('1.2.840.10045.4.'),
    signatureInsecure: insecureSignatureOids.has(signatureOid),
    signatureValue: parts.signature,
    tbsRaw: parts.tbs,
    algorithmRaw: parts.algorithm,
    node,
  };
}

/**
 * Parses a DER certificate. Whatever the input, the only error thrown is MSP_E_CERT_MALFORMED:
 * a library error on hostile bytes is bad input, not a crash.
 */
export function parseCertificateDer(der: Uint8Array, source: string): ParsedCert {
  try {
    return parseCertificateDerUnguarded(der, source);
  } catch (error) {
    if (isCofferError(error)) throw error;
    return malformed(source, 'the certificate cannot be decoded', error);
  }
}

function sanDnsNames(value: Uint8Array): string[] {
  return AsnConvert.parse(value, SubjectAlternativeName).flatMap((name) =>
    name.dNSName === undefined ? [] : [name.dNSName],
  );
}

/** Reads the first PEM block of `text` as a certificate (Fabric's getCertFromPem). */
export function parseCertificatePem(text: string, source: string): ParsedCert {
  const block = decodeFirstPem(text);
  if (block === undefined) malformed(source, 'no PEM block found');
  return parseCertificateDer(block.der, source);
}

/** True when `parent`'s key verifies `child`'s signature (Go CheckSignature, without usage). */
export function signatureVerifiedBy(child: ParsedCert, parent: ParsedCert): boolean {
  try {
    return child.node.verify(parent.publicKey);
  } catch {
    return false;
  }
}

/**
 * Fabric's sanitizeECDSASignedCert: re-encodes an ECDSA certificate signature as canonical
 * low-S DER SEQUENCE{r, s} (n taken from the issuer's curve). Returns the same cert if the
 * encoding is already canonical.
 */
export function normaliseEcdsaSignature(cert: ParsedCert, issuer: ParsedCert): ParsedCert {
  if (!cert.isEcdsaSigned) return cert;
  const curve = ecCurveOf(issuer.publicKey);
  const order = curve === undefined ? undefined : curveOrder(curve);
  if (order === undefined) return cert;
  const canonical = encodeEcdsaSignature(toLowS(decodeEcdsaSignature(cert.signatureValue), order));
  if (Buffer.from(canonical).equals(cert.signatureValue)) return cert;
  // Go keeps the raw TBS bytes; asn1js re-encodes parsed DER identically, asserted below.
  const rebuilt = new asn1js.Sequence({
    value: [
      asn1js.fromBER(cert.tbsRaw).result,
      asn1js.fromBER(cert.algorithmRaw).result,
      new asn1js.BitString({ valueHex: canonical }),
    ],
  });
  const normalised = parseCertificateDer(new Uint8Array(rebuilt.toBER()), cert.source);
  if (!Buffer.from(normalised.tbsRaw).equals(cert.tbsRaw)) {
    malformed(cert.source, 'the certificate body is not DER-encoded and cannot be normalised');
  }
  return normalised;
}

/** True when the ECDSA signature of the certificate is canonical DER (Fabric IsWellFormed). */
export function hasCanonicalSignature(cert: ParsedCert): boolean {
  if (!cert.isEcdsaSigned) return true;
  try {
    const signature = decodeEcdsaSignature(cert.signatureValue);
    return Buffer.from(encodeEcdsaSignature(signature)).equals(cert.signatureValue);
  } catch {
    return false;
  }
}

export type ParsedCrl = {
  readonly source: string;
  readonly pemText: string;
  readonly aki: Uint8Array | undefined;
  readonly revokedSerials: ReadonlySet<bigint>;
  readonly tbs: Uint8Array;
  readonly signatureOid: string;
  /** For ECDSA, already re-encoded as canonical SEQUENCE{r, s} (Fabric setupCRLs). */
  readonly signature: Uint8Array;
};

function parseCrlPemUnguarded(text: string, source: string): ParsedCrl {
  const block = decodeFirstPem(text);
  const der = block?.der ?? new Uint8Array(Buffer.from(text, 'latin1'));
  let crl: CertificateList;
  try {
    crl = AsnConvert.parse(der, CertificateList);
  } catch (cause) {
    throw cofferError(
      'MSP_E_CRL_INVALID',
      `${source}: could not parse the CRL (truncated or corrupted)`,
      { file: source },
      cause,
    );
  }
  const parts = splitSigned(der, source);
  let aki: Uint8Array | undefined;
  for (const ext of crl.tbsCertList.crlExtensions ?? []) {
    if (ext.extnID !== id_ce_authorityKeyIdentifier) continue;
    try {
      const parsed = AsnConvert.parse(new Uint8Array(ext.extnValue.buffer), AuthorityKeyIdentifier);
      if (parsed.keyIdentifier !== undefined) aki = new Uint8Array(parsed.keyIdentifier.buffer);
    } catch (cause) {
      throw cofferError(
        'MSP_E_CRL_INVALID',
        `${source}: the CRL Authority Key Identifier extension is malformed`,
        { file: source },
        cause,
      );
    }
  }
  const signatureOid = crl.signatureAlgorithm.algorithm;
  let signature = parts.signature;
  if (signatureOid.startsWith('1.2.840.10045.4.')) {
    try {
      signature = encodeEcdsaSignature(decodeEcdsaSignature(signature));
    } catch (cause) {
      throw cofferError(
        'MSP_E_CRL_INVALID',
        `${source}: the CRL signature is not an ECDSA signature`,
        { file: source },
        cause,
      );
    }
  }
  const revokedSerials = new Set<bigint>();
  for (const entry of crl.tbsCertList.revokedCertificates ?? []) {
    revokedSerials.add(BigInt(`0x${toHex(new Uint8Array(entry.userCertificate)) || '0'}`));
  }
  return {
    source,
    pemText: text,
    aki,
    revokedSerials,
    tbs: parts.tbs,
    signatureOid,
    signature,
  };
}

/** Parses a PEM (or DER) CRL; the only errors thrown are MSP_E_CRL_INVALID and MSP_E_CERT_MALFORMED. */
export function parseCrlPem(text: string, source: string): ParsedCrl {
  try {
    return parseCrlPemUnguarded(text, source);
  } catch (error) {
    if (isCofferError(error)) throw error;
    throw cofferError(
      'MSP_E_CRL_INVALID',
      `${source}: the CRL cannot be decoded`,
      { file: source },
      error,
    );
  }
}

/** Go's CheckCRLSignature: the issuer's key verifies the CRL's (re-encoded) signature. */
export function crlSignedBy(crl: ParsedCrl, issuer: ParsedCert): boolean {
  const hash = hashBySignatureOid[crl.signatureOid];
  if (hash === undefined) return false;
  try {
    return nodeVerify(hash, crl.tbs, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}

/** Fabric's identity ID: hex SHA-256 of the (normalised) certificate DER. */
export function certificateId(cert: ParsedCert): string {
  return toHex(sha256(cert.der));
}

export function bytesEqual(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Buffer.from(a).equals(b);
}
