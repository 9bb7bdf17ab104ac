// The ledger secret and the encryption of private maps. Public writes stay in clear; the private
// writes of one transaction become one AES-256-GCM ciphertext under the ledger secret, which
// every node of the consortium holds (as in CCF), so every node writes identical bytes.
//
// IV: NIST SP 800-38D §8.2.1 deterministic construction, a 4-byte fixed field naming the purpose
// (write sets, snapshots) then the 8-byte seqno. It is unique as long as one secret never
// encrypts two different plaintexts for the same purpose and seqno: true because execution is
// deterministic and the ordering log is final. Rolling back and re-ordering different inputs at
// an already-used seqno would need a new ledger secret.
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import path from 'node:path';
import { cofferError } from '../errors/index.js';
import { entryBytesMax, setU64 } from './files-format.js';
import { createFsStorage, replaceFile, storageError, type Storage } from './files-storage.js';
import {
  isPublicMap,
  keyBytesMax,
  mapNameBytesMax,
  valueBytesMax,
  writeSetBytesMax,
  writesPerTxMax,
  type Write,
  type WriteSet,
} from './store.js';

export const ledgerSecretBytes = 32;
export const ivBytes = 12;
export const tagBytes = 16;

/** The ledger secret: an AES-256 key, kept as a KeyObject so it never prints. */
export type LedgerSecret = { readonly key: KeyObject };

/** What a ciphertext is for: part of the IV, so two purposes never share an IV. */
export type SealPurpose = 'write-set' | 'snapshot';

const fixedFields: Readonly<Record<SealPurpose, number>> = {
  'write-set': 0x43575331, // "CWS1"
  snapshot: 0x43534e31, // "CSN1"
};

export function ledgerSecretFromBytes(bytes: Uint8Array): LedgerSecret {
  if (bytes.byteLength !== ledgerSecretBytes) {
    throw cofferError(
      'LEDGER_E_SECRET_INVALID',
      `a ledger secret is ${ledgerSecretBytes} bytes, not ${bytes.byteLength}`,
      { bytes: bytes.byteLength },
    );
  }
  return { key: createSecretKey(Buffer.from(bytes)) };
}

function iv(purpose: SealPurpose, seqno: number): Buffer {
  assert(Number.isSafeInteger(seqno) && seqno >= 0, 'IV seqno');
  const out = Buffer.allocUnsafe(ivBytes); // all 12 bytes are set below
  const view = new DataView(out.buffer, out.byteOffset, ivBytes);
  view.setUint32(0, fixedFields[purpose]);
  setU64(view, 4, seqno);
  return out;
}

/** AES-256-GCM of `plaintext` for (purpose, seqno), authenticating `aad`; the tag is appended. */
export function sealWithSecret(
  secret: LedgerSecret,
  purpose: SealPurpose,
  seqno: number,
  aad: Uint8Array,
  plaintext: Uint8Array,
): Uint8Array {
  return Buffer.concat(sealPartsWithSecret(secret, purpose, seqno, aad, [plaintext]));
}

/**
 * `sealWithSecret` of the plaintext given as parts in order, returned as parts (ciphertext of
 * each, then the tag): a large snapshot section is sealed without joining it first.
 */
export function sealPartsWithSecret(
  secret: LedgerSecret,
  purpose: SealPurpose,
  seqno: number,
  aad: Uint8Array,
  plaintext: readonly Uint8Array[],
): Uint8Array[] {
  const cipher = createCipheriv('aes-256-gcm', secret.key, iv(purpose, seqno), {
    authTagLength: tagBytes,
  });
  cipher.setAAD(aad);
  const sealed: Uint8Array[] = plaintext.map((part) => cipher.update(part));
  sealed.push(cipher.final(), cipher.getAuthTag());
  return sealed;
}

