// The ledger explorer's routes on a real node in-process (engine + API over mutual TLS, as the
// console reads them): User1 submits public and private kv writes and invalid transactions,
// then the entries, batches, search and metrics answers are checked against what was
// submitted, with paging, limits, and private keys kept out. A second explorer with a window of
// four entries, started late on the same engine, fills itself from the ledger files and still
// finds an old transaction by id while bounding identity and key search to its window.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from '../../src/client/index.js';
import { createNodeHttp, type NodeHttp } from '../../src/client/client.js';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import type { ApiServer } from '../../src/node/api.js';
import type { Engine, ExecutionObserver, LedgerLeaf } from '../../src/node/engine.js';
import { registerExplorerRoutes } from '../../src/node/explorer-routes.js';
import {
  createExplorerIndex,
  decodeEntry,
  type BatchSummary,
  type EntrySummary,
  type MetricsPoint,
} from '../../src/node/explorer.js';
import { org1Material, org1UserClientOptions, startOrg1Node, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
let engine: Engine;
let api: ApiServer;
let user: Client;
let http: NodeHttp;

/** What each transaction submitted here became. */
type Sent = { readonly txId: string; readonly seqno: number; readonly status: string };
const sent: Sent[] = [];
const secretKey = 'hidden-key-7f3a';
const secretValue = 'hidden-value-91c2';

async function get(route: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await http.call('GET', route);
  return { status: answer.status, body: answer.body as Record<string, unknown> };
}

async function ok<T>(route: string): Promise<T> {
  const answer = await get(route);
  expect(answer.status, JSON.stringify(answer.body)).toBe(200);
  return answer.body as T;
}

async function submit(action: string, args: Record<string, unknown>): Promise<Sent> {
  const result = await user.submit('kv', action, args, { wait: 'commit' });
  expect(['Committed', 'Invalid']).toContain(result.status);
  const item = { txId: result.txId, seqno: Number(result.seqno), status: result.status };
  sent.push(item);
  return item;
}

/** Waits until the newest entry is a signature entry: no entry follows until the next submission. */
async function settled(): Promise<void> {
  for (let tries = 0; tries < 500; tries += 1) {
    await engine.idle();
    const position = engine.position();
    if (position.seqno === position.lastSignedTreeSize + 1) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('the ledger did not settle on a signature entry');
}

type Entries = { entries: EntrySummary[]; next: number | null };
type Search = {
  kind: string;
  results: EntrySummary[];
  searchedFrom: number;
  next: number | null;
};

let publicPut: Sent;
let privatePut: Sent;
let badArgs: Sent;
let badDelete: Sent;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-explorer-'));
  org1 = await org1Material(work);
  const node = await startOrg1Node(work, org1, { name: 'n0' });
  engine = node.engine;
  api = node.api;
  const options = { url: node.url, ...(await org1UserClientOptions(work, org1)) };
  user = createClient(options);
  http = createNodeHttp(options, 4);

  publicPut = await submit('put', { map: 'public:kv.explorer', key: 'alpha', value: 'one' });
  privatePut = await submit('put', { map: 'kv.secret', key: secretKey, value: secretValue });
  badArgs = await submit('put', { map: 'not-a-kv-map', key: 'k', value: 'v' });
  badDelete = await submit('delete', { map: 'public:kv.explorer', key: 'never-written' });
  for (let index = 0; index < 6; index += 1) {
    await submit('put', { map: 'public:kv.explorer', key: `k${index}`, value: String(index) });
  }
  await settled();
}, 60_000);

