// An anvil (Foundry's local Ethereum node) for tests: bound to 127.0.0.1 on a free port, its
// ten default accounts funded from the fixed test mnemonic, no output. `stop` kills it; call it
// in afterAll (it is safe to call twice). Snapshots, reverts and mining go through anvil's
// JSON-RPC extensions.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { freePort } from '../../src/ordering/index.js';

const anvilBin = path.resolve('node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
/** How long anvil may take to answer its first request. */
const anvilStartMsMax = 15_000;
const anvilPollMs = 50;

/** anvil's default test mnemonic: its accounts 0..9 hold 10 000 ETH each. */
export const anvilMnemonic = 'test test test test test test test test test test test junk';
/** anvil's default chain id. */
export const anvilChainId = 31337;
/** Private keys of anvil's default accounts 0..3 (derived from the mnemonic, m/44'/60'/0'/0/i). */
export const anvilKeys = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
] as const;

export type Anvil = {
  readonly url: string;
  readonly port: number;
  readonly rpc: (method: string, params?: readonly unknown[]) => Promise<unknown>;
  /** evm_snapshot: an id to revert to (a snapshot is used up by its revert). */
  readonly snapshot: () => Promise<string>;
  readonly revert: (id: string) => Promise<void>;
  /** Mines `blocks` empty blocks (evm_mine, one at a time). */
  readonly mine: (blocks?: number) => Promise<void>;
  readonly stop: () => Promise<void>;
};

async function rpcCall(url: string, method: string, params: readonly unknown[]) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const json = (await response.json()) as { result?: unknown; error?: { message: string } };
  if (json.error !== undefined) throw new Error(`${method}: ${json.error.message}`);
  return json.result;
}

/** Starts anvil; `args` are added to its command line (e.g. ['--block-time', '1']). */
export async function startAnvil(args: readonly string[] = []): Promise<Anvil> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(
    anvilBin,
    ['--host', '127.0.0.1', '--port', String(port), '--silent', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4096);
  });
  const state = { exited: false };
  const exit = once(child, 'exit').then(() => {
    state.exited = true;
  });
  const stop = async () => {
    if (!state.exited) {
      child.kill('SIGKILL');
      await exit;
    }
  };
  const deadline = Date.now() + anvilStartMsMax;
  for (;;) {
    try {
      await rpcCall(url, 'eth_chainId', []);
      break;
    } catch (error) {
      if (state.exited || Date.now() > deadline) {
        await stop();
        throw new Error(`anvil did not answer on ${url}: ${String(error)} ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, anvilPollMs));
    }
  }
  const rpc = (method: string, params: readonly unknown[] = []) => rpcCall(url, method, params);
  return {
    url,
    port,
    rpc,
    snapshot: async () => String(await rpc('evm_snapshot')),
    revert: async (id) => {
      if ((await rpc('evm_revert', [id])) !== true) throw new Error(`evm_revert ${id} failed`);
    },
    mine: async (blocks = 1) => {
      for (let i = 0; i < blocks; i += 1) await rpc('evm_mine');
    },
    stop,
  };
}
