// The custody REST API on a real node in-process (engine + API, mutual TLS): a service creates
// a wallet and an address, the chain worker reports a deposit, the service asks for a
// withdrawal over its limit, an admin sees it pending and approves it, and the audit history
// carries receipts that verify offline. Refusals come with their codes.
import { generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  createCustodyClient,
  identityFromMspFolder,
  signEnvelope,
  type Client,
  type ClientOptions,
  type CustodyClient,
} from '../../src/client/index.js';
import { builtInApps } from '../../src/contracts/index.js';
import { custodyApp } from '../../src/custody/index.js';
import { parseReceipt, verifyReceipt } from '../../src/ledger/receipt.js';
import { envelopeToJson } from '../../src/ledger/tx.js';
import { createApi, type ApiServer } from '../../src/node/api.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import { cofferAddress, keysArg, walletKeys } from '../custody/driver.js';
import { org1Material, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
let engine: Engine;
let api: ApiServer;
let url: string;
const options = new Map<string, ClientOptions>();
let svc: CustodyClient;
let admin: CustodyClient;
let worker: Client;

const orgDir = (): string => path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');

/** Client options of an MSP identity whose certificate is also its TLS client certificate. */
async function optionsOf(mspDir: string): Promise<ClientOptions & { identityId: string }> {
  const { identity, signer } = await identityFromMspFolder(mspDir, 'Org1MSP');
  const keystore = path.join(mspDir, 'keystore');
  const [keyFile] = await readdir(keystore);
  const peerTls = path.join(orgDir(), 'peers', 'peer0.org1.example.com', 'tls');
  const msp = org1.consortium.msps.get('Org1MSP');
  const deserialized = msp?.deserializeIdentity('Org1MSP', identity.certPem);
  if (deserialized?.ok !== true) throw new Error(`${mspDir}: not an Org1MSP identity`);
  return {
    url,
    ca: await readFile(path.join(peerTls, 'ca.crt'), 'utf8'),
    servername: 'peer0.org1.example.com',
    tlsCert: identity.certPem,
    tlsKey: await readFile(path.join(keystore, String(keyFile)), 'utf8'),
    identity,
    signer,
    identityId: deserialized.identity.id,
  };
}

/** A raw POST/GET with `who`'s TLS identity: what the SDK would not send. */
async function raw(
  who: string,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const client = options.get(who);
  if (client === undefined) throw new Error(who);
  const agent = new Agent({
    ca: client.ca as string,
    cert: client.tlsCert,
    key: client.tlsKey,
    servername: 'peer0.org1.example.com',
  });
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  try {
    return await new Promise((resolve, reject) => {
      const req = httpsRequest(
        `${url}${route}`,
        {
          method,
          agent,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            resolve({
              status: res.statusCode ?? 0,
              body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
            });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  } finally {
    agent.destroy();
  }
}

async function signedBy(who: string, action: string, args: Record<string, unknown>) {
  const client = options.get(who);
  if (client === undefined) throw new Error(who);
  const { envelope } = await signEnvelope({
    app: 'custody',
    action,
    args,
    identity: client.identity,
    signer: client.signer,
  });
  return envelopeToJson(envelope);
}

function result(tx: { status: string; result?: unknown; code?: string; message?: string }) {
  expect(tx.status, `${tx.code ?? ''} ${tx.message ?? ''}`).toBe('Committed');
  return tx.result as Record<string, Record<string, unknown>>;
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-custody-api-'));
  org1 = await org1Material(work);
  const users = path.join(orgDir(), 'users');
  const peerMsp = path.join(orgDir(), 'peers', 'peer0.org1.example.com', 'msp');
  // The worker's principal goes into the custody parameters of the genesis entry.
  url = 'https://127.0.0.1:0';
  const workerOptions = await optionsOf(peerMsp);
  const custody = {
    policyQuorum: 1,
    chains: {
      coffer: { confirmations: 1, workers: [`Org1MSP:${workerOptions.identityId}`] },
      ethereum: { confirmations: 12, workers: [] },
      bitcoin: { confirmations: 6, workers: [] },
    },
  };
  const configMap = 'public:cfg.config';
  engine = await startEngine({
    dataDir: path.join(work, 'node'),
    nodeId: 'n0',
    consortium: () => org1.consortium,
    governed: {
      genesis: {
        config: { custody },
        writes: [{ map: 'public:gov.config', key: 'custody', value: JSON.stringify(custody) }],
      },
      configMap,
      consortiumOf: () => org1.consortium,
    },
    apps: new Map([...builtInApps(), [custodyApp.name, custodyApp]]),
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 1000,
    signatureIntervalMs: 20,
  });
  const peerTls = path.join(orgDir(), 'peers', 'peer0.org1.example.com', 'tls');
  api = await createApi({
    engine,
    consortium: () => org1.consortium,
    apps: new Map([...builtInApps(), [custodyApp.name, custodyApp]]),
    tls: {
      cert: await readFile(path.join(peerTls, 'server.crt'), 'utf8'),
      key: await readFile(path.join(peerTls, 'server.key'), 'utf8'),
    },
    logger: pino({ level: 'silent' }),
  });
  url = await api.listen('127.0.0.1', 0);
  options.set('svc', await optionsOf(path.join(users, 'User1@org1.example.com', 'msp')));
  options.set('admin', await optionsOf(path.join(users, 'Admin@org1.example.com', 'msp')));
  options.set('worker', { ...workerOptions, url });
  svc = createCustodyClient(options.get('svc') as ClientOptions);
  admin = createCustodyClient(options.get('admin') as ClientOptions);
  worker = createClient(options.get('worker') as ClientOptions);
}, 60_000);

afterAll(async () => {
  svc.close();
  admin.close();
  worker.close();
  await api.close();
  await engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('custody API', () => {
  let walletId = '';
  let withdrawalId = '';
  const deposit = cofferAddress('deposit api');
  const destination = cofferAddress('exchange api');

  it('creates a wallet and an address, credits a deposit, and reads them back', async () => {
    const keys = keysArg(walletKeys('P-256', 'api'), 'P-256');
    const created = result(
      await svc.createWallet({ chain: 'coffer', label: 'hot', keys: keys as never }),
    );
    walletId = String(created['wallet']?.['id']);
    result(await svc.addAddress(walletId, { address: deposit, account: 'c1' }));
    const output = { chain: 'coffer', chainTxId: 'api-deposit-1', outputIndex: 0 };
    result(
      await worker.submit(
        'custody',
        'deposit_seen',
        {
          ...output,
          address: deposit,
          asset: 'COF',
          amount: '1000',
          blockHeight: 10,
          blockHash: 'block-10',
        },
        { wait: 'commit' },
      ),
    );
    result(
      await worker.submit(
        'custody',
        'deposit_confirmations',
        { ...output, confirmations: 3 },
        { wait: 'commit' },
      ),
    );
    expect((await svc.wallets())['wallets']).toMatchObject([{ id: walletId }]);
    expect((await svc.wallet(walletId))['wallet']).toMatchObject({ id: walletId, label: 'hot' });
    expect((await svc.balances(walletId))['balances']).toMatchObject([
      { asset: 'COF', total: '1000', available: '1000' },
    ]);
    expect((await svc.addresses(walletId))['addresses']).toMatchObject([{ address: deposit }]);
    expect(await svc.address('coffer', deposit)).toMatchObject({
      address: { walletId, account: 'c1' },
    });
    const one = await raw('svc', 'GET', '/v1/custody/deposits/coffer/api-deposit-1/0');
    expect(one.body).toMatchObject({ deposit: { state: 'credited', amount: '1000' } });
    expect((await svc.deposits(walletId))['deposits']).toMatchObject([
      { id: 'coffer/api-deposit-1/0', state: 'credited' },
    ]);
  });

  it('changes the policy through a proposal an admin approves', async () => {
    const whitelist = result(
      await svc.proposePolicy(walletId, {
        kind: 'whitelist_add',
        address: destination,
        label: 'cold',
      }),
    );
    const changeId = String(whitelist['change']?.['id']);
    expect((await svc.policy(walletId))['pending']).toMatchObject([{ id: changeId }]);
    result(await admin.approvePolicy(changeId));
    const limits = result(
      await svc.proposePolicy(walletId, {
        kind: 'set_limits',
        asset: 'COF',
        perTransaction: '100',
        rolling24h: '250',
      }),
    );
    result(await admin.approvePolicy(String(limits['change']?.['id'])));
    expect((await svc.whitelist(walletId))['whitelist']).toMatchObject([{ address: destination }]);
    expect((await svc.policy(walletId))['policy']).toMatchObject({
      limits: { COF: { perTransaction: '100' } },
    });
  });

  it('a withdrawal over the limit waits for an admin, who approves it', async () => {
    const request = { walletId, asset: 'COF', amount: '500', destination, idempotencyKey: 'w-1' };
    const requested = result(await svc.requestWithdrawal(request));
    withdrawalId = String(requested['withdrawal']?.['id']);
    expect(requested['withdrawal']).toMatchObject({ state: 'pending_approval' });
    // The same idempotency key gives the same withdrawal.
    const again = result(await svc.requestWithdrawal(request));
    expect(again['withdrawal']?.['id']).toBe(withdrawalId);

    const pending = await admin.pendingApprovals();
    expect(pending['withdrawals']).toMatchObject([{ id: withdrawalId }]);
    await expect(svc.pendingApprovals()).rejects.toMatchObject({ code: 'CUSTODY_E_NOT_ADMIN' });
    expect(
      (await svc.withdrawals({ walletId, state: 'pending_approval' }))['withdrawals'],
    ).toMatchObject([{ id: withdrawalId }]);

    // The requester cannot approve its own withdrawal, nor can a non-admin: the transaction
    // is invalid, with its code.
    expect(await svc.approve(withdrawalId)).toMatchObject({
      status: 'Invalid',
      code: 'CUSTODY_E_SELF_APPROVAL',
    });
    const workerCustody = createCustodyClient(options.get('worker') as ClientOptions);
    try {
      expect(await workerCustody.approve(withdrawalId)).toMatchObject({
        status: 'Invalid',
        code: 'CUSTODY_E_NOT_ADMIN',
      });
    } finally {
      workerCustody.close();
    }

    const approved = result(await admin.approve(withdrawalId));
    expect(approved['withdrawal']).toMatchObject({ state: 'approved' });
    expect((await svc.withdrawal(withdrawalId))['withdrawal']).toMatchObject({
      state: 'approved',
      approvals: [{ mspId: 'Org1MSP' }],
    });
    expect((await admin.pendingApprovals())['withdrawals']).toEqual([]);
  });

  it('refuses an envelope that is not the route action, or names another object', async () => {
    const approve = await signedBy('admin', 'approve', { withdrawalId });
    const wrongRoute = await raw(
      'admin',
      'POST',
      `/v1/custody/withdrawals/${withdrawalId}/reject`,
      approve,
    );
    expect(wrongRoute.status).toBe(400);
    expect(wrongRoute.body).toMatchObject({ error: { code: 'CUSTODY_E_ROUTE_MISMATCH' } });
    const otherId = await raw(
      'admin',
      'POST',
      `/v1/custody/withdrawals/${'0'.repeat(64)}/approve`,
      approve,
    );
    expect(otherId.body).toMatchObject({ error: { code: 'CUSTODY_E_ROUTE_MISMATCH' } });
    const kvPut = await raw('svc', 'POST', '/v1/custody/withdrawals', {
      ...envelopeToJson(
        (
          await signEnvelope({
            app: 'kv',
            action: 'put',
            args: { map: 'public:kv.x', key: 'k', value: 'v' },
            identity: (options.get('svc') as ClientOptions).identity,
            signer: (options.get('svc') as ClientOptions).signer,
          })
        ).envelope,
      ),
    });
    expect(kvPut.body).toMatchObject({ error: { code: 'CUSTODY_E_ROUTE_MISMATCH' } });
    const notEnvelope = await raw('svc', 'POST', '/v1/custody/withdrawals', { request: 1 });
    expect(notEnvelope.body).toMatchObject({ error: { code: 'NODE_E_BAD_REQUEST' } });
    // The service-signature route takes only service_sign of the withdrawal in its path.
    const onSignature = await raw(
      'admin',
      'POST',
      `/v1/custody/withdrawals/${withdrawalId}/service-signature`,
      approve,
    );
    expect(onSignature.body).toMatchObject({ error: { code: 'CUSTODY_E_ROUTE_MISMATCH' } });
  });

  it('the SDK signs only a built withdrawal: an approved one has no digest yet', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const sign = (digest: Uint8Array): Promise<Uint8Array> =>
      Promise.resolve(cryptoSign(null, digest, key));
    await expect(svc.serviceSign(withdrawalId, sign)).rejects.toMatchObject({
      code: 'CUSTODY_E_BAD_STATE',
    });
    expect(await svc.signBuilt(walletId, sign)).toEqual([]);
    expect((await svc.withdrawal(withdrawalId))['withdrawal']).toMatchObject({ state: 'approved' });
  });

  it('an admin cannot approve a policy change it proposed', async () => {
    const proposed = result(
      await admin.proposePolicy(walletId, { kind: 'set_approvals', approvalsRequired: 1 }),
    );
    const refused = await admin.approvePolicy(String(proposed['change']?.['id']));
    expect(refused).toMatchObject({ status: 'Invalid', code: 'CUSTODY_E_SELF_APPROVAL' });
  });

  it('reads answer custody codes with HTTP statuses', async () => {
    const missing = await raw('svc', 'GET', `/v1/custody/wallets/${'1'.repeat(64)}`);
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: { code: 'CUSTODY_E_NOT_FOUND' } });
    const forbidden = await raw('worker', 'GET', '/v1/custody/approvals/pending');
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: 'CUSTODY_E_NOT_ADMIN' } });
    const badKind = await raw('svc', 'GET', `/v1/custody/history/nothing/${walletId}`);
    expect(badKind.body).toMatchObject({ error: { code: 'NODE_E_BAD_REQUEST' } });
  });

  it('gives the audit history with receipts that verify offline', async () => {
    let history: Record<string, unknown> = {};
    let entries: { txId: string; state: string; receipt: unknown; receiptUrl: string }[] = [];
    for (let i = 0; i < 100; i += 1) {
      history = await svc.history('withdrawal', withdrawalId);
      entries = history['entries'] as typeof entries;
      if (entries.every((entry) => entry.receipt !== null)) break;
      await new Promise((resolve) => setTimeout(resolve, 30));
    }
    expect(entries.map((entry) => entry.state)).toEqual([
      'requested',
      'pending_approval',
      'approved',
    ]);
    for (const entry of entries) {
      expect(entry.receiptUrl).toBe(`/v1/tx/${entry.txId}/receipt`);
      const check = verifyReceipt(
        parseReceipt(JSON.parse(JSON.stringify(entry.receipt))),
        org1.consortium.msps,
      );
      expect(check.ok, check.ok ? '' : check.error.message).toBe(true);
    }
    // Deposit ids hold slashes; the route keeps them.
    const deposits = await svc.history('deposit', 'coffer/api-deposit-1/0');
    expect((deposits['entries'] as { state: string }[]).map((entry) => entry.state)).toContain(
      'credited',
    );
  });

  it('lists every custody route in the OpenAPI document', async () => {
    const document = await raw('svc', 'GET', '/v1/openapi.json');
    const paths = Object.keys(document.body['paths'] as object);
    for (const route of [
      '/v1/custody/wallets',
      '/v1/custody/wallets/{id}/balances',
      '/v1/custody/withdrawals/{id}/approve',
      '/v1/custody/withdrawals/{id}/service-signature',
      '/v1/custody/approvals/pending',
      '/v1/custody/policy-changes/{id}/approve',
    ]) {
      expect(paths).toContain(route);
    }
  });
});
