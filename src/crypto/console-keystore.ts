// Console key stores (decision 0026): one MSP signing identity for the web console, its
// certificate in clear and its P-256 private scalar sealed under a passphrase (scrypt and
// AES-256-GCM, as the software key store). The page unlocks it and signs in the browser; the
// associated data names the format, the MSP and the certificate, so a sealed key moved under
// another certificate fails to open. `coffer console keystore` writes one from an MSP folder.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { cofferError } from '../errors/index.js';
import { pemCertificateRef } from '../msp/pem.js';
import { publicKeyOfScalar } from './keys.js';
import {
  checkKdfParams,
  checkSealed,
  deriveKek,
  newKdfParams,
  seal,
  unseal,
  type KdfParams,
  type Sealed,
} from './sealed-file.js';

export const consoleKeyStoreFormat = 'coffer-console-keystore/1';
/** Largest console key store file read, in bytes. */
export const consoleKeyStoreBytesMax = 64 * 1024;

export type ConsoleKeyStoreFile = {
  readonly format: typeof consoleKeyStoreFormat;
  readonly notice: string;
  readonly mspId: string;
  /** PEM of the signing certificate. */
  readonly certPem: string;
  /** Hex SHA-256 of the certificate's DER (the ledger's certId). */
  readonly certId: string;
  readonly curve: 'P-256';
  readonly kdf: KdfParams;
  /** The 32-byte private scalar. */
  readonly sealed: Sealed;
};

const notice =
  'Coffer console key store: an MSP signing identity for the web console. Keep it and its passphrase private; the page unlocks it in the browser.';

/** Associated data of the sealed scalar; the console page builds the same bytes. */
export function consoleKeyStoreAad(mspId: string, certId: string): Buffer {
  return Buffer.from([consoleKeyStoreFormat, mspId, certId].join('\n'));
}

function invalid(what: string): Error {
  return cofferError('KEYSTORE_E_FILE_INVALID', `console key store: ${what}`);
}

/** The private scalar of a P-256 PKCS#8 or SEC1 PEM key whose public key is the certificate's. */
function scalarOf(keyPem: string, certPem: string): Buffer {
  let jwk;
  try {
    jwk = createPrivateKey(keyPem).export({ format: 'jwk' });
  } catch (error) {
    throw cofferError('CRYPTO_E_KEY_MALFORMED', 'the key file is not a PEM private key', {}, error);
  }
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.d === undefined) {
    throw cofferError(
      'CRYPTO_E_KEY_UNSUPPORTED',
      'the console signs with ECDSA P-256 keys (Fabric identities); this key is not one',
    );
  }
  const scalar = Buffer.from(jwk.d, 'base64url');
  const certKey = new X509Certificate(certPem).publicKey.export({ format: 'jwk' });
  const pub = Buffer.from(publicKeyOfScalar('P-256', scalar), 'hex');
  const x = Buffer.from(certKey.x ?? '', 'base64url');
  const y = Buffer.from(certKey.y ?? '', 'base64url');
  if (!pub.subarray(1, 33).equals(x) || !pub.subarray(33).equals(y)) {
    scalar.fill(0);
    throw cofferError(
      'CRYPTO_E_KEY_MALFORMED',
      "the key does not belong to the certificate (their public keys differ); pick the key from the same MSP folder's keystore/",
    );
  }
  return scalar;
}

/** A console key store for the identity (certificate and key PEM), sealed under `passphrase`. */
export async function createConsoleKeyStore(options: {
  readonly mspId: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly passphrase: string;
  readonly kdfLog2N?: number;
}): Promise<ConsoleKeyStoreFile> {
  const certId = pemCertificateRef(options.certPem);
  if (certId === undefined) {
    throw cofferError('CRYPTO_E_KEY_MALFORMED', 'the certificate file is not a PEM certificate');
  }
  const scalar = scalarOf(options.keyPem, options.certPem);
  const kdf = newKdfParams(options.kdfLog2N);
  const kek = await deriveKek(options.passphrase, kdf);
  try {
    return {
      format: consoleKeyStoreFormat,
      notice,
      mspId: options.mspId,
      certPem: options.certPem,
      certId,
      curve: 'P-256',
      kdf,
      sealed: seal(kek, scalar, consoleKeyStoreAad(options.mspId, certId)),
    };
  } finally {
    scalar.fill(0);
    kek.fill(0);
  }
}

/** Checks a key store read from disk and opens it: the private scalar (32 bytes). */
export async function openConsoleKeyStore(json: unknown, passphrase: string): Promise<Buffer> {
  if (typeof json !== 'object' || json === null) throw invalid('not a JSON object');
  const file = json as Record<string, unknown>;
  if (file['format'] !== consoleKeyStoreFormat) {
    throw invalid(`format must be "${consoleKeyStoreFormat}"`);
  }
  const { mspId, certPem } = file;
  if (typeof mspId !== 'string' || typeof certPem !== 'string') {
    throw invalid('needs mspId and certPem');
  }
  const certId = pemCertificateRef(certPem);
  if (certId === undefined || certId !== file['certId']) {
    throw invalid('certId is not the SHA-256 of the certificate');
  }
  const kdf = checkKdfParams(file['kdf'], 'console key store: kdf');
  const sealed = checkSealed(file['sealed'], 'console key store: sealed');
  const kek = await deriveKek(passphrase, kdf);
  try {
    return unseal(kek, sealed, consoleKeyStoreAad(mspId, certId), 'console key store');
  } finally {
    kek.fill(0);
  }
}
