// A custody wallet record as the app stores it, for chain-worker tests that run without the
// app (the workers read only the id, the chain, the threshold and the keys).
import { randomBytes } from 'node:crypto';
import type { CustodyChain, WalletRecord, WithdrawalRecord } from '../../src/custody/index.js';
import { generateScalarKey } from '../../src/crypto/keys.js';

/** A 2-of-3 secp256k1 wallet over SEC1 public keys (hex); a random id unless given. */
export function walletRecordOf(
  chain: CustodyChain,
  keys: { readonly offline: string; readonly service: string; readonly platform: string },
  options: { readonly id?: string; readonly platformKeyId?: string } = {},
): WalletRecord {
  const id = options.id ?? randomBytes(32).toString('hex');
  return {
    id,
    chain,
    label: null,
    owner: { mspId: 'Org1MSP', identityId: 'aa'.repeat(32) },
    curve: 'secp256k1',
    threshold: { m: 2, n: 3 },
    keys: {
      offline: keys.offline,
      service: keys.service,
      platform: {
        keyId: options.platformKeyId ?? '01',
        publicKey: keys.platform,
        curve: 'secp256k1',
      },
    },
    frozen: false,
    alerts: [],
    createdAt: 0,
    createdTx: id,
    updatedAt: 0,
  };
}

export type WalletKeys = Record<
  'offline' | 'service' | 'platform',
  ReturnType<typeof generateScalarKey>
>;

/** A new 2-of-3 secp256k1 wallet of `chain` with its three private keys. */
export function newKeyedWallet(chain: CustodyChain): { wallet: WalletRecord; keys: WalletKeys } {
  const keys: WalletKeys = {
    offline: generateScalarKey('secp256k1'),
    service: generateScalarKey('secp256k1'),
    platform: generateScalarKey('secp256k1'),
  };
  const wallet = walletRecordOf(chain, {
    offline: keys.offline.publicKey,
    service: keys.service.publicKey,
    platform: keys.platform.publicKey,
  });
  return { wallet, keys };
}

/** An approved withdrawal record of `wallet`, not built yet, as a chain worker receives it. */
export function withdrawalRecordOf(
  wallet: WalletRecord,
  asset: string,
  destination: string,
  amount: bigint,
): WithdrawalRecord {
  return {
    id: randomBytes(32).toString('hex'),
    walletId: wallet.id,
    chain: wallet.chain,
    asset,
    amount: amount.toString(),
    destination: destination.toLowerCase(),
    unsignedTx: null,
    digests: null,
  } as unknown as WithdrawalRecord;
}
