// `coffer custody recover prepare|execute` (src/cli/custody-recover.ts), run in process (src/,
// not bin/coffer) through the `coffer custody` table: on a bcoin regtest node a wallet's two
// coins are swept from files (prepare writes the request, `coffer custody offline sign` signs it
// with a sealed key file, the service's signature file, execute sends, a block mines it); on
// anvil a Safe's ether the same way. Then usage errors: missing options, an unknown chain, an
// option of the other chain, an existing --out, secrets inline (no such option) or inside the
// URL, a request of the other chain, a keys file of another chain's wallet.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Wallet, getAddress, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { custodyCommand, offlineCommand } from '../../src/cli/custody-offline.js';
import { recoverCommand } from '../../src/cli/custody-recover.js';
import {
  generateScalarKey,
  publicKeyOfScalar,
  signDigestWithScalar,
} from '../../src/crypto/keys.js';
import { bcoinUtxoSource, createBitcoinRpc } from '../../src/custody/chains/bitcoin-rpc.js';
import { bcoinRegtest, walletP2wsh } from '../../src/custody/chains/bitcoin-script.js';
import {
  createEthereumChain,
  deploySafeContracts,
  ethereumProvider,
  receiptOf,
} from '../../src/custody/chains/ethereum.js';
import { anvilKeys, startAnvil } from '../support/anvil.js';
import { regtestSegwitHeight, startBcoin, type BcoinNode } from '../support/bcoin.js';
import { payFromMiner } from '../support/bcoin-miner.js';
import { walletRecordOf } from '../custody/records.js';

const network = bcoinRegtest;
const btc = 100_000_000n;
const scalar = (n: number) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));
const miner = walletP2wsh(
  1,
  { offline: keyHex(7), service: keyHex(8), platform: { publicKey: keyHex(9) } },
  network,
);
const rescue = walletP2wsh(
  2,
  { offline: keyHex(4), service: keyHex(5), platform: { publicKey: keyHex(6) } },
  network,
).address;
const service = generateScalarKey('secp256k1');
const platform = generateScalarKey('secp256k1');

let work: string;
let node: BcoinNode;
let offlinePublicKey: string;
const file = (name: string) => path.join(work, name);

/** Runs a command in process; its stdout lines. */
async function run(command: typeof recoverCommand, args: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  const code = await command(args, { stdout: (text) => out.push(text), stderr: () => undefined });
  expect(code).toBe(0);
  return out;
}

/** The service's signature file over a request's digests (r‖s hex), as its KMS would write it. */
async function serviceSignature(requestFile: string, out: string): Promise<void> {
  const { digests } = JSON.parse(await readFile(requestFile, 'utf8')) as { digests: string[] };
  const signatures = digests.map((digest) =>
    Buffer.from(
      signDigestWithScalar('secp256k1', service.secretKey, Buffer.from(digest, 'hex')),
    ).toString('hex'),
  );
  await writeFile(out, JSON.stringify({ digests, publicKey: service.publicKey, signatures }));
}

const offlineSign = (request: string, out: string) =>
  run(offlineCommand, [
    'sign',
    '--key',
    file('offline-key.json'),
    '--request',
    request,
    '--out',
    out,
    '--passphrase-file',
    file('passphrase'),
  ]);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-cli-recover-'));
  await writeFile(file('passphrase'), 'correct horse battery\n');
  const [keygen = ''] = await run(offlineCommand, [
    'keygen',
    '--out',
    file('offline-key.json'),
    '--passphrase-file',
    file('passphrase'),
    '--kdf-cost',
    '14',
    '--json',
  ]);
  offlinePublicKey = (JSON.parse(keygen) as { publicKey: string }).publicKey;
  node = await startBcoin();
  await writeFile(file('api-key'), `${node.apiKey}\n`);
  await node.mine(regtestSegwitHeight + 1, miner.address);
});

afterAll(async () => {
  await node.stop();
  await rm(work, { recursive: true, force: true });
});

