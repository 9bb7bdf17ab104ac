// The node's HTTPS API: mutual TLS (the client certificate is an MSP identity, or a TLS
// certificate of a member organisation), JSON bodies checked against the schemas that also make
// the OpenAPI document, and errors as {error: {code, message, fix}} with the registry's codes.
import fastifySwagger from '@fastify/swagger';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { cofferError, isCofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import type { AppRegistry } from '../contracts/index.js';
import { appOwns, type Consortium } from '../ledger/execute.js';
import { batchEnvelopesMax, endorsementsMax, requestBytesMax } from '../ledger/tx.js';
import { guardTlsServer, type Msp } from '../msp/index.js';
import { registerAppRoutes } from './app-routes.js';
import { callerOf, callerOfRequest } from './caller.js';
import { createConsoleSessions, markConsoleSocket, registerConsoleRoutes } from './console.js';
import { registerCustodyRoutes } from './custody-routes.js';
import { registerEvmRoutes } from './evm-rpc.js';
import { registerExplorerRoutes } from './explorer-routes.js';
import { registerSnapshotRoutes } from './snapshot-join.js';
import {
  answerClientError,
  apiTimeoutsDefault,
  listenerTimeoutOptions,
  type ApiTimeouts,
} from './http-limits.js';
import {
  guardSessions,
  sessionLimitsDefault,
  type SessionGuard,
  type SessionLimits,
} from './sessions.js';
import type { EvmNode } from '../evm/rpc.js';
import type { Receipt, SignedRoot } from '../ledger/receipt.js';
import type { Engine, TxStatus } from './engine.js';
import {
  answerSubmit,
  createDirectSubmit,
  retryAfterSeconds,
  type Answer,
  type WaitQuery,
} from './submit-route.js';

/** Largest HTTP body: a full batch of the largest envelopes, base64-encoded. */
export const httpBodyBytesMax = 16 * 1024 * 1024;
/** Longest `?wait=commit`. */
export const waitMsMax = 30_000;
export const waitMsDefault = 10_000;
export const apiVersion = '1.0.0';

export type ApiOptions = {
  readonly engine: Engine;
  readonly consortium: () => Consortium;
  readonly apps: AppRegistry;
  readonly tls: { readonly cert: string; readonly key: string };
  readonly logger: Logger;
  /** The node's id and its ordering's status (etcd health, leader, nodes' durable positions). */
  readonly nodeId?: string;
  readonly orderingStatus?: () => Promise<object>;
  /** What this node knows of its peers' roots (divergence detection). */
  readonly peers?: () => readonly object[];
  /** More of the node's status (attestation, admission), shown by GET /v1/status. */
  readonly status?: () => Record<string, unknown>;
  /** Peers' signed roots for receipts that carry several nodes' signatures (peers.ts). */
  readonly peerRoots?: () =>
    | {
        readonly commonTreeSize: () => number | undefined;
        readonly rootsAt: (treeSize: number) => Promise<readonly SignedRoot[]>;
      }
    | undefined;
  /** Serves a behind peer's catch-up (catchup.ts); absent on the embedded log. */
  readonly catchUp?: (
    fromPosition: number,
    treeSize: number,
    options: { readonly snapshotEvidence: boolean },
  ) => Promise<object>;
  /** Serves committed snapshots from this folder to joining peers (snapshot-join.ts). */
  readonly snapshotsDir?: string;
  /** The Ethereum JSON-RPC endpoint's node (evm-rpc.ts); absent: no endpoint. */
  readonly evm?: EvmNode;
  /** Open connections each listener takes (decision 0040); default sessionLimitsDefault. */
  readonly sessions?: SessionLimits;
  /** How long a request may take to arrive whole on each listener; default apiTimeoutsDefault. */
  readonly timeouts?: ApiTimeouts;
};

const statusOf: Partial<Record<ErrorCode, number>> = {
  NODE_E_BACKPRESSURE: 429,
  NODE_E_UNAVAILABLE: 503,
  NODE_E_FAILED: 503,
  NODE_E_NOT_FOUND: 404,
  NODE_E_RECEIPT_PENDING: 404,
  NODE_E_UNAUTHENTICATED: 401,
  NODE_E_CONSOLE_SIGNIN: 401,
  NODE_E_CONSOLE_UNAVAILABLE: 503,
  NODE_E_FORBIDDEN: 403,
  NODE_E_NOT_ADMITTED: 403,
  NODE_E_CATCHUP_UNAVAILABLE: 503,
  NODE_E_TOO_MANY_SESSIONS: 503,
  NODE_E_REQUEST_TIMEOUT: 408,
  APP_E_FORBIDDEN: 403,
  NODE_E_PRIVATE_MAP: 403,
};

function errorBody(error: CofferError): { error: { code: string; message: string; fix: string } } {
  return { error: { code: error.code, message: error.message, fix: error.fix } };
}

async function sendError(
  reply: FastifyReply,
  error: CofferError,
  retryAfterMs?: number,
): Promise<FastifyReply> {
  return sendAnswer(reply, errorAnswer(error, retryAfterMs));
}

function errorAnswer(error: CofferError, retryAfterMs?: number): Answer {
  return {
    statusCode: statusOf[error.code] ?? 400,
    body: errorBody(error),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

async function sendAnswer(reply: FastifyReply, answer: Answer): Promise<FastifyReply> {
  if (answer.retryAfterMs !== undefined)
    void reply.header('retry-after', retryAfterSeconds(answer.retryAfterMs));
  return reply.code(answer.statusCode).send(answer.body);
}

/** What a request gets for an error no check expected; the error goes to the node's log. */
function unexpectedAnswer(logger: Logger, error: unknown): Answer {
  logger.error({ err: error }, 'unexpected API error');
  return {
    statusCode: 500,
    body: errorBody(cofferError('NODE_E_FAILED', 'internal error; see the node log')),
  };
}

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
      required: ['code', 'message', 'fix'],
    },
  },
};

