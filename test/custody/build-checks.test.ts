// What the custody app checks at `build` on Ethereum and Bitcoin, through the app's own actions:
// a worker that is wrong or compromised cannot get the keys to sign anything but the approved
// payment (the bypass attempts of issue 7 on these chains), and a Bitcoin fee is capped,
// reserved at build, debited with the amount at confirmation and released with it otherwise.
import { randomBytes } from 'node:crypto';
import { Psbt, payments } from 'bitcoinjs-lib';
import { describe, expect, it } from 'vitest';
import {
  buildPsbt,
  bumpFee,
  inputDigests,
  planWithdrawal,
} from '../../src/custody/chains/bitcoin-psbt.js';
import { bcoinRegtest, walletP2wsh } from '../../src/custody/chains/bitcoin-script.js';
import {
  callSafeTx,
  encodeSafeTxEnvelope,
  erc20TransferData,
  safeTxHash,
  type SafeTx,
  type SafeTxEnvelope,
} from '../../src/custody/chains/safe.js';
import type { WalletRecord, WithdrawalRecord } from '../../src/custody/index.js';
import {
  cast,
  createDriver,
  keysArg,
  principal,
  walletKeys,
  type Driver,
  type WalletKeys,
} from './driver.js';
import { changePolicy, field, must } from './setup.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const chainId = '31337';
const token = `0x${'7e'.repeat(20)}`;
const safeAddress = `0x${'5a'.repeat(20)}`;

function driverFor(extra: Record<string, unknown> = {}): Driver {
  return createDriver({
    params: {
      policyQuorum: 2,
      chains: {
        ethereum: {
          confirmations: 1,
          workers: [principal(cast.ethworker)],
          chainId,
          tokens: { USDT: token },
        },
        bitcoin: { confirmations: 1, workers: [principal(cast.peer)], feeMax: '50000' },
      },
      ...extra,
    },
  });
}

type Funded = {
  readonly wallet: WalletRecord;
  readonly keys: WalletKeys;
  readonly destination: string;
  readonly withdrawal: (amount: string, asset?: string) => WithdrawalRecord;
};

/** A wallet of `chain` with `address` registered, funded, a whitelisted destination, no limits hit. */
function funded(
  driver: Driver,
  chain: 'ethereum' | 'bitcoin',
  address: (wallet: WalletRecord) => string,
  destination: string,
  assets: readonly string[],
): Funded {
  const worker = chain === 'ethereum' ? cast.ethworker : cast.peer;
  const keys = walletKeys('secp256k1', `${chain} ${hex(randomBytes(6))}`);
  const wallet = field<WalletRecord>(
    must(driver.run(cast.svc, 'create_wallet', { chain, keys: keysArg(keys, 'secp256k1') })),
    'wallet',
  );
  must(driver.run(cast.svc, 'add_address', { walletId: wallet.id, address: address(wallet) }));
  for (const asset of assets) {
    const output = { chain, chainTxId: `fund-${hex(randomBytes(8))}`, outputIndex: 0 };
    must(
      driver.run(worker, 'deposit_seen', {
        ...output,
        address: address(wallet),
        asset,
        amount: '1000000',
        blockHeight: 10,
        blockHash: 'b10',
      }),
    );
    must(driver.run(worker, 'deposit_confirmations', { ...output, confirmations: 1 }));
    changePolicy(driver, wallet.id, {
      kind: 'set_limits',
      asset,
      perTransaction: '1000000',
      rolling24h: '1000000',
    });
  }
  changePolicy(driver, wallet.id, { kind: 'whitelist_add', address: destination, label: 'out' });
  let n = 0;
  const withdrawal = (amount: string, asset = assets[0] ?? ''): WithdrawalRecord =>
    field<WithdrawalRecord>(
      must(
        driver.run(cast.svc, 'request', {
          walletId: wallet.id,
          asset,
          amount,
          destination,
          idempotencyKey: `k${++n}`,
        }),
      ),
      'withdrawal',
    );
  return { wallet, keys, destination, withdrawal };
}

function buildOutcome(
  driver: Driver,
  who: typeof cast.ethworker,
  id: string,
  unsignedTx: string,
  digests: readonly string[],
): string {
  const outcome = driver.run(who, 'build', { withdrawalId: id, unsignedTx, digests });
  return outcome.ok ? 'built' : outcome.code;
}

