// The Bitcoin tests' miner: a 1-of-3 P2WSH (keys 7, 8 and 9) that a bcoin regtest node mines
// to, and a payment from one of its mature coinbases. No vitest imports.
import { Psbt } from 'bitcoinjs-lib';
import { publicKeyOfScalar, signDigestWithScalar } from '../../src/crypto/keys.js';
import {
  finaliseTransaction,
  signAllInputs,
  spendableCoins,
} from '../../src/custody/chains/bitcoin-psbt.js';
import { bcoinUtxoSource, createBitcoinRpc } from '../../src/custody/chains/bitcoin-rpc.js';
import {
  bcoinRegtest,
  compressPublicKey,
  walletP2wsh,
} from '../../src/custody/chains/bitcoin-script.js';
import type { BcoinNode } from './bcoin.js';

/** The 32-byte scalar n (test keys only). */
export const testScalar = (n: number): Uint8Array =>
  new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const minerScalar = testScalar(7);
/** Left to the miner: what the payment does not spend minus this fee goes back to it. */
const minerFeeSat = 10_000n;

export const miner = walletP2wsh(
  1,
  {
    offline: publicKeyOfScalar('secp256k1', minerScalar),
    service: publicKeyOfScalar('secp256k1', testScalar(8)),
    platform: { publicKey: publicKeyOfScalar('secp256k1', testScalar(9)) },
  },
  bcoinRegtest,
);

export type MinerOutput =
  | { readonly address: string; readonly value: bigint }
  | { readonly script: Uint8Array; readonly value: bigint };

/**
 * The miner pays `outputs` from one mature coinbase (mine past 100 blocks to `miner.address`
 * first); the rest goes back to it. Returns the txid, in the mempool, not mined.
 */
export async function payFromMiner(
  node: BcoinNode,
  outputs: readonly MinerOutput[],
): Promise<string> {
  const rpc = createBitcoinRpc({ url: node.rpcUrl, auth: { apiKey: node.apiKey } });
  try {
    const tip = await node.rpc<number>('getblockcount');
    const [coin] = spendableCoins(
      await bcoinUtxoSource(rpc).coinsOf(miner.address),
      tip,
      new Set(),
    );
    if (coin === undefined) throw new Error('the miner has no mature coin');
    const psbt = new Psbt({ network: bcoinRegtest });
    psbt.addInput({
      hash: coin.txid,
      index: coin.vout,
      witnessUtxo: { script: miner.outputScript, value: coin.value },
      witnessScript: miner.witnessScript,
    });
    for (const output of outputs) psbt.addOutput({ ...output });
    const paid = outputs.reduce((sum, output) => sum + output.value, 0n);
    psbt.addOutput({ script: miner.outputScript, value: coin.value - paid - minerFeeSat });
    await signAllInputs(
      psbt,
      compressPublicKey(publicKeyOfScalar('secp256k1', minerScalar)),
      (digest) => Promise.resolve(signDigestWithScalar('secp256k1', minerScalar, digest)),
    );
    return await node.broadcast(finaliseTransaction([psbt], 1).toHex());
  } finally {
    rpc.close();
  }
}
