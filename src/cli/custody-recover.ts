// `coffer custody recover prepare|execute --chain ethereum|bitcoin`: moving a wallet's funds
// without the ledger and without the HSM (issue 8), with the offline key and the service key.
// prepare reads the wallet's balance or coins from a node and writes a recovery request file
// (what `coffer custody offline sign` signs on the air-gapped machine); execute checks the
// signature files against the request and the wallet's keys, then sends the transaction. The
// chain work is in src/custody/chains/{ethereum,bitcoin}-recovery.ts; the runbook is
// docs/runbooks/custody-recovery.md. Secrets (node credentials, the relayer's key) are read from
// files only: an option that would carry one does not exist.
import { lstat, open } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import {
  executeBitcoinRecovery,
  parseBitcoinRecoveryRequest,
  prepareBitcoinRecovery,
  type BitcoinRecoveryRequest,
} from '../custody/chains/bitcoin-recovery.js';
import type { BitcoinRpcAuth, BitcoinRpcOptions } from '../custody/chains/bitcoin-rpc.js';
import {
  bitcoinNetworks,
  type BitcoinNetworkName,
  type WalletKeysHex,
} from '../custody/chains/bitcoin-script.js';
import {
  ethereumRecoveryFormat,
  executeEthereumRecovery,
  prepareEthereumRecovery,
  type EthereumRecoveryRequest,
  type RecoverySignature,
} from '../custody/chains/ethereum-recovery.js';
import { offlineFileBytesMax } from '../crypto/offline-key.js';
import { writeFileDurably } from '../crypto/sealed-file.js';
import { cofferError, isCofferError } from '../errors/index.js';
import type { Command, CommandIo } from './main.js';

/** Signature files one execute reads (a wallet has three keys; two are needed). */
export const recoverSignatureFilesMax = 3;

const usage = `Usage:
  coffer custody recover prepare --chain ethereum --out REQUEST.json --rpc-url URL
      --wallet-id ID --safe 0xSAFE --destination 0xADDRESS [--token 0xERC20] [--amount N] [--json]
  coffer custody recover prepare --chain bitcoin --out REQUEST.json --rpc-url URL --network NET
      [--api-key-file FILE | --rpc-user USER --rpc-password-file FILE]
      --wallet-id ID --keys-file KEYS.json --destination ADDRESS --fee-rate SAT_PER_VB
      [--amount SAT] [--json]
  coffer custody recover execute --chain ethereum --request REQUEST.json
      --signature OFFLINE.json --signature SERVICE.json --rpc-url URL --relayer-key-file FILE [--json]
  coffer custody recover execute --chain bitcoin --request REQUEST.json
      --signature OFFLINE.json --signature SERVICE.json --rpc-url URL --network NET
      [--api-key-file FILE | --rpc-user USER --rpc-password-file FILE] --keys-file KEYS.json [--json]

Moves a wallet's funds without the ledger and without the HSM, with 2 of its 3 keys (the offline
key and the service key). Runbook: docs/runbooks/custody-recovery.md.
  prepare  reads the wallet from the node and writes a request file (never over an existing
           file): withdrawalId, walletId, the digests to sign, the unsigned transaction and a
           one-line summary of what moves where. Have a second person check the summary and the
           destination, then sign the file with \`coffer custody offline sign\` on the air-gapped
           machine, and with the service key into a file {"digests","publicKey","signatures"}.
  execute  checks every signature file against the request (same digests, a key of the wallet,
           each signature valid, 2 different keys) before anything is sent, then sends the
           transaction: ethereum waits until it is mined; bitcoin until the node's mempool has it.
  --amount            ethereum: wei or token base units; bitcoin: sat (the rest comes back as
                      change). Default: everything (bitcoin: all confirmed coins, no change).
  --fee-rate          bitcoin fee rate in sat/vB (1 to 10000); the fee is in the summary.
  --network           mainnet, testnet, regtest (Bitcoin Core) or bcoin-regtest.
  --keys-file         the wallet's public keys: {"offline","service","platform":{"publicKey"}}, or
                      the wallet record the custody app's wallet query printed ({"wallet":{…}}).
  --api-key-file      bcoin's API key; --rpc-user + --rpc-password-file: Bitcoin Core's.
  --relayer-key-file  the private key (0x + 64 hex) of any account with ether for the gas.
  --json              print one JSON object
Secrets are read from files only (first line); there is no option that takes one inline.`;

