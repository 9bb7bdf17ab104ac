// A whole custody withdrawal on embedded defaults, with real parts: a node started by
// `coffer up`, the isolated signer (software key store) over mutual TLS, the coffer chain
// worker and the service's signing helper. A 2-of-3 wallet (offline, service, platform key from
// the signer's store) is funded by a mint to its multisig account, which the worker reports as
// a deposit; a withdrawal under the limit runs to `confirmed` and the destination's token
// balance rises; one over the limit waits for an admin; a tampered digest is refused by the
// signer and no funds move without the platform's signature; the same flow again with the
// platform key on a SoftHSM2 token (PKCS#11). The node is started with `--webhooks`: a
// receiver on 127.0.0.1 gets the deposit and withdrawal state changes, HMAC-signed.
// The consortium (node, parties, signer, worker, wallet) is test/support/custody-up.ts's.
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { multisigAccountOf } from '../../src/contracts/token.js';
import { openPkcs11KeyStore } from '../../src/crypto/index.js';
import { verifyDigestSignature } from '../../src/crypto/keys.js';
import { buildCofferTransfer } from '../../src/custody/chains/coffer.js';
import {
  verifyWebhookSignature,
  webhookHeaders,
  type CustodyEvent,
} from '../../src/custody/webhooks.js';
import {
  custodySymbol as symbol,
  must,
  startCustodyConsortium,
  type CustodyConsortium,
} from '../support/custody-up.js';
import { createSoftHsm, userPin } from '../crypto/softhsm.js';

let running: CustodyConsortium | undefined;
const destination = `Org3MSP:${'cd'.repeat(32)}`;
const hookSecret = 'e2e webhook secret, at least 32 characters long';
/** What the webhook receiver got: events whose signature verified, and bad deliveries. */
const hooks: { events: CustodyEvent[]; badSignatures: number; server?: Server } = {
  events: [],
  badSignatures: 0,
};

/** A webhook receiver on 127.0.0.1 and the `--webhooks` file in `dir` naming it. */
async function startReceiver(dir: string): Promise<string> {
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

/** The consortium beforeAll started (every test runs after it). */
function consortium(): CustodyConsortium {
  if (running === undefined) throw new Error('the custody consortium did not start');
  return running;
}

beforeAll(async () => {
  running = await startCustodyConsortium({
    upArgs: async (dir) => ['--webhooks', await startReceiver(dir)],
  });
  const { admin1, service, walletId } = running;
  const workerIdentity = await running.identityFiles(2, 'User1');
  expect(JSON.parse((await admin1.state('public:gov.config', 'custody')) ?? '{}')).toMatchObject({
    chains: { coffer: { workers: [`Org2MSP:${workerIdentity.identityId}`] } },
  });
  expect(await service.query('custody', 'policy', { walletId })).toMatchObject({
    policy: { whitelistEnabled: false, limits: { [symbol]: { perTransaction: '500' } } },
  });
}, 180_000);

afterAll(async () => {
  await running?.stop();
  await new Promise((resolve) => hooks.server?.close(resolve));
}, 60_000);

describe('custody on the ledger-native chain, end to end', () => {
  it('credits a mint to the multisig account as a deposit after depth 1', async () => {
    const { admin1, service, walletId, fund } = consortium();
    const account = multisigAccountOf(walletId);
    await fund(walletId, '2000');
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
    const { service, walletId, withdrawal, tokenBalance, until } = consortium();
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
    const { service, admin2, walletId, worker, withdrawal, tokenBalance, until } = consortium();
    const requested = await must(service, 'custody', 'request', {
      walletId,
      asset: symbol,
      amount: '600',
      destination,
      idempotencyKey: 'over-limit-1',
    });
    const id = requested.txId;
    expect((await withdrawal(id)).state).toBe('pending_approval');
    for (let pass = 0; pass < 3; pass += 1) await worker.step();
    expect((await withdrawal(id)).state).toBe('pending_approval');
    expect(await tokenBalance(destination)).toBe('300');
    await must(admin2, 'custody', 'approve', { withdrawalId: id });
    await until(async () => (await withdrawal(id)).state === 'confirmed', 'approved confirmation');
    expect(await tokenBalance(destination)).toBe('900');
  }, 120_000);

  it('refuses a tampered digest at the signer; one signature moves no funds', async () => {
    const {
      service,
      workerClient,
      signer,
      platform,
      walletId,
      signService,
      withdrawal,
      tokenBalance,
    } = consortium();
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
    const { service, withdrawal, tokenBalance, until, startSigner, workerWith, newWallet, fund } =
      consortium();
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
      const on = { worker: hsmWorker, walletId: hsmWallet };
      await fund(hsmWallet, '50', on);
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
