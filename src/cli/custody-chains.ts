// The chain a `coffer custody worker` talks to: coffer needs nothing more than the node; ethereum
// and bitcoin read a chain file (--chain-config) naming the node and the worker's own secrets
// (files, never on the command line). What the ledger governs — confirmation depth, ERC-20
// tokens — comes from the custody parameters, so the worker builds exactly what the app checks.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { createBitcoinChain } from '../custody/chains/bitcoin.js';
import type { BitcoinRpcAuth } from '../custody/chains/bitcoin-rpc.js';
import { bitcoinNetworks, type BitcoinNetworkName } from '../custody/chains/bitcoin-script.js';
import { createCofferChain } from '../custody/chains/coffer.js';
import {
  createEthereumChain,
  type EthereumTls,
  type SafeDeployment,
} from '../custody/chains/ethereum.js';
import type { ChainWorker, LedgerPort } from '../custody/chains/types.js';
import type { CustodyParams } from '../custody/params.js';
import { cofferError } from '../errors/index.js';

/** Largest chain file or secret file read, in bytes. */
export const chainConfigBytesMax = 64 * 1024;
const urlPattern = /^https?:\/\/[^\s]+$/;
const addressPattern = /^0x[0-9a-fA-F]{40}$/;
const privateKeyPattern = /^0x[0-9a-fA-F]{64}$/;
const pemPattern = /-----BEGIN [A-Z0-9 ]+-----/;
const hostnamePattern = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})$/;

export type OpenedChain = { readonly chain: ChainWorker; readonly close: () => void };

function invalid(file: string, field: string, what: string): never {
  throw cofferError('CLI_E_USAGE', `${file}: ${field} ${what}`, { file, field });
}

