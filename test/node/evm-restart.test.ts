// The EVM's state across a node restart (issue 9): a node that deployed OpenZeppelin's ERC-20
// and ran transfers is stopped and started again on the same data folder; recovery replays the
// ledger's batches (fresh VMs and caches) and answers the same code, balances, receipts and
// nonces, and the next transfer goes on from there.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Interface, Wallet, getCreateAddress } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import { bindingMessage, defaultChainId } from '../../src/evm/index.js';
import { handleRpc, type EvmNode } from '../../src/evm/rpc.js';
import type { Engine } from '../../src/node/engine.js';
import { cofferToken } from '../support/erc20.js';
import { startEvmEngine } from '../support/evm-node.js';
import { org1Material, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
const token = new Interface(cofferToken().abi as never);
const alice = new Wallet(`0x${'a7'.repeat(32)}`);
const bob = `0x${'b0'.repeat(20)}`;
const tokenAddress = getCreateAddress({ from: alice.address, nonce: 0 });

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-evm-restart-'));
  org1 = await org1Material(work);
}, 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const start = () => startEvmEngine(work, org1);

async function call(evm: EvmNode, method: string, params: unknown[]): Promise<unknown> {
  const answer = (await handleRpc(evm, { jsonrpc: '2.0', id: 1, method, params })) as {
    result?: unknown;
    error?: { message: string };
  };
  if (answer.error !== undefined) throw new Error(`${method}: ${answer.error.message}`);
  return answer.result;
}

/** Relays a transfer of `amount` to bob and waits until the node has run it. */
async function transfer(engine: Engine, evm: EvmNode, nonce: number, amount: bigint) {
  const raw = await alice.signTransaction({
    type: 0,
    chainId: defaultChainId,
    nonce,
    gasPrice: 0n,
    gasLimit: 3_000_000n,
    ...(nonce === 0
      ? { data: `${cofferToken().bytecode}${token.encodeDeploy([1_000_000n]).slice(2)}` }
      : { to: tokenAddress, data: token.encodeFunctionData('transfer', [bob, amount]) }),
  });
  const hash = String(await call(evm, 'eth_sendRawTransaction', [raw]));
  for (let i = 0; i < 200; i += 1) {
    const receipt = await call(evm, 'eth_getTransactionReceipt', [hash]);
    if (receipt !== null) return receipt as { status: string; blockNumber: string };
    await engine.idle();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`no receipt for ${hash}`);
}

const balanceOf = async (evm: EvmNode, who: string) =>
  BigInt(
    String(
      await call(evm, 'eth_call', [
        { to: tokenAddress, data: token.encodeFunctionData('balanceOf', [who]) },
        'latest',
      ]),
    ),
  );

describe('EVM state across a restart', () => {
  it('answers the same after recovery and goes on from there', async () => {
    const first = await start();
    const message = bindingMessage(
      defaultChainId,
      alice.address,
      'Org1MSP',
      org1.user.identity.certRef,
    );
    const bind = await signEnvelope({
      app: 'evm',
      action: 'bind',
      args: { address: alice.address, signature: await alice.signMessage(message) },
      ...org1.user,
    });
    const submitted = await first.engine.submit(bind.envelope);
    expect(submitted.ok).toBe(true);
    expect((await first.engine.waitFor(bind.txId, 10_000)).status).toBe('Committed');
    expect((await transfer(first.engine, first.evm, 0, 0n)).status).toBe('0x1');
    const sent = await transfer(first.engine, first.evm, 1, 300n);
    expect(sent.status).toBe('0x1');
    const before = {
      code: await call(first.evm, 'eth_getCode', [tokenAddress, 'latest']),
      bob: await balanceOf(first.evm, bob),
      nonce: await call(first.evm, 'eth_getTransactionCount', [alice.address, 'latest']),
      block: await call(first.evm, 'eth_getBlockByNumber', [sent.blockNumber, false]),
    };
    expect(before.bob).toBe(300n);
    await first.engine.stop();

    const second = await start();
    try {
      expect(await call(second.evm, 'eth_getCode', [tokenAddress, 'latest'])).toBe(before.code);
      expect(await balanceOf(second.evm, bob)).toBe(300n);
      expect(await call(second.evm, 'eth_getTransactionCount', [alice.address, 'latest'])).toBe(
        before.nonce,
      );
      expect(await call(second.evm, 'eth_getBlockByNumber', [sent.blockNumber, false])).toEqual(
        before.block,
      );
      expect((await transfer(second.engine, second.evm, 2, 50n)).status).toBe('0x1');
      expect(await balanceOf(second.evm, bob)).toBe(350n);
    } finally {
      await second.engine.stop();
    }
  });
});
