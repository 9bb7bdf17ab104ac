// Ethereum JSON-RPC on a real node in-process (engine + mutual-TLS API, issue 9): unmodified
// ethers.js deploys OpenZeppelin's ERC-20 (compiled by solc), transfers tokens, reads its
// events, and handles reverts, both refused by eth_estimateGas and mined with status 0. Raw
// JSON-RPC shows the refusals (unbound account, nonce gaps, bad parameters) with their codes.
import { readFile, readdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  Contract,
  ContractFactory,
  FetchRequest,
  JsonRpcProvider,
  Wallet,
  isError,
  type ContractTransactionResponse,
} from 'ethers';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, identityFromMspFolder, type Client } from '../../src/client/index.js';
import { builtInApps } from '../../src/contracts/index.js';
import { bindingMessage, defaultChainId, evmApp } from '../../src/evm/index.js';
import { createApi, type ApiServer } from '../../src/node/api.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import { evmNodeOf } from '../../src/node/evm-rpc.js';
import { cofferToken } from '../support/erc20.js';
import { org1Material, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
let engine: Engine;
let api: ApiServer;
let agent: Agent;
let apiUrl = '';
let provider: JsonRpcProvider;
let user: Client;
const apps = new Map([...builtInApps(), [evmApp.name, evmApp]]);
const alice = new Wallet(`0x${'a1'.repeat(32)}`);
const bob = new Wallet(`0x${'b2'.repeat(32)}`);
let token: Contract;

const orgDir = (): string => path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');

/** JSON-RPC as any client sends it, for what ethers would not send. */
async function rpc(body: unknown): Promise<Record<string, unknown>> {
  const request = new FetchRequest(`${apiUrl}/v1/evm/rpc`);
  request.getUrlFunc = FetchRequest.createGetUrlFunc({ agent });
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
  work = await mkdtemp(path.join(tmpdir(), 'coffer-evm-rpc-'));
  org1 = await org1Material(work);
  engine = await startEngine({
    dataDir: path.join(work, 'node'),
    nodeId: 'n0',
    consortium: () => org1.consortium,
    apps,
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 1000,
    signatureIntervalMs: 50,
  });
  const peer = path.join(orgDir(), 'peers', 'peer0.org1.example.com');
  const relayer = await identityFromMspFolder(path.join(peer, 'msp'), 'Org1MSP');
  api = await createApi({
    engine,
    consortium: () => org1.consortium,
    apps,
    tls: {
      cert: await readFile(path.join(peer, 'tls', 'server.crt'), 'utf8'),
      key: await readFile(path.join(peer, 'tls', 'server.key'), 'utf8'),
    },
    logger: pino({ level: 'silent' }),
    evm: evmNodeOf(engine, relayer.identity, { signer: relayer.signer }),
  });
  apiUrl = await api.listen('127.0.0.1', 0);
  const userMsp = path.join(orgDir(), 'users', 'User1@org1.example.com', 'msp');
  const [keyFile] = await readdir(path.join(userMsp, 'keystore'));
  const ca = await readFile(path.join(peer, 'tls', 'ca.crt'), 'utf8');
  const tlsCert = org1.user.identity.certPem;
  const tlsKey = await readFile(path.join(userMsp, 'keystore', String(keyFile)), 'utf8');
  user = createClient({
    url: apiUrl,
    ca,
    tlsCert,
    tlsKey,
    servername: 'peer0.org1.example.com',
    ...org1.user,
  });
  // ethers over the node's mutual TLS: a FetchRequest with the client's agent, nothing else.
  agent = new Agent({ ca, cert: tlsCert, key: tlsKey, servername: 'peer0.org1.example.com' });
  const connection = new FetchRequest(`${apiUrl}/v1/evm/rpc`);
  connection.getUrlFunc = FetchRequest.createGetUrlFunc({ agent });
  // No 250 ms answer cache: transactions here follow each other faster than that (as on anvil).
  provider = new JsonRpcProvider(connection, undefined, { pollingInterval: 50, cacheTimeout: -1 });
}, 60_000);

afterAll(async () => {
  provider?.destroy();
  user?.close();
  agent?.destroy();
  await api?.close();
  await engine?.stop();
  await rm(work, { recursive: true, force: true });
});

async function bind(wallet: Wallet): Promise<void> {
  const identityId = org1.consortium.msps
    .get('Org1MSP')
    ?.deserializeIdentity('Org1MSP', org1.user.identity.certPem);
  if (identityId?.ok !== true) throw new Error('fixture identity');
  const message = bindingMessage(defaultChainId, wallet.address, 'Org1MSP', identityId.identity.id);
  const bound = await user.submit(
    'evm',
    'bind',
    { address: wallet.address, signature: await wallet.signMessage(message) },
    { wait: 'commit' },
  );
  expect(bound.status, `${bound.code ?? ''} ${bound.message ?? ''}`).toBe('Committed');
}

describe('Ethereum JSON-RPC with ethers.js', () => {
  it('reports the chain', async () => {
    const network = await provider.getNetwork();
    expect(network.chainId).toBe(BigInt(defaultChainId));
    expect(await provider.getBlockNumber()).toBe(engine.position().logPosition);
    const fees = await provider.getFeeData();
    expect(fees.gasPrice).toBe(0n);
  });

  it('refuses a transaction from an account bound to no identity, saying how to bind it', async () => {
    const signer = bob.connect(provider);
    const error = await signer
      .sendTransaction({ to: alice.address, value: 0n, gasLimit: 21_000n, gasPrice: 0n })
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    expect(String(error)).toMatch(/EVM_E_ACCOUNT_UNBOUND/);
  });

  it('deploys the ERC-20 and transfers with events', async () => {
    await bind(alice);
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
    const estimated = await transfer(bob.address, 10n ** 12n).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isError(estimated, 'CALL_EXCEPTION')).toBe(true);
    if (!isError(estimated, 'CALL_EXCEPTION')) throw new Error('not a call exception');
    // The revert data is the contract's custom error, as the contract's interface reads it.
    expect(token.interface.parseError(estimated.data ?? '0x')?.name).toBe(
      'ERC20InsufficientBalance',
    );
    // A static call decodes it itself (eth_call).
    const called = await transfer.staticCall(bob.address, 10n ** 12n).then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isError(called, 'CALL_EXCEPTION') && called.revert?.name).toBe(
      'ERC20InsufficientBalance',
    );

    const sent = (await transfer(bob.address, 10n ** 12n, {
      gasLimit: 200_000n,
    })) as ContractTransactionResponse;
    const mined = await sent.wait().then(
      () => undefined,
      (failure: unknown) => failure,
    );
    expect(isError(mined, 'CALL_EXCEPTION')).toBe(true);
    const receipt = await provider.getTransactionReceipt(sent.hash);
    expect(receipt?.status).toBe(0);
    // The nonce moved on: the next transfer goes through.
    const next = (await transfer(bob.address, 1n)) as ContractTransactionResponse;
    expect((await next.wait())?.status).toBe(1);
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
