// The signed-in person's identity in the page (decision 0026): a console key store
// (`coffer console keystore`) unlocked with its passphrase. scrypt comes from @noble/hashes,
// AES-256-GCM from WebCrypto, ECDSA P-256 from @noble/curves (DER, low S, SHA-256 of the
// message, as the node verifies). The private scalar stays in this object; nothing sends it.
import { p256 } from '@noble/curves/nist.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { fromBase64, toHex, utf8 } from './bytes.js';

export const consoleKeyStoreFormat = 'coffer-console-keystore/1';
/** Largest key store file the page reads, in bytes. */
export const keyStoreBytesMax = 64 * 1024;
/** scrypt costs the page accepts (log2 N), as the node's sealed files. */
const log2NMin = 14;
const log2NMax = 20;

export type SigningIdentity = {
  readonly mspId: string;
  readonly certPem: string;
  /** Hex SHA-256 of the certificate's DER: the ledger's certId. */
  readonly certId: string;
  /** DER ECDSA P-256 signature (low S) over SHA-256 of `message`. */
  readonly sign: (message: Uint8Array) => Uint8Array;
  /** Forgets the key (sign-out). */
  readonly forget: () => void;
};

/** Why a key store did not open, said so that the person can act. */
export class KeyStoreError extends Error {}

type KeyStoreFile = {
  format: string;
  mspId: string;
  certPem: string;
  certId: string;
  kdf: { name: string; salt: string; log2N: number; r: number; p: number };
  sealed: { iv: string; ciphertext: string; tag: string };
};

function parseKeyStore(text: string): KeyStoreFile {
  if (text.length > keyStoreBytesMax)
    throw new KeyStoreError('the file is too large for a key store');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new KeyStoreError(
      'the file is not JSON; choose a file made by `coffer console keystore`',
    );
  }
  const file = json as Partial<KeyStoreFile> | null;
  if (file?.format !== consoleKeyStoreFormat) {
    throw new KeyStoreError(
      `the file is not a console key store (format ${consoleKeyStoreFormat}); make one with \`coffer console keystore\``,
    );
  }
  const { kdf, sealed } = file;
  if (
    typeof file.mspId !== 'string' ||
    typeof file.certPem !== 'string' ||
    typeof file.certId !== 'string' ||
    kdf?.name !== 'scrypt' ||
    !Number.isInteger(kdf.log2N) ||
    kdf.log2N < log2NMin ||
    kdf.log2N > log2NMax ||
    kdf.r !== 8 ||
    kdf.p !== 1 ||
    typeof sealed?.iv !== 'string' ||
    typeof sealed.ciphertext !== 'string' ||
    typeof sealed.tag !== 'string'
  ) {
    throw new KeyStoreError('the key store is damaged (a field is missing or out of range)');
  }
  return file as KeyStoreFile;
}

function derOfPem(pem: string): Uint8Array {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (body === undefined) throw new KeyStoreError('the key store holds no PEM certificate');
  return fromBase64(body.replace(/\s+/g, ''));
}

/** Opens a console key store with its passphrase (scrypt takes a second or two by design). */
export async function unlockKeyStore(text: string, passphrase: string): Promise<SigningIdentity> {
  const file = parseKeyStore(text);
  if (toHex(sha256(derOfPem(file.certPem))) !== file.certId) {
    throw new KeyStoreError('the key store is damaged (its certId is not its certificate’s)');
  }
  const kek = await scryptAsync(
    utf8.encode(passphrase.normalize('NFC')),
    fromBase64(file.kdf.salt),
    {
      N: 2 ** file.kdf.log2N,
      r: file.kdf.r,
      p: file.kdf.p,
      dkLen: 32,
      maxmem: 2 ** 31,
    },
  );
  const key = await crypto.subtle.importKey('raw', new Uint8Array(kek), 'AES-GCM', false, [
    'decrypt',
  ]);
  kek.fill(0);
  const sealed = new Uint8Array([
    ...fromBase64(file.sealed.ciphertext),
    ...fromBase64(file.sealed.tag),
  ]);
  let scalar: Uint8Array;
  try {
    scalar = new Uint8Array(
      await crypto.subtle.decrypt(
        {
          name: 'AES-GCM',
          iv: fromBase64(file.sealed.iv),
          additionalData: utf8.encode([file.format, file.mspId, file.certId].join('\n')),
          tagLength: 128,
        },
        key,
        sealed,
      ),
    );
  } catch {
    throw new KeyStoreError('the passphrase is wrong (or the key store was altered)');
  }
  if (scalar.length !== 32) throw new KeyStoreError('the key store holds no P-256 key');
  return {
    mspId: file.mspId,
    certPem: file.certPem,
    certId: file.certId,
    sign: (message) => {
      if (scalar.every((byte) => byte === 0)) throw new KeyStoreError('signed out: unlock again');
      return p256.sign(message, scalar, { format: 'der', lowS: true, prehash: true });
    },
    forget: () => scalar.fill(0),
  };
}
