// Passphrase-sealed secrets and durable file replacement, shared by the software key store and
// offline key files. scrypt (RFC 7914) turns the passphrase into a key; AES-256-GCM seals each
// secret with associated data that names what it belongs to (key id, curve, public key), so a
// sealed key moved to another record or file fails to open instead of signing as another key.
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { cofferError } from '../errors/index.js';

/** scrypt cost a new file gets: N = 2^17, r = 8, p = 1 (OWASP's minimum for scrypt, 2023). */
export const scryptLog2NDefault = 17;
/** Cheapest cost a file may declare (tests use it; anything weaker is refused on reading). */
export const scryptLog2NMin = 14;
/** Dearest cost a file may declare: 2^20 × 128 × r bytes is 1 GiB of memory at r = 8. */
export const scryptLog2NMax = 20;
export const scryptBlockSize = 8;
export const scryptParallelism = 1;
/** Memory scrypt may use: 128 × N × r bytes at the largest N, plus slack. */
export const scryptMemoryBytesMax = 128 * 2 ** scryptLog2NMax * scryptBlockSize + 64 * 1024 * 1024;
export const saltBytes = 16;
export const gcmIvBytes = 12;
export const gcmTagBytes = 16;
export const kekBytes = 32;
/** Longest passphrase read, in bytes; shortest accepted, in characters. */
export const passphraseBytesMax = 4096;
export const passphraseCharsMin = 12;

export type KdfParams = {
  readonly name: 'scrypt';
  /** Base64. */
  readonly salt: string;
  readonly log2N: number;
  readonly r: number;
  readonly p: number;
};

export type Sealed = {
  /** Base64 of the 12-byte GCM IV, the ciphertext and the 16-byte tag. */
  readonly iv: string;
  readonly ciphertext: string;
  readonly tag: string;
};

export function newKdfParams(log2N: number = scryptLog2NDefault): KdfParams {
  return {
    name: 'scrypt',
    salt: randomBytes(saltBytes).toString('base64'),
    log2N,
    r: scryptBlockSize,
    p: scryptParallelism,
  };
}

/** Checks KDF parameters read from a file; throws KEYSTORE_E_FILE_INVALID naming `field`. */
export function checkKdfParams(value: unknown, field: string): KdfParams {
  const json = value as Partial<Record<keyof KdfParams, unknown>> | null;
  const bad = (what: string) =>
    cofferError('KEYSTORE_E_FILE_INVALID', `${field}${what}`, { field });
  if (typeof json !== 'object' || json === null) throw bad(' must be an object');
  if (json.name !== 'scrypt') throw bad('.name must be "scrypt"');
  if (typeof json.salt !== 'string' || Buffer.from(json.salt, 'base64').length !== saltBytes)
    throw bad(`.salt must be base64 of ${saltBytes} bytes`);
  if (
    typeof json.log2N !== 'number' ||
    !Number.isInteger(json.log2N) ||
    json.log2N < scryptLog2NMin ||
    json.log2N > scryptLog2NMax
  )
    throw bad(`.log2N must be an integer from ${scryptLog2NMin} to ${scryptLog2NMax}`);
  if (json.r !== scryptBlockSize || json.p !== scryptParallelism)
    throw bad(`.r and .p must be ${scryptBlockSize} and ${scryptParallelism}`);
  return { name: 'scrypt', salt: json.salt, log2N: json.log2N, r: json.r, p: json.p };
}

/** The key-encryption key of a passphrase under `params`. */
export async function deriveKek(passphrase: string, params: KdfParams): Promise<Buffer> {
  checkPassphrase(passphrase);
  return new Promise((resolve, reject) => {
    scrypt(
      passphrase.normalize('NFC'),
      Buffer.from(params.salt, 'base64'),
      kekBytes,
      { N: 2 ** params.log2N, r: params.r, p: params.p, maxmem: scryptMemoryBytesMax },
      (error, key) => {
        if (error === null) resolve(key);
        else reject(error);
      },
    );
  });
}

