// Recovery of a Bitcoin wallet without the ledger and the HSM (src/custody/chains/bitcoin-recovery.ts)
// on a bcoin regtest node: a request file sweeping the wallet's two coins (one digest per input),
// signed by the offline key through the offline tool's own functions (sealed key file, request →
// signature file) and by the service key, sent, mined: the destination holds total − fee and the
// wallet nothing. Before that, refusals with nothing sent: one signature file, a stranger's key,
// signatures of other digests, the same key twice, a signature of the wrong input, an edited
// summary. Then a partial amount with change home, a request whose coins are gone, and prepare's
// refusals.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  generateScalarKey,
  publicKeyOfScalar,
  rawSignatureToDer,
  signDigestWithScalar,
} from '../../../src/crypto/keys.js';
import {
  createOfflineKey,
  openOfflineKey,
  parseOfflineSignRequest,
  signOfflineRequest,
  type OfflineKey,
} from '../../../src/crypto/offline-key.js';
import {
  bitcoinRecoveryFormat,
  executeBitcoinRecovery,
  parseBitcoinRecoveryRequest,
  prepareBitcoinRecovery,
  type BitcoinRecoveryRequest,
  type RecoverySignature,
} from '../../../src/custody/chains/bitcoin-recovery.js';
import {
  bcoinUtxoSource,
  createBitcoinRpc,
  type BitcoinRpc,
  type BitcoinRpcOptions,
} from '../../../src/custody/chains/bitcoin-rpc.js';
import {
  bcoinRegtest,
  walletP2wsh,
  type WalletKeysHex,
} from '../../../src/custody/chains/bitcoin-script.js';
import { regtestSegwitHeight, startBcoin, type BcoinNode } from '../../support/bcoin.js';
import { payFromMiner } from '../../support/bcoin-miner.js';

const network = bcoinRegtest;
const btc = 100_000_000n;
const scalar = (n: number) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const miner = walletP2wsh(
  1,
  { offline: keyHex(7), service: keyHex(8), platform: { publicKey: keyHex(9) } },
  network,
);
const service = generateScalarKey('secp256k1');
const platform = generateScalarKey('secp256k1');
const stranger = generateScalarKey('secp256k1');

let node: BcoinNode;
let rpcOptions: BitcoinRpcOptions;
let rpc: BitcoinRpc;
let offline: OfflineKey;
let keys: WalletKeysHex;
let walletAddress: string;
/** Where recovered coins go: a P2WSH of keys nobody here uses. */
const rescue = walletP2wsh(
  2,
  { offline: keyHex(4), service: keyHex(5), platform: { publicKey: keyHex(6) } },
  network,
).address;

const mempool = () => node.rpc<string[]>('getrawmempool');
const mine = (blocks = 1) => node.mine(blocks, miner.address);
const coinsOf = async (address: string) => bcoinUtxoSource(rpc).coinsOf(address);
const valueOf = async (address: string) =>
  (await coinsOf(address)).reduce((sum, coin) => sum + coin.value, 0n);

/** The miner pays `outputs` from one mature coinbase (1-of-3 P2WSH, key 7), mined at once. */
async function fund(outputs: readonly { address: string; value: bigint }[]): Promise<void> {
  await payFromMiner(node, outputs);
  await mine();
}

const signatureFile = (
  secretKey: Uint8Array,
  publicKey: string,
  digests: readonly string[],
  encode: (raw: Uint8Array) => Uint8Array = (raw) => raw,
): RecoverySignature => ({
  digests,
  publicKey,
  signatures: digests.map((digest) =>
    hex(encode(signDigestWithScalar('secp256k1', secretKey, Buffer.from(digest, 'hex')))),
  ),
});
const serviceFile = (digests: readonly string[]) =>
  signatureFile(service.secretKey, service.publicKey, digests);

/** The request as the offline tool reads it from disk, signed with the offline key. */
async function offlineFile(request: BitcoinRecoveryRequest): Promise<RecoverySignature> {
  const onDisk = JSON.parse(JSON.stringify(request)) as unknown;
  return signOfflineRequest(offline, parseOfflineSignRequest(onDisk));
}

