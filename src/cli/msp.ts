// `coffer msp inspect`: load an MSP folder as Fabric would and validate identities against it.
// Output contract (DESIGN.md): {"mspId","setup","error"?,"identities":[{"cert","valid","role","error"?}]}
// exit 0 when setup is ok and every identity is valid, 1 otherwise, 2 on a usage error.
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cofferError, type CofferError } from '../errors/index.js';
import {
  defaultMspVersion,
  fabricReasonOf,
  loadMspFolder,
  mspVersions,
  type MspVersion,
} from '../msp/index.js';
import type { Command, CommandIo } from './main.js';

const inspectUsage = `Usage: coffer msp inspect DIR --msp-id ID [--msp-version 1.0|1.1|1.3|1.4.3|3.0]
                         [--local] [--at ISO-8601-time] [--identity CERT.pem]... [--json]

Loads the Fabric MSP folder DIR (verifying part; --local also signcerts/ and keystore/),
then validates each --identity certificate against it.
  --msp-version  MSP semantics to apply (default ${defaultMspVersion})
  --at           the clock for the local signer's expiry check (default: now)
  --json         print one JSON object (the contract other programs rely on)`;

type ErrorJson = { code: string; reason?: string; message: string; fix: string };

type IdentityReport = {
  cert: string;
  valid: boolean;
  role: string | null;
  error?: ErrorJson;
};

type Report = {
  mspId: string;
  setup: 'ok' | 'fail';
  error?: ErrorJson;
  warnings: string[];
  identities: IdentityReport[];
};

function errorJson(error: CofferError): ErrorJson {
  const reason = fabricReasonOf(error);
  return {
    code: error.code,
    ...(reason === undefined ? {} : { reason }),
    message: error.message,
    fix: error.fix,
  };
}

/** Accepts `3.0` and Fabric's constant names such as `MSPv1_4_3`. */
function parseVersion(text: string): MspVersion {
  const normalised = text.replace(/^MSPv/i, '').replace(/_/g, '.');
  const version = mspVersions.find((candidate) => candidate === normalised);
  if (version === undefined) {
    throw cofferError(
      'CLI_E_USAGE',
      `--msp-version ${text} is not one of ${mspVersions.join(', ')}`,
    );
  }
  return version;
}

async function inspect(args: readonly string[], io: CommandIo): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        'msp-id': { type: 'string' },
        'msp-version': { type: 'string' },
        local: { type: 'boolean', default: false },
        at: { type: 'string' },
        identity: { type: 'string', multiple: true, default: [] },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw cofferError('CLI_E_USAGE', `${(error as Error).message}\n\n${inspectUsage}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.stdout(inspectUsage);
    return 0;
  }
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) {
    throw cofferError('CLI_E_USAGE', `expected exactly one MSP folder\n\n${inspectUsage}`);
  }
  const mspId = values['msp-id'];
  if (mspId === undefined || mspId.length === 0) {
    throw cofferError('CLI_E_USAGE', `--msp-id is required\n\n${inspectUsage}`);
  }
  const version =
    values['msp-version'] === undefined ? defaultMspVersion : parseVersion(values['msp-version']);
  let now = new Date();
  if (values.at !== undefined) {
    now = new Date(values.at);
    if (Number.isNaN(now.getTime())) {
      throw cofferError('CLI_E_USAGE', `--at ${values.at} is not an ISO-8601 time`);
    }
  }

  const outcome = await loadMspFolder(dir, { mspId, version, local: values.local, now });
  const report: Report = {
    mspId,
    setup: outcome.ok ? 'ok' : 'fail',
    ...(outcome.ok ? {} : { error: errorJson(outcome.error) }),
    warnings: [...(outcome.folder?.warnings ?? [])],
    identities: [],
  };
  for (const certPath of values.identity) {
    report.identities.push(await inspectIdentity(certPath, outcome, mspId));
  }
  const allValid = outcome.ok && report.identities.every((identity) => identity.valid);
  if (values.json) {
    io.stdout(JSON.stringify(report));
  } else {
    io.stdout(formatReport(report, version));
  }
  return allValid ? 0 : 1;
}

async function inspectIdentity(
  certPath: string,
  outcome: Awaited<ReturnType<typeof loadMspFolder>>,
  mspId: string,
): Promise<IdentityReport> {
  let pem: string;
  try {
    pem = await readFile(certPath, 'latin1');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    return {
      cert: certPath,
      valid: false,
      role: null,
      error: errorJson(
        cofferError('CLI_E_FILE_UNREADABLE', `${certPath} cannot be read (${code})`, {
          file: certPath,
        }),
      ),
    };
  }
  if (!outcome.ok) {
    return { cert: certPath, valid: false, role: null, error: errorJson(outcome.error) };
  }
  const identity = outcome.msp.deserializeIdentity(mspId, pem);
  if (!identity.ok) {
    return { cert: certPath, valid: false, role: null, error: errorJson(identity.error) };
  }
  const validation = outcome.msp.validate(identity.identity);
  return {
    cert: certPath,
    valid: validation.valid,
    role: validation.role,
    ...(validation.valid ? {} : { error: errorJson(validation.error) }),
  };
}

function formatReport(report: Report, version: MspVersion): string {
  const lines = [`MSP ${report.mspId} (MSP ${version}): setup ${report.setup}`];
  if (report.error !== undefined) {
    lines.push(
      `  ${report.error.code}: ${report.error.message}`,
      `  what to do: ${report.error.fix}`,
    );
  }
  for (const warning of report.warnings) lines.push(`  warning: ${warning}`);
  for (const identity of report.identities) {
    const role = identity.role === null ? '' : ` (${identity.role})`;
    lines.push(`${identity.valid ? 'valid  ' : 'INVALID'} ${identity.cert}${role}`);
    if (identity.error !== undefined)
      lines.push(`        ${identity.error.code}: ${identity.error.message}`);
  }
  return lines.join('\n');
}

const mspUsage = `Usage: coffer msp inspect DIR --msp-id ID [options]   (coffer msp inspect --help)`;

export const mspCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  if (sub === 'inspect') return inspect(rest, io);
  if (sub === undefined || sub === '--help' || sub === 'help') {
    io.stdout(mspUsage);
    return sub === undefined ? 2 : 0;
  }
  throw cofferError('CLI_E_USAGE', `unknown msp command "${sub}"\n\n${mspUsage}`);
};
