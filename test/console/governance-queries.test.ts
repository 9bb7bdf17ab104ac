// The `gov` queries the console's governance pages read: `verdicts` (the constitution's verdict
// now, each member's ballot, how many yes ballots a proposal still needs, found by asking the
// constitution's own resolve) and `check` (a dry run of propose that keeps nothing). The counts
// are checked against a naive count for the counting rules (property), and by hand for a
// signature policy naming organisations and for a JavaScript constitution.
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { KvView } from '../../src/contracts/index.js';
import { isCofferError } from '../../src/errors/index.js';
import {
  configWrites,
  governanceApp,
  govProposalIndexMap,
  govProposalsMap,
  type GovConfig,
  type Proposal,
} from '../../src/governance/index.js';
import type { Verdict } from '../../src/governance/app.js';
import { canonicalString } from '../../src/ledger/canonical.js';
import {
  caller,
  codeB,
  genesis,
  ledgerAt,
  material,
  type Ledger,
  type Material,
} from '../governance/support.js';

let m: Material;
let config: GovConfig;
beforeAll(async () => {
  m = await material();
  config = genesis(m);
});

const org1 = caller('Org1MSP');
const org2 = caller('Org2MSP');
const org3 = caller('Org3MSP');
const allowB = { actions: [{ name: 'allow_code', args: { codeId: codeB } }] };

type Verdicts = {
  constitution: Record<string, unknown>;
  members: string[];
  verdicts: Verdict[];
};

function verdicts(ledger: Ledger, args: Record<string, unknown> = {}): Verdicts {
  return ledger.query('verdicts', args) as Verdicts;
}

function only(ledger: Ledger): Verdict {
  const [verdict, ...rest] = verdicts(ledger).verdicts;
  expect(rest).toEqual([]);
  if (verdict === undefined) throw new Error('no verdict');
  return verdict;
}

function errorCode(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isCofferError(error)) return error.code;
    throw error;
  }
  throw new Error('no error');
}

