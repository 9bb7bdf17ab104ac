// The custody REST API (issue 7) for services and admins: `GET /v1/custody/...` runs custody's
// queries as the mTLS caller (custody's own access rules decide what it may read), and
// `POST /v1/custody/...` takes a signed envelope exactly as `POST /v1/tx` does, checks that its
// request is the custody action the route names (for the object in the path), submits it and
// answers like `POST /v1/tx?wait=commit`. A node never holds a service's key: the caller signs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AppRegistry } from '../contracts/index.js';
import { custodyAppName, historyKinds } from '../custody/index.js';
import { cofferError, isCofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import { appOwns } from '../ledger/execute.js';
import type { Receipt } from '../ledger/receipt.js';
import { decodeRequest, envelopeFromJson } from '../ledger/tx.js';
import type { Msp } from '../msp/index.js';
import { callerOfRequest } from './caller.js';
import type { Engine } from './engine.js';

/** Receipts put inline in one history page (the page's own limit, custody's queryItemsMax). */
export const historyReceiptsMax = 100;

export type CustodyRoutesOptions = {
  readonly engine: Engine;
  readonly msps: () => ReadonlyMap<string, Msp>;
  /** The node's apps: the routes exist when custody is one of them. */
  readonly apps: AppRegistry;
  /** What `POST /v1/tx` takes and answers, and its wait limits (api.ts). */
  readonly envelopeSchema: object;
  readonly txStatusSchema: object;
  readonly errorSchema: object;
  readonly waitMsMax: number;
  readonly waitMsDefault: number;
  /** The receipt `GET /v1/tx/:txId/receipt` serves (with the peers' signed roots). */
  readonly receipt: (txId: string) => Promise<Receipt | undefined>;
};

const statusOfCode: Partial<Record<ErrorCode, number>> = {
  CUSTODY_E_NOT_FOUND: 404,
  CUSTODY_E_FORBIDDEN: 403,
  CUSTODY_E_NOT_ADMIN: 403,
  CUSTODY_E_NOT_WORKER: 403,
};

async function sendCustodyError(reply: FastifyReply, error: CofferError): Promise<FastifyReply> {
  return reply
    .code(statusOfCode[error.code] ?? 400)
    .send({ error: { code: error.code, message: error.message, fix: error.fix } });
}

const id = { type: 'string', minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9_.:/-]+$' };
const idParams = { type: 'object', required: ['id'], properties: { id } };
const page = {
  cursor: { type: 'integer', minimum: 0 },
  limit: { type: 'integer', minimum: 1, maximum: historyReceiptsMax },
};
const tags = ['custody'];

/** A POST route: the custody action it takes and which argument the path's :id must be. */
type WriteRoute = {
  readonly path: string;
  readonly action: string;
  readonly idArg?: string;
  readonly summary: string;
};

const writeRoutes: readonly WriteRoute[] = [
  {
    path: '/v1/custody/wallets',
    action: 'create_wallet',
    summary: 'Create a 2-of-3 wallet (signed by the owner service)',
  },
  {
    path: '/v1/custody/wallets/:id/addresses',
    action: 'add_address',
    idArg: 'walletId',
    summary: 'Add a deposit address to a wallet (owner service)',
  },
  {
    path: '/v1/custody/withdrawals',
    action: 'request',
    summary: 'Request a withdrawal (owner service; idempotent per idempotencyKey)',
  },
  {
    path: '/v1/custody/withdrawals/:id/approve',
    action: 'approve',
    idArg: 'withdrawalId',
    summary: 'Approve a withdrawal waiting for approvals (MSP admin, not the requester)',
  },
  {
    path: '/v1/custody/withdrawals/:id/reject',
    action: 'reject',
    idArg: 'withdrawalId',
    summary: 'Reject a withdrawal (MSP admin)',
  },
  {
    path: '/v1/custody/withdrawals/:id/service-signature',
    action: 'service_sign',
    idArg: 'withdrawalId',
    summary:
      "Record the service's signature over a built withdrawal's digest (owner service; the key never leaves the service)",
  },
  {
    path: '/v1/custody/wallets/:id/policy-changes',
    action: 'propose_policy',
    idArg: 'walletId',
    summary: 'Propose a policy change: whitelist, limits, approvals, freeze',
  },
  {
    path: '/v1/custody/policy-changes/:id/approve',
    action: 'approve_policy',
    idArg: 'changeId',
    summary: 'Approve a pending policy change (MSP admin, not the proposer)',
  },
  {
    path: '/v1/custody/policy-changes/:id/reject',
    action: 'reject_policy',
    idArg: 'changeId',
    summary: 'Reject a pending policy change (MSP admin)',
  },
];

/** A GET route: the custody query it runs and how its arguments come from the request. */
type ReadRoute = {
  readonly path: string;
  readonly query: string;
  readonly summary: string;
  readonly querystring?: Record<string, unknown>;
  /** Path parameters other than :id. */
  readonly params?: Record<string, unknown>;
  readonly args: (params: Record<string, string>, query: Record<string, unknown>) => object;
};

const readRoutes: readonly ReadRoute[] = [
  {
    path: '/v1/custody/params',
    query: 'params',
    summary: 'The custody parameters in force',
    args: () => ({}),
  },
  {
    path: '/v1/custody/wallets',
    query: 'wallets',
    summary: "Your wallets (MSP admins: another service's with ?owner=<mspId>:<identityId>)",
    querystring: { owner: { type: 'string', maxLength: 321 }, ...page },
    args: (_params, query) => query,
  },
  {
    path: '/v1/custody/wallets/:id',
    query: 'wallet',
    summary: 'A wallet record (public)',
    args: (params) => ({ walletId: params['id'] }),
  },
  {
    path: '/v1/custody/wallets/:id/balances',
    query: 'balances',
    summary: "A wallet's balances per asset (owner, admins, the chain's workers)",
    args: (params) => ({ walletId: params['id'] }),
  },
  {
    path: '/v1/custody/wallets/:id/addresses',
    query: 'addresses',
    summary: "A wallet's deposit addresses, newest first",
    querystring: page,
    args: (params, query) => ({ ...query, walletId: params['id'] }),
  },
  {
    path: '/v1/custody/wallets/:id/whitelist',
    query: 'whitelist',
    summary: "A wallet's destination whitelist",
    args: (params) => ({ walletId: params['id'] }),
  },
  {
    path: '/v1/custody/wallets/:id/policy',
    query: 'policy',
    summary: "A wallet's policy and its pending changes",
    args: (params) => ({ walletId: params['id'] }),
  },
  {
    path: '/v1/custody/chains/:chain/wallets',
    query: 'chain_wallets',
    summary:
      "Every wallet of a chain in creation order from ?cursor (the chain's workers, MSP admins)",
    params: { chain: { type: 'string', maxLength: 16 } },
    querystring: page,
    args: (params, query) => ({ ...query, chain: params['chain'] }),
  },
  {
    path: '/v1/custody/withdrawals/:id',
    query: 'withdrawal',
    summary: 'A withdrawal record (public)',
    args: (params) => ({ withdrawalId: params['id'] }),
  },
  {
    path: '/v1/custody/withdrawals',
    query: 'withdrawals',
    summary:
      "Withdrawals, newest first: a wallet's (?walletId, optionally ?state), or in an open ?state across wallets (admins, workers)",
    querystring: {
      walletId: { type: 'string', maxLength: 200 },
      chain: { type: 'string', maxLength: 16 },
      state: { type: 'string', maxLength: 32 },
      ...page,
    },
    args: (_params, query) => query,
  },
  {
    path: '/v1/custody/approvals/pending',
    query: 'pending_approvals',
    summary: 'Withdrawals and policy changes waiting for admin approval (MSP admins)',
    querystring: { chain: { type: 'string', maxLength: 16 } },
    args: (_params, query) => query,
  },
  {
    path: '/v1/custody/deposits',
    query: 'deposits',
    summary: "A wallet's deposits, newest first (?walletId, optionally ?state)",
    querystring: {
      walletId: { type: 'string', maxLength: 200 },
      state: { type: 'string', maxLength: 32 },
      ...page,
    },
    args: (_params, query) => query,
  },
  {
    path: '/v1/custody/addresses/:chain/:address',
    query: 'address',
    summary: 'Which wallet and account (customer) a deposit address belongs to',
    params: {
      chain: { type: 'string', maxLength: 16 },
      address: { type: 'string', minLength: 1, maxLength: 200 },
    },
    args: (params) => ({ chain: params['chain'], address: params['address'] }),
  },
  {
    path: '/v1/custody/deposits/:chain/:chainTxId/:outputIndex',
    query: 'deposit',
    summary: 'One deposit, by chain, chain transaction id and output index',
    params: {
      chain: { type: 'string', maxLength: 16 },
      chainTxId: { type: 'string', minLength: 1, maxLength: 200 },
      outputIndex: { type: 'integer', minimum: 0, maximum: 0xffffffff },
    },
    args: (params) => ({
      chain: params['chain'],
      chainTxId: params['chainTxId'],
      outputIndex: params['outputIndex'],
    }),
  },
  {
    path: '/v1/custody/policy-changes/:id',
    query: 'policy_change',
    summary: 'A policy change with its approvals and state',
    args: (params) => ({ changeId: params['id'] }),
  },
];

function withoutUndefined(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined));
}