/** The plaintext of `sealed`; throws STORE_E_DECRYPT when it does not authenticate. */
export function openWithSecret(
  secret: LedgerSecret,
  purpose: SealPurpose,
  seqno: number,
  aad: Uint8Array,
  sealed: Uint8Array,
): Uint8Array {
  const fail = (why: string): Error =>
    cofferError('STORE_E_DECRYPT', `private data of seqno ${seqno} (${purpose}) ${why}`, {
      seqno,
      purpose,
    });
  if (sealed.byteLength < tagBytes) throw fail('is shorter than its authentication tag');
  const decipher = createDecipheriv('aes-256-gcm', secret.key, iv(purpose, seqno), {
    authTagLength: tagBytes,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.byteLength - tagBytes));
  try {
    return Buffer.concat([
      decipher.update(sealed.subarray(0, sealed.byteLength - tagBytes)),
      decipher.final(),
    ]);
  } catch (error) {
    throw cofferError(
      'STORE_E_DECRYPT',
      `private data of seqno ${seqno} (${purpose}) does not authenticate: it was altered, ` +
        `or it belongs to another seqno or ledger secret`,
      { seqno, purpose },
      error,
    );
  }
}

// --- write set bytes --------------------------------------------------------------------------
// u32 count, then per write: u8 op (0 delete, 1 put), u16 map length, map, u16 key length, key,
// and for a put u32 value length, value. UTF-8 throughout; big-endian.

const perWriteOverheadBytes = 1 + 2 + 2 + 4;

/** Largest encoding of one write set. */
export const encodedWriteSetBytesMax: number =
  4 + writesPerTxMax * perWriteOverheadBytes + writeSetBytesMax;
/** Largest encrypted write set: version, two lengths, the writes split in two parts, tag. */
export const encryptedWriteSetBytesMax: number = 1 + 4 + 4 + 4 + tagBytes + encodedWriteSetBytesMax;

assert(mapNameBytesMax <= 0xffff && keyBytesMax <= 0xffff, 'lengths fit their u16 fields');
// Half an entry at most: the request bytes and outcome share the entry with the write set.
assert(encryptedWriteSetBytesMax <= entryBytesMax / 2, 'a largest write set fits in an entry');

/** Length of `encodeWrites(writes)`. */
function encodedWritesBytes(writes: WriteSet): number {
  let total = 4;
  for (const { map, key, value } of writes) {
    total +=
      perWriteOverheadBytes + Buffer.byteLength(map, 'utf8') + Buffer.byteLength(key, 'utf8');
    total += value === null ? -4 : Buffer.byteLength(value, 'utf8');
  }
  return total;
}

/** Writes the encoding of `writes` into `out` from `start` (room measured by encodedWritesBytes). */
function putWrites(writes: WriteSet, out: Buffer, start: number): number {
  let at = out.writeUInt32BE(writes.length, start);
  for (const { map, key, value } of writes) {
    at = out.writeUInt8(value === null ? 0 : 1, at);
    const mapBytes = out.write(map, at + 2, 'utf8');
    assert(mapBytes <= 0xffff, 'write within store limits');
    at = out.writeUInt16BE(mapBytes, at) + mapBytes;
    const keyBytes = out.write(key, at + 2, 'utf8');
    assert(keyBytes <= 0xffff, 'write within store limits');
    at = out.writeUInt16BE(keyBytes, at) + keyBytes;
    if (value !== null) {
      const valueBytes = out.write(value, at + 4, 'utf8');
      at = out.writeUInt32BE(valueBytes, at) + valueBytes;
    }
  }
  return at;
}

/**
 * The canonical bytes of a write set (the AAD and plaintext of its encryption), after `prefix`
 * bytes left for the caller. Every byte is written: allocated without zeroing (small ones from
 * Node's pool).
 */
export function encodeWrites(writes: WriteSet, prefix = 0): Buffer {
  const out = Buffer.allocUnsafe(prefix + encodedWritesBytes(writes));
  const end = putWrites(writes, out, prefix);
  assert(end === out.length, 'write set encoded to its measured length');
  return out;
}

