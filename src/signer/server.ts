// The signer's HTTPS API (IO edge): mutual TLS with consortium MSP identities, one route that
// signs, one that reports status. Every refusal is an {error: {code, message, fix}} answer,
// logged with its reason and caller (and written to the audit log once the caller is known, or
// the certificate is an identity a consortium MSP refuses, e.g. a revoked one); every signature
// is audited on disk before it is returned. The MSPs are read per request from the consortium
// trust, so a reloaded CRL or CA applies to the next request (and to the next TLS handshake).
import type { Server as NetServer, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { rawSignatureToDer, toHex, type KeyStore } from '../crypto/index.js';
import { cofferError, isCofferError, type CofferError, type ErrorCode } from '../errors/index.js';
import type { Msp } from '../msp/index.js';
import { digestsPerRequestMax, isDigestList, type SignRequest } from './approval.js';
import type { AuditLog } from './audit.js';
import {
  connectionsHardMargin,
  connectionsMaxDefault,
  idCharsMax,
  keyIdCharsMax,
  receiptBytesMax,
  signRequestBytesMax,
  type SignerConfig,
} from './config.js';
import { approveSignRequest, identifyCaller, isAuthorised, type SignerCaller } from './decide.js';
import { fixedTrust, type ConsortiumTrust } from './trust.js';

export const signerApiVersion = '1.0.0';

/** What POST /v1/sign answers with a signature. */
export type SignResponse = {
  readonly withdrawalId: string;
  readonly walletId: string;
  readonly keyId: string;
  readonly curve: string;
  /** SEC1 uncompressed public key of the platform key, hex. */
  readonly publicKey: string;
  readonly digests: readonly string[];
  /** Hex of r‖s (64 bytes), low-S, one per digest in order. */
  readonly signatures: readonly string[];
  /** Hex of the same signatures as DER SEQUENCE{r, s}. */
  readonly signaturesDer: readonly string[];
  /** The approving transaction the receipt proved. */
  readonly txId: string;
  readonly seqno: number;
};

export type SignerServerOptions = {
  readonly config: Pick<
    SignerConfig,
    'authorisedCallers' | 'organisationsMin' | 'receiptAgeMsMax' | 'requestsInFlightMax'
  > &
    Partial<Pick<SignerConfig, 'connectionsMax'>>;
  /** A fixed set of MSPs, or the reloading consortium trust (startSigner's). */
  readonly msps: ReadonlyMap<string, Msp> | ConsortiumTrust;
  readonly keyStore: KeyStore;
  readonly audit: AuditLog;
  readonly logger: Logger;
  readonly tls: { readonly cert: string; readonly key: string };
  readonly clock?: () => number;
  /** How long a client may take to send a whole request, and how often that is checked. */
  readonly timeouts?: SignerTimeouts;
};

export type SignerTimeouts = { readonly requestMs: number; readonly checkEveryMs: number };

/**
 * A sign request is at most about 1 MiB: a client still sending one after 30 s is stalled or
 * hostile (Fastify would otherwise wait for ever), and its connection is answered 408 and closed.
 */
export const signerTimeoutsDefault: SignerTimeouts = { requestMs: 30_000, checkEveryMs: 5_000 };
/** Dropped connections are logged at most this often (with how many since the last line). */
const dropLogEveryMs = 10_000;

export type SignerServer = {
  readonly listen: (host: string, port: number) => Promise<string>;
  readonly close: () => Promise<void>;
};

const statusOf: Partial<Record<ErrorCode, number>> = {
  SIGNER_E_UNAUTHENTICATED: 401,
  SIGNER_E_CALLER_FORBIDDEN: 403,
  SIGNER_E_REQUEST_INVALID: 400,
  SIGNER_E_DIGEST_INVALID: 400,
  SIGNER_E_BUSY: 429,
  SIGNER_E_KEY_UNKNOWN: 404,
  SIGNER_E_RECEIPT_INVALID: 403,
  SIGNER_E_RECEIPT_STALE: 403,
  SIGNER_E_NOT_APPROVAL: 403,
  SIGNER_E_WITHDRAWAL_MISMATCH: 403,
  SIGNER_E_STATE_NOT_APPROVED: 403,
  SIGNER_E_DIGEST_NOT_APPROVED: 403,
  SIGNER_E_KEY_MISMATCH: 403,
  SIGNER_E_WITHDRAWAL_EXPIRED: 403,
  KEYSTORE_E_KEY_EXPORTABLE: 403,
  KEYSTORE_E_KEY_NOT_FOUND: 404,
  KEYSTORE_E_HSM_UNAVAILABLE: 503,
  KEYSTORE_E_BUSY: 503,
  SIGNER_E_AUDIT_FAILED: 503,
  SIGNER_E_TOO_MANY_CONNECTIONS: 503,
};

type Json = Readonly<Record<string, unknown>>;

function errorBody(error: CofferError) {
  const { receiptCode, mspCode } = error.details;
  return {
    error: {
      code: error.code,
      message: error.message,
      fix: error.fix,
      ...(typeof receiptCode === 'string' ? { receiptCode } : {}),
      ...(typeof mspCode === 'string' ? { mspCode } : {}),
    },
  };
}

/**
 * The identity a refused client certificate presented, when a consortium MSP knows it but
 * refuses it (revoked, wrong OU: identifyCaller's details); such refusals are audited too.
 */
function presentedIdentityOf(error: CofferError): Json | undefined {
  if (error.code !== 'SIGNER_E_UNAUTHENTICATED') return undefined;
  const { mspId, identityId, mspCode } = error.details;
  if (typeof mspId !== 'string' || typeof identityId !== 'string') return undefined;
  return { mspId, identityId, mspCode };
}

function isTrust(msps: SignerServerOptions['msps']): msps is ConsortiumTrust {
  return typeof (msps as Partial<ConsortiumTrust>).current === 'function';
}

type ConnectionLimit = {
  /** Was this connection opened past the limit (its requests are refused)? */
  readonly overLimit: (socket: Socket) => boolean;
  readonly stats: () => {
    readonly open: number;
    readonly max: number;
    readonly refusedConnections: number;
    readonly droppedConnections: number;
  };
};

/**
 * Bounds the connections `server` holds (decision 0045): one whose handshake completes with more
 * than `max` open is answered and closed by the onRequest hook; past `max` +
 * connectionsHardMargin, Node closes new ones before their handshake, and the log says so.
 */
function limitConnections(server: NetServer, max: number, logger: Logger): ConnectionLimit {
  let open = 0;
  let refused = 0;
  let dropped = 0;
  let droppedLogged = 0;
  let droppedLoggedAt = -Infinity;
  const overLimit = new WeakSet<Socket>();
  server.maxConnections = max + connectionsHardMargin;
  server.on('connection', (socket: Socket) => {
    open += 1;
    socket.once('close', () => {
      open -= 1;
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (open <= max) return;
    overLimit.add(socket);
    refused += 1;
  });
  server.on('drop', () => {
    dropped += 1;
    const now = Date.now();
    if (now - droppedLoggedAt < dropLogEveryMs) return;
    logger.warn(
      {
        code: 'SIGNER_E_TOO_MANY_CONNECTIONS',
        open,
        connectionsMax: max,
        dropped: dropped - droppedLogged,
      },
      `signer closed new connections at once: more than ${max + connectionsHardMargin} are open`,
    );
    droppedLogged = dropped;
    droppedLoggedAt = now;
  });
  return {
    overLimit: (socket) => overLimit.has(socket),
    stats: () => ({
      open,
      max,
      refusedConnections: refused,
      droppedConnections: dropped,
    }),
  };
}

/** Identity CAs (roots and intermediates) of every member: what a client certificate chains to. */
export function identityTrustOf(msps: ReadonlyMap<string, Msp>): string[] {
  return [...msps.values()].flatMap((msp) => [
    ...msp.definition.rootCerts.map((item) => item.pem),
    ...msp.definition.intermediateCerts.map((item) => item.pem),
  ]);
}

function requestInvalid(field: string, what: string): CofferError {
  return cofferError('SIGNER_E_REQUEST_INVALID', `${field} ${what}`, { field });
}

function idField(body: Json, field: string, charsMax: number): string {
  const value = body[field];
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) {
    throw requestInvalid(field, `must be a string of 1 to ${charsMax} characters`);
  }
  return value;
}

/** The request's fields, checked for shape; the receipt is checked by verifyReceipt. */
export function parseSignBody(body: unknown): { request: SignRequest; receipt: unknown } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw requestInvalid(
      '(body)',
      'must be a JSON object {walletId, withdrawalId, digests, keyId, receipt}',
    );
  }
  const json = body as Json;
  const fields = ['walletId', 'withdrawalId', 'digests', 'keyId', 'receipt'];
  const extra = Object.keys(json).find((key) => !fields.includes(key));
  if (extra !== undefined) throw requestInvalid(extra, 'is not a field of a sign request');
  const walletId = idField(json, 'walletId', idCharsMax);
  const withdrawalId = idField(json, 'withdrawalId', idCharsMax);
  const keyId = idField(json, 'keyId', keyIdCharsMax);
  const digests = json['digests'];
  if (!isDigestList(digests)) {
    throw cofferError(
      'SIGNER_E_DIGEST_INVALID',
      `digests must be a list of 1 to ${digestsPerRequestMax} digests, each 64 lower-case hex characters (32 bytes); got ${Array.isArray(digests) ? `a list of ${digests.length}` : typeof digests}`,
    );
  }
  const receipt = json['receipt'];
  if (typeof receipt !== 'object' || receipt === null) {
    throw requestInvalid('receipt', 'must be the receipt JSON object of the approving transaction');
  }
  if (Buffer.byteLength(JSON.stringify(receipt)) > receiptBytesMax) {
    throw requestInvalid('receipt', `is larger than ${receiptBytesMax} bytes`);
  }
  return { request: { walletId, withdrawalId, digests, keyId }, receipt };
}