describe('coffer custody recover --chain bitcoin', () => {
  const nodeArgs = () => [
    '--rpc-url',
    node.rpcUrl,
    '--network',
    'bcoin-regtest',
    '--api-key-file',
    file('api-key'),
  ];

  it('sweeps a wallet from files: prepare, offline sign, service signature, execute', async () => {
    const keys = {
      offline: offlinePublicKey,
      service: service.publicKey,
      platform: { publicKey: platform.publicKey },
    };
    const wallet = walletP2wsh(2, keys, network);
    // The keys file as the custody app's wallet query prints it.
    await writeFile(
      file('wallet.json'),
      JSON.stringify({
        wallet: {
          id: 'w-cli',
          chain: 'bitcoin',
          threshold: { m: 2, n: 3 },
          keys: { ...keys, platform: { keyId: 'hsm-1', ...keys.platform, curve: 'secp256k1' } },
        },
      }),
    );
    // Two coins for the wallet from a mature coinbase, mined.
    await payFromMiner(node, [
      { address: wallet.address, value: btc },
      { address: wallet.address, value: btc / 4n },
    ]);
    await node.mine(1, miner.address);
    const rpc = createBitcoinRpc({ url: node.rpcUrl, auth: { apiKey: node.apiKey } });
    const utxos = bcoinUtxoSource(rpc);

    const prepareArgs = [
      'prepare',
      '--chain',
      'bitcoin',
      '--out',
      file('btc-request.json'),
      ...nodeArgs(),
      '--wallet-id',
      'w-cli',
      '--keys-file',
      file('wallet.json'),
      '--destination',
      rescue,
      '--fee-rate',
      '2',
    ];
    const [printed = ''] = await run(recoverCommand, [...prepareArgs, '--json']);
    const shown = JSON.parse(printed) as { digests: string[]; summary: string; out: string };
    expect(shown.out).toBe(file('btc-request.json'));
    expect(shown.digests).toHaveLength(2);
    const onDisk = JSON.parse(await readFile(file('btc-request.json'), 'utf8')) as {
      format: string;
      summary: string;
    };
    expect(onDisk.format).toBe('coffer-bitcoin-recovery/1');
    expect(onDisk.summary).toBe(shown.summary);
    // Never over an existing file, before the node is asked anything.
    await expect(
      recoverCommand(prepareArgs, { stdout: () => undefined, stderr: () => undefined }),
    ).rejects.toMatchObject({ code: 'KEYSTORE_E_FILE_EXISTS' });

    await offlineSign(file('btc-request.json'), file('btc-offline-sig.json'));
    await serviceSignature(file('btc-request.json'), file('btc-service-sig.json'));
    const execute = [
      'recover',
      'execute',
      '--chain',
      'bitcoin',
      '--request',
      file('btc-request.json'),
      '--signature',
      file('btc-offline-sig.json'),
      ...nodeArgs(),
      '--keys-file',
      file('wallet.json'),
    ];
    // One signature file is refused before anything is sent.
    await expect(
      custodyCommand(execute, { stdout: () => undefined, stderr: () => undefined }),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_SIGNATURE_INVALID' });
    expect(await node.rpc<string[]>('getrawmempool')).toEqual([]);
    const [sent = ''] = await run(custodyCommand, [
      ...execute,
      '--signature',
      file('btc-service-sig.json'),
    ]);
    const txid = /^sent ([0-9a-f]{64}) \(in the node's mempool/.exec(sent)?.[1];
    expect(sent).toContain(shown.summary);
    expect(await node.rpc<string[]>('getrawmempool')).toEqual([txid]);
    await node.mine(1, miner.address);
    const fee = BigInt(/fee (\d+) sat/.exec(shown.summary)?.[1] ?? '-1');
    const received = (await utxos.coinsOf(rescue)).reduce((sum, c) => sum + c.value, 0n);
    expect(received).toBe(btc + btc / 4n - fee);
    expect(await utxos.coinsOf(wallet.address)).toEqual([]);
    rpc.close();
  });
});

describe('coffer custody recover --chain ethereum', () => {
  it("moves a Safe's ether from files: prepare, offline sign, service signature, execute", async () => {
    const anvil = await startAnvil();
    const provider = ethereumProvider(anvil.url, 20);
    const funder = new Wallet(anvilKeys[0], provider);
    const contracts = await deploySafeContracts(funder);
    const chain = createEthereumChain({
      rpcUrl: anvil.url,
      relayerKey: anvilKeys[1],
      safe: contracts,
      confirmations: 1,
      pollingMs: 50,
    });
    try {
      const wallet = walletRecordOf('ethereum', {
        offline: offlinePublicKey,
        service: service.publicKey,
        platform: platform.publicKey,
      });
      const safe = await chain.prepareWallet(wallet);
      const sent = await funder.sendTransaction({ to: safe, value: 10n ** 18n });
      await receiptOf(provider, sent.hash, 10_000, 20);
      const destination = getAddress(hexlify(randomBytes(20)));
      await writeFile(file('relayer-key'), `${anvilKeys[2]}\n`);
      const [prepared = ''] = await run(recoverCommand, [
        'prepare',
        '--chain',
        'ethereum',
        '--out',
        file('eth-request.json'),
        '--rpc-url',
        anvil.url,
        '--wallet-id',
        wallet.id,
        '--safe',
        safe,
        '--destination',
        destination,
      ]);
      expect(prepared).toMatch(
        /^recovery request recovery:0x[0-9a-fA-F]{40}:0 written to .*move 1000000000000000000 wei/,
      );
      await offlineSign(file('eth-request.json'), file('eth-offline-sig.json'));
      await serviceSignature(file('eth-request.json'), file('eth-service-sig.json'));
      const [executed = ''] = await run(recoverCommand, [
        'execute',
        '--chain',
        'ethereum',
        '--request',
        file('eth-request.json'),
        '--signature',
        file('eth-offline-sig.json'),
        '--signature',
        file('eth-service-sig.json'),
        '--rpc-url',
        anvil.url,
        '--relayer-key-file',
        file('relayer-key'),
        '--json',
      ]);
      expect(JSON.parse(executed)).toMatchObject({ chain: 'ethereum', walletId: wallet.id });
      expect(await provider.getBalance(destination)).toBe(10n ** 18n);
      expect(await provider.getBalance(safe)).toBe(0n);
    } finally {
      chain.close();
      provider.destroy();
      await anvil.stop();
    }
  });
});

describe('coffer custody recover: usage errors', () => {
  const io = { stdout: () => undefined, stderr: () => undefined };
  const usage = (args: readonly string[], message: string | RegExp) =>
    expect(recoverCommand(args, io)).rejects.toMatchObject({
      code: 'CLI_E_USAGE',
      message:
        typeof message === 'string'
          ? (expect.stringContaining(message) as unknown)
          : (expect.stringMatching(message) as unknown),
    });

  it('prints the usage text, and refuses missing or unknown commands, chains and options', async () => {
    const printed: string[] = [];
    expect(await recoverCommand(['--help'], { ...io, stdout: (text) => printed.push(text) })).toBe(
      0,
    );
    expect(printed.join('\n')).toContain('coffer custody recover prepare --chain bitcoin');
    expect(await recoverCommand([], io)).toBe(2);
    await usage(['sweep', '--chain', 'bitcoin'], 'unknown recover command "sweep"');
    await usage(['prepare', '--out', file('x.json')], '--chain is required');
    await usage(['prepare', '--chain', 'solana'], '--chain solana: give ethereum or bitcoin');
    await usage(
      ['prepare', '--chain', 'bitcoin', '--out', file('x.json')],
      '--wallet-id is required',
    );
    await usage(
      ['prepare', '--chain', 'bitcoin', '--out', file('x.json'), '--wallet-id', 'w'],
      '--fee-rate is required',
    );
    await usage(
      ['prepare', '--chain', 'bitcoin', '--safe', '0x' + '11'.repeat(20)],
      '--safe is not an option of recover prepare --chain bitcoin',
    );
    await usage(
      ['execute', '--chain', 'bitcoin', '--fee-rate', '2'],
      '--fee-rate is not an option of recover execute',
    );
    await expect(
      recoverCommand(['execute', '--chain', 'bitcoin', '--request', file('missing.json')], io),
    ).rejects.toMatchObject({ code: 'CLI_E_FILE_UNREADABLE' });
    await expect(
      recoverCommand(['prepare', '--chain', 'bitcoin', '--out', file('passphrase')], io),
    ).rejects.toMatchObject({ code: 'KEYSTORE_E_FILE_EXISTS' });
  });

  it('takes no secret on the command line: no such option, and none inside the URL', async () => {
    for (const args of [
      ['prepare', '--chain', 'bitcoin', '--api-key', 'hunter2-secret'],
      ['prepare', '--chain', 'bitcoin', '--api-key=hunter2-secret'],
      ['prepare', '--chain', 'bitcoin', '--rpc-password', 'hunter2-secret'],
      ['execute', '--chain', 'ethereum', '--relayer-key', '0x' + 'ab'.repeat(32)],
    ]) {
      const error = (await recoverCommand(args, io).catch((caught: unknown) => caught)) as Error;
      expect(error).toMatchObject({ code: 'CLI_E_USAGE' });
      expect(error.message).toContain('secrets are read from files only');
      expect(error.message).not.toContain('hunter2');
      expect(error.message).not.toContain('ab'.repeat(32));
    }
    const args = [
      'prepare',
      '--chain',
      'bitcoin',
      '--out',
      file('y.json'),
      '--wallet-id',
      'w',
      '--fee-rate',
      '2',
      '--network',
      'bcoin-regtest',
      '--rpc-url',
      'http://user:hunter2@127.0.0.1:1/',
    ];
    const error = (await recoverCommand(args, io).catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: 'CLI_E_USAGE' });
    expect(error.message).toContain('--rpc-url holds credentials');
    expect(error.message).not.toContain('hunter2');
  });

  it('refuses a request of the other chain and a keys file of another chain', async () => {
    await writeFile(
      file('eth-like.json'),
      JSON.stringify({ format: 'coffer-ethereum-recovery/1', digests: ['00'.repeat(32)] }),
    );
    await usage(
      ['execute', '--chain', 'bitcoin', '--request', file('eth-like.json')],
      'not a bitcoin recovery request',
    );
    await writeFile(
      file('eth-wallet.json'),
      JSON.stringify({
        wallet: {
          id: 'w',
          chain: 'ethereum',
          threshold: { m: 2, n: 3 },
          keys: { offline: keyHex(1), service: keyHex(2), platform: { publicKey: keyHex(3) } },
        },
      }),
    );
    await usage(
      [
        'prepare',
        '--chain',
        'bitcoin',
        '--out',
        file('z.json'),
        '--wallet-id',
        'w',
        '--fee-rate',
        '2',
        '--network',
        'bcoin-regtest',
        '--rpc-url',
        'http://127.0.0.1:1/',
        '--keys-file',
        file('eth-wallet.json'),
        '--destination',
        rescue,
      ],
      'the wallet is on "ethereum", not bitcoin',
    );
  });
});