const envelopeSchema = {
  type: 'object',
  required: ['request', 'signature'],
  additionalProperties: false,
  properties: {
    request: {
      type: 'string',
      description: 'base64 of the RFC 8785 canonical JSON request bytes',
      maxLength: Math.ceil((requestBytesMax * 4) / 3) + 4,
    },
    signature: {
      type: 'string',
      description: 'base64 DER ECDSA P-256 signature (low S) over SHA-256 of the request bytes',
    },
    cert: {
      type: 'string',
      description: 'PEM of the signer certificate (needed until the ledger knows it)',
    },
    endorsements: {
      type: 'array',
      description:
        'Co-signatures of the request bytes by other identities, for app endpoints whose signature policy needs several signers',
      maxItems: endorsementsMax,
      items: {
        type: 'object',
        required: ['mspId', 'cert', 'signature'],
        additionalProperties: false,
        properties: {
          mspId: { type: 'string' },
          cert: { type: 'string', description: "PEM of the endorser's certificate" },
          signature: {
            type: 'string',
            description: 'base64 DER ECDSA signature over the request bytes',
          },
        },
      },
    },
  },
};

const txStatusSchema = {
  type: 'object',
  properties: {
    txId: { type: 'string' },
    status: { type: 'string', enum: ['Unknown', 'Pending', 'Committed', 'Invalid'] },
    seqno: { type: 'integer' },
    code: { type: 'string' },
    message: { type: 'string' },
    result: {},
  },
  required: ['txId', 'status'],
};

/** `?wait=commit` (answer once the outcome is known, at most timeoutMs) or not. */
const waitQuerySchema = {
  type: 'object',
  properties: {
    wait: { type: 'string', enum: ['none', 'commit'], default: 'none' },
    timeoutMs: { type: 'integer', minimum: 1, maximum: waitMsMax, default: waitMsDefault },
  },
};

