// Issue 7's definition of done: every bypass attempt is refused with its error code and moves
// no funds. Each case starts from a funded wallet, attempts the bypass, and checks the code and
// that no custody value changed at all (the store snapshot is byte-identical).
import { describe, expect, it } from 'vitest';
import { governanceTrigger } from '../../src/contracts/index.js';
import {
  baseParams,
  cast,
  cofferAddress,
  cofferTx,
  createDriver,
  type Driver,
  type Who,
} from './driver.js';
import { balance, field, must, readyWallet, type Ready } from './setup.js';

type Attempt = {
  readonly name: string;
  readonly code: string;
  /** Prepares the state (may run successful steps); returns the refused call. */
  readonly attempt: (
    driver: Driver,
    ready: Ready,
  ) => { who: Who; action: string; args: Record<string, unknown>; trigger?: string };
  readonly params?: Record<string, unknown>;
};

function request(driver: Driver, ready: Ready, amount: string, key: string): string {
  return field(
    must(
      driver.run(cast.svc, 'request', {
        walletId: ready.walletId,
        asset: 'COF',
        amount,
        destination: ready.destination,
        idempotencyKey: key,
      }),
    ),
    'withdrawal',
    'id',
  );
}

/** A withdrawal over the per-transaction limit (150 > 100), waiting for approvals. */
const overLimit = (driver: Driver, ready: Ready): string => request(driver, ready, '150', 'big');

