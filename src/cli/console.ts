// `coffer console keystore`: a console key store (decision 0026) from an MSP signing identity's
// folder, for signing in to the web console with the key unlocked in the page.
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createConsoleKeyStore } from '../crypto/console-keystore.js';
import { passphraseBytesMax, readSecretFile, writeFileDurably } from '../crypto/sealed-file.js';
import { cofferError } from '../errors/index.js';
import { kdfCost } from './custody-offline.js';
import type { Command } from './main.js';

const usage = `Usage:
  coffer console keystore --msp-dir DIR --msp-id MSPID --out FILE --passphrase-file FILE
                          [--kdf-cost N] [--json]

Seals the signing identity of an MSP folder (signcerts/ and keystore/, as cryptogen and Fabric
CAs write them) into a console key store FILE, under the passphrase on the first line of the
passphrase file (at least 12 characters). Open the node's console (https://<node>:<console
port>/console/), choose FILE and type the passphrase: the page unlocks the key and signs in the
browser; the key never goes to the node.
  --kdf-cost N  scrypt cost, log2 N (default 17; lower only for tests)`;

/** Largest certificate or key file read, in bytes. */
const pemFileBytesMax = 64 * 1024;

function usageError(message: string) {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

/** The one file of an MSP folder's subfolder (signcerts/, keystore/). */
async function onlyFile(dir: string, sub: string): Promise<string> {
  let names: string[];
  try {
    names = (await readdir(path.join(dir, sub))).sort();
  } catch (error) {
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      `${path.join(dir, sub)} cannot be read: is --msp-dir a signing identity's MSP folder?`,
      { file: path.join(dir, sub) },
      error,
    );
  }
  const [name] = names;
  if (name === undefined || names.length > 1) {
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      `${path.join(dir, sub)} must hold exactly one file (it holds ${names.length})`,
      { file: path.join(dir, sub) },
    );
  }
  return path.join(dir, sub, name);
}

export const consoleCommand: Command = async (args, io) => {
  const [sub, ...rest] = args;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        'msp-dir': { type: 'string' },
        'msp-id': { type: 'string' },
        out: { type: 'string' },
        'passphrase-file': { type: 'string' },
        'kdf-cost': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help || sub === undefined || sub === '--help' || sub === '-h') {
    io.stdout(usage);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'keystore') throw usageError(`unknown: console ${sub}`);
  const mspDir = values['msp-dir'];
  const mspId = values['msp-id'];
  const out = values.out;
  const passphraseFile = values['passphrase-file'];
  if (mspDir === undefined || mspId === undefined || out === undefined) {
    throw usageError('console keystore needs --msp-dir, --msp-id and --out');
  }
  if (passphraseFile === undefined) throw usageError('console keystore needs --passphrase-file');
  const cost = kdfCost(values['kdf-cost'], usage);
  const certFile = await onlyFile(mspDir, 'signcerts');
  const keyFile = await onlyFile(mspDir, 'keystore');
  const file = await createConsoleKeyStore({
    mspId,
    certPem: await readSecretFile(certFile, pemFileBytesMax, 'certificate'),
    keyPem: await readSecretFile(keyFile, pemFileBytesMax, 'private key'),
    passphrase: await readSecretFile(passphraseFile, passphraseBytesMax, 'passphrase'),
    ...(cost === undefined ? {} : { kdfLog2N: cost }),
  });
  await writeFileDurably(out, Buffer.from(`${JSON.stringify(file, null, 2)}\n`), {
    exclusive: true,
  });
  io.stdout(
    values.json
      ? JSON.stringify({ out, mspId, certId: file.certId })
      : `console key store written to ${out} (${mspId}, certificate ${file.certId.slice(0, 16)}…)\nOpen the node's console, choose this file and type the passphrase to sign in.`,
  );
  return 0;
};