async function readSmall(file: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} cannot be read (${code})`, { file }, error);
  }
  if (Buffer.byteLength(text) > chainConfigBytesMax)
    throw cofferError('CLI_E_FILE_UNREADABLE', `${file} is over ${chainConfigBytesMax} bytes`, {
      file,
    });
  return text;
}

type Fields = Readonly<Record<string, unknown>>;

/** The fields of `json` (an object at `prefix` in the chain file: "tls." for its tls object). */
function reader(file: string, json: Fields, allowed: readonly string[], prefix = '') {
  for (const key of Object.keys(json))
    if (!allowed.includes(key))
      invalid(file, `${prefix}${key}`, `is not a field (expected ${allowed.join(', ')})`);
  const text = (field: string, pattern: RegExp, what: string): string => {
    const value = json[field];
    if (typeof value !== 'string' || !pattern.test(value))
      invalid(file, `${prefix}${field}`, `must be ${what}`);
    return value;
  };
  const optionalInteger = (field: string, min: number, max: number): number | undefined => {
    const value = json[field];
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
      invalid(file, `${prefix}${field}`, `must be a whole number from ${min} to ${max}`);
    return value;
  };
  /** A file named relative to the chain file, whole (at most chainConfigBytesMax). */
  const whole = async (field: string): Promise<string> => {
    const name = text(field, /^[^\0]+$/, 'a file name');
    return readSmall(path.resolve(path.dirname(file), name));
  };
  /** A file named relative to the chain file; its first line, trimmed. */
  const secret = async (field: string): Promise<string> =>
    ((await whole(field)).split('\n')[0] ?? '').trim();
  /** A PEM file named relative to the chain file. */
  const pem = async (field: string, what: string): Promise<string> => {
    const content = await whole(field);
    if (!pemPattern.test(content))
      invalid(file, `${prefix}${field}`, `must name a PEM file (${what})`);
    return content;
  };
  return { text, optionalInteger, secret, pem };
}

/**
 * The chain file's "tls": {"caFile","certFile","keyFile","servername"?}, PEM files relative to
 * the chain file: the client certificate a node behind mutual TLS demands (a Coffer node's
 * /v1/evm/rpc takes a member's TLS certificate).
 */
async function tlsOf(file: string, json: Fields, rpcUrl: string): Promise<EthereumTls | undefined> {
  const value = json['tls'];
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(file, 'tls', 'must be {"caFile","certFile","keyFile","servername"?} (PEM files)');
  if (!rpcUrl.startsWith('https://'))
    invalid(file, 'rpcUrl', 'must be an https URL when tls is given');
  const read = reader(
    file,
    value as Fields,
    ['caFile', 'certFile', 'keyFile', 'servername'],
    'tls.',
  );
  const servername = (value as Fields)['servername'];
  return {
    ca: await read.pem('caFile', "the node's TLS CA certificates"),
    cert: await read.pem('certFile', "the worker's TLS client certificate"),
    key: await read.pem('keyFile', "the worker's TLS client private key"),
    ...(servername === undefined
      ? {}
      : { servername: read.text('servername', hostnamePattern, 'a host name') }),
  };
}

async function chainFile(file: string): Promise<Fields> {
  let json: unknown;
  try {
    json = JSON.parse(await readSmall(file));
  } catch (error) {
    if (error instanceof SyntaxError) invalid(file, '(file)', 'is not JSON');
    throw error;
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    invalid(file, '(file)', 'must be a JSON object');
  return json as Fields;
}

/**
 * ethereum chain file: {"rpcUrl", "relayerKeyFile" (0x + 64 hex: pays gas, holds no custody
 * funds), "safe": {"singleton","factory","fallbackHandler"}, "startBlock"?, "pollMs"?,
 * "tls"?: {"caFile","certFile","keyFile","servername"?}}.
 */
async function openEthereum(
  file: string,
  params: CustodyParams,
  ledger: LedgerPort,
): Promise<OpenedChain> {
  const json = await chainFile(file);
  const read = reader(file, json, [
    'rpcUrl',
    'relayerKeyFile',
    'safe',
    'startBlock',
    'pollMs',
    'tls',
  ]);
  const rpcUrl = read.text('rpcUrl', urlPattern, 'an http(s) URL of a JSON-RPC node');
  const tls = await tlsOf(file, json, rpcUrl);
  const relayerKey = await read.secret('relayerKeyFile');
  if (!privateKeyPattern.test(relayerKey))
    invalid(file, 'relayerKeyFile', 'must hold a private key: 0x and 64 hex characters');
  const safeJson = json['safe'];
  if (typeof safeJson !== 'object' || safeJson === null || Array.isArray(safeJson))
    invalid(file, 'safe', 'must be {"singleton","factory","fallbackHandler"} (Safe 1.4.1)');
  const safeRead = reader(file, safeJson as Fields, ['singleton', 'factory', 'fallbackHandler']);
  const safe: SafeDeployment = {
    singleton: safeRead.text('singleton', addressPattern, 'an address (0x + 40 hex)'),
    factory: safeRead.text('factory', addressPattern, 'an address (0x + 40 hex)'),
    fallbackHandler: safeRead.text('fallbackHandler', addressPattern, 'an address (0x + 40 hex)'),
  };
  const startBlock = read.optionalInteger('startBlock', 0, Number.MAX_SAFE_INTEGER);
  const pollingMs = read.optionalInteger('pollMs', 10, 60_000);
  const governed = params.chains.ethereum;
  const chain = createEthereumChain({
    rpcUrl,
    relayerKey,
    safe,
    confirmations: governed.confirmations,
    tokens: governed.tokens,
    ledger,
    ...(startBlock === undefined ? {} : { startBlock }),
    ...(pollingMs === undefined ? {} : { pollingMs }),
    ...(tls === undefined ? {} : { tls }),
  });
  return {
    chain,
    close: () => {
      chain.close();
    },
  };
}

/**
 * bitcoin chain file: {"rpcUrl", "network" (mainnet, testnet, regtest, bcoin-regtest),
 * "rpcUser" + "rpcPasswordFile" (Bitcoin Core) or "apiKeyFile" (bcoin), "feeRateFallbackSatPerVb"?,
 * "feeRateMaxSatPerVb"?, "startHeight"?, "pollMs"?}.
 */
async function openBitcoin(
  file: string,
  params: CustodyParams,
  ledger: LedgerPort,
): Promise<OpenedChain> {
  const json = await chainFile(file);
  const read = reader(file, json, [
    'rpcUrl',
    'network',
    'rpcUser',
    'rpcPasswordFile',
    'apiKeyFile',
    'feeRateFallbackSatPerVb',
    'feeRateMaxSatPerVb',
    'startHeight',
    'pollMs',
  ]);
  const url = read.text('rpcUrl', urlPattern, 'an http(s) URL of a JSON-RPC node');
  const names = Object.keys(bitcoinNetworks);
  const network = read.text(
    'network',
    new RegExp(`^(?:${names.join('|')})$`),
    `one of ${names.join(', ')}`,
  ) as BitcoinNetworkName;
  let auth: BitcoinRpcAuth | undefined;
  if (json['apiKeyFile'] !== undefined) auth = { apiKey: await read.secret('apiKeyFile') };
  else if (json['rpcUser'] !== undefined)
    auth = {
      user: read.text('rpcUser', /^[^\s:]{1,256}$/, 'a user name without spaces or colons'),
      password: await read.secret('rpcPasswordFile'),
    };
  const fallback = read.optionalInteger('feeRateFallbackSatPerVb', 1, 10_000);
  const max = read.optionalInteger('feeRateMaxSatPerVb', 1, 10_000);
  const startHeight = read.optionalInteger('startHeight', 1, Number.MAX_SAFE_INTEGER);
  const pollMs = read.optionalInteger('pollMs', 10, 60_000);
  const chain = createBitcoinChain({
    rpc: { url, ...(auth === undefined ? {} : { auth }) },
    network,
    confirmations: params.chains.bitcoin.confirmations,
    // The app refuses a build over the governed cap: the worker waits for lower fees instead.
    feeMaxSat: BigInt(params.chains.bitcoin.feeMax),
    ledger,
    ...(fallback === undefined ? {} : { feeRateFallbackSatPerVb: fallback }),
    ...(max === undefined ? {} : { feeRateMaxSatPerVb: max }),
    ...(startHeight === undefined ? {} : { startHeight }),
    ...(pollMs === undefined ? {} : { pollMs }),
  });
  return {
    chain,
    close: () => {
      chain.close();
    },
  };
}

/** The chain worker of `chain`, with its chain file for ethereum and bitcoin. */
export async function openChain(
  chain: string,
  configFile: string | undefined,
  params: CustodyParams,
  ledger: LedgerPort,
): Promise<OpenedChain> {
  if (chain === 'coffer') {
    if (configFile !== undefined)
      throw cofferError('CLI_E_USAGE', '--chain-config is for ethereum and bitcoin, not coffer');
    return { chain: createCofferChain(ledger), close: () => undefined };
  }
  if (chain !== 'ethereum' && chain !== 'bitcoin')
    throw cofferError('CLI_E_USAGE', `--chain ${chain}: give coffer, ethereum or bitcoin`);
  if (configFile === undefined)
    throw cofferError(
      'CLI_E_USAGE',
      `--chain ${chain} needs --chain-config FILE (the node's URL and the worker's secrets; README: Custody on Ethereum and Bitcoin)`,
    );
  return chain === 'ethereum'
    ? openEthereum(configFile, params, ledger)
    : openBitcoin(configFile, params, ledger);
}
