// The ledger explorer's read-only routes (the web console, decision 0026): recent entries and
// batches, search by transaction id, identity or key, and per-second throughput and commit
// latency. Every caller is already an authorised member: the API listener admits only valid
// client certificates of member MSPs (decision 0006), and the console listener only those or a
// console session (console.ts). What the routes show is what the ledger holds in clear; private
// writes stay encrypted, so their keys and values never appear (only that there were some).
import { performance } from 'node:perf_hooks';
import { setImmediate } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { cofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import type { Engine, LedgerLeaf } from './engine.js';
import {
  createExplorerIndex,
  decodeEntry,
  explorerEntriesMax,
  explorerPageDefault,
  explorerPageMax,
  metricsSecondsDefault,
  metricsSecondsMax,
  parseSearch,
  searchCharsMax,
  searchSliceEntries,
  type EntrySummary,
} from './explorer.js';

/**
 * Older entries are read back from the ledger files (a chunk is scanned from its start): at
 * most this many such reads at once; more get NODE_E_EXPLORER_BUSY (HTTP 429).
 */
export const explorerFileReadsMax = 2;

export type ExplorerRoutesOptions = {
  readonly engine: Pick<Engine, 'entriesFrom' | 'observe' | 'position' | 'status'>;
  readonly logger?: Pick<Logger, 'warn'>;
  /** Entries kept in memory (default and at most explorerEntriesMax); tests use a small window. */
  readonly entriesMax?: number;
  /** Clocks, ms: monotonic for latencies, Unix for the seconds of the charts (tests). */
  readonly clock?: { readonly monoMs: () => number; readonly wallMs: () => number };
};

const statusOfCode: Partial<Record<ErrorCode, number>> = {
  NODE_E_EXPLORER_BUSY: 429,
  NODE_E_PRIVATE_MAP: 403,
};

async function sendExplorerError(reply: FastifyReply, error: CofferError): Promise<FastifyReply> {
  if (error.code === 'NODE_E_EXPLORER_BUSY') void reply.header('retry-after', '1');
  return reply
    .code(statusOfCode[error.code] ?? 400)
    .send({ error: { code: error.code, message: error.message, fix: error.fix } });
}

// ---- schemas (the OpenAPI document) ------------------------------------------------------------

const tags = ['explorer'];
const limit = {
  type: 'integer',
  minimum: 1,
  maximum: explorerPageMax,
  default: explorerPageDefault,
};
const cursor = (what: string) => ({
  type: 'integer',
  minimum: 1,
  description: `Only ${what} below this (the previous answer's next); default: from the newest`,
});
const nullableInteger = { type: ['integer', 'null'] };
const errorSchema = {
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string' },
        message: { type: 'string' },
        fix: { type: 'string' },
      },
    },
  },
};
const entrySchema = {
  type: 'object',
  required: ['seqno', 'kind'],
  properties: {
    seqno: { type: 'integer' },
    kind: { type: 'string', enum: ['tx', 'signature', 'genesis'] },
    txId: { type: 'string' },
    app: { type: 'string' },
    action: { type: 'string' },
    signer: {
      type: 'object',
      description: 'The signer execution verified (absent when a check before it failed)',
      properties: {
        mspId: { type: 'string' },
        certId: { type: 'string' },
        identityId: { type: 'string' },
      },
    },
    status: { type: 'string', enum: ['Committed', 'Invalid'] },
    code: { type: 'string' },
    message: { type: 'string' },
    logPosition: {
      type: 'integer',
      description:
        'Transactions: their ordering batch, when this node executed it since it started; signature entries: the batch they follow',
    },
    time: { type: 'integer', description: 'The batch time (ms since the epoch)' },
    writes: { type: 'integer', description: 'Writes to public maps' },
    privateWrites: {
      type: 'boolean',
      description: 'Whether it also wrote private maps (encrypted: no keys, no count)',
    },
    treeSize: { type: 'integer' },
    root: { type: 'string' },
    nodeId: { type: 'string' },
    mspId: { type: 'string' },
    signedAt: { type: 'integer' },
    snapshotSeqno: {
      type: 'integer',
      description:
        'Signature entries that record a commit point’s state digest: that commit point (its committed snapshot)',
    },
  },
};
const batchSchema = {
  type: 'object',
  properties: {
    logPosition: { type: 'integer' },
    time: { type: 'integer' },
    firstSeqno: { type: 'integer' },
    lastSeqno: { type: 'integer' },
    transactions: { type: 'integer' },
    invalid: { type: 'integer' },
  },
};
const pointSchema = {
  type: 'object',
  properties: {
    t: { type: 'integer' },
    committed: { type: 'integer' },
    invalid: { type: 'integer' },
    commitLatencyP50Ms: { type: ['number', 'null'] },
    commitLatencyP99Ms: { type: ['number', 'null'] },
  },
};