function usageError(message: string) {
  return cofferError('CLI_E_USAGE', `${message}\n\n${usage}`);
}

const options = {
  chain: { type: 'string' },
  out: { type: 'string' },
  request: { type: 'string' },
  signature: { type: 'string', multiple: true },
  'rpc-url': { type: 'string' },
  'wallet-id': { type: 'string' },
  safe: { type: 'string' },
  destination: { type: 'string' },
  token: { type: 'string' },
  amount: { type: 'string' },
  'relayer-key-file': { type: 'string' },
  network: { type: 'string' },
  'api-key-file': { type: 'string' },
  'rpc-user': { type: 'string' },
  'rpc-password-file': { type: 'string' },
  'keys-file': { type: 'string' },
  'fee-rate': { type: 'string' },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
type Values = ReturnType<typeof parse>['values'];
type Option = keyof typeof options;

/** The options each action and chain reads (besides --chain, --json, --help). */
const bitcoinNode: readonly Option[] = [
  'rpc-url',
  'network',
  'api-key-file',
  'rpc-user',
  'rpc-password-file',
];
const accepted: Readonly<Record<string, readonly Option[]>> = {
  'prepare ethereum': ['out', 'rpc-url', 'wallet-id', 'safe', 'destination', 'token', 'amount'],
  'prepare bitcoin': [
    'out',
    ...bitcoinNode,
    'wallet-id',
    'keys-file',
    'destination',
    'fee-rate',
    'amount',
  ],
  'execute ethereum': ['request', 'signature', 'rpc-url', 'relayer-key-file'],
  'execute bitcoin': ['request', 'signature', ...bitcoinNode, 'keys-file'],
};

function parse(args: readonly string[]) {
  try {
    return parseArgs({ args: [...args], allowPositionals: true, options });
  } catch (error) {
    const message = (error as Error).message;
    const secretLike = /Unknown option '--[^']*(?:key|password|secret|pass)[^']*'/i.test(message);
    throw usageError(
      secretLike
        ? `${message.split('.')[0] ?? message}: secrets are read from files only (--api-key-file, --rpc-password-file, --relayer-key-file), never from the command line`
        : message,
    );
  }
}

function required(values: Values, flag: Option): string {
  const value = values[flag];
  if (typeof value !== 'string' || value.length === 0) throw usageError(`--${flag} is required`);
  return value;
}

function optional(values: Values, flag: Option): string | undefined {
  const value = values[flag];
  return typeof value === 'string' ? value : undefined;
}

/** A file named on the command line, at most `bytesMax` bytes. */
async function readText(file: string, what: string, bytesMax = offlineFileBytesMax) {
  try {
    const handle = await open(file, 'r');
    try {
      const info = await handle.stat();
      if (!info.isFile() || info.size > bytesMax)
        throw cofferError(
          'CLI_E_FILE_UNREADABLE',
          `${what} ${file} must be a regular file of at most ${bytesMax.toString()} bytes`,
          { file },
        );
      return await handle.readFile('utf8');
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
}

async function readJson(file: string, what: string): Promise<unknown> {
  const text = await readText(file, what);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw cofferError('CLI_E_FILE_UNREADABLE', `${what} ${file} is not JSON`, { file });
  }
}

/** A secret file's first line, trimmed; never printed. */
async function readSecret(file: string, what: string): Promise<string> {
  const first = ((await readText(file, what, 4096)).split('\n')[0] ?? '').trim();
  if (first === '')
    throw cofferError('CLI_E_FILE_UNREADABLE', `${what} ${file} is empty`, { file });
  return first;
}

function rpcUrl(values: Values): string {
  const value = required(values, 'rpc-url');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(`--rpc-url ${value}: give an http(s) URL of the node`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw usageError(`--rpc-url: give an http(s) URL, not ${url.protocol}`);
  if (url.username !== '' || url.password !== '')
    throw usageError(
      '--rpc-url holds credentials; put them in a file (--api-key-file, --rpc-password-file)',
    );
  return value;
}

function amountOf(values: Values): bigint | undefined {
  const value = optional(values, 'amount');
  if (value === undefined) return undefined;
  if (!/^[0-9]{1,78}$/.test(value) || BigInt(value) === 0n)
    throw usageError(`--amount ${value}: give a whole number above 0 (wei, token units or sat)`);
  return BigInt(value);
}

const ethAddress = /^0x[0-9a-fA-F]{40}$/;

function ethAddressOf(values: Values, flag: Option, mandatory: boolean): string | undefined {
  const value = mandatory ? required(values, flag) : optional(values, flag);
  if (value !== undefined && !ethAddress.test(value))
    throw usageError(`--${flag} ${value}: give an Ethereum address (0x + 40 hex)`);
  return value;
}

async function bitcoinRpcOf(values: Values): Promise<BitcoinRpcOptions> {
  const url = rpcUrl(values);
  const apiKeyFile = optional(values, 'api-key-file');
  const user = optional(values, 'rpc-user');
  const passwordFile = optional(values, 'rpc-password-file');
  if (apiKeyFile !== undefined && (user !== undefined || passwordFile !== undefined))
    throw usageError(
      'give --api-key-file (bcoin) or --rpc-user with --rpc-password-file, not both',
    );
  if ((user === undefined) !== (passwordFile === undefined))
    throw usageError('--rpc-user and --rpc-password-file go together');
  let auth: BitcoinRpcAuth | undefined;
  if (apiKeyFile !== undefined) auth = { apiKey: await readSecret(apiKeyFile, 'API key file') };
  else if (user !== undefined && passwordFile !== undefined) {
    if (!/^[^\s:]{1,256}$/.test(user))
      throw usageError('--rpc-user: a user name without spaces or colons');
    auth = { user, password: await readSecret(passwordFile, 'RPC password file') };
  }
  return { url, ...(auth === undefined ? {} : { auth }) };
}

function networkOf(values: Values): BitcoinNetworkName {
  const value = required(values, 'network');
  if (!Object.hasOwn(bitcoinNetworks, value))
    throw usageError(`--network ${value}: give one of ${Object.keys(bitcoinNetworks).join(', ')}`);
  return value as BitcoinNetworkName;
}

/**
 * The wallet's public keys from --keys-file: the keys object itself, a wallet record, or the
 * wallet query's answer `{wallet}`. A record must be a 2-of-3 bitcoin wallet.
 */
async function keysOf(
  values: Values,
): Promise<{ readonly keys: WalletKeysHex; readonly walletId: string | null }> {
  const file = required(values, 'keys-file');
  const json = await readJson(file, 'keys file');
  const bad = (what: string) => cofferError('CLI_E_USAGE', `keys file ${file}: ${what}`, { file });
  const record = (value: unknown): Readonly<Record<string, unknown>> | null =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Readonly<Record<string, unknown>>)
      : null;
  const top = record(json);
  if (top === null) throw bad('must be a JSON object');
  const wallet = record(top['wallet']) ?? (record(top['keys']) === null ? null : top);
  const keys = record(wallet?.['keys'] ?? top);
  if (wallet !== null) {
    const chain = wallet['chain'];
    const m = record(wallet['threshold'])?.['m'];
    if (chain !== undefined && chain !== 'bitcoin')
      throw bad(`the wallet is on ${JSON.stringify(chain)}, not bitcoin`);
    if (m !== undefined && m !== 2)
      throw bad(`the wallet is ${JSON.stringify(m)}-of-3; recovery is 2-of-3`);
  }
  const text = (value: unknown, field: string): string => {
    if (typeof value !== 'string' || !/^[0-9a-fA-F]{66,130}$/.test(value))
      throw bad(`${field} must be a public key in hex (SEC1)`);
    return value;
  };
  const walletId = wallet?.['id'];
  return {
    keys: {
      offline: text(keys?.['offline'], 'offline'),
      service: text(keys?.['service'], 'service'),
      platform: {
        publicKey: text(record(keys?.['platform'])?.['publicKey'], 'platform.publicKey'),
      },
    },
    walletId: typeof walletId === 'string' ? walletId : null,
  };
}

function parseSignature(json: unknown, file: string): RecoverySignature {
  const bad = () =>
    cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `signature file ${file} is not {"digests":[hex…],"publicKey":hex,"signatures":[hex…]} with one signature per digest`,
      { file },
    );
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad();
  const { digests, publicKey, signatures } = json as Readonly<Record<string, unknown>>;
  const hexList = (value: unknown): value is string[] =>
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((item) => typeof item === 'string' && /^(?:[0-9a-fA-F]{2}){1,80}$/.test(item));
  if (
    !hexList(digests) ||
    !hexList(signatures) ||
    digests.length !== signatures.length ||
    typeof publicKey !== 'string' ||
    !/^[0-9a-fA-F]{66,130}$/.test(publicKey)
  )
    throw bad();
  const lower = (list: readonly string[]) => list.map((item) => item.toLowerCase());
  return { digests: lower(digests), publicKey, signatures: lower(signatures) };
}

async function signaturesOf(values: Values): Promise<RecoverySignature[]> {
  const files = values.signature ?? [];
  if (files.length === 0)
    throw usageError('--signature is required: one file per key (offline, service)');
  if (files.length > recoverSignatureFilesMax)
    throw usageError(`give at most ${recoverSignatureFilesMax.toString()} --signature files`);
  const read: RecoverySignature[] = [];
  for (const file of files) read.push(parseSignature(await readJson(file, 'signature file'), file));
  return read;
}

function parseEthereumRequest(json: unknown, file: string): EthereumRecoveryRequest {
  const request = (typeof json === 'object' && json !== null ? json : {}) as Readonly<
    Record<string, unknown>
  >;
  const { withdrawalId, walletId, digests, unsignedTx, summary } = request;
  if (
    request['format'] !== ethereumRecoveryFormat ||
    typeof withdrawalId !== 'string' ||
    typeof walletId !== 'string' ||
    !Array.isArray(digests) ||
    digests.length !== 1 ||
    typeof digests[0] !== 'string' ||
    !/^[0-9a-f]{64}$/.test(digests[0]) ||
    typeof unsignedTx !== 'string' ||
    typeof summary !== 'string'
  )
    throw cofferError(
      'KEYSTORE_E_REQUEST_INVALID',
      `request file ${file} is not an ethereum recovery request (${ethereumRecoveryFormat}: withdrawalId, walletId, one digest, unsignedTx, summary)`,
      { file },
    );
  return {
    format: ethereumRecoveryFormat,
    withdrawalId,
    walletId,
    digests: [digests[0]],
    unsignedTx,
    summary,
  };
}

/** The request file, of the chain --chain names. */
async function requestOf(
  values: Values,
  chain: 'ethereum' | 'bitcoin',
): Promise<EthereumRecoveryRequest | BitcoinRecoveryRequest> {
  const file = required(values, 'request');
  const json = await readJson(file, 'request file');
  const format = (json as { format?: unknown } | null)?.format;
  const expected = chain === 'ethereum' ? ethereumRecoveryFormat : 'coffer-bitcoin-recovery/1';
  if (format !== expected)
    throw usageError(
      `request file ${file} is ${typeof format === 'string' ? format : 'no recovery request'}, not a ${chain} recovery request (${expected}); check --chain and --request`,
    );
  return chain === 'ethereum'
    ? parseEthereumRequest(json, file)
    : parseBitcoinRecoveryRequest(json);
}

async function writeRequest(out: string, request: object): Promise<void> {
  try {
    await writeFileDurably(out, Buffer.from(`${JSON.stringify(request, null, 2)}\n`), {
      exclusive: true,
    });
  } catch (error) {
    if (isCofferError(error)) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `--out ${out} cannot be written (${code})`, {
      file: out,
    });
  }
}