describe('gov verdicts query', () => {
  it('majority of 3: the proposer counts as yes, 2 needed, either other member decides', () => {
    const ledger = ledgerAt(config);
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'] as string;
    const answer = verdicts(ledger);
    expect(answer.constitution).toEqual({ kind: 'majority' });
    expect(answer.members).toEqual(['Org1MSP', 'Org2MSP', 'Org3MSP']);
    expect(only(ledger)).toEqual({
      proposalId: id,
      state: 'Open',
      resolution: 'Open',
      yes: ['Org1MSP'],
      no: [],
      pending: ['Org2MSP', 'Org3MSP'],
      notCounted: [],
      yesNeeded: 2,
      acceptedByYesOf: ['Org2MSP', 'Org3MSP'],
    });
    ledger.ok(org2, 'vote', { proposalId: id, ballot: 'no' });
    expect(only(ledger)).toMatchObject({
      no: ['Org2MSP'],
      pending: ['Org3MSP'],
      yesNeeded: 2,
      acceptedByYesOf: ['Org3MSP'],
    });
  });

  it('lists every open proposal by default; closed ones only by id, without a resolution', () => {
    const ledger = ledgerAt(config);
    const first = ledger.ok(org1, 'propose', allowB)['proposalId'] as string;
    const second = ledger.ok(org2, 'propose', allowB)['proposalId'] as string;
    expect(verdicts(ledger).verdicts.map((v) => v.proposalId)).toEqual([first, second]);
    ledger.ok(org2, 'vote', { proposalId: first, ballot: 'yes' });
    expect(verdicts(ledger).verdicts.map((v) => v.proposalId)).toEqual([second]);
    const [closed] = verdicts(ledger, { ids: [first] }).verdicts;
    expect(closed).toEqual({
      proposalId: first,
      state: 'Accepted',
      yes: ['Org1MSP', 'Org2MSP'],
      no: [],
      pending: ['Org3MSP'],
      notCounted: [],
    });
    // An unknown id is left out; a malformed one is refused naming the field.
    expect(verdicts(ledger, { ids: ['a'.repeat(64)] }).verdicts).toEqual([]);
    expect(errorCode(() => verdicts(ledger, { ids: ['nope'] }))).toBe('GOV_E_INVALID_ARGS');
    expect(errorCode(() => verdicts(ledger, { other: 1 }))).toBe('GOV_E_INVALID_ARGS');
  });

  it('a signature policy naming organisations: the yes ballots that can accept it, by name', () => {
    const policy = "AND('Org1MSP.admin', 'Org3MSP.admin')";
    const ledger = ledgerAt(genesis(m, { constitution: { kind: 'policy', policy } }));
    const byOrg2 = ledger.ok(org2, 'propose', allowB)['proposalId'] as string;
    const byOrg1 = ledger.ok(org1, 'propose', allowB)['proposalId'] as string;
    const [v2, v1] = verdicts(ledger).verdicts;
    expect(verdicts(ledger).constitution).toEqual({ kind: 'policy', policy });
    // Org2's own yes does not count towards the policy: Org1 and Org3 must both say yes.
    expect(v2).toMatchObject({ proposalId: byOrg2, yesNeeded: 3, acceptedByYesOf: [] });
    expect(v1).toMatchObject({ proposalId: byOrg1, yesNeeded: 2, acceptedByYesOf: ['Org3MSP'] });
    // Once Org3 says no, no ballot left can accept it: nothing is needed that can be given.
    expect(ledger.ok(org3, 'vote', { proposalId: byOrg1, ballot: 'no' })['state']).toBe('Rejected');
  });

  it('a JavaScript constitution: its resolution, and no counts it did not give', () => {
    const source = `exports.resolve = function (input) {
      const b = input.proposal.ballots;
      return b.Org3MSP && b.Org3MSP.ballot === 'yes' ? 'Accepted' : 'Open';
    };`;
    const ledger = ledgerAt(genesis(m, { constitution: { kind: 'js', source } }));
    ledger.ok(org1, 'propose', allowB);
    const verdict = only(ledger);
    expect(verdict.resolution).toBe('Open');
    expect(verdict).not.toHaveProperty('yesNeeded');
    expect(verdict).not.toHaveProperty('acceptedByYesOf');
    expect(verdicts(ledger).constitution).toEqual({
      kind: 'js',
      sourceBytes: Buffer.byteLength(source),
    });
  });
});

// A store holding a configuration of `members` (definitions are not read by these queries)
// and one open proposal with `ballots`.
function storeWith(
  members: string[],
  ballots: Record<string, 'yes' | 'no'>,
  constitution: GovConfig['constitution'],
): KvView {
  const values = new Map<string, string>();
  const fake: GovConfig = {
    msps: Object.fromEntries(members.map((id) => [id, {}])),
    members,
    nodes: {},
    codes: [],
    settings: config.settings,
    constitution,
    custody: {},
  };
  for (const write of configWrites(fake)) values.set(`${write.map}/${write.key}`, write.value);
  const proposal: Proposal = {
    id: 'b'.repeat(64),
    proposer: { mspId: 'Org1MSP', identityId: '' },
    actions: allowB.actions,
    createdAt: 0,
    expiresAt: 1,
    state: 'Open',
    ballots: Object.fromEntries(
      Object.entries(ballots).map(([id, ballot]) => [
        id,
        { ballot, identityId: '', time: 0, txId: '' },
      ]),
    ),
  };
  values.set(`${govProposalsMap}/${proposal.id}`, canonicalString(proposal));
  values.set(`${govProposalIndexMap}/open`, canonicalString([proposal.id]));
  return { get: (map, key) => values.get(`${map}/${key}`) };
}

const ids = ['Org1MSP', 'Org2MSP', 'Org3MSP', 'Org4MSP', 'Org5MSP', 'Org6MSP'] as const;

