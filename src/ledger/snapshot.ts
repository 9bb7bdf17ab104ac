// Snapshots of the KV store (plus caller data such as the Merkle tree state and the replay
// table) at a ledger position, so a restart replays only the ledger after it. The encoding is
// deterministic (maps and keys sorted, private maps sealed with an IV derived from the seqno),
// so two nodes with the same state and ledger secret write identical bytes.
//
// File `snapshot-<seqno, 20 digits>.snap`, integers big-endian:
//
//   header (64 bytes)
//     0  8 bytes  magic "CFSNAP\r\n"
//     8  u32      format version (1)
//    12  u32      flags (0)
//    16  u64      seqno
//    24  u64      body length
//    32  32 bytes SHA-256 of header bytes 0..31, then the body
//   body
//     u64 length + public maps      (store encoding below)
//     u64 length + private maps     (AES-256-GCM under the ledger secret, tag appended; the AAD
//                                    is the seqno and the SHA-256 of the public section)
//     u64 length + extra            (opaque caller bytes)
//
// Store encoding: u32 map count; per map (sorted by name) u16 name length, name, u32 entry
// count, then per entry (sorted by key) u16 key length, key, u32 value length, value.
//
// A snapshot whose state a signature entry of the ledger commits to (decision 0027) is named
// `snapshot-<seqno>.committed.snap`: the node keeps the newest two beside its newest snapshots,
// and serves the newest whose evidence is in its ledger to nodes that join from a snapshot.
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { CofferError, cofferError } from '../errors/index.js';
import { createCompactMap, type CompactMap } from './compact-map.js';
import { getU64, setU64 } from './files-format.js';
import {
  createFsStorage,
  errnoCode,
  replaceFile,
  storageError,
  type Storage,
} from './files-storage.js';
import { openWithSecret, sealPartsWithSecret, type LedgerSecret } from './secret.js';
import {
  createStoreOver,
  isPublicMap,
  keyBytesMax,
  mapNameBytesMax,
  mapsMax,
  valueBytesMax,
  type SortedMaps,
  type Store,
} from './store.js';

// --- limits -----------------------------------------------------------------------------------

/** Snapshots kept in the folder by default (the newest ones). */
export const snapshotsKeptMaxDefault: number = 3;
/** Committed snapshots kept beside the newest ones (the newest two). */
const committedKeptMax = 2;
/** Largest snapshot file, in bytes: it is read into memory whole. */
export const snapshotBytesMax: number = 2 * 1024 * 1_048_576;
/** Entries of one map in a snapshot (a sanity bound for the decoder, far above real use). */
export const snapshotEntriesPerMapMax: number = 100_000_000;

export const snapshotHeaderBytes = 64;
const magic = Buffer.from('CFSNAP\r\n', 'latin1');
const formatVersion = 1;
const digestedHeaderBytes = 32;
const namePattern = /^snapshot-(\d{20})(\.committed)?\.snap$/;
const temporaryPattern = /^\.snapshot-\d{20}(\.committed)?\.snap\.tmp$/;

assert(snapshotsKeptMaxDefault >= 1, 'keep at least the newest snapshot');
assert(magic.byteLength === 8);

// --- types ------------------------------------------------------------------------------------

export type SnapshotInput = {
  /** The ledger position the state is at (a signature entry); >= store.seqno(). */
  readonly seqno: number;
  readonly store: Store;
  /** Caller data, e.g. the Merkle tree state and the replay table (or its parts in order). */
  readonly extra: Uint8Array | readonly Uint8Array[];
  /** Seals the private maps, as in the ledger files. */
  readonly secret: LedgerSecret;
};

/**
 * The encoded store of a snapshot, as in the file: what a state digest covers. Each section is
 * its bytes as parts in order (blocks of about 1 MiB), never joined in memory.
 */
export type SnapshotSections = {
  readonly seqno: number;
  readonly publicSection: readonly Uint8Array[];
  /** Sealed under the ledger secret with an IV derived from the seqno: the same on every node. */
  readonly privateSection: readonly Uint8Array[];
};

/** SHA-256 of each store section (the state a committed snapshot's digest covers). */
export type SectionDigests = {
  readonly publicSha256: Uint8Array;
  readonly privateSha256: Uint8Array;
};

