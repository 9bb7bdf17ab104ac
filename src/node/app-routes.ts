// Routes of sandboxed apps (decision 0014): `POST /app/<name>/<endpoint>` runs a readonly
// endpoint as a query on committed state (body `{args}`), or submits a signed transaction to a
// readwrite one (body: the envelope, whose request must name that app and endpoint). `GET /app`
// lists installed apps. Apps come and go with transactions, so the routes are generic; the
// OpenAPI document gets one path per installed endpoint when it is served.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import {
  compiledByDigest,
  installedMap,
  openAppHost,
  type AppRegistry,
  type CompiledBundle,
} from '../contracts/index.js';
import { cofferError } from '../errors/index.js';
import { appOwns } from '../ledger/execute.js';
import { decodeRequest, envelopeFromJson } from '../ledger/tx.js';
import type { Msp } from '../msp/index.js';
import { callerOfRequest } from './caller.js';
import type { Engine } from './engine.js';

/** Installed apps listed by GET /app and in the OpenAPI document. */
export const listedAppsMax = 256;
/** Longest ?wait=commit on an app endpoint. */
export const appWaitMsMax = 30_000;

export type AppRoutesOptions = {
  readonly engine: Engine;
  readonly msps: () => ReadonlyMap<string, Msp>;
  readonly apps: AppRegistry;
};

function installedApps(engine: Engine): CompiledBundle[] {
  const store = engine.store();
  const apps: CompiledBundle[] = [];
  for (const [name, text] of store.entries(installedMap)) {
    if (apps.length >= listedAppsMax) break;
    const compiled = compiledByDigest(store.read, (JSON.parse(text) as { digest: string }).digest);
    if (compiled !== undefined && compiled.bundle.manifest.name === name) apps.push(compiled);
  }
  return apps;
}

const envelopeBody = {
  type: 'object',
  required: ['request', 'signature'],
  properties: {
    request: { type: 'string', description: 'base64 of the canonical request bytes' },
    signature: { type: 'string' },
    cert: { type: 'string' },
  },
};

/** OpenAPI paths of every installed endpoint (added to the document when it is served). */
export function appOpenApiPaths(apps: readonly CompiledBundle[]): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const compiled of apps) {
    const { manifest } = compiled.bundle;
    for (const endpoint of compiled.endpoints.values()) {
      if (endpoint.auth.kind === 'oracle') continue;
      const readonly = endpoint.mode === 'readonly';
      paths[`/app/${manifest.name}/${endpoint.name}`] = {
        post: {
          summary: endpoint.summary || `${manifest.name} ${manifest.version}: ${endpoint.name}`,
          tags: [`app ${manifest.name} ${manifest.version}`],
          description: readonly
            ? 'Readonly endpoint: runs as a query on committed state.'
            : `Readwrite endpoint: send a signed envelope whose request names app ${manifest.name} and action ${endpoint.name}, with args matching x-coffer-args.`,
          'x-coffer-auth': endpoint.auth,
          'x-coffer-args': endpoint.input,
          requestBody: {
            required: true,
            content: {
              'application/json': {
                schema: readonly
                  ? { type: 'object', properties: { args: endpoint.input } }
                  : envelopeBody,
              },
            },
          },
          responses: {
            200: {
              description: readonly ? 'the endpoint result' : 'the transaction status',
              content: {
                'application/json': {
                  schema: readonly
                    ? { type: 'object', properties: { result: endpoint.output } }
                    : {
                        type: 'object',
                        properties: { txId: { type: 'string' }, result: endpoint.output },
                      },
                },
              },
            },
          },
        },
      };
    }
  }
  return paths;
}

