// Keys, certificates and CRLs as cryptogen makes them (fabric internal/cryptogen/ca and csp):
// ECDSA P-256 with SHA-256, low-S signatures, Go's subject order and extension order. No file
// IO here; the clock is the caller's `now`, randomness is WebCrypto's.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import type { CaSubject } from './types.js';
import { certBackdateMinutes, certValidityDays, crlValidityDays } from './limits.js';

x509.cryptoProvider.set(globalThis.crypto);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' } as const;
const dayMs = 86_400_000;
const minuteMs = 60_000;
const oidCrlNumber = '2.5.29.20';
const oidStreetAddress = '2.5.4.9';
const oidPostalCode = '2.5.4.17';
/** Order n of P-256 (SEC 2, 2.4.2). */
const p256Order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const p256CoordinateBytes = 32;

type Crypto = webcrypto.Crypto;
type CryptoKey = webcrypto.CryptoKey;

export type KeyPair = {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** SHA-256 of the uncompressed public point, as cryptogen's computeSKI. */
  readonly ski: Uint8Array;
  /** PKCS#8 PEM of the private key (cryptogen's priv_sk). */
  readonly privateKeyPem: string;
};

export type CaMaterial = {
  readonly keys: KeyPair;
  readonly certificate: x509.X509Certificate;
  readonly certificatePem: string;
  readonly subject: CaSubject;
};

export type LeafMaterial = {
  readonly keys: KeyPair;
  readonly certificate: x509.X509Certificate;
  readonly certificatePem: string;
};

export type LeafKind = 'sign' | 'tls';

// Fabric normalises every ECDSA signature to low S, and cryptogen signs certificates that way
// (internal/cryptogen/csp ECDSASigner). WebCrypto does not, so sign() is wrapped.
const lowSCrypto: Crypto = withLowSSignatures(globalThis.crypto);

export async function generateKeyPair(crypto: Crypto = globalThis.crypto): Promise<KeyPair> {
  const pair = await crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
  const point = new Uint8Array(await crypto.subtle.exportKey('raw', pair.publicKey));
  const ski = new Uint8Array(await crypto.subtle.digest('SHA-256', point));
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
  return {
    privateKey: pair.privateKey,
    publicKey: pair.publicKey,
    ski,
    privateKeyPem: pemEncode('PRIVATE KEY', pkcs8),
  };
}

/** A self-signed CA as cryptogen's NewCA: O = the domain, CN = the CA name. */
export async function createCa(params: {
  readonly commonName: string;
  readonly organization: string;
  readonly subject: CaSubject;
  readonly now: Date;
}): Promise<CaMaterial> {
  const keys = await generateKeyPair();
  const name = subjectName(params.subject, [params.organization], [], params.commonName);
  const { notBefore, notAfter } = validity(params.now);
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: name,
      issuer: name,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm,
      extensions: [
        new x509.KeyUsagesExtension(
          x509.KeyUsageFlags.digitalSignature |
            x509.KeyUsageFlags.keyEncipherment |
            x509.KeyUsageFlags.keyCertSign |
            x509.KeyUsageFlags.cRLSign,
          true,
        ),
        new x509.ExtendedKeyUsageExtension(
          [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
          false,
        ),
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.SubjectKeyIdentifierExtension(hex(keys.ski), false),
      ],
    },
    lowSCrypto,
  );
  return {
    keys,
    certificate,
    certificatePem: pemEncode('CERTIFICATE', certificate.rawData),
    subject: params.subject,
  };
}

/**
 * A leaf certificate as cryptogen's SignCertificate: the CA's subject fields without O, the
 * NodeOU appended to the OUs, AKI = the CA's SKI. `sign` certificates carry digitalSignature
 * only (GenerateLocalMSP); `tls` ones add keyEncipherment, server+client auth and the SANs.
 */
export async function issueLeaf(
  ca: CaMaterial,
  params: {
    readonly kind: LeafKind;
    readonly commonName: string;
    readonly nodeOus: readonly string[];
    readonly sans: readonly string[];
    readonly now: Date;
  },
): Promise<LeafMaterial> {
  const keys = await generateKeyPair();
  const ous = [...optionalList(ca.subject.organizationalUnit), ...params.nodeOus];
  const name = subjectName(ca.subject, [], ous, params.commonName);
  const { notBefore, notAfter } = validity(params.now);
  const extensions: x509.Extension[] = [];
  if (params.kind === 'sign') {
    extensions.push(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
  } else {
    extensions.push(
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(
        [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth],
        false,
      ),
    );
  }
  extensions.push(
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.AuthorityKeyIdentifierExtension(hex(ca.keys.ski), false),
  );
  if (params.kind === 'tls' && params.sans.length > 0) {
    extensions.push(new x509.SubjectAlternativeNameExtension(generalNames(params.sans), false));
  }
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerialHex(),
      subject: name,
      issuer: ca.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: ca.keys.privateKey,
      signingAlgorithm,
      extensions,
    },
    lowSCrypto,
  );
  return { keys, certificate, certificatePem: pemEncode('CERTIFICATE', certificate.rawData) };
}

