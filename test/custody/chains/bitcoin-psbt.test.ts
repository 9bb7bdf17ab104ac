// The PSBT flow without a node: coin selection and fees, per-input BIP 143 digests, raw r‖s
// signatures (one of them high-S, as an HSM may return) into DER low-S partial signatures,
// combine, finalise, extract; replace-by-fee.
import { describe, expect, it } from 'vitest';
import { Psbt, Transaction, script as bitcoinScript } from 'bitcoinjs-lib';
import { publicKeyOfScalar, signDigestWithScalar } from '../../../src/crypto/keys.js';
import {
  addRawSignature,
  buildPsbt,
  bumpFee,
  changeDustSat,
  estimateVsize,
  finaliseTransaction,
  inputDigests,
  planWithdrawal,
  rbfSequence,
  signAllInputs,
  type Utxo,
} from '../../../src/custody/chains/bitcoin-psbt.js';
import {
  bcoinRegtest,
  compressPublicKey,
  outputScriptOf,
  walletP2wsh,
} from '../../../src/custody/chains/bitcoin-script.js';

const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const bytes = (value: string) => new Uint8Array(Buffer.from(value, 'hex'));
const scalar = (n: number) => bytes(n.toString(16).padStart(64, '0'));
const network = bcoinRegtest;

// offline = 1, service = 2, platform (HSM) = 3.
const wallet = walletP2wsh(
  2,
  {
    offline: publicKeyOfScalar('secp256k1', scalar(1)),
    service: publicKeyOfScalar('secp256k1', scalar(2)),
    platform: { publicKey: publicKeyOfScalar('secp256k1', scalar(3)) },
  },
  network,
);
const pub = (n: number) => compressPublicKey(publicKeyOfScalar('secp256k1', scalar(n)));
const softSigner = (n: number) => (digest: Uint8Array) =>
  Promise.resolve(signDigestWithScalar('secp256k1', scalar(n), digest));
/** An HSM that returns s as it comes (high half for these digests half the time). */
const highSSigner = (n: number) => async (digest: Uint8Array) => {
  const low = await softSigner(n)(digest);
  const s = BigInt(`0x${Buffer.from(low.subarray(32)).toString('hex')}`);
  const out = new Uint8Array(low);
  out.set(bytes((secp256k1Order - s).toString(16).padStart(64, '0')), 32);
  return out;
};

// A destination of another key (P2WSH of 4, 5, 6) on the same network.
const destination = walletP2wsh(
  2,
  {
    offline: publicKeyOfScalar('secp256k1', scalar(4)),
    service: publicKeyOfScalar('secp256k1', scalar(5)),
    platform: { publicKey: publicKeyOfScalar('secp256k1', scalar(6)) },
  },
  network,
).address;

const utxo = (i: number, value: bigint): Utxo => ({
  txid: i.toString(16).padStart(64, '0'),
  vout: i % 3,
  value,
});
const coins = [utxo(1, 50_000n), utxo(2, 200_000n), utxo(3, 120_000n), utxo(4, 120_000n)];

describe('coin selection and fees', () => {
  it('takes the largest coins first and sends the change back to the wallet', () => {
    const plan = planWithdrawal({
      wallet,
      utxos: coins,
      destination,
      amount: 250_000n,
      feeRateSatPerVb: 10,
      network,
    });
    // 200 000 alone is short; the two 120 000 coins tie, the lower txid comes first.
    expect(plan.inputs.map((c) => c.value)).toEqual([200_000n, 120_000n]);
    expect(plan.inputs[1]?.txid).toBe(utxo(3, 0n).txid);
    const vsize = estimateVsize(wallet, 2, [
      outputScriptOf(destination, network),
      wallet.outputScript,
    ]);
    expect(plan.vsize).toBe(vsize);
    expect(plan.fee).toBe(BigInt(vsize * 10));
    expect(plan.change).toBe(320_000n - 250_000n - plan.fee);
  });

  it('gives change below dust to the fee', () => {
    const fee1 = BigInt(estimateVsize(wallet, 1, [outputScriptOf(destination, network)]) * 2);
    const plan = planWithdrawal({
      wallet,
      utxos: [utxo(9, 100_000n)],
      destination,
      amount: 100_000n - fee1 - changeDustSat + 1n,
      feeRateSatPerVb: 2,
      network,
    });
    expect(plan.change).toBeNull();
    expect(plan.fee).toBe(changeDustSat - 1n + fee1);
  });

  it('refuses what the coins cannot pay with CUSTODY_E_INSUFFICIENT_FUNDS', () => {
    expect(() =>
      planWithdrawal({
        wallet,
        utxos: coins,
        destination,
        amount: 490_000n,
        feeRateSatPerVb: 5,
        network,
      }),
    ).toThrow(expect.objectContaining({ code: 'CUSTODY_E_INSUFFICIENT_FUNDS' }));
  });

  it('refuses a fee rate out of bounds and a dust amount', () => {
    for (const [amount, feeRateSatPerVb] of [
      [10_000n, 0],
      [10_000n, Number.NaN],
      [10_000n, 1e9],
      [100n, 5],
    ] as const) {
      expect(() =>
        planWithdrawal({ wallet, utxos: coins, destination, amount, feeRateSatPerVb, network }),
      ).toThrow(expect.objectContaining({ code: 'CUSTODY_E_PARAMS_INVALID' }));
    }
  });
});

