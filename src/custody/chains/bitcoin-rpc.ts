// A small client of a Bitcoin node (issue 8, decision 0023), the IO edge of the Bitcoin worker:
// Bitcoin Core's JSON-RPC methods (which bcoin answers too) over HTTP with basic auth, one call
// per request, a timeout and a cap on the answer's size per call, and a stable error
// (CUSTODY_E_CHAIN_NODE) that names the method and never the credentials. Coins of an address
// sit behind a narrower seam (`UtxoSource`): Bitcoin Core keeps no address index, bcoin's REST
// API has one (GET /coin/address/<address>).
import { cofferError } from '../../errors/index.js';
import type { BitcoinBlockSource } from './bitcoin-deposits.js';
import type { ListedCoin } from './bitcoin-psbt.js';

/** How long one call may take, ms, answer included. */
export const bitcoinRpcTimeoutMsDefault = 30_000;
/** Serialised size of the largest block (BIP 141: 4 M weight units, at least 1 WU a byte). */
export const bitcoinBlockBytesMax = 4_000_000;
/** Bytes of one answer: a block as hex (`getblock <hash> false`) and its JSON envelope. */
export const bitcoinRpcResponseBytesMax = 2 * bitcoinBlockBytesMax + 64 * 1024;
/** JSON-RPC code of Bitcoin Core for an unknown transaction, block or mempool entry. */
const rpcInvalidAddressOrKey = -5;
/** Bitcoin Core: sendrawtransaction of a transaction that is in a block already. */
const rpcVerifyAlreadyInChain = -27;
const satPerBtc = 100_000_000;

/** Credentials: Bitcoin Core's rpcuser/rpcpassword (or its cookie), or bcoin's API key. */
export type BitcoinRpcAuth =
  { readonly user: string; readonly password: string } | { readonly apiKey: string };

export type BitcoinRpcOptions = {
  /** http(s)://host:port/ of the node's JSON-RPC (bcoin: its HTTP API, REST on the same port). */
  readonly url: string;
  readonly auth?: BitcoinRpcAuth;
  readonly timeoutMs?: number;
  readonly responseBytesMax?: number;
};

/** What went wrong in a call, in the error's `details.kind`. */
export type BitcoinRpcFailure =
  'unreachable' | 'timeout' | 'auth' | 'http' | 'too_large' | 'malformed' | 'rpc' | 'closed';

/** A transaction the node knows, in its mempool (no block) or in a block. */
export type BitcoinTxInfo = { readonly txid: string; readonly blockHash: string | null };

export type BitcoinRpc = {
  /** One JSON-RPC call; throws CUSTODY_E_CHAIN_NODE (details: method, kind, rpcCode, status). */
  readonly call: (method: string, params?: readonly unknown[]) => Promise<unknown>;
  /** GET on the node's REST API (bcoin), the same limits and errors. */
  readonly rest: (route: string) => Promise<unknown>;
  /** getblockcount / getblockhash / getblock <hash> false: what the deposit scan reads. */
  readonly blocks: BitcoinBlockSource;
  /**
   * getrawtransaction (verbose): in the mempool (blockHash null) or in a block of the best chain;
   * null when the node knows no such transaction (Bitcoin Core needs -txindex for mined ones).
   */
  readonly transaction: (txid: string) => Promise<BitcoinTxInfo | null>;
  /** getblockheader: the block's height and confirmations (< 1: not on the best chain). */
  readonly blockHeader: (
    hash: string,
  ) => Promise<{ readonly height: number; readonly confirmations: number } | null>;
  /** Whether an output is unspent in the chain's UTXO set (gettxout, mempool not counted). */
  readonly unspentInChain: (txid: string, vout: number) => Promise<boolean>;
  /**
   * sendrawtransaction. Bitcoin Core answers a refusal as an RPC error; bcoin answers the txid
   * whatever its mempool then decides (poll `transaction`). A transaction already in a block
   * (Core's -27) resolves with its txid.
   */
  readonly sendRawTransaction: (txHex: string, txid: string) => Promise<string>;
  /** estimatesmartfee in sat/vB; null when the node has no estimate (regtest, a young node). */
  readonly estimateFeeRate: (targetBlocks: number) => Promise<number | null>;
  /** Aborts calls in flight and refuses new ones. */
  readonly close: () => void;
};

