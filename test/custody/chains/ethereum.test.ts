// The Ethereum chain worker against anvil: a wallet's Safe deployed once at its predicted
// address; an ETH deposit reported with its confirmations until the depth, then scanned past;
// a withdrawal built (SafeTx at the Safe's nonce), signed by the service and platform keys as
// raw r‖s, broadcast by the relayer and followed to its depth; concurrent broadcasts from two
// wallets share the relayer's nonces without a clash; a reorganisation (evm_snapshot and
// evm_revert) drops a deposit before its depth.
import { readFile } from 'node:fs/promises';
import {
  Contract,
  ContractFactory,
  JsonRpcProvider,
  Wallet,
  getAddress,
  hexlify,
  randomBytes,
} from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEthereumChain,
  deploySafeContracts,
  receiptOf,
  safeArtifact,
  walletSafe,
  type EthereumChain,
  type SafeDeployment,
} from '../../../src/custody/chains/ethereum.js';
import type { LedgerPort, SeenDeposit } from '../../../src/custody/chains/types.js';
import type { WalletRecord, WithdrawalRecord } from '../../../src/custody/index.js';
import { generateScalarKey, signDigestWithScalar } from '../../../src/crypto/keys.js';
import { anvilKeys, type Anvil } from '../../support/anvil.js';
import { startAnvilSession, type AnvilSession } from '../../support/anvil-session.js';
import { newKeyedWallet, withdrawalRecordOf, type WalletKeys } from '../records.js';

const depth = 3;
const oneEth = 10n ** 18n;

let anvil: Anvil;
let provider: JsonRpcProvider;
let funder: Wallet;
let contracts: SafeDeployment;
let chain: EthereumChain;
const started: (() => unknown)[] = [];
let session: AnvilSession;
const mined = (sent: Promise<{ readonly hash: string }>) => session.mined(sent);

type Keys = WalletKeys;
const newWallet = () => newKeyedWallet('ethereum');

const withdrawalOf = (wallet: WalletRecord, destination: string, amount: bigint) =>
  withdrawalRecordOf(wallet, 'ETH', destination, amount);

/** Builds, signs with the service and platform keys (raw r‖s hex) and broadcasts. */
async function withdraw(wallet: WalletRecord, keys: Keys, destination: string, amount: bigint) {
  const record = withdrawalOf(wallet, destination, amount);
  const built = await chain.build(record, wallet);
  const digest = new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex'));
  const sign = (key: Keys['service']) =>
    Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, digest)).toString('hex');
  const signed = { ...record, ...built } as WithdrawalRecord;
  const sent = await chain.broadcast(signed, wallet, [[sign(keys.service)], [sign(keys.platform)]]);
  return { built, signed, sent, sign };
}

beforeAll(async () => {
  session = await startAnvilSession();
  ({ anvil, provider } = session);
  started.push(() => session.stop());
  funder = new Wallet(anvilKeys[0], provider);
  contracts = await deploySafeContracts(funder);
  chain = createEthereumChain({
    rpcUrl: anvil.url,
    relayerKey: anvilKeys[1],
    safe: contracts,
    confirmations: depth,
    pollingMs: 50,
  });
  started.push(() => {
    chain.close();
  });
});

afterAll(async () => {
  for (const stop of started.reverse()) await stop();
});

