// `coffer crypto`: Fabric cryptogen-compatible crypto material (generate) and revocation.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cofferError } from '../errors/index.js';
import {
  configBytesMax,
  generateCryptoMaterial,
  revokeCertificate,
  type GenerateResult,
  type RevokeResult,
} from '../msp/cryptogen/index.js';
import type { Command, CommandIo } from './main.js';

const usage = `coffer crypto — Fabric cryptogen-compatible crypto material

Usage:
  coffer crypto generate --config crypto-config.yaml [--output DIR] [--json]
      Read a cryptogen crypto-config.yaml and write Fabric's layout under DIR
      (default: crypto-config): peerOrganizations/<domain>/{ca,tlsca,msp,peers,users}
      and ordererOrganizations/<domain>/{ca,tlsca,msp,orderers,users}.
      Existing organisation folders are never overwritten.

  coffer crypto revoke --org-dir DIR --cert CERT.pem [--json]
      Revoke a certificate issued by the identity CA (DIR/ca) or TLS CA (DIR/tlsca)
      of an organisation folder: the CA's CRL (DIR/ca/crl.crl or DIR/tlsca/crl.crl)
      gains its serial number and is copied into crls/ of every MSP folder of the
      organisation. Revoking twice changes nothing.

Options:
  --json     print the result as JSON
  -h, --help this text`;

const defaultOutputDir = 'crypto-config';
const certBytesMax = 1_048_576;

const options = {
  config: { type: 'string' },
  output: { type: 'string' },
  'org-dir': { type: 'string' },
  cert: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

export const cryptoCommand: Command = async (args, io) => {
  let parsed;
  try {
    parsed = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help === true) {
    io.stdout(usage);
    return 0;
  }
  const [subcommand, ...extra] = positionals;
  if (extra.length > 0) throw usageError(`unexpected argument "${extra.join(' ')}"`);
  switch (subcommand) {
    case 'generate': {
      rejectOptions(values, ['org-dir', 'cert'], 'generate');
      if (values.config === undefined) throw usageError('crypto generate needs --config FILE');
      const text = await readArgumentFile(values.config, configBytesMax);
      const result = await generateCryptoMaterial({
        config: text,
        outputDir: values.output ?? defaultOutputDir,
      });
      printResult(io, values.json === true, result, generateSummary);
      return 0;
    }
    case 'revoke': {
      rejectOptions(values, ['config', 'output'], 'revoke');
      if (values['org-dir'] === undefined) throw usageError('crypto revoke needs --org-dir DIR');
      if (values.cert === undefined) throw usageError('crypto revoke needs --cert CERT.pem');
      const certPem = await readArgumentFile(values.cert, certBytesMax);
      const result = await revokeCertificate({ orgDir: values['org-dir'], certPem });
      printResult(io, values.json === true, result, revokeSummary);
      return 0;
    }
    case undefined:
      throw usageError('crypto needs a subcommand: generate or revoke');
    default:
      throw usageError(`unknown crypto subcommand "${subcommand}"; use generate or revoke`);
  }
};

function rejectOptions(
  values: Readonly<Record<string, unknown>>,
  names: readonly string[],
  subcommand: string,
): void {
  for (const name of names) {
    if (values[name] !== undefined) {
      throw usageError(`--${name} does not apply to crypto ${subcommand}`);
    }
  }
}

async function readArgumentFile(path: string, bytesMax: number): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw cofferError('CLI_E_FILE_UNREADABLE', `cannot read ${path}: ${reason}`, { path }, error);
  }
  if (bytes.length > bytesMax) {
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      `${path} is ${bytes.length} bytes; at most ${bytesMax} are read`,
      { path },
    );
  }
  return bytes.toString('utf8');
}

function printResult<T>(
  io: CommandIo,
  json: boolean,
  result: T,
  summary: (result: T) => string,
): void {
  io.stdout(json ? JSON.stringify(result) : summary(result));
}

function generateSummary(result: GenerateResult): string {
  const lines = result.organizations.map((org) => {
    const nodes = `${org.nodes.length} ${org.kind === 'peer' ? 'peer' : 'orderer'}${org.nodes.length === 1 ? '' : 's'}`;
    return `  ${org.dir}: ${nodes}, users ${org.users.join(', ')}`;
  });
  return [
    `generated ${result.organizations.length} organisation${result.organizations.length === 1 ? '' : 's'} (${result.files} files) in ${result.outputDir}`,
    ...lines,
  ].join('\n');
}

function revokeSummary(result: RevokeResult): string {
  const head = result.alreadyRevoked
    ? `serial ${result.serial} was already revoked by ${result.caName}; nothing re-signed`
    : `revoked serial ${result.serial} (issued by ${result.caName})`;
  return [
    head,
    `  CRL number ${result.crlNumber} lists ${result.revokedCount} certificate${result.revokedCount === 1 ? '' : 's'}: ${result.crlFile}`,
    `  copied to crls/ of ${result.copiedTo.length} MSP folder${result.copiedTo.length === 1 ? '' : 's'}`,
  ].join('\n');
}

function usageError(message: string) {
  return cofferError('CLI_E_USAGE', `${message} (see coffer crypto --help)`);
}