afterAll(async () => {
  user.close();
  http.close();
  await api.close();
  await engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('explorer entries', () => {
  it('lists transactions with their outcome, signer and batch, and signature entries', async () => {
    expect(publicPut.status).toBe('Committed');
    expect(privatePut.status).toBe('Committed');
    expect(badArgs.status).toBe('Invalid');
    expect(badDelete.status).toBe('Invalid');
    const { entries } = await ok<Entries>('/v1/explorer/entries?limit=100');
    const seqnos = entries.map((entry) => entry.seqno);
    expect(seqnos).toEqual([...seqnos].sort((a, b) => b - a));
    expect(seqnos).toEqual(Array.from({ length: seqnos.length }, (_, i) => seqnos.length - i));
    const bySeqno = new Map(entries.map((entry) => [entry.seqno, entry]));
    const signer = {
      mspId: 'Org1MSP',
      certId: org1.user.identity.certRef,
      identityId: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    };
    expect(bySeqno.get(publicPut.seqno)).toMatchObject({
      kind: 'tx',
      txId: publicPut.txId,
      app: 'kv',
      action: 'put',
      signer,
      status: 'Committed',
      // The kv key, and the signer's certificate (its first transaction: public:coffer.certs).
      writes: 2,
      privateWrites: false,
      logPosition: expect.any(Number) as unknown,
      time: expect.any(Number) as unknown,
    });
    expect(bySeqno.get(privatePut.seqno)).toMatchObject({
      kind: 'tx',
      status: 'Committed',
      writes: 0,
      privateWrites: true,
    });
    expect(bySeqno.get(badArgs.seqno)).toMatchObject({
      kind: 'tx',
      txId: badArgs.txId,
      signer,
      status: 'Invalid',
      code: 'APP_E_INVALID_ARGS',
      message: expect.stringContaining('args.map') as unknown,
      writes: 0,
    });
    expect(bySeqno.get(badDelete.seqno)).toMatchObject({
      status: 'Invalid',
      code: 'APP_E_INVALID_ARGS',
    });
    const signatures = entries.filter((entry) => entry.kind === 'signature');
    expect(signatures.length).toBeGreaterThan(0);
    for (const signature of signatures) {
      expect(signature).toMatchObject({
        treeSize: signature.seqno - 1,
        root: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
        nodeId: 'n0',
        mspId: 'Org1MSP',
        signedAt: expect.any(Number) as unknown,
        logPosition: expect.any(Number) as unknown,
      });
      expect(signature.root).toBe(engine.rootAt(signature.seqno - 1));
    }
  });

  it('never shows a private write: neither its key nor its value', async () => {
    const listing = await http.call('GET', '/v1/explorer/entries?limit=100');
    const text = JSON.stringify(listing.body);
    expect(text).toContain(privatePut.txId);
    expect(text).not.toContain(secretKey);
    expect(text).not.toContain(secretValue);
    expect(text).not.toContain('kv.secret');
    const search = await get(
      `/v1/explorer/search?q=${encodeURIComponent(`kv.secret/${secretKey}`)}`,
    );
    expect(search.status).toBe(403);
    expect(search.body).toMatchObject({ error: { code: 'NODE_E_PRIVATE_MAP' } });
  });

  it('pages with the next cursor down to the ledger start', async () => {
    const all = (await ok<Entries>('/v1/explorer/entries?limit=100')).entries.map((e) => e.seqno);
    const paged: number[] = [];
    let route = '/v1/explorer/entries?limit=3';
    for (let pages = 0; pages < 100; pages += 1) {
      const page = await ok<Entries>(route);
      expect(page.entries.length).toBeLessThanOrEqual(3);
      paged.push(...page.entries.map((entry) => entry.seqno));
      if (page.next === null) break;
      expect(page.next).toBe(page.entries.at(-1)?.seqno);
      route = `/v1/explorer/entries?limit=3&before=${page.next}`;
    }
    expect(paged).toEqual(all);
    expect(paged.at(-1)).toBe(1);
    expect((await ok<Entries>('/v1/explorer/entries?before=1')).entries).toEqual([]);
  });

  it('refuses limits out of range with NODE_E_BAD_REQUEST', async () => {
    for (const route of [
      '/v1/explorer/entries?limit=1000',
      '/v1/explorer/entries?limit=0',
      '/v1/explorer/entries?before=0',
      '/v1/explorer/batches?limit=101',
      `/v1/explorer/search?q=${'a'.repeat(5000)}`,
      '/v1/explorer/search?q=public:kv.explorer',
      '/v1/explorer/search?q=Org1MSP:nothex',
      '/v1/explorer/metrics?seconds=601',
      '/v1/explorer/metrics?seconds=0',
    ]) {
      const answer = await get(route);
      expect(answer.status, route).toBe(400);
      expect(answer.body, route).toMatchObject({ error: { code: 'NODE_E_BAD_REQUEST' } });
    }
  });

  it('is in the OpenAPI document under the explorer tag', async () => {
    const document = await ok<{ paths: Record<string, { get?: { tags?: string[] } }> }>(
      '/v1/openapi.json',
    );
    for (const route of ['entries', 'batches', 'search', 'metrics']) {
      expect(document.paths[`/v1/explorer/${route}`]?.get?.tags, route).toEqual(['explorer']);
    }
  });
});

describe('explorer batches', () => {
  it('lists executed batches newest first, with their transactions and invalid counts', async () => {
    const { batches } = await ok<{ batches: BatchSummary[] }>('/v1/explorer/batches?limit=100');
    const positions = batches.map((batch) => batch.logPosition);
    expect(positions).toEqual([...positions].sort((a, b) => b - a));
    for (const batch of batches) {
      expect(batch.transactions).toBe(batch.lastSeqno - batch.firstSeqno + 1);
    }
    // Each submission waited for its commit: one transaction per batch, in submission order.
    const holding = (tx: Sent) =>
      batches.find((batch) => batch.firstSeqno <= tx.seqno && tx.seqno <= batch.lastSeqno);
    expect(holding(badArgs)).toMatchObject({ invalid: 1, transactions: 1 });
    expect(holding(publicPut)).toMatchObject({ invalid: 0, transactions: 1 });
    const total = batches.reduce((sum, batch) => sum + batch.transactions, 0);
    expect(total).toBe(sent.length);
    const { entries } = await ok<Entries>(
      `/v1/explorer/entries?before=${badArgs.seqno + 1}&limit=1`,
    );
    expect(entries[0]).toMatchObject({
      seqno: badArgs.seqno,
      logPosition: holding(badArgs)?.logPosition,
      time: holding(badArgs)?.time,
    });
    const first = await ok<{ batches: BatchSummary[]; next: number }>(
      '/v1/explorer/batches?limit=2',
    );
    expect(first.batches).toEqual(batches.slice(0, 2));
    const second = await ok<{ batches: BatchSummary[] }>(
      `/v1/explorer/batches?limit=2&before=${first.next}`,
    );
    expect(second.batches).toEqual(batches.slice(2, 4));
  });
});

describe('explorer search', () => {
  it('finds a transaction by id', async () => {
    const found = await ok<Search>(`/v1/explorer/search?q=${badDelete.txId}`);
    expect(found).toMatchObject({ kind: 'tx', searchedFrom: 1, next: null });
    expect(found.results).toMatchObject([
      { seqno: badDelete.seqno, txId: badDelete.txId, status: 'Invalid', action: 'delete' },
    ]);
  });

  it('finds the transactions of an identity, by certId, identity id, MSP or both', async () => {
    const byCert = await ok<Search>(
      `/v1/explorer/search?limit=100&q=${org1.user.identity.certRef}`,
    );
    expect(byCert).toMatchObject({ kind: 'identity', searchedFrom: 1, next: null });
    expect(byCert.results.map((entry) => entry.txId)).toEqual(
      [...sent].reverse().map((tx) => tx.txId),
    );
    const identityId = String(byCert.results[0]?.signer?.identityId);
    for (const q of [
      identityId,
      'Org1MSP',
      `Org1MSP:${org1.user.identity.certRef}`,
      `Org1MSP:${identityId}`,
    ]) {
      const found = await ok<Search>(`/v1/explorer/search?limit=100&q=${encodeURIComponent(q)}`);
      expect(found.kind, q).toBe('identity');
      expect(found.results, q).toEqual(byCert.results);
    }
    const other = await ok<Search>(`/v1/explorer/search?q=Org2MSP:${identityId}`);
    expect(other.results).toEqual([]);
    const paged = await ok<Search>(`/v1/explorer/search?limit=4&q=Org1MSP`);
    expect(paged.results).toEqual(byCert.results.slice(0, 4));
    const rest = await ok<Search>(`/v1/explorer/search?limit=100&q=Org1MSP&before=${paged.next}`);
    expect(rest.results).toEqual(byCert.results.slice(4));
  });

  it('finds what wrote a public key', async () => {
    const found = await ok<Search>(
      `/v1/explorer/search?q=${encodeURIComponent('public:kv.explorer/alpha')}`,
    );
    expect(found).toMatchObject({ kind: 'key', searchedFrom: 1, next: null });
    expect(found.results.map((entry) => entry.txId)).toEqual([publicPut.txId]);
    const certificate = await ok<Search>(
      `/v1/explorer/search?q=${encodeURIComponent(`public:coffer.certs/${org1.user.identity.certRef}`)}`,
    );
    expect(certificate.results.map((entry) => entry.txId)).toEqual([publicPut.txId]);
    // The failed delete wrote nothing.
    const none = await ok<Search>(
      `/v1/explorer/search?q=${encodeURIComponent('public:kv.explorer/never-written')}`,
    );
    expect(none.results).toEqual([]);
  });

  it('answers an unknown 64-hex id as an identity search that found nothing', async () => {
    const found = await ok<Search>(`/v1/explorer/search?q=${'ab'.repeat(32)}`);
    expect(found).toMatchObject({ kind: 'identity', results: [], next: null });
  });
});

describe('explorer metrics', () => {
  it('counts executed transactions per second and times their commit latency', async () => {
    const { points } = await ok<{ points: MetricsPoint[] }>('/v1/explorer/metrics?seconds=600');
    expect(points).toHaveLength(600);
    const now = Math.floor(Date.now() / 1000);
    expect(points.at(-1)?.t).toBeGreaterThanOrEqual(now - 1);
    expect(points.map((point) => point.t)).toEqual(
      Array.from({ length: 600 }, (_, i) => (points[0]?.t ?? 0) + i),
    );
    const committed = points.reduce((sum, point) => sum + point.committed, 0);
    const invalid = points.reduce((sum, point) => sum + point.invalid, 0);
    expect(committed).toBe(sent.filter((tx) => tx.status === 'Committed').length);
    expect(invalid).toBe(sent.filter((tx) => tx.status === 'Invalid').length);
    for (const point of points) {
      if (point.committed + point.invalid === 0) {
        expect(point.commitLatencyP50Ms).toBeNull();
        continue;
      }
      // Every transaction here was submitted to this node: each second with some has latencies.
      expect(point.commitLatencyP50Ms).toBeGreaterThan(0);
      expect(point.commitLatencyP99Ms).toBeGreaterThanOrEqual(Number(point.commitLatencyP50Ms));
      expect(point.commitLatencyP99Ms).toBeLessThan(10_000);
    }
    const short = await ok<{ points: MetricsPoint[] }>('/v1/explorer/metrics');
    expect(short.points).toHaveLength(120);
  });
});

describe('an explorer with a small window, started late', () => {
  let small: FastifyInstance;

  beforeAll(async () => {
    await settled();
    small = Fastify({ logger: false });
    registerExplorerRoutes(small, { engine, entriesMax: 4 });
    await small.ready();
    for (let index = 0; index < 5; index += 1) {
      await submit('put', { map: 'public:kv.late', key: `late${index}`, value: String(index) });
    }
    await settled();
  });

  afterAll(async () => {
    await small.close();
  });

  const inject = async <T>(url: string): Promise<T> => {
    const answer = await small.inject({ method: 'GET', url });
    expect(answer.statusCode, answer.body).toBe(200);
    return answer.json<T>();
  };

  it('still finds an old transaction by id, read from the ledger files', async () => {
    const found = await inject<Search>(`/v1/explorer/search?q=${publicPut.txId}`);
    expect(found).toMatchObject({ kind: 'tx', searchedFrom: 1 });
    expect(found.results).toMatchObject([
      { seqno: publicPut.seqno, txId: publicPut.txId, status: 'Committed', writes: 2 },
    ]);
    // Read back from the files, before this explorer started: its batch is not known.
    expect(found.results[0]?.logPosition).toBeUndefined();
  });

  it('bounds identity and key search to its window and says from where', async () => {
    const newest = engine.position().seqno;
    const found = await inject<Search>(`/v1/explorer/search?limit=100&q=Org1MSP`);
    expect(found.searchedFrom).toBe(newest - 3);
    expect(found.results.length).toBeGreaterThan(0);
    for (const entry of found.results) expect(entry.seqno).toBeGreaterThanOrEqual(newest - 3);
    const old = await inject<Search>(
      `/v1/explorer/search?q=${encodeURIComponent('public:kv.explorer/alpha')}`,
    );
    expect(old).toMatchObject({ kind: 'key', results: [], searchedFrom: newest - 3 });
  });

  it('pages past its window from the ledger files', async () => {
    const full = (await ok<Entries>('/v1/explorer/entries?limit=100')).entries;
    const paged: EntrySummary[] = [];
    let url = '/v1/explorer/entries?limit=7';
    for (;;) {
      const page = await inject<Entries>(url);
      paged.push(...page.entries);
      if (page.next === null) break;
      url = `/v1/explorer/entries?limit=7&before=${page.next}`;
    }
    expect(paged.map((entry) => entry.seqno)).toEqual(full.map((entry) => entry.seqno));
    expect(paged.map((entry) => entry.txId)).toEqual(full.map((entry) => entry.txId));
  });
});

describe('the explorer index alone', () => {
  it('keeps at most entryBytesMax bytes of leaves: the oldest go first, backfill below them is ignored', () => {
    const index = createExplorerIndex({ entriesMax: 100, entryBytesMax: 1000 });
    const batch = (from: number, count: number, bytes: number) => ({
      logPosition: from,
      time: 0,
      transactions: Array.from({ length: count }, (_, i) => ({
        seqno: from + i,
        kind: 'tx' as const,
        leaf: new Uint8Array(bytes),
        txId: `tx${from + i}`,
        committed: true,
      })),
    });
    index.executed(batch(1, 50, 100), 0, 0);
    // 50 entries of 100 bytes, 1,000 bytes kept: the newest 10.
    expect(index.newest()).toBe(50);
    expect(index.oldest()).toBe(41);
    // One entry larger than the bound: only it is kept.
    index.executed(batch(51, 1, 5000), 0, 0);
    expect(index.oldest()).toBe(51);
    // Reading older entries back from the files cannot bring them in again.
    index.backfill({ seqno: 45, kind: 'tx', leaf: new Uint8Array(10) });
    expect(index.oldest()).toBe(51);
    // Small entries after it push it out in turn; the count bound still applies below the bytes.
    index.executed(batch(52, 300, 1), 0, 0);
    expect(index.newest()).toBe(351);
    expect(index.oldest()).toBe(252);
  });

  it('reports latency percentiles within 10% of the exact nearest-rank ones', () => {
    const nearestRank = (sorted: readonly number[], fraction: number): number =>
      sorted[Math.max(1, Math.ceil(sorted.length * fraction)) - 1] ?? Number.NaN;
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.1, max: 100_000, noNaN: true }), {
          minLength: 1,
          maxLength: 300,
        }),
        (latencies) => {
          const index = createExplorerIndex({ entriesMax: 4 });
          latencies.forEach((ms, i) => {
            index.accepted(`tx${i}`, -ms);
          });
          index.executed(
            {
              logPosition: 1,
              time: 0,
              transactions: latencies.map((_, i) => ({
                seqno: i + 1,
                kind: 'tx' as const,
                leaf: new Uint8Array(),
                txId: `tx${i}`,
                committed: i % 3 !== 0,
              })),
            },
            0,
            5_000,
          );
          const [point] = index.metrics(1, 5_999);
          const sorted = [...latencies].sort((a, b) => a - b);
          expect(point?.t).toBe(5);
          expect(point?.invalid).toBe(Math.ceil(latencies.length / 3));
          expect((point?.committed ?? 0) + (point?.invalid ?? 0)).toBe(latencies.length);
          for (const [reported, fraction] of [
            [point?.commitLatencyP50Ms, 0.5],
            [point?.commitLatencyP99Ms, 0.99],
          ] as const) {
            const exact = nearestRank(sorted, fraction);
            expect(reported).toBeGreaterThanOrEqual(exact - 0.005);
            expect(reported).toBeLessThanOrEqual(exact * 1.1 + 0.005);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads again what the ledger files did not show yet, once a signature entry flushed it', async () => {
    const tx = (seqno: number): LedgerLeaf => ({
      seqno,
      kind: 'tx',
      leaf: canonicalBytes({
        type: 'tx',
        seqno,
        txId: String(seqno).padStart(64, '0'),
        status: 'committed',
        result: null,
        envelope: {},
        writes: { public: [], private: '' },
      }),
    });
    const files = [tx(1), tx(2), tx(3)];
    let flushed = 2;
    let observer: ExecutionObserver | undefined;
    const fake: Parameters<typeof registerExplorerRoutes>[1]['engine'] = {
      position: () => ({
        seqno: 3,
        root: '00'.repeat(32),
        logPosition: 3,
        committedLogPosition: 3,
        lastSignedTreeSize: 0,
        time: 0,
      }),
      // eslint-disable-next-line @typescript-eslint/require-await -- an async generator over memory
      entriesFrom: async function* (from) {
        for (const leaf of files) if (leaf.seqno >= from && leaf.seqno <= flushed) yield leaf;
      },
      observe: (listener) => {
        observer = listener;
        return () => {
          observer = undefined;
        };
      },
      status: () => Promise.resolve({ status: 'Unknown' }),
    };
    const app = Fastify({ logger: false });
    registerExplorerRoutes(app, { engine: fake });
    try {
      const seqnos = async (): Promise<number[]> =>
        (await app.inject({ method: 'GET', url: '/v1/explorer/entries' }))
          .json<Entries>()
          .entries.map((entry) => entry.seqno);
      expect(await seqnos()).toEqual([2, 1]);
      // Entry 3 and the signature entry 4 are flushed; the observer hears of entry 4 only.
      const marker: LedgerLeaf = {
        seqno: 4,
        kind: 'signature',
        leaf: canonicalBytes({ type: 'signature', treeSize: 3, root: '11'.repeat(32), time: 9 }),
        logPosition: 3,
      };
      files.push(marker);
      flushed = 4;
      observer?.executed?.({ logPosition: 3, time: 9, transactions: [], signature: marker });
      await new Promise((resolve) => setTimeout(resolve, 20));
      // From memory now: the files show nothing any more.
      flushed = 0;
      expect(await seqnos()).toEqual([4, 3, 2, 1]);
      const entries = (
        await app.inject({ method: 'GET', url: '/v1/explorer/entries?limit=1' })
      ).json<Entries>();
      expect(entries).toEqual({
        entries: [
          {
            seqno: 4,
            kind: 'signature',
            treeSize: 3,
            root: '11'.repeat(32),
            signedAt: 9,
            logPosition: 3,
          },
        ],
        next: 4,
      });
    } finally {
      await app.close();
    }
    expect(observer).toBeUndefined();
  });
});

describe('explorer signature entries', () => {
  it('show the commit point an evidence entry records the state digest of', () => {
    const marker = { treeSize: 41, root: 'ab'.repeat(32), time: 7 };
    const leafOf = (json: object): LedgerLeaf => ({
      seqno: 42,
      kind: 'signature',
      leaf: canonicalBytes({ type: 'signature', ...json }),
    });
    const evidence = decodeEntry(
      leafOf({ ...marker, snapshot: 'cd'.repeat(32), snapshotSeqno: 26 }),
    ).summary;
    expect(evidence).toMatchObject({
      seqno: 42,
      kind: 'signature',
      treeSize: 41,
      snapshotSeqno: 26,
    });
    expect(decodeEntry(leafOf(marker)).summary).not.toHaveProperty('snapshotSeqno');
  });
});
