// The withdrawal flow end to end in-process (issue 7): request → (approvals) → built → signed
// by the service → signed by the platform → broadcast → confirmed, with the records the signer
// service reads, the balances at each step, and the audit history with every step's txId.
import { describe, expect, it } from 'vitest';
import {
  custodyApp,
  withdrawalStates,
  withdrawalsMap,
  walletsMap,
  type WithdrawalRecord,
} from '../../src/custody/index.js';
import {
  cast,
  baseParams,
  cofferTx,
  createDriver,
  keysArg,
  walletKeys,
  type Driver,
} from './driver.js';
import { balance, field, must, readyWallet, type Ready } from './setup.js';

function withdraw(
  driver: Driver,
  ready: Ready,
  amount: string,
  key: string,
): { id: string; record: WithdrawalRecord } {
  const result = must(
    driver.run(cast.svc, 'request', {
      walletId: ready.walletId,
      asset: 'COF',
      amount,
      destination: ready.destination,
      idempotencyKey: key,
    }),
  );
  const record = field<WithdrawalRecord>(result, 'withdrawal');
  return { id: record.id, record };
}

function requestArgs(ready: Ready, amount: string): Record<string, unknown> {
  return { walletId: ready.walletId, asset: 'COF', amount, destination: ready.destination };
}

/** Runs build → service_sign → platform_sign → broadcast → confirm; returns the txIds. */
function complete(driver: Driver, ready: Ready, id: string): string[] {
  const {
    unsignedTx,
    digests: [digest],
  } = cofferTx(id);
  const txIds: string[] = [];
  const step = (who: (typeof cast)[keyof typeof cast], action: string, args: object): void => {
    const outcome = driver.run(who, action, { withdrawalId: id, ...args });
    must(outcome);
    txIds.push(outcome.txId);
  };
  step(cast.worker, 'build', { unsignedTx, digests: [digest] });
  step(cast.svc, 'service_sign', { signatures: [ready.keys.service.sign(digest)] });
  step(cast.worker, 'platform_sign', {
    signatures: [ready.keys.platform.sign(digest, 'compact')],
  });
  step(cast.worker, 'broadcast', { chainTxId: `coffer-${id.slice(0, 8)}` });
  step(cast.worker, 'confirm', { blockHeight: 120, blockHash: 'block-120' });
  return txIds;
}

function stored(driver: Driver, id: string): Record<string, unknown> {
  const text = driver.store.read(withdrawalsMap, id);
  if (text === undefined) throw new Error(`no withdrawal ${id}`);
  return JSON.parse(text) as Record<string, unknown>;
}

