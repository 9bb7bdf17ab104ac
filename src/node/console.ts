// The web console's server side (decision 0026): its static files at /console, and the console
// listener's sign-in. The console listener asks for a client certificate without requiring one;
// on it, a request needs an authorised client certificate or a session token, except the
// static files and the sign-in routes. A session is opened by signing a single-use challenge
// with an MSP identity's key in the page; the server sees the certificate and the signature,
// never a key.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Caller } from '../contracts/index.js';
import { cofferError, type CofferError } from '../errors/index.js';
import { canonicalBytes } from '../ledger/canonical.js';
import { callerOfIdentity } from '../ledger/execute.js';
import type { Msp } from '../msp/index.js';
import { callerOf, setSessionCaller } from './caller.js';

/** `type` of the statement a person signs to open a session; a new format gets a new type. */
export const consoleSessionType = 'coffer-console-session/1';
/** Bytes of a challenge and of a session token. */
export const consoleNonceBytes = 32;
/** How long a challenge may wait for its signature. */
export const consoleChallengeTtlMs = 60_000;
/** Challenges waiting at once; beyond, new ones are refused until some expire. */
export const consoleChallengesMax = 1024;
/** Longest session; the page signs in again after it. */
export const consoleSessionTtlMs = 8 * 60 * 60 * 1000;
/** Sessions open at once per node; beyond, the oldest is closed. */
export const consoleSessionsMax = 1024;
/** Largest certificate PEM a sign-in may carry, in characters. */
export const consoleCertCharsMax = 16 * 1024;

/**
 * Where the console's built files are: `COFFER_CONSOLE_DIR` (a build of your own, e.g. while
 * working on the console), else where `npm run build` puts them (from dist/node and src/node).
 */
export const consoleFilesDir = path.resolve(
  process.env['COFFER_CONSOLE_DIR'] ?? path.join(import.meta.dirname, '../../dist/console'),
);

/** The bytes a person signs to open a session: canonical JSON of the statement. */
export function consoleSessionMessage(challenge: string, nodeId: string): Uint8Array {
  return canonicalBytes({ type: consoleSessionType, challenge, nodeId });
}

type Session = { readonly mspId: string; readonly certPem: string; readonly expiresAt: number };

export type ConsoleSessions = {
  /** A new single-use challenge; throws NODE_E_BACKPRESSURE when too many wait. */
  readonly challenge: () => { readonly challenge: string; readonly expiresAt: number };
  /** Consumes a challenge: true when it was issued and has not expired or been used. */
  readonly take: (challenge: string) => boolean;
  readonly open: (mspId: string, certPem: string) => { token: string; expiresAt: number };
  readonly lookup: (token: string) => Session | undefined;
  readonly close: (token: string) => boolean;
};

/** Challenges and sessions of one node, in memory (a restart signs everyone out). */
export function createConsoleSessions(now: () => number = Date.now): ConsoleSessions {
  const challenges = new Map<string, number>();
  const sessions = new Map<string, Session>();
  const prune = <T>(map: Map<string, T>, expiry: (value: T) => number): void => {
    const time = now();
    for (const [key, value] of map) if (expiry(value) <= time) map.delete(key);
  };
  return {
    challenge: () => {
      if (challenges.size >= consoleChallengesMax) prune(challenges, (expiresAt) => expiresAt);
      if (challenges.size >= consoleChallengesMax) {
        throw cofferError(
          'NODE_E_BACKPRESSURE',
          `${consoleChallengesMax} console sign-ins are waiting for a signature; try again in a minute`,
        );
      }
      const challenge = randomBytes(consoleNonceBytes).toString('base64url');
      const expiresAt = now() + consoleChallengeTtlMs;
      challenges.set(challenge, expiresAt);
      return { challenge, expiresAt };
    },
    take: (challenge) => {
      const expiresAt = challenges.get(challenge);
      challenges.delete(challenge);
      return expiresAt !== undefined && expiresAt > now();
    },
    open: (mspId, certPem) => {
      if (sessions.size >= consoleSessionsMax) prune(sessions, (session) => session.expiresAt);
      // Still full: the oldest session (first in insertion order) is closed.
      if (sessions.size >= consoleSessionsMax) {
        const oldest = sessions.keys().next().value;
        if (oldest !== undefined) sessions.delete(oldest);
      }
      const token = randomBytes(consoleNonceBytes).toString('base64url');
      const expiresAt = now() + consoleSessionTtlMs;
      sessions.set(token, { mspId, certPem, expiresAt });
      return { token, expiresAt };
    },
    lookup: (token) => {
      const session = sessions.get(token);
      if (session === undefined) return undefined;
      if (session.expiresAt <= now()) {
        sessions.delete(token);
        return undefined;
      }
      return session;
    },
    close: (token) => sessions.delete(token),
  };
}

