// The custody worker loop (src/custody/worker.ts) over the real custody app (in process,
// test/custody/driver.ts) with the Bitcoin chain worker on a bcoin regtest node: the loop
// prepares the new wallet (its P2WSH address registered), a deposit is credited at the depth,
// a withdrawal over the limit waits for two admins, is built as a PSBT (one digest per input),
// signed by the service and the platform key (a fake signer holding it), broadcast; left
// unconfirmed past bumpAfterMs it is rebuilt with a higher fee and signed again; bcoin keeps
// the first transaction (no BIP 125 in its mempool), which confirms, and the ledger debits that
// one's fee: the ledger balance equals the coins the chain holds for the wallet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBitcoinChain, type BitcoinChain } from '../../../src/custody/chains/bitcoin.js';
import { bcoinUtxoSource } from '../../../src/custody/chains/bitcoin-rpc.js';
import { bcoinRegtest, walletP2wsh } from '../../../src/custody/chains/bitcoin-script.js';
import type { WalletRecord, WithdrawalRecord } from '../../../src/custody/index.js';
import { createCustodyWorker, type SignerPort } from '../../../src/custody/worker.js';
import { regtestSegwitHeight, startBcoin, type BcoinNode } from '../../support/bcoin.js';
import { miner, payFromMiner } from '../../support/bcoin-miner.js';
import { cast, createDriver, keysArg, principal, walletKeys } from '../driver.js';
import { workerPorts } from '../ports.js';
import { changePolicy, field, must } from '../setup.js';

const network = bcoinRegtest;
const depth = 2;
const bumpAfterMs = 60_000;

let node: BcoinNode;
let chain: BitcoinChain;

beforeAll(async () => {
  node = await startBcoin();
  await node.mine(regtestSegwitHeight + 1, miner.address);
});
afterAll(async () => {
  chain.close();
  await node.stop();
});