describe('custody withdrawal flow', () => {
  it('is a built-in app named custody with a schema for every endpoint', () => {
    expect(custodyApp.name).toBe('custody');
    for (const endpoint of [
      ...Object.values(custodyApp.actions),
      ...Object.values(custodyApp.queries),
    ]) {
      expect(endpoint.args['type']).toBe('object');
      expect(endpoint.summary.length).toBeGreaterThan(10);
    }
    expect(withdrawalStates).toEqual([
      'requested',
      'pending_approval',
      'approved',
      'built',
      'service_signed',
      'platform_signed',
      'broadcast',
      'confirmed',
      'failed',
      'rejected',
      'expired',
    ]);
  });

  it('under the limits: approved at request, then built, signed twice, broadcast, confirmed, debited', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver);
    expect(balance(driver, ready.walletId)).toMatchObject({ total: '1000', reserved: '0' });

    const { id, record } = withdraw(driver, ready, '60', 'k-1');
    expect(record.state).toBe('approved');
    expect(record.overLimit).toEqual([]);
    expect(balance(driver, ready.walletId)).toMatchObject({
      total: '1000',
      reserved: '60',
      available: '940',
    });

    const txIds = complete(driver, ready, id);
    const final = stored(driver, id);
    expect(final['state']).toBe('confirmed');
    expect(balance(driver, ready.walletId)).toMatchObject({
      total: '940',
      reserved: '0',
      available: '940',
    });

    const history = field<Record<string, unknown>[]>(
      must(driver.query(cast.svc, 'history', { kind: 'withdrawal', id })),
      'entries',
    );
    expect(history.map((entry) => [entry['action'], entry['state']])).toEqual([
      ['request', 'requested'],
      ['policy', 'approved'],
      ['build', 'built'],
      ['service_sign', 'service_signed'],
      ['platform_sign', 'platform_signed'],
      ['broadcast', 'broadcast'],
      ['confirm', 'confirmed'],
    ]);
    // Every step names its transaction, so the API can fetch each step's receipt.
    expect(history.slice(2).map((entry) => entry['txId'])).toEqual(txIds);
    expect(history[0]?.['txId']).toBe(id);
    expect(history[6]?.['by']).toBe(`${cast.worker.mspId}:${cast.worker.identityId}`);
  });

  it('over a limit: waits for k admin approvals, then goes through', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver, { approvals: 2 });
    const { id, record } = withdraw(driver, ready, '150', 'big-1');
    expect(record.state).toBe('pending_approval');
    expect(record.overLimit).toEqual(['per_transaction']);
    expect(record.approvalsRequired).toBe(2);

    const pending = must(driver.query(cast.admin3, 'pending_approvals'));
    expect(field<WithdrawalRecord[]>(pending, 'withdrawals').map((w) => w.id)).toEqual([id]);

    const first = must(driver.run(cast.admin1, 'approve', { withdrawalId: id }));
    expect(field(first, 'withdrawal', 'state')).toBe('pending_approval');
    const second = must(driver.run(cast.admin2, 'approve', { withdrawalId: id }));
    expect(field(second, 'withdrawal', 'state')).toBe('approved');
    expect(field<unknown[]>(second, 'withdrawal', 'approvals')).toHaveLength(2);
    expect(
      field<unknown[]>(must(driver.query(cast.admin3, 'pending_approvals')), 'withdrawals'),
    ).toEqual([]);

    complete(driver, ready, id);
    expect(balance(driver, ready.walletId)).toMatchObject({ total: '850', reserved: '0' });
  });

  it('the rolling 24 h limit counts earlier withdrawals until 24 h of ledger time pass', () => {
    const driver = createDriver({ params: baseParams({ withdrawalExpiryMs: 7 * 24 * 3600_000 }) });
    const ready = readyWallet(driver, { rolling24h: '250' });
    const first = withdraw(driver, ready, '100', 'r-1').record;
    expect(first.state).toBe('approved');
    expect(withdraw(driver, ready, '100', 'r-2').record.state).toBe('approved');
    const third = withdraw(driver, ready, '100', 'r-3').record;
    expect(third.state).toBe('pending_approval');
    expect(third.overLimit).toEqual(['rolling_24h']);
    // Rejecting the third releases it; the window holds 200, then 250.
    must(driver.run(cast.admin1, 'reject', { withdrawalId: third.id, reason: 'too much today' }));
    expect(withdraw(driver, ready, '50', 'r-4').record.state).toBe('approved');
    const justBefore = first.requestedAt + 24 * 3600_000 - 1;
    const late = must(
      driver.run(
        cast.svc,
        'request',
        { ...requestArgs(ready, '1'), idempotencyKey: 'r-5' },
        { time: justBefore },
      ),
    );
    expect(field(late, 'withdrawal', 'state')).toBe('pending_approval');
    must(driver.run(cast.svc, 'reject', { withdrawalId: field(late, 'withdrawal', 'id') }));
    // 24 h after the first, it no longer counts: 150 in the window, 100 more fits 250.
    const after = must(
      driver.run(
        cast.svc,
        'request',
        { ...requestArgs(ready, '100'), idempotencyKey: 'r-6' },
        { time: first.requestedAt + 24 * 3600_000 },
      ),
    );
    expect(field(after, 'withdrawal', 'state')).toBe('approved');
  });

  it('stores what the signer reads: public map, id, walletId, chain, state, digests, platformKey', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver);
    const { id } = withdraw(driver, ready, '10', 'signer-1');
    const {
      unsignedTx,
      digests: [digest],
    } = cofferTx(id);
    must(driver.run(cast.worker, 'build', { withdrawalId: id, unsignedTx, digests: [digest] }));
    must(
      driver.run(cast.svc, 'service_sign', {
        withdrawalId: id,
        signatures: [ready.keys.service.sign(digest)],
      }),
    );
    const record = stored(driver, id);
    expect(record).toMatchObject({
      id,
      walletId: ready.walletId,
      chain: 'coffer',
      state: 'service_signed',
      digests: [digest],
      fee: '0',
      platformKey: {
        keyId: 'hsm-key-1',
        publicKey: ready.keys.platform.publicKey,
        curve: 'P-256',
      },
    });
    expect(record['digests']).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
    expect(field(record, 'platformKey', 'publicKey')).toMatch(/^04[0-9a-f]{128}$/);
    // The id is the request's txId: deterministic, never random.
    const history = field<Record<string, unknown>[]>(
      must(driver.query(cast.svc, 'history', { kind: 'withdrawal', id })),
      'entries',
    );
    expect(history[0]?.['txId']).toBe(id);
    const wallet = JSON.parse(driver.store.read(walletsMap, ready.walletId) ?? '{}') as Record<
      string,
      unknown
    >;
    expect(field(wallet, 'keys', 'service')).toBe(ready.keys.service.publicKey);
    const signed = must(
      driver.run(cast.peer, 'platform_sign', {
        withdrawalId: id,
        signatures: [ready.keys.platform.sign(digest)],
      }),
    );
    expect(field(signed, 'withdrawal', 'state')).toBe('platform_signed');
    expect(stored(driver, id)['platformSignatures']).toEqual([
      expect.stringMatching(/^[0-9a-f]+$/),
    ]);
  });

  it('a replayed idempotency key returns the first withdrawal and writes nothing', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver);
    const { id } = withdraw(driver, ready, '10', 'same-key');
    const before = driver.snapshot();
    const again = driver.run(cast.svc, 'request', {
      walletId: ready.walletId,
      asset: 'COF',
      amount: '10',
      destination: ready.destination,
      idempotencyKey: 'same-key',
    });
    expect(again.ok && again.result['replayed']).toBe(true);
    expect(again.ok && field(again.result, 'withdrawal', 'id')).toBe(id);
    expect(again.ok && again.writeSet).toEqual([]);
    expect(driver.snapshot()).toBe(before);
    const list = must(driver.query(cast.svc, 'withdrawals', { walletId: ready.walletId }));
    expect(field<unknown[]>(list, 'withdrawals')).toHaveLength(1);
  });

  it('lists withdrawals by wallet and state, and open ones per chain for workers', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver);
    const a = withdraw(driver, ready, '10', 'a').id;
    const b = withdraw(driver, ready, '150', 'b').id;
    const c = withdraw(driver, ready, '20', 'c').id;
    const all = must(driver.query(cast.svc, 'withdrawals', { walletId: ready.walletId }));
    expect(field<WithdrawalRecord[]>(all, 'withdrawals').map((w) => w.id)).toEqual([c, b, a]);
    const page1 = must(
      driver.query(cast.svc, 'withdrawals', { walletId: ready.walletId, limit: 2 }),
    );
    expect(field<WithdrawalRecord[]>(page1, 'withdrawals').map((w) => w.id)).toEqual([c, b]);
    const page2 = must(
      driver.query(cast.svc, 'withdrawals', {
        walletId: ready.walletId,
        limit: 2,
        cursor: field<number>(page1, 'next'),
      }),
    );
    expect(field<WithdrawalRecord[]>(page2, 'withdrawals').map((w) => w.id)).toEqual([a]);
    expect(page2['next']).toBeNull();
    const approved = must(
      driver.query(cast.worker, 'withdrawals', { chain: 'coffer', state: 'approved' }),
    );
    expect(field<WithdrawalRecord[]>(approved, 'withdrawals').map((w) => w.id)).toEqual([a, c]);
    const pending = must(
      driver.query(cast.svc, 'withdrawals', {
        walletId: ready.walletId,
        state: 'pending_approval',
      }),
    );
    expect(field<WithdrawalRecord[]>(pending, 'withdrawals').map((w) => w.id)).toEqual([b]);
    // Private lists are not for other services.
    const other = driver.query(cast.svc2, 'withdrawals', { walletId: ready.walletId });
    expect(!other.ok && other.code).toBe('CUSTODY_E_FORBIDDEN');
    const open = driver.query(cast.svc, 'withdrawals', { chain: 'coffer', state: 'approved' });
    expect(!open.ok && open.code).toBe('CUSTODY_E_FORBIDDEN');
  });

  it('an ethereum wallet takes secp256k1 keys only', () => {
    const driver = createDriver({ params: baseParams() });
    const keys = walletKeys('secp256k1', 'eth');
    const created = driver.run(cast.svc, 'create_wallet', {
      chain: 'ethereum',
      keys: keysArg(keys, 'secp256k1'),
    });
    expect(created.ok && field(created.result, 'wallet', 'curve')).toBe('secp256k1');
    const wrongCurve = driver.run(cast.svc, 'create_wallet', {
      chain: 'ethereum',
      curve: 'P-256',
      keys: keysArg(walletKeys('P-256', 'eth2'), 'P-256'),
    });
    expect(!wrongCurve.ok && wrongCurve.code).toBe('CUSTODY_E_KEY_INVALID');
    // Compressed keys, keys off the curve and a repeated key are refused.
    const bad = (keys: Record<string, unknown>): string => {
      const outcome = driver.run(cast.svc, 'create_wallet', { chain: 'ethereum', keys });
      return outcome.ok ? 'committed' : outcome.code;
    };
    const good = keysArg(walletKeys('secp256k1', 'eth3'), 'secp256k1');
    expect(bad({ ...good, offline: keys.offline.compressed })).toBe('CUSTODY_E_KEY_INVALID');
    expect(bad({ ...good, offline: `04${'11'.repeat(64)}` })).toBe('CUSTODY_E_KEY_INVALID');
    expect(bad({ ...good, offline: good['service'] })).toBe('CUSTODY_E_KEY_INVALID');
  });

  it('takes signatures as r||s or canonical DER only', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver);
    const { id } = withdraw(driver, ready, '10', 'sig-1');
    const {
      unsignedTx,
      digests: [digest],
    } = cofferTx(id);
    must(driver.run(cast.worker, 'build', { withdrawalId: id, unsignedTx, digests: [digest] }));
    const der = ready.keys.service.sign(digest);
    const sign = (signature: string): string => {
      const outcome = driver.run(cast.svc, 'service_sign', {
        withdrawalId: id,
        signatures: [signature],
      });
      return outcome.ok ? 'committed' : outcome.code;
    };
    // DER with a trailing byte verifies in lenient parsers; here it is refused.
    expect(sign(`${der}00`)).toBe('CUSTODY_E_SIGNATURE_INVALID');
    expect(sign(ready.keys.service.sign(digest, 'compact'))).toBe('committed');
  });

  it("lists a chain's wallets in creation order for its workers and admins only", () => {
    const driver = createDriver({ params: baseParams() });
    const created = ['a', 'b', 'c'].map((seed) =>
      field(
        must(
          driver.run(cast.svc, 'create_wallet', {
            chain: 'coffer',
            keys: keysArg(walletKeys('P-256', seed), 'P-256'),
          }),
        ),
        'wallet',
        'id',
      ),
    );
    must(
      driver.run(cast.svc, 'create_wallet', {
        chain: 'ethereum',
        keys: keysArg(walletKeys('secp256k1', 'e'), 'secp256k1'),
      }),
    );
    const page = (who: (typeof cast)[keyof typeof cast], cursor?: number, limit?: number) =>
      driver.query(who, 'chain_wallets', { chain: 'coffer', cursor, limit });
    const all = must(page(cast.worker));
    expect(field<{ id: string }[]>(all, 'wallets').map((item) => item.id)).toEqual(created);
    expect(all).toMatchObject({ count: 3, next: null });
    const first = must(page(cast.admin2, 0, 2));
    expect(first).toMatchObject({ next: 2 });
    const rest = must(page(cast.worker, 2));
    expect(field<{ id: string }[]>(rest, 'wallets').map((item) => item.id)).toEqual([created[2]]);
    // The ethereum worker is no coffer worker; a service sees only its own wallets.
    expect(page(cast.ethworker)).toMatchObject({ ok: false, code: 'CUSTODY_E_FORBIDDEN' });
    expect(page(cast.svc)).toMatchObject({ ok: false, code: 'CUSTODY_E_FORBIDDEN' });
  });
});
