// CRLs are enforced for TLS client certificates too: a real TLS server on 127.0.0.1 with
// cryptogen material; revoking a user's TLS certificate closes its connections once the MSP
// holding the new CRL is in force.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connect, createServer, type Server } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCryptoMaterial, revokeCertificate } from '../../src/msp/cryptogen/index.js';
import {
  checkTlsPeerCertificate,
  guardTlsServer,
  loadMspFolder,
  tlsTrustOf,
  type Msp,
} from '../../src/msp/index.js';

let work: string;
let server: Server | undefined;
let port = 0;
let msps: Msp[] = [];

const org = () => path.join(work, 'peerOrganizations', 'org1.example.com');
const userTls = (user: string) => path.join(org(), 'users', `${user}@org1.example.com`, 'tls');

async function loadOrgMsp(): Promise<Msp> {
  const outcome = await loadMspFolder(path.join(org(), 'msp'), { mspId: 'Org1MSP' });
  if (!outcome.ok) throw outcome.error;
  return outcome.msp;
}

/** Connects as `user`, sends a line, and resolves with the echo or 'closed'. */
async function roundTrip(user: string): Promise<string> {
  const [cert, key, ca] = await Promise.all([
    readFile(path.join(userTls(user), 'client.crt')),
    readFile(path.join(userTls(user), 'client.key')),
    readFile(path.join(userTls(user), 'ca.crt')),
  ]);
  return new Promise((resolve, reject) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      cert,
      key,
      ca,
      servername: 'peer0.org1.example.com',
    });
    let received = '';
    socket.setTimeout(5000, () => {
      socket.destroy();
      reject(new Error('timeout'));
    });
    socket.on('secureConnect', () => socket.write('ping\n'));
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString();
      if (received.endsWith('\n')) {
        socket.end();
        resolve(received.trim());
      }
    });
    socket.on('close', () => {
      resolve(received.length > 0 ? received.trim() : 'closed');
    });
    socket.on('error', () => {
      resolve('closed');
    });
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-tls-'));
  await generateCryptoMaterial({
    config:
      'PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 2 }\n',
    outputDir: work,
  });
  msps = [await loadOrgMsp()];
  const peerTls = path.join(org(), 'peers', 'peer0.org1.example.com', 'tls');
  const tlsServer = createServer(
    {
      cert: await readFile(path.join(peerTls, 'server.crt')),
      key: await readFile(path.join(peerTls, 'server.key')),
      ca: tlsTrustOf(msps),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (socket) => {
      socket.on('data', (chunk: Buffer) => socket.write(chunk));
    },
  );
  server = tlsServer;
  guardTlsServer(tlsServer, () => msps, pino({ level: 'silent' }));
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  const address = tlsServer.address();
  port = typeof address === 'object' && address !== null ? address.port : 0;
});

afterAll(async () => {
  const running = server;
  if (running !== undefined) await new Promise((resolve) => running.close(resolve));
  await rm(work, { recursive: true, force: true });
});

describe('TLS client certificates and CRLs', () => {
  it('accepts TLS clients of the organisation before any revocation', async () => {
    expect(await roundTrip('User1')).toBe('ping');
    expect(await roundTrip('User2')).toBe('ping');
  });

  it('closes connections of a revoked TLS certificate once the new CRL is in force', async () => {
    const revoked = await revokeCertificate({
      orgDir: org(),
      certPem: await readFile(path.join(userTls('User2'), 'client.crt'), 'utf8'),
    });
    expect(revoked.caDir).toBe('tlsca');
    msps = [await loadOrgMsp()];
    expect(await roundTrip('User2')).toBe('closed');
    expect(await roundTrip('User1')).toBe('ping');
  });

  it('says why: the certificate serial and the CRL that revokes it', async () => {
    const pem = await readFile(path.join(userTls('User2'), 'client.crt'), 'utf8');
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    const outcome = checkTlsPeerCertificate(msps, der, new Date());
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error.code).toBe('MSP_E_TLS_CLIENT_REJECTED');
      expect(outcome.error.message).toMatch(/revoked by crls\//);
    }
  });

  it('refuses a TLS certificate outside its validity period (TLS checks the real time)', async () => {
    const pem = await readFile(path.join(userTls('User1'), 'client.crt'), 'utf8');
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    expect(checkTlsPeerCertificate(msps, der, new Date()).ok).toBe(true);
    expect(checkTlsPeerCertificate(msps, der, new Date('2000-01-01T00:00:00Z')).ok).toBe(false);
  });
});
