// Time limits of a real in-process node's HTTPS listeners over mutual TLS on loopback: a request
// whose body or headers stall is answered 408 NODE_E_REQUEST_TIMEOUT in the registry's format
// and its connection closed, on the API listener (POST /v1/tx, the direct path, and a Fastify
// route) and on the console listener; an idle keep-alive connection, and a request received
// whole that waits for its commit longer than the limit, are not cut by it; a request that is not HTTP gets 400 NODE_E_BAD_REQUEST.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/client/index.js';
import type { ApiServer } from '../../src/node/api.js';
import type { Engine } from '../../src/node/engine.js';
import { apiTimeoutsDefault, keepAliveTimeoutMs } from '../../src/node/http-limits.js';
import { openEmbeddedLog } from '../../src/ordering/index.js';
import {
  closedSoon,
  getOver as get,
  openTls,
  replyOf,
  textUntilClosed,
  type RawReply,
  type RawTlsTarget,
} from '../support/raw-tls.js';
import {
  org1Material,
  org1UserClientOptions,
  org1UserRawTls,
  startOrg1Node,
  type Org1,
} from '../support/org1.js';

const timeouts = { requestMs: 500, checkEveryMs: 100 };

let work: string;
let org1: Org1;
let node: { engine: Engine; api: ApiServer; url: string };
let consoleUrl: string;
/** While set, the engine's ordering log holds appends until it settles. */
let holdAppends: Promise<void> | undefined;
let tlsOptions: Omit<RawTlsTarget, 'port'>;
const sockets = new Set<TLSSocket>();

function open(url: string): Promise<TLSSocket> {
  return openTls({ port: Number(new URL(url).port), ...tlsOptions }, sockets);
}

/** Writes `text` on a new connection to `url`, then nothing more; the answer and how long it took. */
async function stall(url: string, text: string): Promise<{ reply: RawReply; waitedMs: number }> {
  const socket = await open(url);
  const started = Date.now();
  const received = textUntilClosed(socket);
  socket.write(text);
  const answer = await received;
  const reply = replyOf(answer);
  if (reply === undefined) throw new Error(`not a whole answer: ${answer}`);
  return { reply, waitedMs: Date.now() - started };
}

function expectTimeoutAnswer({ reply, waitedMs }: { reply: RawReply; waitedMs: number }): void {
  expect(reply.status).toBe(408);
  expect(reply.headers.get('connection')).toBe('close');
  expect(reply.body['error']).toMatchObject({ code: 'NODE_E_REQUEST_TIMEOUT' });
  expect((reply.body['error'] as { message: string }).message).toContain('within 500 ms');
  expect((reply.body['error'] as { fix: string }).fix).toContain('new connection');
  expect(waitedMs).toBeGreaterThanOrEqual(timeouts.requestMs - 50);
  expect(waitedMs).toBeLessThan(5_000);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-http-limits-'));
  org1 = await org1Material(work);
  tlsOptions = await org1UserRawTls(work, org1);
  node = await startOrg1Node(work, org1, {
    timeouts,
    openLog: async (dir, logger) => {
      const log = await openEmbeddedLog(dir, { logger });
      return {
        ...log,
        append: async (batch) => {
          await holdAppends;
          return log.append(batch);
        },
      };
    },
  });
  consoleUrl = await node.api.listenConsole('127.0.0.1', 0);
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await node.api.close();
  await node.engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('request time limit of the node listeners', () => {
  it('answers a submission whose body stalls 408 NODE_E_REQUEST_TIMEOUT and closes its connection', async () => {
    // Headers and one byte of a body announced as 100 bytes, then nothing.
    expectTimeoutAnswer(
      await stall(
        node.url,
        'POST /v1/tx HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{',
      ),
    );
  });

  it('answers the same on a Fastify route (a batch) and for headers that never end', async () => {
    expectTimeoutAnswer(
      await stall(
        node.url,
        'POST /v1/tx/batch HTTP/1.1\r\nhost: node\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n[',
      ),
    );
    expectTimeoutAnswer(await stall(node.url, 'GET /v1/status HTTP/1.1\r\nhost: node\r\nx-slow: '));
  });

  it('answers the same on the console listener', async () => {
    expectTimeoutAnswer(await stall(consoleUrl, 'GET /console/ HTTP/1.1\r\nhost: node\r\n'));
  });

  it('keeps an idle keep-alive connection past the limit, and serves it again', async () => {
    const socket = await open(node.url);
    expect((await get(socket, '/v1/ledger/position')).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 3 * timeouts.requestMs));
    expect(socket.destroyed).toBe(false);
    expect((await get(socket, '/v1/ledger/position')).status).toBe(200);
    const closed = closedSoon(socket);
    socket.destroy();
    await closed;
  });

  it('does not cut a received request that waits longer than the limit for its commit', async () => {
    const client = createClient({ ...(await org1UserClientOptions(work, org1)), url: node.url });
    try {
      // Appends wait until released: the submission is received whole at once, then waits.
      let release!: () => void;
      holdAppends = new Promise<void>((resolve) => {
        release = resolve;
      });
      const { envelope, txId } = await client.sign('kv', 'put', {
        map: 'public:kv.limits',
        key: 'k',
        value: 'v',
      });
      const started = Date.now();
      const waitMs = 3 * timeouts.requestMs;
      const [pending] = await client.submitBatch([envelope], { wait: 'commit', timeoutMs: waitMs });
      expect(pending).toEqual({ txId, status: 'Pending' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(waitMs - 50);
      release();
      holdAppends = undefined;
      expect(await client.status(txId, { wait: 'commit' })).toMatchObject({ status: 'Committed' });
    } finally {
      client.close();
    }
  });

  it('answers bytes that are not HTTP 400 NODE_E_BAD_REQUEST and closes the connection', async () => {
    const socket = await open(node.url);
    const received = textUntilClosed(socket);
    socket.write('HELLO\r\n\r\n');
    const reply = replyOf(await received);
    expect(reply?.status).toBe(400);
    expect(reply?.body['error']).toMatchObject({ code: 'NODE_E_BAD_REQUEST' });
    expect((reply?.body['error'] as { message: string }).message).toContain('HTTP/1.1');
  });

  it('defaults to 60 s checked every 5 s, within the keep-alive time', () => {
    expect(apiTimeoutsDefault).toEqual({ requestMs: 60_000, checkEveryMs: 5_000 });
    expect(apiTimeoutsDefault.checkEveryMs).toBeLessThan(apiTimeoutsDefault.requestMs);
    expect(keepAliveTimeoutMs).toBeGreaterThan(apiTimeoutsDefault.requestMs);
  });
});