export function checkPassphrase(passphrase: string): void {
  if (
    passphrase.length < passphraseCharsMin ||
    Buffer.byteLength(passphrase) > passphraseBytesMax
  ) {
    throw cofferError(
      'KEYSTORE_E_PASSPHRASE_WEAK',
      `a passphrase is ${passphraseCharsMin} characters to ${passphraseBytesMax} bytes long`,
    );
  }
}

export function seal(kek: Uint8Array, plaintext: Uint8Array, aad: Uint8Array): Sealed {
  const iv = randomBytes(gcmIvBytes);
  const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: gcmTagBytes });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    iv: iv.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/**
 * Opens a sealed secret. A wrong passphrase and an altered file look alike to GCM: both are
 * KEYSTORE_E_PASSPHRASE_WRONG, whose message says so.
 */
export function unseal(kek: Uint8Array, sealed: Sealed, aad: Uint8Array, what: string): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', kek, Buffer.from(sealed.iv, 'base64'), {
      authTagLength: gcmTagBytes,
    });
    decipher.setAAD(aad);
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
    return Buffer.concat([
      decipher.update(Buffer.from(sealed.ciphertext, 'base64')),
      decipher.final(),
    ]);
  } catch (cause) {
    throw cofferError(
      'KEYSTORE_E_PASSPHRASE_WRONG',
      `${what} does not open: the passphrase is wrong, or the file was altered`,
      {},
      cause,
    );
  }
}

export function checkSealed(value: unknown, field: string): Sealed {
  const json = value as Partial<Record<keyof Sealed, unknown>> | null;
  const iv = json?.iv;
  const ciphertext = json?.ciphertext;
  const tag = json?.tag;
  if (
    typeof iv !== 'string' ||
    Buffer.from(iv, 'base64').length !== gcmIvBytes ||
    typeof ciphertext !== 'string' ||
    typeof tag !== 'string' ||
    Buffer.from(tag, 'base64').length !== gcmTagBytes
  ) {
    throw cofferError(
      'KEYSTORE_E_FILE_INVALID',
      `${field} must be {iv, ciphertext, tag} in base64 (AES-256-GCM)`,
      { field },
    );
  }
  return { iv, ciphertext, tag };
}

/**
 * Replaces `file` with `bytes` so that a crash leaves the old or the new file, never a torn one:
 * write a temporary file beside it (mode 0600, exclusive), fsync it, rename over the target,
 * fsync the folder (POSIX makes the rename durable only then). With `exclusive`, an existing
 * `file` is an error (KEYSTORE_E_FILE_EXISTS) instead of being replaced.
 */
export async function writeFileDurably(
  file: string,
  bytes: Uint8Array,
  options: { readonly exclusive?: boolean } = {},
): Promise<void> {
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    if (options.exclusive === true) {
      // link(2) fails with EEXIST instead of replacing: a key file is never overwritten.
      await link(temp, file);
      await rm(temp);
    } else {
      await rename(temp, file);
    }
  } catch (error) {
    await rm(temp, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      throw cofferError(
        'KEYSTORE_E_FILE_EXISTS',
        `${file} already exists; choose another path (key and signature files are never overwritten)`,
        { file },
        error,
      );
    }
    throw error;
  }
  const folder = await open(dir, 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}

/** Reads a secret file (a passphrase or PIN): at most `bytesMax`, without a trailing newline. */
export async function readSecretFile(
  file: string,
  bytesMax: number,
  what: string,
): Promise<string> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError(
      'KEYSTORE_E_SECRET_UNREADABLE',
      `the ${what} file ${file} cannot be read (${code})`,
      { file },
      cause,
    );
  }
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > bytesMax) {
      throw cofferError(
        'KEYSTORE_E_SECRET_UNREADABLE',
        `the ${what} file ${file} must be a regular file of at most ${bytesMax} bytes`,
        { file },
      );
    }
    // One trailing newline is what `echo … > file` adds; it is not part of the secret.
    return (await handle.readFile('utf8')).replace(/\r?\n$/, '');
  } finally {
    await handle.close();
  }
}
