// The Ethereum chain worker against a Coffer node's own EVM (issue 9: "the custody platform can
// treat a Coffer network's EVM as one more Ethereum chain"): the worker reaches the node's
// JSON-RPC over its mutual TLS (the API option, a chain file's "tls", deploy-safe's --tls-*),
// with a relayer account bound to Org1's User1, gas price 0 and no ether. Safe 1.4.1 and
// OpenZeppelin's ERC-20 are deployed on Coffer's EVM; a wallet's Safe is deployed at its
// predicted address; a token deposit is reported with its confirmations until the depth, then
// scanned past (a block is a ledger batch: an idle node makes none, so the test moves the head
// with ledger transactions, as anvil tests mine); a token withdrawal is built, signed by the
// service and platform keys, broadcast and followed to its depth, the recipient paid; a SafeTx
// whose nonce another one used fails. A relayer bound to no identity gets EVM_E_ACCOUNT_UNBOUND.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Contract, ContractFactory, Wallet, getAddress, hexlify, randomBytes } from 'ethers';
import type { JsonRpcProvider } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openChain } from '../../../src/cli/custody-chains.js';
import { ethereumCommand } from '../../../src/cli/custody-ethereum.js';
import {
  createEthereumChain,
  ethereumProvider,
  receiptOf,
  safeArtifact,
  walletSafe,
  type EthereumChain,
  type SafeDeployment,
} from '../../../src/custody/chains/ethereum.js';
import { decodeSafeTxEnvelope } from '../../../src/custody/chains/safe.js';
import type { ChainTxStatus, LedgerPort, SeenDeposit } from '../../../src/custody/chains/types.js';
import {
  defaultCustodyParams,
  type WalletRecord,
  type WithdrawalRecord,
} from '../../../src/custody/index.js';
import { signDigestWithScalar } from '../../../src/crypto/keys.js';
import { defaultChainId } from '../../../src/evm/index.js';
import { cofferToken } from '../../support/erc20.js';
import { startEvmNode, type EvmTestNode } from '../../support/evm-node.js';
import { newKeyedWallet, withdrawalRecordOf, type WalletKeys } from '../records.js';

/** A depth above 1, to see a deposit below it first (Coffer itself has no reorganisations). */
const depth = 3;
const pollMs = 20;
const waitMs = 10_000;
const supply = 1_000_000n;

let node: EvmTestNode;
let provider: JsonRpcProvider;
let work: string;
let deployer: Wallet;
let relayer: Wallet;
let contracts: SafeDeployment;
let token: Contract;
let tokenAddress: string;
let chain: EthereumChain;
const started: (() => unknown)[] = [];

type Keys = WalletKeys;
const newWallet = () => newKeyedWallet('ethereum');

const mined = async (sent: Promise<{ readonly hash: string }>) =>
  receiptOf(provider, (await sent).hash, waitMs, pollMs);

const withdrawalOf = (wallet: WalletRecord, destination: string, amount: bigint) =>
  withdrawalRecordOf(wallet, 'CFT', destination, amount);

/** Polls `follow` while the transaction is pending (the node has not executed it yet). */
async function followMined(id: string): Promise<ChainTxStatus> {
  const deadline = Date.now() + waitMs;
  let status = await chain.follow(id);
  while (status.state === 'pending' && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    status = await chain.follow(id);
  }
  return status;
}

/**
 * Moves the head on by at least `blocks` with ledger transactions of no custody concern: a
 * block is a batch, and an idle node appends none (anvil's `mine` here).
 */
/**
 * Waits until the node makes no more blocks: a block is a batch, and after a transaction the
 * node appends an empty batch for its time-based signature entry (then it stays idle).
 */
async function settled(): Promise<void> {
  let height = await provider.getBlockNumber();
  for (let tick = 0; ; tick += 1) {
    expect(tick).toBeLessThan(50);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const now = await provider.getBlockNumber();
    if (now === height) return;
    height = now;
  }
}

async function advance(blocks: number): Promise<void> {
  const target = (await provider.getBlockNumber()) + blocks;
  for (let tick = 0; (await provider.getBlockNumber()) < target; tick += 1) {
    expect(tick).toBeLessThan(4 * blocks);
    const put = await node.user.submit(
      'kv',
      'put',
      { map: 'public:kv.ticks', key: String(tick), value: 'tick' },
      { wait: 'commit' },
    );
    expect(put.status).toBe('Committed');
  }
}

