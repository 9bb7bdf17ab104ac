// `coffer receipt`: verify a transaction receipt offline with nothing but the organisations'
// verifying MSP folders (their CA certificates, CRLs and NodeOU configuration), or show its entry.
// Output contract of `verify --json`:
//   {"valid","txId","seqno","treeSize","root","signedAt","signer","signers","txIdChecked","error"?}
// (`signer` and `signedAt` are the first of `signers`, as before receipts had several signers);
// exit 0 valid, 1 invalid (or an input that cannot be read), 2 usage error.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import { parseCanonical } from '../ledger/canonical.js';
import {
  certPemCharsMax,
  parseReceipt,
  receiptEntryBytesMax,
  receiptProofHashesMax,
  signedRootsMax,
  verifyReceipt,
  type VerifiedReceipt,
} from '../ledger/receipt.js';
import { loadMspFolder, type Msp } from '../msp/index.js';
import type { Command, CommandIo } from './main.js';

/** Largest receipt file read, in bytes: a receipt with the largest entry, proof and certificate. */
export const receiptFileBytesMax = 16 * 1024 * 1024;
/** Organisations (--msp-dir) one verification loads. */
export const mspDirsMax = 256;

// Base64 entry, hex proof hashes with their JSON punctuation, a PEM per signed root whose
// newlines JSON escapes, and room for the other fields.
assert(
  receiptFileBytesMax >=
    Math.ceil(receiptEntryBytesMax / 3) * 4 +
      receiptProofHashesMax * 67 +
      signedRootsMax * 2 * certPemCharsMax,
  'receiptFileBytesMax holds the largest receipt',
);

const verifyUsage = `Usage: coffer receipt verify RECEIPT.json --msp-dir DIR=MSPID [--msp-dir DIR=MSPID]...
                             [--min-signatures N] [--min-orgs N] [--any-entry] [--json]

Verifies a receipt offline: its ledger entry is the leaf the inclusion proof starts from and
records the receipt's txId, the proof leads to the signed Merkle root, and peers of trusted
organisations signed that root (every signature in the receipt must verify). Needs no private
key and no node.
  --msp-dir DIR=MSPID  an organisation's verifying MSP folder (cacerts/, intermediatecerts/,
                       crls/, config.yaml, e.g. peerOrganizations/<domain>/msp) and its MSP ID,
                       joined by "=" (the text after the last "=" is the MSP ID); one per
                       organisation whose nodes may have signed
  --min-signatures N   require signatures of at least N nodes (default 1)
  --min-orgs N         require signing nodes of at least N organisations (default 1); nodes of
                       one organisation count once
  --any-entry          also accept an entry that is not a Coffer transaction entry (type "tx");
                       the receipt's txId is then not checked against the entry
  --json               print one JSON object (the contract other programs rely on)
Exit status: 0 valid, 1 invalid or unreadable input, 2 usage error.`;

const showUsage = `Usage: coffer receipt show RECEIPT.json

Prints the ledger entry a receipt carries, as indented JSON. It does not verify the receipt:
use \`coffer receipt verify\` for that.`;

const receiptUsage = `Usage: coffer receipt verify RECEIPT.json --msp-dir DIR=MSPID [...] [--min-signatures N]
                             [--min-orgs N] [--json]
       coffer receipt show RECEIPT.json
Run \`coffer receipt verify --help\` or \`coffer receipt show --help\` for details.`;

type ErrorJson = { code: string; message: string; fix: string; mspCode?: string };

type SignerJson = { nodeId: string; mspId: string; identityId: string; role: string | null };

type Report =
  | {
      valid: true;
      txId: string;
      seqno: number;
      treeSize: number;
      root: string;
      /** ISO-8601 time of the first signed root. */
      signedAt: string;
      /** The first signer (signers[0]). */
      signer: SignerJson;
      /** Every node whose signature verified, sorted by node ID, with its signing time. */
      signers: (SignerJson & { signedAt: string })[];
      /** False only with --any-entry, for an entry that is not a Coffer transaction entry. */
      txIdChecked: boolean;
    }
  | { valid: false; txId: null; seqno: null; signer: null; signers: null; error: ErrorJson };

function errorJson(error: CofferError): ErrorJson {
  const mspCode = error.details['mspCode'];
  return {
    code: error.code,
    message: error.message,
    fix: error.fix,
    ...(typeof mspCode === 'string' ? { mspCode } : {}),
  };
}

function usageError(message: string, usage: string): CofferError {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

/** Reads a file named on the command line: a regular file of at most `bytesMax` bytes. */
async function readArgumentFile(file: string, bytesMax: number): Promise<Buffer> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} cannot be read (${code})`, { file }, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) {
      throw cofferError('CLI_E_FILE_UNREADABLE', `${file} is not a regular file`, { file });
    }
    if (info.size > bytesMax) {
      throw cofferError(
        'CLI_E_FILE_UNREADABLE',
        `${file} is ${info.size} bytes; a receipt is at most ${bytesMax} bytes`,
        { file },
      );
    }
    return await handle.readFile();
  } catch (error) {
    if (isCofferError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} cannot be read (${code})`, { file }, error);
  } finally {
    await handle.close();
  }
}

