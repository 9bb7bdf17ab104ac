// A whole custody withdrawal on embedded defaults, with real parts: a node started by
// `coffer up`, the isolated signer (software key store) over mutual TLS, the coffer chain
// worker and the service's signing helper. A 2-of-3 wallet (offline, service, platform key from
// the signer's store) is funded by a mint to its multisig account, which the worker reports as
// a deposit; a withdrawal under the limit runs to `confirmed` and the destination's token
// balance rises; one over the limit waits for an admin; a tampered digest is refused by the
// signer and no funds move without the platform's signature; the same flow again with the
// platform key on a SoftHSM2 token (PKCS#11). The node is started with `--webhooks`: a
// receiver on 127.0.0.1 gets the deposit and withdrawal state changes, HMAC-signed.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  identityFromMspFolder,
  type Client,
  type ClientOptions,
} from '../../src/client/index.js';
import { createCustodyClient, type CustodyClient } from '../../src/client/custody.js';
import { multisigAccountOf } from '../../src/contracts/token.js';
import {
  openPkcs11KeyStore,
  openSoftKeyStore,
  type KeyInfo,
  type KeyStore,
} from '../../src/crypto/index.js';
import {
  generateScalarKey,
  signDigestWithScalar,
  verifyDigestSignature,
} from '../../src/crypto/keys.js';
import { buildCofferTransfer, createCofferChain } from '../../src/custody/chains/coffer.js';
import {
  verifyWebhookSignature,
  webhookHeaders,
  type CustodyEvent,
} from '../../src/custody/webhooks.js';
import {
  createCustodyWorker,
  createSignerClient,
  type CustodyWorker,
  type SignerPort,
} from '../../src/custody/worker.js';
import type { WithdrawalRecord } from '../../src/custody/index.js';
import {
  createSignerServer,
  loadConsortiumMsps,
  openAuditLog,
  type SignerServer,
} from '../../src/signer/index.js';
import { userMspDir } from '../support/clients.js';
import { createSoftHsm, userPin } from '../crypto/softhsm.js';

const coffer = path.resolve(import.meta.dirname, '../../bin/coffer');
const symbol = 'CFR';

let dir: string;
let node: ChildProcess | undefined;
let url = '';
type Party = Client & { readonly custody: CustodyClient };
let service: Party;
let admin1: Party;
let admin2: Party;
let workerClient: Party;
let store: KeyStore | undefined;
let platform: KeyInfo;
let signerServer: SignerServer | undefined;
let signer: SignerPort;
let worker: CustodyWorker | undefined;
let walletId: string;
const offline = generateScalarKey('P-256');
const serviceKey = generateScalarKey('P-256');
const destination = `Org3MSP:${'cd'.repeat(32)}`;
const errors: string[] = [];
const hookSecret = 'e2e webhook secret, at least 32 characters long';
/** What the webhook receiver got: events whose signature verified, and bad deliveries. */
const hooks: { events: CustodyEvent[]; badSignatures: number; server?: Server } = {
  events: [],
  badSignatures: 0,
};

/** A webhook receiver on 127.0.0.1 and the `--webhooks` file naming it; returns the file. */
async function startReceiver(): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const header = String(req.headers[webhookHeaders.signature] ?? '');
      if (verifyWebhookSignature(hookSecret, header, body, Math.floor(Date.now() / 1000))) {
        hooks.events.push(JSON.parse(body) as CustodyEvent);
      } else {
        hooks.badSignatures += 1;
      }
      res.writeHead(204).end();
    });
  });
  hooks.server = server;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no receiver port');
  await writeFile(path.join(dir, 'hook.secret'), `${hookSecret}\n`);
  const file = path.join(dir, 'webhooks.json');
  await writeFile(
    file,
    JSON.stringify([{ url: `http://127.0.0.1:${address.port}/hooks`, secretFile: 'hook.secret' }]),
  );
  return file;
}