/** The write set `encodeWrites` made; throws STORE_E_MALFORMED on anything else. */
export function decodeWrites(bytes: Uint8Array): Write[] {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const malformed = (why: string): Error =>
    cofferError('STORE_E_MALFORMED', `write set bytes are malformed: ${why}`, { offset: at });
  const need = (n: number): void => {
    if (at + n > data.length) throw malformed(`${n} bytes needed at offset ${at}`);
  };
  const text = (length: number, max: number, what: string): string => {
    if (length > max) throw malformed(`${what} of ${length} bytes exceeds ${max}`);
    need(length);
    const slice = data.subarray(at, at + length);
    // Refuse what would not re-encode to the same bytes.
    if (!isUtf8(slice)) throw malformed(`${what} at offset ${at} is not UTF-8`);
    at += length;
    return slice.toString('utf8');
  };
  need(4);
  const count = data.readUInt32BE(at);
  at += 4;
  if (count > writesPerTxMax) throw malformed(`${count} writes exceed ${writesPerTxMax}`);
  const writes: Write[] = [];
  for (let i = 0; i < count; i += 1) {
    need(3);
    const op = data.readUInt8(at);
    if (op > 1) throw malformed(`unknown op ${op} at offset ${at}`);
    const mapLength = data.readUInt16BE(at + 1);
    at += 3;
    const map = text(mapLength, mapNameBytesMax, 'map name');
    need(2);
    const keyLength = data.readUInt16BE(at);
    at += 2;
    const key = text(keyLength, keyBytesMax, 'key');
    let value: string | null = null;
    if (op === 1) {
      need(4);
      const valueLength = data.readUInt32BE(at);
      at += 4;
      value = text(valueLength, valueBytesMax, 'value');
    }
    writes.push({ map, key, value });
  }
  if (at !== data.length) throw malformed(`${data.length - at} trailing bytes`);
  return writes;
}

// --- encrypted write sets ---------------------------------------------------------------------

/** A write set as the ledger stores it. */
export type EncryptedWriteSet = {
  /** The writes to public maps, in clear, in write-set order. */
  readonly publicWrites: WriteSet;
  /** AES-256-GCM (tag appended) of the private writes; never empty, so it authenticates both. */
  readonly privateCiphertext: Uint8Array;
};

const encryptedFormatVersion = 1;

/** The AAD of a write set's encryption: the seqno (u64), then the public writes' encoding. */
function aadFor(seqno: number, publicWrites: WriteSet): Uint8Array {
  const out = encodeWrites(publicWrites, 8);
  setU64(new DataView(out.buffer, out.byteOffset, 8), 0, seqno);
  return out;
}

/**
 * Splits `writeSet` into public writes in clear and private writes encrypted under `secret`
 * for ledger position `seqno`; the AAD binds the seqno and the public writes.
 */
export function encryptWriteSet(
  writeSet: WriteSet,
  secret: LedgerSecret,
  seqno: number,
): EncryptedWriteSet {
  const publicWrites = writeSet.filter((write) => isPublicMap(write.map));
  const privateWrites = writeSet.filter((write) => !isPublicMap(write.map));
  const privateCiphertext = sealWithSecret(
    secret,
    'write-set',
    seqno,
    aadFor(seqno, publicWrites),
    encodeWrites(privateWrites),
  );
  return { publicWrites, privateCiphertext };
}

/**
 * The write set: the public writes, then the private ones, each in their original order (a write
 * set has one write per (map, key), so applying it gives the same state). Throws STORE_E_DECRYPT
 * when the ciphertext, the public writes or the seqno were altered, STORE_E_MALFORMED when a
 * write is in the wrong part.
 */
export function decryptWriteSet(
  encrypted: EncryptedWriteSet,
  secret: LedgerSecret,
  seqno: number,
): WriteSet {
  const aad = aadFor(seqno, encrypted.publicWrites);
  const plaintext = openWithSecret(secret, 'write-set', seqno, aad, encrypted.privateCiphertext);
  const privateWrites = decodeWrites(plaintext);
  for (const write of encrypted.publicWrites) {
    if (!isPublicMap(write.map)) {
      throw cofferError('STORE_E_MALFORMED', `private map ${write.map} is among public writes`, {
        map: write.map,
      });
    }
  }
  for (const write of privateWrites) {
    if (isPublicMap(write.map)) {
      throw cofferError('STORE_E_MALFORMED', `public map ${write.map} is among private writes`, {
        map: write.map,
      });
    }
  }
  return [...encrypted.publicWrites, ...privateWrites];
}

/** u8 version 1, u32 length + public writes, u32 length + private ciphertext. */
export function encodeEncryptedWriteSet(encrypted: EncryptedWriteSet): Uint8Array {
  const publicBytes = encodeWrites(encrypted.publicWrites);
  const out = Buffer.alloc(
    1 + 4 + publicBytes.byteLength + 4 + encrypted.privateCiphertext.byteLength,
  );
  let at = out.writeUInt8(encryptedFormatVersion, 0);
  at = out.writeUInt32BE(publicBytes.byteLength, at);
  out.set(publicBytes, at);
  at += publicBytes.byteLength;
  at = out.writeUInt32BE(encrypted.privateCiphertext.byteLength, at);
  out.set(encrypted.privateCiphertext, at);
  return out;
}

