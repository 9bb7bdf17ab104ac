// Multisig accounts of the token app (issue 7, the ledger-native custody chain): registered from
// a custody wallet's public record, funds moved only by m signatures by distinct keys over the
// SHA-256 of the canonical transfer bytes, each nonce spent once, incoming transfers logged.
// Each refusal has its own TOKEN_E_MULTISIG_* code, and execution hands it to the caller as is.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  multisigAccountOf,
  multisigTransferBytes,
  multisigTransferDigest,
  tokenApp,
  type MultisigTransfer,
} from '../../src/contracts/token.js';
import { createAppHarness } from '../../src/contracts/harness.js';
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
      code: 'TOKEN_E_MULTISIG_WALLET_NOT_FOUND',
      message: expect.stringContaining('create_wallet') as unknown,
    });
    expect(
      ledger({ ...coffeeWallet, chain: 'ethereum' }).run(alice, 'register_multisig', { walletId }),
    ).toMatchObject({ ok: false, code: 'TOKEN_E_MULTISIG_WRONG_CHAIN' });
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

  it('refuses one signature, a repeated key, a stranger, a malformed signature and a replayed nonce', () => {
    const l = funded();
    const refused = (args: Record<string, unknown>) => l.run(alice, 'multisig_transfer', args);
    expect(refused(signed(transfer('a'), [1]))).toMatchObject({
      ok: false,
      code: 'TOKEN_E_MULTISIG_THRESHOLD_NOT_MET',
      message: expect.stringContaining('needs signatures by 2 distinct keys; 1 signed') as unknown,
    });
    expect(refused(signed(transfer('a'), [1, 1]))).toMatchObject({
      ok: false,
      code: 'TOKEN_E_MULTISIG_DUPLICATE_SIGNER',
      message: expect.stringContaining(
        'args.signatures[1] is by the same key as args.signatures[0]',
      ) as unknown,
    });
    // A repeated key is refused even when enough other keys signed.
    expect(refused(signed(transfer('a'), [0, 1, 1]))).toMatchObject({
      ok: false,
      code: 'TOKEN_E_MULTISIG_DUPLICATE_SIGNER',
    });
    expect(refused(signed(transfer('a'), [1, 3]))).toMatchObject({
      ok: false,
      code: 'TOKEN_E_MULTISIG_SIGNATURE_INVALID',
      message: expect.stringContaining('args.signatures[1] does not verify') as unknown,
    });
    const good = signed(transfer('a'), [0, 1]);
    for (const bad of ['00'.repeat(63), 'zz', 'ab'.repeat(100), 7]) {
      expect(refused({ ...good, signatures: [good.signatures[0], bad] })).toMatchObject({
        ok: false,
        code: 'TOKEN_E_MULTISIG_SIGNATURE_MALFORMED',
        message: expect.stringContaining('args.signatures[1]') as unknown,
      });
    }
    expect(refused(signed(transfer('a'), [0, 1]))).toMatchObject({ ok: true });
    expect(l.query('multisig_nonce', { account, nonce: 'a' })).toMatchObject({
      spentBy: expect.stringMatching(/^[0-9a-f]{64}$/) as unknown,
    });
    expect(l.query('multisig_nonce', { account, nonce: 'b' })).toMatchObject({ spentBy: null });
    expect(refused(signed(transfer('a'), [0, 1]))).toMatchObject({
      ok: false,
      code: 'TOKEN_E_MULTISIG_NONCE_SPENT',
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
    ).toMatchObject({ ok: false, code: 'TOKEN_E_MULTISIG_SIGNATURE_INVALID' });
    // The same JSON with a space: not canonical, so not signable twice.
    const text = Buffer.from(good.tx, 'hex').toString('utf8');
    const hexOf = (json: string) => Buffer.from(json, 'utf8').toString('hex');
    const malformed: [string, string][] = [
      [hexOf(text.replace(':', ': ')), 'args.tx must be the canonical bytes'],
      [hexOf('[1,2]'), 'args.tx is not the canonical JSON'],
      [hexOf('{"type":'), 'args.tx is not the canonical JSON'],
      [hexOf(text.replace('multisig_transfer.v1', 'multisig_transfer.v2')), 'args.tx.type'],
      [hexOf(text.replace('"symbol"', '"memo":"x","symbol"')), 'args.tx.memo is not a field'],
      [hexOf(text.replace('"amount":"300"', '"amount":"0"')), 'args.tx.amount'],
      [hexOf(text.replace('"amount":"300"', '"amount":300')), 'args.tx.amount'],
      [hexOf(text.replace(/"nonce":"c"/, '"nonce":"c d"')), 'args.tx.nonce'],
    ];
    for (const [tx, message] of malformed) {
      expect(l.run(alice, 'multisig_transfer', { tx, signatures: good.signatures })).toMatchObject({
        ok: false,
        code: 'TOKEN_E_MULTISIG_TX_MALFORMED',
        message: expect.stringContaining(message) as unknown,
      });
    }
    // From an account that is not a multisig account.
    const plain = signed({ ...transfer('d'), from: aliceAccount }, [0, 1]);
    expect(l.run(alice, 'multisig_transfer', plain)).toMatchObject({
      ok: false,
      code: 'TOKEN_E_MULTISIG_NOT_REGISTERED',
    });
    expect(l.query('balance', { symbol: 'CFR', account })).toMatchObject({ balance: '1000' });
  });

  it('refuses a plain transfer out of a multisig account', () => {
    const l = funded();
    // A made-up caller whose account is the multisig account's string.
    const asAccount: Caller = { mspId: 'ms', identityId: walletId, role: 'client', isAdmin: false };
    expect(
      l.run(asAccount, 'transfer', { symbol: 'CFR', to: aliceAccount, amount: '1' }),
    ).toMatchObject({ ok: false, code: 'TOKEN_E_MULTISIG_PLAIN_TRANSFER' });
    expect(l.query('balance', { symbol: 'CFR', account })).toMatchObject({ balance: '1000' });
  });

  it('execution hands the TOKEN_E_MULTISIG code to the caller, not APP_E_FAILED', () => {
    const h = createAppHarness();
    const wallets = h.store.begin();
    wallets.put('public:custody.wallets', walletId, JSON.stringify(coffeeWallet));
    h.store.apply(wallets.writeSet(), 1);
    const who = h.caller('Org1MSP', 'admin');
    const call = (action: string, args: Record<string, unknown>) =>
      h.call({ app: 'token', action, args, caller: who });
    // First, and refused, so that the harness's seqno 1 (taken by the wallet record) is not reused.
    expect(call('register_multisig', { walletId: 'cd'.repeat(32) })).toMatchObject({
      status: 'invalid',
      code: 'TOKEN_E_MULTISIG_WALLET_NOT_FOUND',
    });
    expect(call('register_multisig', { walletId })).toMatchObject({ status: 'committed' });
    expect(call('mint', { symbol: 'CFR', to: account, amount: '1000' })).toMatchObject({
      status: 'committed',
    });
    const refusals: [Record<string, unknown>, string][] = [
      [signed(transfer('h'), [2]), 'TOKEN_E_MULTISIG_THRESHOLD_NOT_MET'],
      [signed(transfer('h'), [2, 2]), 'TOKEN_E_MULTISIG_DUPLICATE_SIGNER'],
      [signed(transfer('h'), [2, 3]), 'TOKEN_E_MULTISIG_SIGNATURE_INVALID'],
      [
        { ...signed(transfer('h'), [2]), signatures: ['00'] },
        'TOKEN_E_MULTISIG_SIGNATURE_MALFORMED',
      ],
      [{ ...signed(transfer('h'), [2]), tx: '7b7d' }, 'TOKEN_E_MULTISIG_TX_MALFORMED'],
      [signed({ ...transfer('h'), from: aliceAccount }, [0, 1]), 'TOKEN_E_MULTISIG_NOT_REGISTERED'],
    ];
    for (const [args, code] of refusals)
      expect(call('multisig_transfer', args)).toMatchObject({ status: 'invalid', code });
    expect(call('multisig_transfer', signed(transfer('h'), [0, 2]))).toMatchObject({
      status: 'committed',
    });
    expect(call('multisig_transfer', signed(transfer('h'), [1, 2]))).toMatchObject({
      status: 'invalid',
      code: 'TOKEN_E_MULTISIG_NONCE_SPENT',
    });
  });
});
