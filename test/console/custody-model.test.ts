// The custody pages' pure helpers (console/src/pages/custody/model.ts): routes, amounts, the
// withdrawal timeline drawn from an audit history, and the approve/reject rules checked against
// the custody app's own decision (approvalRefusal in src/custody/policy.ts) for every case.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describePolicyChange,
  formatAmount,
  parseCustodyRoute,
  policyApproveBlocker,
  policyRejectBlocker,
  whoText,
  withdrawalApproveBlocker,
  withdrawalRejectBlocker,
  withdrawalTimeline,
  type ApprovalParams,
  type HistoryEntry,
  type PolicyChangeRecord,
  type Viewer,
  type WithdrawalRecord,
} from '../../console/src/pages/custody/model.js';
import { approvalRefusal } from '../../src/custody/policy.js';

const service = { mspId: 'Org1MSP', identityId: 'a'.repeat(64) };
const admin1: Viewer = {
  mspId: 'Org1MSP',
  identityId: 'b'.repeat(64),
  role: 'admin',
  isAdmin: true,
};
const admin2: Viewer = {
  mspId: 'Org2MSP',
  identityId: 'c'.repeat(64),
  role: 'admin',
  isAdmin: true,
};
const user1: Viewer = { ...service, role: 'client', isAdmin: false };
const params: ApprovalParams = {
  approverMsps: [],
  approvalRule: 'distinct-admins',
  policyQuorum: 2,
};
const t0 = 1_700_000_000_000;

function withdrawal(changes: Partial<WithdrawalRecord> = {}): WithdrawalRecord {
  return {
    id: 'f'.repeat(64),
    walletId: 'e'.repeat(64),
    chain: 'coffer',
    asset: 'CFR',
    amount: '600',
    destination: `Org3MSP:${'cd'.repeat(32)}`,
    memo: null,
    idempotencyKey: 'k1',
    requestedBy: service,
    requestedAt: t0,
    expiresAt: t0 + 86_400_000,
    state: 'pending_approval',
    overLimit: ['per_transaction'],
    approvalsRequired: 2,
    approvalRule: 'distinct-admins',
    approvals: [],
    unsignedTx: null,
    digests: null,
    fee: null,
    serviceSignatures: null,
    platformSignatures: null,
    platformKey: { keyId: 'platform', publicKey: '04', curve: 'P-256' },
    chainTxId: null,
    replaced: [],
    block: null,
    ended: null,
    updatedAt: t0,
    ...changes,
  };
}

const by = (who: { mspId: string; identityId: string }): string => `${who.mspId}:${who.identityId}`;

function entry(action: string, state: string, n: number, who = by(service)): HistoryEntry {
  return { txId: `${n}`.padStart(64, '0'), action, state, time: t0 + n, by: who };
}

describe('custody routes', () => {
  it('parses every page and refuses what is not one', () => {
    expect(parseCustodyRoute([])).toEqual({ page: 'wallets' });
    expect(parseCustodyRoute(['wallets'])).toEqual({ page: 'wallets' });
    expect(parseCustodyRoute(['wallets', 'w1'])).toEqual({ page: 'wallet', id: 'w1' });
    expect(parseCustodyRoute(['withdrawals'])).toEqual({
      page: 'withdrawals',
      wallet: 'all',
      state: 'any',
    });
    expect(parseCustodyRoute(['withdrawals', 'w1', 'pending_approval'])).toEqual({
      page: 'withdrawals',
      wallet: 'w1',
      state: 'pending_approval',
    });
    expect(parseCustodyRoute(['withdrawals', 'w1', 'sleeping']).page).toBe('unknown');
    expect(parseCustodyRoute(['withdrawal', 'x'])).toEqual({ page: 'withdrawal', id: 'x' });
    expect(parseCustodyRoute(['approvals'])).toEqual({ page: 'approvals' });
    expect(parseCustodyRoute(['policy'])).toEqual({ page: 'policy' });
    // A deposit id is one (decoded) route part with its slashes.
    expect(parseCustodyRoute(['history', 'deposit', 'coffer/abc/0'])).toEqual({
      page: 'history',
      kind: 'deposit',
      id: 'coffer/abc/0',
    });
    expect(parseCustodyRoute(['history', 'nothing', 'x']).page).toBe('unknown');
    expect(parseCustodyRoute(['history', 'wallet']).page).toBe('unknown');
    expect(parseCustodyRoute(['elsewhere'])).toEqual({ page: 'unknown', path: 'elsewhere' });
  });
});

