// Deposit scanning against a bcoin regtest node: outputs to a watched P2WSH address with their
// confirmations, a cursor that resumes, and a reorganisation (invalidateblock and a competing
// chain) that rewinds the cursor to the fork and forgets the dropped branch's deposits.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publicKeyOfScalar } from '../../../src/crypto/keys.js';
import {
  scanBitcoinDeposits,
  watchList,
  type BitcoinBlockSource,
} from '../../../src/custody/chains/bitcoin-deposits.js';
import { bcoinRegtest, walletP2wsh } from '../../../src/custody/chains/bitcoin-script.js';
import { startBcoin, type BcoinNode } from '../../support/bcoin.js';

const scalar = (n: number) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));
const walletOf = (a: number) =>
  walletP2wsh(
    2,
    { offline: keyHex(a), service: keyHex(a + 1), platform: { publicKey: keyHex(a + 2) } },
    bcoinRegtest,
  );
const wallet = walletOf(1);
const elsewhere = walletOf(4).address;

describe('Bitcoin deposit scan on bcoin regtest', () => {
  let node: BcoinNode;
  let source: BitcoinBlockSource;
  const watched = watchList([wallet.address], bcoinRegtest);

  beforeAll(async () => {
    node = await startBcoin();
    source = {
      getBlockCount: () => node.rpc<number>('getblockcount'),
      getBlockHash: (height) => node.rpc<string>('getblockhash', [height]),
      getBlockHex: (hash) => node.rpc<string>('getblock', [hash, false]),
    };
  });
  afterAll(async () => {
    await node.stop();
  });

  it('finds deposits with their confirmations, resumes from its cursor, and follows a reorg', async () => {
    const paid = await node.mine(3, wallet.address);
    await node.mine(2, elsewhere);
    const first = await scanBitcoinDeposits(source, watched, null);
    expect(first.deposits.map((d) => [d.block.hash, d.confirmations, d.amount])).toEqual(
      paid.map((hash, i) => [hash, 5 - i, '5000000000']),
    );
    expect(first.deposits.every((d) => d.address === wallet.address && d.asset === 'BTC')).toBe(
      true,
    );
    const hashes = await Promise.all(
      [5, 4, 3, 2, 1].map((h) => node.rpc<string>('getblockhash', [h])),
    );
    expect(first.cursor).toBe(`5:${hashes.join(',')}`);
    // Each deposit's `next` resumes just after its block.
    expect(first.deposits.map((d) => d.next.split(':')[0])).toEqual(['1', '2', '3']);
    expect(first.forkHeight).toBeNull();

    const [sixth] = await node.mine(1, wallet.address);
    const second = await scanBitcoinDeposits(source, watched, first.cursor);
    expect(second.deposits.map((d) => [d.block.height, d.block.hash, d.confirmations])).toEqual([
      [6, sixth, 1],
    ]);

    // Blocks 4..6 leave the chain; the competing branch pays elsewhere.
    await node.rpc('invalidateblock', [await node.rpc<string>('getblockhash', [4])]);
    const competing = await node.mine(4, elsewhere);
    const third = await scanBitcoinDeposits(source, watched, second.cursor);
    expect(third.forkHeight).toBe(3);
    expect(third.deposits).toEqual([]);
    expect(third.cursor?.startsWith(`7:${competing.slice().reverse().join(',')},`)).toBe(true);

    // From the start again: only the deposits of the chain as it is now.
    const again = await scanBitcoinDeposits(source, watched, null);
    expect(again.deposits.map((d) => [d.block.hash, d.confirmations])).toEqual(
      paid.map((hash, i) => [hash, 7 - i]),
    );
  });

  it('rescans when no block of its cursor is on the chain', async () => {
    const stranger = `3:${'ab'.repeat(32)}`;
    const scan = await scanBitcoinDeposits(source, watched, stranger);
    expect(scan.forkHeight).toBe(0);
    expect(scan.deposits.map((d) => d.block.height)).toEqual([1, 2, 3]);
  });

  it('refuses a cursor that is not <height>:<hash>', async () => {
    await expect(scanBitcoinDeposits(source, watched, 'tip')).rejects.toThrow(
      expect.objectContaining({ code: 'CUSTODY_E_WORKER_STATE_CORRUPT' }),
    );
  });
});
