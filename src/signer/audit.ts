// The signer's audit log: one JSON line per signature issued or request refused, appended and
// fdatasync'd before the answer leaves (a signature is released only once its record is on
// disk). Each line carries the SHA-256 of the line before it, so a line removed or edited later
// breaks the chain for whoever re-reads the file (verifyAuditLog).
//
// The log is bounded: before a line would take the file past `bytesMax`, the file is renamed to
// the next numbered segment (`signer-audit.log.000001`, `.000002`, …) and a new file is started
// whose first line chains to the last line of that segment, so the chain runs unbroken across
// every segment (verifyAuditLogFiles). Segments are never deleted here: the chain starts in the
// first one, so removing any breaks it for every verifier. Ship them off the host instead.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { open, readdir, readFile, rename, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { cofferError, type CofferError } from '../errors/index.js';

/** Longest audit line, in bytes: the ids and hex fields are bounded by the request limits. */
export const auditLineBytesMax = 64 * 1024;
/** Bytes read from the end of an existing log to find its last line. */
export const auditTailBytes = 2 * auditLineBytesMax;
/** Default size of the audit file before it is rotated into a segment, in bytes. */
export const auditLogBytesMaxDefault = 64 * 1024 * 1024;
/** Smallest rotation size: a segment holds a few lines at least. */
export const auditSegmentBytesMin = 4 * auditLineBytesMax;
/** Digits of a segment number (more are read, in numeric order). */
const segmentDigits = 6;
const genesisHash = '0'.repeat(64);

assert(auditLogBytesMaxDefault >= auditSegmentBytesMin);

export type AuditRecord = Readonly<Record<string, unknown>> & {
  readonly event: 'signed' | 'refused' | 'started' | 'stopped' | 'rotated';
};

export type AuditLog = {
  readonly append: (record: AuditRecord) => Promise<void>;
  readonly close: () => Promise<void>;
};

export type AuditLogOptions = {
  /** Size the file may reach before it is rotated (default auditLogBytesMaxDefault). */
  readonly bytesMax?: number;
  /**
   * Runs after each step of a rotation; throwing there stands for a crash at that point
   * (tests: the next open must continue the chain).
   */
  readonly rotationStep?: (step: 'renamed' | 'created') => void;
};

function hashOf(line: string): string {
  return createHash('sha256').update(line).digest('hex');
}

function codeOf(cause: unknown): string {
  return (cause as NodeJS.ErrnoException).code ?? 'unknown';
}

/** The file name of segment `n` of the log `file`. */
export function auditSegmentName(file: string, n: number): string {
  return `${file}.${String(n).padStart(segmentDigits, '0')}`;
}

/** The segment numbers of the log `file` found beside it, in ascending order. */
export async function auditSegmentsOf(file: string): Promise<number[]> {
  const base = path.basename(file);
  const names = await readdir(path.dirname(file));
  const numbers: number[] = [];
  for (const name of names) {
    if (!name.startsWith(`${base}.`)) continue;
    const suffix = name.slice(base.length + 1);
    if (/^\d+$/.test(suffix) && suffix.length >= segmentDigits) numbers.push(Number(suffix));
  }
  return numbers.sort((a, b) => a - b);
}

