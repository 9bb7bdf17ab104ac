// Multisig accounts of the token app (issue 7, the ledger-native custody chain): registered from
// a custody wallet's public record, funds moved only by m signatures by distinct keys over the
// SHA-256 of the canonical transfer bytes, each nonce spent once, incoming transfers logged.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  multisigAccountOf,
  multisigTransferBytes,
  multisigTransferDigest,
  tokenApp,
  type MultisigTransfer,
} from '../../src/contracts/token.js';
import type { ActionContext, Caller } from '../../src/contracts/index.js';
import {
  generateScalarKey,
  rawSignatureToDer,
  signDigestWithScalar,
  toHex,
} from '../../src/crypto/keys.js';
import { isCofferError } from '../../src/errors/index.js';

function caller(name: string, isAdmin = false): Caller {
  return {
    mspId: 'Org1MSP',
    identityId: createHash('sha256').update(name).digest('hex'),
    role: isAdmin ? 'admin' : 'client',
    isAdmin,
  };
}

const admin = caller('admin', true);
const alice = caller('alice');
const aliceAccount = `${alice.mspId}:${alice.identityId}`;
const walletId = 'ab'.repeat(32);
const account = multisigAccountOf(walletId);
const keys = [0, 1, 2].map(() => generateScalarKey('P-256'));
const stranger = generateScalarKey('P-256');

/** A store of maps in memory; writes of a failed action are dropped, as execution does. */
function ledger(wallet: Record<string, unknown> | undefined) {
  let maps = new Map<string, string>();
  const publicMaps = new Map<string, string>();
  if (wallet !== undefined)
    publicMaps.set(`public:custody.wallets/${walletId}`, JSON.stringify(wallet));
  let seq = 0;
  const run = (who: Caller, action: string, args: Record<string, unknown>) => {
    const draft = new Map(maps);
    seq += 1;
    const context: ActionContext = {
      caller: who,
      txId: seq.toString(16).padStart(64, '0'),
      time: 1_000 * seq,
      kv: {
        get: (map, key) => draft.get(`${map}/${key}`),
        put: (map, key, value) => draft.set(`${map}/${key}`, value),
        delete: (map, key) => draft.delete(`${map}/${key}`),
      },
      readPublic: (map, key) => publicMaps.get(`${map}/${key}`) ?? draft.get(`${map}/${key}`),
    };
    const handler = tokenApp.actions[action];
    if (handler === undefined) throw new Error(`no action ${action}`);
    try {
      const result = handler.run(context, args) as Record<string, unknown>;
      maps = draft;
      return { ok: true as const, result };
    } catch (error) {
      if (!isCofferError(error)) throw error;
      return { ok: false as const, code: error.code, message: error.message };
    }
  };
  const query = (name: string, args: Record<string, unknown>) =>
    tokenApp.queries[name]?.run(
      { caller: alice, kv: { get: (map, key) => maps.get(`${map}/${key}`) } },
      args,
    ) as Record<string, unknown>;
  return { run, query };
}

const coffeeWallet = {
  id: walletId,
  chain: 'coffer',
  curve: 'P-256',
  threshold: { m: 2, n: 3 },
  keys: {
    offline: keys[0]?.publicKey,
    service: keys[1]?.publicKey,
    platform: { keyId: 'k', publicKey: keys[2]?.publicKey, curve: 'P-256' },
  },
};

function signed(transfer: MultisigTransfer, signers: readonly number[], der = false) {
  const bytes = multisigTransferBytes(transfer);
  const digest = multisigTransferDigest(bytes);
  const all = [...keys, stranger];
  return {
    tx: toHex(bytes),
    signatures: signers.map((index) => {
      const secret = all[index]?.secretKey;
      if (secret === undefined) throw new Error('no key');
      const raw = signDigestWithScalar('P-256', secret, digest);
      return toHex(der ? rawSignatureToDer(raw) : raw);
    }),
  };
}

const transfer = (nonce: string, amount = '300'): MultisigTransfer => ({
  symbol: 'CFR',
  from: account,
  to: aliceAccount,
  amount,
  nonce,
});

function funded() {
  const l = ledger(coffeeWallet);
  expect(l.run(alice, 'register_multisig', { walletId })).toMatchObject({ ok: true });
  expect(l.run(admin, 'mint', { symbol: 'CFR', to: account, amount: '1000' })).toMatchObject({
    ok: true,
  });
  return l;
}