/** The receipt file as JSON; its shape is checked by parseReceipt / verifyReceipt. */
async function readReceiptJson(file: string): Promise<unknown> {
  const bytes = await readArgumentFile(file, receiptFileBytesMax);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw cofferError(
      'RECEIPT_E_MALFORMED',
      `${file} is not JSON: ${(error as Error).message}`,
      { file, field: 'receipt' },
      error,
    );
  }
}

type Entry = { readonly type: unknown; readonly txId: unknown };

function entryObject(entry: Uint8Array): Entry | undefined {
  const value = parseCanonical(entry);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const json = value as Readonly<Record<string, unknown>>;
  return { type: json['type'], txId: json['txId'] };
}

/**
 * The txId a Coffer transaction entry records (engine.ts writes RFC 8785 JSON with type "tx").
 * Anything else records no transaction: it throws, and verifyReceipt reports
 * RECEIPT_E_TXID_MISMATCH with this message.
 */
export function txIdOfEntry(entry: Uint8Array): string | undefined {
  const json = entryObject(entry);
  if (json === undefined) throw new Error('it is not a JSON object');
  if (json.type !== 'tx') {
    const type = typeof json.type === 'string' ? `a ${JSON.stringify(json.type)}` : 'an untyped';
    throw new Error(`it is ${type} entry, not a transaction entry (type "tx")`);
  }
  return typeof json.txId === 'string' ? json.txId : undefined;
}

/** True when the receipt's entry field decodes to a Coffer transaction entry. */
function carriesTxEntry(json: unknown): boolean {
  if (typeof json !== 'object' || json === null) return false;
  const entry = (json as Readonly<Record<string, unknown>>)['entry'];
  if (typeof entry !== 'string') return false;
  try {
    return entryObject(new Uint8Array(Buffer.from(entry, 'base64')))?.type === 'tx';
  } catch {
    return false;
  }
}

type MspDir = { readonly dir: string; readonly mspId: string };

/** `DIR=MSPID`, split at the last "=" so that a folder name may hold one. */
function parseMspDir(value: string): MspDir {
  const at = value.lastIndexOf('=');
  const dir = at < 0 ? '' : value.slice(0, at);
  const mspId = at < 0 ? '' : value.slice(at + 1);
  if (dir.length === 0 || mspId.length === 0) {
    throw usageError(
      `--msp-dir ${value}: write the folder and its MSP ID as DIR=MSPID (e.g. org1/msp=Org1MSP)`,
      verifyUsage,
    );
  }
  return { dir, mspId };
}

/** The --msp-dir values, checked before any file is read. */
function parseMspDirs(specs: readonly string[]): MspDir[] {
  if (specs.length === 0) {
    throw usageError('at least one --msp-dir DIR=MSPID is required', verifyUsage);
  }
  if (specs.length > mspDirsMax) {
    throw usageError(`at most ${mspDirsMax} --msp-dir are accepted`, verifyUsage);
  }
  const folders = specs.map(parseMspDir);
  const seen = new Set<string>();
  for (const { mspId } of folders) {
    if (seen.has(mspId)) {
      throw usageError(`MSP ID ${mspId} is given by more than one --msp-dir`, verifyUsage);
    }
    seen.add(mspId);
  }
  return folders;
}

/** A count flag: a whole number from 1 to `max`; 1 when absent. */
function parseCount(value: string | undefined, flag: string, max: number): number {
  if (value === undefined) return 1;
  const count = /^[1-9][0-9]{0,5}$/.test(value) ? Number(value) : 0;
  if (count < 1 || count > max) {
    throw usageError(`${flag} ${value}: give a whole number from 1 to ${max}`, verifyUsage);
  }
  return count;
}

async function loadMsps(folders: readonly MspDir[]): Promise<Map<string, Msp>> {
  const msps = new Map<string, Msp>();
  for (const { dir, mspId } of folders) {
    // Verifying part only: cacerts, intermediatecerts, crls, config.yaml; no key is read.
    const outcome = await loadMspFolder(dir, { mspId });
    if (!outcome.ok) {
      const { error } = outcome;
      throw cofferError(
        error.code,
        `MSP folder ${dir} (${mspId}): ${error.message}`,
        { ...error.details, dir, mspId },
        error,
      );
    }
    msps.set(mspId, outcome.msp);
  }
  return msps;
}

function isoTime(ms: number): string {
  const date = new Date(ms);
  return Number.isNaN(date.getTime()) ? `${ms} ms after the epoch` : date.toISOString();
}

