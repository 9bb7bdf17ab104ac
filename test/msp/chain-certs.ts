// In-memory P-256 certificate hierarchies for the chain tests: one builder with options for
// every field Go's x509.Verify (and so Fabric's MSP) reads, and a CRL builder.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import type { webcrypto } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints } from '@peculiar/asn1-x509';

x509.cryptoProvider.set(globalThis.crypto);

export { x509 };

export type KeyPair = webcrypto.CryptoKeyPair;
export type PrivateKey = webcrypto.CryptoKey;

export const ekuServerAuth = '1.3.6.1.5.5.7.3.1';
export const ekuClientAuth = '1.3.6.1.5.5.7.3.2';
export const ekuAny = '2.5.29.37.0';

/** Key usages of a CA made by fabric-ca / cryptogen. */
export const caKeyUsage: x509.KeyUsageFlags =
  x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign;
/** Key usage of an identity (leaf). */
export const leafKeyUsage = x509.KeyUsageFlags.digitalSignature;

/** A certificate with its key pair, as an issuer for further certificates. */
export type Issued = {
  /** The file name used in MSP definitions (`cacerts/<file>`), from the CN. */
  readonly file: string;
  readonly cert: x509.X509Certificate;
  readonly keys: KeyPair;
  readonly pem: string;
  readonly serial: string;
};

export type CertOptions = {
  readonly cn: string;
  /** Absent: self-signed with `keys`. */
  readonly issuer?: Issued;
  /** The subject's key pair; a new P-256 key when absent. */
  readonly keys?: KeyPair;
  /** Hex serial; a random one when absent. */
  readonly serial?: string;
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly isCa?: boolean;
  readonly pathLen?: number;
  /** KeyUsage flags (critical); `null` leaves the extension out. Default by `isCa`. */
  readonly keyUsage?: x509.KeyUsageFlags | null;
  /** Extended key usage OIDs; absent: no EKU extension. */
  readonly eku?: readonly string[];
  /** DNS subject alternative names; absent: no SAN extension. */
  readonly sans?: readonly string[];
  readonly nameConstraints?: {
    readonly permitted?: readonly string[];
    readonly excluded?: readonly string[];
  };
  readonly extensions?: readonly x509.Extension[];
  readonly hash?: 'SHA-256' | 'SHA-1';
};

export const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' } as const;
/** Default validity of every certificate: wide enough for any "now" the tests use. */
export const defaultNotBefore = new Date('2015-01-01T00:00:00Z');
export const defaultNotAfter = new Date('2045-01-01T00:00:00Z');

export async function newKeys(): Promise<KeyPair> {
  return globalThis.crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
}

function randomSerial(): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(12));
  bytes[0] = 0x40 | ((bytes[0] ?? 0) & 0x3f);
  return Buffer.from(bytes).toString('hex');
}

function fileOf(cn: string): string {
  return `${cn.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.pem`;
}

function subtrees(names: readonly string[] | undefined): GeneralSubtrees | undefined {
  if (names === undefined || names.length === 0) return undefined;
  return new GeneralSubtrees(
    names.map((name) => new GeneralSubtree({ base: new GeneralName({ dNSName: name }) })),
  );
}

/** A NameConstraints extension (critical, as RFC 5280 requires) over DNS names. */
export function nameConstraintsExtension(
  permitted?: readonly string[],
  excluded?: readonly string[],
) {
  const value = new NameConstraints({});
  const permittedSubtrees = subtrees(permitted);
  const excludedSubtrees = subtrees(excluded);
  if (permittedSubtrees !== undefined) value.permittedSubtrees = permittedSubtrees;
  if (excludedSubtrees !== undefined) value.excludedSubtrees = excludedSubtrees;
  return new x509.Extension('2.5.29.30', true, AsnConvert.serialize(value));
}

/** Builds one certificate: CA (with SKI) or leaf, signed by `issuer` or by itself. */
export async function makeCert(options: CertOptions): Promise<Issued> {
  const keys = options.keys ?? (await newKeys());
  const isCa = options.isCa ?? false;
  const serial = options.serial ?? randomSerial();
  const subject = `CN=${options.cn}`;
  const signer = options.issuer?.keys ?? keys;
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(isCa, isCa ? options.pathLen : undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  const keyUsage =
    options.keyUsage === undefined ? (isCa ? caKeyUsage : leafKeyUsage) : options.keyUsage;
  if (keyUsage !== null) {
    extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  }
  if (options.issuer !== undefined) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(signer.publicKey));
  }
  if (options.eku !== undefined) {
    extensions.push(new x509.ExtendedKeyUsageExtension([...options.eku], false));
  }
  if (options.sans !== undefined) {
    extensions.push(
      new x509.SubjectAlternativeNameExtension(
        options.sans.map((value) => ({ type: 'dns' as const, value })),
        false,
      ),
    );
  }
  if (options.nameConstraints !== undefined) {
    extensions.push(
      nameConstraintsExtension(options.nameConstraints.permitted, options.nameConstraints.excluded),
    );
  }
  extensions.push(...(options.extensions ?? []));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject,
    issuer: options.issuer?.cert.subject ?? subject,
    notBefore: options.notBefore ?? defaultNotBefore,
    notAfter: options.notAfter ?? defaultNotAfter,
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm: { name: 'ECDSA', hash: options.hash ?? 'SHA-256' },
    extensions,
  });
  return { file: fileOf(options.cn), cert, keys, pem: cert.toString('pem'), serial };
}

/** A self-signed root CA. */
export async function makeRoot(cn: string, options: Partial<CertOptions> = {}): Promise<Issued> {
  return makeCert({ ...options, cn, isCa: true });
}

/** An intermediate CA under `issuer`. */
export async function makeIntermediate(
  cn: string,
  issuer: Issued,
  options: Partial<CertOptions> = {},
): Promise<Issued> {
  return makeCert({ ...options, cn, issuer, isCa: true });
}

/** An identity (leaf) certificate under `issuer`. */
export async function makeLeaf(
  cn: string,
  issuer: Issued,
  options: Partial<CertOptions> = {},
): Promise<Issued> {
  return makeCert({ ...options, cn, issuer, isCa: false });
}

/**
 * A CRL naming `issuer` (issuer name and AKI = the issuer's SKI), listing `serials`, signed by
 * `signingKey` (the issuer's own key unless another is given, to forge one).
 */
export async function makeCrl(
  issuer: Issued,
  serials: readonly string[],
  signingKey: PrivateKey = issuer.keys.privateKey,
): Promise<string> {
  const ski = issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  if (ski === undefined) throw new Error(`${issuer.file} has no SKI`);
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.cert.subject,
    thisUpdate: new Date('2025-01-01T00:00:00Z'),
    nextUpdate: new Date('2044-01-01T00:00:00Z'),
    entries: serials.map((serialNumber) => ({
      serialNumber,
      revocationDate: new Date('2025-01-01T00:00:00Z'),
    })),
    extensions: [new x509.AuthorityKeyIdentifierExtension(ski)],
    signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return crl.toString('pem');
}
