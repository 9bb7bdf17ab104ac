// Properties (STYLE.md 11): the app's rolling 24 h limit and approval quorum against naive,
// obviously-right references, over random sequences of requests, releases and approval
// attempts, run through the app itself (not only its pure helpers).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Caller } from '../../src/contracts/index.js';
import {
  custodyLimits,
  overLimits,
  pruneWindow,
  windowSum,
  type ApprovalRule,
  type WindowEntry,
  type WithdrawalRecord,
} from '../../src/custody/index.js';
import { baseParams, cast, createDriver, identity } from './driver.js';
import { field, must, readyWallet } from './setup.js';

const day = custodyLimits.rollingWindowMs;

describe('rolling 24 h limit against a naive sum', () => {
  it('pure: pruneWindow and windowSum count exactly the entries younger than 24 h', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            age: fc.integer({ min: 0, max: 2 * day }),
            amount: fc.bigInt({ min: 1n, max: 10n ** 30n }),
            asset: fc.constantFrom('COF', 'ETH'),
          }),
          { maxLength: 40 },
        ),
        (items) => {
          const now = 10 * day;
          const entries: WindowEntry[] = items.map((item, index) => ({
            withdrawalId: String(index),
            asset: item.asset,
            amount: item.amount.toString(),
            time: now - item.age,
          }));
          let naive = 0n;
          for (const item of items)
            if (item.asset === 'COF' && item.age < day) naive += item.amount;
          expect(windowSum(entries, 'COF', now)).toBe(naive);
          expect(windowSum(pruneWindow(entries, now), 'COF', now)).toBe(naive);
          expect(pruneWindow(entries, now).every((entry) => now - entry.time < day)).toBe(true);
        },
      ),
    );
  });

  it('through the app: each request is over exactly the limits the naive reference says', () => {
    const step = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.record({
          kind: fc.constant('request' as const),
          amount: fc.integer({ min: 1, max: 120 }),
          after: fc.integer({ min: 0, max: 10 * 3600_000 }),
        }),
      },
      {
        weight: 1,
        arbitrary: fc.record({
          kind: fc.constant('release' as const),
          pick: fc.nat(),
          after: fc.integer({ min: 0, max: 3600_000 }),
        }),
      },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 150 }),
        fc.integer({ min: 50, max: 400 }),
        fc.array(step, { minLength: 1, maxLength: 25 }),
        (perTransaction, rolling, steps) => {
          const driver = createDriver({
            params: baseParams({ withdrawalExpiryMs: custodyLimits.withdrawalExpiryMsMax }),
          });
          const ready = readyWallet(driver, {
            balance: '1000000',
            perTransaction: String(perTransaction),
            rolling24h: String(rolling),
          });
          // The reference: every request with its time, and whether it was released.
          const made: { id: string; time: number; amount: number; released: boolean }[] = [];
          let time = driver.now();
          steps.forEach((item, index) => {
            // Ledger time never goes back: at least the driver's next time.
            time = Math.max(time + item.after, driver.now());
            if (item.kind === 'release') {
              const open = made.filter((entry) => !entry.released);
              const target = open[item.pick % Math.max(open.length, 1)];
              if (target === undefined) return;
              must(driver.run(cast.svc, 'reject', { withdrawalId: target.id }, { time }));
              target.released = true;
              return;
            }
            const inWindow = made
              .filter((entry) => !entry.released && time - entry.time < day)
              .reduce((sum, entry) => sum + entry.amount, 0);
            const expected: string[] = [];
            if (item.amount > perTransaction) expected.push('per_transaction');
            if (inWindow + item.amount > rolling) expected.push('rolling_24h');
            const record = field<WithdrawalRecord>(
              must(
                driver.run(
                  cast.svc,
                  'request',
                  {
                    walletId: ready.walletId,
                    asset: 'COF',
                    amount: String(item.amount),
                    destination: ready.destination,
                    idempotencyKey: `p-${index}`,
                  },
                  { time },
                ),
              ),
              'withdrawal',
            );
            expect(record.overLimit).toEqual(expected);
            expect(record.state).toBe(expected.length > 0 ? 'pending_approval' : 'approved');
            made.push({ id: record.id, time, amount: item.amount, released: false });
          });
        },
      ),
      { numRuns: 60 },
    );
  });

  it('pure: overLimits treats an asset without limits as limits of zero', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: 10n ** 20n }),
        fc.bigInt({ min: 0n, max: 10n ** 20n }),
        (amount, already) => {
          expect(overLimits(undefined, amount, already)).toEqual([
            'per_transaction',
            'rolling_24h',
          ]);
        },
      ),
    );
  });
});

