// Transactions signed in the page: the same request and envelope the SDK builds
// (src/client/envelope.ts): RFC 8785 canonical request bytes, a fresh 128-bit nonce, an expiry,
// the signature over them, and the certificate.
import canonicalize from 'canonicalize';
import { sha256 } from '@noble/hashes/sha2.js';
import { toBase64, toHex, utf8 } from './bytes.js';
import type { SigningIdentity } from './identity.js';

/** How long a request signed in the page may wait to be ordered. */
export const requestTtlMs = 60_000;

export type EnvelopeJson = {
  readonly request: string;
  readonly signature: string;
  readonly cert: string;
};

export type SignedRequest = { readonly envelope: EnvelopeJson; readonly txId: string };

export function signRequest(
  identity: SigningIdentity,
  app: string,
  action: string,
  args: Readonly<Record<string, unknown>>,
): SignedRequest {
  const request = {
    v: 1,
    app,
    action,
    args,
    signer: { mspId: identity.mspId, certId: identity.certId },
    nonce: toHex(crypto.getRandomValues(new Uint8Array(16))),
    expiresAt: Date.now() + requestTtlMs,
  };
  const text = canonicalize(request);
  if (text === undefined) throw new TypeError('the request cannot be encoded');
  const bytes = utf8.encode(text);
  return {
    envelope: {
      request: toBase64(bytes),
      signature: toBase64(identity.sign(bytes)),
      cert: identity.certPem,
    },
    txId: toHex(sha256(bytes)),
  };
}
