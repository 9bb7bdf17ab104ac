// Constitutions: the majority and policy kinds checked against a naive count, and a JavaScript
// constitution run in the contracts sandbox.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  checkConstitutionSpec,
  checkGenesis,
  constitutionOf,
  type GovConfig,
  type Proposal,
} from '../../src/governance/index.js';
import { caller, codeB, material, type Material, ledgerAt } from './support.js';

let m: Material;
let base: GovConfig;
beforeAll(async () => {
  m = await material();
  const msps: Record<string, unknown> = {};
  for (const id of ids) msps[id] = m.json(id);
  base = checkGenesis({ msps, members: [...ids] });
});

const ids = ['Org1MSP', 'Org2MSP', 'Org3MSP', 'Org4MSP'] as const;

/** Checked as genesis would (MSP setup included): for the few JavaScript cases. */
function configWith(members: readonly string[], constitution: unknown): GovConfig {
  return checkGenesis({ msps: base.msps, members, constitution });
}

/** The same without setting up every MSP again: for the property runs. */
function quickConfig(members: readonly string[], constitution: unknown): GovConfig {
  const spec = checkConstitutionSpec(constitution, 'constitution', (field, what) => {
    throw new Error(`${field} ${what}`);
  });
  return { ...base, members: [...members].sort(), constitution: spec };
}

function proposalWith(ballots: Record<string, 'yes' | 'no'>): Proposal {
  const records: Proposal['ballots'] = Object.fromEntries(
    Object.entries(ballots).map(([mspId, ballot]) => [
      mspId,
      { ballot, identityId: '0'.repeat(64), time: 0, txId: '1'.repeat(64) },
    ]),
  );
  return {
    id: 'ab'.repeat(32),
    proposer: { mspId: 'Org1MSP', identityId: '0'.repeat(64) },
    actions: [{ name: 'allow_code', args: { codeId: codeB } }],
    createdAt: 0,
    expiresAt: 1,
    state: 'Open',
    ballots: records,
  };
}

/** The obviously-right rule: accepted at `needed` yes among members; rejected when out of reach. */
function naive(
  members: readonly string[],
  ballots: Record<string, string>,
  needed: number,
): string {
  const yes = members.filter((id) => ballots[id] === 'yes').length;
  const pending = members.filter((id) => ballots[id] === undefined).length;
  if (yes >= needed) return 'Accepted';
  return yes + pending < needed ? 'Rejected' : 'Open';
}

const scenario = fc
  .tuple(
    fc.subarray([...ids], { minLength: 1 }),
    fc.dictionary(fc.constantFrom(...ids), fc.constantFrom('yes' as const, 'no' as const)),
  )
  .map(([members, ballots]) => ({ members, ballots }));