describe('token multisig accounts', () => {
  it('registers from the custody wallet, idempotently; refuses unknown and non-coffer wallets', () => {
    const l = ledger(coffeeWallet);
    const first = l.run(alice, 'register_multisig', { walletId });
    expect(first).toMatchObject({
      ok: true,
      result: { existing: false, multisig: { account, threshold: 2, curve: 'P-256' } },
    });
    expect(l.run(admin, 'register_multisig', { walletId })).toMatchObject({
      ok: true,
      result: { existing: true },
    });
    expect(l.query('multisig', { account })).toMatchObject({
      multisig: { keys: keys.map((key) => key.publicKey) },
    });
    expect(ledger(undefined).run(alice, 'register_multisig', { walletId })).toMatchObject({
      ok: false,
      code: 'APP_E_INVALID_ARGS',
    });
    expect(
      ledger({ ...coffeeWallet, chain: 'ethereum' }).run(alice, 'register_multisig', { walletId }),
    ).toMatchObject({ ok: false, code: 'APP_E_FORBIDDEN' });
  });

  it('moves funds with 2 of 3 signatures (r||s or DER); logs transfers into the account', () => {
    const l = funded();
    const moved = l.run(alice, 'multisig_transfer', signed(transfer('n1'), [1, 2]));
    expect(moved).toMatchObject({ ok: true, result: { fromBalance: '700', toBalance: '300' } });
    expect(
      l.run(alice, 'multisig_transfer', signed(transfer('n2', '100'), [0, 2], true)),
    ).toMatchObject({ ok: true, result: { fromBalance: '600' } });
    expect(l.query('balance', { symbol: 'CFR', account: aliceAccount })).toMatchObject({
      balance: '400',
    });
    expect(l.query('multisig_incoming', {})).toMatchObject({
      count: 1,
      transfers: [{ index: 0, from: null, to: account, amount: '1000', symbol: 'CFR' }],
    });
  });

  it('refuses one signature, a repeated key, a stranger, a replayed nonce and a plain transfer', () => {
    const l = funded();
    const refused = (args: Record<string, unknown>) => l.run(alice, 'multisig_transfer', args);
    expect(refused(signed(transfer('a'), [1]))).toMatchObject({
      ok: false,
      code: 'APP_E_FORBIDDEN',
    });
    expect(refused(signed(transfer('a'), [1, 1]))).toMatchObject({
      ok: false,
      code: 'APP_E_FORBIDDEN',
    });
    expect(refused(signed(transfer('a'), [1, 3]))).toMatchObject({
      ok: false,
      code: 'APP_E_FORBIDDEN',
    });
    expect(refused(signed(transfer('a'), [0, 1]))).toMatchObject({ ok: true });
    expect(l.query('multisig_nonce', { account, nonce: 'a' })).toMatchObject({
      spentBy: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    expect(l.query('multisig_nonce', { account, nonce: 'b' })).toMatchObject({ spentBy: null });
    expect(refused(signed(transfer('a'), [0, 1]))).toMatchObject({
      ok: false,
      code: 'APP_E_FORBIDDEN',
      message: expect.stringContaining('spent') as unknown,
    });
    expect(refused(signed(transfer('b', '5000'), [0, 1]))).toMatchObject({
      ok: false,
      code: 'TOKEN_E_INSUFFICIENT_FUNDS',
    });
    expect(l.query('balance', { symbol: 'CFR', account })).toMatchObject({ balance: '700' });
  });

  it('refuses tampered or non-canonical bytes and signatures over another transfer', () => {
    const l = funded();
    const good = signed(transfer('c'), [0, 1]);
    const other = signed(transfer('c', '999'), [0, 1]);
    // Signatures of one transfer on the bytes of another.
    expect(
      l.run(alice, 'multisig_transfer', { tx: other.tx, signatures: good.signatures }),
    ).toMatchObject({ ok: false, code: 'APP_E_FORBIDDEN' });
    // The same JSON with a space: not canonical, so not signable twice.
    const spaced = Buffer.from(
      Buffer.from(good.tx, 'hex').toString('utf8').replace(':', ': '),
    ).toString('hex');
    expect(
      l.run(alice, 'multisig_transfer', { tx: spaced, signatures: good.signatures }),
    ).toMatchObject({ ok: false, code: 'APP_E_INVALID_ARGS' });
    // From an account that is not a multisig account.
    const plain = signed({ ...transfer('d'), from: aliceAccount }, [0, 1]);
    expect(l.run(alice, 'multisig_transfer', plain)).toMatchObject({
      ok: false,
      code: 'APP_E_FORBIDDEN',
    });
    expect(l.query('balance', { symbol: 'CFR', account })).toMatchObject({ balance: '1000' });
  });
});
