// Custody's address check (src/custody/args.ts normaliseAddress): one spelling per address,
// and the bech32 prefixes of every network a Bitcoin worker may run on, bcoin's regtest `rb`
// among them (the chain workers verify checksums).
import { describe, expect, it } from 'vitest';
import { normaliseAddress } from '../../src/custody/args.js';

const tail = 'qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4';

describe('custody addresses', () => {
  it('takes bech32 Bitcoin addresses of mainnet, testnet and both regtests, lower-cased', () => {
    for (const prefix of ['bc', 'tb', 'bcrt', 'rb']) {
      const address = `${prefix}1${tail}`;
      expect(normaliseAddress('bitcoin', address.toUpperCase(), 'address')).toBe(address);
    }
  });

  it('refuses another prefix or another chain’s address, naming the field', () => {
    for (const [chain, value] of [
      ['bitcoin', `xx1${tail}`],
      ['bitcoin', '0x52908400098527886e0f7030069857d2e4169ee7'],
      ['ethereum', `rb1${tail}`],
    ] as const) {
      expect(() => normaliseAddress(chain, value, 'destination')).toThrow(/destination/);
    }
  });
});
