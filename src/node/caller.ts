// Who is calling the API: the MSP identity of the TLS client certificate, if it is one.
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

/** callerOf the request's socket; undefined when it is not a TLS connection. */
export function callerOfRequest(
  msps: ReadonlyMap<string, Msp>,
  request: FastifyRequest,
): Caller | undefined {
  const socket: unknown = request.raw.socket;
  return socket instanceof TLSSocket ? callerOf(msps, socket) : undefined;
}
