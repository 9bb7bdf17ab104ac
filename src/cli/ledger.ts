// `coffer ledger verify`: checks every record of a node's ledger files (framing, CRC-32, seqno
// contiguity) read-only, and names the first damaged byte range.
// Output contract of `verify --json`: {"ok":true,"dir","chunks","entries","signatures",
// "firstSeqno","lastSeqno","bytes"} or {"ok":false,"dir","file","offsetStart","offsetEnd",
// "reason","seqno","message","error":{code,message,fix}} (only "ok","dir","error" when a file
// cannot be read); exit 0 intact, 1 damaged or unreadable, 2 usage error.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { formatVerifyResult, verifyLedgerDir, type VerifyResult } from '../ledger/files.js';
import type { Command, CommandIo } from './main.js';

const verifyUsage = `Usage: coffer ledger verify DIR [--json]

Checks the ledger files of a node, read-only (it runs on a copy or a stopped node's folder):
every chunk's name, every record's framing and CRC-32, and that seqnos follow each other.
DIR is the ledger folder (the one holding ledger-<seqno>.chunk files) or a node's data folder
that holds it as ledger/.
  --json  print one JSON object (the contract other programs rely on)
Exit status: 0 intact, 1 damaged (the first damaged byte range is named), 2 usage error.`;

const ledgerUsage = `Usage: coffer ledger verify DIR [--json]   (coffer ledger verify --help)`;

/** Advice for a torn tail: unlike other damage, it is the normal trace of a crash. */
const tornTailFix =
  'Nothing to repair: this is a write cut short by a crash. The node cuts it when it next ' +
  'starts and writes those entries again from its ordering log.';

function usageError(message: string, usage: string): CofferError {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

async function kindOf(file: string): Promise<'dir' | 'other' | undefined> {
  try {
    return (await stat(file)).isDirectory() ? 'dir' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      `${file} cannot be read (${code ?? 'unknown'})`,
      { file },
      error,
    );
  }
}

/**
 * The ledger folder DIR names: DIR itself when it holds chunk files, else DIR/ledger when DIR is
 * a node's data folder, else DIR (an empty ledger).
 */
async function ledgerDirOf(dir: string): Promise<{ dir: string; chunkFiles: number }> {
  const kind = await kindOf(dir);
  if (kind !== 'dir') {
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      kind === undefined ? `${dir} does not exist` : `${dir} is not a folder`,
      { file: dir },
    );
  }
  const chunkFiles = async (folder: string): Promise<number> => {
    try {
      return (await readdir(folder)).filter((name) => name.endsWith('.chunk')).length;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
      throw cofferError(
        'CLI_E_FILE_UNREADABLE',
        `${folder} cannot be listed (${code})`,
        { file: folder },
        error,
      );
    }
  };
  const own = await chunkFiles(dir);
  if (own > 0) return { dir, chunkFiles: own };
  const nested = path.join(dir, 'ledger');
  if ((await kindOf(nested)) === 'dir')
    return { dir: nested, chunkFiles: await chunkFiles(nested) };
  return { dir, chunkFiles: 0 };
}

function corruptError(dir: string, result: VerifyResult & { ok: false }): CofferError {
  return cofferError(
    'LEDGER_E_CORRUPT',
    `${path.join(dir, result.file)} bytes ${result.offsetStart}..${result.offsetEnd}: ${result.message}`,
    { dir, file: result.file, offsetStart: result.offsetStart, offsetEnd: result.offsetEnd },
  );
}

function fixOf(result: VerifyResult & { ok: false }, error: CofferError): string {
  return result.reason === 'torn-tail' ? tornTailFix : error.fix;
}

function format(dir: string, result: VerifyResult, chunkFiles: number): string {
  if (result.ok) {
    const lines = [`ledger ${dir}: ${formatVerifyResult(result)}`];
    if (chunkFiles === 0) {
      lines.push(
        `  note: no ledger-<seqno>.chunk file here: is this a node's ledger folder (DATA/ledger)?`,
      );
    }
    return lines.join('\n');
  }
  const error = corruptError(dir, result);
  return [
    `ledger ${dir}: DAMAGED (the first damaged byte range; later ones are not reported)`,
    `  ${path.join(dir, result.file)} ${result.offsetStart}-${result.offsetEnd} ${result.reason}`,
    `  ${result.message}`,
    `  what to do: ${fixOf(result, error)}`,
  ].join('\n');
}

function toJson(dir: string, result: VerifyResult): unknown {
  if (result.ok) {
    return {
      ok: true,
      dir,
      chunks: result.chunks,
      entries: result.entries,
      signatures: result.signatures,
      firstSeqno: result.firstSeqno ?? null,
      lastSeqno: result.lastSeqno ?? null,
      bytes: result.bytes,
    };
  }
  const error = corruptError(dir, result);
  return {
    ok: false,
    dir,
    file: result.file,
    offsetStart: result.offsetStart,
    offsetEnd: result.offsetEnd,
    reason: result.reason,
    seqno: result.seqno,
    message: result.message,
    error: { code: error.code, message: error.message, fix: fixOf(result, error) },
  };
}

async function verify(args: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    throw usageError((error as Error).message, verifyUsage);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(verifyUsage);
    return 0;
  }
  const [given, ...extra] = positionals;
  if (given === undefined || extra.length > 0) {
    throw usageError('expected exactly one ledger folder', verifyUsage);
  }
  let found;
  let result;
  try {
    found = await ledgerDirOf(given);
    result = await verifyLedgerDir(found.dir);
  } catch (error) {
    // An unreadable folder or file: in --json mode a report too, so programs parse one shape.
    if (!values.json || !isCofferError(error)) throw error;
    const { code, message, fix } = error;
    io.stdout(JSON.stringify({ ok: false, dir: given, error: { code, message, fix } }));
    return 1;
  }
  const { dir, chunkFiles } = found;
  io.stdout(values.json ? JSON.stringify(toJson(dir, result)) : format(dir, result, chunkFiles));
  return result.ok ? 0 : 1;
}

export const ledgerCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  if (sub === 'verify') return verify(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(ledgerUsage);
    return sub === undefined ? 2 : 0;
  }
  throw usageError(`unknown ledger command "${sub}"`, ledgerUsage);
};
