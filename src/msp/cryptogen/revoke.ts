// Revocation for cryptogen material (cryptogen itself has none): the issuing CA of the
// organisation signs a CRL (RFC 5280 5) that Fabric MSPs accept — AKI = the CA's SKI, signed by
// the CA key (fabric msp/mspimplvalidate.go validateCertAgainstChain) — and every MSP folder of
// the organisation gets a copy in crls/.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, type webcrypto } from 'node:crypto';
import { join, resolve } from 'node:path';
import { cofferError, isCofferError, type CofferError } from '../../errors/index.js';
import {
  authorityKeyIdOf,
  createCrl,
  crlNumberOf,
  importSigningKey,
  pemDecode,
  subjectKeyIdOf,
  type CrlEntry,
} from './certificates.js';
import { fileMode, isDirectory, listDir, makeDir, readTextFile, writeFileAtomic } from './files.js';
import { crlEntriesMax, pemBytesMax } from './limits.js';
import type { RevokeOptions, RevokeResult } from './types.js';

const caDirs = ['ca', 'tlsca'] as const;
type CaDirName = (typeof caDirs)[number];
// Not .pem: Fabric's cryptogen extend parses every *.pem in ca/ as a certificate.
const crlFileName = 'crl.crl';
const certSuffix = '-cert.pem';
const localMspParents = ['peers', 'orderers', 'users'] as const;

type LoadedCa = {
  readonly dirName: CaDirName;
  readonly dir: string;
  /** cryptogen names the CA file `<common name>-cert.pem`; this is that name. */
  readonly name: string;
  readonly certificate: x509.X509Certificate;
  readonly ski: string;
};

/** Revokes a certificate issued by the identity CA or the TLS CA of an organisation folder. */
export async function revokeCertificate(options: RevokeOptions): Promise<RevokeResult> {
  const orgDir = resolve(options.orgDir);
  const now = options.now ?? new Date();
  const certificate = parseCertificate(options.certPem);
  const serial = certificate.serialNumber.toLowerCase();

  if (!(await read(() => isDirectory(orgDir), orgDir))) {
    throw revokeError(
      `${orgDir} is not a folder; pass an organisation folder such as peerOrganizations/org1.example.com`,
      orgDir,
    );
  }
  const cas: LoadedCa[] = [];
  for (const dirName of caDirs) {
    const ca = await loadCa(orgDir, dirName);
    if (ca !== undefined) cas.push(ca);
  }
  if (cas.length === 0) {
    throw revokeError(
      `${orgDir} has no CA: neither ca/ nor tlsca/ holds a *-cert.pem file`,
      orgDir,
    );
  }
  const issuer = await findIssuer(certificate, cas);
  if (issuer === undefined) {
    const aki = authorityKeyIdOf(certificate) ?? 'none';
    throw revokeError(
      `the certificate "${certificate.subject}" (serial ${serial}, authority key id ${aki}) was not issued by ${cas.map((ca) => `${ca.dirName}/${ca.name}${certSuffix}`).join(' or ')} in ${orgDir}`,
      orgDir,
    );
  }
  if (sameDer(certificate, issuer.certificate)) {
    throw revokeError(
      `the certificate is the CA ${issuer.name} itself; a CA cannot revoke itself — replace the organisation's material instead`,
      orgDir,
    );
  }
  const signingKey = await loadCaKey(issuer);

  const crlPath = join(issuer.dir, crlFileName);
  const previous = await loadCrl(crlPath, issuer);
  const alreadyRevoked = previous?.entries.some((entry) => entry.serialNumber === serial) ?? false;
  let crlPem: string;
  let crlNumber: bigint;
  let revokedCount: number;
  if (alreadyRevoked && previous !== undefined) {
    crlPem = previous.pem;
    crlNumber = previous.crlNumber;
    revokedCount = previous.entries.length;
  } else {
    const entries: CrlEntry[] = [
      ...(previous?.entries ?? []),
      { serialNumber: serial, revocationDate: now, extensions: [] },
    ];
    if (entries.length > crlEntriesMax) {
      throw revokeError(
        `the CRL of ${issuer.name} would hold ${entries.length} certificates; at most ${crlEntriesMax} are kept`,
        orgDir,
      );
    }
    crlNumber = (previous?.crlNumber ?? 0n) + 1n;
    const created = await createCrl({
      issuer: issuer.certificate,
      issuerSki: Buffer.from(issuer.ski, 'hex'),
      signingKey,
      entries,
      crlNumber,
      now,
    });
    crlPem = created.pem;
    revokedCount = entries.length;
    await write(() => writeFileAtomic(crlPath, crlPem, fileMode), crlPath);
  }

  // Copy even when nothing changed, so that MSP folders added since get the CRL too.
  const copiedTo: string[] = [];
  const copyName = `crl-${issuer.name}.pem`;
  for (const mspDir of await mspDirs(orgDir)) {
    const crlsDir = join(mspDir, 'crls');
    const target = join(crlsDir, copyName);
    await write(async () => {
      await makeDir(crlsDir);
      await writeFileAtomic(target, crlPem, fileMode);
    }, target);
    copiedTo.push(target);
  }
  return {
    serial,
    caDir: issuer.dirName,
    caName: issuer.name,
    crlNumber: crlNumber.toString(),
    revokedCount,
    alreadyRevoked,
    crlFile: crlPath,
    copiedTo,
  };
}