describe('custody worker loop on Bitcoin (bcoin regtest)', () => {
  it('credits at depth, pays a withdrawal over the limit after approvals, bumps its fee when stuck, and debits the fee of the transaction that confirmed', async () => {
    const driver = createDriver({
      params: {
        policyQuorum: 2,
        chains: {
          bitcoin: { confirmations: depth, workers: [principal(cast.peer)], feeMax: '200000' },
        },
      },
    });
    const keys = walletKeys('secp256k1', 'bitcoin loop');
    const wallet = field<WalletRecord>(
      must(
        driver.run(cast.svc, 'create_wallet', {
          chain: 'bitcoin',
          keys: keysArg(keys, 'secp256k1'),
        }),
      ),
      'wallet',
    );
    const { ledger, custody } = workerPorts(driver, cast.peer);
    chain = createBitcoinChain({
      rpc: { url: node.rpcUrl, auth: { apiKey: node.apiKey } },
      network: 'bcoin-regtest',
      confirmations: depth,
      feeRateFallbackSatPerVb: 2,
      feeMaxSat: 200_000n,
      startHeight: regtestSegwitHeight + 1,
      ledger,
      pollMs: 20,
      mempoolWaitMs: 500,
    });
    const signed: number[] = [];
    const signer: SignerPort = {
      sign: (body) => {
        signed.push(body.digests.length);
        return Promise.resolve({
          signatures: body.digests.map((digest) => keys.platform.sign(digest, 'compact')),
        });
      },
    };
    let now = driver.now();
    const errors: string[] = [];
    const loop = createCustodyWorker({
      ledger,
      custody,
      signer,
      chain,
      bumpAfterMs,
      clock: () => now,
      onEvent: (event) => {
        if (event.kind === 'error') errors.push(`${event.action}: ${event.error}`);
      },
    });
    const btc = () =>
      field<{ asset: string; total: string; reserved: string }[]>(
        must(driver.query(cast.svc, 'balances', { walletId: wallet.id })),
        'balances',
      ).find((entry) => entry.asset === 'BTC');
    const onChain = async () =>
      (await bcoinUtxoSource(chain.rpc).coinsOf(address)).reduce(
        (sum, coin) => sum + coin.value,
        0n,
      );

    // The loop prepares the new wallet: its P2WSH address, registered.
    expect(await loop.step()).toMatchObject({ prepared: 1, errors: 0 });
    const address = walletP2wsh(2, wallet.keys, network).address;
    expect(
      field(must(driver.query(cast.svc, 'address', { chain: 'bitcoin', address })), 'address'),
    ).toMatchObject({ walletId: wallet.id });

    // A deposit, credited at depth 2, not at 1.
    await payFromMiner(node, [{ address, value: 3_000_000n }]);
    await node.mine(1, miner.address);
    expect(await loop.step()).toMatchObject({ deposits: 1, errors: 0 });
    expect(btc()).toBeUndefined();
    await node.mine(1, miner.address);
    await loop.step();
    expect(btc()).toMatchObject({ total: '3000000' });

    const elsewhere = walletKeys('secp256k1', 'elsewhere');
    const destination = walletP2wsh(
      2,
      {
        offline: elsewhere.offline.publicKey,
        service: elsewhere.service.publicKey,
        platform: { publicKey: elsewhere.platform.publicKey },
      },
      network,
    ).address;
    changePolicy(driver, wallet.id, { kind: 'whitelist_add', address: destination, label: 'out' });
    changePolicy(driver, wallet.id, {
      kind: 'set_limits',
      asset: 'BTC',
      perTransaction: '500000',
      rolling24h: '5000000',
    });
    const requested = field<WithdrawalRecord>(
      must(
        driver.run(cast.svc, 'request', {
          walletId: wallet.id,
          asset: 'BTC',
          amount: '1000000',
          destination,
          idempotencyKey: 'btc-1',
        }),
      ),
      'withdrawal',
    );
    const record = () =>
      field<WithdrawalRecord>(
        must(driver.query(cast.svc, 'withdrawal', { withdrawalId: requested.id })),
        'withdrawal',
      );
    expect(record().state).toBe('pending_approval');
    expect(await loop.step()).toMatchObject({ built: 0 });
    must(driver.run(cast.admin1, 'approve', { withdrawalId: requested.id }));
    expect(await loop.step()).toMatchObject({ built: 1, errors: 0 });
    const serviceSign = () => {
      const digests = record().digests ?? [];
      must(
        driver.run(cast.svc, 'service_sign', {
          withdrawalId: requested.id,
          signatures: digests.map((digest) => keys.service.sign(digest)),
        }),
      );
    };
    serviceSign();
    expect(await loop.step()).toMatchObject({ platformSigned: 1, errors: 0 });
    expect(await loop.step()).toMatchObject({ broadcast: 1, errors: 0 });
    const first = record();
    expect(first.state).toBe('broadcast');
    const firstFee = BigInt(first.fee ?? '0');
    expect(firstFee).toBeGreaterThan(0n);

    // Unconfirmed past bumpAfterMs: rebuilt at a higher fee, the same coins, signed again.
    expect(await loop.step()).toMatchObject({ rebuilt: 0 });
    now = driver.now() + bumpAfterMs;
    expect(await loop.step()).toMatchObject({ rebuilt: 1, errors: 0 });
    const rebuilt = record();
    expect(rebuilt).toMatchObject({
      state: 'built',
      replaced: [{ chainTxId: first.chainTxId, fee: first.fee }],
    });
    expect(BigInt(rebuilt.fee ?? '0')).toBeGreaterThan(firstFee);
    expect(btc()).toMatchObject({ reserved: (1_000_000n + BigInt(rebuilt.fee ?? '0')).toString() });
    serviceSign();
    expect(await loop.step()).toMatchObject({ platformSigned: 1 });
    // bcoin keeps the first spend in its mempool and refuses the replacement (no BIP 125):
    // the withdrawal is not failed, the first transaction is followed.
    await loop.step();
    expect(record().state).toBe('platform_signed');
    expect(errors.at(-1)).toMatch(/did not take|not sent|earlier transaction/);
    await node.mine(depth, miner.address);
    expect(await loop.step()).toMatchObject({ confirmed: 1 });
    expect(record()).toMatchObject({
      state: 'confirmed',
      chainTxId: first.chainTxId,
      fee: first.fee,
    });
    expect(signed).toEqual([1, 1]);
    // The ledger holds what the chain holds for the wallet: the change is no deposit.
    const total = 3_000_000n - 1_000_000n - firstFee;
    expect(btc()).toMatchObject({ total: total.toString(), reserved: '0' });
    await loop.step();
    expect(await onChain()).toBe(total);
    expect(btc()).toMatchObject({ total: total.toString() });
  }, 60_000);
});
