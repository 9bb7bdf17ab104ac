// Who is calling the API: the MSP identity of the TLS client certificate, if it is one, or of
// the console session the request names (console.ts, decision 0026).
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import type { FastifyRequest } from 'fastify';
import type { Caller } from '../contracts/index.js';
import { cofferError } from '../errors/index.js';
import { callerOfIdentity } from '../ledger/execute.js';
import { encodePem, type Msp } from '../msp/index.js';

/** The caller's MSP identity, when its TLS client certificate is a valid one of a member. */
export function callerOf(msps: ReadonlyMap<string, Msp>, socket: TLSSocket): Caller | undefined {
  const peer = socket.getPeerCertificate();
  if (Object.keys(peer).length === 0) return undefined;
  const pem = encodePem('CERTIFICATE', new Uint8Array(peer.raw));
  for (const msp of msps.values()) {
    const identity = msp.deserializeIdentity(msp.mspId, pem);
    if (!identity.ok) continue;
    const validation = msp.validate(identity.identity);
    if (!validation.valid) continue;
    return callerOfIdentity(msp, identity.identity, validation.role);
  }
  return undefined;
}

/** The request's TLS socket (every API connection is mutual TLS). */
export function tlsSocketOf(request: FastifyRequest): TLSSocket {
  const socket: unknown = request.raw.socket;
  if (!(socket instanceof TLSSocket))
    throw cofferError('NODE_E_UNAUTHENTICATED', 'not a TLS connection');
  return socket;
}

/** Requests that came with a valid console session: the session's identity, checked now. */
const sessionCallers = new WeakMap<IncomingMessage, Caller>();

/** Marks a request as the session's identity's (the console hook, after checking it). */
export function setSessionCaller(request: IncomingMessage, caller: Caller): void {
  sessionCallers.set(request, caller);
}

/**
 * The caller of a request: its console session's identity, else callerOf its TLS socket;
 * undefined when it has neither.
 */
export function callerOfRequest(
  msps: ReadonlyMap<string, Msp>,
  request: FastifyRequest,
): Caller | undefined {
  const session = sessionCallers.get(request.raw);
  if (session !== undefined) return session;
  const socket: unknown = request.raw.socket;
  return socket instanceof TLSSocket ? callerOf(msps, socket) : undefined;
}