describe('gov verdicts against a naive count (property)', () => {
  it('yes needed, pending and deciding members match a count of k of n for the counting rules', () => {
    const rules = fc.constantFrom('majority', 'MAJORITY', 'ANY', 'ALL', 'OutOf');
    fc.assert(
      fc.property(
        fc.subarray([...ids], { minLength: 1 }),
        fc.dictionary(fc.constantFrom(...ids), fc.constantFrom('yes' as const, 'no' as const)),
        rules,
        fc.integer({ min: 1, max: 6 }),
        (members, ballots, rule, k) => {
          const n = members.length;
          const needed =
            rule === 'ANY'
              ? 1
              : rule === 'ALL'
                ? n
                : rule === 'OutOf'
                  ? Math.min(k, n)
                  : Math.floor(n / 2) + 1;
          const constitution: GovConfig['constitution'] =
            rule === 'majority'
              ? { kind: 'majority' }
              : rule === 'OutOf'
                ? {
                    kind: 'policy',
                    policy: `OutOf(${needed}, ${members.map((id) => `'${id}.admin'`).join(', ')})`,
                  }
                : { kind: 'policy', policy: `${rule} Admins` };
          const query = governanceApp.queries['verdicts'];
          if (query === undefined) throw new Error('no verdicts query');
          const kv = storeWith(members, ballots, constitution);
          const answer = query.run({ caller: undefined, kv }, {}) as Verdicts;
          const verdict = answer.verdicts[0];
          const cast: Record<string, 'yes' | 'no'> = ballots;
          const yes = members.filter((id) => cast[id] === 'yes');
          const pending = members.filter((id) => cast[id] === undefined);
          const naive =
            yes.length >= needed
              ? 'Accepted'
              : yes.length + pending.length < needed
                ? 'Rejected'
                : 'Open';
          expect(verdict?.resolution).toBe(naive);
          expect(verdict?.pending).toEqual(pending);
          expect(verdict?.notCounted).toEqual(
            Object.keys(ballots)
              .filter((id) => !(members as string[]).includes(id))
              .sort(),
          );
          if (yes.length + pending.length >= needed)
            expect(verdict?.yesNeeded).toBe(Math.max(needed, yes.length));
          else expect(verdict).not.toHaveProperty('yesNeeded');
          expect(verdict?.acceptedByYesOf).toEqual(yes.length + 1 >= needed ? pending : []);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('gov check query (a dry run of propose)', () => {
  it('answers what propose would, and keeps nothing', () => {
    const ledger = ledgerAt(config);
    const check = governanceApp.queries['check'];
    if (check === undefined) throw new Error('no check query');
    const run = (who: typeof org1 | undefined, args: Record<string, unknown>): unknown =>
      check.run({ caller: who, kv: { get: ledger.store.read } }, args);
    expect(run(org1, allowB)).toEqual({
      valid: true,
      actions: 1,
      expiresInMs: config.settings.proposalTtlMs,
      constitutionChanged: false,
      openProposals: 0,
      openProposalsMax: 64,
      resolution: 'Open',
    });
    expect(run(org1, { ...allowB, expiresInMs: 60_000 })).toMatchObject({ expiresInMs: 60_000 });
    expect(
      errorCode(() => run(org1, { actions: [{ name: 'add_member', args: { mspId: 'Org9MSP' } }] })),
    ).toBe('GOV_E_UNKNOWN_MSP');
    expect(
      errorCode(() => run(org1, { actions: [{ name: 'set_settings', args: { bogus: 1 } }] })),
    ).toBe('GOV_E_ACTION_INVALID');
    expect(errorCode(() => run(org1, { actions: [] }))).toBe('GOV_E_ACTION_INVALID');
    expect(errorCode(() => run(caller('Org1MSP', 'user', false), allowB))).toBe('GOV_E_NOT_ADMIN');
    expect(errorCode(() => run(caller('Org9MSP'), allowB))).toBe('GOV_E_NOT_MEMBER');
    expect(ledger.config()).toEqual(config);
    expect(ledger.query('proposals', {})).toEqual({ proposals: [] });
  });
});
