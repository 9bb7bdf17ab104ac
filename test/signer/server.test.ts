// The signer's limits and its audit guarantee, in process with the software key store behind
// the same seam: requests beyond requestsInFlightMax get SIGNER_E_BUSY, a signature whose audit
// record cannot be written is withheld (SIGNER_E_AUDIT_FAILED), the audit chain shows an edited
// line, a withdrawal is not signed from its expiry on, a key store failing on one digest of a
// withdrawal releases none of its signatures, sign requests carry 1 to digestsPerRequestMax
// digests that must be the approved list in its order, configuration mistakes name their
// field, connections past connectionsMax are refused (and past its margin closed at once), and a
// request not sent whole in time is answered 408 and its connection closed.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import fc from 'fast-check';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openSoftKeyStore,
  verifyDigestSignature,
  type KeyInfo,
  type KeyStore,
} from '../../src/crypto/index.js';
import { digestsPerWithdrawalMax } from '../../src/custody/limits.js';
import { cofferError, isCofferError } from '../../src/errors/index.js';
import type { Msp } from '../../src/msp/index.js';
import { digestsPerRequestMax, isDigestList } from '../../src/signer/approval.js';
import {
  approvedState,
  approveSignRequest,
  auditLogBytesMaxDefault,
  checkApproval,
  connectionsHardMargin,
  connectionsMaxDefault,
  connectionsMaxLimit,
  createSignerServer,
  loadConsortiumMsps,
  mspReloadIntervalMsDefault,
  openAuditLog,
  parseSignBody,
  parseSignerConfig,
  verifyAuditLog,
  type AuditLog,
  type SignerServer,
  type SignerServerOptions,
  type WithdrawalApproval,
} from '../../src/signer/index.js';
import {
  digestsOf,
  generateMaterial,
  get,
  mspIdOf,
  orgDir,
  post,
  receiptFor,
  userTls,
  withdrawal,
  withdrawalEntry,
  type Material,
} from './support.js';
import { closedSoon, getOver, openTls, textUntilClosed } from '../support/raw-tls.js';

let work: string;
let material: Material;
let msps: Map<string, Msp>;
let store: KeyStore;
let key: KeyInfo;
let tlsFiles: { cert: string; key: string; ca: string };
let worker: { cert: string; key: string };
const silent = pino({ level: 'silent' });

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-signer-server-'));
  material = await generateMaterial(work);
  msps = await loadConsortiumMsps(
    ['org1', 'org2', 'org3'].map((org) => ({
      mspId: mspIdOf(org),
      mspDir: path.join(orgDir(material.crypto, org), 'msp'),
    })),
  );
  store = await openSoftKeyStore({
    file: path.join(work, 'keys.json'),
    passphrase: 'server test passphrase',
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
  tlsFiles = {
    cert: await readFile(path.join(peerTls, 'server.crt'), 'utf8'),
    key: await readFile(path.join(peerTls, 'server.key'), 'utf8'),
    ca: await readFile(path.join(peerTls, 'ca.crt'), 'utf8'),
  };
  worker = await userTls(material.crypto, 'org1', 'User1');
});

afterAll(async () => {
  await store.close();
  await rm(work, { recursive: true, force: true });
});

function signBody(fields: { id?: string; digests?: string[] } = {}) {
  const record = withdrawal({
    platformKey: { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve },
    ...fields,
  });
  const peers = [material.peers['org2'], material.peers['org3']].flatMap((peer) =>
    peer === undefined ? [] : [peer],
  );
  return {
    walletId: record.walletId,
    withdrawalId: record.id,
    digests: record.digests,
    keyId: key.keyId,
    receipt: receiptFor(withdrawalEntry(3, record), peers),
  };
}

async function serve(
  keyStore: KeyStore,
  audit: AuditLog,
  requestsInFlightMax = 64,
  more: Pick<SignerServerOptions, 'timeouts'> & { connectionsMax?: number } = {},
): Promise<{ server: SignerServer; url: string }> {
  const server = await createSignerServer({
    config: {
      authorisedCallers: [{ mspId: 'Org1MSP' }],
      organisationsMin: 2,
      receiptAgeMsMax: 60_000,
      requestsInFlightMax,
      ...(more.connectionsMax === undefined ? {} : { connectionsMax: more.connectionsMax }),
    },
    msps,
    keyStore,
    audit,
    logger: silent,
    tls: { cert: tlsFiles.cert, key: tlsFiles.key },
    ...(more.timeouts === undefined ? {} : { timeouts: more.timeouts }),
  });
  return { server, url: await server.listen('127.0.0.1', 0) };
}