const attempts: readonly Attempt[] = [
  {
    name: 'self-approval by the requester',
    code: 'CUSTODY_E_SELF_APPROVAL',
    attempt: (driver, ready) => ({
      who: 'svc',
      action: 'approve',
      args: { withdrawalId: overLimit(driver, ready) },
    }),
  },
  {
    name: 'a second approval by the same admin',
    code: 'CUSTODY_E_ALREADY_APPROVED',
    attempt: (driver, ready) => {
      const id = overLimit(driver, ready);
      must(driver.run(cast.admin1, 'approve', { withdrawalId: id }));
      return { who: 'admin1', action: 'approve', args: { withdrawalId: id } };
    },
  },
  {
    name: 'approval by a non-admin client',
    code: 'CUSTODY_E_NOT_ADMIN',
    attempt: (driver, ready) => ({
      who: 'user',
      action: 'approve',
      args: { withdrawalId: overLimit(driver, ready) },
    }),
  },
  {
    name: 'approval by a chain worker (a peer, not an admin)',
    code: 'CUSTODY_E_NOT_ADMIN',
    attempt: (driver, ready) => ({
      who: 'worker',
      action: 'approve',
      args: { withdrawalId: overLimit(driver, ready) },
    }),
  },
  {
    name: 'approval by an admin of an MSP the parameters do not allow',
    code: 'CUSTODY_E_NOT_ADMIN',
    params: { approverMsps: ['Org2MSP', 'Org3MSP'] },
    attempt: (driver, ready) => ({
      who: 'admin1',
      action: 'approve',
      args: { withdrawalId: overLimit(driver, ready) },
    }),
  },
  {
    name: 'a second approval from the same organisation under distinct-orgs',
    code: 'CUSTODY_E_SAME_ORG',
    params: { approvalRule: 'distinct-orgs' },
    attempt: (driver, ready) => {
      const id = overLimit(driver, ready);
      must(driver.run(cast.admin1, 'approve', { withdrawalId: id }));
      return { who: 'admin1b', action: 'approve', args: { withdrawalId: id } };
    },
  },
  {
    name: 'a whitelist change applied without quorum (no governance trigger)',
    code: 'CUSTODY_E_QUORUM_REQUIRED',
    attempt: (_driver, ready) => ({
      who: 'admin1',
      action: 'apply_policy',
      args: {
        walletId: ready.walletId,
        change: { kind: 'whitelist_add', address: cofferAddress('thief') },
      },
    }),
  },
  {
    name: 'a whitelist change with a made-up trigger',
    code: 'CUSTODY_E_QUORUM_REQUIRED',
    attempt: (_driver, ready) => ({
      who: 'admin1',
      action: 'apply_policy',
      args: {
        walletId: ready.walletId,
        change: { kind: 'whitelist_add', address: cofferAddress('thief') },
      },
      trigger: 'oracle-feed',
    }),
  },
  {
    name: 'a withdrawal to an address whose whitelisting has one approval of two',
    code: 'CUSTODY_E_NOT_WHITELISTED',
    attempt: (driver, ready) => {
      const address = cofferAddress('half-approved');
      const changeId = field(
        must(
          driver.run(cast.svc, 'propose_policy', {
            walletId: ready.walletId,
            change: { kind: 'whitelist_add', address },
          }),
        ),
        'change',
        'id',
      );
      must(driver.run(cast.admin1, 'approve_policy', { changeId }));
      return {
        who: 'svc',
        action: 'request',
        args: {
          walletId: ready.walletId,
          asset: 'COF',
          amount: '10',
          destination: address,
          idempotencyKey: 'x',
        },
      };
    },
  },
  {
    name: 'the proposer approving its own whitelist change',
    code: 'CUSTODY_E_SELF_APPROVAL',
    attempt: (driver, ready) => {
      const changeId = field(
        must(
          driver.run(cast.admin1, 'propose_policy', {
            walletId: ready.walletId,
            change: { kind: 'whitelist_add', address: cofferAddress('mine') },
          }),
        ),
        'change',
        'id',
      );
      return { who: 'admin1', action: 'approve_policy', args: { changeId } };
    },
  },
  {
    name: 'the same admin approving a whitelist change twice',
    code: 'CUSTODY_E_ALREADY_APPROVED',
    attempt: (driver, ready) => {
      const changeId = field(
        must(
          driver.run(cast.svc, 'propose_policy', {
            walletId: ready.walletId,
            change: { kind: 'whitelist_add', address: cofferAddress('twice') },
          }),
        ),
        'change',
        'id',
      );
      must(driver.run(cast.admin1, 'approve_policy', { changeId }));
      return { who: 'admin1', action: 'approve_policy', args: { changeId } };
    },
  },
  {
    name: 'a replayed idempotency key with other parameters',
    code: 'CUSTODY_E_IDEMPOTENCY_CONFLICT',
    attempt: (driver, ready) => {
      request(driver, ready, '10', 'once');
      return {
        who: 'svc',
        action: 'request',
        args: {
          walletId: ready.walletId,
          asset: 'COF',
          amount: '90',
          destination: ready.destination,
          idempotencyKey: 'once',
        },
      };
    },
  },
  ...(['build', 'service_sign', 'platform_sign', 'broadcast'] as const).map((action): Attempt => ({
    name: `${action} of a withdrawal over the limit without approvals`,
    code: 'CUSTODY_E_LIMIT_EXCEEDED',
    attempt: (driver, ready) => {
      const id = overLimit(driver, ready);
      must(driver.run(cast.admin1, 'approve', { withdrawalId: id }));
      const {
        unsignedTx,
        digests: [digest],
      } = cofferTx(id);
      const args: Record<string, Record<string, unknown>> = {
        build: { unsignedTx, digests: [digest] },
        service_sign: { signatures: [ready.keys.service.sign(digest)] },
        platform_sign: { signatures: [ready.keys.platform.sign(digest)] },
        broadcast: { chainTxId: 'tx-1' },
      };
      return {
        who: action === 'service_sign' ? 'svc' : 'worker',
        action,
        args: { withdrawalId: id, ...args[action] },
      };
    },
  })),
  {
    name: 'a withdrawal above the available balance',
    code: 'CUSTODY_E_INSUFFICIENT_FUNDS',
    attempt: (_driver, ready) => ({
      who: 'svc',
      action: 'request',
      args: {
        walletId: ready.walletId,
        asset: 'COF',
        amount: '1001',
        destination: ready.destination,
        idempotencyKey: 'too-much',
      },
    }),
  },
  {
    name: "another service requesting from the wallet (same organisation's other client)",
    code: 'CUSTODY_E_FORBIDDEN',
    attempt: (_driver, ready) => ({
      who: 'user',
      action: 'request',
      args: {
        walletId: ready.walletId,
        asset: 'COF',
        amount: '10',
        destination: ready.destination,
        idempotencyKey: 'k',
      },
    }),
  },
  {
    name: 'a non-worker building a withdrawal',
    code: 'CUSTODY_E_NOT_WORKER',
    attempt: (driver, ready) => {
      const id = request(driver, ready, '10', 'k');
      return { who: 'svc', action: 'build', args: { withdrawalId: id, ...cofferTx(id) } };
    },
  },
  {
    name: 'a build whose digest is not the hash of the transaction',
    code: 'CUSTODY_E_DIGEST_MISMATCH',
    attempt: (driver, ready) => {
      const id = request(driver, ready, '10', 'k');
      return {
        who: 'worker',
        action: 'build',
        args: { withdrawalId: id, unsignedTx: cofferTx(id).unsignedTx, digests: ['ab'.repeat(32)] },
      };
    },
  },
  {
    name: "a service signature made with the platform's key",
    code: 'CUSTODY_E_SIGNATURE_INVALID',
    attempt: (driver, ready) => {
      const id = request(driver, ready, '10', 'k');
      const tx = cofferTx(id);
      must(driver.run(cast.worker, 'build', { withdrawalId: id, ...tx }));
      return {
        who: 'svc',
        action: 'service_sign',
        args: { withdrawalId: id, signatures: [ready.keys.platform.sign(tx.digests[0])] },
      };
    },
  },
  {
    name: 'a platform signature over another digest',
    code: 'CUSTODY_E_SIGNATURE_INVALID',
    attempt: (driver, ready) => {
      const id = request(driver, ready, '10', 'k');
      const tx = cofferTx(id);
      must(driver.run(cast.worker, 'build', { withdrawalId: id, ...tx }));
      must(
        driver.run(cast.svc, 'service_sign', {
          withdrawalId: id,
          signatures: [ready.keys.service.sign(tx.digests[0])],
        }),
      );
      return {
        who: 'worker',
        action: 'platform_sign',
        args: {
          withdrawalId: id,
          signatures: [ready.keys.platform.sign(cofferTx('other').digests[0])],
        },
      };
    },
  },
  {
    name: 'a platform signature before the service signed (skipping a step)',
    code: 'CUSTODY_E_BAD_STATE',
    attempt: (driver, ready) => {
      const id = request(driver, ready, '10', 'k');
      const tx = cofferTx(id);
      must(driver.run(cast.worker, 'build', { withdrawalId: id, ...tx }));
      return {
        who: 'worker',
        action: 'platform_sign',
        args: { withdrawalId: id, signatures: [ready.keys.platform.sign(tx.digests[0])] },
      };
    },
  },
  {
    name: 'approving a withdrawal that needs no approval',
    code: 'CUSTODY_E_BAD_STATE',
    attempt: (driver, ready) => ({
      who: 'admin1',
      action: 'approve',
      args: { withdrawalId: request(driver, ready, '10', 'k') },
    }),
  },
  {
    name: 'expiring a withdrawal before its time',
    code: 'CUSTODY_E_NOT_EXPIRED',
    attempt: (driver, ready) => ({
      who: 'peer',
      action: 'expire',
      args: { withdrawalId: request(driver, ready, '10', 'k') },
    }),
  },
];