export type CrlEntry = {
  /** Hex serial number, as X509Certificate.serialNumber. */
  readonly serialNumber: string;
  readonly revocationDate: Date;
  readonly extensions: readonly x509.Extension[];
};

/** A v2 CRL with the extensions Fabric needs: AKI = the CA's SKI, and a CRL number. */
export async function createCrl(params: {
  readonly issuer: x509.X509Certificate;
  readonly issuerSki: Uint8Array;
  readonly signingKey: CryptoKey;
  readonly entries: readonly CrlEntry[];
  readonly crlNumber: bigint;
  readonly now: Date;
}): Promise<{ readonly crl: x509.X509Crl; readonly pem: string }> {
  const crl = await x509.X509CrlGenerator.create(
    {
      issuer: params.issuer.subjectName,
      thisUpdate: params.now,
      nextUpdate: new Date(params.now.getTime() + crlValidityDays * dayMs),
      signingAlgorithm,
      signingKey: params.signingKey,
      extensions: [
        new x509.AuthorityKeyIdentifierExtension(hex(params.issuerSki), false),
        new x509.Extension(oidCrlNumber, false, derInteger(params.crlNumber)),
      ],
      entries: params.entries.map((entry) => ({
        serialNumber: entry.serialNumber,
        revocationDate: entry.revocationDate,
        extensions: [...entry.extensions],
      })),
    },
    lowSCrypto,
  );
  return { crl, pem: pemEncode('X509 CRL', crl.rawData) };
}

/** The CRL number of a CRL (RFC 5280 5.2.3), or undefined when it has none. */
export function crlNumberOf(crl: x509.X509Crl): bigint | undefined {
  const extension = crl.getExtension(oidCrlNumber);
  if (extension === null) return undefined;
  return parseDerInteger(new Uint8Array(extension.value));
}

/** Key identifier of an AKI or SKI extension, lower-case hex, or undefined when absent. */
export function authorityKeyIdOf(
  certificate: x509.X509Certificate | x509.X509Crl,
): string | undefined {
  const extension = certificate.getExtension(x509.AuthorityKeyIdentifierExtension);
  return extension?.keyId?.toLowerCase();
}

export function subjectKeyIdOf(certificate: x509.X509Certificate): string | undefined {
  return certificate.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId.toLowerCase();
}

/** Imports a PKCS#8 PEM P-256 key for signing; undefined when it is not one. */
export async function importSigningKey(pem: string): Promise<CryptoKey | undefined> {
  const blocks = pemDecode(pem, 'PRIVATE KEY');
  const der = blocks[0];
  if (blocks.length !== 1 || der === undefined) return undefined;
  try {
    return await globalThis.crypto.subtle.importKey('pkcs8', der, keyAlgorithm, false, ['sign']);
  } catch {
    return undefined;
  }
}

// --- encoding helpers ------------------------------------------------------------------------