async function startUp(webhooks: string): Promise<ChildProcess> {
  const child = spawn(
    coffer,
    ['up', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn', '--webhooks', webhooks],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`node did not start: ${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${String(code)}: ${stderr}`));
    });
    lines.on('line', (line) => {
      const match = /listening on (https:\/\/\S+)/.exec(line);
      if (match?.[1] !== undefined) url = match[1];
      if (line.includes('"event":"started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  return child;
}

async function identityFiles(org: number, user: string) {
  const msp = userMspDir(path.join(dir, 'crypto'), org, user);
  const [certFile] = await readdir(path.join(msp, 'signcerts'));
  const [keyFile] = await readdir(path.join(msp, 'keystore'));
  const cert = await readFile(path.join(msp, 'signcerts', certFile ?? ''), 'utf8');
  const key = await readFile(path.join(msp, 'keystore', keyFile ?? ''), 'utf8');
  const identityId = createHash('sha256').update(new X509Certificate(cert).raw).digest('hex');
  return { msp, cert, key, identityId };
}

/** A ledger client and a custody API client, both as the identity (its cert is its TLS cert). */
async function party(org: number, user: string): Promise<Party> {
  const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Record<
    string,
    string
  >;
  const files = await identityFiles(org, user);
  const options: ClientOptions = {
    url,
    servername: String(profile['servername']),
    ca: await readFile(String(profile['caFile']), 'utf8'),
    tlsCert: files.cert,
    tlsKey: files.key,
    ...(await identityFromMspFolder(files.msp, `Org${org}MSP`)),
  };
  return { ...createClient(options), custody: createCustodyClient(options) };
}

async function must(
  client: Client,
  app: string,
  action: string,
  args: Record<string, unknown>,
): Promise<{ txId: string; result: Record<string, unknown> }> {
  const result = await client.submit(app, action, args, { wait: 'commit' });
  expect(result, `${app} ${action}: ${result.code ?? ''} ${result.message ?? ''}`).toMatchObject({
    status: 'Committed',
  });
  return { txId: result.txId, result: result.result as Record<string, unknown> };
}

async function withdrawal(id: string): Promise<WithdrawalRecord> {
  return (
    (await service.query('custody', 'withdrawal', { withdrawalId: id })) as {
      withdrawal: WithdrawalRecord;
    }
  ).withdrawal;
}

async function tokenBalance(account: string): Promise<string> {
  return ((await admin1.query('token', 'balance', { symbol, account })) as { balance: string })
    .balance;
}

const signService = (digest: Uint8Array) =>
  Promise.resolve(signDigestWithScalar('P-256', serviceKey.secretKey, digest));

/** Runs worker and service passes until `done` holds (receipts can take a signature interval). */
async function until(
  done: () => Promise<boolean>,
  what: string,
  on: { readonly worker?: CustodyWorker | undefined; readonly walletId?: string } = {},
): Promise<void> {
  for (let pass = 0; pass < 200; pass += 1) {
    if (await done()) return;
    await (on.worker ?? worker)?.step();
    await service.custody.signBuilt(on.walletId ?? walletId, signService);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${what} did not happen; worker errors: ${errors.slice(-5).join(' | ')}`);
}

/** A signer over `keyStore` (consortium MSPs; one organisation's node signs the roots). */
async function startSigner(
  keyStore: KeyStore,
  auditFile: string,
): Promise<{ server: SignerServer; client: SignerPort }> {
  const crypto = path.join(dir, 'crypto');
  const workerIdentity = await identityFiles(2, 'User1');
  const msps = await loadConsortiumMsps(
    [1, 2, 3].map((n) => ({
      mspId: `Org${n}MSP`,
      mspDir: path.join(crypto, 'peerOrganizations', `org${n}.coffer.local`, 'msp'),
    })),
  );
  const tls = path.join(crypto, 'peerOrganizations', 'org1.coffer.local', 'peers');
  const [peer] = await readdir(tls);
  const tlsDir = path.join(tls, peer ?? '', 'tls');
  const server = await createSignerServer({
    config: {
      authorisedCallers: [{ mspId: 'Org2MSP', identityId: workerIdentity.identityId }],
      organisationsMin: 1,
      receiptAgeMsMax: 600_000,
      requestsInFlightMax: 64,
    },
    msps,
    keyStore,
    audit: await openAuditLog(path.join(dir, auditFile), () => Date.now()),
    logger: pino({ level: 'silent' }),
    tls: {
      cert: await readFile(path.join(tlsDir, 'server.crt'), 'utf8'),
      key: await readFile(path.join(tlsDir, 'server.key'), 'utf8'),
    },
  });
  const client = createSignerClient({
    url: await server.listen('127.0.0.1', 0),
    ca: await readFile(path.join(tlsDir, 'ca.crt'), 'utf8'),
    servername: peer ?? '',
    cert: workerIdentity.cert,
    key: workerIdentity.key,
  });
  return { server, client };
}

function workerWith(signerPort: SignerPort): CustodyWorker {
  return createCustodyWorker({
    ledger: workerClient,
    custody: workerClient.custody,
    signer: signerPort,
    chain: createCofferChain(workerClient),
    onEvent: (event) => {
      if (event.kind === 'error') errors.push(`${event.action} ${event.id}: ${event.error}`);
    },
  });
}

/** The service's 2-of-3 wallet and its policy: 500 CFR per withdrawal, whitelist off. */
async function newWallet(platformKey: KeyInfo): Promise<string> {
  const created = await must(service, 'custody', 'create_wallet', {
    chain: 'coffer',
    label: 'e2e',
    keys: {
      offline: offline.publicKey,
      service: serviceKey.publicKey,
      platform: { keyId: platformKey.keyId, publicKey: platformKey.publicKey, curve: 'P-256' },
    },
  });
  const id = created.txId;
  for (const change of [
    { kind: 'set_limits', asset: symbol, perTransaction: '500', rolling24h: '100000' },
    { kind: 'set_whitelist_enabled', enabled: false },
  ]) {
    const proposal = await must(service, 'custody', 'propose_policy', { walletId: id, change });
    await must(admin1, 'custody', 'approve_policy', { changeId: proposal.txId });
    await must(admin2, 'custody', 'approve_policy', { changeId: proposal.txId });
  }
  return id;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-e2e-custody-'));
  node = await startUp(await startReceiver());
  service = await party(1, 'User1');
  admin1 = await party(1, 'Admin');
  admin2 = await party(2, 'Admin');
  const workerIdentity = await identityFiles(2, 'User1');
  workerClient = await party(2, 'User1');

  // The consortium names the worker (set_custody: Org1 proposes, Org2's vote accepts).
  const custody = { chains: { coffer: { workers: [`Org2MSP:${workerIdentity.identityId}`] } } };
  const proposed = await must(admin1, 'gov', 'propose', {
    actions: [{ name: 'set_custody', args: { custody } }],
  });
  const voted = await must(admin2, 'gov', 'vote', { proposalId: proposed.txId, ballot: 'yes' });
  expect(voted.result, JSON.stringify(proposed.result)).toMatchObject({ state: 'Accepted' });
  expect(JSON.parse((await admin1.state('public:gov.config', 'custody')) ?? '{}')).toMatchObject({
    chains: { coffer: { workers: [`Org2MSP:${workerIdentity.identityId}`] } },
  });

  // The signer: software key store, consortium MSPs, one organisation's node signs roots.
  const keyStore = await openSoftKeyStore({
    file: path.join(dir, 'signer-keys.json'),
    passphrase: 'custody e2e passphrase',
    create: true,
    kdfLog2N: 14,
  });
  store = keyStore;
  platform = await keyStore.generate({ curve: 'P-256', label: 'platform' });
  const started = await startSigner(keyStore, 'signer-audit.log');
  signerServer = started.server;
  signer = started.client;
  worker = workerWith(signer);
  walletId = await newWallet(platform);
  expect(await service.query('custody', 'policy', { walletId })).toMatchObject({
    policy: { whitelistEnabled: false, limits: { [symbol]: { perTransaction: '500' } } },
  });
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await signerServer?.close();
  await store?.close();
  for (const client of [service, admin1, admin2, workerClient] as (Party | undefined)[]) {
    client?.close();
    client?.custody.close();
  }
  if (node !== undefined && node.exitCode === null) {
    const exited = new Promise((resolve) => node?.once('exit', resolve));
    node.kill('SIGINT');
    await exited;
  }
  await new Promise((resolve) => hooks.server?.close(resolve));
  await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('custody on the ledger-native chain, end to end', () => {
  it('credits a mint to the multisig account as a deposit after depth 1', async () => {
    const account = multisigAccountOf(walletId);
    await must(admin1, 'token', 'mint', { symbol, to: account, amount: '2000' });
    await until(async () => {
      const answer = (await service.custody.balances(walletId)) as {
        balances: { asset: string; total: string }[];
      };
      return answer.balances.some((item) => item.asset === symbol && item.total === '2000');
    }, 'the deposit credit');
    expect(await admin1.query('token', 'multisig', { account })).toMatchObject({
      multisig: { walletId, threshold: 2 },
    });
    const deposits = (await service.custody.deposits(walletId)) as {
      deposits: { state: string; amount: string; confirmations: number }[];
    };
    expect(deposits.deposits).toMatchObject([
      { state: 'credited', amount: '2000', confirmations: 1 },
    ]);
  }, 120_000);

  it('runs a withdrawal under the limit to confirmed; the destination balance rises', async () => {
    const requested = await must(service, 'custody', 'request', {
      walletId,
      asset: symbol,
      amount: '300',
      destination,
      idempotencyKey: 'under-limit-1',
    });
    const id = requested.txId;
    expect((await withdrawal(id)).state).toBe('approved');
    await until(async () => (await withdrawal(id)).state === 'confirmed', 'confirmation');
    const done = await withdrawal(id);
    expect(done).toMatchObject({ state: 'confirmed', chainTxId: expect.any(String) as unknown });
    expect(await tokenBalance(destination)).toBe('300');
    expect(await tokenBalance(multisigAccountOf(walletId))).toBe('1700');
    const history = (await service.query('custody', 'history', {
      kind: 'withdrawal',
      id,
    })) as { entries: { state: string }[] };
    expect(history.entries.map((entry) => entry.state)).toEqual([
      'requested',
      'approved',
      'built',
      'service_signed',
      'platform_signed',
      'broadcast',
      'confirmed',
    ]);
    // The node's webhooks (started with --webhooks) delivered every step, signed, with ids.
    const steps = (): string[] =>
      hooks.events.filter((event) => event.object.id === id).map((event) => event.type);
    const deadline = Date.now() + 30_000;
    while (!steps().includes('withdrawal.confirmed') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(new Set(steps())).toEqual(
      new Set(history.entries.map((entry) => `withdrawal.${entry.state}`)),
    );
    expect(hooks.events.some((event) => event.type === 'deposit.credited')).toBe(true);
    expect(hooks.badSignatures).toBe(0);
    const ids = hooks.events.map((event) => event.id);
    expect(ids.every((eventId) => /^[0-9a-f]{64}$/.test(eventId))).toBe(true);
  }, 120_000);

  it('holds a withdrawal over the limit until an admin approves it', async () => {
    const requested = await must(service, 'custody', 'request', {
      walletId,
      asset: symbol,
      amount: '600',
      destination,
      idempotencyKey: 'over-limit-1',
    });
    const id = requested.txId;
    expect((await withdrawal(id)).state).toBe('pending_approval');
    for (let pass = 0; pass < 3; pass += 1) await worker?.step();
    expect((await withdrawal(id)).state).toBe('pending_approval');
    expect(await tokenBalance(destination)).toBe('300');
    await must(admin2, 'custody', 'approve', { withdrawalId: id });
    await until(async () => (await withdrawal(id)).state === 'confirmed', 'approved confirmation');
    expect(await tokenBalance(destination)).toBe('900');
  }, 120_000);

  it('refuses a tampered digest at the signer; one signature moves no funds', async () => {
    const requested = await must(service, 'custody', 'request', {
      walletId,
      asset: symbol,
      amount: '100',
      destination,
      idempotencyKey: 'tampered-1',
    });
    const id = requested.txId;
    // Built and service-signed by hand (the worker loop would ask the signer itself).
    const record = await withdrawal(id);
    const built = buildCofferTransfer(record);
    await must(workerClient, 'custody', 'build', { withdrawalId: id, ...built });
    const serviceSigned = await service.custody.signBuilt(walletId, signService);
    expect(serviceSigned).toEqual([id]);
    const history = (await service.query('custody', 'history', { kind: 'withdrawal', id })) as {
      entries: { action: string; txId: string }[];
    };
    const signTx = history.entries.find((entry) => entry.action === 'service_sign')?.txId ?? '';
    let receipt: unknown;
    for (let i = 0; i < 100 && receipt === undefined; i += 1) {
      receipt = await workerClient.receipt(signTx).catch(() => undefined);
      if (receipt === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const tampered = createHash('sha256').update('another transfer').digest('hex');
    await expect(
      signer.sign({
        walletId,
        withdrawalId: id,
        digests: [tampered],
        keyId: platform.keyId,
        receipt,
      }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^SIGNER_E_/) as unknown });
    // The service's signature alone (or twice) does not satisfy 2 of 3.
    const signature = (await withdrawal(id)).serviceSignatures?.[0] ?? '';
    const alone = await workerClient.submit(
      'token',
      'multisig_transfer',
      { tx: built.unsignedTx, signatures: [signature, signature] },
      { wait: 'commit' },
    );
    expect(alone).toMatchObject({ status: 'Invalid', code: 'TOKEN_E_MULTISIG_DUPLICATE_SIGNER' });
    expect(await tokenBalance(destination)).toBe('900');
    expect(await tokenBalance(multisigAccountOf(walletId))).toBe('1100');
    // The untampered request is signed: the receipt was good, only the digest was wrong.
    const good = await signer.sign({
      walletId,
      withdrawalId: id,
      digests: built.digests,
      keyId: platform.keyId,
      receipt,
    });
    expect(good.signatures).toEqual([expect.stringMatching(/^[0-9a-f]{128}$/)]);
    expect(
      verifyDigestSignature(
        'P-256',
        platform.publicKey,
        new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex')),
        new Uint8Array(Buffer.from(good.signatures[0] ?? '', 'hex')),
      ),
    ).toBe(true);
  }, 120_000);
  it('runs the same flow with the platform key on SoftHSM2', async () => {
    const hsm = await createSoftHsm(['coffer-e2e-custody']);
    const hsmStore = await openPkcs11KeyStore({
      library: hsm.library,
      tokenLabel: 'coffer-e2e-custody',
      pin: userPin,
    });
    const started = await startSigner(hsmStore, 'signer-hsm-audit.log');
    const hsmWorker = workerWith(started.client);
    try {
      const hsmKey = await hsmStore.generate({ curve: 'P-256', label: 'platform-hsm' });
      const hsmWallet = await newWallet(hsmKey);
      const account = multisigAccountOf(hsmWallet);
      await must(admin1, 'token', 'mint', { symbol, to: account, amount: '50' });
      const on = { worker: hsmWorker, walletId: hsmWallet };
      await until(
        async () => {
          const answer = (await service.custody.balances(hsmWallet)) as {
            balances: { asset: string; total: string }[];
          };
          return answer.balances.some((item) => item.asset === symbol && item.total === '50');
        },
        'the HSM wallet deposit',
        on,
      );
      const to = `Org2MSP:${'ef'.repeat(32)}`;
      const requested = await must(service, 'custody', 'request', {
        walletId: hsmWallet,
        asset: symbol,
        amount: '20',
        destination: to,
        idempotencyKey: 'hsm-1',
      });
      await until(
        async () => (await withdrawal(requested.txId)).state === 'confirmed',
        'the HSM withdrawal',
        on,
      );
      expect((await withdrawal(requested.txId)).platformKey.keyId).toBe(hsmKey.keyId);
      expect(await tokenBalance(to)).toBe('20');
      expect(await tokenBalance(account)).toBe('30');
    } finally {
      await hsmWorker.stop();
      await started.server.close();
      await hsmStore.close();
      await hsm.cleanup();
    }
  }, 120_000);
});