describe('approval quorum against a naive reference', () => {
  const orgs = ['Org1MSP', 'Org2MSP', 'Org3MSP'];
  const pool: Caller[] = [
    cast.svc,
    cast.user,
    cast.worker,
    ...orgs.flatMap((mspId) => [1, 2].map((n) => identity(mspId, `approver${n}`, 'admin'))),
  ];

  /** Obviously right: who has approved, and the outcome of each attempt. */
  function reference(
    k: number,
    rule: ApprovalRule,
    attempts: readonly Caller[],
  ): { outcomes: string[]; approvers: Caller[] } {
    const approvers: Caller[] = [];
    const outcomes = attempts.map((who) => {
      if (who.mspId === cast.svc.mspId && who.identityId === cast.svc.identityId)
        return 'CUSTODY_E_SELF_APPROVAL';
      if (!who.isAdmin) return 'CUSTODY_E_NOT_ADMIN';
      if (approvers.length >= k) return 'CUSTODY_E_BAD_STATE';
      if (approvers.some((a) => a.identityId === who.identityId && a.mspId === who.mspId))
        return 'CUSTODY_E_ALREADY_APPROVED';
      if (rule === 'distinct-orgs' && approvers.some((a) => a.mspId === who.mspId))
        return 'CUSTODY_E_SAME_ORG';
      approvers.push(who);
      return 'ok';
    });
    return { outcomes, approvers };
  }

  it('through the app: same outcomes, and an approved withdrawal always has k valid approvers', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom<ApprovalRule>('distinct-admins', 'distinct-orgs'),
        fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 14 }),
        (k, rule, picks) => {
          const driver = createDriver({ params: baseParams({ approvalRule: rule }) });
          const ready = readyWallet(driver, { approvals: k });
          const id = field(
            must(
              driver.run(cast.svc, 'request', {
                walletId: ready.walletId,
                asset: 'COF',
                amount: '150',
                destination: ready.destination,
                idempotencyKey: 'q',
              }),
            ),
            'withdrawal',
            'id',
          );
          const attempts = picks.map((pick) => pool[pick] as Caller);
          const expected = reference(k, rule, attempts);
          const outcomes = attempts.map((who) => {
            const outcome = driver.run(who, 'approve', { withdrawalId: id });
            return outcome.ok ? 'ok' : outcome.code;
          });
          expect(outcomes).toEqual(expected.outcomes);
          const record = field<WithdrawalRecord>(
            must(driver.query(undefined, 'withdrawal', { withdrawalId: id })),
            'withdrawal',
          );
          expect(record.approvals.map((a) => a.identityId)).toEqual(
            expected.approvers.map((a) => a.identityId),
          );
          expect(record.state).toBe(
            expected.approvers.length >= k ? 'approved' : 'pending_approval',
          );
          // The invariant, whatever the reference says: approved means k admins, none the
          // requester, all distinct (and of distinct organisations under distinct-orgs).
          if (record.state === 'approved') {
            const ids = new Set(record.approvals.map((a) => `${a.mspId}:${a.identityId}`));
            expect(ids.size).toBe(record.approvals.length);
            expect(ids.size).toBeGreaterThanOrEqual(k);
            expect(ids.has(`${cast.svc.mspId}:${cast.svc.identityId}`)).toBe(false);
            if (rule === 'distinct-orgs')
              expect(new Set(record.approvals.map((a) => a.mspId)).size).toBe(ids.size);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
