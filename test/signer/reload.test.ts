// Revocation without a restart: the signer polls the consortium's MSP folders (and re-reads
// them on SIGHUP), so a CRL written into a folder refuses the revoked worker on its next
// request, and receipts signed by a revoked node, with nothing signed and the refusal audited.
// A folder that does not load keeps the previous MSP in force, is logged, and shows in status.
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSoftKeyStore, type KeyInfo, type KeyStore } from '../../src/crypto/index.js';
import { revokeCertificate } from '../../src/msp/cryptogen/index.js';
import {
  createSignerServer,
  openAuditLog,
  openConsortiumTrust,
  verifyAuditLog,
  type AuditLog,
  type ConsortiumTrust,
  type SignerServer,
} from '../../src/signer/index.js';
import {
  generateMaterial,
  get,
  mspIdOf,
  orgDir,
  orgs,
  post,
  receiptFor,
  userTls,
  withdrawal,
  withdrawalEntry,
  type Material,
  type NodeSigner,
} from './support.js';

let work: string;
let material: Material;
let store: KeyStore;
let key: KeyInfo;
let tls: { cert: string; key: string; ca: string };
let signatures = 0;
const logLines: Record<string, unknown>[] = [];
const logger = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.length > 0) logLines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  }),
);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-signer-reload-'));
  material = await generateMaterial(work);
  store = await openSoftKeyStore({
    file: path.join(work, 'keys.json'),
    passphrase: 'reload test passphrase',
    create: true,
    kdfLog2N: 14,
  });
  key = await store.generate({ curve: 'secp256k1', label: 'platform' });
  const peerTls = path.join(
    orgDir(material.crypto, 'org1'),
    'peers',
    'peer0.org1.example.com',
    'tls',
  );
  tls = {
    cert: await readFile(path.join(peerTls, 'server.crt'), 'utf8'),
    key: await readFile(path.join(peerTls, 'server.key'), 'utf8'),
    ca: await readFile(path.join(peerTls, 'ca.crt'), 'utf8'),
  };
});

afterAll(async () => {
  await store.close();
  await rm(work, { recursive: true, force: true });
});

/** The key store behind the server, counting the signatures it makes. */
function countingStore(): KeyStore {
  return {
    ...store,
    signer: async (keyId) => {
      const inner = await store.signer(keyId);
      return (digest) => {
        signatures += 1;
        return inner(digest);
      };
    },
  };
}

type Running = {
  readonly url: string;
  readonly trust: ConsortiumTrust;
  readonly auditFile: string;
  readonly stop: () => Promise<void>;
};

async function start(name: string, reloadIntervalMs: number, onSighup = false): Promise<Running> {
  const trust = await openConsortiumTrust(
    orgs.map((org) => ({
      mspId: mspIdOf(org),
      mspDir: path.join(orgDir(material.crypto, org), 'msp'),
    })),
    { logger, reloadIntervalMs, onSighup },
  );
  const auditFile = path.join(work, `${name}.log`);
  const audit: AuditLog = await openAuditLog(auditFile, () => Date.now());
  const server: SignerServer = await createSignerServer({
    config: {
      authorisedCallers: [{ mspId: 'Org1MSP', role: 'client' }],
      organisationsMin: 2,
      receiptAgeMsMax: 60_000,
      requestsInFlightMax: 8,
    },
    msps: trust,
    keyStore: countingStore(),
    audit,
    logger,
    tls: { cert: tls.cert, key: tls.key },
  });
  const url = await server.listen('127.0.0.1', 0);
  return {
    url,
    trust,
    auditFile,
    stop: async () => {
      trust.close();
      await server.close();
      await audit.close();
    },
  };
}

function peers(...names: string[]): NodeSigner[] {
  return names.map((name) => {
    const peer = material.peers[name];
    if (peer === undefined) throw new Error(`no peer ${name}`);
    return peer;
  });
}

function signBody(id: string, signers: readonly NodeSigner[]) {
  const record = withdrawal({
    id,
    platformKey: { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve },
  });
  return {
    walletId: record.walletId,
    withdrawalId: record.id,
    digests: record.digests,
    keyId: key.keyId,
    receipt: receiptFor(withdrawalEntry(3, record), signers),
  };
}

function clientTls(client: { cert: string; key: string }) {
  return { ca: tls.ca, servername: 'peer0.org1.example.com', client };
}

