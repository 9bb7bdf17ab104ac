// The console listener and its sign-in (decision 0026): a console key store unlocked by the
// page's own code, a challenge signed in "the page", a bearer session that reads and whose
// holder's transactions commit; and what is refused: no credentials, a used challenge, a
// signature by another key, a certificate of no member, a closed session. The API listener
// still refuses connections without a client certificate.
import { X509Certificate, createVerify } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtInApps } from '../../src/contracts/index.js';
import { createConsoleKeyStore } from '../../src/crypto/console-keystore.js';
import { generateCryptoMaterial, revokeCertificate } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';
import { createApi, type ApiServer } from '../../src/node/api.js';
import {
  consoleChallengesMax,
  consoleChallengeTtlMs,
  consoleSessionMessage,
  consoleSessionsMax,
  consoleSessionTtlMs,
  createConsoleSessions,
} from '../../src/node/console.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import { unlockKeyStore, type SigningIdentity } from '../../console/src/lib/identity.js';
import { signRequest } from '../../console/src/lib/envelope.js';
import { toBase64 } from '../../console/src/lib/bytes.js';
import { org1Material, type Org1 } from '../support/org1.js';
import { rejectionOf } from '../support/evm-node.js';

const passphrase = 'console test passphrase';
let work: string;
let org1: Org1;
/** The consortium in force (the revocation test swaps in Org1's MSP with its new CRL). */
let consortium: Org1['consortium'];
let engine: Engine;
let api: ApiServer;
let apiUrl: string;
let consoleUrl: string;
let ca: string;
let userKeyPem: string;
let user: SigningIdentity;

const orgDir = (): string => path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
const userMsp = (): string => path.join(orgDir(), 'users', 'User1@org1.example.com', 'msp');

type Answer = { status: number; json: Record<string, unknown>; text: string };

