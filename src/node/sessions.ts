// Session limits of an HTTPS listener (decision 0040), as CCF's max_open_sessions_soft/hard:
// past the soft limit a new connection is answered HTTP 503 NODE_E_TOO_MANY_SESSIONS with
// Retry-After and closed, so the client learns why; past the hard limit Node closes new
// connections at once (server.maxConnections), before their TLS handshake costs anything.
// Every open connection holds TLS and socket buffers, so these bound the memory clients can
// make a node hold, as pendingMax bounds what their transactions can.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Server as NetServer, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { cofferError } from '../errors/index.js';
import { writeAnswer, type ErrorAnswer } from './submit-route.js';

export type SessionLimits = {
  /** Open connections past which a new one is answered 503 and closed. */
  readonly softMax: number;
  /** Open connections past which a new one is closed at once (at least softMax). */
  readonly hardMax: number;
};

export const sessionLimitsDefault: SessionLimits = { softMax: 1000, hardMax: 1100 };
/** The largest limit a node config may set (each connection holds file descriptors and buffers). */
export const sessionsMaxAllowed = 100_000;

/** How long a refused client should wait before it connects again. */
const retryAfterMs = 1000;

export type SessionStats = {
  /** Connections open now (TCP, including those still in their TLS handshake). */
  readonly open: number;
  readonly softMax: number;
  readonly hardMax: number;
  /** Requests answered NODE_E_TOO_MANY_SESSIONS since the listener started. */
  readonly refusedRequests: number;
  /** Connections closed at once for the hard limit since the listener started. */
  readonly droppedConnections: number;
};

export type SessionGuard = {
  /** Answers a request on a connection opened past the soft limit; true if it did. */
  readonly refuse: (request: IncomingMessage, response: ServerResponse) => boolean;
  readonly stats: () => SessionStats;
};

/** Applies `limits` to `server` (a TLS server: requests arrive on its secure sockets). */
export function guardSessions(
  server: NetServer,
  limits: SessionLimits,
  errorAnswer: ErrorAnswer,
): SessionGuard {
  let open = 0;
  let refusedRequests = 0;
  let droppedConnections = 0;
  const overSoftLimit = new WeakSet<Socket>();
  server.maxConnections = limits.hardMax;
  server.on('drop', () => {
    droppedConnections += 1;
  });
  server.on('connection', (socket: Socket) => {
    open += 1;
    socket.once('close', () => {
      open -= 1;
    });
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    if (open > limits.softMax) overSoftLimit.add(socket);
  });
  const answer = errorAnswer(
    cofferError(
      'NODE_E_TOO_MANY_SESSIONS',
      `this listener has more than ${limits.softMax} open connections; this one is closed`,
      { softMax: limits.softMax },
    ),
    retryAfterMs,
  );
  return {
    refuse: (request, response) => {
      if (!overSoftLimit.has(request.socket)) return false;
      refusedRequests += 1;
      writeAnswer(response, answer, { connection: 'close' });
      return true;
    },
    stats: () => ({
      open,
      softMax: limits.softMax,
      hardMax: limits.hardMax,
      refusedRequests,
      droppedConnections,
    }),
  };
}
