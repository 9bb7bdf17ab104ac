// Bitcoin custody addresses (pure): an m-of-n P2WSH multisig (BIP 141) over the wallet's
// secp256k1 keys, compressed (only compressed keys are standard in segwit scripts, BIP 143
// "Restrictions on public key type") and sorted as BIP 67 says, so that any holder of the three
// public keys derives the same script and address without knowing the order they were given in.
import * as ecc from '@bitcoinerlab/secp256k1';
import { address as bitcoinAddress, networks, payments, type Network } from 'bitcoinjs-lib';
import { cofferError } from '../../errors/index.js';

/** bcoin's regtest (what the tests run): Bitcoin Core's regtest with the bech32 prefix `rb`. */
export const bcoinRegtest: Network = { ...networks.regtest, bech32: 'rb' };

export const bitcoinNetworks = {
  mainnet: networks.bitcoin,
  testnet: networks.testnet,
  /** Bitcoin Core's regtest (`bcrt`). */
  regtest: networks.regtest,
  'bcoin-regtest': bcoinRegtest,
} as const satisfies Readonly<Record<string, Network>>;
export type BitcoinNetworkName = keyof typeof bitcoinNetworks;

/** Standard bare multisig allows at most 3 keys; P2WSH's policy limit is OP_16 keys in CHECKMULTISIG. */
export const multisigKeysMax = 16;
const compressedKeyBytes = 33;

/** A custody wallet's P2WSH script and where it receives. */
export type P2wshMultisig = {
  readonly m: number;
  /** Compressed public keys in BIP 67 order (the order of the script). */
  readonly publicKeys: readonly Uint8Array[];
  /** `OP_m <keys> OP_n OP_CHECKMULTISIG`: what every spend reveals in its witness. */
  readonly witnessScript: Uint8Array;
  /** `OP_0 <sha256(witnessScript)>`. */
  readonly outputScript: Uint8Array;
  readonly address: string;
};

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i += 1) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    if (x !== y) return x - y;
  }
  return a.length - b.length;
}

/** BIP 67: compressed keys sorted lexicographically by their serialised bytes. */
export function sortPublicKeysBip67(publicKeys: readonly Uint8Array[]): Uint8Array[] {
  return [...publicKeys].sort(compareBytes);
}

/**
 * The 33-byte compressed form of a SEC1 public key in hex (uncompressed 04‖x‖y as wallets store
 * them, or already compressed). Throws CUSTODY_E_KEY_INVALID for anything not on secp256k1.
 */
export function compressPublicKey(publicKeyHex: string, field = 'publicKey'): Uint8Array {
  const bytes = /^[0-9a-fA-F]+$/.test(publicKeyHex)
    ? new Uint8Array(Buffer.from(publicKeyHex, 'hex'))
    : new Uint8Array(0);
  if (!ecc.isPoint(bytes)) {
    throw cofferError(
      'CUSTODY_E_KEY_INVALID',
      `${field} is not a SEC1 point on secp256k1 (hex of 04‖x‖y or 02/03‖x); Bitcoin wallets need secp256k1 keys`,
      { field },
    );
  }
  return ecc.pointCompress(bytes, true);
}

/** OP_m <sorted keys> OP_n OP_CHECKMULTISIG, the P2WSH output and its address on `network`. */
export function p2wshMultisig(
  m: number,
  publicKeys: readonly Uint8Array[],
  network: Network,
): P2wshMultisig {
  const n = publicKeys.length;
  if (!Number.isInteger(m) || m < 1 || m > n || n > multisigKeysMax) {
    throw cofferError(
      'CUSTODY_E_KEY_INVALID',
      `an m-of-n multisig needs 1 ≤ m ≤ n ≤ ${multisigKeysMax}; got ${m}-of-${n}`,
      { m, n },
    );
  }
  const sorted = sortPublicKeysBip67(publicKeys);
  sorted.forEach((key, i) => {
    if (key.length !== compressedKeyBytes || !ecc.isPoint(key)) {
      throw cofferError(
        'CUSTODY_E_KEY_INVALID',
        `publicKeys[${i}] is not a compressed secp256k1 point`,
      );
    }
    const previous = sorted[i - 1];
    if (previous !== undefined && compareBytes(previous, key) === 0) {
      throw cofferError('CUSTODY_E_KEY_INVALID', 'the multisig keys repeat; give n distinct keys');
    }
  });
  const redeem = payments.p2ms({ m, pubkeys: sorted, network });
  const p2wsh = payments.p2wsh({ redeem, network });
  const { output: witnessScript } = redeem;
  const { output: outputScript, address } = p2wsh;
  if (witnessScript === undefined || outputScript === undefined || address === undefined) {
    throw new Error('bitcoinjs-lib returned a P2WSH payment without script or address');
  }
  return { m, publicKeys: sorted, witnessScript, outputScript, address };
}

/** A custody wallet's keys as the custody app stores them (SEC1 hex). */
export type WalletKeysHex = {
  readonly offline: string;
  readonly service: string;
  readonly platform: { readonly publicKey: string };
};

/** The wallet's m-of-3 P2WSH (offline, service and platform keys). */
export function walletP2wsh(m: number, keys: WalletKeysHex, network: Network): P2wshMultisig {
  return p2wshMultisig(
    m,
    [
      compressPublicKey(keys.offline, 'keys.offline'),
      compressPublicKey(keys.service, 'keys.service'),
      compressPublicKey(keys.platform.publicKey, 'keys.platform.publicKey'),
    ],
    network,
  );
}

/**
 * The output script paying `destination` on `network`. Throws CUSTODY_E_ADDRESS_INVALID for an
 * address of another network or no address at all.
 */
export function outputScriptOf(destination: string, network: Network): Uint8Array {
  try {
    return bitcoinAddress.toOutputScript(destination, network);
  } catch (error) {
    throw cofferError(
      'CUSTODY_E_ADDRESS_INVALID',
      `${JSON.stringify(destination)} is not a Bitcoin address of this network (bech32 prefix ${network.bech32}, or base58)`,
      { destination },
      error,
    );
  }
}
