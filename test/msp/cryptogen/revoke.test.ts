import { describe, it, expect, beforeAll, afterAll, beforeEach, afterEach } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cp, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isCofferError, type ErrorCode } from '../../../src/errors/index.js';
import { generateCryptoMaterial, revokeCertificate } from '../../../src/msp/cryptogen/index.js';
import {
  akiOf,
  isLowS,
  listTree,
  makeTempDir,
  opensslVerify,
  readCert,
  removeTempDir,
  skiOf,
  x509,
} from './helpers.js';

const config = `
PeerOrgs:
  - Domain: org1.example.com
    EnableNodeOUs: true
    Template:
      Count: 1
    Users:
      Count: 1
  - Domain: org2.example.com
    Template:
      Count: 1
OrdererOrgs:
  - Domain: example.com
    Specs:
      - Hostname: orderer
`;

const org1 = 'peerOrganizations/org1.example.com';
const user1Sign = 'users/User1@org1.example.com/msp/signcerts/User1@org1.example.com-cert.pem';
const peerSign = 'peers/peer0.org1.example.com/msp/signcerts/peer0.org1.example.com-cert.pem';
const peerTls = 'peers/peer0.org1.example.com/tls/server.crt';
const caCertFile = 'ca/ca.org1.example.com-cert.pem';
const tlsCaCertFile = 'tlsca/tlsca.org1.example.com-cert.pem';
const mspDirs = [
  'msp',
  'peers/peer0.org1.example.com/msp',
  'users/Admin@org1.example.com/msp',
  'users/User1@org1.example.com/msp',
];

async function rejection(promise: Promise<unknown>, code: ErrorCode): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isCofferError(error, code)) return error.message;
    throw error;
  }
  throw new Error(`expected ${code}`);
}

