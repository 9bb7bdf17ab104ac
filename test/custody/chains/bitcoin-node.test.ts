// The regtest node the Bitcoin tests run against: bcoin starts on 127.0.0.1, mines past segwit
// activation, answers Bitcoin Core's RPC methods, and stops.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicKeyOfScalar } from '../../../src/crypto/keys.js';
import { bcoinRegtest, walletP2wsh } from '../../../src/custody/chains/bitcoin-script.js';
import { regtestSegwitHeight, startBcoin, type BcoinNode } from '../../support/bcoin.js';

const scalar = (n: number) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));

describe('bcoin regtest node', () => {
  let node: BcoinNode;
  let startMs = 0;
  beforeAll(async () => {
    const t0 = performance.now();
    node = await startBcoin();
    startMs = performance.now() - t0;
  });
  afterAll(async () => {
    await node.stop();
  });

  it('starts on 127.0.0.1 and mines past segwit activation to a P2WSH address', async () => {
    expect(node.rpcUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(await node.rpc<number>('getblockcount')).toBe(0);
    const wallet = walletP2wsh(
      2,
      { offline: keyHex(1), service: keyHex(2), platform: { publicKey: keyHex(3) } },
      bcoinRegtest,
    );
    const t0 = performance.now();
    const hashes = await node.mine(regtestSegwitHeight + 1, wallet.address);
    const mineMs = performance.now() - t0;
    expect(hashes).toHaveLength(regtestSegwitHeight + 1);
    expect(await node.rpc<number>('getblockcount')).toBe(regtestSegwitHeight + 1);
    const info = await node.rpc<{ chain: string; bip9_softforks: { segwit: { status: string } } }>(
      'getblockchaininfo',
    );
    expect(info.chain).toBe('regtest');
    expect(info.bip9_softforks.segwit.status).toBe('active');
    console.log(
      `bcoin start ${Math.round(startMs)} ms, ${hashes.length} blocks ${Math.round(mineMs)} ms`,
    );
  });
});