async function auditEvents(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  expect(verifyAuditLog(text).brokenAt).toBeUndefined();
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > timeoutMs) throw new Error('condition not reached in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits for a check of the folders that began after `time` (the poll, not a forced reload). */
async function checkedSince(trust: ConsortiumTrust, time: number): Promise<void> {
  await until(() => Date.parse(trust.status().checkedAt ?? '') > time);
}

async function certOf(org: string, kind: 'users' | 'peers', name: string): Promise<string> {
  const dir = path.join(orgDir(material.crypto, org), kind, name, 'msp', 'signcerts');
  return readFile(path.join(dir, `${name}-cert.pem`), 'utf8');
}

// The tests run in order on one set of material: each revocation stays.
describe('signer: consortium MSPs reload without a restart', () => {
  it('keeps the previous MSP when a folder does not load, and says so in status and the log', async () => {
    const running = await start('broken', 100);
    const worker = await userTls(material.crypto, 'org1', 'User1');
    const crls = path.join(orgDir(material.crypto, 'org2'), 'msp', 'crls');
    const badCrl = path.join(crls, 'broken.pem');
    try {
      const before = running.trust.current();
      // crls/ appears at once with the broken file in it (the poll never sees it empty).
      const staging = path.join(work, 'crls-staging');
      await mkdir(staging);
      await writeFile(
        path.join(staging, 'broken.pem'),
        '-----BEGIN X509 CRL-----\nbm90IGEgQ1JM!!\n-----END X509 CRL-----\n',
      );
      await rename(staging, crls);
      await until(() => running.trust.status().failures.length > 0);
      expect(running.trust.current()).toBe(before);
      const status = await get(running.url, '/v1/status', clientTls(worker));
      expect(status.status).toBe(200);
      const trust = status.body['trust'] as { failures: Record<string, unknown>[] };
      expect(trust.failures).toEqual([
        expect.objectContaining({ mspId: 'Org2MSP', code: 'MSP_E_CRL_INVALID' }),
      ]);
      const logged = logLines.find((line) => line['code'] === 'MSP_E_RELOAD_FAILED');
      expect(logged).toMatchObject({ mspId: 'Org2MSP', cause: 'MSP_E_CRL_INVALID', level: 50 });
      // Org2's previous MSP still verifies its node's root signatures.
      const signed = await post(
        running.url,
        '/v1/sign',
        signBody('w-broken', peers('org2', 'org3')),
        clientTls(worker),
      );
      expect(signed.status).toBe(200);
      // Fixing the folder loads it, clears the failure, and new handshakes still work.
      await rm(badCrl);
      await until(() => running.trust.status().failures.length === 0);
      expect(running.trust.current()).not.toBe(before);
      const again = await post(
        running.url,
        '/v1/sign',
        signBody('w-fixed', peers('org2', 'org3')),
        clientTls(worker),
      );
      expect(again.status).toBe(200);
    } finally {
      await rm(badCrl, { force: true });
      await running.stop();
    }
  });

  it('refuses a client revoked by a new CRL on its next request: nothing signed, audited', async () => {
    const running = await start('client', 100);
    const revoked = await userTls(material.crypto, 'org1', 'User2');
    try {
      const first = await post(
        running.url,
        '/v1/sign',
        signBody('w-before', peers('org2', 'org3')),
        clientTls(revoked),
      );
      expect(first.status).toBe(200);
      await revokeCertificate({
        orgDir: orgDir(material.crypto, 'org1'),
        certPem: await certOf('org1', 'users', 'User2@org1.example.com'),
      });
      await checkedSince(running.trust, Date.now());
      const made = signatures;
      const refused = await post(
        running.url,
        '/v1/sign',
        signBody('w-after', peers('org2', 'org3')),
        clientTls(revoked),
      );
      expect(refused.status).toBe(401);
      expect(refused.body['error']).toMatchObject({
        code: 'SIGNER_E_UNAUTHENTICATED',
        mspCode: 'MSP_E_IDENTITY_REVOKED',
      });
      expect(refused.body['signatures']).toBeUndefined();
      expect(signatures).toBe(made);
      const events = await auditEvents(running.auditFile);
      expect(events.filter((event) => event['event'] === 'signed')).toHaveLength(1);
      expect(events.at(-1)).toMatchObject({
        event: 'refused',
        code: 'SIGNER_E_UNAUTHENTICATED',
        caller: null,
        presented: { mspId: 'Org1MSP', mspCode: 'MSP_E_IDENTITY_REVOKED' },
      });
      // Another, unrevoked worker of the same organisation still signs.
      const other = await post(
        running.url,
        '/v1/sign',
        signBody('w-other', peers('org2', 'org3')),
        clientTls(await userTls(material.crypto, 'org1', 'User1')),
      );
      expect(other.status).toBe(200);
    } finally {
      await running.stop();
    }
  });

  it('on SIGHUP, refuses receipts whose root a node revoked since signed', async () => {
    // Polling every 10 minutes: only the signal reloads within the test.
    const running = await start('node', 600_000, true);
    const worker = await userTls(material.crypto, 'org1', 'User1');
    try {
      const first = await post(
        running.url,
        '/v1/sign',
        signBody('w-node-before', peers('org2', 'org3')),
        clientTls(worker),
      );
      expect(first.status).toBe(200);
      await revokeCertificate({
        orgDir: orgDir(material.crypto, 'org3'),
        certPem: await certOf('org3', 'peers', 'peer0.org3.example.com'),
      });
      const loadedAt = running.trust.status().loadedAt['Org3MSP'];
      process.kill(process.pid, 'SIGHUP');
      await until(() => running.trust.status().loadedAt['Org3MSP'] !== loadedAt);
      const made = signatures;
      const refused = await post(
        running.url,
        '/v1/sign',
        signBody('w-node-after', peers('org2', 'org3')),
        clientTls(worker),
      );
      expect(refused.status).toBe(403);
      expect(refused.body['error']).toMatchObject({
        code: 'SIGNER_E_RECEIPT_INVALID',
        receiptCode: 'RECEIPT_E_SIGNER_INVALID',
      });
      expect(signatures).toBe(made);
      expect((await auditEvents(running.auditFile)).at(-1)).toMatchObject({
        event: 'refused',
        code: 'SIGNER_E_RECEIPT_INVALID',
        withdrawalId: 'w-node-after',
      });
      // Roots of unrevoked nodes still prove approvals.
      const other = await post(
        running.url,
        '/v1/sign',
        signBody('w-node-other', peers('org1', 'org2')),
        clientTls(worker),
      );
      expect(other.status).toBe(200);
    } finally {
      await running.stop();
    }
  });
});