/** Registers GET /v1/explorer/{entries,batches,search,metrics}; they follow `engine` until the app closes. */
export function registerExplorerRoutes(app: FastifyInstance, options: ExplorerRoutesOptions): void {
  const { engine } = options;
  const clock = options.clock ?? { monoMs: () => performance.now(), wallMs: () => Date.now() };
  const entriesMax = options.entriesMax;
  const index = createExplorerIndex(entriesMax === undefined ? {} : { entriesMax });

  // Entries up to `target` come from the ledger files, later ones from the observer (both read
  // in the same turn, so none falls between). The files show only what a signature entry
  // flushed: what they lack yet is read after the next one.
  const target = engine.position().seqno;
  let closed = false;
  let missingFrom: number | undefined;
  let backfilling: Promise<void> | undefined;
  /** Reads entries from..target back from the files into the window. */
  const backfill = (from: number): Promise<void> => {
    const run = async (): Promise<void> => {
      let next = from;
      try {
        for await (const leaf of engine.entriesFrom(from)) {
          if (closed || leaf.seqno > target) break;
          index.backfill(leaf);
          next = leaf.seqno + 1;
        }
        missingFrom = next <= target && !closed ? next : undefined;
      } catch (error) {
        missingFrom = undefined;
        options.logger?.warn(
          { error: String(error) },
          'explorer: the ledger files could not be read; it lists the entries executed from now on',
        );
      }
    };
    const promise = run().finally(() => {
      backfilling = undefined;
    });
    backfilling = promise;
    return promise;
  };
  const unsubscribe = engine.observe({
    accepted: (txId) => {
      index.accepted(txId, clock.monoMs());
    },
    executed: (batch) => {
      index.executed(batch, clock.monoMs(), clock.wallMs());
      if (batch.signature !== undefined && missingFrom !== undefined && backfilling === undefined) {
        void backfill(missingFrom);
      }
    },
  });
  // The files are read on the first request that needs the window, not at start: a restarting
  // node (kill -9 recovery, catch-up) does not spend its first seconds reading back 10,000
  // entries that nobody may look at.
  let filled: Promise<void> | undefined;
  const ready = (): Promise<void> => {
    filled ??=
      target === 0
        ? Promise.resolve()
        : backfill(Math.max(1, target - (entriesMax ?? explorerEntriesMax) + 1));
    return filled;
  };
  app.addHook('onClose', () => {
    closed = true;
    unsubscribe();
  });

  let fileReads = 0;
  /** Entries from..to read back from the ledger files; undefined when too many reads run. */
  const readFiles = async (from: number, to: number): Promise<LedgerLeaf[] | undefined> => {
    if (fileReads >= explorerFileReadsMax) return undefined;
    fileReads += 1;
    try {
      const leaves: LedgerLeaf[] = [];
      for await (const leaf of engine.entriesFrom(from)) {
        if (leaf.seqno > to) break;
        leaves.push(leaf);
      }
      return leaves;
    } finally {
      fileReads -= 1;
    }
  };
  const busy = (): CofferError =>
    cofferError(
      'NODE_E_EXPLORER_BUSY',
      `${explorerFileReadsMax} explorer reads of older ledger entries are in progress; retry in a second`,
    );
  /** The newest entry the explorer can show (the window's, or the files' before it filled). */
  const newest = (): number => Math.max(index.newest(), target);

  app.get(
    '/v1/explorer/entries',
    {
      schema: {
        tags,
        summary:
          'Ledger entries, newest first: transactions (status, signer, code and message when invalid) and signature entries. Page with before=next; next is null at the ledger start.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { before: cursor('seqnos'), limit },
        },
        response: {
          200: {
            type: 'object',
            required: ['entries', 'next'],
            properties: { entries: { type: 'array', items: entrySchema }, next: nullableInteger },
          },
          400: errorSchema,
          429: errorSchema,
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: { before?: number; limit: number } }>, reply) => {
      await ready();
      const top = Math.min(request.query.before ?? Number.MAX_SAFE_INTEGER, newest() + 1) - 1;
      const bottom = Math.max(1, top - request.query.limit + 1);
      if (top < 1) return { entries: [], next: null };
      const found = new Map<number, EntrySummary>();
      let missing: { from: number; to: number } | undefined;
      for (let seqno = bottom; seqno <= top; seqno += 1) {
        const summary = index.entry(seqno);
        if (summary !== undefined) found.set(seqno, summary);
        else missing = { from: missing?.from ?? seqno, to: seqno };
      }
      if (missing !== undefined) {
        const leaves = await readFiles(missing.from, missing.to);
        if (leaves === undefined) return sendExplorerError(reply, busy());
        for (const leaf of leaves) {
          if (!found.has(leaf.seqno)) found.set(leaf.seqno, decodeEntry(leaf).summary);
        }
      }
      const entries = [...found.values()].sort((a, b) => b.seqno - a.seqno);
      return { entries, next: bottom > 1 ? bottom : null };
    },
  );

  app.get(
    '/v1/explorer/batches',
    {
      schema: {
        tags,
        summary:
          'Ordering batches this node executed since it started (the newest 1000 holding transactions), newest first. Page with before=next.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { before: cursor('log positions'), limit },
        },
        response: {
          200: {
            type: 'object',
            required: ['batches', 'next'],
            properties: { batches: { type: 'array', items: batchSchema }, next: nullableInteger },
          },
          400: errorSchema,
        },
      },
    },
    (request: FastifyRequest<{ Querystring: { before?: number; limit: number } }>) =>
      index.batches(request.query.before ?? Number.MAX_SAFE_INTEGER, request.query.limit),
  );

  app.get(
    '/v1/explorer/search',
    {
      schema: {
        tags,
        summary:
          'Search: a transaction id (64 hex, any age); an identity (64 hex certId or identity id, MSPID, or MSPID:id); a key written (public:map/key). Identities and keys are searched in the recent entries from searchedFrom on.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          required: ['q'],
          properties: {
            q: { type: 'string', minLength: 1, maxLength: searchCharsMax },
            before: cursor('seqnos'),
            limit,
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['kind', 'results', 'searchedFrom', 'next'],
            properties: {
              kind: { type: 'string', enum: ['tx', 'identity', 'key'] },
              results: { type: 'array', items: entrySchema },
              searchedFrom: {
                type: 'integer',
                description: 'The oldest seqno searched (1 for a transaction id: the whole ledger)',
              },
              next: nullableInteger,
              pending: {
                type: 'boolean',
                description: 'The transaction id is accepted but not executed yet',
              },
            },
          },
          400: errorSchema,
          403: errorSchema,
          429: errorSchema,
        },
      },
    },
    async (
      request: FastifyRequest<{ Querystring: { q: string; before?: number; limit: number } }>,
      reply,
    ) => {
      await ready();
      const query = parseSearch(request.query.q);
      const { limit: max } = request.query;
      const before = request.query.before ?? Number.MAX_SAFE_INTEGER;
      if (query.kind === 'bad') {
        return sendExplorerError(reply, cofferError('NODE_E_BAD_REQUEST', `q: ${query.why}`));
      }
      if (query.kind === 'private-key') {
        return sendExplorerError(
          reply,
          cofferError(
            'NODE_E_PRIVATE_MAP',
            `map ${query.map} is private: its keys are encrypted in the ledger, so the explorer cannot search them; search a public: map`,
          ),
        );
      }
      if (query.kind === 'id') {
        const status = await engine.status(query.id);
        if (status.status === 'Pending') {
          return { kind: 'tx', results: [], searchedFrom: 1, next: null, pending: true };
        }
        if (status.status === 'Committed' || status.status === 'Invalid') {
          let summary = index.entry(status.seqno);
          if (summary === undefined) {
            const leaves = await readFiles(status.seqno, status.seqno);
            if (leaves === undefined) return sendExplorerError(reply, busy());
            const leaf = leaves[0];
            summary = leaf === undefined ? undefined : decodeEntry(leaf).summary;
          }
          return {
            kind: 'tx',
            results: summary === undefined ? [] : [summary],
            searchedFrom: 1,
            next: null,
          };
        }
      }
      // Newest first, one slice at a time; the window may move on meanwhile (what left it
      // was not searched: searchedFrom says so).
      const from = index.oldest();
      const results: EntrySummary[] = [];
      let to = Math.min(before - 1, index.newest());
      while (results.length <= max && to >= Math.max(from, index.oldest())) {
        const bottom = Math.max(from, index.oldest(), to - searchSliceEntries + 1);
        results.push(...index.search(query, to, bottom, max + 1 - results.length));
        to = bottom - 1;
        if (results.length <= max && to >= from) await setImmediate();
      }
      const more = results.length > max;
      if (more) results.length = max;
      return {
        kind: query.kind === 'key' ? 'key' : 'identity',
        results,
        searchedFrom: Math.max(from, index.oldest()),
        next: more ? (results.at(-1)?.seqno ?? null) : null,
      };
    },
  );

  app.get(
    '/v1/explorer/metrics',
    {
      schema: {
        tags,
        summary:
          "This node's throughput (transactions executed per second, committed and invalid) and commit latency (p50/p99, ms, from accepting a submission to executing it, for those submitted here), one point per second, oldest first; the last point is the second in progress.",
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            seconds: {
              type: 'integer',
              minimum: 1,
              maximum: metricsSecondsMax,
              default: metricsSecondsDefault,
            },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['points'],
            properties: { points: { type: 'array', items: pointSchema } },
          },
          400: errorSchema,
        },
      },
    },
    (request: FastifyRequest<{ Querystring: { seconds: number } }>) => ({
      points: index.metrics(request.query.seconds, clock.wallMs()),
    }),
  );
}
