// `coffer custody offline keygen|sign`: the cold key of a 2-of-3 wallet, on an air-gapped machine.
// keygen writes an encrypted single-key file and prints its public key (give that to the
// custody app when the wallet is created); sign reads a request file exported from the custody
// system ({withdrawalId, walletId, digests}) and writes a signature file to carry back.
// `coffer custody` dispatches through `custodySubcommands`: another group of custody commands
// is one more line there.
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { cofferError, isCofferError } from '../errors/index.js';
import { checkCurve, keyCurves } from '../crypto/keys.js';
import {
  createOfflineKey,
  offlineFileBytesMax,
  openOfflineKey,
  parseOfflineSignRequest,
  signOfflineRequest,
} from '../crypto/offline-key.js';
import {
  passphraseBytesMax,
  readSecretFile,
  scryptLog2NDefault,
  scryptLog2NMax,
  scryptLog2NMin,
  writeFileDurably,
} from '../crypto/sealed-file.js';
import type { Command, CommandIo } from './main.js';

const custodyUsage = `Usage: coffer custody offline keygen|sign ...
Run \`coffer custody offline --help\` for the offline (cold) key commands.`;

const offlineUsage = `Usage:
  coffer custody offline keygen --out KEY.json --passphrase-file FILE [--curve secp256k1|P-256] [--json]
  coffer custody offline sign --key KEY.json --request REQUEST.json --out SIGNATURE.json
                              --passphrase-file FILE [--json]

For the air-gapped machine that holds a wallet's offline key (one of its 2-of-3 keys).
  keygen  makes a key (default curve secp256k1) and writes it sealed under the passphrase
          (scrypt, AES-256-GCM); prints the public key for the wallet. Never overwrites a file.
  sign    signs the digests of a request file {"withdrawalId","walletId","digests":[…]} (a
          Bitcoin withdrawal has one per input; "digest" for one is read too) and writes
          {"withdrawalId","walletId","digests","curve","publicKey","signatures"} (signatures:
          hex of r‖s, 64 bytes, low-S, in the digests' order). Check the withdrawal's amount and
          destination in the custody system before you sign: digests alone do not show them.
  --passphrase-file FILE  the passphrase, on the first line (at least 12 characters)
  --kdf-cost N            scrypt cost log2(N) for keygen, ${scryptLog2NMin} to ${scryptLog2NMax} (default ${scryptLog2NDefault})
  --json                  print one JSON object`;

function usageError(message: string, usage: string) {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

function parse(args: readonly string[]) {
  try {
    return parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        out: { type: 'string' },
        curve: { type: 'string', default: 'secp256k1' },
        key: { type: 'string' },
        request: { type: 'string' },
        'passphrase-file': { type: 'string' },
        'kdf-cost': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    });
  } catch (error) {
    throw usageError((error as Error).message, offlineUsage);
  }
}

function required(value: string | undefined, flag: string): string {
  if (value === undefined || value.length === 0) {
    throw usageError(`${flag} is required`, offlineUsage);
  }
  return value;
}