describe('custody words', () => {
  it('groups the digits of an amount by thousands without losing any', () => {
    expect(formatAmount('0')).toBe('0');
    expect(formatAmount('600')).toBe('600');
    expect(formatAmount('1000')).toBe('1,000');
    expect(formatAmount('-1234567')).toBe('-1,234,567');
    expect(formatAmount('340282366920938463463374607431768211455')).toBe(
      '340,282,366,920,938,463,463,374,607,431,768,211,455',
    );
    expect(formatAmount('1.5')).toBe('1.5');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 128n }), (value) => {
        const text = formatAmount(value.toString());
        expect(text.replace(/,/g, '')).toBe(value.toString());
        expect(text).toMatch(/^\d{1,3}(,\d{3})*$/);
      }),
    );
  });

  it('names who did a step, and says when it was the viewer', () => {
    expect(whoText(by(admin1), admin1)).toBe('Org1MSP · bbbbbbbb (you)');
    expect(whoText(by(admin1), admin2)).toBe('Org1MSP · bbbbbbbb');
    expect(whoText('governance')).toBe('governance (accepted proposal)');
  });

  it('describes each kind of policy change', () => {
    expect(
      describePolicyChange({
        kind: 'whitelist_add',
        address: 'A',
        label: 'ops',
        delayMs: 3_600_000,
      }),
    ).toBe('Whitelist A (ops), in force 1 h after it applies');
    expect(describePolicyChange({ kind: 'whitelist_remove', address: 'A' })).toBe(
      'Remove A from the whitelist',
    );
    expect(
      describePolicyChange({
        kind: 'set_limits',
        asset: 'CFR',
        perTransaction: '500',
        rolling24h: '100000',
      }),
    ).toBe('Limits for CFR: 500 per withdrawal, 100,000 per 24 h');
    expect(describePolicyChange({ kind: 'set_approvals', approvalsRequired: 1 })).toBe(
      'Withdrawals over a limit need 1 admin approval',
    );
    expect(describePolicyChange({ kind: 'set_whitelist_enabled', enabled: false })).toBe(
      'Turn the whitelist off',
    );
    expect(describePolicyChange({ kind: 'set_frozen', frozen: true })).toBe('Freeze the wallet');
  });
});

describe('the withdrawal timeline', () => {
  it('shows a withdrawal waiting for its second approval, with the states ahead greyed', () => {
    const record = withdrawal({
      approvals: [{ ...admin1, time: t0 + 3, txId: '3'.padStart(64, '0') }],
    });
    const steps = withdrawalTimeline(record, [
      entry('request', 'requested', 1),
      entry('policy', 'pending_approval', 1),
      entry('approve', 'pending_approval', 3, by(admin1)),
    ]);
    expect(steps.map((step) => [step.state, step.status])).toEqual([
      ['requested', 'done'],
      ['pending_approval', 'done'],
      ['pending_approval', 'current'],
      ['approved', 'future'],
      ['built', 'future'],
      ['service_signed', 'future'],
      ['platform_signed', 'future'],
      ['broadcast', 'future'],
      ['confirmed', 'future'],
    ]);
    expect(steps[1]?.title).toBe('Over the per transaction limit: waits for 2 admin approvals');
    expect(steps[2]).toMatchObject({
      title: 'Approved by an admin (1 of 2)',
      by: by(admin1),
      txId: '3'.padStart(64, '0'),
      time: t0 + 3,
    });
    expect(
      steps.filter((step) => step.status === 'future').every((s) => s.txId === undefined),
    ).toBe(true);
  });

  it('shows every step of a confirmed withdrawal done, nothing ahead', () => {
    const states = [
      ['request', 'requested'],
      ['policy', 'approved'],
      ['build', 'built'],
      ['service_sign', 'service_signed'],
      ['platform_sign', 'platform_signed'],
      ['broadcast', 'broadcast'],
      ['confirm', 'confirmed'],
    ] as const;
    const steps = withdrawalTimeline(
      withdrawal({ state: 'confirmed', approvalsRequired: 0, overLimit: [] }),
      states.map(([action, state], index) => entry(action, state, index)),
    );
    expect(steps.map((step) => step.state)).toEqual(states.map(([, state]) => state));
    expect(steps.every((step) => step.status === 'done')).toBe(true);
    expect(steps[1]?.title).toBe('Within the limits: approved without admins');
  });

  it('skips the approval step ahead of a withdrawal that needs none', () => {
    const steps = withdrawalTimeline(
      withdrawal({ state: 'approved', approvalsRequired: 0, overLimit: [] }),
      [entry('request', 'requested', 1), entry('policy', 'approved', 1)],
    );
    expect(steps.filter((step) => step.status === 'future').map((step) => step.state)).toEqual([
      'built',
      'service_signed',
      'platform_signed',
      'broadcast',
      'confirmed',
    ]);
  });

  it('ends a rejected withdrawal at its rejection, with nothing ahead', () => {
    const steps = withdrawalTimeline(withdrawal({ state: 'rejected' }), [
      entry('request', 'requested', 1),
      entry('policy', 'pending_approval', 1),
      entry('reject', 'rejected', 2, by(admin2)),
    ]);
    expect(steps.at(-1)).toMatchObject({ state: 'rejected', status: 'ended', title: 'Rejected' });
    expect(steps.some((step) => step.status === 'future')).toBe(false);
  });

  it('draws what the record says when the history may not be read', () => {
    const steps = withdrawalTimeline(
      withdrawal({
        state: 'built',
        approvals: [
          { ...admin1, time: t0 + 3, txId: '3'.padStart(64, '0') },
          { ...admin2, time: t0 + 4, txId: '4'.padStart(64, '0') },
        ],
      }),
      undefined,
    );
    expect(steps.map((step) => [step.state, step.status])).toEqual([
      ['requested', 'done'],
      ['pending_approval', 'done'],
      ['pending_approval', 'done'],
      ['built', 'current'],
      ['service_signed', 'future'],
      ['platform_signed', 'future'],
      ['broadcast', 'future'],
      ['confirmed', 'future'],
    ]);
    expect(steps[2]?.title).toBe('Approved by an admin (2 of 2)');
  });
});

