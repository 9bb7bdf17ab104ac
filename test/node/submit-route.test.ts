// POST /v1/tx's direct path (decision 0039) against Fastify's route, on a real in-process node
// over mutual TLS: every request is sent once as the direct path takes it and once with an
// extra query parameter (which the direct path leaves to Fastify and Fastify ignores), and
// the two answers must agree: status code, error code and message, outcome.
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/index.js';
import { envelopeToJson } from '../../src/ledger/tx.js';
import type { ApiServer } from '../../src/node/api.js';
import type { Engine } from '../../src/node/engine.js';
import { org1Material, org1UserClientOptions, startOrg1Node, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
let node: { engine: Engine; api: ApiServer; url: string };
let agent: Agent;

type Reply = { status: number; headers: Record<string, unknown>; body: Record<string, unknown> };

function call(
  method: string,
  pathAndQuery: string,
  body?: string,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<Reply> {
  const url = new URL(pathAndQuery, node.url);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      url,
      {
        method,
        agent,
        headers: {
          ...headers,
          ...(body === undefined ? {} : { 'content-length': String(Buffer.byteLength(body)) }),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>),
          });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function directSubmits(): Promise<number> {
  const status = await call('GET', '/v1/status', undefined, {});
  return (status.body['api'] as { directSubmits: number }).directSubmits;
}

let nonce = 0;
/** A fresh signed kv put, as the JSON text of its envelope (with the signer's certificate). */
async function envelopeJson(extra: Record<string, unknown> = {}): Promise<string> {
  nonce += 1;
  const signed = await signEnvelope({
    app: 'kv',
    action: 'put',
    args: { map: 'public:kv.direct', key: `k${nonce}`, value: 'v' },
    ...org1.user,
    sendCert: true,
  });
  return JSON.stringify({ ...envelopeToJson(signed.envelope), ...extra });
}

/** The same request by both paths: [direct, Fastify], with how many the direct path took. */
async function both(
  query: string,
  body: () => Promise<string> | string,
  headers?: Record<string, string>,
): Promise<{ direct: Reply; fastify: Reply; taken: number }> {
  const before = await directSubmits();
  const direct = await call('POST', `/v1/tx${query}`, await body(), headers);
  const fastify = await call(
    'POST',
    `/v1/tx${query === '' ? '?' : `${query}&`}via=fastify`,
    await body(),
    headers,
  );
  return { direct, fastify, taken: (await directSubmits()) - before };
}

function errorOf(reply: Reply): unknown {
  return reply.body['error'];
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-direct-'));
  org1 = await org1Material(work);
  const options = await org1UserClientOptions(work, org1);
  node = await startOrg1Node(work, org1);
  agent = new Agent({
    keepAlive: true,
    ca: options.ca,
    cert: options.tlsCert,
    key: options.tlsKey,
    servername: options.servername,
  });
}, 60_000);

afterAll(async () => {
  agent.destroy();
  await node.api.close();
  await node.engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('POST /v1/tx: the direct path answers as Fastify does', () => {
  it('commits with wait=commit, the same outcome by both paths', async () => {
    const { direct, fastify, taken } = await both('?wait=commit&timeoutMs=10000', () =>
      envelopeJson(),
    );
    expect(taken).toBe(1);
    for (const reply of [direct, fastify]) {
      expect(reply.status).toBe(200);
      expect(reply.body['status']).toBe('Committed');
      expect(reply.body['txId']).toMatch(/^[0-9a-f]{64}$/);
      expect(typeof reply.body['seqno']).toBe('number');
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    }
    expect(Object.keys(direct.body).sort()).toEqual(Object.keys(fastify.body).sort());
  });

  it('answers 202 Pending without wait, and the transaction commits', async () => {
    const { direct, fastify, taken } = await both('', () => envelopeJson());
    expect(taken).toBe(1);
    expect(direct.status).toBe(202);
    expect(direct.body).toEqual({ txId: direct.body['txId'], status: 'Pending' });
    expect(fastify.status).toBe(202);
    expect(fastify.body['status']).toBe('Pending');
    const committed = await call(
      'GET',
      `/v1/tx/${String(direct.body['txId'])}?wait=commit`,
      undefined,
      {},
    );
    expect(committed.body['status']).toBe('Committed');
  });

  it('refuses a replayed envelope with TX_E_REPLAY by both paths', async () => {
    const envelope = await envelopeJson();
    const first = await call('POST', '/v1/tx?wait=commit', envelope);
    expect(first.body['status']).toBe('Committed');
    const { direct, fastify, taken } = await both('?wait=commit', () => envelope);
    expect(taken).toBe(1);
    expect(direct.status).toBe(fastify.status);
    expect(errorOf(direct)).toEqual(errorOf(fastify));
    expect((errorOf(direct) as { code: string }).code).toBe('TX_E_REPLAY');
  });

  it('refuses a tampered signature with MSP_E_SIGNATURE_INVALID by both paths', async () => {
    const tampered = async (): Promise<string> => {
      const json = JSON.parse(await envelopeJson()) as { signature: string };
      const bytes = Buffer.from(json.signature, 'base64');
      bytes[bytes.length - 1] = (bytes.at(-1) ?? 0) ^ 1;
      return JSON.stringify({ ...json, signature: bytes.toString('base64') });
    };
    const { direct, fastify } = await both('?wait=commit', tampered);
    expect(direct.status).toBe(fastify.status);
    expect(errorOf(direct)).toEqual(errorOf(fastify));
    expect((errorOf(direct) as { code: string }).code).toBe('MSP_E_SIGNATURE_INVALID');
  });

  it.each([
    ['a body that is not JSON', '{"request":'],
    ['a missing signature', '{"request":"AAAA"}'],
    ['a request that is not a string', '{"request":[1],"signature":"AAAA"}'],
    ['a request too long', `{"request":"${'A'.repeat(1_500_000)}","signature":"AAAA"}`],
    ['a prototype key', '{"__proto__":{"polluted":1},"request":"AAAA","signature":"AAAA"}'],
    ['JSON that is not an object', '[1,2,3]'],
    ['a request that is not base64 of a request', '{"request":"!!!!","signature":"AAAA"}'],
  ])('refuses %s with the same code and message by both paths', async (_name, body) => {
    const { direct, fastify, taken } = await both('?wait=commit', () => body);
    expect(taken).toBe(1);
    expect(direct.status).toBeGreaterThanOrEqual(400);
    expect(direct.status).toBe(fastify.status);
    expect(errorOf(direct)).toEqual(errorOf(fastify));
  });

  it('accepts extra properties as Fastify does (its validator removes them)', async () => {
    const { direct, fastify, taken } = await both('?wait=commit', () =>
      envelopeJson({ comment: 'ignored' }),
    );
    expect(taken).toBe(1);
    expect(direct.body['status']).toBe('Committed');
    expect(fastify.body['status']).toBe('Committed');
  });

  it.each([
    ['a timeout of zero', '?wait=commit&timeoutMs=0', undefined],
    ['a timeout over the limit', '?wait=commit&timeoutMs=30001', undefined],
    ['an unknown wait', '?wait=maybe', undefined],
    ['a text body', '?wait=commit', { 'content-type': 'text/plain' }],
  ])('leaves %s to Fastify, which refuses it', async (_name, query, headers) => {
    const before = await directSubmits();
    const reply = await call('POST', `/v1/tx${query}`, await envelopeJson(), headers);
    expect(await directSubmits()).toBe(before);
    expect(reply.status).toBeGreaterThanOrEqual(400);
    expect(reply.status).toBeLessThan(500);
    expect(reply.body['error']).toBeDefined();
  });
});