function parseCertificate(pem: string): x509.X509Certificate {
  const blocks = pemDecode(pem, 'CERTIFICATE');
  const der = blocks[0];
  if (blocks.length !== 1 || der === undefined) {
    throw cofferError(
      'CRYPTOGEN_E_CERT_MALFORMED',
      blocks.length === 0
        ? 'no PEM certificate (-----BEGIN CERTIFICATE-----) found in the input'
        : `the input holds ${blocks.length} certificates; pass exactly one`,
    );
  }
  try {
    return new x509.X509Certificate(der);
  } catch (error) {
    throw cofferError(
      'CRYPTOGEN_E_CERT_MALFORMED',
      `the PEM block is not an X.509 certificate: ${error instanceof Error ? error.message : String(error)}`,
      {},
      error,
    );
  }
}

async function loadCa(orgDir: string, dirName: CaDirName): Promise<LoadedCa | undefined> {
  const dir = join(orgDir, dirName);
  const certFiles = (await read(() => listDir(dir), dir)).filter((name) =>
    name.endsWith(certSuffix),
  );
  if (certFiles.length === 0) return undefined;
  const certFile = certFiles[0];
  if (certFiles.length > 1 || certFile === undefined) {
    throw revokeError(
      `${dir} holds ${certFiles.length} *-cert.pem files (${certFiles.join(', ')}); cryptogen writes one CA certificate per folder`,
      dir,
    );
  }
  const path = join(dir, certFile);
  const pem = await read(() => readTextFile(path, pemBytesMax), path);
  const der = pem === undefined ? undefined : pemDecode(pem, 'CERTIFICATE')[0];
  let certificate: x509.X509Certificate | undefined;
  try {
    certificate = der === undefined ? undefined : new x509.X509Certificate(der);
  } catch {
    certificate = undefined;
  }
  if (certificate === undefined) throw revokeError(`${path} is not a PEM certificate`, path);
  const ski = subjectKeyIdOf(certificate);
  if (ski === undefined) {
    throw revokeError(
      `${path} has no SubjectKeyIdentifier; it was not written by crypto generate`,
      path,
    );
  }
  return { dirName, dir, name: certFile.slice(0, -certSuffix.length), certificate, ski };
}

/** The CA whose SKI is the certificate's AKI and whose key verifies its signature. */
async function findIssuer(
  certificate: x509.X509Certificate,
  cas: readonly LoadedCa[],
): Promise<LoadedCa | undefined> {
  const aki = authorityKeyIdOf(certificate);
  for (const ca of cas) {
    if (sameDer(ca.certificate, certificate)) return ca;
    if (aki !== ca.ski) continue;
    let verified = false;
    try {
      verified = await certificate.verify({ publicKey: ca.certificate, signatureOnly: true });
    } catch {
      verified = false;
    }
    if (verified) return ca;
  }
  return undefined;
}

