// Custody parameters (src/custody/params.ts): the chain fields issue 8 added (ethereum chainId
// and tokens, bitcoin feeMax), each chain refusing the others' fields unless they hold the
// default, and the params query's answer being a valid value itself (a worker checks it).
import { describe, expect, it } from 'vitest';
import { checkCustodyParams, defaultCustodyParams } from '../../src/custody/index.js';

const refused = (value: unknown) => {
  try {
    checkCustodyParams(value);
  } catch (error) {
    return (error as { code?: string; message: string }).message;
  }
  return 'accepted';
};

describe('custody parameters', () => {
  it('checks its own output: the defaults and a full value come back unchanged', () => {
    expect(checkCustodyParams(defaultCustodyParams)).toEqual(defaultCustodyParams);
    const full = checkCustodyParams({
      chains: {
        ethereum: { chainId: '31337', tokens: { USDT: `0x${'ab'.repeat(20)}` }, confirmations: 3 },
        bitcoin: { feeMax: '5000', confirmations: 2 },
      },
    });
    expect(full.chains.ethereum).toMatchObject({ chainId: '31337', confirmations: 3 });
    expect(full.chains.bitcoin).toMatchObject({ feeMax: '5000', chainId: null, tokens: {} });
    expect(checkCustodyParams(JSON.parse(JSON.stringify(full)))).toEqual(full);
  });

  it("refuses another chain's field unless it is the default, and malformed values", () => {
    expect(refused({ chains: { bitcoin: { chainId: '1' } } })).toMatch(
      /custody\.chains\.bitcoin\.chainId does not apply to bitcoin/,
    );
    expect(refused({ chains: { coffer: { feeMax: '10' } } })).toMatch(/does not apply to coffer/);
    expect(refused({ chains: { ethereum: { feeMax: '0' } } })).toBe('accepted');
    expect(refused({ chains: { ethereum: { chainId: '0' } } })).toMatch(/chainId must be/);
    expect(refused({ chains: { ethereum: { chainId: 1 } } })).toMatch(/chainId must be/);
    expect(refused({ chains: { ethereum: { tokens: { ETH: `0x${'ab'.repeat(20)}` } } } })).toMatch(
      /other than ETH/,
    );
    expect(refused({ chains: { ethereum: { tokens: { USDT: '0xAB' } } } })).toMatch(/tokens\.USDT/);
    expect(refused({ chains: { bitcoin: { feeMax: '-1' } } })).toMatch(/feeMax must be/);
    expect(refused({ chains: { bitcoin: { fee: '1' } } })).toMatch(/is not a field/);
  });
});
