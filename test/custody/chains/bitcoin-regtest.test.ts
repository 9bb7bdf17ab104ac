// The Bitcoin pieces against a real regtest node (bcoin): a 2-of-3 P2WSH custody wallet is
// funded, spent with the service key and the HSM's raw r‖s signatures, broadcast, mined and
// confirmed; a confirmed deposit is dropped by invalidateblock and a competing chain; a fee bump replaces a
// pending spend (mined by a second node, a miner that took the replacement: bcoin 1.0.2 has
// no BIP 125 in its mempool, see below).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Psbt, type Transaction } from 'bitcoinjs-lib';
import { publicKeyOfScalar, signDigestWithScalar } from '../../../src/crypto/keys.js';
import {
  buildPsbt,
  bumpFee,
  finaliseTransaction,
  planWithdrawal,
  signAllInputs,
  type Utxo,
  type WithdrawalPlan,
} from '../../../src/custody/chains/bitcoin-psbt.js';
import {
  bcoinRegtest,
  compressPublicKey,
  walletP2wsh,
} from '../../../src/custody/chains/bitcoin-script.js';
import {
  regtestSegwitHeight,
  startBcoin,
  type BcoinCoin,
  type BcoinNode,
} from '../../support/bcoin.js';

const network = bcoinRegtest;
const coinbaseMaturity = 100;
const scalar = (n: number) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));
const pub = (n: number) => compressPublicKey(keyHex(n));
const signer = (n: number) => (digest: Uint8Array) =>
  Promise.resolve(signDigestWithScalar('secp256k1', scalar(n), digest));
const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** The HSM: raw r‖s as PKCS#11 returns it, here always with the high s (n - s). */
const hsm = (n: number) => async (digest: Uint8Array) => {
  const raw = await signer(n)(digest);
  const s = BigInt(`0x${Buffer.from(raw.subarray(32)).toString('hex')}`);
  raw.set(Buffer.from((secp256k1Order - s).toString(16).padStart(64, '0'), 'hex'), 32);
  return raw;
};

// The custody wallet: offline 1, service 2, platform (HSM) 3. Deposits go to another 2-of-3.
const wallet = walletP2wsh(
  2,
  { offline: keyHex(1), service: keyHex(2), platform: { publicKey: keyHex(3) } },
  network,
);
const other = walletP2wsh(
  2,
  { offline: keyHex(4), service: keyHex(5), platform: { publicKey: keyHex(6) } },
  network,
);
const minerAddress = walletP2wsh(
  1,
  { offline: keyHex(7), service: keyHex(8), platform: { publicKey: keyHex(9) } },
  network,
).address;

type RawTx = { txid: string; confirmations?: number; blockhash?: string | null };

