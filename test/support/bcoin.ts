// A real Bitcoin regtest full node for tests: bcoin 1.0.2 (npm devDependency; its leveldown is
// overridden to 6.1.1 so that it builds on Node 20) as a child process on 127.0.0.1, chain in
// memory, no P2P listener, no peers, no wallet. Its JSON-RPC speaks Bitcoin Core's
// methods (getblockcount, generatetoaddress, sendrawtransaction, getrawtransaction,
// invalidateblock, ...); its REST API lists an address's coins (GET /coin/address/:addr, with
// --index-address). Regtest addresses are bech32 with the prefix `rb`. No vitest imports.
//
// bcoin 1.0.2's mempool has no BIP-125 replacement: with --replace-by-fee it accepts
// transactions that signal RBF, but refuses a second spend of an input already spent in the
// mempool (bad-txns-inputs-spent). See docs/decisions/0023-bitcoin-custody.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/ordering/index.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const bcoinBin = path.join(repoRoot, 'node_modules', 'bcoin', 'bin', 'node');

/** Blocks after which bcoin's regtest enforces segwit (BIP 9 deployment, 144-block windows). */
export const regtestSegwitHeight = 432;
const startTimeoutMs = 20_000;
const stopTimeoutMs = 5_000;
const rpcTimeoutMs = 15_000;
const broadcastWaitMs = 5_000;
const logCharsMax = 64 * 1024;

export type BcoinNode = {
  readonly rpcUrl: string;
  /** The HTTP API key (basic auth password, any user name) of the JSON-RPC and REST API. */
  readonly apiKey: string;
  /** A Bitcoin Core-style JSON-RPC call; throws with bcoin's message on an RPC error. */
  readonly rpc: <T>(method: string, params?: readonly unknown[]) => Promise<T>;
  /** GET on bcoin's REST API (e.g. `/coin/address/<addr>`). */
  readonly rest: <T>(route: string) => Promise<T>;
  /**
   * sendrawtransaction, then checks the mempool took it: bcoin's sendrawtransaction answers the
   * txid even when its mempool refuses the transaction. Throws with the reason bcoin logged.
   */
  readonly broadcast: (txHex: string) => Promise<string>;
  /** Mines `blocks` blocks paying `address`; returns their hashes. */
  readonly mine: (blocks: number, address: string) => Promise<readonly string[]>;
  /** The node's stdout and stderr so far (last 64 KiB), for failure messages. */
  readonly log: () => string;
  readonly stop: () => Promise<void>;
};

/** A regtest coin as bcoin's REST API reports it (values in satoshis). */
export type BcoinCoin = {
  readonly hash: string;
  readonly index: number;
  readonly value: number;
  readonly script: string;
  readonly address: string;
  readonly height: number;
  readonly coinbase: boolean;
};

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) =>
    child.once('exit', () => {
      resolve();
    }),
  );
}

export async function startBcoin(): Promise<BcoinNode> {
  const prefix = await mkdtemp(path.join(tmpdir(), 'coffer-bcoin-'));
  const port = await freePort();
  // bcoin insists on dialling at least one peer: give it a port nothing listens on.
  const noPeerPort = await freePort();
  const apiKey = 'coffer-test';
  const child = spawn(
    process.execPath,
    [
      bcoinBin,
      '--network=regtest',
      '--memory=true',
      `--prefix=${prefix}`,
      '--workers=false',
      '--listen=false',
      `--only=127.0.0.1:${noPeerPort}`,
      '--no-wallet=true',
      '--http-host=127.0.0.1',
      `--http-port=${port}`,
      `--api-key=${apiKey}`,
      '--index-tx=true',
      '--index-address=true',
      '--replace-by-fee=true',
      '--log-file=false',
      '--log-level=warning',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const append = (chunk: Buffer) => {
    output = (output + chunk.toString('utf8')).slice(-logCharsMax);
  };
  child.stdout.on('data', append);
  child.stderr.on('data', append);

  const rpcUrl = `http://127.0.0.1:${port}/`;
  const authorization = `Basic ${Buffer.from(`x:${apiKey}`).toString('base64')}`;
  const rpc = async <T>(method: string, params: readonly unknown[] = []): Promise<T> => {
    const response = await fetch(rpcUrl, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify({ method, params, id: 1 }),
      signal: AbortSignal.timeout(rpcTimeoutMs),
    });
    const body = (await response.json()) as {
      result: T;
      error: { message: string; code: number } | null;
    };
    if (body.error !== null) {
      throw new Error(`bcoin ${method}: ${body.error.message} (code ${body.error.code})`);
    }
    return body.result;
  };
  const rest = async <T>(route: string): Promise<T> => {
    const response = await fetch(new URL(route, rpcUrl), {
      headers: { authorization },
      signal: AbortSignal.timeout(rpcTimeoutMs),
    });
    if (!response.ok) throw new Error(`bcoin GET ${route}: HTTP ${response.status}`);
    return (await response.json()) as T;
  };

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      await exited(child);
      clearTimeout(timer);
    }
    await rm(prefix, { recursive: true, force: true });
  };

  const deadline = Date.now() + startTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`bcoin exited with ${child.exitCode} before it answered:\n${output}`);
    }
    try {
      await rpc<number>('getblockcount');
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`bcoin did not answer on ${rpcUrl} in ${startTimeoutMs} ms:\n${output}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const broadcast = async (txHex: string) => {
    const logFrom = output.length;
    const txid = await rpc<string>('sendrawtransaction', [txHex]);
    // bcoin answers before its mempool has looked at the transaction; a refusal is logged.
    const deadline = Date.now() + broadcastWaitMs;
    for (;;) {
      if ((await rpc<string[]>('getrawmempool')).includes(txid)) return txid;
      const logged = output.slice(logFrom);
      if (/verification fail|orphan/i.test(logged) || Date.now() > deadline) {
        throw new Error(`bcoin's mempool refused ${txid}: ${logged.trim() || 'no reason logged'}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  return {
    rpcUrl,
    apiKey,
    rpc,
    rest,
    broadcast,
    mine: (blocks, address) => rpc<string[]>('generatetoaddress', [blocks, address]),
    log: () => output,
    stop,
  };
}
