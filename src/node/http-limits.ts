// Time limits of the node's HTTPS listeners (API and console), and their answer to a request
// that never arrives whole or is not HTTP at all. Node's own limits for a request are 300 s,
// checked every 30 s: a client that opens connections and sends a byte now and then would hold
// each for minutes (CCF and Fabric's gRPC servers bound this too). A request still arriving
// after requestMs is answered 408 NODE_E_REQUEST_TIMEOUT and its connection closed; a request
// that is not well-formed HTTP/1.1 gets 400 NODE_E_BAD_REQUEST (431 for headers too large). The
// answers have the registry's {error: {code, message, fix}} body like every other error of the
// API, instead of Fastify's or Node's own text.
import type { Socket } from 'node:net';
import { cofferError, type CofferError } from '../errors/index.js';

export type ApiTimeouts = {
  /** How long a client may take to send a whole request, headers and body, in ms. */
  readonly requestMs: number;
  /** How often open connections are checked against requestMs, in ms. */
  readonly checkEveryMs: number;
};

/**
 * The largest body (httpBodyBytesMax, 16 MiB) arrives within 60 s at 280 KB/s. Once a request is
 * received it may wait longer for its answer (`?wait=commit`, at most waitMsMax): that is not
 * cut, nor is an idle keep-alive connection (keepAliveTimeoutMs).
 */
export const apiTimeoutsDefault: ApiTimeouts = { requestMs: 60_000, checkEveryMs: 5_000 };

/**
 * How long an idle keep-alive connection stays open. Fastify sets 72 s on servers it creates,
 * but not on one from a serverFactory, which would keep Node's 5 s. Clients that keep
 * connections alive (the SDK, load generators) then often send on a socket the server is
 * closing, and get "socket hang up".
 */
export const keepAliveTimeoutMs = 72_000;

/** Options of node:https createServer that set these limits and keepAliveTimeoutMs. */
export function listenerTimeoutOptions(timeouts: ApiTimeouts): {
  readonly requestTimeout: number;
  readonly headersTimeout: number;
  readonly connectionsCheckingInterval: number;
  readonly keepAliveTimeout: number;
} {
  return {
    requestTimeout: timeouts.requestMs,
    headersTimeout: timeouts.requestMs,
    connectionsCheckingInterval: timeouts.checkEveryMs,
    keepAliveTimeout: keepAliveTimeoutMs,
  };
}

/** The answer to a listener's `clientError` (Node's error, or llhttp's HPE_* codes). */
function clientErrorOf(
  error: Error & { code?: unknown },
  timeouts: ApiTimeouts,
): { readonly status: string; readonly error: CofferError } {
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    const message = `the request did not arrive whole within ${timeouts.requestMs} ms`;
    return { status: '408 Request Timeout', error: cofferError('NODE_E_REQUEST_TIMEOUT', message) };
  }
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    const message = 'the request headers are larger than the node takes';
    return {
      status: '431 Request Header Fields Too Large',
      error: cofferError('NODE_E_BAD_REQUEST', message),
    };
  }
  const message = 'the request is not well-formed HTTP/1.1';
  return { status: '400 Bad Request', error: cofferError('NODE_E_BAD_REQUEST', message) };
}

/**
 * Answers a listener's `clientError` (the request is not HTTP, too large in its headers, or not
 * received in time) with the registry's body, then closes the connection. As Node's own handler,
 * it writes nothing where the socket is gone or an answer has already started on it.
 */
export function answerClientError(
  timeouts: ApiTimeouts,
): (error: Error & { code?: unknown }, socket: Socket) => void {
  return (error, socket) => {
    const answering = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (
      error.code !== 'ECONNRESET' &&
      !socket.destroyed &&
      socket.writable &&
      answering?.headersSent !== true
    ) {
      const answer = clientErrorOf(error, timeouts);
      const { code, message, fix } = answer.error;
      const body = JSON.stringify({ error: { code, message, fix } });
      socket.write(
        `HTTP/1.1 ${answer.status}\r\ncontent-type: application/json; charset=utf-8\r\n` +
          `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
    }
    socket.destroy();
  };
}