describe('Bitcoin custody on a bcoin regtest node', () => {
  let node: BcoinNode;

  beforeAll(async () => {
    node = await startBcoin();
    // Coinbases to the custody wallet: segwit active, the first ones mature.
    await node.mine(regtestSegwitHeight + 1, wallet.address);
  });
  afterAll(async () => {
    await node.stop();
  });

  /** The wallet's spendable coins: confirmed, coinbases mature, not spent in the mempool. */
  async function spendable(address: string): Promise<Utxo[]> {
    const tip = await node.rpc<number>('getblockcount');
    const coins = await node.rest<BcoinCoin[]>(`/coin/address/${address}`);
    return coins
      .filter((c) => c.height > 0 && (!c.coinbase || tip - c.height + 1 >= coinbaseMaturity))
      .map((c) => ({ txid: c.hash, vout: c.index, value: BigInt(c.value) }));
  }

  /** Service and HSM sign separate copies; combined and finalised. */
  async function signed(plan: WithdrawalPlan): Promise<Transaction> {
    const psbt = buildPsbt(plan, wallet, network);
    const serviceCopy = Psbt.fromBase64(psbt.toBase64(), { network });
    const hsmCopy = Psbt.fromBase64(psbt.toBase64(), { network });
    await signAllInputs(serviceCopy, pub(2), signer(2));
    await signAllInputs(hsmCopy, pub(3), hsm(3));
    return finaliseTransaction([serviceCopy, hsmCopy], 2);
  }

  async function withdraw(amount: bigint, feeRateSatPerVb: number) {
    const plan = planWithdrawal({
      wallet,
      utxos: await spendable(wallet.address),
      destination: other.address,
      amount,
      feeRateSatPerVb,
      network,
    });
    return { plan, tx: await signed(plan) };
  }

  it('spends the 2-of-3 with the service key and the HSM, broadcast, mined, confirmed', async () => {
    const { plan, tx } = await withdraw(100_000_000n, 2);
    const txid = await node.broadcast(tx.toHex());
    expect(txid).toBe(tx.getId());
    expect(await node.rpc<string[]>('getrawmempool')).toContain(txid);

    const [blockHash] = await node.mine(1, minerAddress);
    const seen = await node.rpc<RawTx>('getrawtransaction', [txid, 1]);
    expect(seen.confirmations).toBe(1);
    expect(seen.blockhash).toBe(blockHash);
    const received = await node.rest<BcoinCoin[]>(`/coin/address/${other.address}`);
    expect(received.map((c) => [c.hash, c.value])).toEqual([[txid, 100_000_000]]);
    const change = (await node.rest<BcoinCoin[]>(`/coin/address/${wallet.address}`)).find(
      (c) => c.hash === txid,
    );
    expect(change?.value).toBe(Number(plan.change));
  });

  it('a confirmed deposit is dropped by invalidateblock and a competing chain', async () => {
    const { tx } = await withdraw(30_000_000n, 3);
    const txid = await node.broadcast(tx.toHex());
    const [depositBlock] = await node.mine(1, minerAddress);
    if (depositBlock === undefined) throw new Error('no block mined');
    const height = await node.rpc<number>('getblockcount');
    expect((await node.rpc<RawTx>('getrawtransaction', [txid, 1])).confirmations).toBe(1);
    const deposits = async () =>
      (await node.rest<BcoinCoin[]>(`/coin/address/${other.address}`)).filter(
        (c) => c.hash === txid,
      );
    expect(await deposits()).toHaveLength(1);

    // bcoin's invalidateblock resets the chain to the block's parent and, unlike Bitcoin Core,
    // does not put the block's transactions back into the mempool: the deposit is gone.
    await node.rpc('invalidateblock', [depositBlock]);
    expect(await node.rpc<number>('getblockcount')).toBe(height - 1);
    await expect(node.rpc('getrawtransaction', [txid, 1])).rejects.toThrow(/not found/);
    expect(await deposits()).toEqual([]);

    // The competing chain grows past the old tip without it; the coins it spent are the
    // wallet's again.
    const competing = await node.mine(2, minerAddress);
    expect(await node.rpc<number>('getblockcount')).toBe(height + 1);
    expect(await node.rpc('getbestblockhash')).toBe(competing[1]);
    expect(await deposits()).toEqual([]);
    const spendableIds = (await spendable(wallet.address)).map((c) => `${c.txid}:${c.vout}`);
    for (const input of tx.ins) {
      const outpoint = `${Buffer.from(input.hash).reverse().toString('hex')}:${input.index}`;
      expect(spendableIds).toContain(outpoint);
    }
  });

  it('a fee bump on the same inputs replaces a pending spend', async () => {
    const { plan, tx: original } = await withdraw(20_000_000n, 1);
    const originalId = await node.broadcast(original.toHex());
    const bumped = bumpFee(plan, wallet, 10, network);
    const replacement = await signed(bumped);
    expect(replacement.ins.map((i) => i.hash)).toEqual(original.ins.map((i) => i.hash));
    expect(replacement.outs[0]?.value).toBe(original.outs[0]?.value);

    // bcoin 1.0.2 implements no BIP 125: it refuses the conflicting spend outright.
    await expect(node.broadcast(replacement.toHex())).rejects.toThrow(/bad-txns-inputs-spent/);
    // A miner that never saw the original (a second node with the same chain and an empty
    // mempool, as a full-RBF miner would hold it) takes the replacement and mines it; the first
    // node connects that block and drops the original it conflicts with.
    const miner = await startBcoin();
    try {
      const tip = await node.rpc<number>('getblockcount');
      for (let height = 1; height <= tip; height += 1) {
        const hash = await node.rpc<string>('getblockhash', [height]);
        const raw = await node.rpc<string>('getblock', [hash, false]);
        expect(await miner.rpc<string | null>('submitblock', [raw])).toBeNull();
      }
      const replacementId = await miner.broadcast(replacement.toHex());
      const [block] = await miner.mine(1, minerAddress);
      if (block === undefined) throw new Error('no block mined');
      expect(
        await node.rpc<string | null>('submitblock', [await miner.rpc('getblock', [block, false])]),
      ).toBeNull();
      expect(await node.rpc<string[]>('getrawmempool')).not.toContain(originalId);
      const confirmed = await node.rpc<RawTx>('getrawtransaction', [replacementId, 1]);
      expect(confirmed.blockhash).toBe(block);
      expect(confirmed.confirmations).toBe(1);
      await expect(node.broadcast(original.toHex())).rejects.toThrow();
    } finally {
      await miner.stop();
    }
  });
});