describe('resolve against a naive count (property)', () => {
  it('majority: a strict majority of member organisations; non-members do not count', () => {
    fc.assert(
      fc.property(scenario, ({ members, ballots }) => {
        const config = quickConfig(members, { kind: 'majority' });
        const got = constitutionOf(config).resolve(proposalWith(ballots), config);
        expect(got).toBe(naive(members, ballots, Math.floor(members.length / 2) + 1));
      }),
      { numRuns: 150 },
    );
  });

  it('OutOf(k, every member admin) is k yes; MAJORITY/ANY/ALL Admins are the implicit rules', () => {
    fc.assert(
      fc.property(scenario, fc.integer({ min: 1, max: 4 }), ({ members, ballots }, k) => {
        const needed = Math.min(k, members.length);
        const principals = members.map((id) => `'${id}.admin'`).join(', ');
        const policy = constitutionOf(
          quickConfig(members, { kind: 'policy', policy: `OutOf(${needed}, ${principals})` }),
        );
        const config = quickConfig(members, { kind: 'majority' });
        const proposal = proposalWith(ballots);
        expect(policy.resolve(proposal, config)).toBe(naive(members, ballots, needed));
        for (const [rule, n] of [
          ['MAJORITY', Math.floor(members.length / 2) + 1],
          ['ANY', 1],
          ['ALL', members.length],
        ] as const) {
          const meta = quickConfig(members, { kind: 'policy', policy: `${rule} Admins` });
          expect(constitutionOf(meta).resolve(proposal, meta), rule).toBe(
            naive(members, ballots, n),
          );
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe('JavaScript constitution (contracts sandbox)', () => {
  const source = `
    const app = require('@coffer/app');
    exports.validate = function (input) {
      if (input.proposal.actions.some((a) => a.name === 'remove_member'))
        app.fail('NO_REMOVALS', 'members are forever here');
    };
    // Org2 holds a veto and must say yes; one other yes is enough.
    exports.resolve = function (input) {
      const b = input.proposal.ballots;
      if (b.Org2MSP && b.Org2MSP.ballot === 'no') return 'Rejected';
      const yes = input.members.filter((id) => b[id] && b[id].ballot === 'yes');
      return yes.includes('Org2MSP') && yes.length >= 2 ? 'Accepted' : 'Open';
    };`;
  const members = ['Org1MSP', 'Org2MSP', 'Org3MSP'];

  it('resolves and validates proposals in the sandbox', () => {
    const ledger = ledgerAt(configWith(members, { kind: 'js', source }));
    const allow = { actions: [{ name: 'allow_code', args: { codeId: codeB } }] };
    const id = ledger.ok(caller('Org1MSP'), 'propose', allow)['proposalId'];
    expect(ledger.ok(caller('Org3MSP'), 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe(
      'Open',
    );
    expect(ledger.ok(caller('Org2MSP'), 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe(
      'Accepted',
    );
    expect(ledger.config().codes).toContain(codeB);
    const vetoed = ledger.ok(caller('Org1MSP'), 'propose', allow)['proposalId'];
    expect(
      ledger.ok(caller('Org2MSP'), 'vote', { proposalId: vetoed, ballot: 'no' })['state'],
    ).toBe('Rejected');
    expect(
      ledger.fails(caller('Org1MSP'), 'propose', {
        actions: [{ name: 'remove_member', args: { mspId: 'Org3MSP' } }],
      }),
    ).toBe('GOV_E_CONSTITUTION_REFUSED');
  });

  it('refuses at set time a module that does not compile or exports no resolve', () => {
    for (const bad of ['exports.resolve = function (', 'exports.validate = function () {};']) {
      try {
        configWith(members, { kind: 'js', source: bad });
        expect.unreachable();
      } catch (error) {
        expect(isCofferError(error, 'GOV_E_CONFIG_INVALID')).toBe(true);
        expect((error as Error).message).toContain('config.constitution.source');
      }
    }
  });

  it('a resolve that loops or answers nonsense makes the transaction invalid (GOV_E_CONSTITUTION_FAILED)', () => {
    for (const body of ['for (;;) {}', "return 'Maybe';", 'return input.no.such;']) {
      const ledger = ledgerAt(
        configWith(members, {
          kind: 'js',
          source: `exports.resolve = function (input) { ${body} };`,
        }),
      );
      expect(
        ledger.fails(caller('Org1MSP'), 'propose', {
          actions: [{ name: 'allow_code', args: { codeId: codeB } }],
        }),
      ).toBe('GOV_E_CONSTITUTION_FAILED');
    }
  });
});

describe('recovery from a broken JavaScript constitution', () => {
  const members = ['Org1MSP', 'Org2MSP', 'Org3MSP'];
  const setMajority = {
    actions: [{ name: 'set_constitution', args: { constitution: { kind: 'majority' } } }],
  };

  it('a proposal that only sets a new constitution is judged by the default majority when the constitution fails; anything else still fails', () => {
    const ledger = ledgerAt(
      configWith(members, {
        kind: 'js',
        source:
          'exports.validate = function () { throw new Error("bug"); };\nexports.resolve = function () { for (;;) {} };',
      }),
    );
    expect(
      ledger.fails(caller('Org1MSP'), 'propose', {
        actions: [{ name: 'allow_code', args: { codeId: codeB } }],
      }),
    ).toBe('GOV_E_CONSTITUTION_FAILED');
    const proposed = ledger.ok(caller('Org1MSP'), 'propose', setMajority);
    expect(proposed).toMatchObject({ state: 'Open' });
    const voted = ledger.ok(caller('Org2MSP'), 'vote', {
      proposalId: (proposed as { proposalId: string }).proposalId,
      ballot: 'yes',
    });
    expect(voted).toMatchObject({ state: 'Accepted' });
    // The majority rule is in force again: an ordinary proposal works.
    expect(
      ledger.ok(caller('Org1MSP'), 'propose', {
        actions: [{ name: 'allow_code', args: { codeId: codeB } }],
      }),
    ).toMatchObject({ state: 'Open' });
  });

  it('a constitution that rejects a new constitution on purpose is obeyed', () => {
    const ledger = ledgerAt(
      configWith(members, {
        kind: 'js',
        source: "exports.resolve = function () { return 'Rejected'; };",
      }),
    );
    expect(ledger.ok(caller('Org1MSP'), 'propose', setMajority)).toMatchObject({
      state: 'Rejected',
    });
  });
});