beforeAll(async () => {
  node = await startBcoin();
  rpcOptions = { url: node.rpcUrl, auth: { apiKey: node.apiKey } };
  rpc = createBitcoinRpc(rpcOptions);
  // The offline key as the air-gapped machine keeps it: a sealed file and its passphrase.
  const file = JSON.parse(
    JSON.stringify(
      await createOfflineKey({ curve: 'secp256k1', passphrase: 'correct horse', kdfLog2N: 14 }),
    ),
  ) as unknown;
  offline = await openOfflineKey(file, 'correct horse');
  keys = {
    offline: offline.publicKey,
    service: service.publicKey,
    platform: { publicKey: platform.publicKey },
  };
  walletAddress = walletP2wsh(2, keys, network).address;
  // Segwit active; the miner's first coinbases mature.
  await mine(regtestSegwitHeight + 1);
});

afterAll(async () => {
  rpc.close();
  await node.stop();
});

describe('Bitcoin recovery from files', () => {
  it('sweeps the wallet with the offline and service keys; refuses incomplete or foreign signatures first', async () => {
    await fund([
      { address: walletAddress, value: btc },
      { address: walletAddress, value: btc / 2n },
    ]);
    const request = await prepareBitcoinRecovery({
      rpc: rpcOptions,
      network: 'bcoin-regtest',
      walletId: 'w-recovery',
      keys,
      destination: rescue,
      feeRateSatPerVb: 3,
    });
    expect(request).toMatchObject({
      format: bitcoinRecoveryFormat,
      walletId: 'w-recovery',
      network: 'bcoin-regtest',
      coinsLeft: { count: 0, sat: '0' },
    });
    expect(request.withdrawalId).toMatch(
      new RegExp(`^recovery:${walletAddress}:[0-9a-f]{64}:[01]$`),
    );
    expect(request.digests).toHaveLength(2);
    expect(request.summary).toMatch(
      new RegExp(
        `^move \\d+ sat from ${walletAddress} to ${rescue} on bcoin-regtest, fee \\d+ sat .*spending 2 coins worth ${(btc + btc / 2n).toString()} sat, no change`,
      ),
    );
    // What the CLI writes and reads back.
    expect(parseBitcoinRecoveryRequest(JSON.parse(JSON.stringify(request)))).toEqual(request);
    const offlineSigned = await offlineFile(request);
    expect(offlineSigned.signatures).toHaveLength(2);

    const execute = (signatures: RecoverySignature[], edited = request) =>
      executeBitcoinRecovery({
        rpc: rpcOptions,
        network: 'bcoin-regtest',
        request: edited,
        keys,
        signatures,
      });
    const before = await mempool();
    await expect(execute([offlineSigned])).rejects.toMatchObject({
      code: 'CUSTODY_E_SIGNATURE_INVALID',
      message: expect.stringMatching(/signed by offline; it needs 2 different keys/) as unknown,
    });
    await expect(
      execute([
        offlineSigned,
        signatureFile(stranger.secretKey, stranger.publicKey, request.digests),
      ]),
    ).rejects.toMatchObject({
      code: 'CUSTODY_E_SIGNATURE_INVALID',
      message: expect.stringContaining("none of the wallet's three keys") as unknown,
    });
    await expect(
      execute([offlineSigned, serviceFile(['ab'.repeat(32), 'cd'.repeat(32)])]),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_DIGEST_MISMATCH' });
    await expect(execute([offlineSigned, offlineSigned])).rejects.toMatchObject({
      code: 'CUSTODY_E_SIGNATURE_INVALID',
      message: expect.stringContaining('the offline key signed two of the files') as unknown,
    });
    // The service's signatures in the wrong order: each is a good signature of the other input.
    const swapped = serviceFile(request.digests);
    await expect(
      execute([offlineSigned, { ...swapped, signatures: [...swapped.signatures].reverse() }]),
    ).rejects.toMatchObject({
      code: 'CUSTODY_E_SIGNATURE_INVALID',
      message: expect.stringContaining(
        "signature file 2: the signature of input 0 does not verify over that input's BIP 143 digest with the service key",
      ) as unknown,
    });
    await expect(
      execute([offlineSigned, serviceFile(request.digests)], {
        ...request,
        summary: request.summary.replace(rescue, miner.address),
      }),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_TX_MISMATCH' });
    expect(await mempool()).toEqual(before);
    expect(await valueOf(walletAddress)).toBe(btc + btc / 2n);

    // The service may return DER as well as r‖s; the order of the files does not matter.
    const txid = await execute([
      signatureFile(service.secretKey, service.publicKey, request.digests, rawSignatureToDer),
      offlineSigned,
    ]);
    expect(await mempool()).toContain(txid);
    await mine();
    const fee = BigInt(/fee (\d+) sat/.exec(request.summary)?.[1] ?? '-1');
    expect(fee).toBeGreaterThan(0n);
    expect(await valueOf(rescue)).toBe(btc + btc / 2n - fee);
    expect(await coinsOf(walletAddress)).toEqual([]);
    // The transaction's real size is within the estimate: the rate paid is at least the one asked.
    const vsize = (await node.rpc<{ vsize: number }>('getrawtransaction', [txid, true])).vsize;
    expect(Number(fee) / vsize).toBeGreaterThanOrEqual(3);
    // Run again (a crash before the operator saw the txid): the same txid, nothing new sent.
    expect(await execute([offlineSigned, serviceFile(request.digests)])).toBe(txid);
  });

  it('moves a part with change home; a request whose coins were spent meanwhile is refused', async () => {
    await fund([{ address: walletAddress, value: btc }]);
    const partial = await prepareBitcoinRecovery({
      rpc: rpcOptions,
      network: 'bcoin-regtest',
      walletId: 'w-recovery',
      keys,
      destination: rescue,
      feeRateSatPerVb: 2,
      amount: 30_000_000n,
    });
    const sweep = await prepareBitcoinRecovery({
      rpc: rpcOptions,
      network: 'bcoin-regtest',
      walletId: 'w-recovery',
      keys,
      destination: rescue,
      feeRateSatPerVb: 2,
    });
    expect(partial.summary).toContain(`move 30000000 sat from ${walletAddress}`);
    expect(partial.summary).toContain(`change `);
    const before = await valueOf(rescue);
    const txid = await executeBitcoinRecovery({
      rpc: rpcOptions,
      network: 'bcoin-regtest',
      request: partial,
      keys,
      signatures: [await offlineFile(partial), serviceFile(partial.digests)],
    });
    await mine();
    const fee = BigInt(/fee (\d+) sat/.exec(partial.summary)?.[1] ?? '-1');
    expect(await valueOf(rescue)).toBe(before + 30_000_000n);
    const change = await coinsOf(walletAddress);
    expect(change.map((coin) => [coin.txid, coin.value])).toEqual([
      [txid, btc - 30_000_000n - fee],
    ]);
    const tip = await mempool();
    await expect(
      executeBitcoinRecovery({
        rpc: rpcOptions,
        network: 'bcoin-regtest',
        request: sweep,
        keys,
        signatures: [await offlineFile(sweep), serviceFile(sweep.digests)],
      }),
    ).rejects.toMatchObject({
      code: 'CUSTODY_E_INSUFFICIENT_FUNDS',
      message: expect.stringContaining('is spent already') as unknown,
    });
    expect(await mempool()).toEqual(tip);
  });

  it('prepare refuses a wallet without coins, its own address, another network and a bad rate', async () => {
    const prepare = (more: {
      keys?: WalletKeysHex;
      destination?: string;
      feeRateSatPerVb?: number;
    }) =>
      prepareBitcoinRecovery({
        rpc: rpcOptions,
        network: 'bcoin-regtest',
        walletId: 'w',
        keys,
        destination: rescue,
        feeRateSatPerVb: 2,
        ...more,
      });
    await expect(
      prepare({
        keys: { ...keys, platform: { publicKey: stranger.publicKey } },
      }),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_INSUFFICIENT_FUNDS' });
    await expect(prepare({ destination: walletAddress })).rejects.toMatchObject({
      code: 'CUSTODY_E_ADDRESS_INVALID',
    });
    await expect(
      prepare({ destination: 'bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq' }),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_ADDRESS_INVALID' });
    await expect(prepare({ feeRateSatPerVb: 0 })).rejects.toMatchObject({
      code: 'CUSTODY_E_PARAMS_INVALID',
    });
  });
});
