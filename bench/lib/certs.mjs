// Test PKI for the benchmarks: P-256 CAs and many distinct leaf certificates, shaped like
// Fabric's (cryptogen / fabric-ca: ECDSA-SHA256, low-S signatures, SKI on CAs, AKI, critical
// key usage and basic constraints on leaves).
//
// @peculiar/x509 builds one template per certificate kind (about 7 ms a certificate on this
// machine, too slow for thousands). Each leaf is then the template's TBS with its serial
// number patched in place (same length, so the DER stays valid) and signed again by the
// issuer with node:crypto: a genuine, distinct certificate for a fraction of a millisecond.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { Buffer } from 'node:buffer';
import { createPrivateKey, randomBytes, sign } from 'node:crypto';

x509.cryptoProvider.set(globalThis.crypto);

const keyAlgorithm = { name: 'ECDSA', namedCurve: 'P-256' };
const signingAlgorithm = { name: 'ECDSA', hash: 'SHA-256' };
const p256Order = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const p256Bytes = 32;
const dayMs = 86_400_000;
const serialBytes = 16;
/** Serial bytes a leaf factory rewrites with its counter. */
const counterBytes = 6;

function pem(type, der) {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join('\n')}\n-----END ${type}-----\n`;
}

function derLength(length) {
  if (length < 0x80) return Buffer.of(length);
  const bytes = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function tlv(tag, content) {
  return Buffer.concat([Buffer.of(tag), derLength(content.length), content]);
}

function derInteger(unsigned) {
  let start = 0;
  while (start < unsigned.length - 1 && unsigned[start] === 0) start += 1;
  const body = unsigned.subarray(start);
  return tlv(0x02, (body[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.of(0), body]) : body);
}

/** The element at `offset`: where its content starts and where it ends. */
function element(der, offset) {
  const first = der[offset + 1];
  if (first < 0x80) return { contentStart: offset + 2, end: offset + 2 + first };
  const count = first & 0x7f;
  let length = 0;
  for (let i = 0; i < count; i += 1) length = length * 256 + der[offset + 2 + i];
  const contentStart = offset + 2 + count;
  return { contentStart, end: contentStart + length };
}

/** Splits Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }. */
function splitCertificate(der) {
  const bytes = Buffer.from(der);
  const outer = element(bytes, 0);
  const tbs = element(bytes, outer.contentStart);
  const algorithm = element(bytes, tbs.end);
  return {
    tbs: bytes.subarray(outer.contentStart, tbs.end),
    algorithm: bytes.subarray(tbs.end, algorithm.end),
  };
}

/** ECDSA-SHA256 over `tbs`, low-S as Fabric's signers produce, as a complete certificate. */
function signCertificate(tbs, algorithm, privateKey) {
  const raw = sign('sha256', tbs, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const r = raw.subarray(0, p256Bytes);
  let s = BigInt(`0x${raw.subarray(p256Bytes).toString('hex')}`);
  if (s > p256Order >> 1n) s = p256Order - s;
  const sBytes = Buffer.from(s.toString(16).padStart(p256Bytes * 2, '0'), 'hex');
  const signature = tlv(0x30, Buffer.concat([derInteger(r), derInteger(sBytes)]));
  const bitString = tlv(0x03, Buffer.concat([Buffer.of(0), signature]));
  return tlv(0x30, Buffer.concat([tbs, algorithm, bitString]));
}

function randomSerial() {
  const serial = randomBytes(serialBytes);
  serial[0] = 0x40 | (serial[0] & 0x3f); // positive, no leading zero, full length
  return serial;
}

/** A P-256 key pair usable by WebCrypto (templates) and node:crypto (fast signing). */
export async function newKeys() {
  const pair = await globalThis.crypto.subtle.generateKey(keyAlgorithm, true, ['sign', 'verify']);
  const pkcs8 = Buffer.from(await globalThis.crypto.subtle.exportKey('pkcs8', pair.privateKey));
  return {
    webKeys: pair,
    privateKey: createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }),
    privateKeyPem: pem('PRIVATE KEY', pkcs8),
  };
}

async function template(params, issuerKeys, serial) {
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial.toString('hex'),
    signingKey: issuerKeys.webKeys.privateKey,
    signingAlgorithm,
    ...params,
  });
  return certificate;
}

/**
 * A CA certificate: self-signed root when `issuer` is undefined, else an intermediate.
 * Valid from two days before `now` for two years.
 */
export async function createAuthority({ name, now, issuer }) {
  const keys = await newKeys();
  const signer = issuer?.keys ?? keys;
  const extensions = [
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature |
        x509.KeyUsageFlags.keyCertSign |
        x509.KeyUsageFlags.cRLSign,
      true,
    ),
    new x509.BasicConstraintsExtension(true, undefined, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.webKeys.publicKey),
  ];
  if (issuer !== undefined) {
    extensions.push(await x509.AuthorityKeyIdentifierExtension.create(signer.webKeys.publicKey));
  }
  const draft = await template(
    {
      subject: name,
      issuer: issuer?.certificate.subjectName ?? name,
      notBefore: new Date(now.getTime() - 2 * dayMs),
      notAfter: new Date(now.getTime() + 2 * 365 * dayMs),
      publicKey: keys.webKeys.publicKey,
      extensions,
    },
    signer,
    randomSerial(),
  );
  const { tbs, algorithm } = splitCertificate(draft.rawData);
  const der = signCertificate(tbs, algorithm, signer.privateKey);
  return { keys, certificate: new x509.X509Certificate(der), pem: pem('CERTIFICATE', der) };
}

/**
 * Issues distinct leaf certificates under `issuer`, all for one subject and one key (the
 * key does not matter to validation; the certificate, its serial and signature do). Valid
 * from one day before `now` for a year. `issue()` returns the PEM of a new certificate.
 */
export async function createLeafFactory(issuer, { name, now }) {
  const keys = await newKeys();
  const serial = randomSerial();
  const draft = await template(
    {
      subject: name,
      issuer: issuer.certificate.subjectName,
      notBefore: new Date(now.getTime() - dayMs),
      notAfter: new Date(now.getTime() + 365 * dayMs),
      publicKey: keys.webKeys.publicKey,
      extensions: [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.BasicConstraintsExtension(false, undefined, true),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.webKeys.publicKey),
      ],
    },
    issuer.keys,
    serial,
  );
  const { tbs, algorithm } = splitCertificate(draft.rawData);
  const at = tbs.indexOf(serial);
  if (at < 0 || tbs.indexOf(serial, at + 1) >= 0) throw new Error('serial not found once in TBS');
  const counterAt = at + serialBytes - counterBytes;
  let counter = 0;
  return {
    keys,
    issue() {
      counter += 1;
      const copy = Buffer.from(tbs);
      copy.writeUIntBE(counter, counterAt, counterBytes);
      return pem('CERTIFICATE', signCertificate(copy, algorithm, issuer.keys.privateKey));
    },
  };
}
