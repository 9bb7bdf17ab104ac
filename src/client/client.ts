// The TypeScript client SDK: mutual TLS to a node, signs requests with an MSP identity (any
// `Signer`: key file, HSM, KMS), submits them and reads status, receipts and state.
import { Agent, request as httpsRequest } from 'node:https';
import { cofferError, errorRegistry, type CofferError, type ErrorCode } from '../errors/index.js';
import type { Receipt } from '../ledger/receipt.js';
import { decodeRequest, envelopeToJson, transactionId, type Envelope } from '../ledger/tx.js';
import { signEnvelope } from './envelope.js';
import type { ClientIdentity, Signer } from './signer.js';

/** Requests in flight per client (sockets of the keep-alive agent). */
export const clientSocketsMax = 64;
export const clientTimeoutMsDefault = 30_000;

export type ClientOptions = {
  /** Base URL of a node, e.g. https://127.0.0.1:7443 */
  readonly url: string;
  /** PEM of the CA(s) that issued the node's TLS certificate. */
  readonly ca: string | readonly string[];
  /** TLS client certificate and key (the MSP identity's, or a TLS certificate of the org). */
  readonly tlsCert: string;
  readonly tlsKey: string;
  /** Signs transactions. */
  readonly identity: ClientIdentity;
  readonly signer: Signer;
  /** Host name to check in the node's certificate (default: from the URL). */
  readonly servername?: string;
  readonly timeoutMs?: number;
  /**
   * When envelopes carry the signing certificate (about 800 bytes each): 'until-known'
   * (default) sends it until one of this client's transactions has committed (the ledger then
   * holds it in `public:coffer.certs`), and sends it again if a node answers TX_E_UNKNOWN_CERT;
   * 'always' sends it every time, as Fabric clients do.
   */
  readonly sendCert?: 'until-known' | 'always';
};

/** Ids of this client's transactions remembered while its certificate is not yet known. */
export const unconfirmedTxIdsMax = 1024;

export type TxResult = {
  readonly txId: string;
  readonly status: 'Unknown' | 'Pending' | 'Committed' | 'Invalid';
  readonly seqno?: number;
  readonly code?: ErrorCode;
  readonly message?: string;
  readonly result?: unknown;
};

export type Client = {
  /** The MSP identity this client signs as. */
  readonly identity: ClientIdentity;
  /** Signs and submits; with wait 'commit', resolves once Committed or Invalid (or timeout: Pending). */
  readonly submit: (
    app: string,
    action: string,
    args: Readonly<Record<string, unknown>>,
    options?: { readonly wait?: 'none' | 'commit' },
  ) => Promise<TxResult>;
  /**
   * Submits envelopes already signed (e.g. by `signEnvelope`), many per HTTP call (at most the
   * node's batchEnvelopesMax). Each item is its transaction's status (Pending; with wait
   * 'commit', Committed or Invalid once known, Pending after timeoutMs), or the error that
   * refused it. Envelopes signed by this client's identity without the certificate that the
   * node refuses with TX_E_UNKNOWN_CERT go again with it, in a second call after the first
   * (so after the others in the log, and with a timeoutMs of their own).
   */
  readonly submitBatch: (
    envelopes: readonly Envelope[],
    options?: { readonly wait?: 'none' | 'commit'; readonly timeoutMs?: number },
  ) => Promise<(TxResult | { error: CofferError })[]>;
  readonly sign: (
    app: string,
    action: string,
    args: Readonly<Record<string, unknown>>,
  ) => Promise<{ envelope: Envelope; txId: string }>;
  /**
   * Whether this client has seen one of its transactions committed, so that its envelopes now
   * leave the certificate out (with sendCert 'until-known').
   */
  readonly certKnown: () => boolean;
  readonly status: (
    txId: string,
    options?: { readonly wait?: 'none' | 'commit' },
  ) => Promise<TxResult>;
  readonly receipt: (txId: string) => Promise<Receipt>;
  readonly query: (
    app: string,
    query: string,
    args?: Readonly<Record<string, unknown>>,
  ) => Promise<unknown>;
  readonly state: (map: string, key: string) => Promise<string | undefined>;
  readonly position: () => Promise<Record<string, unknown>>;
  /** The node's operational status (GET /v1/status). */
  readonly nodeStatus: () => Promise<Record<string, unknown>>;
  readonly close: () => void;
};