export async function createSignerServer(options: SignerServerOptions): Promise<SignerServer> {
  const { keyStore, audit, logger, config } = options;
  const trust = isTrust(options.msps) ? options.msps : fixedTrust(options.msps);
  const clock = options.clock ?? (() => Date.now());
  const timeouts = options.timeouts ?? signerTimeoutsDefault;
  const connectionsMax = config.connectionsMax ?? connectionsMaxDefault;
  const app = Fastify({
    https: {
      connectionsCheckingInterval: timeouts.checkEveryMs,
      cert: options.tls.cert,
      key: options.tls.key,
      ca: identityTrustOf(trust.current()),
      requestCert: true,
      // The chain is checked here all the same (socket.authorized); accepting the handshake
      // lets a refused caller get its error code instead of a bare TLS alert.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
    },
    bodyLimit: signRequestBytesMax,
    requestTimeout: timeouts.requestMs,
    logger: false,
  });
  app.server.headersTimeout = timeouts.requestMs;
  const connections = limitConnections(app.server, connectionsMax, logger);
  const callers = new WeakMap<FastifyRequest, SignerCaller>();
  let inFlight = 0;
  // New handshakes chain to the CAs in force; requests on open connections are checked again
  // against the MSPs in force (identifyCaller), so a revocation needs no new handshake.
  const unsubscribe = trust.onChange((msps) => {
    app.server.setSecureContext({
      cert: options.tls.cert,
      key: options.tls.key,
      ca: identityTrustOf(msps),
      minVersion: 'TLSv1.2',
    });
  });

  const refuse = async (
    request: FastifyRequest,
    reply: FastifyReply,
    error: CofferError,
    context: Record<string, unknown> = {},
  ): Promise<FastifyReply> => {
    const caller = callers.get(request);
    const presented = presentedIdentityOf(error);
    logger.warn(
      {
        code: error.code,
        reason: error.message,
        caller: caller ?? null,
        remote: request.socket.remoteAddress,
        url: request.url,
        ...context,
      },
      `signer refused a request: ${error.code}`,
    );
    if (caller !== undefined || presented !== undefined) {
      try {
        await audit.append({
          event: 'refused',
          code: error.code,
          reason: error.message,
          caller: caller ?? null,
          ...(presented === undefined ? {} : { presented }),
          ...context,
        });
      } catch (auditError) {
        logger.error({ err: auditError }, 'the audit log cannot be written');
      }
    }
    if (error.code === 'SIGNER_E_BUSY' || error.code === 'SIGNER_E_TOO_MANY_CONNECTIONS') {
      void reply.header('retry-after', '1');
    }
    if (error.code === 'SIGNER_E_TOO_MANY_CONNECTIONS') void reply.header('connection', 'close');
    return reply.code(statusOf[error.code] ?? 500).send(errorBody(error));
  };

  app.addHook('onRequest', async (request, reply) => {
    // Every connection to this server is TLS (Fastify's https option).
    const socket = request.raw.socket as unknown as TLSSocket;
    if (connections.overLimit(socket)) {
      return refuse(
        request,
        reply,
        cofferError(
          'SIGNER_E_TOO_MANY_CONNECTIONS',
          `this signer has more than ${connectionsMax} open connections; this one is closed`,
          { connectionsMax },
        ),
      );
    }
    const peer = socket.getPeerCertificate();
    const hasCert = Object.keys(peer).length > 0;
    const caller = identifyCaller(trust.current(), {
      certDer: hasCert ? new Uint8Array(peer.raw) : undefined,
      chainVerified: socket.authorized,
      chainError: String(socket.authorizationError),
    });
    if (!caller.ok) return refuse(request, reply, caller.error);
    callers.set(request, caller.value);
    if (!isAuthorised(caller.value, config.authorisedCallers)) {
      return refuse(
        request,
        reply,
        cofferError(
          'SIGNER_E_CALLER_FORBIDDEN',
          `${caller.value.mspId} identity ${caller.value.identityId} (role ${caller.value.role ?? 'none'}) is not an authorised caller of this signer`,
          { mspId: caller.value.mspId, identityId: caller.value.identityId },
        ),
      );
    }
    return undefined;
  });

  app.setErrorHandler(
    async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
      if (isCofferError(error)) return refuse(request, reply, error);
      if (error.statusCode !== undefined && error.statusCode < 500) {
        const refusal = cofferError(
          'SIGNER_E_REQUEST_INVALID',
          error.code === 'FST_ERR_CTP_BODY_TOO_LARGE'
            ? `the request body is larger than ${signRequestBytesMax} bytes`
            : error.message,
        );
        return refuse(request, reply, refusal);
      }
      logger.error({ err: error }, 'unexpected signer error');
      return reply
        .code(500)
        .send(errorBody(cofferError('SIGNER_E_FAILED', 'internal error; see the signer log')));
    },
  );

  app.setNotFoundHandler(async (request, reply) =>
    refuse(
      request,
      reply,
      cofferError(
        'SIGNER_E_REQUEST_INVALID',
        `${request.method} ${request.url} is not a signer route; POST /v1/sign`,
      ),
    ),
  );

  app.get('/v1/status', () => ({
    apiVersion: signerApiVersion,
    keyStore: { kind: keyStore.kind, description: keyStore.description },
    organisationsMin: config.organisationsMin,
    consortium: [...trust.current().keys()],
    trust: trust.status(),
    inFlight,
    connections: connections.stats(),
  }));

  app.post('/v1/sign', async (request, reply) => {
    if (inFlight >= config.requestsInFlightMax) {
      return refuse(
        request,
        reply,
        cofferError(
          'SIGNER_E_BUSY',
          `${config.requestsInFlightMax} sign requests are in flight; retry shortly`,
        ),
      );
    }
    inFlight += 1;
    let context: Record<string, unknown> = {};
    try {
      const { request: sign, receipt } = parseSignBody(request.body);
      context = {
        withdrawalId: sign.withdrawalId,
        walletId: sign.walletId,
        keyId: sign.keyId,
        digests: sign.digests,
      };
      const key = await keyStore.key(sign.keyId);
      if (key === undefined) {
        throw cofferError(
          'SIGNER_E_KEY_UNKNOWN',
          `the signer's ${keyStore.description} holds no key ${sign.keyId}`,
        );
      }
      const approved = approveSignRequest(sign, receipt, key, {
        msps: trust.current(),
        organisationsMin: config.organisationsMin,
        receiptAgeMsMax: config.receiptAgeMsMax,
        now: clock(),
      });
      if (!approved.ok) throw approved.error;
      // The key store checks the key first (on PKCS#11: sensitive, never extractable).
      const signer = await keyStore.signer(sign.keyId);
      // All or none: a failure on any digest releases nothing.
      const signatures: Uint8Array[] = [];
      for (const digest of sign.digests)
        signatures.push(await signer(new Uint8Array(Buffer.from(digest, 'hex'))));
      const response: SignResponse = {
        withdrawalId: sign.withdrawalId,
        walletId: sign.walletId,
        keyId: sign.keyId,
        curve: key.curve,
        publicKey: key.publicKey,
        digests: sign.digests,
        signatures: signatures.map(toHex),
        signaturesDer: signatures.map((signature) => toHex(rawSignatureToDer(signature))),
        txId: approved.value.approval.txId,
        seqno: approved.value.approval.seqno,
      };
      const caller = callers.get(request);
      const record = {
        caller,
        ...context,
        txId: response.txId,
        seqno: response.seqno,
        organisations: approved.value.receipt.organisations,
        signatures: response.signatures,
      };
      // On disk before it leaves: a signature the audit log does not show is never released.
      try {
        await audit.append({ event: 'signed', ...record });
      } catch (cause) {
        throw isCofferError(cause)
          ? cause
          : cofferError('SIGNER_E_AUDIT_FAILED', 'the audit log cannot be written', {}, cause);
      }
      logger.info(record, `signed withdrawal ${sign.withdrawalId} with platform key ${sign.keyId}`);
      return await reply.code(200).send(response);
    } catch (error) {
      if (isCofferError(error)) return await refuse(request, reply, error, context);
      throw error;
    } finally {
      inFlight -= 1;
    }
  });

  await app.ready();
  return {
    listen: async (host, port) => {
      await app.listen({ host, port });
      const address = app.server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : port;
      const shown = host.includes(':') ? `[${host}]` : host;
      return `https://${shown}:${bound}`;
    },
    close: async () => {
      unsubscribe();
      await app.close();
    },
  };
}