/** A JSON file named on the command line, at most offlineFileBytesMax bytes. */
async function readJson(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    const handle = await open(file, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > offlineFileBytesMax) {
        throw cofferError(
          'CLI_E_FILE_UNREADABLE',
          `${what} ${file} must be a regular file of at most ${offlineFileBytesMax} bytes`,
          { file },
        );
      }
      text = await handle.readFile('utf8');
    } finally {
      await handle.close();
    }
  } catch (error) {
    if (isCofferError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${what} ${file} cannot be read (${code})`, {
      file,
    });
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw cofferError(
      what === 'request file' ? 'KEYSTORE_E_REQUEST_INVALID' : 'KEYSTORE_E_FILE_INVALID',
      `${what} ${file} is not JSON`,
      { file },
    );
  }
}

/** `--kdf-cost`: scrypt's log2 N for a new sealed file (undefined: the default). */
export function kdfCost(value: string | undefined, usage = offlineUsage): number | undefined {
  if (value === undefined) return undefined;
  const cost = Number(value);
  if (!Number.isInteger(cost) || cost < scryptLog2NMin || cost > scryptLog2NMax) {
    throw usageError(
      `--kdf-cost ${value}: give a whole number from ${scryptLog2NMin} to ${scryptLog2NMax}`,
      usage,
    );
  }
  return cost;
}

async function keygen(values: ReturnType<typeof parse>['values'], io: CommandIo): Promise<number> {
  const out = required(values.out, '--out');
  const passphraseFile = required(values['passphrase-file'], '--passphrase-file');
  let curve;
  try {
    curve = checkCurve(values.curve);
  } catch {
    throw usageError(`--curve ${values.curve}: use one of ${keyCurves.join(', ')}`, offlineUsage);
  }
  const passphrase = await readSecretFile(passphraseFile, passphraseBytesMax, 'passphrase');
  const cost = kdfCost(values['kdf-cost']);
  const file = await createOfflineKey({
    curve,
    passphrase,
    ...(cost === undefined ? {} : { kdfLog2N: cost }),
  });
  await writeFileDurably(out, Buffer.from(`${JSON.stringify(file, null, 2)}\n`), {
    exclusive: true,
  });
  if (values.json) {
    io.stdout(JSON.stringify({ out, curve, publicKey: file.publicKey }));
  } else {
    io.stdout(
      `offline key written to ${out} (${curve}, sealed under the passphrase)\npublic key: ${file.publicKey}\nGive the public key to the custody system as the wallet's offline key; keep ${out} and the passphrase on this machine.`,
    );
  }
  return 0;
}

async function sign(values: ReturnType<typeof parse>['values'], io: CommandIo): Promise<number> {
  const keyFile = required(values.key, '--key');
  const requestFile = required(values.request, '--request');
  const out = required(values.out, '--out');
  const passphraseFile = required(values['passphrase-file'], '--passphrase-file');
  // The request is checked before the passphrase is used: a bad request costs no scrypt.
  const request = parseOfflineSignRequest(await readJson(requestFile, 'request file'));
  const keyJson = await readJson(keyFile, 'key file');
  const passphrase = await readSecretFile(passphraseFile, passphraseBytesMax, 'passphrase');
  const key = await openOfflineKey(keyJson, passphrase);
  const signature = await signOfflineRequest(key, request);
  await writeFileDurably(out, Buffer.from(`${JSON.stringify(signature, null, 2)}\n`), {
    exclusive: true,
  });
  if (values.json) {
    io.stdout(JSON.stringify({ out, ...signature }));
  } else {
    io.stdout(
      `signed withdrawal ${request.withdrawalId} of wallet ${request.walletId}\n  digests:    ${request.digests.join('\n              ')}\n  public key: ${key.publicKey}\n  signatures: ${signature.signatures.length}\nwritten to ${out}; carry it back to the custody system.`,
    );
  }
  return 0;
}

export const offlineCommand: Command = async (args, io) => {
  const { values, positionals } = parse(args);
  const [action] = positionals;
  if (values.help || action === undefined) {
    io.stdout(offlineUsage);
    return values.help ? 0 : 2;
  }
  if (positionals.length > 1) {
    throw usageError(`unexpected argument ${positionals[1] ?? ''}`, offlineUsage);
  }
  if (action === 'keygen') return keygen(values, io);
  if (action === 'sign') return sign(values, io);
  throw usageError(`unknown offline command "${action}"`, offlineUsage);
};

/** `coffer custody SUBCOMMAND ...`: one entry per group of custody commands. */
export const custodySubcommands: Record<string, () => Promise<Command>> = {
  offline: () => Promise.resolve(offlineCommand),
  worker: async () => (await import('./custody-worker.js')).workerCommand,
  recover: async () => (await import('./custody-recover.js')).recoverCommand,
  ethereum: async () => (await import('./custody-ethereum.js')).ethereumCommand,
};

export const custodyCommand: Command = async (args, io) => {
  const [name, ...rest] = args;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout(`${custodyUsage}\nGroups: ${Object.keys(custodySubcommands).join(', ')}`);
    return name === undefined ? 2 : 0;
  }
  const load = custodySubcommands[name];
  if (load === undefined) {
    throw usageError(
      `unknown custody command "${name}"; groups: ${Object.keys(custodySubcommands).join(', ')}`,
      custodyUsage,
    );
  }
  return (await load())(rest, io);
};