/** Refuses an existing --out before the node is asked anything. */
async function freshOut(values: Values): Promise<string> {
  const out = required(values, 'out');
  const exists = await lstat(out).then(
    () => true,
    () => false,
  );
  if (exists)
    throw cofferError(
      'KEYSTORE_E_FILE_EXISTS',
      `--out ${out} already exists; choose another path (a recovery request is never overwritten)`,
      { file: out },
    );
  return out;
}

async function prepare(
  values: Values,
  chain: 'ethereum' | 'bitcoin',
  io: CommandIo,
): Promise<number> {
  const out = await freshOut(values);
  const walletId = required(values, 'wallet-id');
  const amount = amountOf(values);
  let request: EthereumRecoveryRequest | BitcoinRecoveryRequest;
  let note = '';
  if (chain === 'ethereum') {
    const token = ethAddressOf(values, 'token', false);
    request = await prepareEthereumRecovery({
      rpcUrl: rpcUrl(values),
      walletId,
      safe: ethAddressOf(values, 'safe', true) ?? '',
      destination: ethAddressOf(values, 'destination', true) ?? '',
      ...(token === undefined ? {} : { token }),
      ...(amount === undefined ? {} : { amount }),
    });
  } else {
    const feeRate = required(values, 'fee-rate');
    if (!/^[0-9]{1,5}(?:\.[0-9]{1,3})?$/.test(feeRate))
      throw usageError(`--fee-rate ${feeRate}: give sat/vB, e.g. 12 or 2.5`);
    const network = networkOf(values);
    const rpc = await bitcoinRpcOf(values);
    const { keys, walletId: fileWalletId } = await keysOf(values);
    if (fileWalletId !== null && fileWalletId !== walletId)
      throw usageError(`the keys file is wallet ${fileWalletId}, not --wallet-id ${walletId}`);
    const bitcoin = await prepareBitcoinRecovery({
      rpc,
      network,
      walletId,
      keys,
      destination: required(values, 'destination'),
      feeRateSatPerVb: Number(feeRate),
      ...(amount === undefined ? {} : { amount }),
    });
    request = bitcoin;
    if (bitcoin.coinsLeft.count > 0)
      note = `; ${bitcoin.coinsLeft.count.toString()} coins (${bitcoin.coinsLeft.sat} sat) stay in the wallet`;
  }
  await writeRequest(out, request);
  if (values.json) {
    io.stdout(JSON.stringify({ out, chain, ...request }));
  } else {
    io.stdout(
      `recovery request ${request.withdrawalId} written to ${out} (${request.digests.length.toString()} digests to sign): ${request.summary}${note}`,
    );
  }
  return 0;
}