export type Snapshot = {
  readonly seqno: number;
  /** A store holding the snapshot state; its seqno() is the snapshot seqno. */
  readonly store: Store;
  readonly extra: Uint8Array;
  readonly digests: SectionDigests;
};

export type LoadedSnapshot = Snapshot & {
  readonly file: string;
  /** A signature entry of the ledger commits to its state (its name ends `.committed.snap`). */
  readonly committed: boolean;
};

export type SnapshotLoad<T = undefined> = {
  /** The newest snapshot that verifies, or undefined if none does. */
  readonly snapshot: LoadedSnapshot | undefined;
  /** What `open` made of it (undefined without a snapshot or without `open`). */
  readonly opened: T | undefined;
  /** Newer snapshots passed over, newest first, with the reason. */
  readonly skipped: readonly { readonly file: string; readonly error: CofferError }[];
};

export type SnapshotOptions = {
  readonly storage?: Storage;
  readonly snapshotsKeptMax?: number;
};

export function snapshotFileName(seqno: number, committed = false): string {
  assert(Number.isSafeInteger(seqno) && seqno >= 0, 'snapshot seqno');
  return `snapshot-${String(seqno).padStart(20, '0')}${committed ? '.committed' : ''}.snap`;
}

// --- encoding ---------------------------------------------------------------------------------

/** Appends to blocks of memory, so a large store is written once without sizing or joining it. */
function byteWriter(): {
  u32: (value: number) => void;
  /** A u16 (`lengthBytes` 2) or u32 (4) byte length, then the UTF-8 bytes of `value`. */
  prefixed: (value: string, lengthBytes: 2 | 4) => void;
  /** The same for UTF-8 bytes already encoded: source[start, end). */
  prefixedBytes: (source: Buffer, start: number, end: number, lengthBytes: 2 | 4) => void;
  /** The bytes written, as the blocks that hold them (never joined). */
  finish: () => Buffer[];
} {
  const blockBytes = 1_048_576;
  const shortCopyBytes = 64;
  const blocks: Buffer[] = [];
  let block = Buffer.allocUnsafe(blockBytes);
  let at = 0;
  const room = (bytes: number): void => {
    if (at + bytes <= block.byteLength) return;
    blocks.push(block.subarray(0, at));
    block = Buffer.allocUnsafe(Math.max(blockBytes, bytes));
    at = 0;
  };
  return {
    u32: (value) => {
      room(4);
      at = block.writeUInt32BE(value, at);
    },
    prefixed: (value, lengthBytes) => {
      // At most 3 UTF-8 bytes per UTF-16 unit: write the text, then its length before it.
      room(lengthBytes + 3 * value.length);
      const bytes = block.write(value, at + lengthBytes, 'utf8');
      if (lengthBytes === 2) block.writeUInt16BE(bytes, at);
      else block.writeUInt32BE(bytes, at);
      at += lengthBytes + bytes;
    },
    prefixedBytes: (source, start, end, lengthBytes) => {
      const bytes = end - start;
      room(lengthBytes + bytes);
      if (lengthBytes === 2) block.writeUInt16BE(bytes, at);
      else block.writeUInt32BE(bytes, at);
      at += lengthBytes;
      if (bytes > shortCopyBytes) {
        at += source.copy(block, at, start, end);
      } else {
        // Buffer#copy makes a view per call: for a key or value of a few bytes (a million of
        // them at a commit point) a loop is several times faster.
        for (let i = start; i < end; i += 1) block[at++] = source[i] as number;
      }
    },
    finish: () => {
      blocks.push(block.subarray(0, at));
      return blocks;
    },
  };
}

function encodeMaps(store: SortedMaps, names: readonly string[]): Buffer[] {
  const out = byteWriter();
  out.u32(names.length);
  for (const name of names) {
    out.prefixed(name, 2);
    out.u32(store.size(name));
    // The store's own UTF-8 bytes, not entries(): no string or pair per entry (a million at a
    // commit point).
    store.forEachSorted(name, (bytes, keyStart, keyEnd, valueEnd) => {
      out.prefixedBytes(bytes, keyStart, keyEnd, 2);
      out.prefixedBytes(bytes, keyEnd, valueEnd, 4);
    });
  }
  return out.finish();
}