/** The caller a certificate of `mspId` is at the consortium in force, when it is a valid one. */
export function callerOfCert(
  msps: ReadonlyMap<string, Msp>,
  mspId: string,
  certPem: string,
): { ok: true; caller: Caller } | { ok: false; error: CofferError } {
  const msp = msps.get(mspId);
  if (msp === undefined) {
    return {
      ok: false,
      error: cofferError(
        'NODE_E_CONSOLE_SIGNIN',
        `${mspId} is not an organisation of the consortium`,
      ),
    };
  }
  const identity = msp.deserializeIdentity(mspId, certPem);
  if (!identity.ok) {
    return {
      ok: false,
      error: cofferError(
        'NODE_E_CONSOLE_SIGNIN',
        `the certificate is not an identity of ${mspId}: ${identity.error.message}`,
      ),
    };
  }
  const validation = msp.validate(identity.identity);
  if (!validation.valid) {
    return {
      ok: false,
      error: cofferError(
        'NODE_E_CONSOLE_SIGNIN',
        `the certificate is not a valid identity of ${mspId} now: ${validation.error.message}`,
      ),
    };
  }
  return { ok: true, caller: callerOfIdentity(msp, identity.identity, validation.role) };
}

/** Sockets of the console listener (the API listener's need no session check). */
const consoleSockets = new WeakSet<Socket>();

export function markConsoleSocket(socket: Socket): void {
  consoleSockets.add(socket);
}

/** Paths the console listener serves without a client certificate or a session. */
function isOpenPath(method: string, url: string): boolean {
  const pathOnly = url.split('?')[0] ?? '';
  if (method === 'GET' && (pathOnly === '/console' || pathOnly.startsWith('/console/')))
    return true;
  if (method === 'GET' && (pathOnly === '/' || pathOnly === '/v1/health')) return true;
  return (
    method === 'POST' &&
    (pathOnly === '/v1/console/challenge' || pathOnly === '/v1/console/session')
  );
}

function bearerOf(request: IncomingMessage): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(header);
  return match?.[1];
}

export type ConsoleRoutesOptions = {
  readonly msps: () => ReadonlyMap<string, Msp>;
  readonly nodeId: string;
  readonly sessions: ConsoleSessions;
  readonly sendError: (reply: FastifyReply, error: CofferError) => Promise<FastifyReply>;
  readonly errorSchema: object;
  /** The built console (default dist/console); absent files: /console says how to build them. */
  readonly filesDir?: string;
};