function sign(url: string, body: unknown) {
  return post(url, '/v1/sign', body, workerTls());
}

function workerTls() {
  return { ca: tlsFiles.ca, servername: 'peer0.org1.example.com', client: worker };
}

/** A raw TLS connection of the custody worker to the signer at `url` (openTls). */
function openConnection(url: string, opened?: Set<TLSSocket>): Promise<TLSSocket> {
  const target = {
    port: Number(new URL(url).port),
    ca: tlsFiles.ca,
    servername: 'peer0.org1.example.com',
    cert: worker.cert,
    key: worker.key,
  };
  return openTls(target, opened);
}

/** Everything the server writes on `socket` until it closes the connection. */
describe('signer server', () => {
  it('refuses requests beyond requestsInFlightMax with SIGNER_E_BUSY', async () => {
    // The same software store behind a signer that waits until released: one request in flight.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const slow: KeyStore = {
      ...store,
      signer: async (keyId) => {
        const inner = await store.signer(keyId);
        return async (digest) => {
          await gate;
          return inner(digest);
        };
      },
    };
    const audit = await openAuditLog(path.join(work, 'busy.log'), () => Date.now());
    const { server, url } = await serve(slow, audit, 1);
    try {
      const first = sign(url, signBody());
      // Let the first request reach the key store before the second arrives.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const second = await sign(url, signBody());
      expect(second.status).toBe(429);
      expect((second.body['error'] as { code: string }).code).toBe('SIGNER_E_BUSY');
      release();
      expect((await first).status).toBe(200);
      expect((await sign(url, signBody())).status).toBe(200);
    } finally {
      await server.close();
      await audit.close();
    }
  });

  it('refuses connections past connectionsMax with SIGNER_E_TOO_MANY_CONNECTIONS, and closes those past its margin at once', async () => {
    const audit = await openAuditLog(path.join(work, 'connections.log'), () => Date.now());
    const { server, url } = await serve(store, audit, 64, { connectionsMax: 2 });
    const held = new Set<TLSSocket>();
    try {
      for (let i = 0; i < 2; i += 1) await openConnection(url, held);
      // The third connection completes its handshake; its request is answered and it is closed.
      const third = await openConnection(url, held);
      const refused = await getOver(third, '/v1/status');
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.headers.get('connection')).toBe('close');
      expect(refused.body['error']).toMatchObject({ code: 'SIGNER_E_TOO_MANY_CONNECTIONS' });
      expect(await closedSoon(third)).toBe(true);
      // Up to the margin, connections are still accepted (and refused the same way) ...
      for (let i = 0; i < connectionsHardMargin; i += 1) await openConnection(url, held);
      // ... past it, Node closes them before their handshake.
      await expect(openConnection(url, held)).rejects.toThrow();
      for (const socket of held) socket.destroy();
      // Once they are closed, a new connection is served and counts what happened.
      const statusOnceServed = async () => {
        for (let tries = 0; ; tries += 1) {
          const answer = await get(url, '/v1/status', workerTls()).catch(() => undefined);
          if (answer?.status === 200 || tries === 50) return answer;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      };
      const status = await statusOnceServed();
      expect(status?.status).toBe(200);
      const connections = status?.body['connections'] as Record<string, number>;
      expect(connections['max']).toBe(2);
      expect(connections['open']).toBe(1);
      expect(connections['refusedConnections']).toBeGreaterThanOrEqual(1 + connectionsHardMargin);
      expect(connections['droppedConnections']).toBeGreaterThanOrEqual(1);
      expect((await sign(url, signBody())).status).toBe(200);
    } finally {
      for (const socket of held) socket.destroy();
      await server.close();
      await audit.close();
    }
  });

  it('answers 408 and closes a connection whose request is not sent whole in time', async () => {
    const audit = await openAuditLog(path.join(work, 'timeout.log'), () => Date.now());
    const timeouts = { requestMs: 500, checkEveryMs: 100 };
    const { server, url } = await serve(store, audit, 64, { timeouts });
    try {
      const socket = await openConnection(url);
      const started = Date.now();
      const answered = textUntilClosed(socket);
      // Headers and one byte of a body announced as 100 bytes, then nothing.
      socket.write(
        'POST /v1/sign HTTP/1.1\r\nhost: signer\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{',
      );
      const text = await answered;
      const waited = Date.now() - started;
      expect(text.startsWith('HTTP/1.1 408 ')).toBe(true);
      expect(waited).toBeGreaterThanOrEqual(timeouts.requestMs - 50);
      expect(waited).toBeLessThan(5_000);
      // The signer still serves whole requests.
      expect((await sign(url, signBody())).status).toBe(200);
    } finally {
      await server.close();
      await audit.close();
    }
  });

  it('withholds a signature whose audit record cannot be written', async () => {
    const failing: AuditLog = {
      append: () => Promise.reject(new Error('EIO: disk gone')),
      close: () => Promise.resolve(),
    };
    const { server, url } = await serve(store, failing);
    try {
      const answer = await sign(url, signBody());
      expect(answer.status).toBe(503);
      expect((answer.body['error'] as { code: string }).code).toBe('SIGNER_E_AUDIT_FAILED');
      expect(answer.body['signatures']).toBeUndefined();
    } finally {
      await server.close();
    }
  });

  it('signs all digests of a withdrawal or none: a key store failing on one releases nothing', async () => {
    const file = path.join(work, 'all-or-none.log');
    let calls = 0;
    // Fails on the second digest it is given, as an HSM session lost mid-withdrawal would.
    const flaky: KeyStore = {
      ...store,
      signer: async (keyId) => {
        const inner = await store.signer(keyId);
        return async (digest) => {
          calls += 1;
          if (calls === 2) throw cofferError('KEYSTORE_E_HSM_UNAVAILABLE', 'the session was lost');
          return inner(digest);
        };
      },
    };
    const audit = await openAuditLog(file, () => Date.now());
    const { server, url } = await serve(flaky, audit);
    const digests = digestsOf('w-flaky', 3);
    const body = signBody({ id: 'w-flaky', digests });
    try {
      const failed = await sign(url, body);
      expect(failed.status).toBe(503);
      expect((failed.body['error'] as { code: string }).code).toBe('KEYSTORE_E_HSM_UNAVAILABLE');
      expect(failed.body['signatures']).toBeUndefined();
      expect(JSON.stringify(failed.body)).not.toMatch(/[0-9a-f]{128}/); // no r‖s leaks out
      // Retried once the store is back: all three, each over its own digest.
      const retried = await sign(url, body);
      expect(retried.status).toBe(200);
      const signatures = retried.body['signatures'] as string[];
      expect(signatures).toHaveLength(3);
      for (const [i, digest] of digests.entries()) {
        expect(
          verifyDigestSignature(
            key.curve,
            key.publicKey,
            Buffer.from(digest, 'hex'),
            Buffer.from(signatures[i] ?? '', 'hex'),
          ),
        ).toBe(true);
      }
    } finally {
      await server.close();
      await audit.close();
    }
    const events = (await readFile(file, 'utf8'))
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(events.map((event) => [event['event'], event['code']])).toEqual([
      ['refused', 'KEYSTORE_E_HSM_UNAVAILABLE'],
      ['signed', undefined],
    ]);
  });

  it('chains audit lines: an edited or removed line is found', async () => {
    const file = path.join(work, 'chain.log');
    const audit = await openAuditLog(file, () => Date.UTC(2026, 0, 1));
    await audit.append({ event: 'started' });
    await audit.append({ event: 'signed', withdrawalId: 'w-1' });
    await audit.append({ event: 'refused', code: 'SIGNER_E_DIGEST_NOT_APPROVED' });
    await audit.close();
    // Reopening continues the chain from the last line.
    const again = await openAuditLog(file, () => Date.UTC(2026, 0, 1));
    await again.append({ event: 'stopped' });
    await again.close();
    const text = await readFile(file, 'utf8');
    expect(verifyAuditLog(text)).toEqual({ lines: 4 });
    const edited = text.replace('"withdrawalId":"w-1"', '"withdrawalId":"w-2"');
    expect(verifyAuditLog(edited).brokenAt).toBe(2);
    const lines = text.split('\n');
    expect(verifyAuditLog([lines[0], ...lines.slice(2)].join('\n')).brokenAt).toBe(1);
  });

  it('checks its configuration, naming the field', () => {
    const base = {
      tls: { certFile: 'c', keyFile: 'k' },
      consortium: [
        { mspId: 'Org1MSP', mspDir: 'msp' },
        { mspId: 'Org2MSP', mspDir: 'msp2' },
      ],
      authorisedCallers: [{ mspId: 'Org1MSP' }],
      keyStore: { kind: 'software', file: 'keys.json', passphraseFile: 'p' },
    };
    const parsed = parseSignerConfig(base, work);
    expect(parsed.listen).toEqual({ host: '127.0.0.1', port: 7700 });
    expect(parsed.auditLogBytesMax).toBe(auditLogBytesMaxDefault);
    expect(auditLogBytesMaxDefault).toBe(64 * 1024 * 1024);
    expect(parsed.mspReloadIntervalMs).toBe(mspReloadIntervalMsDefault);
    expect(parsed.connectionsMax).toBe(connectionsMaxDefault);
    expect(parseSignerConfig({ ...base, connectionsMax: 8 }, work).connectionsMax).toBe(8);
    expect(
      parseSignerConfig(
        { ...base, auditLogBytesMax: 8 * 1024 * 1024, mspReloadIntervalMs: 500 },
        work,
      ),
    ).toMatchObject({ auditLogBytesMax: 8 * 1024 * 1024, mspReloadIntervalMs: 500 });
    expect(parsed.organisationsMin).toBe(2); // a strict majority of two is both
    expect(parsed.keyStore).toEqual({
      kind: 'software',
      file: path.join(work, 'keys.json'),
      passphraseFile: path.join(work, 'p'),
    });
    const fieldOf = (raw: unknown): string => {
      try {
        parseSignerConfig(raw, work);
        return 'ok';
      } catch (error) {
        if (!isCofferError(error, 'SIGNER_E_CONFIG_INVALID')) throw error;
        return String(error.details['field']);
      }
    };
    expect(fieldOf({ ...base, authorisedCallers: [] })).toBe('authorisedCallers');
    expect(fieldOf({ ...base, authorisedCallers: [{ mspId: 'Org9MSP' }] })).toBe(
      'authorisedCallers[0].mspId',
    );
    expect(fieldOf({ ...base, authorisedCallers: [{ mspId: 'Org1MSP', role: 'boss' }] })).toBe(
      'authorisedCallers[0].role',
    );
    expect(fieldOf({ ...base, organisationsMin: 3 })).toBe('organisationsMin');
    expect(fieldOf({ ...base, keyStore: { kind: 'pkcs11', library: 'l', tokenLabel: 't' } })).toBe(
      'keyStore',
    );
    expect(fieldOf({ ...base, keyStore: { kind: 'kms' } })).toBe('keyStore.kind');
    expect(fieldOf({ ...base, listen: { port: 70000 } })).toBe('listen.port');
    expect(fieldOf({ ...base, surprise: 1 })).toBe('surprise');
    expect(fieldOf({ ...base, auditLogBytesMax: 1024 })).toBe('auditLogBytesMax');
    expect(fieldOf({ ...base, auditLogBytesMax: 2 ** 40 })).toBe('auditLogBytesMax');
    expect(fieldOf({ ...base, auditLogBytesMax: '64MiB' })).toBe('auditLogBytesMax');
    expect(fieldOf({ ...base, mspReloadIntervalMs: 0 })).toBe('mspReloadIntervalMs');
    expect(fieldOf({ ...base, connectionsMax: 0 })).toBe('connectionsMax');
    expect(fieldOf({ ...base, connectionsMax: connectionsMaxLimit + 1 })).toBe('connectionsMax');
    expect(fieldOf({ ...base, mspReloadIntervalMs: 24 * 3600 * 1000 })).toBe('mspReloadIntervalMs');
  });
});

