// The embedded default key store, for machines with no HSM: keys live in one file, each private
// key sealed with AES-256-GCM under a key derived from a passphrase with scrypt. It is what
// `coffer up` can use out of the box; it is NOT an HSM (a process that holds the passphrase holds
// the keys), and every status line and log says so. Production platform keys belong on PKCS#11.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { cofferError } from '../errors/index.js';
import {
  checkCurve,
  checkLabel,
  checkPublicKey,
  generateScalarKey,
  isPublicKeyHex,
  keysPerStoreMax,
  knownAnswerCheck,
  publicKeyOfScalar,
  signDigestWithScalar,
  type KeyCurve,
  type KeyInfo,
  type KeyStore,
  type Signer,
} from './keys.js';
import {
  checkKdfParams,
  checkSealed,
  deriveKek,
  newKdfParams,
  seal,
  unseal,
  writeFileDurably,
  type KdfParams,
  type Sealed,
} from './sealed-file.js';

export const softKeyStoreFormat = 'coffer-software-keystore/1';
/** What the store calls itself, wherever it is shown. */
export const softKeyStoreLabel = 'software key store (not an HSM)';
/** Largest key store file read, in bytes: keysPerStoreMax records of well under 1 KiB. */
export const softKeyStoreFileBytesMax = keysPerStoreMax * 1024;
/** Bytes of a key id (hex in files and APIs). */
export const softKeyIdBytes = 16;

type KeyRecord = KeyInfo & { readonly sealed: Sealed };

type StoreFile = {
  readonly format: typeof softKeyStoreFormat;
  readonly notice: string;
  readonly kdf: KdfParams;
  /** Seals nothing under the passphrase: opening it proves the passphrase on an empty store. */
  readonly check: Sealed;
  readonly keys: readonly KeyRecord[];
};

export type SoftKeyStoreOptions = {
  readonly file: string;
  readonly passphrase: string;
  /** Create the file when it does not exist (default false: a missing file is an error). */
  readonly create?: boolean;
  /** scrypt cost of a new file (log2 N); tests lower it. */
  readonly kdfLog2N?: number;
};

const checkAad = Buffer.from(`${softKeyStoreFormat} passphrase check`);

function keyAad(key: KeyInfo): Buffer {
  return Buffer.from(
    [softKeyStoreFormat, key.keyId, key.curve, key.publicKey, key.label].join('\n'),
  );
}

function invalid(file: string, field: string, what: string) {
  return cofferError('KEYSTORE_E_FILE_INVALID', `${file}: ${field} ${what}`, { file, field });
}

function parseStoreFile(file: string, text: string): StoreFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw cofferError('KEYSTORE_E_FILE_INVALID', `${file} is not JSON`, { file }, cause);
  }
  if (typeof parsed !== 'object' || parsed === null) {
    throw invalid(file, '(file)', 'is not an object');
  }
  const json = parsed as Record<string, unknown>;
  if (json['format'] !== softKeyStoreFormat) {
    throw invalid(file, 'format', `must be "${softKeyStoreFormat}"`);
  }
  const keys = json['keys'];
  if (!Array.isArray(keys) || keys.length > keysPerStoreMax) {
    throw invalid(file, 'keys', `must be a list of at most ${keysPerStoreMax} keys`);
  }
  return {
    format: softKeyStoreFormat,
    notice: softKeyStoreLabel,
    kdf: checkKdfParams(json['kdf'], `${file}: kdf`),
    check: checkSealed(json['check'], `${file}: check`),
    keys: keys.map((value: unknown, i) => {
      const field = `keys[${i}]`;
      if (typeof value !== 'object' || value === null)
        throw invalid(file, field, 'is not an object');
      const key = value as Partial<Record<keyof KeyRecord, unknown>>;
      if (typeof key.keyId !== 'string' || !/^[0-9a-f]{32}$/.test(key.keyId))
        throw invalid(file, `${field}.keyId`, 'must be 32 lower-case hex characters');
      if (typeof key.label !== 'string') throw invalid(file, `${field}.label`, 'must be a string');
      if (!isPublicKeyHex(key.publicKey))
        throw invalid(file, `${field}.publicKey`, 'must be SEC1 uncompressed hex');
      return {
        keyId: key.keyId,
        label: key.label,
        curve: checkCurve(key.curve),
        publicKey: key.publicKey,
        sealed: checkSealed(key.sealed, `${file}: ${field}.sealed`),
      };
    }),
  };
}

async function readStoreFile(file: string): Promise<StoreFile | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw cofferError(
      'KEYSTORE_E_FILE_INVALID',
      `${file} cannot be read (${(cause as NodeJS.ErrnoException).code ?? 'unknown'})`,
      { file },
      cause,
    );
  }
  if (Buffer.byteLength(text) > softKeyStoreFileBytesMax) {
    throw invalid(file, '(file)', `is larger than ${softKeyStoreFileBytesMax} bytes`);
  }
  return parseStoreFile(file, text);
}

function publicOf(record: KeyRecord): KeyInfo {
  return {
    keyId: record.keyId,
    label: record.label,
    curve: record.curve,
    publicKey: record.publicKey,
  };
}