/** Adds the custody routes to the node's API (one call from api.ts). */
export function registerCustodyRoutes(app: FastifyInstance, options: CustodyRoutesOptions): void {
  const { engine } = options;
  const queries = options.apps.get(custodyAppName)?.queries;
  if (queries === undefined) return;

  const run = (request: FastifyRequest, name: string, args: Record<string, unknown>): unknown => {
    const query = Object.hasOwn(queries, name) ? queries[name] : undefined;
    if (query === undefined) throw new Error(`custody has no query ${name}`);
    const store = engine.store();
    return query.run(
      {
        caller: callerOfRequest(options.msps(), request),
        kv: {
          get: (map, key) => {
            if (!appOwns(custodyAppName, map))
              throw cofferError('APP_E_FAILED', `custody read map ${map}, which it does not own`);
            return store.read(map, key);
          },
        },
        readPublic: (map, key) => (map.startsWith('public:') ? store.read(map, key) : undefined),
      },
      args,
    );
  };

  for (const route of readRoutes) {
    app.get(
      route.path,
      {
        schema: {
          summary: route.summary,
          tags,
          ...(route.path.includes(':id') ? { params: idParams } : {}),
          ...(route.params === undefined
            ? {}
            : {
                params: {
                  type: 'object',
                  required: Object.keys(route.params),
                  properties: route.params,
                },
              }),
          ...(route.querystring === undefined
            ? {}
            : {
                querystring: {
                  type: 'object',
                  additionalProperties: false,
                  properties: route.querystring,
                },
              }),
          response: {
            400: options.errorSchema,
            403: options.errorSchema,
            404: options.errorSchema,
          },
        },
      },
      async (request, reply) => {
        try {
          return run(
            request,
            route.query,
            withoutUndefined(
              route.args(
                request.params as Record<string, string>,
                (request.query ?? {}) as Record<string, unknown>,
              ),
            ),
          );
        } catch (error) {
          if (isCofferError(error)) return sendCustodyError(reply, error);
          throw error;
        }
      },
    );
  }

  app.get(
    '/v1/custody/history/:kind/*',
    {
      schema: {
        summary:
          "An object's audit history, oldest first (wallet, withdrawal, deposit <chain>/<chainTxId>/<n>, policy): each step with its transaction's receipt inline (null until a signature entry covers it) and receiptUrl",
        tags,
        params: {
          type: 'object',
          required: ['kind', '*'],
          properties: { kind: { type: 'string', enum: [...historyKinds] }, '*': id },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...page,
            receipts: { type: 'string', enum: ['inline', 'link'], default: 'inline' },
          },
        },
        response: { 400: options.errorSchema, 403: options.errorSchema, 404: options.errorSchema },
      },
    },
    async (
      request: FastifyRequest<{
        Params: { kind: string; '*': string };
        Querystring: { cursor?: number; limit?: number; receipts: 'inline' | 'link' };
      }>,
      reply,
    ) => {
      let page: { kind: string; id: string; entries: { txId: string }[]; next: number | null };
      try {
        page = run(
          request,
          'history',
          withoutUndefined({
            kind: request.params.kind,
            id: request.params['*'],
            cursor: request.query.cursor,
            limit: request.query.limit,
          }),
        ) as typeof page;
      } catch (error) {
        if (isCofferError(error)) return sendCustodyError(reply, error);
        throw error;
      }
      const inline = request.query.receipts === 'inline';
      const entries = await Promise.all(
        page.entries.slice(0, historyReceiptsMax).map(async (entry) => ({
          ...entry,
          receiptUrl: `/v1/tx/${entry.txId}/receipt`,
          ...(inline ? { receipt: (await options.receipt(entry.txId)) ?? null } : {}),
        })),
      );
      return { ...page, entries };
    },
  );

  for (const route of writeRoutes) {
    app.post(
      route.path,
      {
        schema: {
          summary: `${route.summary}: send the envelope of a signed custody/${route.action} request${route.idArg === undefined ? '' : ` whose ${route.idArg} is the path's id`}`,
          tags,
          ...(route.idArg === undefined ? {} : { params: idParams }),
          querystring: {
            type: 'object',
            properties: {
              wait: { type: 'string', enum: ['none', 'commit'], default: 'commit' },
              timeoutMs: {
                type: 'integer',
                minimum: 1,
                maximum: options.waitMsMax,
                default: options.waitMsDefault,
              },
            },
          },
          body: options.envelopeSchema,
          response: {
            200: options.txStatusSchema,
            202: options.txStatusSchema,
            400: options.errorSchema,
            429: options.errorSchema,
            503: options.errorSchema,
          },
        },
      },
      async (
        request: FastifyRequest<{
          Params: { id?: string };
          Querystring: { wait: 'none' | 'commit'; timeoutMs: number };
        }>,
        reply,
      ) => {
        const envelope = envelopeFromJson(request.body);
        const signed = decodeRequest(envelope.request);
        const named = `${signed.app}/${signed.action}`;
        if (signed.app !== custodyAppName || signed.action !== route.action) {
          throw cofferError(
            'CUSTODY_E_ROUTE_MISMATCH',
            `the envelope's request is ${named}; ${route.path} takes custody/${route.action}`,
            { route: route.path, action: named },
          );
        }
        if (route.idArg !== undefined && signed.args[route.idArg] !== request.params.id) {
          throw cofferError(
            'CUSTODY_E_ROUTE_MISMATCH',
            `the envelope's ${route.idArg} is ${JSON.stringify(signed.args[route.idArg])}, not the path's ${String(request.params.id)}`,
            { route: route.path, field: route.idArg },
          );
        }
        const submitted = await engine.submit(envelope);
        if (!submitted.ok) {
          if (submitted.retryAfterMs !== undefined)
            void reply.header(
              'retry-after',
              String(Math.max(1, Math.ceil(submitted.retryAfterMs / 1000))),
            );
          throw submitted.error;
        }
        if (request.query.wait !== 'commit')
          return reply.code(202).send({ txId: submitted.txId, status: 'Pending' });
        const status = await engine.waitFor(submitted.txId, request.query.timeoutMs);
        if (status.status === 'Unknown' && status.code !== undefined) {
          void reply.header('retry-after', '1');
          throw cofferError(status.code, status.message ?? 'ordering refused the transaction');
        }
        return reply
          .code(status.status === 'Pending' ? 202 : 200)
          .send({ txId: submitted.txId, ...status });
      },
    );
  }
}