describe('ethereum builds', () => {
  const destination = `0x${'d0'.repeat(20)}`;
  const setup = () => {
    const driver = driverFor();
    const ready = funded(driver, 'ethereum', () => safeAddress, destination, ['ETH', 'USDT']);
    const envelope = (tx: SafeTx, extra: Partial<SafeTxEnvelope> = {}): SafeTxEnvelope => ({
      chainId,
      safe: safeAddress,
      tx,
      ...extra,
    });
    const attempt = (record: WithdrawalRecord, built: SafeTxEnvelope, digest?: string) =>
      buildOutcome(driver, cast.ethworker, record.id, encodeSafeTxEnvelope(built), [
        digest ?? safeTxHash(built).slice(2),
      ]);
    return { driver, ready, envelope, attempt };
  };

  it('records the SafeTx paying exactly the approved ether or token transfer, fee 0', () => {
    const { driver, ready, envelope, attempt } = setup();
    const ether = ready.withdrawal('1000');
    expect(attempt(ether, envelope(callSafeTx(destination, 1000n, '0x', 0n)))).toBe('built');
    const stored = field<WithdrawalRecord>(
      must(driver.query(cast.svc, 'withdrawal', { withdrawalId: ether.id })),
      'withdrawal',
    );
    expect(stored).toMatchObject({ state: 'built', fee: '0' });
    const usdt = ready.withdrawal('500', 'USDT');
    const transfer = callSafeTx(token, 0n, erc20TransferData(destination, 500n), 1n);
    expect(attempt(usdt, envelope(transfer))).toBe('built');
  });

  it('refuses another chain, Safe, destination, amount, token, a refund, and a digest not its hash', () => {
    const { ready, envelope, attempt } = setup();
    const record = ready.withdrawal('1000');
    const good = callSafeTx(destination, 1000n, '0x', 0n);
    const attacker = `0x${'ba'.repeat(20)}`;
    expect(attempt(record, envelope(good, { chainId: '1' }))).toBe('CUSTODY_E_TX_MISMATCH');
    expect(attempt(record, envelope(good, { safe: `0x${'5b'.repeat(20)}` }))).toBe(
      'CUSTODY_E_TX_MISMATCH',
    );
    expect(attempt(record, envelope(callSafeTx(attacker, 1000n, '0x', 0n)))).toBe(
      'CUSTODY_E_TX_MISMATCH',
    );
    expect(attempt(record, envelope(callSafeTx(destination, 1001n, '0x', 0n)))).toBe(
      'CUSTODY_E_TX_MISMATCH',
    );
    // Ether withdrawal built as a call with calldata (e.g. a token transfer to the attacker).
    const call = callSafeTx(destination, 1000n, erc20TransferData(attacker, 1n), 0n);
    expect(attempt(record, envelope(call))).toBe('CUSTODY_E_TX_MISMATCH');
    // A gas refund would pay the relayer from the Safe.
    expect(
      attempt(
        record,
        envelope({ ...good, gasPrice: '1', refundReceiver: attacker.replace(/^0x/, '0x') }),
      ),
    ).toBe('CUSTODY_E_TX_MISMATCH');
    expect(attempt(record, envelope(good), 'ab'.repeat(32))).toBe('CUSTODY_E_DIGEST_MISMATCH');
    // The token withdrawal sent to another token contract.
    const usdt = ready.withdrawal('500', 'USDT');
    const otherToken = callSafeTx(attacker, 0n, erc20TransferData(destination, 500n), 0n);
    expect(attempt(usdt, envelope(otherToken))).toBe('CUSTODY_E_TX_MISMATCH');
    // Still approved: a correct build goes through after every refusal.
    expect(attempt(record, envelope(good))).toBe('built');
  });

  it('refuses every ethereum build while the chain id is not governed', () => {
    const driver = createDriver({
      params: {
        policyQuorum: 2,
        chains: { ethereum: { confirmations: 1, workers: [principal(cast.ethworker)] } },
      },
    });
    const ready = funded(driver, 'ethereum', () => safeAddress, destination, ['ETH']);
    const record = ready.withdrawal('1000');
    const built: SafeTxEnvelope = {
      chainId,
      safe: safeAddress,
      tx: callSafeTx(destination, 1000n, '0x', 0n),
    };
    expect(
      buildOutcome(driver, cast.ethworker, record.id, encodeSafeTxEnvelope(built), [
        safeTxHash(built).slice(2),
      ]),
    ).toBe('CUSTODY_E_PARAMS_INVALID');
  });
});

