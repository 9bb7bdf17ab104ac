// CRLs for TLS client certificates (Fabric checks CRLs for identities only). The TLS handshake
// checks the chain against the organisations' TLS CAs; this guard then checks the peer's
// certificate against the CRLs of the MSP that issued it, before the connection is used.
import type { Server, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { cofferError, type CofferError } from '../errors/index.js';
import type { Msp } from './msp.js';

export type TlsPeerCheck =
  | { readonly ok: true; readonly mspId: string }
  | { readonly ok: false; readonly error: CofferError };

/** The PEM CA list for a TLS server or client trusting the organisations' TLS CAs. */
export function tlsTrustOf(msps: readonly Msp[]): string[] {
  return msps.flatMap((msp) => [...msp.tlsRootCerts, ...msp.tlsIntermediateCerts]);
}

/** Finds the MSP whose TLS CAs issued `leafDer` and checks that it is current and not revoked. */
export function checkTlsPeerCertificate(
  msps: readonly Msp[],
  leafDer: Uint8Array,
  at: Date,
): TlsPeerCheck {
  let firstRefusal: CofferError | undefined;
  for (const msp of msps) {
    const outcome = msp.checkTlsCertificate(leafDer, at);
    if (outcome.ok) return { ok: true, mspId: msp.mspId };
    // A revocation is the answer; "does not chain here" only means: try the next MSP.
    if (outcome.error.details['revoked'] === true) return { ok: false, error: outcome.error };
    firstRefusal ??= outcome.error;
  }
  return {
    ok: false,
    error:
      firstRefusal ??
      cofferError(
        'MSP_E_TLS_CLIENT_REJECTED',
        'no MSP of the consortium issued this TLS certificate',
      ),
  };
}

export function checkTlsSocket(msps: readonly Msp[], socket: TLSSocket, at: Date): TlsPeerCheck {
  const peer = socket.getPeerCertificate();
  if (Object.keys(peer).length === 0) {
    return {
      ok: false,
      error: cofferError('MSP_E_TLS_CLIENT_REJECTED', 'the client sent no TLS certificate'),
    };
  }
  return checkTlsPeerCertificate(msps, new Uint8Array(peer.raw), at);
}

/**
 * Closes every TLS connection whose client certificate is revoked (or not issued by an MSP)
 * as soon as the handshake completes, before any request on it is read.
 */
export function guardTlsServer(
  server: Server,
  msps: () => readonly Msp[],
  logger: Logger,
  clock: () => Date = () => new Date(),
  /** Accepts a connection before the TLS-CA check (e.g. a client certificate that is a valid MSP identity). */
  accept?: (socket: TLSSocket) => boolean,
): void {
  server.on('secureConnection', (socket: TLSSocket) => {
    if (accept?.(socket) === true) return;
    const outcome = checkTlsSocket(msps(), socket, clock());
    if (outcome.ok) return;
    logger.warn(
      { code: outcome.error.code, remote: socket.remoteAddress },
      `TLS connection refused: ${outcome.error.message}`,
    );
    socket.destroy();
  });
}