/** The hash of the last line of an open file, or undefined when it has none. */
async function lastLineHash(handle: FileHandle): Promise<string | undefined> {
  const { size } = await handle.stat();
  if (size === 0) return undefined;
  const length = Math.min(size, auditTailBytes);
  const tail = Buffer.alloc(length);
  await handle.read(tail, 0, length, size - length);
  const last = tail
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .at(-1);
  // A torn last line (a crash mid-append) is chained over like any other bytes.
  return last === undefined ? undefined : hashOf(last);
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Opens (creating, mode 0600) the log for appending, continuing the chain of its last line; an
 * empty or missing file (a crash right after a rotation) continues the last segment's chain.
 */
export async function openAuditLog(
  file: string,
  clock: () => number,
  options: AuditLogOptions = {},
): Promise<AuditLog> {
  const bytesMax = options.bytesMax ?? auditLogBytesMaxDefault;
  assert(bytesMax >= auditSegmentBytesMin, 'the audit rotation size fits several lines');
  const failure = (what: string, cause: unknown, fix = '') =>
    cofferError(
      'SIGNER_E_AUDIT_FAILED',
      `the audit log ${file} cannot be ${what} (${codeOf(cause)})${fix}`,
      { file },
      cause,
    );
  let handle: FileHandle;
  let segments: number[];
  try {
    segments = await auditSegmentsOf(file);
    handle = await open(file, 'a+', 0o600);
  } catch (cause) {
    throw failure('opened', cause);
  }
  let size: number;
  let previous = genesisHash;
  try {
    size = (await handle.stat()).size;
    let last = await lastLineHash(handle);
    for (const n of [...segments].reverse()) {
      if (last !== undefined) break;
      const segment = await open(auditSegmentName(file, n), 'r');
      try {
        last = await lastLineHash(segment);
      } finally {
        await segment.close();
      }
    }
    if (last !== undefined) previous = last;
  } catch (cause) {
    await handle.close();
    throw failure('read', cause);
  }
  let lastSegment = segments.at(-1) ?? 0;
  let queue: Promise<void> = Promise.resolve();
  let failed: CofferError | undefined;

  /** Renames the full file to the next segment and starts a new one; the chain carries on. */
  const rotate = async (segment: string): Promise<void> => {
    const taken = await stat(segment).then(
      () => true,
      (cause: unknown) => {
        if (codeOf(cause) === 'ENOENT') return false;
        throw cause;
      },
    );
    if (taken) throw Object.assign(new Error(`${segment} exists`), { code: 'EEXIST' });
    await rename(file, segment);
    lastSegment += 1;
    await syncDir(path.dirname(file));
    options.rotationStep?.('renamed');
    const next = await open(file, 'a+', 0o600);
    const full = handle;
    handle = next;
    size = 0;
    await full.close();
    await syncDir(path.dirname(file));
    options.rotationStep?.('created');
  };

  const appendLine = async (line: string): Promise<void> => {
    await handle.appendFile(`${line}\n`);
    await handle.datasync();
    size += Buffer.byteLength(line) + 1;
    previous = hashOf(line);
  };

  const append = (record: AuditRecord): Promise<void> => {
    const next = queue.then(async () => {
      if (failed !== undefined) throw failed;
      const time = new Date(clock()).toISOString();
      // `prev` is always 64 hex characters: a line's length does not depend on it.
      const lineOf = (fields: AuditRecord) => JSON.stringify({ time, prev: previous, ...fields });
      const lineBytes = Buffer.byteLength(lineOf(record));
      if (lineBytes > auditLineBytesMax) {
        throw cofferError(
          'SIGNER_E_AUDIT_FAILED',
          `an audit record is longer than ${auditLineBytesMax} bytes`,
        );
      }
      const bytes = lineBytes + 1;
      let doing = 'written';
      try {
        if (size > 0 && size + bytes > bytesMax) {
          const segment = auditSegmentName(file, lastSegment + 1);
          doing = `rotated into ${path.basename(segment)}`;
          await rotate(segment);
          doing = 'written';
          await appendLine(lineOf({ event: 'rotated', previousSegment: path.basename(segment) }));
        }
        await appendLine(lineOf(record));
      } catch (cause) {
        // After a failed write or rotation the file's end is unknown: refuse every later append.
        failed = failure(doing, cause, '; restart the signer once the disk is fixed');
        throw failed;
      }
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

type Walk = { readonly lines: number; readonly brokenAt?: number; readonly last: string };

/** Checks the lines of one file against the chain that arrives at it with `previous`. */
function walk(text: string, previous: string): Walk {
  const lines = text.split('\n').filter((line) => line.length > 0);
  let last = previous;
  for (const [i, line] of lines.entries()) {
    let prev: unknown;
    try {
      prev = (JSON.parse(line) as { prev?: unknown }).prev;
    } catch {
      return { lines: lines.length, brokenAt: i, last };
    }
    if (prev !== last) return { lines: lines.length, brokenAt: i, last };
    last = hashOf(line);
  }
  return { lines: lines.length, last };
}

/** Re-reads a log's lines and checks the chain; returns the index of the first broken line. */
export function verifyAuditLog(text: string): {
  readonly lines: number;
  readonly brokenAt?: number;
} {
  const { lines, brokenAt } = walk(text, genesisHash);
  return brokenAt === undefined ? { lines } : { lines, brokenAt };
}

export type AuditVerification = {
  /** Files checked: the segments, then the current file. */
  readonly files: number;
  /** Lines checked, up to and including the broken one. */
  readonly lines: number;
  /** The first place the chain breaks: the file, its line index, and why. */
  readonly broken?: { readonly file: string; readonly line: number; readonly reason: string };
};

type ChainCheck = {
  /** Checks the next file; returns the outcome once the chain breaks there. */
  readonly add: (name: string, text: string) => AuditVerification | undefined;
  readonly missing: (name: string) => AuditVerification;
  readonly result: () => AuditVerification;
};

function chainCheck(): ChainCheck {
  let previous = genesisHash;
  let previousName: string | undefined;
  let lines = 0;
  let files = 0;
  return {
    add: (name, text) => {
      const walked = walk(text, previous);
      files += 1;
      if (walked.brokenAt !== undefined) {
        return {
          files,
          lines: lines + walked.brokenAt + 1,
          broken: {
            file: name,
            line: walked.brokenAt,
            reason:
              walked.brokenAt === 0 && previousName !== undefined
                ? `its first line does not chain to the last line of ${previousName} (edited, or a segment between them is missing)`
                : 'the line is not JSON, or its prev is not the hash of the line before it (edited, removed or torn)',
          },
        };
      }
      lines += walked.lines;
      previous = walked.last;
      previousName = name;
      return undefined;
    },
    missing: (name) => ({
      files,
      lines,
      broken: { file: name, line: 0, reason: `segment ${name} is missing` },
    }),
    result: () => ({ files, lines }),
  };
}

/**
 * Checks one chain across files given oldest first (segments in order, the current file last):
 * the first line of the first file chains to the genesis hash, and the first line of each
 * later file to the last line of the file before it.
 */
export function verifyAuditFiles(
  files: readonly { readonly name: string; readonly text: string }[],
): AuditVerification {
  const check = chainCheck();
  for (const { name, text } of files) {
    const broken = check.add(name, text);
    if (broken !== undefined) return broken;
  }
  return check.result();
}

/**
 * Reads every segment of the log `file` (numbered from 1, none missing) and the file itself,
 * one at a time, and checks the chain across them (verifyAuditFiles). A missing current file is
 * fine: a crash right after a rotation leaves none.
 */
export async function verifyAuditLogFiles(file: string): Promise<AuditVerification> {
  const check = chainCheck();
  for (const [i, n] of (await auditSegmentsOf(file)).entries()) {
    if (n !== i + 1) return check.missing(path.basename(auditSegmentName(file, i + 1)));
    const name = auditSegmentName(file, n);
    const broken = check.add(path.basename(name), await readFile(name, 'utf8'));
    if (broken !== undefined) return broken;
  }
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    if (codeOf(cause) === 'ENOENT') return check.result();
    throw cause;
  }
  return check.add(path.basename(file), text) ?? check.result();
}