describe('bitcoin builds', () => {
  const network = bcoinRegtest;
  const p2wpkh = (seed: string): string =>
    payments.p2wpkh({
      pubkey: Buffer.from(walletKeys('secp256k1', seed).service.compressed, 'hex'),
      network,
    }).address ?? '';
  const destination = p2wpkh('exchange');
  const coin = (value: bigint) => ({ txid: hex(randomBytes(32)), vout: 0, value });

  const setup = (extra: Record<string, unknown> = {}) => {
    const driver = driverFor(extra);
    const p2wsh = (wallet: WalletRecord) =>
      walletP2wsh(wallet.threshold.m, wallet.keys, network).address;
    const ready = funded(driver, 'bitcoin', p2wsh, destination, ['BTC']);
    const own = walletP2wsh(ready.wallet.threshold.m, ready.wallet.keys, network);
    const plan = (amount: bigint, coins = [coin(600_000n), coin(300_000n)], rate = 10) =>
      planWithdrawal({
        wallet: own,
        utxos: coins,
        destination,
        amount,
        feeRateSatPerVb: rate,
        network,
      });
    const attempt = (record: WithdrawalRecord, psbt: Psbt, digests?: readonly string[]) =>
      buildOutcome(
        driver,
        cast.peer,
        record.id,
        psbt.toHex(),
        digests ?? inputDigests(psbt).map(hex),
      );
    const btc = () =>
      field<{ asset: string; total: string; reserved: string; available: string }[]>(
        must(driver.query(cast.svc, 'balances', { walletId: ready.wallet.id })),
        'balances',
      ).find((entry) => entry.asset === 'BTC');
    const stored = (id: string) =>
      field<WithdrawalRecord>(
        must(driver.query(cast.svc, 'withdrawal', { withdrawalId: id })),
        'withdrawal',
      );
    return { driver, ready, own, plan, attempt, btc, stored };
  };

  it('records a PSBT paying the destination with change home; the fee is reserved, then debited with the amount', () => {
    const { driver, ready, own, plan, attempt, btc, stored } = setup();
    const record = ready.withdrawal('700000');
    const planned = plan(700_000n);
    const psbt = buildPsbt(planned, own, network);
    expect(attempt(record, psbt)).toBe('built');
    const fee = planned.fee;
    expect(stored(record.id)).toMatchObject({ state: 'built', fee: fee.toString() });
    expect(stored(record.id).digests).toHaveLength(2);
    expect(btc()).toMatchObject({
      total: '1000000',
      reserved: (700_000n + fee).toString(),
      available: (300_000n - fee).toString(),
    });
    const digests = stored(record.id).digests ?? [];
    const sign = (key: 'service' | 'platform') =>
      digests.map((digest) => ready.keys[key].sign(digest, 'compact'));
    must(
      driver.run(cast.svc, 'service_sign', {
        withdrawalId: record.id,
        signatures: sign('service'),
      }),
    );
    must(
      driver.run(cast.peer, 'platform_sign', {
        withdrawalId: record.id,
        signatures: sign('platform'),
      }),
    );
    must(
      driver.run(cast.peer, 'broadcast', { withdrawalId: record.id, chainTxId: 'aa'.repeat(32) }),
    );
    must(
      driver.run(cast.peer, 'confirm', {
        withdrawalId: record.id,
        blockHeight: 11,
        blockHash: 'b11',
      }),
    );
    expect(btc()).toMatchObject({
      total: (300_000n - fee).toString(),
      reserved: '0',
    });
  });

  it('releases the fee with the amount when a built withdrawal is rejected', () => {
    const { driver, ready, own, plan, attempt, btc } = setup();
    const record = ready.withdrawal('100000');
    expect(attempt(record, buildPsbt(plan(100_000n), own, network))).toBe('built');
    must(driver.run(cast.admin2, 'reject', { withdrawalId: record.id, reason: 'no' }));
    expect(btc()).toMatchObject({ total: '1000000', reserved: '0', available: '1000000' });
  });

  it('takes one signature per digest, each over its own digest, all or none', () => {
    const { driver, ready, own, plan, attempt, stored } = setup();
    const record = ready.withdrawal('700000');
    expect(attempt(record, buildPsbt(plan(700_000n), own, network))).toBe('built');
    const digests = stored(record.id).digests ?? [];
    const signs = (signatures: string[]) => {
      const outcome = driver.run(cast.svc, 'service_sign', {
        withdrawalId: record.id,
        signatures,
      });
      return outcome.ok ? 'signed' : outcome.code;
    };
    const [first = '', second = ''] = digests.map((digest) => ready.keys.service.sign(digest));
    expect(signs([first])).toBe('CUSTODY_E_SIGNATURE_INVALID');
    expect(signs([second, first])).toBe('CUSTODY_E_SIGNATURE_INVALID');
    expect(signs([first, first])).toBe('CUSTODY_E_SIGNATURE_INVALID');
    expect(stored(record.id).state).toBe('built');
    expect(signs([first, second])).toBe('signed');
  });

  it('refuses a second payment hidden as change, change elsewhere, a short amount, a foreign coin, reordered digests, a lock time and a fee over feeMax', () => {
    const { ready, own, plan, attempt } = setup();
    const record = ready.withdrawal('100000');
    const attacker = p2wpkh('attacker');
    const base = () => buildPsbt(plan(100_000n), own, network);

    const extra = base();
    extra.addOutput({ address: attacker, value: 1000n });
    expect(attempt(record, extra)).toBe('CUSTODY_E_TX_MISMATCH');

    const elsewhere = new Psbt({ network });
    const planned = plan(100_000n);
    for (const input of planned.inputs) {
      elsewhere.addInput({
        hash: input.txid,
        index: input.vout,
        witnessUtxo: { script: own.outputScript, value: input.value },
        witnessScript: own.witnessScript,
      });
    }
    elsewhere.addOutput({ address: destination, value: 100_000n });
    elsewhere.addOutput({ address: attacker, value: planned.change ?? 0n });
    expect(attempt(record, elsewhere)).toBe('CUSTODY_E_TX_MISMATCH');

    const short = buildPsbt({ ...plan(100_000n), amount: 99_000n }, own, network);
    expect(attempt(record, short)).toBe('CUSTODY_E_TX_MISMATCH');

    const foreign = base();
    const other = walletP2wsh(
      2,
      {
        offline: walletKeys('secp256k1', 'x').offline.publicKey,
        service: walletKeys('secp256k1', 'x').service.publicKey,
        platform: { publicKey: walletKeys('secp256k1', 'x').platform.publicKey },
      },
      network,
    );
    foreign.addInput({
      hash: hex(randomBytes(32)),
      index: 1,
      witnessUtxo: { script: other.outputScript, value: 5000n },
      witnessScript: other.witnessScript,
    });
    expect(attempt(record, foreign)).toBe('CUSTODY_E_TX_MISMATCH');

    const two = buildPsbt(plan(100_000n, [coin(60_000n), coin(60_000n)]), own, network);
    const digests = inputDigests(two).map(hex);
    expect(attempt(record, two, [...digests].reverse())).toBe('CUSTODY_E_DIGEST_MISMATCH');
    expect(attempt(record, two, digests.slice(0, 1))).toBe('CUSTODY_E_DIGEST_MISMATCH');

    const locked = base();
    locked.setLocktime(500_000);
    expect(attempt(record, locked)).toBe('CUSTODY_E_TX_MISMATCH');

    // 400 sat/vB on a one-input spend of about 190 vB is over the 50,000 sat feeMax.
    const greedy = buildPsbt(plan(100_000n, undefined, 400), own, network);
    expect(attempt(record, greedy)).toBe('CUSTODY_E_FEE_TOO_HIGH');

    expect(attempt(record, base())).toBe('built');
  });

  it('refuses a fee the wallet cannot cover beside the amount', () => {
    const { ready, own, plan, attempt, stored } = setup();
    const record = ready.withdrawal('999000');
    // The chain holds more than the ledger credited (1,000,000 sat): the fee is over what is left.
    const planned = plan(999_000n, [coin(2_000_000n)]);
    expect(planned.fee).toBeGreaterThan(1000n);
    expect(attempt(record, buildPsbt(planned, own, network))).toBe('CUSTODY_E_INSUFFICIENT_FUNDS');
    expect(stored(record.id).state).toBe('approved');
  });

  it('rebuilds a broadcast withdrawal with a higher fee; the earlier transaction may still confirm, and only its fee is debited', () => {
    const { driver, ready, own, plan, attempt, btc, stored } = setup();
    const record = ready.withdrawal('100000');
    const first = plan(100_000n);
    expect(attempt(record, buildPsbt(first, own, network))).toBe('built');
    const signAll = () => {
      const digests = stored(record.id).digests ?? [];
      for (const [who, action, key] of [
        [cast.svc, 'service_sign', 'service'],
        [cast.peer, 'platform_sign', 'platform'],
      ] as const) {
        must(
          driver.run(who, action, {
            withdrawalId: record.id,
            signatures: digests.map((digest) => ready.keys[key].sign(digest)),
          }),
        );
      }
    };
    signAll();
    const original = 'a1'.repeat(32);
    must(driver.run(cast.peer, 'broadcast', { withdrawalId: record.id, chainTxId: original }));
    const rebuild = (psbt: Psbt) => {
      const outcome = driver.run(cast.peer, 'rebuild', {
        withdrawalId: record.id,
        unsignedTx: psbt.toHex(),
        digests: inputDigests(psbt).map(hex),
      });
      return outcome.ok ? 'rebuilt' : outcome.code;
    };
    // Not a replacement: the same fee, or other coins (both could confirm).
    expect(rebuild(buildPsbt(first, own, network))).toBe('CUSTODY_E_TX_MISMATCH');
    expect(rebuild(buildPsbt(plan(100_000n, [coin(700_000n)], 20), own, network))).toBe(
      'CUSTODY_E_TX_MISMATCH',
    );
    const bumped = bumpFee(first, own, 25, network);
    expect(rebuild(buildPsbt(bumped, own, network))).toBe('rebuilt');
    expect(stored(record.id)).toMatchObject({
      state: 'built',
      fee: bumped.fee.toString(),
      replaced: [{ chainTxId: original, fee: first.fee.toString() }],
      serviceSignatures: null,
    });
    expect(btc()).toMatchObject({ reserved: (100_000n + bumped.fee).toString() });
    // It went out once: neither the admins nor the clock can end it now.
    expect(driver.run(cast.admin2, 'reject', { withdrawalId: record.id })).toMatchObject({
      ok: false,
      code: 'CUSTODY_E_BAD_STATE',
    });
    signAll();
    // The original confirms before the replacement goes out: its lower fee is what is debited.
    expect(
      driver.run(cast.peer, 'confirm', {
        withdrawalId: record.id,
        blockHeight: 12,
        blockHash: 'b12',
        chainTxId: 'ff'.repeat(32),
      }),
    ).toMatchObject({ ok: false, code: 'CUSTODY_E_BAD_STATE' });
    must(
      driver.run(cast.peer, 'confirm', {
        withdrawalId: record.id,
        blockHeight: 12,
        blockHash: 'b12',
        chainTxId: original,
      }),
    );
    expect(stored(record.id)).toMatchObject({
      state: 'confirmed',
      chainTxId: original,
      fee: first.fee.toString(),
    });
    expect(btc()).toMatchObject({
      total: (1_000_000n - 100_000n - first.fee).toString(),
      reserved: '0',
    });
  });

  it('rebuilds only broadcast bitcoin withdrawals', () => {
    const { driver, ready, own, plan, attempt } = setup();
    const record = ready.withdrawal('100000');
    const psbt = buildPsbt(plan(100_000n), own, network);
    expect(attempt(record, psbt)).toBe('built');
    const bumped = buildPsbt(bumpFee(plan(100_000n), own, 30, network), own, network);
    expect(
      driver.run(cast.peer, 'rebuild', {
        withdrawalId: record.id,
        unsignedTx: bumped.toHex(),
        digests: inputDigests(bumped).map(hex),
      }),
    ).toMatchObject({ ok: false, code: 'CUSTODY_E_BAD_STATE' });
  });
});
