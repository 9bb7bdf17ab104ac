// Certificates and CRLs of an MSP definition as people read them: subject, issuer, SHA-256
// fingerprint, validity, revoked serials. Parsed in the page with @peculiar/x509 (as the
// receipt verifier does); a PEM that does not parse is shown as such, never hidden.
import 'reflect-metadata';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { BasicConstraintsExtension, X509Certificate, X509Crl } from '@peculiar/x509';

/** Certificates whose notAfter is closer than this are flagged "expires soon". */
export const expiresSoonMs = 30 * 24 * 3600 * 1000;

export type CertInfo = {
  readonly kind: 'cert';
  readonly subject: string;
  readonly issuer: string;
  readonly serial: string;
  /** SHA-256 of the DER, upper-case hex pairs joined by ':' (as openssl prints it). */
  readonly fingerprint: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly isCa: boolean;
};

export type CrlInfo = {
  readonly kind: 'crl';
  readonly issuer: string;
  readonly thisUpdate: number;
  readonly nextUpdate?: number;
  readonly revoked: number;
  readonly fingerprint: string;
};

export type Unreadable = { readonly kind: 'unreadable'; readonly error: string };

export function fingerprintOf(der: Uint8Array): string {
  return bytesToHex(sha256(der)).toUpperCase().match(/../g)?.join(':') ?? '';
}

/** The first PEM block of a text (certificates files may hold a chain: the first counts). */
function firstPem(pem: string, label: string): string | undefined {
  const match = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`).exec(pem);
  return match?.[0];
}

export function certInfo(pem: string): CertInfo | Unreadable {
  const block = firstPem(pem, 'CERTIFICATE');
  if (block === undefined) return { kind: 'unreadable', error: 'no CERTIFICATE PEM block' };
  try {
    const cert = new X509Certificate(block);
    const constraints = cert.getExtension(BasicConstraintsExtension);
    return {
      kind: 'cert',
      subject: cert.subject,
      issuer: cert.issuer,
      serial: cert.serialNumber,
      fingerprint: fingerprintOf(new Uint8Array(cert.rawData)),
      notBefore: cert.notBefore.getTime(),
      notAfter: cert.notAfter.getTime(),
      isCa: constraints?.ca === true,
    };
  } catch (error) {
    return { kind: 'unreadable', error: `not a certificate: ${(error as Error).message}` };
  }
}

export function crlInfo(pem: string): CrlInfo | Unreadable {
  const block = firstPem(pem, 'X509 CRL');
  if (block === undefined) return { kind: 'unreadable', error: 'no X509 CRL PEM block' };
  try {
    const crl = new X509Crl(block);
    return {
      kind: 'crl',
      issuer: crl.issuer,
      thisUpdate: crl.thisUpdate.getTime(),
      ...(crl.nextUpdate === undefined ? {} : { nextUpdate: crl.nextUpdate.getTime() }),
      revoked: crl.entries.length,
      fingerprint: fingerprintOf(new Uint8Array(crl.rawData)),
    };
  } catch (error) {
    return { kind: 'unreadable', error: `not a CRL: ${(error as Error).message}` };
  }
}

export type Validity = { readonly word: string; readonly tone: 'ok' | 'bad' | 'wait' };

/** A certificate's validity at `now`, as a word and a tone. */
export function certValidity(info: CertInfo, now: number): Validity {
  if (now < info.notBefore) return { word: 'not yet valid', tone: 'bad' };
  if (now > info.notAfter) return { word: 'expired', tone: 'bad' };
  if (info.notAfter - now < expiresSoonMs) return { word: 'expires soon', tone: 'wait' };
  return { word: 'valid', tone: 'ok' };
}

/** A CRL is due for replacement once its nextUpdate has passed. */
export function crlFreshness(info: CrlInfo, now: number): Validity {
  if (info.nextUpdate === undefined) return { word: 'no next update', tone: 'wait' };
  if (now > info.nextUpdate) return { word: 'next update passed', tone: 'bad' };
  return { word: 'current', tone: 'ok' };
}

/** "CN=ca.org1.example.com, O=org1.example.com, …" → "ca.org1.example.com" (or the whole). */
export function commonName(distinguished: string): string {
  const match = /(?:^|,\s*)CN=((?:\\,|[^,])+)/.exec(distinguished);
  return match?.[1]?.trim() ?? distinguished;
}
