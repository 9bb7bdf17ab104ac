// The SDK client against real nodes in this process (engine + HTTPS API on loopback): when an
// envelope carries the signing certificate, and how the client recovers when a node does not
// hold it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client, type ClientOptions } from '../../src/client/index.js';
import { certsMap } from '../../src/ledger/execute.js';
import type { ApiServer } from '../../src/node/api.js';
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

const put = (client: Client, key: string) =>
  client.submit('kv', 'put', { map: 'public:kv.sdk', key, value: key }, { wait: 'commit' });

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
    const invalid = await client.submit(
      'kv',
      'put',
      { map: 'not-a-kv-map', key: 'k', value: 'v' },
      { wait: 'commit' },
    );
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
    const first = await startNode('old-ledger');
    const client = clientOf(first.url);
    expect((await put(client, 'before')).status).toBe('Committed');
    expect(client.certKnown()).toBe(true);

    // The node is replaced by one with an empty ledger, on the same port.
    const port = Number(new URL(first.url).port);
    const oldApi = apis.pop();
    await oldApi?.close();
    const fresh = await startNode('new-ledger', port);
    expect(fresh.engine.store().read(certsMap, org1.user.identity.certRef)).toBeUndefined();

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