describe('withdrawal expiry', () => {
  function decide(expiresAt: unknown, now: number) {
    const fields = withdrawal({
      platformKey: { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve },
      expiresAt,
    });
    const peers = [material.peers['org2'], material.peers['org3']].flatMap((peer) =>
      peer === undefined ? [] : [peer],
    );
    // The receipt's roots are signed a second before `now`: fresh.
    const receipt = receiptFor(withdrawalEntry(3, fields), peers, now - 1000);
    return approveSignRequest(
      {
        walletId: fields.walletId,
        withdrawalId: fields.id,
        digests: fields.digests ?? [],
        keyId: key.keyId,
      },
      receipt,
      key,
      { msps, organisationsMin: 2, receiptAgeMsMax: 60_000, now },
    );
  }

  it('signs until expiresAt and refuses from it on, by the signer clock', () => {
    const expiresAt = Date.UTC(2026, 5, 1);
    expect(decide(expiresAt, expiresAt - 1).ok).toBe(true);
    for (const now of [expiresAt, expiresAt + 1, expiresAt + 24 * 3600 * 1000]) {
      const outcome = decide(expiresAt, now);
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.error.code).toBe('SIGNER_E_WITHDRAWAL_EXPIRED');
        expect(outcome.error.details).toEqual({ expiresAt, now });
        expect(outcome.error.message).toContain(new Date(expiresAt).toISOString());
      }
    }
  });

  it('refuses a record without an integer expiresAt', () => {
    const now = Date.UTC(2026, 5, 1);
    for (const expiresAt of [undefined, null, '2026-06-02T00:00:00Z', 1.5]) {
      const outcome = decide(expiresAt, now);
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) expect(outcome.error.code).toBe('SIGNER_E_NOT_APPROVAL');
    }
  });
});