export type Http = {
  readonly status: number;
  readonly body: unknown;
  readonly retryAfterMs: number | undefined;
};

type ErrorBody = { error?: { code?: string; message?: string } } | undefined;

/** The code of a refusal's error body (answers that are not refusals carry none). */
function errorCodeOf(http: Http): string | undefined {
  return (http.body as ErrorBody)?.error?.code;
}

function toError(http: Http): CofferError {
  const body = http.body as ErrorBody;
  const code = errorCodeOf(http);
  if (code !== undefined && Object.hasOwn(errorRegistry, code)) {
    return cofferError(code as ErrorCode, body?.error?.message ?? code, {
      httpStatus: http.status,
      retryAfterMs: http.retryAfterMs,
    });
  }
  return cofferError('NODE_E_BAD_REQUEST', `HTTP ${http.status}: ${JSON.stringify(http.body)}`, {
    httpStatus: http.status,
  });
}

/** The HTTPS side of a client: mutual TLS to one node, JSON in and out, errors by code. */
export type NodeHttp = {
  readonly call: (method: 'GET' | 'POST', path: string, body?: unknown) => Promise<Http>;
  /** The body of a 2xx answer; otherwise the answer's error as a CofferError. */
  readonly expectOk: (http: Http) => unknown;
  readonly close: () => void;
};

/** Shared by the client and the custody client (src/client/custody.ts). */
export function createNodeHttp(options: ClientOptions, socketsMax: number): NodeHttp {
  const base = new URL(options.url);
  const agent = new Agent({
    keepAlive: true,
    maxSockets: socketsMax,
    ca: typeof options.ca === 'string' ? options.ca : [...options.ca],
    cert: options.tlsCert,
    key: options.tlsKey,
    ...(options.servername === undefined ? {} : { servername: options.servername }),
  });
  const timeout = options.timeoutMs ?? clientTimeoutMsDefault;

  const call = (method: 'GET' | 'POST', path: string, body?: unknown): Promise<Http> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = httpsRequest(
        {
          protocol: base.protocol,
          hostname: base.hostname,
          port: base.port,
          path,
          method,
          agent,
          timeout,
          headers:
            payload === undefined
              ? {}
              : { 'content-type': 'application/json', 'content-length': payload.length },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text.length === 0 ? undefined : JSON.parse(text);
            } catch {
              parsed = text;
            }
            const retry = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              body: parsed,
              retryAfterMs: retry === undefined ? undefined : Number(retry) * 1000,
            });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () =>
        req.destroy(
          cofferError('NODE_E_UNAVAILABLE', `no answer from ${options.url} within ${timeout} ms`),
        ),
      );
      req.on('error', reject);
      req.end(payload);
    });

  const expectOk = (http: Http): unknown => {
    if (http.status >= 200 && http.status < 300) return http.body;
    throw toError(http);
  };

  return {
    call,
    expectOk,
    close: () => {
      agent.destroy();
    },
  };
}

/** One envelope's answer in a batch call: its status, or the error that refused it. */
type BatchItem = TxResult | { error: { code: string; message: string } };

function errorCodeOfItem(item: BatchItem | undefined): string | undefined {
  return item !== undefined && 'error' in item ? item.error.code : undefined;
}

/** Whether `envelope`'s request names `identity` as its signer (its certificate can go with it). */
function signedBy(envelope: Envelope, identity: ClientIdentity): boolean {
  try {
    const { signer } = decodeRequest(envelope.request);
    return signer.mspId === identity.mspId && signer.certId === identity.certRef;
  } catch {
    return false;
  }
}