/** A coin (unspent output) paying an address, as a UtxoSource lists it. */
export type BitcoinCoin = ListedCoin;

/**
 * The unspent outputs paying an address (the narrow seam of coin listing): confirmed ones, and
 * the node's mempool view as it has one. bcoin: REST /coin/address (bcoinUtxoSource). A Bitcoin
 * Core deployment plugs in `scantxoutset` or a watch-only wallet's `listunspent` (decision 0023).
 */
export type UtxoSource = {
  readonly coinsOf: (address: string) => Promise<readonly BitcoinCoin[]>;
};

function nodeError(
  method: string,
  kind: BitcoinRpcFailure,
  message: string,
  extra: Readonly<Record<string, unknown>> = {},
  cause?: unknown,
) {
  return cofferError('CUSTODY_E_CHAIN_NODE', message, { method, kind, ...extra }, cause);
}

const isHash = (v: unknown): v is string => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
const isHeight = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isHex = (v: unknown): v is string => typeof v === 'string' && /^(?:[0-9a-f]{2})+$/.test(v);
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Whether a call failed because the node knows no such transaction, block or entry. */
export function isNotFound(error: unknown): boolean {
  const details = (error as { details?: { kind?: unknown; rpcCode?: unknown; message?: unknown } })
    .details;
  if (details?.kind !== 'rpc') return false;
  // bcoin answers "not found" with the generic code -1 and a message.
  return (
    details.rpcCode === rpcInvalidAddressOrKey ||
    /not found|not in mempool|no such/i.test(String(details.message))
  );
}

function rpcErrorCode(error: unknown): unknown {
  return (error as { details?: { rpcCode?: unknown } }).details?.rpcCode;
}

/** The body of a response, at most `limit` bytes; throws past it without reading on. */
async function readLimited(response: Response, limit: number, method: string): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? Number.NaN);
  const tooLarge = () =>
    nodeError(
      method,
      'too_large',
      `the node's answer to ${method} is over ${limit} bytes; raise responseBytesMax if the node is right`,
      { limit },
    );
  if (declared > limit) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = (await reader.read()) as {
      done: boolean;
      value?: Uint8Array;
    };
    if (done || value === undefined) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A client of one node. Credentials go in the Authorization header only, never in errors. */