/** Adds the app routes and the OpenAPI hook to the node's API (one call from api.ts). */
export function registerAppRoutes(app: FastifyInstance, options: AppRoutesOptions): void {
  const { engine } = options;
  // Queries keep their VMs between requests (a VM costs ~9 ms to make). Queries decide nothing
  // on the ledger and cannot write, so this node-local reuse cannot make nodes disagree; each
  // call still gets fresh module state over a frozen realm (decision 0014).
  const queryHost = openAppHost(options.apps, 'query');
  app.addHook('onClose', async () => {
    queryHost.close();
    return Promise.resolve();
  });

  app.get(
    '/app',
    { schema: { summary: 'Installed sandboxed apps with their endpoints (modes, auth, schemas)' } },
    () => ({
      apps: installedApps(engine).map((compiled) => ({
        ...compiled.bundle.manifest,
        digest: compiled.digest,
      })),
    }),
  );

  app.post(
    '/app/:name/:endpoint',
    {
      schema: {
        summary:
          'Call an installed app endpoint: readonly as a query ({args}), readwrite as a signed transaction (envelope)',
        params: {
          type: 'object',
          required: ['name', 'endpoint'],
          properties: {
            name: { type: 'string', maxLength: 32 },
            endpoint: { type: 'string', maxLength: 64 },
          },
        },
        querystring: {
          type: 'object',
          properties: {
            wait: { type: 'string', enum: ['none', 'commit'], default: 'commit' },
            timeoutMs: { type: 'integer', minimum: 1, maximum: appWaitMsMax, default: 10_000 },
          },
        },
        body: { type: 'object' },
      },
    },
    async (
      request: FastifyRequest<{
        Params: { name: string; endpoint: string };
        Querystring: { wait: 'none' | 'commit'; timeoutMs: number };
        Body: Record<string, unknown>;
      }>,
      reply,
    ) => {
      const { name, endpoint } = request.params;
      const store = engine.store();
      const target = options.apps.has(name) ? undefined : queryHost.resolve(name, store.read);
      if (target === undefined || !Object.hasOwn(target.actions, endpoint)) {
        throw cofferError('TX_E_UNKNOWN_APP', `no installed app endpoint ${name}/${endpoint}`);
      }
      const query = Object.hasOwn(target.queries, endpoint) ? target.queries[endpoint] : undefined;
      if (query !== undefined) {
        const args: unknown = request.body['args'] ?? {};
        if (typeof args !== 'object' || args === null || Array.isArray(args)) {
          throw cofferError('APP_E_INVALID_ARGS', 'args must be a JSON object', {
            field: 'args',
          });
        }
        const result = query.run(
          {
            caller: callerOfRequest(options.msps(), request),
            kv: {
              get: (map, key) => {
                if (!appOwns(name, map)) {
                  throw cofferError(
                    'APP_E_FAILED',
                    `${name} read map ${map}, which it does not own`,
                  );
                }
                return store.read(map, key);
              },
            },
            readPublic: (map, key) =>
              map.startsWith('public:') ? store.read(map, key) : undefined,
          },
          args as Record<string, unknown>,
        );
        return { result };
      }
      // A readwrite endpoint: the body is a signed envelope for exactly this endpoint.
      const envelope = envelopeFromJson(request.body);
      const signed = decodeRequest(envelope.request);
      if (signed.app !== name || signed.action !== endpoint) {
        throw cofferError(
          'TX_E_MALFORMED',
          `the envelope's request is for ${signed.app}/${signed.action}, not ${name}/${endpoint}`,
        );
      }
      const submitted = await engine.submit(envelope);
      if (!submitted.ok) throw submitted.error;
      if (request.query.wait !== 'commit') {
        return await reply.code(202).send({ txId: submitted.txId, status: 'Pending' });
      }
      const status = await engine.waitFor(submitted.txId, request.query.timeoutMs);
      return await reply
        .code(status.status === 'Pending' ? 202 : 200)
        .send({ txId: submitted.txId, ...status });
    },
  );

  // The document is built once by @fastify/swagger; installed endpoints are added as it is sent.
  app.addHook('onSend', async (request, _reply, payload) => {
    if (request.url !== '/v1/openapi.json' || typeof payload !== 'string') return payload;
    const document = JSON.parse(payload) as { paths?: Record<string, unknown> };
    document.paths = { ...document.paths, ...appOpenApiPaths(installedApps(engine)) };
    return JSON.stringify(document);
  });
}
