// A custody wallet record as the app stores it, for chain-worker tests that run without the
// app (the workers read only the id, the chain, the threshold and the keys).
import { randomBytes } from 'node:crypto';
import type { CustodyChain, WalletRecord } from '../../src/custody/index.js';

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