/** Reads what encodeEncryptedWriteSet wrote (without decrypting); STORE_E_MALFORMED otherwise. */
export function decodeEncryptedWriteSet(bytes: Uint8Array): EncryptedWriteSet {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const malformed = (why: string): Error =>
    cofferError('STORE_E_MALFORMED', `encrypted write set bytes are malformed: ${why}`, {});
  if (data.length > encryptedWriteSetBytesMax) throw malformed(`${data.length} bytes`);
  if (data.length < 9 || data.readUInt8(0) !== encryptedFormatVersion) {
    throw malformed('unknown version or too short');
  }
  const publicLength = data.readUInt32BE(1);
  if (5 + publicLength + 4 > data.length) throw malformed('public part overruns');
  const publicWrites = decodeWrites(data.subarray(5, 5 + publicLength));
  const privateLength = data.readUInt32BE(5 + publicLength);
  const privateStart = 9 + publicLength;
  if (privateStart + privateLength !== data.length) throw malformed('private part length');
  return {
    publicWrites,
    privateCiphertext: new Uint8Array(data.subarray(privateStart)),
  };
}

// --- the secret file --------------------------------------------------------------------------
// 64 lowercase hex digits and a newline, mode 0600, written atomically (temp, fsync, rename,
// fsync of the folder) so a crash leaves no file or the whole secret, never a torn one.

export const secretFileMode = 0o600;
const secretFileBytesMax = 2 * ledgerSecretBytes + 1;

export type SecretFileOptions = {
  readonly storage?: Storage;
  /** The secret to store; a fresh random one by default. */
  readonly secretBytes?: Uint8Array;
};

/** Creates the secret file of a new ledger; LEDGER_E_SECRET_EXISTS if there is one already. */
export async function createLedgerSecretFile(
  file: string,
  options: SecretFileOptions = {},
): Promise<LedgerSecret> {
  const storage = options.storage ?? createFsStorage();
  const bytes = options.secretBytes ?? randomBytes(ledgerSecretBytes);
  const secret = ledgerSecretFromBytes(bytes);
  const dir = path.dirname(file);
  try {
    await storage.mkdir(dir);
    if ((await storage.stat(file)) !== undefined) {
      throw cofferError(
        'LEDGER_E_SECRET_EXISTS',
        `${file} already exists; a second secret would make the ledger unreadable`,
        { file },
      );
    }
    await replaceFile(
      storage,
      file,
      Buffer.from(`${Buffer.from(bytes).toString('hex')}\n`, 'latin1'),
      secretFileMode,
    );
  } catch (error) {
    throw storageError(error, 'creating ledger secret', file);
  }
  return secret;
}

/** Loads the secret file; LEDGER_E_SECRET_INVALID if missing, malformed or readable by others. */
export async function loadLedgerSecretFile(
  file: string,
  options: { readonly storage?: Storage } = {},
): Promise<LedgerSecret> {
  const storage = options.storage ?? createFsStorage();
  const invalid = (why: string): Error =>
    cofferError('LEDGER_E_SECRET_INVALID', `ledger secret ${file} ${why}`, { file });
  let text: string;
  try {
    const info = await storage.stat(file);
    if (info === undefined) throw invalid('does not exist');
    if ((info.mode & 0o077) !== 0) {
      throw invalid(
        `has mode ${info.mode.toString(8)}; it must be readable by its owner only (chmod 600)`,
      );
    }
    if (info.size > secretFileBytesMax) throw invalid(`is ${info.size} bytes, not 65`);
    const handle = await storage.openReadOnly(file);
    try {
      text = Buffer.from(await handle.read(0, secretFileBytesMax + 1)).toString('latin1');
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw storageError(error, 'reading ledger secret', file);
  }
  const hex = /^([0-9a-f]{64})\n?$/.exec(text)?.[1];
  if (hex === undefined) throw invalid('is not 64 lowercase hex digits');
  return ledgerSecretFromBytes(Buffer.from(hex, 'hex'));
}