describe('ethereum chain worker', () => {
  it('prepareWallet deploys the Safe at its predicted address once, owners the wallet keys', async () => {
    const { wallet } = newWallet();
    const expected = walletSafe(contracts, wallet).address;
    const address = await chain.prepareWallet(wallet);
    expect(address).toBe(expected.toLowerCase());
    const safe = new Contract(expected, safeArtifact('Safe').abi as never, provider);
    expect(await safe.getFunction('getThreshold')()).toBe(2n);
    expect(((await safe.getFunction('getOwners')()) as string[]).length).toBe(3);
    const sent = await provider.getTransactionCount(chain.relayer.address);
    expect(await chain.prepareWallet(wallet)).toBe(address);
    expect(await provider.getTransactionCount(chain.relayer.address)).toBe(sent);
  });

  it('prepareWallet deploys once for concurrent calls and registers the Safe on the ledger once', async () => {
    const submitted: Record<string, unknown>[] = [];
    const ledger: LedgerPort = {
      submit: (_app, action, args) => {
        submitted.push({ action, ...args });
        return Promise.resolve({ txId: 'cc'.repeat(32), status: 'Committed' });
      },
      status: () => Promise.reject(new Error('not used')),
      query: () =>
        Promise.reject(
          Object.assign(new Error('no such address'), { code: 'CUSTODY_E_NOT_FOUND' }),
        ),
      receipt: () => Promise.reject(new Error('not used')),
    };
    const ledgerChain = createEthereumChain({
      rpcUrl: anvil.url,
      relayerKey: anvilKeys[3],
      safe: contracts,
      confirmations: depth,
      ledger,
      pollingMs: 50,
    });
    started.push(() => {
      ledgerChain.close();
    });
    const { wallet } = newWallet();
    const addresses = await Promise.all([
      ledgerChain.prepareWallet(wallet),
      ledgerChain.prepareWallet(wallet),
      ledgerChain.prepareWallet(wallet),
    ]);
    await ledgerChain.prepareWallet(wallet);
    const address = walletSafe(contracts, wallet).address.toLowerCase();
    expect(addresses).toEqual([address, address, address]);
    expect(await provider.getTransactionCount(ledgerChain.relayer.address)).toBe(1);
    expect(submitted).toEqual([{ action: 'add_address', walletId: wallet.id, address }]);
  });

  it('a restarted worker takes the relayer nonce from the node and the Safe from knownSafes', async () => {
    const { wallet, keys } = newWallet();
    const address = await chain.prepareWallet(wallet);
    const options = {
      rpcUrl: anvil.url,
      relayerKey: anvilKeys[1],
      safe: contracts,
      confirmations: depth,
      pollingMs: 50,
    };
    // A new process with the relayer key of `chain`, which sent transactions before it.
    const restarted = createEthereumChain({ ...options, knownSafes: [address] });
    started.push(() => {
      restarted.close();
    });
    const start = String(await provider.getBlockNumber());
    await mined(funder.sendTransaction({ to: address, value: oneEth }));
    const scan = await restarted.scanDeposits(start);
    expect(scan.deposits.map((item) => item.address)).toEqual([address]);
    const destination = getAddress(hexlify(randomBytes(20)));
    const record = withdrawalOf(wallet, destination, 77n);
    const built = await restarted.build(record, wallet);
    const digest = new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex'));
    const sign = (key: Keys['service']) =>
      Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, digest)).toString('hex');
    const sent = await restarted.broadcast({ ...record, ...built }, wallet, [
      [sign(keys.service)],
      [sign(keys.offline)],
    ]);
    if (!('chainTxId' in sent)) throw new Error(sent.failed);
    expect((await restarted.follow(sent.chainTxId)).state).toBe('confirmed');
    expect(await provider.getBalance(destination)).toBe(77n);
    // The first process's counter is behind now: its next send is refused (nonce too low),
    // re-seeded from the node and sent again.
    const later = newWallet().wallet;
    expect(await chain.prepareWallet(later)).toBe(
      walletSafe(contracts, later).address.toLowerCase(),
    );
    // Without knownSafes a restarted worker would not see deposits to Safes it did not prepare.
    const blind = createEthereumChain(options);
    started.push(() => {
      blind.close();
    });
    expect((await blind.scanDeposits(start)).deposits).toEqual([]);
  });

  it('reports a deposit with its confirmations until the depth, then scans past it', async () => {
    const { wallet } = newWallet();
    const address = await chain.prepareWallet(wallet);
    const start = String(await provider.getBlockNumber());
    const receipt = await mined(funder.sendTransaction({ to: address, value: 2n * oneEth }));
    const first = await chain.scanDeposits(start);
    const seen = first.deposits.find((item) => item.chainTxId === receipt.hash);
    expect(seen).toMatchObject({
      outputIndex: 0,
      address,
      walletId: null,
      asset: 'ETH',
      amount: (2n * oneEth).toString(),
      block: { height: receipt.blockNumber, hash: receipt.blockHash },
      confirmations: 1,
    } satisfies Partial<SeenDeposit>);
    // Not at depth: the cursor stays at or before its block, the next scan reports it again.
    expect(Number(first.cursor)).toBeLessThanOrEqual(receipt.blockNumber);
    expect(Number(seen?.next)).toBeLessThanOrEqual(receipt.blockNumber);
    await anvil.mine(depth - 1);
    const second = await chain.scanDeposits(first.cursor);
    expect(second.deposits.find((item) => item.chainTxId === receipt.hash)?.confirmations).toBe(
      depth,
    );
    expect(Number(second.cursor)).toBe(receipt.blockNumber + 1);
    const third = await chain.scanDeposits(second.cursor);
    expect(third.deposits.find((item) => item.chainTxId === receipt.hash)).toBeUndefined();
  });

  it('builds a SafeTx, broadcasts it with the service and platform signatures, follows it to depth', async () => {
    const { wallet, keys } = newWallet();
    const address = await chain.prepareWallet(wallet);
    await mined(funder.sendTransaction({ to: address, value: 3n * oneEth }));
    const destination = getAddress(hexlify(randomBytes(20)));
    const { built, signed, sent } = await withdraw(wallet, keys, destination, oneEth);
    const safe = new Contract(address, safeArtifact('Safe').abi as never, provider);
    expect(built.digests).toHaveLength(1);
    expect(built.digests[0]).toMatch(/^[0-9a-f]{64}$/);
    if (!('chainTxId' in sent)) throw new Error(sent.failed);
    let status = await chain.follow(sent.chainTxId);
    for (let i = 0; status.state === 'pending' && i < 100; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      status = await chain.follow(sent.chainTxId);
    }
    expect(status).toMatchObject({ state: 'confirmed', confirmations: 1 });
    await anvil.mine(depth - 1);
    expect(await chain.follow(sent.chainTxId)).toMatchObject({
      state: 'confirmed',
      confirmations: depth,
    });
    expect(await provider.getBalance(destination)).toBe(oneEth);
    expect(await safe.getFunction('nonce')()).toBe(1n);
    // A broadcast again (a crash before the ledger recorded it) finds the same transaction.
    expect(await chain.broadcast(signed, wallet, [])).toEqual({ chainTxId: sent.chainTxId });
  });

  it("refuses a stranger's signature before sending, and fails a withdrawal whose nonce was used", async () => {
    const { wallet, keys } = newWallet();
    const address = await chain.prepareWallet(wallet);
    await mined(funder.sendTransaction({ to: address, value: oneEth }));
    const destination = getAddress(hexlify(randomBytes(20)));
    const record = withdrawalOf(wallet, destination, 1000n);
    const built = await chain.build(record, wallet);
    const signed = { ...record, ...built } as WithdrawalRecord;
    const digest = new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex'));
    const stranger = generateScalarKey('secp256k1');
    const sign = (key: { secretKey: Uint8Array }) =>
      Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, digest)).toString('hex');
    await expect(
      chain.broadcast(signed, wallet, [[sign(keys.service)], [sign(stranger)]]),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_SIGNATURE_INVALID' });
    // Another withdrawal built at the same Safe nonce goes first: this one cannot run any more.
    const other = await withdraw(wallet, keys, destination, 2000n);
    expect('chainTxId' in other.sent).toBe(true);
    await anvil.mine(1);
    const late = await chain.broadcast(signed, wallet, [
      [sign(keys.service)],
      [sign(keys.offline)],
    ]);
    expect(late).toEqual({ failed: expect.stringMatching(/nonce 0 was used/) as string });
  });

  it('does not fail a withdrawal whose SafeTx reverts for now (too little ether): it is sent once funded', async () => {
    const { wallet, keys } = newWallet();
    const address = await chain.prepareWallet(wallet);
    const destination = getAddress(hexlify(randomBytes(20)));
    const record = withdrawalOf(wallet, destination, oneEth);
    const built = await chain.build(record, wallet);
    const digest = new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex'));
    const signatures = [keys.service, keys.platform].map((key) => [
      Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, digest)).toString('hex'),
    ]);
    const signed = { ...record, ...built } as WithdrawalRecord;
    await expect(chain.broadcast(signed, wallet, signatures)).rejects.toThrow(
      /would revert now, not sent/,
    );
    await mined(funder.sendTransaction({ to: address, value: oneEth }));
    const sent = await chain.broadcast(signed, wallet, signatures);
    if (!('chainTxId' in sent)) throw new Error(sent.failed);
    // anvil mines it on arrival, but its receipt may come a moment after the send answers.
    await receiptOf(provider, sent.chainTxId, 10_000, 20);
    expect(await chain.follow(sent.chainTxId)).toMatchObject({ state: 'confirmed' });
    expect(await provider.getBalance(destination)).toBe(oneEth);
  });

  it('broadcasts concurrent withdrawals of several wallets with distinct relayer nonces', async () => {
    const wallets = [newWallet(), newWallet(), newWallet()];
    for (const { wallet } of wallets) {
      await mined(funder.sendTransaction({ to: await chain.prepareWallet(wallet), value: oneEth }));
    }
    const destination = getAddress(hexlify(randomBytes(20)));
    const results = await Promise.all(
      wallets.map(({ wallet, keys }) => withdraw(wallet, keys, destination, 1000n)),
    );
    const hashes = results.map(({ sent }) => ('chainTxId' in sent ? sent.chainTxId : sent.failed));
    expect(new Set(hashes).size).toBe(3);
    await anvil.mine(1);
    for (const hash of hashes) expect((await chain.follow(hash)).state).toBe('confirmed');
    expect(await provider.getBalance(destination)).toBe(3000n);
  });

  it('replaces a stuck execTransaction with the same nonce and higher fees; the replacement is mined', async () => {
    const { wallet, keys } = newWallet();
    const address = await chain.prepareWallet(wallet);
    await mined(funder.sendTransaction({ to: address, value: oneEth }));
    const destination = getAddress(hexlify(randomBytes(20)));
    await anvil.rpc('evm_setAutomine', [false]);
    try {
      const { sent } = await withdraw(wallet, keys, destination, 4321n);
      if (!('chainTxId' in sent)) throw new Error(sent.failed);
      const original = await provider.getTransaction(sent.chainTxId);
      const replacement = await chain.replaceStuck(sent.chainTxId);
      const bumped = await provider.getTransaction(replacement);
      expect(bumped?.nonce).toBe(original?.nonce);
      expect(bumped?.maxFeePerGas).toBeGreaterThan(original?.maxFeePerGas ?? 0n);
      expect(await chain.follow(sent.chainTxId)).toEqual({ state: 'pending' });
      await anvil.mine(1);
      expect(await provider.getTransactionReceipt(sent.chainTxId)).toBeNull();
      // Each id is followed for itself: the original never confirms, its replacement did.
      expect(await chain.follow(sent.chainTxId)).toEqual({ state: 'pending' });
      expect(await chain.follow(replacement)).toMatchObject({
        state: 'confirmed',
        confirmations: 1,
      });
      expect(await provider.getBalance(destination)).toBe(4321n);
      await expect(chain.replaceStuck(sent.chainTxId)).rejects.toThrow(/mined already/);
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
  });

  it('takes an ERC-20 deposit and withdraws the token with a transfer call from the Safe', async () => {
    const artifact = JSON.parse(
      await readFile(
        'node_modules/@safe-global/safe-contracts/build/artifacts/contracts/test/ERC20Token.sol/ERC20Token.json',
        'utf8',
      ),
    ) as { abi: never; bytecode: string };
    const token = await new ContractFactory(artifact.abi, artifact.bytecode, funder).deploy();
    await mined(Promise.resolve({ hash: token.deploymentTransaction()?.hash ?? '' }));
    const tokenAddress = await token.getAddress();
    // A second worker instance needs a relayer of its own: nonce counters are per process.
    const tokenChain = createEthereumChain({
      rpcUrl: anvil.url,
      relayerKey: anvilKeys[2],
      safe: contracts,
      confirmations: depth,
      tokens: { TT: tokenAddress },
      pollingMs: 50,
    });
    started.push(() => {
      tokenChain.close();
    });
    const { wallet, keys } = newWallet();
    const address = await tokenChain.prepareWallet(wallet);
    const start = String(await provider.getBlockNumber());
    const receipt = await mined(token.getFunction('transfer').send(address, 5000n));
    const scan = await tokenChain.scanDeposits(start);
    expect(scan.deposits.filter((item) => item.chainTxId === receipt.hash)).toMatchObject([
      { asset: 'TT', amount: '5000', address, outputIndex: 0, confirmations: 1 },
    ]);
    const destination = getAddress(hexlify(randomBytes(20)));
    const record = { ...withdrawalOf(wallet, destination, 1200n), asset: 'TT' };
    const built = await tokenChain.build(record, wallet);
    const digest = new Uint8Array(Buffer.from(built.digests[0] ?? '', 'hex'));
    const sign = (key: Keys['service']) =>
      Buffer.from(signDigestWithScalar('secp256k1', key.secretKey, digest)).toString('hex');
    const out = await tokenChain.broadcast({ ...record, ...built }, wallet, [
      [sign(keys.offline)],
      [sign(keys.platform)],
    ]);
    if (!('chainTxId' in out)) throw new Error(out.failed);
    await anvil.mine(depth);
    expect(await tokenChain.follow(out.chainTxId)).toMatchObject({ state: 'confirmed' });
    expect(await token.getFunction('balanceOf')(destination)).toBe(1200n);
    expect(await token.getFunction('balanceOf')(address)).toBe(3800n);
    // An asset the worker has no contract for is refused at build.
    await expect(tokenChain.build({ ...record, asset: 'XYZ' }, wallet)).rejects.toThrow(
      /no token contract/,
    );
  });

  it('a reorganisation before the depth drops a deposit: no longer scanned, not in its block', async () => {
    const { wallet } = newWallet();
    const address = await chain.prepareWallet(wallet);
    const snapshot = await anvil.snapshot();
    const start = String(await provider.getBlockNumber());
    const receipt = await mined(funder.sendTransaction({ to: address, value: oneEth }));
    const before = await chain.scanDeposits(start);
    const seen = before.deposits.find((item) => item.chainTxId === receipt.hash);
    expect(seen?.confirmations).toBe(1);
    if (seen === undefined) throw new Error('deposit not seen');
    expect(await chain.depositInBlock(seen)).toBe(true);
    // The chain reorganises onto a branch without the deposit, longer than the old one.
    await anvil.revert(snapshot);
    await anvil.mine(depth);
    const after = await chain.scanDeposits(before.cursor);
    expect(after.deposits.find((item) => item.chainTxId === receipt.hash)).toBeUndefined();
    expect(await chain.depositInBlock(seen)).toBe(false);
    expect(await provider.getBalance(address)).toBe(0n);
  });
});