/** One HTTPS call to `base` + `route` trusting Org1's TLS CA, with optional credentials. */
function call(
  base: string,
  method: string,
  route: string,
  options: { body?: unknown; token?: string; clientCert?: boolean } = {},
): Promise<Answer> {
  const url = new URL(route, base);
  const headers: Record<string, string> = {};
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  const body = options.body === undefined ? undefined : JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const request: RequestOptions = {
    method,
    host: url.hostname,
    port: url.port,
    path: url.pathname + url.search,
    ca,
    servername: 'peer0.org1.example.com',
    headers,
    agent: false,
    ...(options.clientCert === true ? { cert: org1.user.identity.certPem, key: userKeyPem } : {}),
  };
  return new Promise((resolve, reject) => {
    const req = httpsRequest(request, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let json: Record<string, unknown> = {};
        try {
          json = JSON.parse(text) as Record<string, unknown>;
        } catch {
          // HTML or empty
        }
        resolve({ status: res.statusCode ?? 0, json, text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const errorCode = (answer: Answer): unknown =>
  (answer.json['error'] as { code?: string } | undefined)?.code;

/** The page's sign-in, step by step: challenge, statement signed by `identity`, session. */
async function signInAs(identity: SigningIdentity, certPem = identity.certPem): Promise<Answer> {
  const challenge = await call(consoleUrl, 'POST', '/v1/console/challenge');
  expect(challenge.status).toBe(200);
  const message = consoleSessionMessage(
    String(challenge.json['challenge']),
    String(challenge.json['nodeId']),
  );
  return call(consoleUrl, 'POST', '/v1/console/session', {
    body: {
      mspId: 'Org1MSP',
      cert: certPem,
      challenge: challenge.json['challenge'],
      signature: toBase64(identity.sign(message)),
    },
  });
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-console-'));
  org1 = await org1Material(work);
  consortium = org1.consortium;
  engine = await startEngine({
    dataDir: path.join(work, 'node'),
    nodeId: 'n0',
    consortium: () => org1.consortium,
    apps: builtInApps(),
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 1000,
    signatureIntervalMs: 50,
  });
  const peer = path.join(orgDir(), 'peers', 'peer0.org1.example.com');
  ca = await readFile(path.join(peer, 'tls', 'ca.crt'), 'utf8');
  api = await createApi({
    engine,
    consortium: () => consortium,
    apps: builtInApps(),
    tls: {
      cert: await readFile(path.join(peer, 'tls', 'server.crt'), 'utf8'),
      key: await readFile(path.join(peer, 'tls', 'server.key'), 'utf8'),
    },
    logger: pino({ level: 'silent' }),
    nodeId: 'n0',
  });
  apiUrl = await api.listen('127.0.0.1', 0);
  consoleUrl = await api.listenConsole('127.0.0.1', 0);
  const [keyFile] = await readdir(path.join(userMsp(), 'keystore'));
  userKeyPem = await readFile(path.join(userMsp(), 'keystore', String(keyFile)), 'utf8');
  const store = await createConsoleKeyStore({
    mspId: 'Org1MSP',
    certPem: org1.user.identity.certPem,
    keyPem: userKeyPem,
    passphrase,
    kdfLog2N: 14,
  });
  user = await unlockKeyStore(JSON.stringify(store), passphrase);
}, 60_000);

afterAll(async () => {
  await api.close();
  await engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('console key stores', () => {
  it("the page's code unlocks a key store and signs as its identity (P-256, DER, low S)", () => {
    expect(user.mspId).toBe('Org1MSP');
    expect(user.certId).toBe(org1.user.identity.certRef);
    const message = new TextEncoder().encode('any bytes');
    const signature = user.sign(message);
    const verifier = createVerify('sha256').update(message);
    expect(verifier.verify(new X509Certificate(user.certPem).publicKey, signature)).toBe(true);
  });

  it('a wrong passphrase or an altered key store does not open', async () => {
    const store = await createConsoleKeyStore({
      mspId: 'Org1MSP',
      certPem: org1.user.identity.certPem,
      keyPem: userKeyPem,
      passphrase,
      kdfLog2N: 14,
    });
    await expect(unlockKeyStore(JSON.stringify(store), 'not the passphrase')).rejects.toThrow(
      /passphrase is wrong/,
    );
    // Another MSP ID named in the file: the sealed key's associated data no longer matches.
    await expect(
      unlockKeyStore(JSON.stringify({ ...store, mspId: 'Org2MSP' }), passphrase),
    ).rejects.toThrow(/passphrase is wrong|altered/);
    await expect(unlockKeyStore('{"format":"other"}', passphrase)).rejects.toThrow(
      /not a console key store/,
    );
  });

  it('refuses a key that is not the certificate’s', async () => {
    const peerKeyDir = path.join(orgDir(), 'peers', 'peer0.org1.example.com', 'msp', 'keystore');
    const [peerKey] = await readdir(peerKeyDir);
    const failure = await rejectionOf(
      createConsoleKeyStore({
        mspId: 'Org1MSP',
        certPem: org1.user.identity.certPem,
        keyPem: await readFile(path.join(peerKeyDir, String(peerKey)), 'utf8'),
        passphrase,
        kdfLog2N: 14,
      }),
    );
    expect(failure).toMatchObject({ code: 'CRYPTO_E_KEY_MALFORMED' });
  });
});

describe('the console listener', () => {
  it('serves the console without credentials, and nothing else', async () => {
    const page = await call(consoleUrl, 'GET', '/console/');
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="root">');
    const whoami = await call(consoleUrl, 'GET', '/v1/whoami');
    expect(whoami.status).toBe(401);
    expect(errorCode(whoami)).toBe('NODE_E_UNAUTHENTICATED');
    const submit = await call(consoleUrl, 'POST', '/v1/query', {
      body: { app: 'kv', query: 'get', args: { map: 'public:kv.c', key: 'k' } },
    });
    expect(submit.status).toBe(401);
  });

  it('signs in with a signed challenge; the session reads and its holder’s transactions commit', async () => {
    const session = await signInAs(user);
    expect(session.status).toBe(200);
    const token = String(session.json['token']);
    expect(session.json['caller']).toMatchObject({
      mspId: 'Org1MSP',
      identityId: org1.user.identity.certRef,
    });
    const whoami = await call(consoleUrl, 'GET', '/v1/whoami', { token });
    expect(whoami.json['caller']).toMatchObject({ identityId: org1.user.identity.certRef });

    const signed = signRequest(user, 'kv', 'put', {
      map: 'public:kv.console',
      key: 'greeting',
      value: 'signed in the page',
    });
    const committed = await call(consoleUrl, 'POST', '/v1/tx?wait=commit', {
      body: signed.envelope,
      token,
    });
    expect(committed.json).toMatchObject({ txId: signed.txId, status: 'Committed' });
    const read = await call(consoleUrl, 'GET', '/v1/state/public:kv.console/greeting', { token });
    expect(read.json['value']).toBe('signed in the page');

    // Signed out: the token no longer reads.
    const out = await call(consoleUrl, 'DELETE', '/v1/console/session', { token });
    expect(out.json).toEqual({ closed: true });
    const after = await call(consoleUrl, 'GET', '/v1/whoami', { token });
    expect(after.status).toBe(401);
    expect(errorCode(after)).toBe('NODE_E_UNAUTHENTICATED');
  });

  it('refuses a used challenge, another key’s signature and a certificate of no member', async () => {
    const challenge = await call(consoleUrl, 'POST', '/v1/console/challenge');
    const body = {
      mspId: 'Org1MSP',
      cert: user.certPem,
      challenge: challenge.json['challenge'],
      signature: toBase64(
        user.sign(
          consoleSessionMessage(
            String(challenge.json['challenge']),
            String(challenge.json['nodeId']),
          ),
        ),
      ),
    };
    expect((await call(consoleUrl, 'POST', '/v1/console/session', { body })).status).toBe(200);
    const again = await call(consoleUrl, 'POST', '/v1/console/session', { body });
    expect(again.status).toBe(401);
    expect(errorCode(again)).toBe('NODE_E_CONSOLE_SIGNIN');

    // The peer's certificate with the user's signature: the signature does not verify.
    const peerCert = await readFile(
      path.join(
        orgDir(),
        'peers',
        'peer0.org1.example.com',
        'msp',
        'signcerts',
        'peer0.org1.example.com-cert.pem',
      ),
      'utf8',
    );
    const wrongKey = await signInAs(user, peerCert);
    expect(wrongKey.status).toBe(401);
    expect(errorCode(wrongKey)).toBe('NODE_E_CONSOLE_SIGNIN');
    expect(JSON.stringify(wrongKey.json)).toMatch(/signature does not verify/);

    // An identity of an organisation outside the consortium (same names, another CA).
    const stranger = path.join(work, 'stranger');
    await generateCryptoMaterial({
      config:
        'PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 1 }\n',
      outputDir: stranger,
    });
    const strangerMsp = path.join(
      stranger,
      'peerOrganizations',
      'org1.example.com',
      'users',
      'User1@org1.example.com',
      'msp',
    );
    const [certName] = await readdir(path.join(strangerMsp, 'signcerts'));
    const [keyName] = await readdir(path.join(strangerMsp, 'keystore'));
    const strangerStore = await createConsoleKeyStore({
      mspId: 'Org1MSP',
      certPem: await readFile(path.join(strangerMsp, 'signcerts', String(certName)), 'utf8'),
      keyPem: await readFile(path.join(strangerMsp, 'keystore', String(keyName)), 'utf8'),
      passphrase,
      kdfLog2N: 14,
    });
    const strangerIdentity = await unlockKeyStore(JSON.stringify(strangerStore), passphrase);
    const refused = await signInAs(strangerIdentity);
    expect(refused.status).toBe(401);
    expect(errorCode(refused)).toBe('NODE_E_CONSOLE_SIGNIN');
    expect(JSON.stringify(refused.json)).toMatch(/not an identity of Org1MSP/);
  });

  it('a client certificate of a member reads without a session', async () => {
    const whoami = await call(consoleUrl, 'GET', '/v1/whoami', { clientCert: true });
    expect(whoami.status).toBe(200);
    expect(whoami.json['caller']).toMatchObject({ identityId: org1.user.identity.certRef });
  });

  it('the API listener still refuses a connection without a client certificate', async () => {
    const failure = await rejectionOf(call(apiUrl, 'GET', '/v1/whoami'));
    expect(failure).toBeInstanceOf(Error);
    const withCert = await call(apiUrl, 'GET', '/v1/whoami', { clientCert: true });
    expect(withCert.json['caller']).toMatchObject({ mspId: 'Org1MSP' });
  });
});

describe('console sessions', () => {
  it('both listeners keep an idle keep-alive connection past Node’s 5 s default', async () => {
    const { Agent } = await import('node:https');
    /** The local ports of the connections that served two requests 8 s apart. */
    const portsOf = async (base: string): Promise<number[]> => {
      const agent = new Agent({
        keepAlive: true,
        maxSockets: 1,
        ca,
        cert: org1.user.identity.certPem,
        key: userKeyPem,
      });
      const get = (): Promise<number> =>
        new Promise((resolve, reject) => {
          const url = new URL('/v1/health', base);
          const req = httpsRequest(
            {
              host: url.hostname,
              port: url.port,
              path: url.pathname,
              servername: 'peer0.org1.example.com',
              agent,
            },
            (res) => {
              const port = res.socket.localPort ?? 0;
              res.resume();
              res.on('end', () => {
                resolve(port);
              });
            },
          );
          req.on('error', reject);
          req.end();
        });
      try {
        const first = await get();
        await new Promise((resolve) => setTimeout(resolve, 8_000));
        return [first, await get()];
      } finally {
        agent.destroy();
      }
    };
    // One connection served both: the server did not close it while it was idle.
    for (const [first, second] of await Promise.all([portsOf(apiUrl), portsOf(consoleUrl)])) {
      expect(second).toBe(first);
    }
  }, 30_000);

  it('challenges are single-use and expire; sessions expire; both are bounded', () => {
    let now = 1_000_000;
    const sessions = createConsoleSessions(() => now);
    const first = sessions.challenge();
    expect(sessions.take(first.challenge)).toBe(true);
    expect(sessions.take(first.challenge)).toBe(false);
    const late = sessions.challenge();
    now += consoleChallengeTtlMs;
    expect(sessions.take(late.challenge)).toBe(false);

    for (let i = 0; i < consoleChallengesMax; i += 1) sessions.challenge();
    expect(() => sessions.challenge()).toThrow(
      expect.objectContaining({ code: 'NODE_E_BACKPRESSURE' }),
    );
    now += consoleChallengeTtlMs;
    expect(sessions.challenge().challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);

    const opened = sessions.open('Org1MSP', 'PEM');
    expect(sessions.lookup(opened.token)).toMatchObject({ mspId: 'Org1MSP' });
    now += consoleSessionTtlMs;
    expect(sessions.lookup(opened.token)).toBeUndefined();

    const tokens = Array.from(
      { length: consoleSessionsMax + 1 },
      () => sessions.open('Org1MSP', 'PEM').token,
    );
    expect(sessions.lookup(tokens[0] ?? '')).toBeUndefined();
    expect(sessions.lookup(tokens.at(-1) ?? '')).toBeDefined();
  });
});

describe('revocation', () => {
  it('a certificate revoked by its CA ends its open session', async () => {
    const session = await signInAs(user);
    const token = String(session.json['token']);
    expect((await call(consoleUrl, 'GET', '/v1/whoami', { token })).status).toBe(200);
    await revokeCertificate({ orgDir: orgDir(), certPem: user.certPem });
    const reloaded = await loadMspFolder(path.join(orgDir(), 'msp'), { mspId: 'Org1MSP' });
    if (!reloaded.ok) throw reloaded.error;
    consortium = { msps: new Map<string, Msp>([['Org1MSP', reloaded.msp]]) };
    const after = await call(consoleUrl, 'GET', '/v1/whoami', { token });
    expect(after.status).toBe(401);
    expect(errorCode(after)).toBe('NODE_E_UNAUTHENTICATED');
    expect(JSON.stringify(after.json)).toMatch(/no longer valid/);
    // Nor can it sign in again.
    const again = await signInAs(user);
    expect(again.status).toBe(401);
    expect(errorCode(again)).toBe('NODE_E_CONSOLE_SIGNIN');
  });
});