export function pemEncode(label: string, der: ArrayBuffer | Uint8Array): string {
  const base64 = Buffer.from(der instanceof Uint8Array ? der : new Uint8Array(der)).toString(
    'base64',
  );
  const lines = base64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** DER bodies of every PEM block with this label, in order. */
export function pemDecode(text: string, label: string): Uint8Array[] {
  const pattern = new RegExp(
    `-----BEGIN ${label}-----\\r?\\n([A-Za-z0-9+/=\\r\\n]*?)-----END ${label}-----`,
    'g',
  );
  return [...text.matchAll(pattern)].map(
    (match) => new Uint8Array(Buffer.from((match[1] ?? '').replace(/\s+/g, ''), 'base64')),
  );
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function randomSerialHex(): string {
  // RFC 5280 4.1.2.2 and cryptogen: a random positive serial below 2^128.
  return hex(globalThis.crypto.getRandomValues(new Uint8Array(16)));
}

/** cryptogen: notBefore = now rounded to the minute, minus 5 minutes; valid about 10 years. */
function validity(now: Date): { notBefore: Date; notAfter: Date } {
  const rounded = Math.round(now.getTime() / minuteMs) * minuteMs;
  const notBefore = new Date(rounded - certBackdateMinutes * minuteMs);
  return { notBefore, notAfter: new Date(notBefore.getTime() + certValidityDays * dayMs) };
}

/**
 * A subject in Go's pkix.Name order (C, ST, L, street, postal code, O, OU, CN), each attribute
 * with several values as one multi-valued RDN, PrintableString when the value allows it.
 */
function subjectName(
  subject: CaSubject,
  organizations: readonly string[],
  organizationalUnits: readonly string[],
  commonName: string,
): x509.Name {
  const rdns: x509.JsonNameParams = [];
  const add = (type: string, values: readonly string[]): void => {
    if (values.length > 0) rdns.push({ [type]: values.map(directoryString) });
  };
  add('C', [subject.country]);
  add('ST', [subject.province]);
  add('L', [subject.locality]);
  add(oidStreetAddress, optionalList(subject.streetAddress));
  add(oidPostalCode, optionalList(subject.postalCode));
  add('O', organizations);
  add('OU', organizationalUnits);
  add('CN', [commonName]);
  return new x509.Name(rdns);
}

// Go's asn1 marshals a string as PrintableString when every byte allows it (with '*'), else UTF8.
function directoryString(value: string): x509.JsonAttributeObject {
  return /^[A-Za-z0-9 '()+,\-./:=?*]*$/.test(value)
    ? { printableString: value }
    : { utf8String: value };
}

/** Go's marshalSANs writes DNS names first, then IP addresses; IPv4-mapped IPv6 as IPv4. */
function generalNames(sans: readonly string[]): x509.JsonGeneralNames {
  const dns: x509.JsonGeneralName[] = [];
  const ips: x509.JsonGeneralName[] = [];
  for (const san of sans) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(san)?.[1];
    if (mapped !== undefined && isIP(mapped) === 4) ips.push({ type: 'ip', value: mapped });
    else if (isIP(san) !== 0) ips.push({ type: 'ip', value: san });
    else dns.push({ type: 'dns', value: san });
  }
  return [...dns, ...ips];
}

function optionalList(value: string | undefined): string[] {
  return value === undefined ? [] : [value];
}

function derInteger(value: bigint): Uint8Array {
  if (value < 0n) throw new Error('derInteger: negative values are not used here');
  let digits = value.toString(16);
  if (digits.length % 2 === 1) digits = `0${digits}`;
  let body = Buffer.from(digits, 'hex');
  if ((body[0] ?? 0) & 0x80) body = Buffer.concat([Buffer.from([0]), body]);
  if (body.length > 127) throw new Error('derInteger: value too large');
  return new Uint8Array([0x02, body.length, ...body]);
}

function parseDerInteger(der: Uint8Array): bigint | undefined {
  const length = der[1];
  if (der[0] !== 0x02 || length === undefined || length === 0 || length > 20) return undefined;
  if (der.length !== 2 + length) return undefined;
  const body = der.subarray(2);
  if (((body[0] ?? 0) & 0x80) !== 0) return undefined;
  return BigInt(`0x${hex(body)}`);
}

function withLowSSignatures(base: Crypto): Crypto {
  const subtle = new Proxy(base.subtle, {
    get(target, property) {
      if (property === 'sign') {
        return async (
          algorithm: webcrypto.AlgorithmIdentifier | webcrypto.EcdsaParams,
          key: CryptoKey,
          data: webcrypto.BufferSource,
        ): Promise<ArrayBuffer> => toLowS(key, await target.sign(algorithm, key, data));
      }
      const value: unknown = Reflect.get(target, property, target);
      // SubtleCrypto methods check their receiver, so they must be called on the real object.
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
  return new Proxy(base, {
    get(target, property) {
      if (property === 'subtle') return subtle;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
  });
}

/** WebCrypto ECDSA signatures are r || s (IEEE P1363); replace s by n - s when s > n/2. */
function toLowS(key: CryptoKey, signature: ArrayBuffer): ArrayBuffer {
  const algorithm = key.algorithm as webcrypto.EcKeyAlgorithm;
  if (algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') return signature;
  const bytes = new Uint8Array(signature);
  if (bytes.length !== 2 * p256CoordinateBytes) {
    throw new Error(`P-256 signature of ${bytes.length} bytes, expected 64`);
  }
  const s = BigInt(`0x${hex(bytes.subarray(p256CoordinateBytes))}`);
  if (s <= p256Order / 2n) return signature;
  const lowS = (p256Order - s).toString(16).padStart(2 * p256CoordinateBytes, '0');
  const result = new Uint8Array(bytes);
  result.set(Buffer.from(lowS, 'hex'), p256CoordinateBytes);
  return result.buffer;
}
