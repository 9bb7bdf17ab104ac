// viem against a Coffer node's Ethereum JSON-RPC (issue 9), unmodified: its http transport
// over the node's mutual TLS (an undici dispatcher with the client's certificate), a chain
// defined for Coffer's chain id. It deploys OpenZeppelin's ERC-20 (solc), transfers, reads the
// events back, and decodes a revert from a simulation.
import { Agent as UndiciAgent } from 'undici';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
  type Abi,
  type Hex,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { Wallet } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultChainId } from '../../src/evm/index.js';
import { cofferToken } from '../support/erc20.js';
import { rejectionOf, startEvmNode, type EvmTestNode } from '../support/evm-node.js';

let node: EvmTestNode;
let dispatcher: UndiciAgent;
const key: Hex = `0x${'c4'.repeat(32)}`;
const account = privateKeyToAccount(key);
const receiver = `0x${'0d'.repeat(20)}` as const;

beforeAll(async () => {
  node = await startEvmNode();
  await node.bind(new Wallet(key));
  dispatcher = new UndiciAgent({
    connect: {
      ca: node.tls.ca,
      cert: node.tls.cert,
      key: node.tls.key,
      servername: node.tls.servername,
    },
  });
}, 60_000);

afterAll(async () => {
  await dispatcher.close();
  await node.close();
});

function clients() {
  const chain = defineChain({
    id: defaultChainId,
    name: 'Coffer',
    nativeCurrency: { name: 'none', symbol: 'NONE', decimals: 18 },
    rpcUrls: { default: { http: [node.rpcUrl] } },
  });
  const transport = http(node.rpcUrl, { fetchOptions: { dispatcher } as unknown as RequestInit });
  return {
    public: createPublicClient({ chain, transport, pollingInterval: 50 }),
    wallet: createWalletClient({ chain, transport, account }),
  };
}

describe('Ethereum JSON-RPC with viem', () => {
  it('deploys, transfers, reads events, and decodes a revert', async () => {
    const { public: reader, wallet } = clients();
    expect(await reader.getChainId()).toBe(defaultChainId);
    const abi = cofferToken().abi as Abi;
    const deployHash = await wallet.deployContract({
      abi,
      bytecode: cofferToken().bytecode as Hex,
      args: [1_000_000n],
    });
    const deployed = await reader.waitForTransactionReceipt({ hash: deployHash });
    expect(deployed.status).toBe('success');
    const address = deployed.contractAddress;
    if (address === null || address === undefined) throw new Error('no contract address');

    const sent = await wallet.writeContract({
      address,
      abi,
      functionName: 'transfer',
      args: [receiver, 700n],
    });
    const receipt = await reader.waitForTransactionReceipt({ hash: sent });
    expect(receipt.status).toBe('success');
    // viem sends EIP-1559 transactions here (blocks report a base fee, of 0).
    expect(receipt.type).toBe('eip1559');
    expect(
      await reader.readContract({ address, abi, functionName: 'balanceOf', args: [receiver] }),
    ).toBe(700n);
    const events = await reader.getContractEvents({
      address,
      abi,
      eventName: 'Transfer',
      fromBlock: 0n,
    });
    expect(events.map((event) => event.transactionHash)).toContain(sent);

    const reverted = await rejectionOf(
      reader.simulateContract({
        address,
        abi,
        functionName: 'transfer',
        args: [receiver, 10n ** 12n],
        account,
      }),
    );
    expect(reverted).toBeInstanceOf(BaseError);
    const cause =
      reverted instanceof BaseError
        ? reverted.walk((error) => error instanceof ContractFunctionRevertedError)
        : null;
    expect(cause instanceof ContractFunctionRevertedError && cause.data?.errorName).toBe(
      'ERC20InsufficientBalance',
    );
  });
});