describe('custody bypass attempts are refused and move nothing', () => {
  for (const item of attempts) {
    it(`${item.name}: ${item.code}`, () => {
      const driver = createDriver({ params: baseParams(item.params) });
      const ready = readyWallet(driver, { approvals: 2 });
      const call = item.attempt(driver, ready);
      const before = driver.snapshot();
      const funds = balance(driver, ready.walletId);
      const outcome = driver.run(cast[call.who], call.action, call.args, {
        ...(call.trigger === undefined ? {} : { trigger: call.trigger }),
      });
      expect(outcome.ok ? 'committed' : outcome.code).toBe(item.code);
      expect(driver.snapshot()).toBe(before);
      expect(balance(driver, ready.walletId)).toEqual(funds);
    });
  }

  it('the same whitelist change through governance applies at once', () => {
    const driver = createDriver({ params: baseParams() });
    const ready = readyWallet(driver);
    const address = cofferAddress('by-governance');
    const applied = driver.run(
      cast.admin1,
      'apply_policy',
      { walletId: ready.walletId, change: { kind: 'whitelist_add', address } },
      { trigger: governanceTrigger },
    );
    expect(applied.ok && field(applied.result, 'change', 'state')).toBe('applied');
    const history = must(
      driver.query(cast.svc, 'history', {
        kind: 'policy',
        id: applied.ok ? field(applied.result, 'change', 'id') : '',
      }),
    );
    expect(field<Record<string, unknown>[]>(history, 'entries')[0]).toMatchObject({
      action: 'apply_policy',
      state: 'applied',
      by: 'governance',
    });
    const withdrawal = driver.run(cast.svc, 'request', {
      walletId: ready.walletId,
      asset: 'COF',
      amount: '10',
      destination: address,
      idempotencyKey: 'gov',
    });
    expect(withdrawal.ok && field(withdrawal.result, 'withdrawal', 'state')).toBe('approved');
  });
});
