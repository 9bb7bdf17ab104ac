// Client-side signing. The seam is a digest signer (as fabric-gateway's): an HSM, a KMS or a
// key file all fit `Signer`. Signatures are ECDSA P-256 DER with low S, as MSPs require.
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { cofferError, isCofferError } from '../errors/index.js';
import { loadMspFolder, pemCertificateRef } from '../msp/index.js';

/** Signs a SHA-256 digest; returns a DER ECDSA signature with low S. */
export type Signer = (digest: Uint8Array) => Promise<Uint8Array>;

/** Who signs: the MSP, the certificate (sent with requests) and its reference. */
export type ClientIdentity = {
  readonly mspId: string;
  readonly certPem: string;
  /** Hex SHA-256 of the certificate DER: `signer.certId` in requests. */
  readonly certRef: string;
};

export function clientIdentity(mspId: string, certPem: string): ClientIdentity {
  const certRef = pemCertificateRef(certPem);
  if (certRef === undefined) {
    throw cofferError('CRYPTO_E_KEY_MALFORMED', `the certificate for ${mspId} is not PEM`);
  }
  return { mspId, certPem, certRef };
}

/**
 * A signer over a P-256 private key (PKCS#8 or SEC1 PEM). node:crypto cannot sign a digest it
 * did not compute, so the digest is signed with @noble/curves (prehash off, low S).
 */
export function privateKeySigner(keyPem: string): Signer {
  let scalar: Uint8Array;
  try {
    const key = createPrivateKey(keyPem);
    const jwk = key.export({ format: 'jwk' });
    if (key.asymmetricKeyType !== 'ec' || jwk.crv !== 'P-256' || jwk.d === undefined) {
      throw cofferError('CRYPTO_E_KEY_UNSUPPORTED', 'the key is not an ECDSA P-256 private key');
    }
    scalar = new Uint8Array(Buffer.from(jwk.d, 'base64url'));
  } catch (error) {
    if (isCofferError(error)) throw error;
    throw cofferError(
      'CRYPTO_E_KEY_MALFORMED',
      'the private key cannot be parsed (PEM PKCS#8 or SEC1 expected)',
      {},
      error,
    );
  }
  return (digest) =>
    Promise.resolve(p256.sign(digest, scalar, { prehash: false, lowS: true, format: 'der' }));
}

/** Identity and signer from a Fabric MSP folder (signcerts/ and keystore/), as cryptogen writes. */
export async function identityFromMspFolder(
  dir: string,
  mspId: string,
): Promise<{ identity: ClientIdentity; signer: Signer }> {
  const loaded = await loadMspFolder(dir, { mspId, local: true, version: '3.0' });
  if (!loaded.ok) throw loaded.error;
  const signing = loaded.folder?.signing;
  const signingIdentity = loaded.msp.signingIdentity;
  if (signing === undefined || signingIdentity === undefined) {
    throw cofferError('MSP_E_CONFIG_NO_SIGNCERT', `${dir} has no signing identity`);
  }
  const keyPem = findKeyPem(
    dir,
    signing.keystore.map((item) => item.pem),
    signing.signCert.pem,
  );
  return {
    identity: clientIdentity(mspId, signing.signCert.pem),
    signer: privateKeySigner(keyPem),
  };
}

function findKeyPem(dir: string, candidates: readonly string[], certPem: string): string {
  const wanted = new X509Certificate(certPem).publicKey.export({ format: 'der', type: 'spki' });
  for (const pem of candidates) {
    try {
      const spki = createPublicKey(createPrivateKey(pem)).export({ format: 'der', type: 'spki' });
      if (spki.equals(wanted)) return pem;
    } catch {
      // Not a key (keystores may hold other files): keep looking.
    }
  }
  throw cofferError(
    'MSP_E_SIGNING_KEY_NOT_FOUND',
    `no key in ${dir}/keystore matches the signing certificate`,
  );
}

export function sha256Digest(bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest();
}