async function loadCaKey(ca: LoadedCa): Promise<webcrypto.CryptoKey> {
  const path = join(ca.dir, 'priv_sk');
  const pem = await read(() => readTextFile(path, pemBytesMax), path);
  if (pem === undefined) {
    throw revokeError(`${path} is missing; the CA's private key is needed to sign the CRL`, path);
  }
  const key = await importSigningKey(pem);
  if (key === undefined || !keyMatches(pem, ca.certificate)) {
    throw revokeError(
      `${path} is not the P-256 PKCS#8 private key of ${ca.dirName}/${ca.name}${certSuffix}`,
      path,
    );
  }
  return key;
}

function keyMatches(privateKeyPem: string, certificate: x509.X509Certificate): boolean {
  try {
    const publicKey = createPublicKey(createPrivateKey(privateKeyPem));
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    return Buffer.from(certificate.publicKey.rawData).equals(spki);
  } catch {
    return false;
  }
}

type LoadedCrl = {
  readonly pem: string;
  readonly entries: readonly CrlEntry[];
  readonly crlNumber: bigint;
};

/** The CA's current CRL, checked to be its own; undefined when nothing was revoked yet. */
async function loadCrl(path: string, ca: LoadedCa): Promise<LoadedCrl | undefined> {
  const pem = await read(() => readTextFile(path, pemBytesMax), path);
  if (pem === undefined) return undefined;
  const damaged = (why: string): CofferError =>
    revokeError(
      `${path} ${why}; restore it from a backup (deleting it would un-revoke every certificate it lists)`,
      path,
    );
  const der = pemDecode(pem, 'X509 CRL')[0];
  if (der === undefined) throw damaged('is not a PEM CRL');
  let crl: x509.X509Crl;
  try {
    crl = new x509.X509Crl(der);
  } catch {
    throw damaged('is not a valid CRL');
  }
  let signed = false;
  try {
    signed = await crl.verify({ publicKey: ca.certificate });
  } catch {
    signed = false;
  }
  if (!signed || authorityKeyIdOf(crl) !== ca.ski) throw damaged(`is not signed by ${ca.name}`);
  const crlNumber = crlNumberOf(crl);
  if (crlNumber === undefined) throw damaged('has no CRL number');
  const entries = crl.entries.map((entry) => ({
    serialNumber: entry.serialNumber.toLowerCase(),
    revocationDate: entry.revocationDate,
    extensions: entry.extensions,
  }));
  return { pem, entries, crlNumber };
}

/** The organisation's MSP folders: msp/, then peers|orderers|users/<name>/msp/. */
async function mspDirs(orgDir: string): Promise<string[]> {
  const dirs: string[] = [];
  const orgMsp = join(orgDir, 'msp');
  if (await read(() => isDirectory(orgMsp), orgMsp)) dirs.push(orgMsp);
  for (const parent of localMspParents) {
    const parentDir = join(orgDir, parent);
    for (const name of await read(() => listDir(parentDir), parentDir)) {
      const msp = join(parentDir, name, 'msp');
      if (await read(() => isDirectory(msp), msp)) dirs.push(msp);
    }
  }
  return dirs;
}

function sameDer(a: x509.X509Certificate, b: x509.X509Certificate): boolean {
  return Buffer.from(a.rawData).equals(Buffer.from(b.rawData));
}

function revokeError(message: string, path: string): CofferError {
  return cofferError('CRYPTOGEN_E_REVOKE', message, { path });
}

async function read<T>(operation: () => Promise<T>, path: string): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (isCofferError(error)) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw cofferError('CRYPTOGEN_E_REVOKE', `cannot read ${path}: ${reason}`, { path }, error);
  }
}

async function write(operation: () => Promise<void>, path: string): Promise<void> {
  try {
    await operation();
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw cofferError('CRYPTOGEN_E_OUTPUT', `cannot write ${path}: ${reason}`, { path }, error);
  }
}
