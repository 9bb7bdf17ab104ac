// Recovery without the ledger and the HSM (src/custody/chains/ethereum-recovery.ts) on anvil:
// a request file for the wallet's whole balance, signed by the offline key through the offline
// tool's own functions (sealed key file, request → signature file) and by the service key,
// executed by any funded account; one signature, a stranger's key or another digest are refused
// before anything is sent.
import { JsonRpcProvider, Wallet, getAddress, hexlify, randomBytes } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createOfflineKey,
  openOfflineKey,
  parseOfflineSignRequest,
  signOfflineRequest,
  type OfflineKey,
} from '../../../src/crypto/offline-key.js';
import { generateScalarKey, signDigestWithScalar } from '../../../src/crypto/keys.js';
import {
  createEthereumChain,
  deploySafeContracts,
  type EthereumChain,
} from '../../../src/custody/chains/ethereum.js';
import {
  executeEthereumRecovery,
  prepareEthereumRecovery,
  type RecoverySignature,
} from '../../../src/custody/chains/ethereum-recovery.js';
import type { WalletRecord } from '../../../src/custody/index.js';
import { anvilKeys, type Anvil } from '../../support/anvil.js';
import { startAnvilSession, type AnvilSession } from '../../support/anvil-session.js';
import { walletRecordOf } from '../records.js';

const oneEth = 10n ** 18n;
let anvil: Anvil;
let provider: JsonRpcProvider;
let chain: EthereumChain;
let offline: OfflineKey;
const service = generateScalarKey('secp256k1');
const platform = generateScalarKey('secp256k1');
const started: (() => unknown)[] = [];
let session: AnvilSession;
const mined = (sent: Promise<{ readonly hash: string }>) => session.mined(sent);

beforeAll(async () => {
  session = await startAnvilSession();
  ({ anvil, provider } = session);
  started.push(() => session.stop());
  const contracts = await deploySafeContracts(new Wallet(anvilKeys[0], provider));
  chain = createEthereumChain({
    rpcUrl: anvil.url,
    relayerKey: anvilKeys[1],
    safe: contracts,
    confirmations: 1,
    pollingMs: 50,
  });
  started.push(() => {
    chain.close();
  });
  // The offline key as the air-gapped machine keeps it: a sealed file and its passphrase.
  const file = JSON.parse(
    JSON.stringify(
      await createOfflineKey({ curve: 'secp256k1', passphrase: 'correct horse', kdfLog2N: 14 }),
    ),
  ) as unknown;
  offline = await openOfflineKey(file, 'correct horse');
});

afterAll(async () => {
  for (const stop of started.reverse()) await stop();
});

function walletOf(): WalletRecord {
  return walletRecordOf('ethereum', {
    offline: offline.publicKey,
    service: service.publicKey,
    platform: platform.publicKey,
  });
}

const serviceSignature = (digest: string): RecoverySignature => ({
  digests: [digest],
  publicKey: service.publicKey,
  signatures: [
    Buffer.from(
      signDigestWithScalar('secp256k1', service.secretKey, Buffer.from(digest, 'hex')),
    ).toString('hex'),
  ],
});

describe('Ethereum recovery from files', () => {
  it('moves the whole balance with the offline and service keys, no ledger, no HSM', async () => {
    const wallet = walletOf();
    const safe = await chain.prepareWallet(wallet);
    const funder = new Wallet(anvilKeys[0], provider);
    await mined(funder.sendTransaction({ to: safe, value: 3n * oneEth }));
    const rescue = getAddress(hexlify(randomBytes(20)));
    const request = await prepareEthereumRecovery({
      rpcUrl: anvil.url,
      walletId: wallet.id,
      safe,
      destination: rescue,
    });
    expect(request.summary).toContain(`move ${(3n * oneEth).toString()} wei`);
    // The request file through the offline tool: JSON out, parsed and signed on the other side.
    const onDisk = JSON.parse(JSON.stringify(request)) as unknown;
    const offlineSigned = await signOfflineRequest(offline, parseOfflineSignRequest(onDisk));
    const hash = await executeEthereumRecovery({
      rpcUrl: anvil.url,
      relayerKey: anvilKeys[2],
      request,
      signatures: [offlineSigned, serviceSignature(request.digests[0])],
    });
    expect(hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await provider.getBalance(rescue)).toBe(3n * oneEth);
    expect(await provider.getBalance(safe)).toBe(0n);
  });

  it('refuses one signature, a key that is no owner, and a signature of another digest', async () => {
    const wallet = walletOf();
    const safe = await chain.prepareWallet(wallet);
    const funder = new Wallet(anvilKeys[0], provider);
    await mined(funder.sendTransaction({ to: safe, value: oneEth }));
    const request = await prepareEthereumRecovery({
      rpcUrl: anvil.url,
      walletId: wallet.id,
      safe,
      destination: funder.address,
      amount: 1000n,
    });
    const offlineSigned = await signOfflineRequest(offline, parseOfflineSignRequest(request));
    const execute = (signatures: RecoverySignature[]) =>
      executeEthereumRecovery({ rpcUrl: anvil.url, relayerKey: anvilKeys[2], request, signatures });
    await expect(execute([offlineSigned])).rejects.toThrow(/needs signatures of 2/);
    const stranger = generateScalarKey('secp256k1');
    await expect(
      execute([
        offlineSigned,
        {
          digests: request.digests,
          publicKey: stranger.publicKey,
          signatures: [
            Buffer.from(
              signDigestWithScalar(
                'secp256k1',
                stranger.secretKey,
                Buffer.from(request.digests[0], 'hex'),
              ),
            ).toString('hex'),
          ],
        },
      ]),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_SIGNATURE_INVALID' });
    const other = 'ab'.repeat(32);
    await expect(execute([offlineSigned, serviceSignature(other)])).rejects.toThrow(
      /signs digests/,
    );
    expect(await provider.getBalance(safe)).toBe(oneEth);
  });
});