async function execute(
  values: Values,
  chain: 'ethereum' | 'bitcoin',
  io: CommandIo,
): Promise<number> {
  const request = await requestOf(values, chain);
  const signatures = await signaturesOf(values);
  let txid: string;
  let state: string;
  if (chain === 'ethereum') {
    const url = rpcUrl(values);
    const relayerKey = await readSecret(required(values, 'relayer-key-file'), 'relayer key file');
    if (!/^0x[0-9a-fA-F]{64}$/.test(relayerKey))
      throw usageError('--relayer-key-file must hold a private key: 0x and 64 hex characters');
    txid = await executeEthereumRecovery({
      rpcUrl: url,
      relayerKey,
      request: request as EthereumRecoveryRequest,
      signatures,
    });
    state = 'mined';
  } else {
    const network = networkOf(values);
    const rpc = await bitcoinRpcOf(values);
    const { keys, walletId } = await keysOf(values);
    if (walletId !== null && walletId !== request.walletId)
      throw usageError(`the keys file is wallet ${walletId}, the request's is ${request.walletId}`);
    txid = await executeBitcoinRecovery({
      rpc,
      network,
      request: request as BitcoinRecoveryRequest,
      keys,
      signatures,
    });
    state = "in the node's mempool; follow its confirmations";
  }
  if (values.json) {
    io.stdout(
      JSON.stringify({
        chain,
        txid,
        withdrawalId: request.withdrawalId,
        walletId: request.walletId,
        summary: request.summary,
      }),
    );
  } else {
    io.stdout(`sent ${txid} (${state}): ${request.summary}`);
  }
  return 0;
}

export const recoverCommand: Command = async (args, io) => {
  const { values, positionals } = parse(args);
  const [action, extra] = positionals;
  if (values.help || action === undefined) {
    io.stdout(usage);
    return values.help ? 0 : 2;
  }
  if (extra !== undefined) throw usageError(`unexpected argument ${extra}`);
  if (action !== 'prepare' && action !== 'execute')
    throw usageError(`unknown recover command "${action}"; give prepare or execute`);
  const chain = values.chain;
  if (chain !== 'ethereum' && chain !== 'bitcoin')
    throw usageError(
      chain === undefined
        ? '--chain is required (ethereum or bitcoin)'
        : `--chain ${chain}: give ethereum or bitcoin`,
    );
  const allowed = accepted[`${action} ${chain}`] ?? [];
  for (const [name, value] of Object.entries(values) as [Option, unknown][]) {
    if (value === undefined || ['chain', 'json', 'help'].includes(name)) continue;
    if (!allowed.includes(name))
      throw usageError(`--${name} is not an option of recover ${action} --chain ${chain}`);
  }
  return action === 'prepare' ? prepare(values, chain, io) : execute(values, chain, io);
};