beforeAll(async () => {
  node = await startEvmNode();
  started.push(() => node.close());
  work = await mkdtemp(path.join(tmpdir(), 'coffer-ethereum-coffer-'));
  started.push(() => rm(work, { recursive: true, force: true }));
  // The worker's own provider, over the node's mutual TLS, for the test's deployments too.
  provider = ethereumProvider(node.rpcUrl, pollMs, node.tls);
  started.push(() => {
    provider.destroy();
  });
  deployer = new Wallet(hexlify(randomBytes(32)), provider);
  relayer = new Wallet(hexlify(randomBytes(32)));
  await node.bind(deployer);
  await node.bind(relayer);
  // User1's TLS credentials in files, as the CLI reads them.
  await writeFile(path.join(work, 'ca.pem'), node.tls.ca);
  await writeFile(path.join(work, 'cert.pem'), node.tls.cert);
  await writeFile(path.join(work, 'key.pem'), node.tls.key);
  await writeFile(path.join(work, 'deployer.key'), `${deployer.privateKey}\n`);
  await writeFile(path.join(work, 'relayer.key'), `${relayer.privateKey}\n`);
  // Safe 1.4.1 through `coffer custody ethereum deploy-safe` (deploySafeContracts) over TLS.
  const out = path.join(work, 'safe.json');
  const deployed = await ethereumCommand(
    [
      'deploy-safe',
      '--rpc-url',
      node.rpcUrl,
      '--key-file',
      path.join(work, 'deployer.key'),
      '--tls-ca',
      path.join(work, 'ca.pem'),
      '--tls-cert',
      path.join(work, 'cert.pem'),
      '--tls-key',
      path.join(work, 'key.pem'),
      '--tls-servername',
      node.tls.servername,
      '--out',
      out,
    ],
    { stdout: () => undefined, stderr: () => undefined },
  );
  expect(deployed).toBe(0);
  contracts = JSON.parse(await readFile(out, 'utf8')) as SafeDeployment;
  const compiled = cofferToken();
  const tokenDeployed = await new ContractFactory(
    compiled.abi as never,
    compiled.bytecode,
    deployer,
  ).deploy(supply);
  await mined(Promise.resolve({ hash: tokenDeployed.deploymentTransaction()?.hash ?? '' }));
  token = tokenDeployed as unknown as Contract;
  tokenAddress = await token.getAddress();
  chain = createEthereumChain({
    rpcUrl: node.rpcUrl,
    tls: node.tls,
    relayerKey: relayer.privateKey,
    safe: contracts,
    confirmations: depth,
    tokens: { CFT: tokenAddress },
    startBlock: await provider.getBlockNumber(),
    pollingMs: pollMs,
  });
  started.push(() => {
    chain.close();
  });
}, 60_000);

afterAll(async () => {
  for (const stop of started.reverse()) await stop();
});

