// The custody worker's deposit-scan cursor on disk, an IO edge (STYLE.md 2): one small JSON file
// per chain in the worker's state folder (`coffer custody worker --state-dir`), so a restarted
// worker scans on from the last deposit the ledger acknowledged instead of from the start.
// Written atomically (temporary file, fsync, rename, fsync of the folder): a crash leaves the
// old cursor or the new one, never a torn file. A file that does not read as a cursor of this
// chain is refused with CUSTODY_E_WORKER_STATE_CORRUPT rather than taken as "start over": the
// operator decides to rescan, by deleting it.
import path from 'node:path';
import { CofferError, cofferError } from '../errors/index.js';
import {
  createFsStorage,
  errnoCode,
  isDiskFull,
  replaceFile,
  type Storage,
} from '../ledger/files-storage.js';
import type { CustodyChain } from './types.js';
import type { CursorStore } from './worker.js';

/** Largest state file read, in bytes (what is written takes under 400). */
export const workerStateBytesMax = 4096;
/** Characters of a chain's scan cursor (coffer's is a decimal index; a block hash fits too). */
export const workerCursorCharsMax = 256;
const stateVersion = 1;
/** Printable ASCII without spaces: what any chain's cursor is made of. */
const cursorPattern = /^[\x21-\x7e]+$/;
const stateFields = ['version', 'chain', 'cursor'];

/** The state file of `chain` in `dir`. */
export function workerStateFile(dir: string, chain: CustodyChain): string {
  return path.join(dir, `deposit-cursor-${chain}.json`);
}

function isCursor(value: string): boolean {
  return value.length <= workerCursorCharsMax && cursorPattern.test(value);
}

function ioError(error: unknown, action: string, file: string): CofferError {
  if (error instanceof CofferError) return error;
  const errno = errnoCode(error);
  const reason = isDiskFull(error)
    ? `the disk is full (${errno ?? 'ENOSPC'})`
    : error instanceof Error
      ? error.message
      : String(error);
  return cofferError(
    'CUSTODY_E_WORKER_STATE_IO',
    `${action} ${file} failed: ${reason}`,
    { file, errno },
    error,
  );
}

/** The cursor in a state file's bytes; throws CUSTODY_E_WORKER_STATE_CORRUPT saying why not. */
function parseState(bytes: Uint8Array, file: string, chain: CustodyChain): string {
  const corrupt = (why: string): CofferError =>
    cofferError(
      'CUSTODY_E_WORKER_STATE_CORRUPT',
      `${file} ${why}; delete it to rescan ${chain} deposits from the start (reports are idempotent), or restore it from a backup`,
      { file, chain },
    );
  if (bytes.length > workerStateBytesMax)
    throw corrupt(`is over ${workerStateBytesMax} bytes, not a state file`);
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw corrupt(bytes.length === 0 ? 'is empty' : 'is not JSON (a torn or foreign file)');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw corrupt('is not a JSON object');
  const state = value as Record<string, unknown>;
  const extra = Object.keys(state).find((key) => !stateFields.includes(key));
  if (extra !== undefined) throw corrupt(`has a field "${extra}" no state file has`);
  if (state['version'] !== stateVersion)
    throw corrupt(`has version ${JSON.stringify(state['version'])}; this worker reads version 1`);
  if (state['chain'] !== chain)
    throw corrupt(`is the cursor of chain ${JSON.stringify(state['chain'])}, not ${chain}`);
  const cursor = state['cursor'];
  if (typeof cursor !== 'string' || !isCursor(cursor)) {
    throw corrupt(
      `has no cursor (a string of 1 to ${workerCursorCharsMax} printable characters without spaces)`,
    );
  }
  return cursor;
}

/**
 * Opens the deposit-cursor file of `chain` in `dir` (creating the folder): its saved cursor (null
 * when there is no file yet) and a durable `save`. CUSTODY_E_WORKER_STATE_CORRUPT for a file that
 * is not a cursor of this chain, CUSTODY_E_WORKER_STATE_IO when the folder or file cannot be used.
 */
export async function openWorkerState(
  dir: string,
  chain: CustodyChain,
  options: { readonly storage?: Storage } = {},
): Promise<CursorStore> {
  const storage = options.storage ?? createFsStorage();
  const file = workerStateFile(dir, chain);
  let bytes: Uint8Array | undefined;
  try {
    await storage.mkdir(dir);
    const info = await storage.stat(file);
    if (info !== undefined) {
      const handle = await storage.openReadOnly(file);
      try {
        // One byte past the limit, so that a longer file is seen to be longer.
        bytes = await handle.read(0, workerStateBytesMax + 1);
      } finally {
        await handle.close();
      }
    }
  } catch (error) {
    throw ioError(error, 'reading', file);
  }
  const saved = bytes === undefined ? null : parseState(bytes, file, chain);

  const save = async (cursor: string): Promise<void> => {
    if (!isCursor(cursor))
      throw new Error(`custody worker invariant: ${chain} cursor ${cursor} cannot be kept`);
    const text = `${JSON.stringify({ version: stateVersion, chain, cursor })}\n`;
    try {
      await replaceFile(storage, file, Buffer.from(text, 'utf8'));
    } catch (error) {
      throw ioError(error, 'writing', file);
    }
  };
  return { saved, save };
}
