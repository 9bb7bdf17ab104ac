// The custody worker loop (src/custody/worker.ts) over the real custody app (in process,
// test/custody/driver.ts) with the Ethereum chain worker on anvil: a wallet's Safe is deployed
// and registered, an ETH deposit is credited only at the depth, and a withdrawal goes request →
// build (SafeTx) → the service's DER signature → the platform's r‖s (a fake signer with the
// platform key) → broadcast by the relayer → confirmed at depth, the destination paid; two
// withdrawals requested at once are built one after the other (one SafeTx in flight per Safe);
// a deposit a reorganisation takes out before its depth is reported dropped; a stuck relayer
// transaction is sent again with a higher fee and the ledger records it (rebroadcast).
import { JsonRpcProvider, Wallet, getAddress, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createEthereumChain,
  deploySafeContracts,
  type EthereumChain,
} from '../../../src/custody/chains/ethereum.js';
import type { WalletRecord, WithdrawalRecord } from '../../../src/custody/index.js';
import { createCustodyWorker, type SignerPort } from '../../../src/custody/worker.js';
import { anvilKeys, type Anvil } from '../../support/anvil.js';
import { startAnvilSession, type AnvilSession } from '../../support/anvil-session.js';
import { cast, createDriver, keysArg, principal, walletKeys } from '../driver.js';
import { workerPorts } from '../ports.js';
import { changePolicy, field, must } from '../setup.js';

const depth = 3;
const oneEth = 10n ** 18n;

let anvil: Anvil;
let provider: JsonRpcProvider;
let chain: EthereumChain;
const started: (() => unknown)[] = [];
let session: AnvilSession;
const mined = (sent: Promise<{ readonly hash: string }>) => session.mined(sent);

beforeAll(async () => {
  session = await startAnvilSession();
  ({ anvil, provider } = session);
  started.push(() => session.stop());
});

afterAll(async () => {
  for (const stop of started.reverse()) await stop();
});