describe('ethereum chain worker on a Coffer node', () => {
  it('deploys a wallet Safe, takes a token deposit at its depth, pays a 2-of-3 token withdrawal', async () => {
    expect((await chain.provider.getNetwork()).chainId).toBe(BigInt(defaultChainId));
    expect(defaultChainId).toBe(7331);
    const { wallet, keys } = newWallet();
    const address = await chain.prepareWallet(wallet);
    expect(address).toBe(walletSafe(contracts, wallet).address.toLowerCase());
    const safe = new Contract(address, safeArtifact('Safe').abi as never, provider);
    expect(await safe.getFunction('getThreshold')()).toBe(2n);
    expect(((await safe.getFunction('getOwners')()) as string[]).length).toBe(3);

    // A token deposit, reported with its confirmations until the depth, then scanned past.
    const start = String(await provider.getBlockNumber());
    const receipt = await mined(token.getFunction('transfer').send(address, 5000n));
    await settled();
    const first = await chain.scanDeposits(start);
    const seen = first.deposits.filter((item) => item.chainTxId === receipt.hash);
    expect(seen).toMatchObject([
      {
        outputIndex: 0,
        address,
        walletId: null,
        asset: 'CFT',
        amount: '5000',
        block: { height: receipt.blockNumber, hash: receipt.blockHash },
      } satisfies Partial<SeenDeposit>,
    ]);
    const confirmations = seen[0]?.confirmations ?? 0;
    expect(confirmations).toBeGreaterThanOrEqual(1);
    expect(confirmations).toBeLessThan(depth);
    expect(Number(first.cursor)).toBeLessThanOrEqual(receipt.blockNumber);
    // An idle node makes no blocks: the deposit stays below the depth, reported again.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const idle = await chain.scanDeposits(first.cursor);
    expect(idle.deposits.find((item) => item.chainTxId === receipt.hash)?.confirmations).toBe(
      confirmations,
    );
    await advance(depth);
    const second = await chain.scanDeposits(idle.cursor);
    expect(
      second.deposits.find((item) => item.chainTxId === receipt.hash)?.confirmations,
    ).toBeGreaterThanOrEqual(depth);
    expect(Number(second.cursor)).toBeGreaterThan(receipt.blockNumber);
    const third = await chain.scanDeposits(second.cursor);
    expect(third.deposits.find((item) => item.chainTxId === receipt.hash)).toBeUndefined();

    // A withdrawal of tokens out of the Safe: a SafeTx signed by the service and platform keys,
    // executed by the relayer at gas price 0.
    const destination = getAddress(hexlify(randomBytes(20)));
    const record = withdrawalOf(wallet, destination, 1200n);
    const built = await chain.build(record, wallet);
    expect(decodeSafeTxEnvelope(built.unsignedTx)).toMatchObject({
      chainId: '7331',
      safe: getAddress(address),
      tx: { to: tokenAddress, nonce: '0' },
    });
    const digest = new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex'));
    const sign = (key: Keys['service']) =>
      Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, digest)).toString('hex');
    const signed = { ...record, ...built } as WithdrawalRecord;
    const sent = await chain.broadcast(signed, wallet, [
      [sign(keys.service)],
      [sign(keys.platform)],
    ]);
    if (!('chainTxId' in sent)) throw new Error(sent.failed);
    expect(await followMined(sent.chainTxId)).toMatchObject({ state: 'confirmed' });
    await advance(depth);
    const status = await chain.follow(sent.chainTxId);
    if (status.state !== 'confirmed') throw new Error(`withdrawal ${status.state}`);
    expect(status.confirmations).toBeGreaterThanOrEqual(depth);
    const relayed = await provider.getTransaction(sent.chainTxId);
    expect(relayed?.from).toBe(chain.relayer.address);
    expect(relayed?.gasPrice).toBe(0n);
    expect(await token.getFunction('balanceOf')(destination)).toBe(1200n);
    expect(await token.getFunction('balanceOf')(address)).toBe(3800n);
    expect(await safe.getFunction('nonce')()).toBe(1n);
    // A broadcast again (a crash before the ledger recorded it) finds the same transaction.
    expect(await chain.broadcast(signed, wallet, [])).toEqual({ chainTxId: sent.chainTxId });

    // Two SafeTxs built at one Safe nonce (no ledger option here): the second can never run.
    const [early, late] = await Promise.all(
      [100n, 200n].map(async (amount) => {
        const other = withdrawalOf(wallet, destination, amount);
        const builtOther: WithdrawalRecord = { ...other, ...(await chain.build(other, wallet)) };
        return builtOther;
      }),
    );
    if (early === undefined || late === undefined) throw new Error('not built');
    const signAll = (one: WithdrawalRecord) => {
      const bytes = new Uint8Array(Buffer.from(one.digests?.[0] ?? '', 'hex'));
      return [keys.service, keys.offline].map((key) => [
        Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, bytes)).toString('hex'),
      ]);
    };
    const ran = await chain.broadcast(early, wallet, signAll(early));
    if (!('chainTxId' in ran)) throw new Error(ran.failed);
    expect(await followMined(ran.chainTxId)).toMatchObject({ state: 'confirmed' });
    expect(await chain.broadcast(late, wallet, signAll(late))).toEqual({
      failed: expect.stringMatching(/nonce 1 was used/) as string,
    });
    expect(await token.getFunction('balanceOf')(destination)).toBe(1300n);
  });

  it('a chain file with "tls" opens a worker that reaches the node; its mistakes are named', async () => {
    const ledger: LedgerPort = {
      submit: () => Promise.reject(new Error('no ledger here')),
      status: () => Promise.reject(new Error('no ledger here')),
      query: () => Promise.reject(new Error('no ledger here')),
      receipt: () => Promise.reject(new Error('no ledger here')),
    };
    const tls = { caFile: 'ca.pem', certFile: 'cert.pem', keyFile: 'key.pem' };
    const chainFile = async (name: string, fields: Record<string, unknown>) => {
      const at = path.join(work, name);
      await writeFile(
        at,
        JSON.stringify({
          rpcUrl: node.rpcUrl,
          relayerKeyFile: 'relayer.key',
          safe: contracts,
          ...fields,
        }),
      );
      return openChain('ethereum', at, defaultCustodyParams, ledger);
    };
    const opened = await chainFile('eth.json', {
      tls: { ...tls, servername: node.tls.servername },
    });
    // No Safe watched yet: the scan asks the node only for its head, over mutual TLS.
    try {
      await expect(opened.chain.scanDeposits(null)).resolves.toMatchObject({ deposits: [] });
    } finally {
      opened.close();
    }
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { tls: { ...tls, servername: node.tls.servername }, rpcUrl: 'http://127.0.0.1:1' },
        /rpcUrl must be an https URL/,
      ],
      [{ tls: { ...tls, caFile: 'relayer.key' } }, /tls\.caFile must name a PEM file/],
      [{ tls: { ...tls, pin: 'x' } }, /tls\.pin is not a field/],
      [{ tls: 'ca.pem' }, /tls must be/],
    ];
    for (const [fields, message] of cases)
      await expect(chainFile('bad.json', fields)).rejects.toMatchObject({
        code: 'CLI_E_USAGE',
        message: expect.stringMatching(message) as unknown,
      });
  });

  it('a relayer account bound to no identity is refused when it sends (EVM_E_ACCOUNT_UNBOUND)', async () => {
    const unbound = createEthereumChain({
      rpcUrl: node.rpcUrl,
      tls: node.tls,
      relayerKey: hexlify(randomBytes(32)),
      safe: contracts,
      confirmations: depth,
      pollingMs: pollMs,
    });
    try {
      const { wallet } = newWallet();
      await expect(unbound.prepareWallet(wallet)).rejects.toThrow(/EVM_E_ACCOUNT_UNBOUND/);
      expect(await provider.getCode(walletSafe(contracts, wallet).address)).toBe('0x');
    } finally {
      unbound.close();
    }
  });
});