describe('revokeCertificate', () => {
  let out = '';
  let orgDir = '';
  const pem = (path: string): Promise<string> => readFile(join(orgDir, path), 'utf8');
  const revoke = async (path: string, now?: Date) =>
    revokeCertificate({ orgDir, certPem: await pem(path), ...(now === undefined ? {} : { now }) });

  // Generated once; every test revokes in its own copy.
  let pristine = '';
  beforeAll(async () => {
    pristine = await makeTempDir();
    await generateCryptoMaterial({ config, outputDir: pristine });
  });
  afterAll(async () => {
    await removeTempDir(pristine);
  });
  beforeEach(async () => {
    out = await makeTempDir();
    await cp(pristine, out, { recursive: true });
    orgDir = join(out, org1);
  });
  afterEach(async () => {
    await removeTempDir(out);
  });

  it('keeps ca/ and tlsca/ readable by cryptogen extend: their only *.pem is the CA certificate', async () => {
    await revoke(user1Sign);
    await revoke(peerTls);
    for (const dir of ['ca', 'tlsca']) {
      const pems = (await readdir(join(orgDir, dir))).filter((name) => name.endsWith('.pem'));
      expect(pems, dir).toEqual([`${dir}.org1.example.com-cert.pem`]);
    }
  });

  it('adds the serial to the identity CA CRL, with AKI = CA SKI, signed by the CA', async () => {
    const result = await revoke(user1Sign);
    const user = await readCert(join(orgDir, user1Sign));
    const ca = await readCert(join(orgDir, caCertFile));
    expect(result).toMatchObject({
      serial: user.serialNumber,
      caDir: 'ca',
      caName: 'ca.org1.example.com',
      crlNumber: '1',
      revokedCount: 1,
      alreadyRevoked: false,
      crlFile: join(orgDir, 'ca/crl.crl'),
    });
    const crl = new x509.X509Crl(await pem('ca/crl.crl'));
    expect(crl.findRevoked(user)).not.toBeNull();
    expect(crl.entries.map((entry) => entry.serialNumber)).toEqual([user.serialNumber]);
    expect(akiOf(crl)).toBe(skiOf(ca));
    expect(await crl.verify({ publicKey: ca })).toBe(true);
    expect(isLowS(crl.signature)).toBe(true);
    expect(crl.issuer).toBe(ca.subject);
    // openssl agrees independently: the CRL verifies against the CA...
    const text = execFileSync(
      'openssl',
      [
        'crl',
        '-in',
        join(orgDir, 'ca/crl.crl'),
        '-CAfile',
        join(orgDir, caCertFile),
        '-noout',
        '-text',
      ],
      { encoding: 'utf8', stdio: 'pipe' },
    );
    expect(text).toMatch(/X509v3 CRL Number:\s*\n\s*1\n/);
    // ...and rejects the revoked certificate while others still verify.
    const check = (path: string) =>
      opensslVerify([
        '-CAfile',
        join(orgDir, caCertFile),
        '-crl_check',
        '-CRLfile',
        join(orgDir, 'ca/crl.crl'),
        join(orgDir, path),
      ]);
    const [revokedStatus, revokedOutput] = check(user1Sign);
    expect(revokedStatus).not.toBe(0);
    expect(revokedOutput).toContain('certificate revoked');
    expect(check(peerSign)[0]).toBe(0);
  });

  it('copies the CRL into crls/ of every MSP folder of the organisation', async () => {
    const result = await revoke(user1Sign);
    const crl = await pem('ca/crl.crl');
    expect(result.copiedTo).toEqual(
      mspDirs.map((dir) => join(orgDir, dir, 'crls/crl-ca.org1.example.com.pem')),
    );
    for (const dir of mspDirs) {
      expect(await pem(`${dir}/crls/crl-ca.org1.example.com.pem`)).toBe(crl);
      expect(await listTree(join(orgDir, dir, 'crls'))).toEqual(['crl-ca.org1.example.com.pem']);
    }
  });

  it('keeps earlier entries and raises the CRL number on the next revocation', async () => {
    const first = new Date('2031-05-01T10:00:00Z');
    const second = new Date('2031-06-01T10:00:00Z');
    await revoke(user1Sign, first);
    const result = await revoke(peerSign, second);
    expect(result).toMatchObject({ crlNumber: '2', revokedCount: 2, alreadyRevoked: false });
    const crl = new x509.X509Crl(await pem('ca/crl.crl'));
    const user = await readCert(join(orgDir, user1Sign));
    const peer = await readCert(join(orgDir, peerSign));
    expect(crl.findRevoked(user)?.revocationDate.toISOString()).toBe(first.toISOString());
    expect(crl.findRevoked(peer)?.revocationDate.toISOString()).toBe(second.toISOString());
    expect(crl.thisUpdate.toISOString()).toBe(second.toISOString());
    expect(await pem('users/Admin@org1.example.com/msp/crls/crl-ca.org1.example.com.pem')).toBe(
      await pem('ca/crl.crl'),
    );
  });

  it('is idempotent: revoking twice leaves the CRL unchanged', async () => {
    await revoke(user1Sign);
    const before = await pem('ca/crl.crl');
    const again = await revoke(user1Sign);
    expect(again).toMatchObject({ alreadyRevoked: true, crlNumber: '1', revokedCount: 1 });
    expect(await pem('ca/crl.crl')).toBe(before);
    for (const dir of mspDirs)
      expect(await pem(`${dir}/crls/crl-ca.org1.example.com.pem`)).toBe(before);
  });

  it('revokes a TLS certificate through the TLS CA, leaving the identity CA alone', async () => {
    const result = await revoke(peerTls);
    expect(result).toMatchObject({ caDir: 'tlsca', caName: 'tlsca.org1.example.com' });
    const tlsCa = await readCert(join(orgDir, tlsCaCertFile));
    const crl = new x509.X509Crl(await pem('tlsca/crl.crl'));
    expect(akiOf(crl)).toBe(skiOf(tlsCa));
    expect(await crl.verify({ publicKey: tlsCa })).toBe(true);
    expect(crl.findRevoked(await readCert(join(orgDir, peerTls)))).not.toBeNull();
    expect(await listTree(join(orgDir, 'ca'))).toEqual(['ca.org1.example.com-cert.pem', 'priv_sk']);
    expect(await listTree(join(orgDir, 'msp/crls'))).toEqual(['crl-tlsca.org1.example.com.pem']);
  });

  it('rejects a certificate of another organisation and writes nothing', async () => {
    const foreign = await readFile(
      join(
        out,
        'peerOrganizations/org2.example.com/users/Admin@org2.example.com/msp/signcerts/Admin@org2.example.com-cert.pem',
      ),
      'utf8',
    );
    const before = await listTree(orgDir);
    const message = await rejection(
      revokeCertificate({ orgDir, certPem: foreign }),
      'CRYPTOGEN_E_REVOKE',
    );
    expect(message).toContain('was not issued by ca/ca.org1.example.com-cert.pem or tlsca/');
    expect(await listTree(orgDir)).toEqual(before);
  });

  it('rejects a forged certificate that names the CA key but is signed by another key', async () => {
    const ca = await readCert(join(orgDir, caCertFile));
    const keys = await globalThis.crypto.subtle.generateKey(
      { name: 'ECDSA', namedCurve: 'P-256' },
      true,
      ['sign', 'verify'],
    );
    const forged = await x509.X509CertificateGenerator.create({
      subject: 'CN=forged',
      issuer: ca.subjectName,
      publicKey: keys.publicKey,
      signingKey: keys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [new x509.AuthorityKeyIdentifierExtension(skiOf(ca) ?? '')],
    });
    const message = await rejection(
      revokeCertificate({ orgDir, certPem: forged.toString('pem') }),
      'CRYPTOGEN_E_REVOKE',
    );
    expect(message).toContain('was not issued by');
  });

  it('refuses to revoke the CA certificate itself', async () => {
    const message = await rejection(revoke(caCertFile), 'CRYPTOGEN_E_REVOKE');
    expect(message).toContain('a CA cannot revoke itself');
  });

  it('reports input that is not one PEM certificate', async () => {
    await rejection(revokeCertificate({ orgDir, certPem: 'hello' }), 'CRYPTOGEN_E_CERT_MALFORMED');
    const two = (await pem(user1Sign)) + (await pem(peerSign));
    const message = await rejection(
      revokeCertificate({ orgDir, certPem: two }),
      'CRYPTOGEN_E_CERT_MALFORMED',
    );
    expect(message).toContain('holds 2 certificates');
  });

  it('reports a folder without CAs', async () => {
    const message = await rejection(
      revokeCertificate({ orgDir: join(orgDir, 'msp'), certPem: await pem(user1Sign) }),
      'CRYPTOGEN_E_REVOKE',
    );
    expect(message).toContain('has no CA');
    await rejection(
      revokeCertificate({ orgDir: join(out, 'missing'), certPem: await pem(user1Sign) }),
      'CRYPTOGEN_E_REVOKE',
    );
  });

  it('refuses a crl.crl that is not the CA own CRL, instead of dropping its entries', async () => {
    // The org2 CRL put in place of org1's: parseable, but signed by another CA.
    const org2 = join(out, 'peerOrganizations/org2.example.com');
    await revokeCertificate({
      orgDir: org2,
      certPem: await readFile(
        join(org2, 'peers/peer0.org2.example.com/msp/signcerts/peer0.org2.example.com-cert.pem'),
        'utf8',
      ),
    });
    await writeFile(join(orgDir, 'ca/crl.crl'), await readFile(join(org2, 'ca/crl.crl')));
    const message = await rejection(revoke(user1Sign), 'CRYPTOGEN_E_REVOKE');
    expect(message).toContain('is not signed by ca.org1.example.com; restore it from a backup');
  });

  it('refuses a CA key that does not belong to the CA certificate', async () => {
    await writeFile(join(orgDir, 'ca/priv_sk'), await readFile(join(orgDir, 'tlsca/priv_sk')));
    const message = await rejection(revoke(user1Sign), 'CRYPTOGEN_E_REVOKE');
    expect(message).toContain(
      'is not the P-256 PKCS#8 private key of ca/ca.org1.example.com-cert.pem',
    );
  });

  it('works for orderer organisations too', async () => {
    const ordererOrg = join(out, 'ordererOrganizations/example.com');
    const result = await revokeCertificate({
      orgDir: ordererOrg,
      certPem: await readFile(
        join(ordererOrg, 'orderers/orderer.example.com/tls/server.crt'),
        'utf8',
      ),
    });
    expect(result.caDir).toBe('tlsca');
    expect(result.copiedTo).toEqual([
      join(ordererOrg, 'msp/crls/crl-tlsca.example.com.pem'),
      join(ordererOrg, 'orderers/orderer.example.com/msp/crls/crl-tlsca.example.com.pem'),
      join(ordererOrg, 'users/Admin@example.com/msp/crls/crl-tlsca.example.com.pem'),
    ]);
  });
});
