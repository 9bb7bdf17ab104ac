// Building signed envelopes: canonical request bytes, a fresh 128-bit nonce, an expiry.
import { randomBytes } from 'node:crypto';
import {
  encodeRequest,
  requestTtlMsMax,
  transactionId,
  type Envelope,
  type Request,
} from '../ledger/tx.js';
import { sha256Digest, type ClientIdentity, type Signer } from './signer.js';

/** Default lifetime of a request: long enough for a retry, short for the replay window. */
export const requestTtlMsDefault = 60_000;

export type EnvelopeOptions = {
  readonly app: string;
  readonly action: string;
  readonly args: Readonly<Record<string, unknown>>;
  readonly identity: ClientIdentity;
  /** Signs the SHA-256 digest of the request bytes (an HSM, a KMS, a key file)... */
  readonly signer?: Signer;
  /**
   * ...or signs the request bytes themselves, SHA-256 included (an MSP signing identity's
   * `sign`, on OpenSSL: what a node uses to sign its own requests). One of the two is needed.
   */
  readonly signMessage?: (message: Uint8Array) => Uint8Array;
  /** Clock for expiresAt (default Date.now). */
  readonly now?: number;
  readonly ttlMs?: number;
  /** Send the certificate (default true; the ledger remembers it after the first commit). */
  readonly sendCert?: boolean;
  readonly nonce?: string;
};

export type SignedEnvelope = {
  readonly envelope: Envelope;
  readonly txId: string;
  readonly request: Request;
};

export async function signEnvelope(options: EnvelopeOptions): Promise<SignedEnvelope> {
  const ttl = Math.min(options.ttlMs ?? requestTtlMsDefault, requestTtlMsMax);
  const request: Request = {
    v: 1,
    app: options.app,
    action: options.action,
    args: options.args,
    signer: { mspId: options.identity.mspId, certId: options.identity.certRef },
    nonce: options.nonce ?? randomBytes(16).toString('hex'),
    expiresAt: (options.now ?? Date.now()) + ttl,
  };
  const bytes = encodeRequest(request);
  let signature: Uint8Array;
  if (options.signMessage !== undefined) signature = options.signMessage(bytes);
  else if (options.signer !== undefined) signature = await options.signer(sha256Digest(bytes));
  else throw new TypeError('signEnvelope needs a signer or signMessage');
  const envelope: Envelope =
    options.sendCert === false
      ? { request: bytes, signature }
      : { request: bytes, signature, cert: options.identity.certPem };
  return { envelope, txId: transactionId(bytes), request };
}

/**
 * Adds `identity`'s endorsement: its signature over the same request bytes. An app endpoint
 * whose signature policy needs several signers (e.g. `AND('Org1MSP.admin', 'Org2MSP.admin')`)
 * takes the submitter and the endorsers together. The transaction id does not change.
 */
export async function endorseEnvelope(
  envelope: Envelope,
  identity: ClientIdentity,
  signer: Signer,
): Promise<Envelope> {
  const signature = await signer(sha256Digest(envelope.request));
  return {
    ...envelope,
    endorsements: [
      ...(envelope.endorsements ?? []),
      { mspId: identity.mspId, cert: identity.certPem, signature },
    ],
  };
}