describe('who may approve or reject', () => {
  const now = t0 + 10;

  it('keeps the approve button off for a service, saying it is for admins', () => {
    expect(withdrawalApproveBlocker(withdrawal(), user1, params, now)).toBe(
      'Only MSP admins approve a withdrawal; you are signed in as a client identity of Org1MSP.',
    );
    expect(withdrawalApproveBlocker(withdrawal(), admin1, params, now)).toBeUndefined();
  });

  it('says why an admin cannot approve: already approved, not pending, expired, not an approver MSP', () => {
    const once = withdrawal({ approvals: [{ ...admin1, time: t0, txId: '1'.padStart(64, '0') }] });
    expect(withdrawalApproveBlocker(once, admin1, params, now)).toBe(
      'You approved it already; each admin counts once.',
    );
    expect(withdrawalApproveBlocker(once, admin2, params, now)).toBeUndefined();
    expect(withdrawalApproveBlocker(withdrawal({ state: 'approved' }), admin2, params, now)).toBe(
      'It is approved; only a withdrawal pending approval takes approvals.',
    );
    expect(withdrawalApproveBlocker(withdrawal({ expiresAt: now }), admin2, params, now)).toBe(
      'It has expired; it can only be expired now.',
    );
    expect(
      withdrawalApproveBlocker(withdrawal(), admin2, { ...params, approverMsps: ['Org1MSP'] }, now),
    ).toBe('The custody parameters let admins of Org1MSP approve, not Org2MSP.');
  });

  it('agrees with the custody app on whose approval counts, for every mix of approvers', () => {
    const people = [admin1, admin2, { ...admin2, identityId: 'd'.repeat(64) }];
    fc.assert(
      fc.property(
        fc.subarray(people),
        fc.constantFrom(...people),
        fc.constantFrom('distinct-admins' as const, 'distinct-orgs' as const),
        (approved, approver, rule) => {
          const approvals = approved.map((who, n) => ({
            mspId: who.mspId,
            identityId: who.identityId,
            time: t0,
            txId: `${n}`.padStart(64, '0'),
          }));
          const record = withdrawal({ approvals, approvalRule: rule });
          const app = approvalRefusal(approvals, approver, service, rule);
          const page = withdrawalApproveBlocker(record, approver, params, now);
          expect(page === undefined).toBe(app === undefined);
        },
      ),
    );
  });

  it('lets admins reject and the requester cancel before the platform signs, nobody after', () => {
    expect(withdrawalRejectBlocker(withdrawal(), admin1, params)).toBeUndefined();
    expect(withdrawalRejectBlocker(withdrawal({ state: 'built' }), user1, params)).toBeUndefined();
    expect(
      withdrawalRejectBlocker(withdrawal(), { ...user1, identityId: '9'.repeat(64) }, params),
    ).toMatch(/^Only MSP admins \(or the requesting service, to cancel\) reject/);
    expect(withdrawalRejectBlocker(withdrawal({ state: 'platform_signed' }), admin1, params)).toBe(
      'It is platform signed; a withdrawal can be rejected only before the platform signs it.',
    );
    expect(
      withdrawalRejectBlocker(
        withdrawal({ state: 'built', replaced: [{ chainTxId: 'x', fee: '1' }] }),
        admin1,
        params,
      ),
    ).toMatch(/being rebuilt/);
  });

  it('keeps the proposer of a policy change from approving it, and lets it withdraw it', () => {
    const change: PolicyChangeRecord = {
      id: '7'.repeat(64),
      walletId: 'e'.repeat(64),
      change: { kind: 'set_approvals', approvalsRequired: 3 },
      state: 'pending',
      proposedBy: { mspId: admin1.mspId, identityId: admin1.identityId },
      proposedAt: t0,
      expiresAt: t0 + 1000,
      quorum: 2,
      approvalRule: 'distinct-admins',
      approvals: [],
      ended: null,
      updatedAt: t0,
    };
    expect(policyApproveBlocker(change, admin1, params, now)).toBe(
      'You proposed it; another admin must approve it.',
    );
    expect(policyApproveBlocker(change, admin2, params, now)).toBeUndefined();
    expect(policyApproveBlocker(change, user1, params, now)).toMatch(/^Only MSP admins/);
    expect(policyApproveBlocker({ ...change, state: 'applied' }, admin2, params, now)).toBe(
      'It is applied; only a pending change takes approvals.',
    );
    expect(policyRejectBlocker(change, admin1, params)).toBeUndefined();
    expect(policyRejectBlocker(change, user1, params)).toMatch(
      /^Only MSP admins \(or its proposer\)/,
    );
  });
});
