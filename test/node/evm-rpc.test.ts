// Ethereum JSON-RPC on a real node in-process (engine + mutual-TLS API, issue 9): unmodified
// ethers.js deploys OpenZeppelin's ERC-20 (compiled by solc), transfers tokens, reads its
// events, and handles reverts, both refused by eth_estimateGas and mined with status 0. Raw
// JSON-RPC shows the refusals (unbound account, nonce gaps, bad parameters) with their codes.
import {
  Contract,
  ContractFactory,
  FetchRequest,
  Wallet,
  isError,
  type ContractTransactionResponse,
  type JsonRpcProvider,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultChainId } from '../../src/evm/index.js';
import { cofferToken } from '../support/erc20.js';
import { rejectionOf, startEvmNode, tlsConnection, type EvmTestNode } from '../support/evm-node.js';

let node: EvmTestNode;
let provider: JsonRpcProvider;
const alice = new Wallet(`0x${'a1'.repeat(32)}`);
const bob = new Wallet(`0x${'b2'.repeat(32)}`);
let token: Contract;

/** JSON-RPC as any client sends it, for what ethers would not send. */
async function rpc(body: unknown): Promise<Record<string, unknown>> {
  const request: FetchRequest = tlsConnection(node.rpcUrl, node.agent);
  request.body = body as Record<string, unknown>;
  const response = await request.send();
  return response.bodyJson as Record<string, unknown>;
}

async function rpcError(
  method: string,
  params: unknown[],
): Promise<{ code: number; message: string }> {
  const answer = await rpc({ jsonrpc: '2.0', id: 1, method, params });
  expect(answer['result'], `${method} should fail`).toBeUndefined();
  return answer['error'] as { code: number; message: string };
}

beforeAll(async () => {
  node = await startEvmNode();
  provider = node.provider;
}, 60_000);

afterAll(async () => {
  await node.close();
});

describe('Ethereum JSON-RPC with ethers.js', () => {
  it('reports the chain', async () => {
    const network = await provider.getNetwork();
    expect(network.chainId).toBe(BigInt(defaultChainId));
    expect(await provider.getBlockNumber()).toBe(node.engine.position().logPosition);
    const fees = await provider.getFeeData();
    expect(fees.gasPrice).toBe(0n);
  });

  it('refuses a transaction from an account bound to no identity, saying how to bind it', async () => {
    const signer = bob.connect(provider);
    const error = await rejectionOf(
      signer.sendTransaction({ to: alice.address, value: 0n, gasLimit: 21_000n, gasPrice: 0n }),
    );
    expect(String(error)).toMatch(/EVM_E_ACCOUNT_UNBOUND/);
  });

  it('deploys the ERC-20 and transfers with events', async () => {
    await node.bind(alice);
    const compiled = cofferToken();
    const factory = new ContractFactory(
      compiled.abi as never,
      compiled.bytecode,
      alice.connect(provider),
    );
    const deployed = await factory.deploy(1_000_000n);
    await deployed.waitForDeployment();
    token = deployed as unknown as Contract;
    const address = await token.getAddress();
    expect(await provider.getCode(address)).not.toBe('0x');
    expect(await token.getFunction('name')()).toBe('Coffer Token');
    expect(await token.getFunction('balanceOf')(alice.address)).toBe(1_000_000n);

    const sent = (await token.getFunction('transfer')(
      bob.address,
      1234n,
    )) as ContractTransactionResponse;
    const receipt = await sent.wait();
    expect(receipt?.status).toBe(1);
    expect(receipt?.type).toBe(0); // ethers sends legacy transactions when the base fee is 0
    expect(receipt?.logs).toHaveLength(1);
    expect(await token.getFunction('balanceOf')(bob.address)).toBe(1234n);
    expect(await token.getFunction('balanceOf')(alice.address)).toBe(1_000_000n - 1234n);

    const events = await token.queryFilter(
      token.filters['Transfer']?.(alice.address, bob.address) ?? 'Transfer',
      0,
    );
    expect(events).toHaveLength(1);
    const [event] = events;
    expect(event && 'args' in event ? event.args.map(String) : []).toEqual([
      alice.address,
      bob.address,
      '1234',
    ]);
    expect(event?.transactionHash).toBe(sent.hash);
    const block = await provider.getBlock(receipt?.blockNumber ?? -1);
    expect(block?.transactions).toContain(sent.hash);
    expect(block?.hash).toBe(receipt?.blockHash);
    const byHash = await provider.getBlock(receipt?.blockHash ?? '');
    expect(byHash?.number).toBe(receipt?.blockNumber);
    const tx = await provider.getTransaction(sent.hash);
    expect(tx?.from).toBe(alice.address);
    expect(tx?.blockNumber).toBe(receipt?.blockNumber);
  });

  it('handles a revert: refused when estimated, status 0 when sent with its own gas', async () => {
    const transfer = token.getFunction('transfer');
    const estimated = await rejectionOf(transfer(bob.address, 10n ** 12n));
    expect(isError(estimated, 'CALL_EXCEPTION')).toBe(true);
    if (!isError(estimated, 'CALL_EXCEPTION')) throw new Error('not a call exception');
    // The revert data is the contract's custom error, as the contract's interface reads it.
    expect(token.interface.parseError(estimated.data ?? '0x')?.name).toBe(
      'ERC20InsufficientBalance',
    );
    // A static call decodes it itself (eth_call).
    const called = await rejectionOf(transfer.staticCall(bob.address, 10n ** 12n));
    expect(isError(called, 'CALL_EXCEPTION') && called.revert?.name).toBe(
      'ERC20InsufficientBalance',
    );

    const sent = (await transfer(bob.address, 10n ** 12n, {
      gasLimit: 200_000n,
    })) as ContractTransactionResponse;
    const mined = await rejectionOf(sent.wait());
    expect(isError(mined, 'CALL_EXCEPTION')).toBe(true);
    const receipt = await provider.getTransactionReceipt(sent.hash);
    expect(receipt?.status).toBe(0);
    // The nonce moved on: the next transfer goes through.
    const next = (await transfer(bob.address, 1n)) as ContractTransactionResponse;
    expect((await next.wait())?.status).toBe(1);
  });
});