function twoCoinPsbt(feeRateSatPerVb = 10) {
  const plan = planWithdrawal({
    wallet,
    utxos: coins,
    destination,
    amount: 250_000n,
    feeRateSatPerVb,
    network,
  });
  return { plan, psbt: buildPsbt(plan, wallet, network) };
}

describe('signing', () => {
  it('signs each input with the service key and the HSM path, combines and finalises', async () => {
    const { plan, psbt } = twoCoinPsbt();
    const digests = inputDigests(psbt);
    expect(digests).toHaveLength(2);
    expect(new Set(digests.map((d) => Buffer.from(d).toString('hex'))).size).toBe(2);

    // Each party signs its own copy (the PSBT travels as base64), then they are combined.
    const serviceCopy = Psbt.fromBase64(psbt.toBase64(), { network });
    const hsmCopy = Psbt.fromBase64(psbt.toBase64(), { network });
    await signAllInputs(serviceCopy, pub(2), softSigner(2));
    await signAllInputs(hsmCopy, pub(3), highSSigner(3));
    const tx = finaliseTransaction([serviceCopy, hsmCopy], 2);

    expect(tx.ins.map((input) => input.sequence)).toEqual([rbfSequence, rbfSequence]);
    expect(tx.outs.map((output) => output.value)).toEqual([250_000n, plan.change]);
    for (const input of tx.ins) {
      // witness: empty, sig, sig, witnessScript; signatures low-S DER + SIGHASH_ALL.
      expect(input.witness).toHaveLength(4);
      expect(input.witness[3]).toEqual(wallet.witnessScript);
      for (const sig of input.witness.slice(1, 3)) {
        const decoded = bitcoinScript.signature.decode(sig);
        expect(decoded.hashType).toBe(Transaction.SIGHASH_ALL);
        const s = BigInt(`0x${Buffer.from(decoded.signature.subarray(32)).toString('hex')}`);
        expect(s <= secp256k1Order / 2n).toBe(true);
      }
    }
    // The estimate is an upper bound of the real size, within a few bytes.
    expect(tx.virtualSize()).toBeLessThanOrEqual(plan.vsize);
    expect(plan.vsize - tx.virtualSize()).toBeLessThanOrEqual(4);
  });

  it('finalises with the offline key and the service key (the recovery pair)', async () => {
    const { psbt } = twoCoinPsbt();
    await signAllInputs(psbt, pub(1), softSigner(1));
    await signAllInputs(psbt, pub(2), softSigner(2));
    expect(finaliseTransaction([psbt], 2).ins).toHaveLength(2);
  });

  it('refuses a signature over another digest, a foreign key and a short signature', async () => {
    const { psbt } = twoCoinPsbt();
    const [first, second] = inputDigests(psbt);
    if (first === undefined || second === undefined) throw new Error('two inputs expected');
    const wrong = await softSigner(2)(second);
    expect(() => {
      addRawSignature(psbt, 0, pub(2), wrong);
    }).toThrow(expect.objectContaining({ code: 'CUSTODY_E_SIGNATURE_INVALID' }));
    const byOther = await softSigner(3)(first);
    expect(() => {
      addRawSignature(psbt, 0, pub(2), byOther);
    }).toThrow(expect.objectContaining({ code: 'CUSTODY_E_SIGNATURE_INVALID' }));
    expect(() => {
      addRawSignature(psbt, 0, pub(4), byOther);
    }).toThrow(expect.objectContaining({ code: 'CUSTODY_E_KEY_INVALID' }));
    expect(() => {
      addRawSignature(psbt, 0, pub(3), byOther.subarray(0, 63));
    }).toThrow(expect.objectContaining({ code: 'CUSTODY_E_SIGNATURE_INVALID' }));
  });

  it('refuses to finalise with one signature per input', async () => {
    const { psbt } = twoCoinPsbt();
    await signAllInputs(psbt, pub(2), softSigner(2));
    expect(() => finaliseTransaction([psbt], 2)).toThrow(
      expect.objectContaining({ code: 'CUSTODY_E_SIGNATURE_INVALID' }),
    );
  });
});

describe('replace-by-fee', () => {
  it('keeps the inputs and the amount and pays the new rate out of the change', () => {
    const { plan } = twoCoinPsbt(5);
    const bumped = bumpFee(plan, wallet, 20, network);
    expect(bumped.inputs).toEqual(plan.inputs);
    expect(bumped.amount).toBe(plan.amount);
    expect(bumped.fee).toBe(BigInt(bumped.vsize * 20));
    expect(bumped.fee).toBeGreaterThanOrEqual(plan.fee + BigInt(bumped.vsize));
    expect((bumped.change ?? 0n) + bumped.fee).toBe((plan.change ?? 0n) + plan.fee);
  });

  it('refuses a bump that does not pay for its own relay (BIP 125 rule 4)', () => {
    const { plan } = twoCoinPsbt(5);
    expect(() => bumpFee(plan, wallet, 5.5, network)).toThrow(
      expect.objectContaining({ code: 'CUSTODY_E_INSUFFICIENT_FUNDS' }),
    );
    expect(() => bumpFee(plan, wallet, 6, network)).not.toThrow();
  });

  it('refuses a bump the change cannot pay', () => {
    const { plan } = twoCoinPsbt(5);
    expect(() => bumpFee(plan, wallet, 1_000, network)).toThrow(
      expect.objectContaining({ code: 'CUSTODY_E_INSUFFICIENT_FUNDS' }),
    );
  });
});