/** Every CA a client certificate may chain to: identity CAs and TLS CAs of every member. */
export function clientTrustOf(msps: ReadonlyMap<string, Msp>): string[] {
  return [...msps.values()].flatMap((msp) => [
    ...msp.definition.rootCerts.map((item) => item.pem),
    ...msp.definition.intermediateCerts.map((item) => item.pem),
    ...msp.tlsRootCerts,
    ...msp.tlsIntermediateCerts,
  ]);
}

/** The API server: listen on an address, close (waits for open requests). */
export type ApiServer = {
  /** Listens and returns the base URL (https://host:port). */
  readonly listen: (host: string, port: number) => Promise<string>;
  /**
   * Opens the console listener (decision 0026): the same routes over TLS that asks for a client
   * certificate without requiring one; returns the console's URL (https://host:port/console/).
   */
  readonly listenConsole: (host: string, port: number) => Promise<string>;
  /**
   * Trusts the client CAs of the consortium in force for new connections, if it changed since
   * (an organisation added or updated by governance); open connections keep theirs.
   */
  readonly refreshTrust: () => void;
  readonly close: () => Promise<void>;
};

export async function createApi(options: ApiOptions): Promise<ApiServer> {
  const { engine } = options;

  /**
   * A receipt signed by as many nodes as possible: against the newest signature entry every
   * peer has signed when it covers the transaction, else this node's newest (peers that
   * signed that one too are included).
   */
  const receiptWithPeers = async (txId: string, status: TxStatus): Promise<Receipt | undefined> => {
    const peers = options.peerRoots?.();
    const own = engine.lastSignedRoot();
    if (peers === undefined || own === undefined || !('seqno' in status)) {
      return engine.receipt(txId);
    }
    const common = peers.commonTreeSize();
    const treeSize =
      common !== undefined &&
      common >= status.seqno &&
      common <= own.treeSize &&
      (await engine.signedRootAt(common)) !== undefined
        ? common
        : own.treeSize;
    return engine.receipt(txId, { treeSize, peerRoots: await peers.rootsAt(treeSize) });
  };
  const msps = (): ReadonlyMap<string, Msp> => options.consortium().msps;
  const secureContext = (): { cert: string; key: string; ca: string[] } => ({
    cert: options.tls.cert,
    key: options.tls.key,
    ca: clientTrustOf(msps()),
  });
  // One route table, two listeners: the API's (mutual TLS required) and, once opened, the
  // console's (client certificate optional; console.ts checks sessions), decision 0026.
  let handler: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
  let consoleServer: HttpsServer | undefined;
  // Plain submissions on the API's listener skip Fastify's pipeline (decision 0039).
  const direct = createDirectSubmit({
    engine,
    bodySchema: envelopeSchema,
    bodyBytesMax: httpBodyBytesMax,
    waitMsMax,
    waitMsDefault,
    errorAnswer,
    unexpected: (error) => unexpectedAnswer(options.logger, error),
  });
  const sessionLimits = options.sessions ?? sessionLimitsDefault;
  const timeouts = options.timeouts ?? apiTimeoutsDefault;
  const clientError = answerClientError(timeouts);
  let apiSessions: SessionGuard | undefined;
  let consoleSessions: SessionGuard | undefined;
  const app = Fastify({
    serverFactory: (requestHandler) => {
      handler = requestHandler;
      const server = createHttpsServer(
        {
          ...secureContext(),
          ...listenerTimeoutOptions(timeouts),
          requestCert: true,
          rejectUnauthorized: true,
        },
        (request, response) => {
          if (apiSessions?.refuse(request, response) === true) return;
          if (!direct.take(request, response)) requestHandler(request, response);
        },
      );
      apiSessions = guardSessions(server, sessionLimits, errorAnswer);
      return server;
    },
    bodyLimit: httpBodyBytesMax,
    clientErrorHandler: clientError,
    // No per-request logging at thousands of requests per second; errors are logged below.
    logger: false,
  });

  // Revoked or unknown client certificates are cut before any request is read (decision 0006).
  guardTlsServer(
    app.server,
    () => [...msps().values()],
    options.logger,
    () => new Date(),
    (socket) => callerOf(msps(), socket) !== undefined,
  );

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Coffer node API',
        version: apiVersion,
        description:
          'Submit signed transactions, follow their status, fetch receipts that verify offline, and read state. Every call uses mutual TLS with a certificate of a consortium member.',
      },
    },
  });

  app.setErrorHandler(
    async (error: Error & { validation?: unknown; statusCode?: number }, _request, reply) => {
      if (isCofferError(error)) return sendError(reply, error);
      if (
        error.validation !== undefined ||
        (error.statusCode !== undefined && error.statusCode < 500)
      ) {
        return sendError(reply, cofferError('NODE_E_BAD_REQUEST', error.message));
      }
      return sendAnswer(reply, unexpectedAnswer(options.logger, error));
    },
  );

  // Plain requests to this route are answered by `direct` (submit-route.ts) before Fastify
  // sees them; what is checked here must be checked there too.
  app.post(
    '/v1/tx',
    {
      schema: {
        summary: 'Submit one signed transaction',
        querystring: waitQuerySchema,
        body: envelopeSchema,
        response: {
          200: txStatusSchema,
          202: txStatusSchema,
          400: errorSchema,
          429: errorSchema,
          503: errorSchema,
        },
      },
    },
    async (request: FastifyRequest<{ Querystring: WaitQuery }>, reply) =>
      sendAnswer(reply, await answerSubmit(engine, request.body, request.query, errorAnswer)),
  );

  app.post(
    '/v1/tx/batch',
    {
      schema: {
        summary:
          'Submit up to batchEnvelopesMax signed transactions in one call; with wait=commit, answers once each is known',
        querystring: waitQuerySchema,
        body: {
          type: 'object',
          required: ['envelopes'],
          properties: {
            envelopes: { type: 'array', maxItems: batchEnvelopesMax, items: envelopeSchema },
          },
        },
      },
    },
    async (
      request: FastifyRequest<{
        Body: { envelopes: unknown[] };
        Querystring: WaitQuery;
      }>,
      reply,
    ) => {
      // One deadline for the whole call, whatever the number of envelopes.
      const deadline = Date.now() + request.query.timeoutMs;
      // Submitted in order (each is checked and queued in arrival order), verified in parallel.
      const results = await Promise.all(
        request.body.envelopes.map(
          async (item) =>
            (await answerSubmit(engine, item, request.query, errorAnswer, deadline)).body,
        ),
      );
      return reply.code(200).send({ results });
    },
  );

  app.get(
    '/v1/tx/:txId',
    {
      schema: {
        summary: 'Status of a transaction: Unknown, Pending, Committed or Invalid',
        params: {
          type: 'object',
          properties: { txId: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
          required: ['txId'],
        },
        querystring: waitQuerySchema,
        response: { 200: txStatusSchema },
      },
    },
    async (
      request: FastifyRequest<{
        Params: { txId: string };
        Querystring: { wait: 'none' | 'commit'; timeoutMs: number };
      }>,
    ) => {
      const { txId } = request.params;
      const status =
        request.query.wait === 'commit'
          ? await engine.waitFor(txId, request.query.timeoutMs)
          : await engine.status(txId);
      return { txId, ...status };
    },
  );

  app.get(
    '/v1/tx/:txId/receipt',
    {
      schema: {
        summary:
          "Receipt of a committed (or invalid) transaction, with this node's signed root and the peers' signed roots of the same signature entry: verify it offline with `coffer receipt verify` (--min-orgs to demand several organisations)",
        params: {
          type: 'object',
          properties: { txId: { type: 'string', pattern: '^[0-9a-f]{64}$' } },
          required: ['txId'],
        },
      },
    },
    async (request: FastifyRequest<{ Params: { txId: string } }>, reply) => {
      const { txId } = request.params;
      const status = await engine.status(txId);
      if (status.status === 'Unknown')
        return sendError(
          reply,
          cofferError('NODE_E_NOT_FOUND', `transaction ${txId} is not known to this node`),
        );
      const receipt = await receiptWithPeers(txId, status);
      if (receipt === undefined) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_RECEIPT_PENDING',
            `no signature entry covers transaction ${txId} yet`,
          ),
          200,
        );
      }
      return receipt;
    },
  );

  app.post(
    '/v1/query',
    {
      schema: {
        summary: "Run an app's read-only query on committed state",
        body: {
          type: 'object',
          required: ['app', 'query'],
          additionalProperties: false,
          properties: {
            app: { type: 'string' },
            query: { type: 'string' },
            args: { type: 'object' },
          },
        },
      },
    },
    async (
      request: FastifyRequest<{
        Body: { app: string; query: string; args?: Record<string, unknown> };
      }>,
      reply,
    ) => {
      const { app: name, query, args } = request.body;
      const target = options.apps.get(name)?.queries;
      const handler =
        target !== undefined && Object.hasOwn(target, query) ? target[query] : undefined;
      if (handler === undefined)
        return sendError(
          reply,
          cofferError('TX_E_UNKNOWN_APP', `no query ${name}/${query} is installed`),
        );
      const store = engine.store();
      const caller = callerOfRequest(msps(), request);
      const kv = {
        get: (map: string, key: string) => {
          if (!appOwns(name, map)) {
            throw cofferError(
              'APP_E_FAILED',
              `query ${name}/${query} read map ${map}, which it does not own`,
            );
          }
          return store.read(map, key);
        },
      };
      // Public maps are readable by any query (their values are in clear in the ledger), e.g.
      // the governed parameters custody checks its callers against.
      const readPublic = (map: string, key: string): string | undefined =>
        map.startsWith('public:') ? store.read(map, key) : undefined;
      return { result: handler.run({ caller, kv, readPublic }, args ?? {}) };
    },
  );

  app.get(
    '/v1/state/:map/:key',
    {
      schema: {
        summary:
          'Raw committed value of a key of a public: map (private maps are read through their app)',
        params: {
          type: 'object',
          properties: {
            map: { type: 'string', maxLength: 128 },
            key: { type: 'string', maxLength: 4096 },
          },
          required: ['map', 'key'],
        },
      },
    },
    async (request: FastifyRequest<{ Params: { map: string; key: string } }>, reply) => {
      if (!request.params.map.startsWith('public:')) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_PRIVATE_MAP',
            `map ${request.params.map} is private; read it through the app that owns it`,
          ),
        );
      }
      const value = engine.store().read(request.params.map, request.params.key);
      if (value === undefined)
        return sendError(
          reply,
          cofferError(
            'NODE_E_NOT_FOUND',
            `no key ${request.params.key} in map ${request.params.map}`,
          ),
        );
      return { map: request.params.map, key: request.params.key, value };
    },
  );

  app.get(
    '/v1/ledger/position',
    {
      schema: {
        summary: 'Ledger position: seqno, Merkle root, log positions, last signed tree size',
      },
    },
    () => engine.position(),
  );

  app.get(
    '/v1/status',
    {
      schema: {
        summary:
          "Operational status: applied and durable positions, health, the last signature entry, the ordering's status (etcd health, leader, every node's durable position), what the engine keeps in memory (kept), the process's memory, how many submissions took the API's direct path (api.directSubmits), and each listener's open connections against its session limits (api.sessions, api.consoleSessions)",
      },
    },
    async () => {
      const signed = engine.lastSignedRoot();
      let ordering: unknown = { kind: 'embedded' };
      if (options.orderingStatus !== undefined) {
        try {
          ordering = { kind: 'etcd', ...(await options.orderingStatus()) };
        } catch (error) {
          ordering = { kind: 'etcd', error: String(error) };
        }
      }
      return {
        nodeId: options.nodeId,
        position: engine.position(),
        health: engine.health(),
        lastSignature:
          signed === undefined
            ? null
            : {
                treeSize: signed.treeSize,
                root: signed.root,
                nodeId: signed.nodeId,
                signedAt: signed.signedAt,
              },
        ordering,
        ...options.status?.(),
        peers: options.peers?.() ?? [],
        kept: engine.kept(),
        memory: memoryStatus(),
        // Submissions answered without Fastify's pipeline (decision 0039).
        api: {
          directSubmits: direct.taken(),
          ...(apiSessions === undefined ? {} : { sessions: apiSessions.stats() }),
          ...(consoleSessions === undefined ? {} : { consoleSessions: consoleSessions.stats() }),
        },
      };
    },
  );

  app.get(
    '/v1/roots/:treeSize',
    {
      schema: {
        summary:
          "This node's signed Merkle root at a recent signature entry of exactly treeSize entries (peers compare roots with it)",
        params: {
          type: 'object',
          properties: { treeSize: { type: 'integer', minimum: 1 } },
          required: ['treeSize'],
        },
      },
    },
    async (request: FastifyRequest<{ Params: { treeSize: number } }>, reply) => {
      const signed = await engine.signedRootAt(request.params.treeSize);
      if (signed === undefined) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_NOT_FOUND',
            `no signature entry at tree size ${request.params.treeSize} on this node`,
          ),
        );
      }
      return signed;
    },
  );

  app.get(
    '/v1/peer/catchup',
    {
      schema: {
        summary:
          'Node to node: the ordered batches from fromPosition and the ledger entries they made after treeSize, up to a signature entry (a behind node checks them against signed roots before installing them). With snapshotEvidence=true (treeSize a commit point), through a signature entry after the one that records its state digest (a node joining from the committed snapshot checks it). Peer identities only.',
        querystring: {
          type: 'object',
          properties: {
            fromPosition: { type: 'integer', minimum: 1 },
            treeSize: { type: 'integer', minimum: 0 },
            snapshotEvidence: { type: 'boolean', default: false },
          },
          required: ['fromPosition', 'treeSize'],
        },
      },
    },
    async (
      request: FastifyRequest<{
        Querystring: { fromPosition: number; treeSize: number; snapshotEvidence: boolean };
      }>,
      reply,
    ) => {
      const caller = callerOfRequest(msps(), request);
      if (caller?.role !== 'peer') {
        return sendError(
          reply,
          cofferError('NODE_E_FORBIDDEN', 'catch-up is served to the nodes of the consortium only'),
        );
      }
      if (options.catchUp === undefined) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_CATCHUP_UNAVAILABLE',
            'this node orders on its embedded log: it has no batches to serve to peers',
          ),
        );
      }
      return options.catchUp(request.query.fromPosition, request.query.treeSize, {
        snapshotEvidence: request.query.snapshotEvidence,
      });
    },
  );

  app.get(
    '/v1/health',
    { schema: { summary: 'Whether the node accepts and executes transactions' } },
    async (_request, reply) => {
      const health = engine.health();
      return reply.code(health.ok ? 200 : 503).send(health);
    },
  );

  app.get(
    '/v1/whoami',
    { schema: { summary: 'The MSP identity of your TLS client certificate' } },
    (request) => {
      return { caller: callerOfRequest(msps(), request) ?? null };
    },
  );

  app.get(
    '/v1/apps',
    { schema: { summary: 'Installed apps with their actions and queries (argument schemas)' } },
    () => ({
      apps: [...options.apps.values()].map((item) => ({
        name: item.name,
        version: item.version,
        summary: item.summary,
        actions: Object.fromEntries(
          Object.entries(item.actions).map(([key, action]) => [
            key,
            { summary: action.summary, args: action.args },
          ]),
        ),
        queries: Object.fromEntries(
          Object.entries(item.queries).map(([key, q]) => [
            key,
            { summary: q.summary, args: q.args },
          ]),
        ),
      })),
    }),
  );

  registerAppRoutes(app, { engine, msps, apps: options.apps });
  registerCustodyRoutes(app, {
    engine,
    msps,
    apps: options.apps,
    envelopeSchema,
    txStatusSchema,
    errorSchema,
    waitMsMax,
    waitMsDefault,
    receipt: async (txId) => receiptWithPeers(txId, await engine.status(txId)),
  });
  if (options.evm !== undefined) registerEvmRoutes(app, options.evm);
  registerExplorerRoutes(app, { engine, logger: options.logger });
  if (options.snapshotsDir !== undefined) {
    registerSnapshotRoutes(app, {
      snapshotsDir: options.snapshotsDir,
      evidencedSnapshotSeqno: engine.evidencedSnapshotSeqno,
      isPeer: (request) => callerOfRequest(msps(), request)?.role === 'peer',
      sendError: (reply, error) => sendError(reply, error),
    });
  }
  await registerConsoleRoutes(app, {
    msps,
    nodeId: options.nodeId ?? 'node',
    sessions: createConsoleSessions(),
    sendError: (reply, error) => sendError(reply, error),
    errorSchema,
  });
  app.get('/v1/openapi.json', { schema: { hide: true } }, () => app.swagger());

  await app.ready();
  let trustedFor = msps();
  return {
    refreshTrust: () => {
      const current = msps();
      if (current === trustedFor) return;
      trustedFor = current;
      app.server.setSecureContext(secureContext());
      consoleServer?.setSecureContext(secureContext());
      options.logger.info(
        { msps: [...current.keys()] },
        'TLS: client CAs follow the consortium in force',
      );
    },
    listen: async (host, port) => {
      await app.listen({ host, port });
      const address = app.server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      return `https://${host.includes(':') ? `[${host}]` : host}:${bound}`;
    },
    listenConsole: async (host, port) => {
      if (handler === undefined || consoleServer !== undefined) {
        throw new Error('the console listener is already open');
      }
      const routes = handler;
      const server = createHttpsServer(
        {
          ...secureContext(),
          ...listenerTimeoutOptions(timeouts),
          requestCert: true,
          rejectUnauthorized: false,
        },
        (request, response) => {
          if (consoleSessions?.refuse(request, response) === true) return;
          routes(request, response);
        },
      );
      consoleSessions = guardSessions(server, sessionLimits, errorAnswer);
      server.on('clientError', clientError);
      server.on('secureConnection', markConsoleSocket);
      consoleServer = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      return `https://${host.includes(':') ? `[${host}]` : host}:${bound}/console/`;
    },
    close: async () => {
      if (consoleServer !== undefined) {
        const server = consoleServer;
        const closed = new Promise<void>((resolve) =>
          server.close(() => {
            resolve();
          }),
        );
        server.closeAllConnections();
        await closed;
      }
      direct.stop();
      await app.close();
    },
  };
}

/**
 * The process's memory, in bytes, as an operator watches it (CCF's /node/memory): resident set,
 * the JavaScript heap (live, committed, limit), memory V8 holds outside it (array buffers and
 * other external memory) and what V8 itself malloc'd.
 */
function memoryStatus(): Record<string, number> {
  const usage = process.memoryUsage();
  const heap = getHeapStatistics();
  return {
    rssBytes: usage.rss,
    heapUsedBytes: usage.heapUsed,
    heapTotalBytes: usage.heapTotal,
    heapLimitBytes: heap.heap_size_limit,
    externalBytes: usage.external,
    arrayBuffersBytes: usage.arrayBuffers,
    v8MallocedBytes: heap.malloced_memory,
  };
}
