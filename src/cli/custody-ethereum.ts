// `coffer custody ethereum deploy-safe --rpc-url U --key-file F --out safe.json`: deploys the
// Safe 1.4.1 contracts custody wallets use (SafeL2 singleton, proxy factory, fallback handler)
// from the npm artifacts on a development chain (anvil, a private network) and writes their
// addresses in the shape of a chain file's "safe" field. On a public chain use Safe's canonical
// deployments instead.
import { open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Wallet } from 'ethers';
import {
  deploySafeContracts,
  ethereumProvider,
  type EthereumTls,
} from '../custody/chains/ethereum.js';
import { cofferError } from '../errors/index.js';
import { readSecretFile } from '../crypto/index.js';
import type { Command } from './main.js';

const usage = `Usage:
  coffer custody ethereum deploy-safe --rpc-url URL --key-file FILE --out FILE [--json]
                                      [--tls-ca FILE --tls-cert FILE --tls-key FILE
                                       [--tls-servername NAME]]

Deploys Safe 1.4.1 (SafeL2 singleton, SafeProxyFactory, CompatibilityFallbackHandler) from the
@safe-global/safe-contracts artifacts with the funded account whose private key (0x + 64 hex)
is the first line of --key-file, and writes {"singleton","factory","fallbackHandler"} to --out
(never overwritten): the "safe" field of a worker's ethereum chain file. For development chains;
on a public chain use Safe's canonical deployments.

--tls-ca, --tls-cert and --tls-key (PEM files, all three) reach a node that demands a client
certificate over https, such as a Coffer node's https://HOST:PORT/v1/evm/rpc (a member's TLS
certificate; the account must be bound with evm/bind). --tls-servername is the host name in
the node's certificate when the URL names it otherwise.`;

const privateKeyPattern = /^0x[0-9a-fA-F]{64}$/;
const urlPattern = /^https?:\/\/\S+$/;
/** Longest key file read, in bytes. */
const keyFileBytesMax = 4096;
/** Longest TLS file read (a CA bundle may hold several certificates), in bytes. */
const tlsFileBytesMax = 64 * 1024;
const hostnamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/;

function usageError(message: string) {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

/** The client TLS of --tls-ca, --tls-cert, --tls-key and --tls-servername; none without them. */
async function tlsOf(
  options: {
    readonly ca: string | undefined;
    readonly cert: string | undefined;
    readonly key: string | undefined;
    readonly servername: string | undefined;
  },
  rpcUrl: string,
): Promise<EthereumTls | undefined> {
  const { ca, cert, key, servername } = options;
  if (ca === undefined && cert === undefined && key === undefined) {
    if (servername !== undefined) throw usageError('--tls-servername goes with --tls-ca');
    return undefined;
  }
  if (ca === undefined || cert === undefined || key === undefined)
    throw usageError('--tls-ca, --tls-cert and --tls-key go together');
  if (!rpcUrl.startsWith('https://')) throw usageError('--rpc-url must be https with --tls-ca');
  if (servername !== undefined && !hostnamePattern.test(servername))
    throw usageError('--tls-servername must be a host name');
  return {
    ca: await readSecretFile(ca, tlsFileBytesMax, 'TLS CA'),
    cert: await readSecretFile(cert, tlsFileBytesMax, 'TLS certificate'),
    key: await readSecretFile(key, tlsFileBytesMax, 'TLS key'),
    ...(servername === undefined ? {} : { servername }),
  };
}

const deploySafe: Command = async (args, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      options: {
        'rpc-url': { type: 'string' },
        'key-file': { type: 'string' },
        out: { type: 'string' },
        'tls-ca': { type: 'string' },
        'tls-cert': { type: 'string' },
        'tls-key': { type: 'string' },
        'tls-servername': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    throw usageError((error as Error).message);
  }
  if (values.help) {
    io.stdout(usage);
    return 0;
  }
  const rpcUrl = values['rpc-url'];
  const keyFile = values['key-file'];
  const out = values.out;
  if (rpcUrl === undefined || !urlPattern.test(rpcUrl))
    throw usageError('--rpc-url must be the http(s) URL of a JSON-RPC node');
  if (keyFile === undefined) throw usageError('--key-file is required');
  if (out === undefined) throw usageError('--out is required');
  const tls = await tlsOf(
    {
      ca: values['tls-ca'],
      cert: values['tls-cert'],
      key: values['tls-key'],
      servername: values['tls-servername'],
    },
    rpcUrl,
  );
  const key = (await readSecretFile(keyFile, keyFileBytesMax, 'deployer key')).trim();
  if (!privateKeyPattern.test(key))
    throw usageError(
      `${keyFile} must hold a private key (0x and 64 hex characters) on its first line`,
    );
  // Created before the deployment: an existing file stops it before any gas is spent.
  let handle;
  try {
    handle = await open(out, 'wx');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      code === 'EEXIST'
        ? `${out} exists; it is never overwritten`
        : `${out} cannot be created (${code})`,
      { file: out },
      error,
    );
  }
  const provider = ethereumProvider(rpcUrl, undefined, tls);
  try {
    const deployed = await deploySafeContracts(new Wallet(key, provider));
    await handle.writeFile(`${JSON.stringify(deployed, null, 2)}\n`);
    await handle.sync();
    io.stdout(
      values.json
        ? JSON.stringify({ event: 'deployed', ...deployed, file: out })
        : `Safe 1.4.1 deployed: singleton ${deployed.singleton}, factory ${deployed.factory}, fallback handler ${deployed.fallbackHandler}; written to ${out}`,
    );
    return 0;
  } finally {
    await handle.close();
    provider.destroy();
  }
};

export const ethereumCommand: Command = async (args, io) => {
  const [name, ...rest] = args;
  if (name === 'deploy-safe') return deploySafe(rest, io);
  if (name === undefined || name === '--help' || name === '-h') {
    io.stdout(usage);
    return name === undefined ? 2 : 0;
  }
  throw usageError(`coffer custody ethereum ${name}: the command is deploy-safe`);
};
