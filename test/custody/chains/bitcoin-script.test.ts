// P2WSH m-of-n custody addresses: BIP 67's own vectors, and an address of known keys computed
// by an independent implementation (bcoin's Address.fromWitnessScripthash) for each network.
import { describe, expect, it } from 'vitest';
import { payments } from 'bitcoinjs-lib';
import { publicKeyOfScalar } from '../../../src/crypto/keys.js';
import {
  bitcoinNetworks,
  compressPublicKey,
  outputScriptOf,
  p2wshMultisig,
  sortPublicKeysBip67,
  walletP2wsh,
} from '../../../src/custody/chains/bitcoin-script.js';
import { isCofferError } from '../../../src/errors/index.js';

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes = (value: string) => new Uint8Array(Buffer.from(value, 'hex'));
const scalar = (n: number) => bytes(n.toString(16).padStart(64, '0'));
/** SEC1 uncompressed, as wallets store keys. */
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));

// https://github.com/bitcoin/bips/blob/master/bip-0067.mediawiki#test-vectors (all 2-of-n P2SH).
const bip67Vectors = [
  {
    keys: [
      '02ff12471208c14bd580709cb2358d98975247d8765f92bc25eab3b2763ed605f8',
      '02fe6f0a5a297eb38c391581c4413e084773ea23954d93f7753db7dc0adc188b2f',
    ],
    sorted: [1, 0],
    address: '39bgKC7RFbpoCRbtD5KEdkYKtNyhpsNa3Z',
  },
  {
    keys: [
      '02632b12f4ac5b1d1b72b2a3b508c19172de44f6f46bcee50ba33f3f9291e47ed0',
      '027735a29bae7780a9755fae7a1c4374c656ac6a69ea9f3697fda61bb99a4f3e77',
      '02e2cc6bd5f45edd43bebe7cb9b675f0ce9ed3efe613b177588290ad188d11b404',
    ],
    sorted: [0, 1, 2],
    address: '3CKHTjBKxCARLzwABMu9yD85kvtm7WnMfH',
  },
  {
    keys: [
      '030000000000000000000000000000000000004141414141414141414141414141',
      '020000000000000000000000000000000000004141414141414141414141414141',
      '020000000000000000000000000000000000004141414141414141414141414140',
      '030000000000000000000000000000000000004141414141414141414141414140',
    ],
    sorted: [2, 1, 3, 0],
    address: '32V85igBri9zcfBRVupVvwK18NFtS37FuD',
  },
  {
    keys: [
      '022df8750480ad5b26950b25c7ba79d3e37d75f640f8e5d9bcd5b150a0f85014da',
      '03e3818b65bcc73a7d64064106a859cc1a5a728c4345ff0b641209fba0d90de6e9',
      '021f2f6e1e50cb6a953935c3601284925decd3fd21bc445712576873fb8c6ebc18',
    ],
    sorted: [2, 0, 1],
    address: '3Q4sF6tv9wsdqu2NtARzNCpQgwifm2rAba',
  },
];

// Keys 1·G, 2·G, 3·G; witness script 5221<1G>21<2G>21<3G>53ae, sha256 12c2ffbc…c572.
const knownWalletAddress = {
  mainnet: 'bc1qztp0l0rwc8846ardl02fkyrrx43p96j47scz8l7qz3vnfteqc4eqtfqwcm',
  testnet: 'tb1qztp0l0rwc8846ardl02fkyrrx43p96j47scz8l7qz3vnfteqc4equpkpz5',
  'bcoin-regtest': 'rb1qztp0l0rwc8846ardl02fkyrrx43p96j47scz8l7qz3vnfteqc4eq6c38dr',
} as const;

describe('BIP 67 key order', () => {
  it.each(bip67Vectors)('sorts $address keys and gives its multisig script', (vector) => {
    const keys = vector.keys.map(bytes);
    const sorted = sortPublicKeysBip67(keys).map(hex);
    expect(sorted).toEqual(vector.sorted.map((i) => vector.keys[i]));
    // The P2SH address of the sorted script is BIP 67's (base58, mainnet).
    const redeem = payments.p2ms({ m: 2, pubkeys: sortPublicKeysBip67(keys) });
    expect(payments.p2sh({ redeem }).address).toBe(vector.address);
  });

  it('gives one address for every order of the same keys', () => {
    const keys = [1, 2, 3].map((n) => compressPublicKey(keyHex(n)));
    const orders = [
      [0, 1, 2],
      [0, 2, 1],
      [1, 0, 2],
      [1, 2, 0],
      [2, 0, 1],
      [2, 1, 0],
    ];
    const addresses = new Set(
      orders.map(
        (order) =>
          p2wshMultisig(
            2,
            order.map((i) => keys[i] ?? new Uint8Array()),
            bitcoinNetworks.mainnet,
          ).address,
      ),
    );
    expect([...addresses]).toEqual([knownWalletAddress.mainnet]);
  });
});

describe('wallet P2WSH 2-of-3', () => {
  const keys = { offline: keyHex(3), service: keyHex(1), platform: { publicKey: keyHex(2) } };

  it.each(Object.entries(knownWalletAddress))(
    'derives the known %s address from the SEC1 keys',
    (network, address) => {
      const wallet = walletP2wsh(
        2,
        keys,
        bitcoinNetworks[network as keyof typeof knownWalletAddress],
      );
      expect(wallet.address).toBe(address);
      expect(hex(wallet.witnessScript)).toBe(
        `5221${hex(compressPublicKey(keyHex(1)))}21${hex(compressPublicKey(keyHex(2)))}21${hex(compressPublicKey(keyHex(3)))}53ae`,
      );
      expect(hex(wallet.outputScript)).toBe(
        '002012c2ffbc6ec1cf5d746dfbd49b1063356212ea55f43023ffc0145934af20c572',
      );
    },
  );

  it('compresses 04‖x‖y keys to 02/03‖x', () => {
    expect(hex(compressPublicKey(keyHex(1)))).toBe(
      '0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798',
    );
    expect(hex(compressPublicKey(keyHex(3)))).toBe(
      '02f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9',
    );
  });

  it.each([
    ['not hex', { ...keys, offline: 'zz' }],
    ['a P-256 point', { ...keys, service: `04${'11'.repeat(64)}` }],
    ['a repeated key', { ...keys, service: keys.offline }],
  ])('refuses %s with CUSTODY_E_KEY_INVALID', (_name, bad) => {
    expect(() => walletP2wsh(2, bad, bitcoinNetworks.mainnet)).toThrow(
      expect.objectContaining({ code: 'CUSTODY_E_KEY_INVALID' }),
    );
  });

  it('refuses a threshold outside 1..n', () => {
    for (const m of [0, 4, 1.5]) {
      let error: unknown;
      try {
        walletP2wsh(m, keys, bitcoinNetworks.mainnet);
      } catch (caught) {
        error = caught;
      }
      expect(isCofferError(error, 'CUSTODY_E_KEY_INVALID')).toBe(true);
    }
  });

  it("refuses another network's address as a destination", () => {
    expect(() =>
      outputScriptOf(knownWalletAddress.mainnet, bitcoinNetworks['bcoin-regtest']),
    ).toThrow(expect.objectContaining({ code: 'CUSTODY_E_ADDRESS_INVALID' }));
    expect(hex(outputScriptOf(knownWalletAddress.testnet, bitcoinNetworks.testnet))).toBe(
      '002012c2ffbc6ec1cf5d746dfbd49b1063356212ea55f43023ffc0145934af20c572',
    );
  });
});
