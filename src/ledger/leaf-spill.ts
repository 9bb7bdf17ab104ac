// The Merkle tree's spilled leaves in one file of the node's data folder (decision 0034): full
// chunks of leaf hashes, each at chunk × chunk bytes. The file is a cache of what the snapshot
// and the ledger files hold: a node truncates it when it starts and writes it again as its tree
// grows, without fsync. Reads and writes are synchronous and small (a proof reads at most 32
// leaves, 1 KiB; a chunk of 512 KiB is written every 16,384 transactions), from the page cache
// almost always.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import { cofferError } from '../errors/index.js';
import { chunkHashesMax, hashBytes, type LeafSpill } from './merkle.js';

const chunkBytes = chunkHashesMax * hashBytes;

export type LeafSpillFile = LeafSpill & {
  /** Chunks the file refused (a full disk, an I/O error): the tree kept them in memory. */
  readonly writeFailures: () => number;
  readonly close: () => void;
};

/**
 * Opens `file` empty (created, or truncated) as a tree's spill; LEDGER_E_MERKLE_SPILL when it
 * cannot. `onWriteError` hears of each chunk the file refused; the tree keeps that chunk in
 * memory and tries again at the next.
 */
export function openLeafSpillFile(
  file: string,
  options: { readonly onWriteError?: (error: Error, chunk: number) => void } = {},
): LeafSpillFile {
  const fd = (() => {
    try {
      return openSync(file, 'w+', 0o600);
    } catch (error) {
      throw cofferError(
        'LEDGER_E_MERKLE_SPILL',
        `cannot open the Merkle leaf file ${file}: ${error instanceof Error ? error.message : String(error)}`,
        { file },
      );
    }
  })();
  let failures = 0;
  let closed = false;

  const write = (chunk: number, hashes: Uint8Array): boolean => {
    if (closed) return false;
    try {
      for (let done = 0; done < hashes.byteLength;) {
        done += writeSync(fd, hashes, done, hashes.byteLength - done, chunk * chunkBytes + done);
      }
      return true;
    } catch (error) {
      failures += 1;
      options.onWriteError?.(error instanceof Error ? error : new Error(String(error)), chunk);
      return false;
    }
  };

  const read = (chunk: number, offset: number, length: number): Buffer => {
    if (closed) throw readError(file, new Error('the file is closed'), { chunk });
    return readAt(fd, file, chunk * chunkBytes + offset, length, { chunk });
  };

  return {
    write,
    read,
    writeFailures: () => failures,
    close: () => {
      if (closed) return;
      closed = true;
      closeSync(fd);
    },
  };
}

/**
 * The first `leaves` leaf hashes of a spill file (MerkleTree.freeze's spilledLeaves), read
 * through a descriptor of its own: another thread can read them while the tree goes on
 * spilling past them. LEDGER_E_MERKLE_SPILL when the file cannot be read or is shorter.
 */
export function readSpilledLeaves(file: string, leaves: number): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw readError(file, error, { leaves });
  }
  try {
    return readAt(fd, file, 0, leaves * hashBytes, { leaves });
  } finally {
    closeSync(fd);
  }
}

function readAt(
  fd: number,
  file: string,
  position: number,
  length: number,
  details: Readonly<Record<string, number>>,
): Buffer {
  const out = Buffer.allocUnsafe(length);
  try {
    for (let done = 0; done < length;) {
      const got = readSync(fd, out, done, length - done, position + done);
      if (got === 0) throw new Error(`the file ends before byte ${position + length}`);
      done += got;
    }
  } catch (error) {
    throw readError(file, error, details);
  }
  return out;
}

function readError(file: string, error: unknown, details: Readonly<Record<string, number>>): Error {
  const where = Object.entries(details)
    .map(([name, value]) => `${name} ${value}`)
    .join(', ');
  return cofferError(
    'LEDGER_E_MERKLE_SPILL',
    `cannot read leaf hashes back from ${file} (${where}): ${error instanceof Error ? error.message : String(error)}`,
    { file, ...details },
  );
}