function validReport(value: VerifiedReceipt, txIdChecked: boolean): Report {
  const signerJson = (signer: VerifiedReceipt['signers'][number]): SignerJson => ({
    nodeId: signer.nodeId,
    mspId: signer.mspId,
    identityId: signer.identityId,
    role: signer.role,
  });
  return {
    valid: true,
    txId: value.txId,
    seqno: value.seqno,
    treeSize: value.treeSize,
    root: value.root,
    signedAt: isoTime(value.signedAt),
    signer: {
      nodeId: value.nodeId,
      mspId: value.signer.mspId,
      identityId: value.signer.identityId,
      role: value.signer.role,
    },
    signers: value.signers.map((signer) => ({
      ...signerJson(signer),
      signedAt: isoTime(signer.signedAt),
    })),
    txIdChecked,
  };
}

function invalidReport(error: CofferError): Report {
  return {
    valid: false,
    txId: null,
    seqno: null,
    signer: null,
    signers: null,
    error: errorJson(error),
  };
}

function formatReport(file: string, report: Report): string {
  if (!report.valid) {
    const lines = [`INVALID receipt ${file}`, `  ${report.error.code}: ${report.error.message}`];
    if (report.error.mspCode !== undefined) lines.push(`  MSP code: ${report.error.mspCode}`);
    lines.push(`  what to do: ${report.error.fix}`);
    return lines.join('\n');
  }
  const unchecked = report.txIdChecked ? '' : ' (not checked: the entry is not a transaction)';
  const signedBy = report.signers.map((signer, i) => {
    const role = signer.role === null ? '' : ` (${signer.role})`;
    const label = i === 0 ? '  signed by  ' : '             ';
    return `${label}${signer.nodeId} of ${signer.mspId}${role} at ${signer.signedAt}`;
  });
  const organisations = new Set(report.signers.map((signer) => signer.mspId)).size;
  return [
    `valid receipt ${file}`,
    `  txId       ${report.txId}${unchecked}`,
    `  seqno      ${report.seqno}`,
    ...signedBy,
    ...(report.signers.length > 1
      ? [`  signers    ${report.signers.length} nodes of ${organisations} organisations`]
      : []),
    `  tree size  ${report.treeSize}`,
    `  root       ${report.root}`,
  ].join('\n');
}

async function verify(args: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        'msp-dir': { type: 'string', multiple: true, default: [] },
        'min-signatures': { type: 'string' },
        'min-orgs': { type: 'string' },
        'any-entry': { type: 'boolean', default: false },
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
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) {
    throw usageError('expected exactly one receipt file', verifyUsage);
  }
  const folders = parseMspDirs(values['msp-dir']);
  const signaturesMin = parseCount(values['min-signatures'], '--min-signatures', signedRootsMax);
  const organisationsMin = parseCount(
    values['min-orgs'],
    '--min-orgs',
    Math.min(signedRootsMax, mspDirsMax),
  );
  if (organisationsMin > folders.length) {
    throw usageError(
      `--min-orgs ${organisationsMin} needs at least ${organisationsMin} --msp-dir (one per organisation); ${folders.length} given`,
      verifyUsage,
    );
  }

  let report: Report;
  try {
    const msps = await loadMsps(folders);
    const json = await readReceiptJson(file);
    const checkTxId = !values['any-entry'] || carriesTxEntry(json);
    const check = verifyReceipt(json, msps, {
      signaturesMin,
      organisationsMin,
      ...(checkTxId ? { txIdOf: txIdOfEntry } : {}),
    });
    report = check.ok ? validReport(check.value, checkTxId) : invalidReport(check.error);
  } catch (error) {
    // Unreadable inputs: in --json mode they are a report too, so programs parse one shape.
    if (!values.json || !isCofferError(error) || error.code === 'CLI_E_USAGE') throw error;
    report = invalidReport(error);
  }
  io.stdout(values.json ? JSON.stringify(report) : formatReport(file, report));
  return report.valid ? 0 : 1;
}

async function show(args: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: { help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (error) {
    throw usageError((error as Error).message, showUsage);
  }
  if (parsed.values.help) {
    io.stdout(showUsage);
    return 0;
  }
  const [file, ...extra] = parsed.positionals;
  if (file === undefined || extra.length > 0) {
    throw usageError('expected exactly one receipt file', showUsage);
  }
  let receipt;
  try {
    receipt = parseReceipt(await readReceiptJson(file));
  } catch (error) {
    if (!isCofferError(error, 'RECEIPT_E_MALFORMED')) throw error;
    throw cofferError(error.code, `${file}: ${error.message}`, { ...error.details, file }, error);
  }
  const entry = Buffer.from(receipt.entry, 'base64');
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(entry));
  } catch (error) {
    throw cofferError(
      'LEDGER_E_JSON_MALFORMED',
      `${file}: the entry (${entry.byteLength} bytes) is not JSON text: ${(error as Error).message}`,
      { file },
      error,
    );
  }
  io.stdout(JSON.stringify(value, null, 2));
  return 0;
}

export const receiptCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  if (sub === 'verify') return verify(rest, io);
  if (sub === 'show') return show(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    io.stdout(receiptUsage);
    return sub === undefined ? 2 : 0;
  }
  throw usageError(`unknown receipt command "${sub}"`, receiptUsage);
};