describe('Ethereum JSON-RPC reads', () => {
  it('filters logs by address and topics, and answers fee history and block lookups', async () => {
    const address = (await token.getAddress()).toLowerCase();
    const transferTopic = token.interface.getEvent('Transfer')?.topicHash ?? '';
    const word = (account: string) => `0x${account.slice(2).toLowerCase().padStart(64, '0')}`;
    const logs = async (filter: Record<string, unknown>) =>
      (await rpc({ jsonrpc: '2.0', id: 1, method: 'eth_getLogs', params: [filter] }))['result'] as {
        topics: string[];
        logIndex: string;
        blockNumber: string;
      }[];
    const all = await logs({ fromBlock: '0x0', address });
    // The mint, alice → bob 1234, the revert (no log), alice → bob 1.
    expect(all.map((log) => log.topics[0])).toEqual([transferTopic, transferTopic, transferTopic]);
    const fromAlice = await logs({
      fromBlock: '0x0',
      address: [address],
      topics: [transferTopic, word(alice.address)],
    });
    expect(fromAlice).toHaveLength(2);
    // Only the mint went to alice (from the zero address).
    const toAlice = await logs({ fromBlock: '0x0', topics: [null, null, word(alice.address)] });
    expect(toAlice.map((log) => log.topics[1])).toEqual([`0x${'00'.repeat(32)}`]);
    const elsewhere = await logs({ fromBlock: '0x0', address: `0x${'00'.repeat(20)}` });
    expect(elsewhere).toEqual([]);

    const history = (await provider.send('eth_feeHistory', ['0x4', 'latest', [50]])) as {
      reward: unknown[];
    };
    expect(history).toMatchObject({ baseFeePerGas: ['0x0', '0x0', '0x0', '0x0', '0x0'] });
    expect(history.reward).toHaveLength(4);
    expect(await provider.send('eth_getBlockByHash', [`0x${'ab'.repeat(32)}`, false])).toBeNull();
    const latest = await provider.getBlock('latest');
    expect(latest?.number).toBeGreaterThan(0);
    expect((await provider.getBlock(latest?.hash ?? ''))?.number).toBe(latest?.number);
    // Storage slot of the ERC-20's total supply (OpenZeppelin 5: slot 2).
    expect(BigInt(await provider.getStorage(address, 2))).toBe(1_000_000n);
  });
});

describe('Ethereum JSON-RPC refusals', () => {
  it('refuses nonce gaps and stale nonces (no queue of future transactions)', async () => {
    const nonce = await provider.getTransactionCount(alice.address, 'pending');
    const ahead = await alice.signTransaction({
      type: 0,
      chainId: defaultChainId,
      gasPrice: 0n,
      gasLimit: 21_000n,
      nonce: nonce + 1,
      to: bob.address,
    });
    const gap = await rpcError('eth_sendRawTransaction', [ahead]);
    expect(gap.message).toMatch(/EVM_E_TX_INVALID: nonce too high/);
    const stale = await alice.signTransaction({
      type: 0,
      chainId: defaultChainId,
      gasPrice: 0n,
      gasLimit: 21_000n,
      nonce: 0,
      to: bob.address,
    });
    expect((await rpcError('eth_sendRawTransaction', [stale])).message).toMatch(/nonce too low/);
  });

  it('answers malformed requests with JSON-RPC errors and the Coffer code', async () => {
    expect((await rpcError('eth_getBalance', ['0x1234'])).code).toBe(-32602);
    expect((await rpcError('eth_getBalance', ['0x1234'])).message).toMatch(/EVM_E_RPC_INVALID/);
    expect((await rpcError('eth_mining', [])).code).toBe(-32601);
    expect((await rpcError('eth_getLogs', [{ fromBlock: '0x0', toBlock: '0xfffffff' }])).code).toBe(
      -32000,
    );
    const batch = (await rpc([
      { jsonrpc: '2.0', id: 1, method: 'eth_chainId' },
      { jsonrpc: '2.0', id: 2, method: 'net_version' },
    ])) as unknown as { id: number; result: string }[];
    expect(batch.map((item) => item.result)).toEqual([
      `0x${defaultChainId.toString(16)}`,
      String(defaultChainId),
    ]);
  });
});