function sha256(...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

function u64(value: number): Buffer {
  const out = Buffer.alloc(8);
  setU64(new DataView(out.buffer, out.byteOffset, 8), 0, value);
  return out;
}

function privateAad(seqno: number, publicSection: readonly Uint8Array[]): Buffer {
  return Buffer.concat([u64(seqno), sha256(...publicSection)]);
}

function partsBytes(parts: readonly Uint8Array[]): number {
  return parts.reduce((sum, part) => sum + part.byteLength, 0);
}

/**
 * The store encoded as a snapshot at `seqno` holds it. Reads the store synchronously: take it
 * between executions. Two nodes with the same state and ledger secret get identical bytes.
 */
export function encodeSnapshotSections(
  seqno: number,
  store: SortedMaps,
  secret: LedgerSecret,
): SnapshotSections {
  assert(
    Number.isSafeInteger(seqno) && seqno >= store.seqno(),
    `snapshot at ${seqno} of a store at ${store.seqno()}`,
  );
  const names = store.maps();
  const publicSection = encodeMaps(store, names.filter(isPublicMap));
  const privatePlain = encodeMaps(
    store,
    names.filter((name) => !isPublicMap(name)),
  );
  const privateSection = sealPartsWithSecret(
    secret,
    'snapshot',
    seqno,
    privateAad(seqno, publicSection),
    privatePlain,
  );
  return { seqno, publicSection, privateSection };
}

export function sectionDigests(sections: SnapshotSections): SectionDigests {
  return {
    publicSha256: sha256(...sections.publicSection),
    privateSha256: sha256(...sections.privateSection),
  };
}

/**
 * The bytes of a snapshot file. Reads the store synchronously (take it between executions),
 * unless `sections` already holds it encoded at the same seqno.
 */
export function encodeSnapshot(input: SnapshotInput, sections?: SnapshotSections): Uint8Array {
  return Buffer.concat(snapshotParts(input, sections).parts);
}

/**
 * The snapshot file as its parts in order (header, then each section with its length): a large
 * store is written from them without joining them into one more copy of itself.
 */
function snapshotParts(
  input: SnapshotInput,
  sections?: SnapshotSections,
): { readonly parts: readonly Uint8Array[]; readonly bytes: number } {
  const { seqno, extra } = input;
  assert(sections === undefined || sections.seqno === seqno, 'sections encoded at this seqno');
  return snapshotFileParts(
    sections ?? encodeSnapshotSections(seqno, input.store, input.secret),
    extra instanceof Uint8Array ? [extra] : extra,
  );
}

/** The snapshot file of store sections and extra bytes, as its parts in order. */
export function snapshotFileParts(
  sections: SnapshotSections,
  extraParts: readonly Uint8Array[],
): { readonly parts: readonly Uint8Array[]; readonly bytes: number } {
  const { seqno, publicSection, privateSection } = sections;
  const body = [
    u64(partsBytes(publicSection)),
    ...publicSection,
    u64(partsBytes(privateSection)),
    ...privateSection,
    u64(partsBytes(extraParts)),
    ...extraParts,
  ];
  const bodyBytes = partsBytes(body);
  if (snapshotHeaderBytes + bodyBytes > snapshotBytesMax) {
    throw cofferError(
      'STORE_E_LIMIT',
      `a snapshot of this store would be ${bodyBytes} bytes; at most ${snapshotBytesMax} (snapshotBytesMax)`,
      { limit: 'snapshotBytesMax', max: snapshotBytesMax, actual: bodyBytes },
    );
  }
  const header = Buffer.alloc(snapshotHeaderBytes);
  magic.copy(header, 0);
  header.writeUInt32BE(formatVersion, 8);
  header.writeUInt32BE(0, 12);
  u64(seqno).copy(header, 16);
  u64(bodyBytes).copy(header, 24);
  sha256(header.subarray(0, digestedHeaderBytes), ...body).copy(header, digestedHeaderBytes);
  return { parts: [header, ...body], bytes: snapshotHeaderBytes + bodyBytes };
}

function corrupt(reason: string, details: Record<string, unknown> = {}): CofferError {
  return cofferError('SNAPSHOT_E_CORRUPT', `snapshot ${reason}`, { reason, ...details });
}

function decodeMaps(bytes: Buffer, wantPublic: boolean, into: Map<string, CompactMap>): void {
  let at = 0;
  const need = (n: number): void => {
    if (at + n > bytes.byteLength) throw corrupt(`store section ends early at byte ${at}`);
  };
  const text = (length: number, max: number, what: string): string => {
    if (length > max) throw corrupt(`${what} of ${length} bytes exceeds ${max}`);
    need(length);
    const value = bytes.toString('utf8', at, at + length);
    // Invalid UTF-8 decodes to U+FFFD: only then is the full check needed (it is the hot loop).
    if (value.includes('\ufffd') && !isUtf8(bytes.subarray(at, at + length))) {
      throw corrupt(`${what} at byte ${at} is not UTF-8`);
    }
    at += length;
    return value;
  };
  need(4);
  const mapCount = bytes.readUInt32BE(at);
  at += 4;
  if (mapCount > mapsMax) throw corrupt(`${mapCount} maps exceed ${mapsMax}`);
  let previousName: string | undefined;
  for (let m = 0; m < mapCount; m += 1) {
    need(2);
    const nameLength = bytes.readUInt16BE(at);
    at += 2;
    const name = text(nameLength, mapNameBytesMax, 'map name');
    // Canonical form only: sorted, no duplicates, each map in its own section.
    if (previousName !== undefined && !(previousName < name))
      throw corrupt(`map ${name} out of order`);
    if (isPublicMap(name) !== wantPublic) throw corrupt(`map ${name} is in the wrong section`);
    previousName = name;
    need(4);
    const count = bytes.readUInt32BE(at);
    at += 4;
    if (count === 0 || count > snapshotEntriesPerMapMax)
      throw corrupt(`map ${name} has ${count} entries`);
    // Straight into the store's form: each key and value string dies young.
    const entries = createCompactMap();
    let previousKey: string | undefined;
    for (let e = 0; e < count; e += 1) {
      need(2);
      const keyLength = bytes.readUInt16BE(at);
      at += 2;
      const key = text(keyLength, keyBytesMax, 'key');
      if (previousKey !== undefined && !(previousKey < key)) {
        throw corrupt(`key ${JSON.stringify(key.slice(0, 40))} of ${name} out of order`);
      }
      previousKey = key;
      need(4);
      const valueLength = bytes.readUInt32BE(at);
      at += 4;
      entries.set(key, text(valueLength, valueBytesMax, 'value'));
    }
    into.set(name, entries);
  }
  if (at !== bytes.byteLength)
    throw corrupt(`${bytes.byteLength - at} trailing bytes in a store section`);
}

/**
 * The snapshot in `bytes`, checked completely: header, SHA-256, sections, decryption and every
 * name, key and value. Throws SNAPSHOT_E_CORRUPT, or STORE_E_DECRYPT for another ledger secret.
 */
export function decodeSnapshot(bytes: Uint8Array, secret: LedgerSecret): Snapshot {
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (data.byteLength < snapshotHeaderBytes)
    throw corrupt(`is ${data.byteLength} bytes, shorter than its header`);
  if (!data.subarray(0, 8).equals(magic)) throw corrupt('has a bad magic: not a Coffer snapshot');
  const view = new DataView(data.buffer, data.byteOffset, snapshotHeaderBytes);
  if (data.readUInt32BE(8) !== formatVersion || data.readUInt32BE(12) !== 0) {
    throw corrupt(
      `has format version ${data.readUInt32BE(8)}, flags ${data.readUInt32BE(12)}; expected 1, 0`,
    );
  }
  const seqno = getU64(view, 16);
  const bodyLength = getU64(view, 24);
  if (!Number.isSafeInteger(seqno)) throw corrupt('has a seqno beyond 2^53');
  if (bodyLength !== data.byteLength - snapshotHeaderBytes) {
    throw corrupt(
      `says ${bodyLength} body bytes but has ${data.byteLength - snapshotHeaderBytes} (truncated?)`,
    );
  }
  const body = data.subarray(snapshotHeaderBytes);
  const digest = sha256(data.subarray(0, digestedHeaderBytes), body);
  if (!digest.equals(data.subarray(digestedHeaderBytes, snapshotHeaderBytes))) {
    throw corrupt('fails its SHA-256 digest: its bytes were altered', { seqno });
  }
  let at = 0;
  const section = (what: string): Buffer => {
    if (at + 8 > body.byteLength) throw corrupt(`${what} section is missing`);
    const length = getU64(new DataView(body.buffer, body.byteOffset + at, 8), 0);
    at += 8;
    if (!Number.isSafeInteger(length) || at + length > body.byteLength) {
      throw corrupt(`${what} section overruns the file`);
    }
    const out = body.subarray(at, at + length);
    at += length;
    return out;
  };
  const publicSection = section('public');
  const privateSection = section('private');
  const extra = new Uint8Array(section('extra'));
  if (at !== body.byteLength) throw corrupt('has trailing bytes after its sections');
  const privatePlain = openWithSecret(
    secret,
    'snapshot',
    seqno,
    privateAad(seqno, [publicSection]),
    privateSection,
  );
  const maps = new Map<string, CompactMap>();
  decodeMaps(publicSection, true, maps);
  decodeMaps(Buffer.from(privatePlain), false, maps);
  let store: Store;
  try {
    // decodeMaps checked sizes and UTF-8 (which has no lone surrogates) as it went.
    store = createStoreOver(seqno, maps);
  } catch (error) {
    if (error instanceof CofferError)
      throw corrupt(`holds state the store refuses: ${error.message}`);
    throw error;
  }
  return {
    seqno,
    store,
    extra,
    digests: sectionDigests({
      seqno,
      publicSection: [publicSection],
      privateSection: [privateSection],
    }),
  };
}

// --- files ------------------------------------------------------------------------------------

/**
 * Writes `<dir>/snapshot-<seqno>.snap` atomically (temporary file, fsync, rename, fsync of the
 * folder), then removes all but the newest `snapshotsKeptMax`. The store is encoded before the
 * first await, so later executions do not leak into the snapshot. A full disk throws
 * LEDGER_E_DISK_FULL (retryable) and leaves the folder as it was.
 */
export async function writeSnapshot(
  dir: string,
  input: SnapshotInput,
  options: SnapshotOptions & {
    /** A signature entry commits to this snapshot's state: kept and served to joining nodes. */
    readonly committed?: boolean;
  } = {},
): Promise<{ file: string; bytes: number; removed: string[] }> {
  return writeSnapshotFile(dir, input.seqno, snapshotParts(input), options);
}

/**
 * Writes a snapshot file made already (snapshotFileParts) as writeSnapshot does: atomically,
 * then removes all but the newest `snapshotsKeptMax`.
 */
export async function writeSnapshotFile(
  dir: string,
  seqno: number,
  made: { readonly parts: readonly Uint8Array[]; readonly bytes: number },
  options: SnapshotOptions & { readonly committed?: boolean } = {},
): Promise<{ file: string; bytes: number; removed: string[] }> {
  const { parts, bytes } = made;
  const storage = options.storage ?? createFsStorage();
  const keep = options.snapshotsKeptMax ?? snapshotsKeptMaxDefault;
  assert(Number.isSafeInteger(keep) && keep >= 1, 'snapshotsKeptMax >= 1');
  const name = snapshotFileName(seqno, options.committed === true);
  const file = path.join(dir, name);
  try {
    await storage.mkdir(dir);
    // Left by a crash during an earlier write: never renamed, so never part of the state.
    for (const entry of await storage.list(dir)) {
      if (temporaryPattern.test(entry)) await storage.remove(path.join(dir, entry));
    }
    await replaceFile(storage, file, parts);
  } catch (error) {
    throw storageError(error, 'writing snapshot', file);
  }
  const removed: string[] = [];
  try {
    const listed = await listSnapshots(storage, dir);
    // The two newest committed snapshots stay too, however many local ones came after them:
    // the newest one's evidence comes in a later entry (decision 0038), and until then peers
    // are served the one before.
    const committedKept = new Set(
      listed
        .filter((snapshot) => snapshot.committed)
        .slice(0, committedKeptMax)
        .map((snapshot) => snapshot.name),
    );
    const older = listed
      .filter((snapshot) => snapshot.name !== name)
      .slice(keep - 1)
      .filter((snapshot) => !committedKept.has(snapshot.name));
    for (const snapshot of older) {
      await storage.remove(path.join(dir, snapshot.name));
      removed.push(snapshot.name);
    }
    if (removed.length > 0) await storage.syncDir(dir);
  } catch (error) {
    throw storageError(error, 'removing old snapshots from', dir);
  }
  return { file, bytes, removed };
}

/** Snapshot files in `dir`, newest (highest seqno) first. */
async function listSnapshots(
  storage: Storage,
  dir: string,
): Promise<{ name: string; seqno: number; committed: boolean }[]> {
  const found: { name: string; seqno: number; committed: boolean }[] = [];
  for (const name of await storage.list(dir)) {
    const match = namePattern.exec(name);
    const digits = match?.[1];
    if (digits !== undefined && Number.isSafeInteger(Number(digits))) {
      found.push({ name, seqno: Number(digits), committed: match?.[2] !== undefined });
    }
  }
  // Newest first; at one seqno, the committed file first (both hold the same state).
  return found.sort((a, b) => b.seqno - a.seqno || Number(b.committed) - Number(a.committed));
}

/** The committed snapshot files in `dir`, newest first (what a node serves to joining nodes). */
export async function committedSnapshotFiles(
  dir: string,
  options: { readonly storage?: Storage } = {},
): Promise<{ readonly seqno: number; readonly file: string }[]> {
  const storage = options.storage ?? createFsStorage();
  try {
    return (await listSnapshots(storage, dir))
      .filter((snapshot) => snapshot.committed)
      .map((snapshot) => ({ seqno: snapshot.seqno, file: path.join(dir, snapshot.name) }));
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return [];
    throw storageError(error, 'listing snapshots in', dir);
  }
}

/**
 * The newest snapshot in `dir` that verifies completely; newer ones that do not are reported in
 * `skipped` with why (a corrupted newest snapshot falls back to the previous one). `open`, when
 * given, reads what the caller keeps in the snapshot's extra bytes (e.g. the engine's state and
 * its Merkle tree): a CofferError from it skips that snapshot too, as a checksum that does not
 * match does, and the previous one is tried.
 */
export async function loadLatestSnapshot<T = undefined>(
  dir: string,
  secret: LedgerSecret,
  options: {
    readonly storage?: Storage;
    /** Only snapshots a signature entry commits to (what a node serves to joining nodes). */
    readonly committedOnly?: boolean;
    readonly open?: (snapshot: LoadedSnapshot) => T;
  } = {},
): Promise<SnapshotLoad<T>> {
  const storage = options.storage ?? createFsStorage();
  const skipped: { file: string; error: CofferError }[] = [];
  let listed: { name: string; seqno: number; committed: boolean }[];
  try {
    listed = await listSnapshots(storage, dir);
  } catch (error) {
    if (errnoCode(error) === 'ENOENT') return { snapshot: undefined, opened: undefined, skipped };
    throw storageError(error, 'listing snapshots in', dir);
  }
  for (const { name, seqno, committed } of listed) {
    if (options.committedOnly === true && !committed) continue;
    const file = path.join(dir, name);
    let loaded: LoadedSnapshot;
    try {
      const bytes = await readWhole(storage, file);
      const snapshot = decodeSnapshot(bytes, secret);
      if (snapshot.seqno !== seqno) {
        throw corrupt(`holds seqno ${snapshot.seqno} but is named for ${seqno}`);
      }
      loaded = { ...snapshot, file, committed };
    } catch (error) {
      const coded = error instanceof CofferError ? error : storageError(error, 'reading', file);
      skipped.push({
        file,
        error: coded.code === 'SNAPSHOT_E_CORRUPT' ? namingFile(file, coded) : coded,
      });
      continue;
    }
    try {
      return { snapshot: loaded, opened: options.open?.(loaded), skipped };
    } catch (error) {
      // What the caller found wrong in its own part (a bug wrote it): not a storage error.
      if (!(error instanceof CofferError)) throw error;
      skipped.push({ file, error: namingFile(file, error) });
    }
  }
  return { snapshot: undefined, opened: undefined, skipped };
}

/** The same error, its message and details naming the snapshot file. */
function namingFile(file: string, error: CofferError): CofferError {
  return cofferError(
    error.code,
    `${file}: ${error.message}`,
    { file, ...error.details },
    error.cause,
  );
}

async function readWhole(storage: Storage, file: string): Promise<Uint8Array> {
  const handle = await storage.openReadOnly(file);
  try {
    const size = await handle.size();
    if (size > snapshotBytesMax) {
      throw corrupt(`is ${size} bytes; at most ${snapshotBytesMax} (snapshotBytesMax)`);
    }
    const bytes = await handle.read(0, size);
    if (bytes.byteLength !== size) throw corrupt('changed size while being read');
    return bytes;
  } finally {
    await handle.close();
  }
}
