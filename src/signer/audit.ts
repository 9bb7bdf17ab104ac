// The signer's audit log: one JSON line per signature issued or request refused, appended and
// fdatasync'd before the answer leaves (a signature is released only once its record is on
// disk). Each line carries the SHA-256 of the line before it, so a line removed or edited later
// breaks the chain for whoever re-reads the file (verifyAuditLog).
import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { cofferError, type CofferError } from '../errors/index.js';

/** Longest audit line, in bytes: the ids and hex fields are bounded by the request limits. */
export const auditLineBytesMax = 16 * 1024;
/** Bytes read from the end of an existing log to find its last line. */
export const auditTailBytes = 2 * auditLineBytesMax;
const genesisHash = '0'.repeat(64);

export type AuditRecord = Readonly<Record<string, unknown>> & {
  readonly event: 'signed' | 'refused' | 'started' | 'stopped';
};

export type AuditLog = {
  readonly append: (record: AuditRecord) => Promise<void>;
  readonly close: () => Promise<void>;
};

function hashOf(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}

/** Opens (creating, mode 0600) the log for appending, continuing the chain of its last line. */
export async function openAuditLog(file: string, clock: () => number): Promise<AuditLog> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'a+', 0o600);
  } catch (cause) {
    throw cofferError(
      'SIGNER_E_AUDIT_FAILED',
      `the audit log ${file} cannot be opened (${(cause as NodeJS.ErrnoException).code ?? 'unknown'})`,
      { file },
      cause,
    );
  }
  const { size } = await handle.stat();
  let previous = genesisHash;
  if (size > 0) {
    const length = Math.min(size, auditTailBytes);
    const tail = Buffer.alloc(length);
    await handle.read(tail, 0, length, size - length);
    const lines = tail
      .toString('utf8')
      .split('\n')
      .filter((line) => line.length > 0);
    const last = lines.at(-1);
    // A torn last line (a crash mid-append) is chained over like any other bytes.
    if (last !== undefined) previous = hashOf(last);
  }
  let queue: Promise<void> = Promise.resolve();
  let failed: CofferError | undefined;

  const append = (record: AuditRecord): Promise<void> => {
    const next = queue.then(async () => {
      if (failed !== undefined) throw failed;
      const line = JSON.stringify({
        time: new Date(clock()).toISOString(),
        prev: previous,
        ...record,
      });
      if (Buffer.byteLength(line) > auditLineBytesMax) {
        throw cofferError(
          'SIGNER_E_AUDIT_FAILED',
          `an audit record is longer than ${auditLineBytesMax} bytes`,
        );
      }
      try {
        await handle.appendFile(`${line}\n`);
        await handle.datasync();
      } catch (cause) {
        // After a failed write the file's end is unknown: refuse every later append.
        failed = cofferError(
          'SIGNER_E_AUDIT_FAILED',
          `the audit log ${file} cannot be written (${(cause as NodeJS.ErrnoException).code ?? 'unknown'}); restart the signer once the disk is fixed`,
          { file },
          cause,
        );
        throw failed;
      }
      previous = hashOf(line);
    });
    queue = next.catch(() => undefined);
    return next;
  };

  return {
    append,
    close: async () => {
      await queue;
      await handle.close();
    },
  };
}

/** Re-reads a log's lines and checks the chain; returns the index of the first broken line. */
export function verifyAuditLog(text: string): {
  readonly lines: number;
  readonly brokenAt?: number;
} {
  const lines = text.split('\n').filter((line) => line.length > 0);
  let previous = genesisHash;
  for (const [i, line] of lines.entries()) {
    let prev: unknown;
    try {
      prev = (JSON.parse(line) as { prev?: unknown }).prev;
    } catch {
      return { lines: lines.length, brokenAt: i };
    }
    if (prev !== previous) return { lines: lines.length, brokenAt: i };
    previous = hashOf(line);
  }
  return { lines: lines.length };
}