export function createBitcoinRpc(options: BitcoinRpcOptions): BitcoinRpc {
  const timeoutMs = options.timeoutMs ?? bitcoinRpcTimeoutMsDefault;
  const responseBytesMax = options.responseBytesMax ?? bitcoinRpcResponseBytesMax;
  const url = new URL(options.url);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw cofferError(
      'APP_E_INVALID_ARGS',
      `the Bitcoin node URL must be http(s), not ${url.protocol}`,
    );
  if (url.username !== '' || url.password !== '')
    throw cofferError(
      'APP_E_INVALID_ARGS',
      'put the Bitcoin node credentials in the auth option, not in the URL (they would show in logs)',
    );
  const node = url.host;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const auth = options.auth;
  if (auth !== undefined) {
    const [user, password] = 'apiKey' in auth ? ['x', auth.apiKey] : [auth.user, auth.password];
    headers['authorization'] =
      `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;
  }
  const closing = new AbortController();
  const closed = () => closing.signal.aborted;
  let nextId = 1;

  /** One HTTP exchange; the answer's JSON (or null for an empty body) and its status. */
  const exchange = async (
    method: string,
    target: URL,
    init: { readonly method: 'GET' | 'POST'; readonly body?: string },
  ): Promise<{ status: number; json: unknown }> => {
    if (closed())
      throw nodeError(method, 'closed', `the Bitcoin worker is closed; ${method} not sent`);
    const signal = AbortSignal.any([closing.signal, AbortSignal.timeout(timeoutMs)]);
    let response: Response;
    let text: string;
    try {
      response = await fetch(target, { ...init, headers, signal, redirect: 'error' });
      text = await readLimited(response, responseBytesMax, method);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'CUSTODY_E_CHAIN_NODE') throw error;
      if (closed()) throw nodeError(method, 'closed', `the Bitcoin worker closed during ${method}`);
      if (signal.aborted)
        throw nodeError(
          method,
          'timeout',
          `the Bitcoin node ${node} did not answer ${method} within ${timeoutMs} ms; check it is running and not overloaded`,
          { timeoutMs },
          error,
        );
      throw nodeError(
        method,
        'unreachable',
        `cannot reach the Bitcoin node ${node} for ${method} (${(error as Error).message}); check the url option and that the node runs`,
        {},
        error,
      );
    }
    if (response.status === 401 || response.status === 403)
      throw nodeError(
        method,
        'auth',
        `the Bitcoin node ${node} refused the credentials (HTTP ${response.status}); check the auth option (bcoin: its API key)`,
        { status: response.status },
      );
    if (text === '') return { status: response.status, json: null };
    try {
      return { status: response.status, json: JSON.parse(text) as unknown };
    } catch (error) {
      throw nodeError(
        method,
        response.ok ? 'malformed' : 'http',
        `the Bitcoin node ${node} answered ${method} with HTTP ${response.status} and no JSON; is the url its RPC port?`,
        { status: response.status },
        error,
      );
    }
  };

  const call = async (method: string, params: readonly unknown[] = []): Promise<unknown> => {
    const id = nextId;
    nextId += 1;
    const body = JSON.stringify({ jsonrpc: '1.0', id, method, params });
    // Bitcoin Core answers RPC errors with HTTP 500 (404 for an unknown method) and a JSON body.
    const { status, json } = await exchange(method, url, { method: 'POST', body });
    const answer = json as { result?: unknown; error?: unknown; id?: unknown } | null;
    if (answer === null || typeof answer !== 'object' || !('result' in answer || 'error' in answer))
      throw nodeError(
        method,
        status >= 200 && status < 300 ? 'malformed' : 'http',
        `the Bitcoin node ${node} answered ${method} with HTTP ${status} and no JSON-RPC result`,
        { status },
      );
    const error = answer.error as { code?: unknown; message?: unknown } | null | undefined;
    if (error !== null && error !== undefined) {
      const message = typeof error.message === 'string' ? error.message.slice(0, 300) : '';
      throw nodeError(
        method,
        'rpc',
        `the Bitcoin node ${node} refused ${method}: ${message} (code ${String(error.code)})`,
        { rpcCode: error.code, message },
      );
    }
    return answer.result;
  };

  const rest = async (route: string): Promise<unknown> => {
    const target = new URL(route, url);
    const { status, json } = await exchange(`GET ${target.pathname}`, target, { method: 'GET' });
    if (status < 200 || status >= 300)
      throw nodeError(
        `GET ${target.pathname}`,
        'http',
        `the Bitcoin node ${node} answered GET ${target.pathname} with HTTP ${status}`,
        { status },
      );
    return json;
  };

  const expect = <T>(method: string, value: unknown, ok: (v: unknown) => v is T): T => {
    if (!ok(value))
      throw nodeError(
        method,
        'malformed',
        `the Bitcoin node ${node} answered ${method} with ${JSON.stringify(value ?? null).slice(0, 80)}; is it a Bitcoin Core-compatible node?`,
      );
    return value;
  };

  const blocks: BitcoinBlockSource = {
    getBlockCount: async () => expect('getblockcount', await call('getblockcount'), isHeight),
    getBlockHash: async (height) =>
      expect('getblockhash', await call('getblockhash', [height]), isHash),
    getBlockHex: async (hash) => expect('getblock', await call('getblock', [hash, false]), isHex),
  };

  const transaction = async (txid: string): Promise<BitcoinTxInfo | null> => {
    let answer: unknown;
    try {
      answer = await call('getrawtransaction', [txid, true]);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    const info = expect(
      'getrawtransaction',
      answer,
      (v): v is Record<string, unknown> => isRecord(v) && v['txid'] === txid,
    );
    // Core omits blockhash for a mempool transaction, bcoin answers null.
    const blockHash = info['blockhash'];
    return { txid, blockHash: isHash(blockHash) ? blockHash : null };
  };

  const blockHeader = async (
    hash: string,
  ): Promise<{ readonly height: number; readonly confirmations: number } | null> => {
    let answer: unknown;
    try {
      answer = await call('getblockheader', [hash, true]);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw error;
    }
    return expect(
      'getblockheader',
      answer,
      (v): v is { height: number; confirmations: number } =>
        isRecord(v) && isHeight(v['height']) && Number.isSafeInteger(v['confirmations']),
    );
  };

  const unspentInChain = async (txid: string, vout: number): Promise<boolean> =>
    (await call('gettxout', [txid, vout, false])) !== null;

  const sendRawTransaction = async (txHex: string, txid: string): Promise<string> => {
    try {
      return expect<string>(
        'sendrawtransaction',
        await call('sendrawtransaction', [txHex]),
        isHash,
      );
    } catch (error) {
      if (rpcErrorCode(error) === rpcVerifyAlreadyInChain) return txid;
      throw error;
    }
  };

  const estimateFeeRate = async (targetBlocks: number): Promise<number | null> => {
    let answer: unknown;
    try {
      answer = await call('estimatesmartfee', [targetBlocks]);
    } catch (error) {
      // A node without an estimator says so as an RPC error (bcoin: "Fee estimation not
      // available."); unreachable, timeout and the like still throw.
      if ((error as { details?: { kind?: unknown } }).details?.kind === 'rpc') return null;
      throw error;
    }
    // Core: {feerate (BTC/kvB), errors, blocks}, no feerate without an estimate; bcoin: {fee: -1}.
    const { feerate, fee } = (answer ?? {}) as { feerate?: unknown; fee?: unknown };
    const btcPerKvb = typeof feerate === 'number' ? feerate : fee;
    if (typeof btcPerKvb !== 'number' || !Number.isFinite(btcPerKvb) || btcPerKvb <= 0) return null;
    return (btcPerKvb * satPerBtc) / 1000;
  };

  return {
    call,
    rest,
    blocks,
    transaction,
    blockHeader,
    unspentInChain,
    sendRawTransaction,
    estimateFeeRate,
    close: () => {
      closing.abort();
    },
  };
}

/** A coin as bcoin's REST API lists it (GET /coin/address/<address>). */
type BcoinCoinJson = {
  readonly hash: unknown;
  readonly index: unknown;
  readonly value: unknown;
  readonly height: unknown;
  readonly coinbase: unknown;
};

/**
 * bcoin's address index (`--index-address`): confirmed coins not spent in its mempool, and
 * mempool coins (height -1).
 */
export function bcoinUtxoSource(rpc: Pick<BitcoinRpc, 'rest'>): UtxoSource {
  return {
    coinsOf: async (address) => {
      const route = `coin/address/${encodeURIComponent(address)}`;
      const answer = await rpc.rest(route);
      if (!Array.isArray(answer))
        throw nodeError(
          `GET /${route}`,
          'malformed',
          `bcoin answered GET /${route} with no list of coins; run bcoin with --index-address`,
        );
      return answer.map((item: BcoinCoinJson, i): BitcoinCoin => {
        const { hash, index, value, height, coinbase } = item;
        if (
          typeof hash !== 'string' ||
          !/^[0-9a-f]{64}$/.test(hash) ||
          !Number.isSafeInteger(index) ||
          !Number.isSafeInteger(value) ||
          (value as number) < 0 ||
          !Number.isSafeInteger(height) ||
          typeof coinbase !== 'boolean'
        )
          throw nodeError(
            `GET /${route}`,
            'malformed',
            `bcoin's coin ${i} of ${address} is not {hash, index, value, height, coinbase}`,
          );
        return {
          txid: hash,
          vout: index as number,
          value: BigInt(value as number),
          height: (height as number) < 0 ? null : (height as number),
          coinbase,
        };
      });
    },
  };
}