export function createClient(options: ClientOptions): Client {
  const { call, expectOk, close } = createNodeHttp(options, clientSocketsMax);
  const alwaysCert = options.sendCert === 'always';
  // The ledger records a certificate with the first committed transaction that carries it;
  // until one of ours commits, every envelope carries it (and its id is remembered here).
  let certKnown = false;
  const unconfirmed = new Set<string>();
  const awaitCommit = (txId: string): void => {
    if (!certKnown && unconfirmed.size < unconfirmedTxIdsMax) unconfirmed.add(txId);
  };
  const sawResult = (result: TxResult): void => {
    if (certKnown || result.status !== 'Committed' || !unconfirmed.has(result.txId)) return;
    certKnown = true;
    unconfirmed.clear();
  };

  const sign = async (app: string, action: string, args: Readonly<Record<string, unknown>>) => {
    const signed = await signEnvelope({
      app,
      action,
      args,
      identity: options.identity,
      signer: options.signer,
      sendCert: alwaysCert || !certKnown,
    });
    awaitCommit(signed.txId);
    return { envelope: signed.envelope, txId: signed.txId };
  };

  const post = (envelope: Envelope, wait: 'none' | 'commit'): Promise<Http> =>
    call('POST', `/v1/tx?wait=${wait}`, envelopeToJson(envelope));

  return {
    identity: options.identity,
    sign,
    certKnown: () => certKnown,
    submit: async (app, action, args, submitOptions = {}) => {
      const { envelope, txId } = await sign(app, action, args);
      const wait = submitOptions.wait ?? 'none';
      let http = await post(envelope, wait);
      if (envelope.cert === undefined && errorCodeOf(http) === 'TX_E_UNKNOWN_CERT') {
        // This node does not hold the certificate (a new ledger, a node behind): the same
        // signed request again, with it.
        certKnown = false;
        awaitCommit(txId);
        http = await post({ ...envelope, cert: options.identity.certPem }, wait);
      }
      const result = expectOk(http) as TxResult;
      sawResult(result);
      return result;
    },
    submitBatch: async (envelopes, batchOptions = {}) => {
      const query =
        batchOptions.wait === 'commit'
          ? `?wait=commit${batchOptions.timeoutMs === undefined ? '' : `&timeoutMs=${batchOptions.timeoutMs}`}`
          : '';
      const postBatch = async (batch: readonly Envelope[]): Promise<BatchItem[]> =>
        (
          expectOk(
            await call('POST', `/v1/tx/batch${query}`, { envelopes: batch.map(envelopeToJson) }),
          ) as { results: BatchItem[] }
        ).results;
      const results = await postBatch(envelopes);
      // Envelopes of this client's identity that a node refused for want of the certificate (a
      // new ledger, a node behind) go again, the same signed requests, with it.
      const again = envelopes.flatMap((envelope, index) =>
        envelope.cert === undefined &&
        errorCodeOfItem(results[index]) === 'TX_E_UNKNOWN_CERT' &&
        signedBy(envelope, options.identity)
          ? [{ index, envelope: { ...envelope, cert: options.identity.certPem } }]
          : [],
      );
      if (again.length > 0) {
        certKnown = false;
        for (const { envelope } of again) awaitCommit(transactionId(envelope.request));
        const resent = await postBatch(again.map(({ envelope }) => envelope));
        again.forEach(({ index }, k) => {
          const item = resent[k];
          if (item !== undefined) results[index] = item;
        });
      }
      return results.map((item) => {
        if (!('txId' in item))
          return { error: toError({ status: 400, body: item, retryAfterMs: undefined }) };
        sawResult(item);
        return item;
      });
    },
    status: async (txId, statusOptions = {}) => {
      const result = expectOk(
        await call('GET', `/v1/tx/${txId}?wait=${statusOptions.wait ?? 'none'}`),
      ) as TxResult;
      sawResult(result);
      return result;
    },
    receipt: async (txId) => expectOk(await call('GET', `/v1/tx/${txId}/receipt`)) as Receipt,
    query: async (app, query, args = {}) =>
      (expectOk(await call('POST', '/v1/query', { app, query, args })) as { result: unknown })
        .result,
    state: async (map, key) => {
      const http = await call(
        'GET',
        `/v1/state/${encodeURIComponent(map)}/${encodeURIComponent(key)}`,
      );
      if (http.status === 404) return undefined;
      return (expectOk(http) as { value: string }).value;
    },
    position: async () =>
      expectOk(await call('GET', '/v1/ledger/position')) as Record<string, unknown>,
    nodeStatus: async () => expectOk(await call('GET', '/v1/status')) as Record<string, unknown>,
    close,
  };
}