/**
 * Opens (or with `create`, creates) a software key store file. Throws KEYSTORE_E_FILE_INVALID,
 * KEYSTORE_E_PASSPHRASE_WRONG, KEYSTORE_E_PASSPHRASE_WEAK, KEYSTORE_E_STORE_NOT_FOUND.
 */
export async function openSoftKeyStore(options: SoftKeyStoreOptions): Promise<KeyStore> {
  const { file, passphrase } = options;
  let stored = await readStoreFile(file);
  let kek: Buffer;
  if (stored === undefined) {
    if (options.create !== true) {
      throw cofferError(
        'KEYSTORE_E_STORE_NOT_FOUND',
        `the software key store ${file} does not exist; create it (coffer signer keygen creates it with the first key)`,
        { file },
      );
    }
    const kdf = newKdfParams(options.kdfLog2N);
    kek = await deriveKek(passphrase, kdf);
    stored = {
      format: softKeyStoreFormat,
      notice: softKeyStoreLabel,
      kdf,
      check: seal(kek, new Uint8Array(0), checkAad),
      keys: [],
    };
    await writeFileDurably(file, Buffer.from(`${JSON.stringify(stored, null, 2)}\n`));
  } else {
    kek = await deriveKek(passphrase, stored.kdf);
    unseal(kek, stored.check, checkAad, `the software key store ${file}`);
  }

  let current: StoreFile = stored;
  // Private scalars opened so far; a software store keeps them in memory while it is open.
  const opened = new Map<string, { readonly curve: KeyCurve; readonly secret: Uint8Array }>();
  const checked = new Map<string, Signer>();
  // Generation is read-modify-write of one file: one at a time.
  let writing: Promise<unknown> = Promise.resolve();
  let closed = false;

  const assertOpen = () => {
    if (closed) {
      throw cofferError('KEYSTORE_E_CLOSED', `the software key store ${file} is closed`, { file });
    }
  };

  const secretOf = (record: KeyRecord): Uint8Array => {
    const cached = opened.get(record.keyId);
    if (cached !== undefined) return cached.secret;
    const secret = unseal(kek, record.sealed, keyAad(record), `key ${record.keyId} of ${file}`);
    // The sealed scalar must be the key the record names: a record whose public key was
    // swapped fails here (and in GCM, through the associated data) instead of signing.
    if (publicKeyOfScalar(record.curve, secret) !== record.publicKey) {
      throw invalid(file, `key ${record.keyId}`, 'holds a private key that is not its public key');
    }
    opened.set(record.keyId, { curve: record.curve, secret });
    return secret;
  };

  const store: KeyStore = {
    kind: 'software',
    description: `${softKeyStoreLabel}: ${file}`,
    generate: async ({ curve, label }) => {
      assertOpen();
      checkCurve(curve);
      checkLabel(label);
      const next = writing.then(async () => {
        if (current.keys.length >= keysPerStoreMax) {
          throw cofferError(
            'KEYSTORE_E_FULL',
            `the software key store ${file} holds ${keysPerStoreMax} keys, its limit`,
            { file },
          );
        }
        const { secretKey, publicKey } = generateScalarKey(curve);
        checkPublicKey(curve, new Uint8Array(Buffer.from(publicKey, 'hex')));
        const info: KeyInfo = {
          keyId: randomBytes(softKeyIdBytes).toString('hex'),
          label,
          curve,
          publicKey,
        };
        const record: KeyRecord = { ...info, sealed: seal(kek, secretKey, keyAad(info)) };
        const updated: StoreFile = { ...current, keys: [...current.keys, record] };
        await writeFileDurably(file, Buffer.from(`${JSON.stringify(updated, null, 2)}\n`));
        current = updated;
        opened.set(info.keyId, { curve, secret: secretKey });
        return info;
      });
      writing = next.catch(() => undefined);
      return next;
    },
    list: () =>
      Promise.resolve().then(() => {
        assertOpen();
        return current.keys.map(publicOf);
      }),
    key: (keyId) =>
      Promise.resolve().then(() => {
        assertOpen();
        const record = current.keys.find((each) => each.keyId === keyId);
        return record === undefined ? undefined : publicOf(record);
      }),
    signer: async (keyId) => {
      assertOpen();
      const known = checked.get(keyId);
      if (known !== undefined) return known;
      const record = current.keys.find((each) => each.keyId === keyId);
      if (record === undefined) {
        throw cofferError(
          'KEYSTORE_E_KEY_NOT_FOUND',
          `the software key store ${file} holds no key ${keyId}`,
          { keyId },
        );
      }
      const secret = secretOf(record);
      const signer: Signer = (digest) =>
        Promise.resolve().then(() => {
          assertOpen();
          return signDigestWithScalar(record.curve, secret, digest);
        });
      await knownAnswerCheck(signer, publicOf(record));
      checked.set(keyId, signer);
      return signer;
    },
    close: () => {
      closed = true;
      for (const { secret } of opened.values()) secret.fill(0);
      opened.clear();
      checked.clear();
      kek.fill(0);
      return Promise.resolve();
    },
  };
  return store;
}