/** The console's routes and the console listener's authentication hook (one call from api.ts). */
export async function registerConsoleRoutes(
  app: FastifyInstance,
  options: ConsoleRoutesOptions,
): Promise<void> {
  const { sessions, sendError } = options;
  const filesDir = options.filesDir ?? consoleFilesDir;
  const tags = ['console'];

  app.addHook('onRequest', async (request, reply) => {
    const socket = request.raw.socket;
    const token = bearerOf(request.raw);
    if (token !== undefined) {
      const session = sessions.lookup(token);
      const caller =
        session === undefined
          ? undefined
          : callerOfCert(options.msps(), session.mspId, session.certPem);
      if (caller?.ok === true) {
        setSessionCaller(request.raw, caller.caller);
        return;
      }
      if (caller !== undefined) sessions.close(token);
      // A bad token on the API listener is ignored (the client certificate decides there).
      if (consoleSockets.has(socket)) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_UNAUTHENTICATED',
            caller === undefined
              ? 'the console session has expired or was closed; sign in again'
              : `the console session's identity is no longer valid: ${caller.error.message}`,
          ),
        );
      }
      return;
    }
    if (!consoleSockets.has(socket) || isOpenPath(request.method, request.url)) return;
    if (socket instanceof TLSSocket && callerOf(options.msps(), socket) !== undefined) return;
    return sendError(
      reply,
      cofferError(
        'NODE_E_UNAUTHENTICATED',
        'sign in to the console first (a key store unlocked in the page, or a client certificate of a member)',
      ),
    );
  });

  app.get('/', { schema: { hide: true } }, (_request, reply) => reply.redirect('/console/'));
  if (existsSync(path.join(filesDir, 'index.html'))) {
    await app.register(fastifyStatic, {
      root: filesDir,
      prefix: '/console/',
      redirect: true,
      index: ['index.html'],
      // The page must not be framed by another site (clickjacking an approval).
      setHeaders: (res) => {
        res.setHeader('x-frame-options', 'DENY');
        res.setHeader('content-security-policy', "frame-ancestors 'none'");
        res.setHeader('x-content-type-options', 'nosniff');
      },
    });
  } else {
    app.get('/console/*', { schema: { hide: true } }, (_request, reply) =>
      sendError(
        reply,
        cofferError(
          'NODE_E_CONSOLE_UNAVAILABLE',
          `the console's files are not built (no ${path.join(filesDir, 'index.html')})`,
        ),
      ),
    );
  }
  app.get('/console', { schema: { hide: true } }, (_request, reply) => reply.redirect('/console/'));

  app.post(
    '/v1/console/challenge',
    {
      schema: {
        summary:
          'Console sign-in, step 1: a single-use challenge to sign with your identity (valid 60 s)',
        tags,
        response: { 429: options.errorSchema },
      },
    },
    () => ({ ...sessions.challenge(), nodeId: options.nodeId, type: consoleSessionType }),
  );

  app.post(
    '/v1/console/session',
    {
      schema: {
        summary:
          'Console sign-in, step 2: send your certificate and your signature over the canonical JSON {type, challenge, nodeId}; answers a bearer token',
        tags,
        body: {
          type: 'object',
          required: ['mspId', 'cert', 'challenge', 'signature'],
          additionalProperties: false,
          properties: {
            mspId: { type: 'string', maxLength: 256 },
            cert: { type: 'string', maxLength: consoleCertCharsMax },
            challenge: { type: 'string', maxLength: 64 },
            signature: {
              type: 'string',
              maxLength: 256,
              description: 'base64 DER ECDSA signature (low S) over SHA-256 of the statement',
            },
          },
        },
        response: { 401: options.errorSchema },
      },
    },
    async (
      request: FastifyRequest<{
        Body: { mspId: string; cert: string; challenge: string; signature: string };
      }>,
      reply,
    ) => {
      const { mspId, cert, challenge, signature } = request.body;
      if (!sessions.take(challenge)) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_CONSOLE_SIGNIN',
            'the challenge is unknown, used or expired; ask for a new one',
          ),
        );
      }
      const msps = options.msps();
      const checked = callerOfCert(msps, mspId, cert);
      if (!checked.ok) return sendError(reply, checked.error);
      const msp = msps.get(mspId);
      const identity = msp?.deserializeIdentity(mspId, cert);
      const verified =
        msp !== undefined && identity?.ok === true
          ? msp.verify(
              identity.identity,
              consoleSessionMessage(challenge, options.nodeId),
              new Uint8Array(Buffer.from(signature, 'base64')),
            )
          : undefined;
      if (verified?.ok !== true) {
        return sendError(
          reply,
          cofferError(
            'NODE_E_CONSOLE_SIGNIN',
            `the signature does not verify with the certificate${verified?.ok === false ? `: ${verified.error.message}` : ''}`,
          ),
        );
      }
      const session = sessions.open(mspId, cert);
      return { ...session, caller: checked.caller };
    },
  );

  app.delete(
    '/v1/console/session',
    { schema: { summary: 'Console sign-out: closes the session of the bearer token', tags } },
    (request) => {
      const token = bearerOf(request.raw);
      return { closed: token !== undefined && sessions.close(token) };
    },
  );
}
