// The SDK client against real nodes in this process (engine + HTTPS API on loopback): when an
// envelope carries the signing certificate, and how the client recovers when a node does not
// hold it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  identityFromMspFolder,
  signEnvelope,
  type Client,
  type ClientOptions,
  type TxResult,
} from '../../src/client/index.js';
import type { CofferError } from '../../src/errors/index.js';
import { certsMap } from '../../src/ledger/execute.js';
import { waitMsMax, type ApiServer } from '../../src/node/api.js';
import type { Engine } from '../../src/node/engine.js';
import { org1Material, org1UserClientOptions, startOrg1Node, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
let clientOptions: Omit<ClientOptions, 'url'>;
const engines: Engine[] = [];
const apis: ApiServer[] = [];
const clients: Client[] = [];

/** A node with an empty ledger of its own, serving its API on `port` (0: any). */
async function startNode(name: string, port = 0): Promise<{ engine: Engine; url: string }> {
  const node = await startOrg1Node(work, org1, { name, port });
  engines.push(node.engine);
  apis.push(node.api);
  return node;
}

function clientOf(url: string, sendCert?: ClientOptions['sendCert']): Client {
  const client = createClient({
    url,
    ...clientOptions,
    ...(sendCert === undefined ? {} : { sendCert }),
  });
  clients.push(client);
  return client;
}

const put = (client: Client, key: string, map = 'public:kv.sdk') =>
  client.submit('kv', 'put', { map, key, value: key }, { wait: 'commit' });

/**
 * A client whose certificate the node `oldName` knows (one of its transactions committed),
 * after that node is replaced by `newName`, with an empty ledger, on the same port.
 */
async function clientOfReplacedNode(
  oldName: string,
  newName: string,
): Promise<{ client: Client; fresh: { engine: Engine; url: string } }> {
  const first = await startNode(oldName);
  const client = clientOf(first.url);
  expect((await put(client, 'before')).status).toBe('Committed');
  expect(client.certKnown()).toBe(true);
  const port = Number(new URL(first.url).port);
  await apis.pop()?.close();
  const fresh = await startNode(newName, port);
  expect(fresh.engine.store().read(certsMap, org1.user.identity.certRef)).toBeUndefined();
  return { client, fresh };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-client-'));
  org1 = await org1Material(work);
  clientOptions = await org1UserClientOptions(work, org1);
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.close();
  for (const api of apis) await api.close();
  for (const engine of engines) await engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('the certificate in envelopes', () => {
  it('is sent until one of the client’s transactions commits, then left out', async () => {
    const { engine, url } = await startNode('until-known');
    const client = clientOf(url);
    expect(client.certKnown()).toBe(false);
    const unsent = await client.sign('kv', 'put', { map: 'public:kv.sdk', key: 's', value: 's' });
    expect(unsent.envelope.cert).toBe(org1.user.identity.certPem);

    const first = await put(client, 'first');
    expect(first.status).toBe('Committed');
    expect(client.certKnown()).toBe(true);
    expect(engine.store().read(certsMap, org1.user.identity.certRef)).toBe(
      org1.user.identity.certPem,
    );

    const signed = await client.sign('kv', 'put', { map: 'public:kv.sdk', key: 'x', value: 'x' });
    expect(signed.envelope.cert).toBeUndefined();
    const second = await put(client, 'second');
    expect(second).toMatchObject({ status: 'Committed' });
    expect(engine.store().read('public:kv.sdk', 'second')).toBe('second');
  });

  it('a Committed status read for one of its transactions counts too; an Invalid one does not', async () => {
    const { url } = await startNode('by-status');
    const client = clientOf(url);
    const invalid = await put(client, 'k', 'not-a-kv-map');
    expect(invalid.status).toBe('Invalid');
    expect(client.certKnown()).toBe(false);
    const sent = await client.submit('kv', 'put', { map: 'public:kv.sdk', key: 'k', value: 'v' });
    expect(client.certKnown()).toBe(false);
    expect(await client.status(sent.txId, { wait: 'commit' })).toMatchObject({
      status: 'Committed',
    });
    expect(client.certKnown()).toBe(true);
  });

  it('is sent again when a node answers TX_E_UNKNOWN_CERT (a node with a new ledger at the same address)', async () => {
    const { client, fresh } = await clientOfReplacedNode('old-ledger', 'new-ledger');

    const after = await put(client, 'after');
    expect(after.status).toBe('Committed');
    expect(fresh.engine.store().read('public:kv.sdk', 'after')).toBe('after');
    expect(fresh.engine.store().read(certsMap, org1.user.identity.certRef)).toBe(
      org1.user.identity.certPem,
    );
    expect(client.certKnown()).toBe(true);
  });

  it("is in every envelope with sendCert 'always'", async () => {
    const { url } = await startNode('always');
    const client = clientOf(url, 'always');
    expect((await put(client, 'one')).status).toBe('Committed');
    const signed = await client.sign('kv', 'put', { map: 'public:kv.sdk', key: 'x', value: 'x' });
    expect(signed.envelope.cert).toBe(org1.user.identity.certPem);
  });
});

describe('submitBatch', () => {
  const signPut = (client: Client, key: string, map = 'public:kv.batch') =>
    client.sign('kv', 'put', { map, key, value: key });

  it('answers Pending at once without wait; every transaction then commits', async () => {
    const { engine, url } = await startNode('batch-none');
    const client = clientOf(url);
    const signed = await Promise.all(['a', 'b', 'c'].map((key) => signPut(client, key)));
    const results = await client.submitBatch(signed.map((item) => item.envelope));
    expect(results).toEqual(signed.map((item) => ({ txId: item.txId, status: 'Pending' })));
    for (const item of signed) {
      expect(await client.status(item.txId, { wait: 'commit' })).toMatchObject({
        status: 'Committed',
      });
    }
    expect(engine.store().read('public:kv.batch', 'c')).toBe('c');
  });

  it("with wait 'commit' answers each transaction's outcome, and the refusals in their places", async () => {
    const { engine, url } = await startNode('batch-commit');
    const client = clientOf(url);
    const [x, y, z] = await Promise.all(['x', 'y', 'z'].map((key) => signPut(client, key)));
    if (x === undefined || y === undefined || z === undefined) throw new Error('three signed');
    const good = [x, y, z];
    const failing = await signPut(client, 'k', 'not-a-kv-map');
    const tampered = await signPut(client, 'tampered');
    const badSignature = {
      ...tampered.envelope,
      signature: tampered.envelope.signature.map((byte, i) => (i === 8 ? byte ^ 1 : byte)),
    };
    const results = await client.submitBatch(
      [
        x.envelope,
        y.envelope,
        x.envelope, // the same transaction again
        failing.envelope,
        badSignature,
        z.envelope,
      ],
      { wait: 'commit' },
    );
    expect(results).toHaveLength(6);
    const committed = [results[0], results[1], results[5]] as TxResult[];
    committed.forEach((result, k) => {
      expect(result).toMatchObject({ txId: good[k]?.txId, status: 'Committed' });
    });
    // In submission order: the log keeps it, and so do the seqnos.
    expect(committed.map((result) => result.seqno)).toEqual(
      [...committed.map((result) => result.seqno)].sort((a, b) => (a ?? 0) - (b ?? 0)),
    );
    expect((results[2] as { error: CofferError }).error.code).toBe('TX_E_REPLAY');
    expect(results[3]).toMatchObject({ txId: failing.txId, status: 'Invalid' });
    expect((results[3] as TxResult).code).toBeDefined();
    expect((results[4] as { error: CofferError }).error.code).toBe('MSP_E_SIGNATURE_INVALID');
    expect(engine.store().read('public:kv.batch', 'z')).toBe('z');
    expect(engine.store().read('public:kv.batch', 'tampered')).toBeUndefined();
    // A committed transaction of this client's: the certificate is known from here on.
    expect(client.certKnown()).toBe(true);
  });

  it('sends again with the certificate what a node refuses with TX_E_UNKNOWN_CERT, only for its own identity', async () => {
    const { client, fresh } = await clientOfReplacedNode('batch-old-ledger', 'batch-new-ledger');

    const own = await Promise.all(['o1', 'o2'].map((key) => signPut(client, key)));
    expect(own.every((item) => item.envelope.cert === undefined)).toBe(true);
    // An envelope of another identity without its certificate: not this client's to complete.
    const admin = await identityFromMspFolder(
      path.join(
        work,
        'crypto',
        'peerOrganizations',
        'org1.example.com',
        'users',
        'Admin@org1.example.com',
        'msp',
      ),
      'Org1MSP',
    );
    const foreign = await signEnvelope({
      app: 'kv',
      action: 'put',
      args: { map: 'public:kv.batch', key: 'foreign', value: 'foreign' },
      ...admin,
      sendCert: false,
    });
    const [o1, o2] = own;
    if (o1 === undefined || o2 === undefined) throw new Error('two signed');
    const results = await client.submitBatch([o1.envelope, foreign.envelope, o2.envelope], {
      wait: 'commit',
    });
    expect(results[0]).toMatchObject({ txId: o1.txId, status: 'Committed' });
    expect(results[2]).toMatchObject({ txId: o2.txId, status: 'Committed' });
    expect((results[1] as { error: CofferError }).error.code).toBe('TX_E_UNKNOWN_CERT');
    expect(fresh.engine.store().read('public:kv.batch', 'o2')).toBe('o2');
    expect(fresh.engine.store().read('public:kv.batch', 'foreign')).toBeUndefined();
    expect(fresh.engine.store().read(certsMap, org1.user.identity.certRef)).toBe(
      org1.user.identity.certPem,
    );
    expect(client.certKnown()).toBe(true);
  });

  it('refuses a wait longer than the node allows, and submits nothing', async () => {
    const { engine, url } = await startNode('batch-timeout');
    const client = clientOf(url);
    const signed = await signPut(client, 'never');
    await expect(
      client.submitBatch([signed.envelope], { wait: 'commit', timeoutMs: waitMsMax + 1 }),
    ).rejects.toMatchObject({ code: 'NODE_E_BAD_REQUEST' });
    expect(await client.status(signed.txId)).toMatchObject({ status: 'Unknown' });
    expect(engine.store().read('public:kv.batch', 'never')).toBeUndefined();
  });
});