describe('custody worker loop on Ethereum', () => {
  it('credits a deposit at depth, pays a 2-of-3 withdrawal through the Safe, then two requested at once in Safe-nonce order', async () => {
    const driver = createDriver({
      params: {
        policyQuorum: 2,
        chains: {
          ethereum: {
            confirmations: depth,
            workers: [principal(cast.ethworker)],
            chainId: (await provider.getNetwork()).chainId.toString(),
          },
        },
      },
    });
    const keys = walletKeys('secp256k1', `eth ${hexlify(randomBytes(8))}`);
    const wallet = field<WalletRecord>(
      must(
        driver.run(cast.svc, 'create_wallet', {
          chain: 'ethereum',
          label: 'hot-eth',
          keys: keysArg(keys, 'secp256k1'),
        }),
      ),
      'wallet',
    );
    const funder = new Wallet(anvilKeys[0], provider);
    const contracts = await deploySafeContracts(funder);
    const { ledger, custody } = workerPorts(driver, cast.ethworker);
    chain = createEthereumChain({
      rpcUrl: anvil.url,
      relayerKey: anvilKeys[1],
      safe: contracts,
      confirmations: depth,
      ledger,
      pollingMs: 50,
    });
    started.push(() => {
      chain.close();
    });
    const signed: string[] = [];
    const signer: SignerPort = {
      sign: (body) => {
        signed.push(body.withdrawalId);
        return Promise.resolve({
          signatures: body.digests.map((digest) => keys.platform.sign(digest, 'compact')),
        });
      },
    };
    const errors: string[] = [];
    let now = driver.now();
    const loop = createCustodyWorker({
      ledger,
      custody,
      signer,
      chain,
      bumpAfterMs: 60_000,
      clock: () => now,
      onEvent: (event) => {
        if (event.kind === 'error') errors.push(`${event.action}: ${event.error}`);
      },
    });
    const balance = () =>
      field<{ asset: string; total: string; available: string }[]>(
        must(driver.query(cast.svc, 'balances', { walletId: wallet.id })),
        'balances',
      ).find((entry) => entry.asset === 'ETH');

    // The loop finds the new wallet and deploys its Safe, the wallet's deposit address, on the
    // chain and on the ledger; the next step has nothing more to prepare.
    expect(await loop.step()).toMatchObject({ prepared: 1, errors: 0 });
    const [registered] = field<{ address: string }[]>(
      must(driver.query(cast.svc, 'addresses', { walletId: wallet.id })),
      'addresses',
    );
    const address = registered?.address ?? '';
    expect(address).toBe((await chain.prepareWallet(wallet)).toLowerCase());
    expect(await provider.getCode(address)).not.toBe('0x');
    expect(await loop.step()).toMatchObject({ prepared: 0, errors: 0 });

    await mined(funder.sendTransaction({ to: address, value: 5n * oneEth }));
    expect(await loop.step()).toMatchObject({ deposits: 1, errors: 0 });
    expect(balance()).toBeUndefined();
    await anvil.mine(depth - 1);
    expect(await loop.step()).toMatchObject({ deposits: 1, errors: 0 });
    expect(balance()).toMatchObject({ total: (5n * oneEth).toString() });
    // At depth the scan moves past it: no more reports.
    expect(await loop.step()).toMatchObject({ deposits: 0, errors: 0 });

    const destination = getAddress(hexlify(randomBytes(20))).toLowerCase();
    changePolicy(driver, wallet.id, { kind: 'whitelist_add', address: destination, label: 'x' });
    changePolicy(driver, wallet.id, {
      kind: 'set_limits',
      asset: 'ETH',
      perTransaction: (2n * oneEth).toString(),
      rolling24h: (4n * oneEth).toString(),
    });
    const requested = field<WithdrawalRecord>(
      must(
        driver.run(cast.svc, 'request', {
          walletId: wallet.id,
          asset: 'ETH',
          amount: oneEth.toString(),
          destination,
          idempotencyKey: 'eth-1',
        }),
      ),
      'withdrawal',
    );
    const withdrawal = () =>
      field<WithdrawalRecord>(
        must(driver.query(cast.svc, 'withdrawal', { withdrawalId: requested.id })),
        'withdrawal',
      );
    expect(await loop.step()).toMatchObject({ built: 1, errors: 0 });
    const built = withdrawal();
    expect(built.state).toBe('built');
    if (built.digests === null) throw new Error('no digests');
    expect(built.fee).toBe('0');
    must(
      driver.run(cast.svc, 'service_sign', {
        withdrawalId: requested.id,
        signatures: built.digests.map((digest) => keys.service.sign(digest)),
      }),
    );
    expect(await loop.step()).toMatchObject({ platformSigned: 1, errors: 0 });
    expect(await loop.step()).toMatchObject({ broadcast: 1, confirmed: 0, errors: 0 });
    expect(withdrawal().state).toBe('broadcast');
    await anvil.mine(depth - 1);
    expect(await loop.step()).toMatchObject({ confirmed: 1, errors: 0 });
    expect(withdrawal()).toMatchObject({ state: 'confirmed' });
    expect(signed).toEqual([requested.id]);
    expect(await provider.getBalance(destination)).toBe(oneEth);
    expect(await provider.getBalance(address)).toBe(4n * oneEth);
    expect(balance()).toMatchObject({ total: (4n * oneEth).toString() });
    expect(errors).toEqual([]);

    // Two withdrawals of the wallet at once: one SafeTx in flight per Safe. The second is
    // built only once the first executed, at the next Safe nonce; both pay.
    const ids = ['eth-2', 'eth-3'].map(
      (idempotencyKey) =>
        field<WithdrawalRecord>(
          must(
            driver.run(cast.svc, 'request', {
              walletId: wallet.id,
              asset: 'ETH',
              amount: oneEth.toString(),
              destination,
              idempotencyKey,
            }),
          ),
          'withdrawal',
        ).id,
    );
    const stateOf = (id: string) =>
      field<WithdrawalRecord>(
        must(driver.query(cast.svc, 'withdrawal', { withdrawalId: id })),
        'withdrawal',
      );
    expect(await loop.step()).toMatchObject({ built: 1, errors: 1 });
    expect(errors.at(-1)).toMatch(/waits: withdrawal .* holds Safe .*'s nonce 1/);
    const nonces: string[] = [];
    for (
      let round = 0;
      round < 12 && ids.some((id) => stateOf(id).state !== 'confirmed');
      round += 1
    ) {
      for (const id of ids) {
        const record = stateOf(id);
        if (record.state === 'built' && record.digests !== null && record.unsignedTx !== null) {
          nonces.push(
            (
              JSON.parse(Buffer.from(record.unsignedTx, 'hex').toString()) as {
                tx: { nonce: string };
              }
            ).tx.nonce,
          );
          must(
            driver.run(cast.svc, 'service_sign', {
              withdrawalId: id,
              signatures: record.digests.map((digest) => keys.service.sign(digest)),
            }),
          );
        }
      }
      await loop.step();
      await anvil.mine(1);
    }
    expect(ids.map((id) => stateOf(id).state)).toEqual(['confirmed', 'confirmed']);
    expect(nonces).toEqual(['1', '2']);
    expect(await provider.getBalance(destination)).toBe(3n * oneEth);

    // A deposit seen below the depth that a reorganisation takes out is reported dropped and
    // never credited.
    const held = balance()?.total;
    const before = await anvil.snapshot();
    const sent = await mined(funder.sendTransaction({ to: address, value: oneEth }));
    expect(await loop.step()).toMatchObject({ deposits: 1, dropped: 0, errors: 0 });
    const depositState = () =>
      field(
        must(
          driver.query(cast.svc, 'deposit', {
            chain: 'ethereum',
            chainTxId: sent.hash,
            outputIndex: 0,
          }),
        ),
        'deposit',
        'state',
      );
    expect(depositState()).toBe('seen');
    await anvil.revert(before);
    await anvil.mine(2);
    expect(await loop.step()).toMatchObject({ deposits: 0, dropped: 1, errors: 0 });
    expect(depositState()).toBe('dropped');
    expect(balance()?.total).toBe(held);

    // A relayer transaction left unmined past bumpAfterMs is sent again with the same nonce and
    // a higher fee; the ledger records the new id (rebroadcast); the replacement confirms.
    await anvil.rpc('evm_setAutomine', [false]);
    try {
      const stuck = field<WithdrawalRecord>(
        must(
          driver.run(cast.svc, 'request', {
            walletId: wallet.id,
            asset: 'ETH',
            amount: '1000',
            destination,
            idempotencyKey: 'eth-stuck',
          }),
        ),
        'withdrawal',
      );
      expect(await loop.step()).toMatchObject({ built: 1, errors: 0 });
      must(
        driver.run(cast.svc, 'service_sign', {
          withdrawalId: stuck.id,
          signatures: (stateOf(stuck.id).digests ?? []).map((digest) => keys.service.sign(digest)),
        }),
      );
      expect(await loop.step()).toMatchObject({ platformSigned: 1 });
      expect(await loop.step()).toMatchObject({ broadcast: 1, errors: 0 });
      const original = stateOf(stuck.id).chainTxId ?? '';
      expect(await loop.step()).toMatchObject({ rebuilt: 0 });
      now = driver.now() + 60_000;
      expect(await loop.step()).toMatchObject({ rebuilt: 1, errors: 0 });
      const resent = stateOf(stuck.id);
      expect(resent).toMatchObject({ state: 'broadcast', replaced: [{ chainTxId: original }] });
      expect(resent.chainTxId).not.toBe(original);
      await anvil.mine(depth);
      expect(await loop.step()).toMatchObject({ confirmed: 1, errors: 0 });
      expect(stateOf(stuck.id)).toMatchObject({ state: 'confirmed', chainTxId: resent.chainTxId });
      expect(await provider.getTransactionReceipt(original)).toBeNull();
    } finally {
      await anvil.rpc('evm_setAutomine', [true]);
    }
  });
});