describe('sign request digests', () => {
  const digest = (n: number) => digestsOf('list', n);

  it('digestsPerRequestMax is the custody app’s digestsPerWithdrawalMax', () => {
    // A withdrawal the ledger can build is one the signer can sign, and no larger.
    expect(digestsPerRequestMax).toBe(digestsPerWithdrawalMax);
  });

  it(`parses 1 to ${digestsPerRequestMax} lower-case 64-hex digests; anything else is SIGNER_E_DIGEST_INVALID`, () => {
    const body = (digests: unknown) => ({
      walletId: 'wallet-1',
      withdrawalId: 'w-1',
      digests,
      keyId: key.keyId,
      receipt: {},
    });
    for (const n of [1, 2, digestsPerRequestMax]) {
      expect(parseSignBody(body(digest(n))).request.digests).toEqual(digest(n));
    }
    const codeOf = (digests: unknown): string => {
      try {
        parseSignBody(body(digests));
        return 'ok';
      } catch (error) {
        if (!isCofferError(error)) throw error;
        return error.code;
      }
    };
    const [first = ''] = digest(1);
    for (const bad of [
      [],
      digest(digestsPerRequestMax + 1),
      first,
      null,
      undefined,
      { 0: first },
      [first, first.toUpperCase()],
      [first, first.slice(2)],
      [first, `${first}00`],
      [first, 7],
      [[first]],
    ]) {
      expect(codeOf(bad), JSON.stringify(bad)).toBe('SIGNER_E_DIGEST_INVALID');
    }
    try {
      parseSignBody(body(digest(digestsPerRequestMax + 1)));
    } catch (error) {
      expect(String(error)).toContain(`1 to ${digestsPerRequestMax} digests`);
      expect(String(error)).toContain(`a list of ${digestsPerRequestMax + 1}`);
    }
    // The single `digest` of the former API is not a field any more.
    expect(() =>
      parseSignBody({
        walletId: 'wallet-1',
        withdrawalId: 'w-1',
        digest: first,
        keyId: 'k',
        receipt: {},
      }),
    ).toThrow(expect.objectContaining({ code: 'SIGNER_E_REQUEST_INVALID' }));
  });

  it('checkApproval accepts exactly the approved list in its order (against plain equality)', () => {
    const pool = digest(4);
    const list = fc.array(fc.constantFrom(...pool), { minLength: 1, maxLength: 6 });
    fc.assert(
      fc.property(list, list, (approvedDigests, requested) => {
        const approval: WithdrawalApproval = {
          txId: 'ab'.repeat(32),
          seqno: 3,
          action: 'service_sign',
          withdrawalId: 'w-1',
          walletId: 'wallet-1',
          state: approvedState,
          digests: approvedDigests,
          expiresAt: Number.MAX_SAFE_INTEGER,
          platformKey: { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve },
        };
        const error = checkApproval(
          { walletId: 'wallet-1', withdrawalId: 'w-1', digests: requested, keyId: key.keyId },
          approval,
          key,
        );
        const same = JSON.stringify(approvedDigests) === JSON.stringify(requested);
        expect(error?.code).toBe(same ? undefined : 'SIGNER_E_DIGEST_NOT_APPROVED');
      }),
      { numRuns: 500 },
    );
  });

  it('a record with more than digestsPerRequestMax digests, or none, approves nothing', () => {
    expect(isDigestList(digest(digestsPerRequestMax))).toBe(true);
    const now = Date.now();
    const peers = [material.peers['org2'], material.peers['org3']].flatMap((peer) =>
      peer === undefined ? [] : [peer],
    );
    for (const digests of [digest(digestsPerRequestMax + 1), [], null]) {
      const record = withdrawal({
        platformKey: { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve },
        digests,
      });
      const outcome = approveSignRequest(
        {
          walletId: record.walletId,
          withdrawalId: record.id,
          digests: digest(1),
          keyId: key.keyId,
        },
        receiptFor(withdrawalEntry(3, record), peers, now - 1000),
        key,
        { msps, organisationsMin: 2, receiptAgeMsMax: 60_000, now },
      );
      expect(outcome.ok).toBe(false);
      if (!outcome.ok) {
        expect(outcome.error.code).toBe('SIGNER_E_NOT_APPROVAL');
        expect(outcome.error.message).toContain('digests');
      }
    }
  });
});
