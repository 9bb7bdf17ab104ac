// The proposal lifecycle through the `gov` app against an in-memory store: accept, reject,
// withdraw, expire, concurrent proposals, constitution changes, who may propose and vote.
import { beforeAll, describe, expect, it } from 'vitest';
import { configWrites, govConfigMap, type GovConfig } from '../../src/governance/index.js';
import {
  caller,
  codeA,
  codeB,
  genesis,
  ledgerAt,
  material,
  proposalOf,
  type Material,
} from './support.js';

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

describe('gov: majority constitution (3 members: 2 yes accept, 2 no reject)', () => {
  it('accepts at a strict majority and applies the actions, from that transaction on', () => {
    const ledger = ledgerAt(config);
    const proposed = ledger.ok(org1, 'propose', allowB);
    expect(proposed['state']).toBe('Open');
    const id = proposed['proposalId'];
    expect(ledger.config().codes).toEqual([codeA]);
    // Proposing counted as Org1's yes: one more organisation makes 2 of 3.
    const accepted = ledger.ok(org2, 'vote', { proposalId: id, ballot: 'yes' });
    expect(accepted['state']).toBe('Accepted');
    expect(ledger.config().codes).toEqual([codeA, codeB].sort());
    expect(proposalOf(ledger, id)['state']).toBe('Accepted');
    expect(ledger.fails(org3, 'vote', { proposalId: id, ballot: 'no' })).toBe(
      'GOV_E_PROPOSAL_CLOSED',
    );
  });

  it('rejects once a majority can no longer be reached, and applies nothing', () => {
    const ledger = ledgerAt(config);
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'];
    expect(ledger.ok(org2, 'vote', { proposalId: id, ballot: 'no' })['state']).toBe('Open');
    expect(ledger.ok(org3, 'vote', { proposalId: id, ballot: 'no' })['state']).toBe('Rejected');
    expect(ledger.config().codes).toEqual([codeA]);
  });

  it('counts one ballot per organisation: a later ballot replaces the earlier, naming who voted', () => {
    const ledger = ledgerAt(config);
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'];
    // Another admin of Org1 changes Org1's ballot to no.
    const org1Admin2 = caller('Org1MSP', 'admin2');
    expect(ledger.ok(org1Admin2, 'vote', { proposalId: id, ballot: 'no' })['state']).toBe('Open');
    expect(ledger.ok(org2, 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe('Open');
    // A second admin of Org2 voting yes is still Org2's one ballot: 1 yes of 3.
    const org2Admin2 = caller('Org2MSP', 'admin2');
    expect(ledger.ok(org2Admin2, 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe('Open');
    const ballots = proposalOf(ledger, id)['ballots'] as Record<string, Record<string, unknown>>;
    expect(Object.keys(ballots).sort()).toEqual(['Org1MSP', 'Org2MSP']);
    expect(ballots['Org1MSP']).toMatchObject({ ballot: 'no', identityId: org1Admin2.identityId });
    expect(ballots['Org2MSP']).toMatchObject({ ballot: 'yes', identityId: org2Admin2.identityId });
    expect(ledger.ok(org3, 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe('Accepted');
  });

  it('a single-member consortium accepts at once, in the propose transaction', () => {
    const solo = genesis(m, { members: ['Org1MSP'] });
    const ledger = ledgerAt(solo);
    const proposed = ledger.ok(org1, 'propose', allowB);
    expect(proposed['state']).toBe('Accepted');
    expect(ledger.config().codes).toEqual([codeA, codeB].sort());
  });
});

describe('gov: who may act', () => {
  it('refuses proposals and ballots from non-admins and from non-member organisations', () => {
    const ledger = ledgerAt(config);
    expect(ledger.fails(caller('Org1MSP', 'user', false), 'propose', allowB)).toBe(
      'GOV_E_NOT_ADMIN',
    );
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'];
    expect(
      ledger.fails(caller('Org2MSP', 'user', false), 'vote', { proposalId: id, ballot: 'yes' }),
    ).toBe('GOV_E_NOT_ADMIN');
    // Org4 has no definition at all; Org9 likewise: not members either way.
    expect(ledger.fails(caller('Org4MSP'), 'vote', { proposalId: id, ballot: 'yes' })).toBe(
      'GOV_E_NOT_MEMBER',
    );
    expect(ledger.fails(caller('Org4MSP'), 'propose', allowB)).toBe('GOV_E_NOT_MEMBER');
    expect(Object.keys(proposalOf(ledger, id)['ballots'] as object)).toEqual(['Org1MSP']);
  });

  it('an organisation with an MSP but not a member cannot vote', () => {
    const withOrg4 = genesis(m, {
      msps: {
        Org1MSP: m.json('Org1MSP'),
        Org2MSP: m.json('Org2MSP'),
        Org3MSP: m.json('Org3MSP'),
        Org4MSP: m.json('Org4MSP'),
      },
    });
    const ledger = ledgerAt(withOrg4);
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'];
    expect(ledger.fails(caller('Org4MSP'), 'vote', { proposalId: id, ballot: 'yes' })).toBe(
      'GOV_E_NOT_MEMBER',
    );
  });

  it('withdraw: only admins of the proposing organisation, only while open', () => {
    const ledger = ledgerAt(config);
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'];
    expect(ledger.fails(org2, 'withdraw', { proposalId: id })).toBe('GOV_E_NOT_PROPOSER');
    expect(ledger.fails(caller('Org1MSP', 'user', false), 'withdraw', { proposalId: id })).toBe(
      'GOV_E_NOT_ADMIN',
    );
    // Another admin of the proposer's organisation may withdraw it.
    expect(ledger.ok(caller('Org1MSP', 'admin2'), 'withdraw', { proposalId: id })['state']).toBe(
      'Withdrawn',
    );
    expect(ledger.fails(org2, 'vote', { proposalId: id, ballot: 'yes' })).toBe(
      'GOV_E_PROPOSAL_CLOSED',
    );
    expect(ledger.fails(org1, 'withdraw', { proposalId: id })).toBe('GOV_E_PROPOSAL_CLOSED');
    expect(ledger.config().codes).toEqual([codeA]);
  });

  it('unknown proposal ids and malformed arguments are refused with their codes', () => {
    const ledger = ledgerAt(config);
    expect(ledger.fails(org1, 'vote', { proposalId: 'ab'.repeat(32), ballot: 'yes' })).toBe(
      'GOV_E_PROPOSAL_UNKNOWN',
    );
    expect(ledger.fails(org1, 'vote', { proposalId: 'ab'.repeat(32), ballot: 'maybe' })).toBe(
      'GOV_E_INVALID_ARGS',
    );
    expect(ledger.fails(org1, 'propose', { actions: [] })).toBe('GOV_E_ACTION_INVALID');
    expect(ledger.fails(org1, 'propose', { actions: [{ name: 'nuke', args: {} }] })).toBe(
      'GOV_E_ACTION_INVALID',
    );
    expect(ledger.fails(org1, 'propose', { ...allowB, extra: 1 })).toBe('GOV_E_INVALID_ARGS');
  });

  it('before genesis every action says so', () => {
    const ledger = ledgerAt(config);
    // Wipe the configuration to model a ledger without governance genesis.
    const tx = ledger.store.begin();
    for (const write of configWrites(config)) tx.delete(govConfigMap, write.key);
    ledger.store.apply(tx.writeSet(), 100);
    expect(ledger.fails(org1, 'propose', allowB)).toBe('GOV_E_NO_CONFIG');
  });
});

describe('gov: expiry', () => {
  it('a ballot after expiry is refused; the next governance transaction marks it Expired', () => {
    const ledger = ledgerAt(config);
    const t0 = ledger.time;
    const id = ledger.ok(org1, 'propose', { ...allowB, expiresInMs: 60_000 }, t0)['proposalId'];
    expect(proposalOf(ledger, id)['expiresAt']).toBe(t0 + 60_000);
    ledger.ok(org2, 'vote', { proposalId: id, ballot: 'no' }, t0 + 59_999);
    expect(ledger.fails(org3, 'vote', { proposalId: id, ballot: 'yes' }, t0 + 60_000)).toBe(
      'GOV_E_PROPOSAL_EXPIRED',
    );
    expect(proposalOf(ledger, id)['state']).toBe('Open'); // the refused transaction wrote nothing
    // Any later governance transaction sweeps it.
    ledger.ok(org2, 'propose', allowB, t0 + 61_000);
    expect(proposalOf(ledger, id)['state']).toBe('Expired');
    expect(proposalOf(ledger, id)['closedAt']).toBe(t0 + 61_000);
    expect(ledger.fails(org3, 'vote', { proposalId: id, ballot: 'yes' }, t0 + 62_000)).toBe(
      'GOV_E_PROPOSAL_EXPIRED',
    );
    expect(ledger.fails(org1, 'withdraw', { proposalId: id }, t0 + 62_000)).toBe(
      'GOV_E_PROPOSAL_EXPIRED',
    );
  });

  it('expiresInMs larger than settings.proposalTtlMs is cut to it', () => {
    const short = genesis(m, { settings: { proposalTtlMs: 10_000 } });
    const ledger = ledgerAt(short);
    const t0 = ledger.time;
    const id = ledger.ok(org1, 'propose', { ...allowB, expiresInMs: 99_000 }, t0)['proposalId'];
    expect(proposalOf(ledger, id)['expiresAt']).toBe(t0 + 10_000);
  });
});

describe('gov: concurrent proposals', () => {
  it('are voted independently; the one accepted later applies to the configuration of its time', () => {
    const ledger = ledgerAt(config);
    const a = ledger.ok(org1, 'propose', allowB)['proposalId'];
    const b = ledger.ok(org2, 'propose', {
      actions: [
        { name: 'admit_node', args: { nodeId: 'org2-peer1', mspId: 'Org2MSP', codeId: codeA } },
      ],
    })['proposalId'];
    const c = ledger.ok(org3, 'propose', {
      actions: [{ name: 'set_settings', args: { signatureIntervalTx: 500 } }],
    })['proposalId'];
    expect(
      (ledger.query('proposals', { state: 'Open' }) as { proposals: unknown[] }).proposals,
    ).toHaveLength(3);
    expect(ledger.ok(org1, 'vote', { proposalId: b, ballot: 'yes' })['state']).toBe('Accepted');
    ledger.ok(org2, 'vote', { proposalId: c, ballot: 'no' });
    ledger.ok(org1, 'vote', { proposalId: c, ballot: 'no' });
    ledger.ok(org2, 'vote', { proposalId: a, ballot: 'yes' });
    expect(proposalOf(ledger, a)['state']).toBe('Accepted');
    expect(proposalOf(ledger, b)['state']).toBe('Accepted');
    expect(proposalOf(ledger, c)['state']).toBe('Rejected');
    const now = ledger.config();
    expect(now.codes).toEqual([codeA, codeB].sort());
    expect(now.nodes['org2-peer1']).toEqual({
      nodeId: 'org2-peer1',
      mspId: 'Org2MSP',
      codeId: codeA,
      status: 'admitted',
    });
    expect(now.settings.signatureIntervalTx).toBe(config.settings.signatureIntervalTx);
    const listed = (ledger.query('proposals', {}) as { proposals: { id: string }[] }).proposals;
    expect(listed.map((p) => p.id)).toEqual([c, b, a]);
  });

  it('an accepted proposal whose actions no longer apply becomes Failed; nothing is half-applied', () => {
    const ledger = ledgerAt(config);
    // p1 retires org3's node and removes Org3 as a member; p2 (earlier) admits a node for Org3
    // after allowing codeB; p3 removes Org3's MSP, valid only once p1 has applied.
    const p1 = ledger.ok(org1, 'propose', {
      actions: [
        { name: 'retire_node', args: { nodeId: 'org3-peer0' } },
        { name: 'remove_member', args: { mspId: 'Org3MSP' } },
      ],
    })['proposalId'];
    const p2 = ledger.ok(org2, 'propose', {
      actions: [
        { name: 'allow_code', args: { codeId: codeB } },
        { name: 'admit_node', args: { nodeId: 'org3-peer1', mspId: 'Org3MSP', codeId: codeB } },
      ],
    })['proposalId'];
    ledger.ok(org2, 'vote', { proposalId: p1, ballot: 'yes' });
    expect(ledger.config().members).toEqual(['Org1MSP', 'Org2MSP']);
    // Now remove Org3's MSP entirely: no member, no admitted node.
    const p3 = ledger.ok(org1, 'propose', {
      actions: [{ name: 'remove_msp', args: { mspId: 'Org3MSP' } }],
    })['proposalId'];
    expect(ledger.ok(org2, 'vote', { proposalId: p3, ballot: 'yes' })['state']).toBe('Accepted');
    expect(Object.keys(ledger.config().msps)).toEqual(['Org1MSP', 'Org2MSP']);
    // p2's admit_node now names an unknown MSP: accepting it fails, codeB is not half-allowed.
    // Org2's yes (proposer) and Org1's now make 2 of the 2 members.
    const failed = ledger.ok(org1, 'vote', { proposalId: p2, ballot: 'yes' });
    expect(failed['state']).toBe('Failed');
    expect(failed['failure']).toMatchObject({ code: 'GOV_E_UNKNOWN_MSP' });
    expect(ledger.config().codes).toEqual([codeA]);
    // The retired node keeps its record (its id stays taken).
    expect(ledger.config().nodes['org3-peer0']?.status).toBe('retired');
  });
});

describe('gov: constitution changes', () => {
  it('set_constitution drops the other open proposals', () => {
    const ledger = ledgerAt(config);
    const other = ledger.ok(org2, 'propose', allowB)['proposalId'];
    const change = ledger.ok(org1, 'propose', {
      actions: [
        {
          name: 'set_constitution',
          args: { constitution: { kind: 'policy', policy: 'ALL Admins' } },
        },
      ],
    })['proposalId'];
    ledger.ok(org3, 'vote', { proposalId: change, ballot: 'yes' });
    expect(proposalOf(ledger, change)['state']).toBe('Accepted');
    expect(proposalOf(ledger, other)['state']).toBe('Dropped');
    expect(ledger.config().constitution).toEqual({ kind: 'policy', policy: 'ALL Admins' });
    expect(ledger.fails(org1, 'vote', { proposalId: other, ballot: 'yes' })).toBe(
      'GOV_E_PROPOSAL_CLOSED',
    );
    // Under ALL Admins, two yes are not enough; one no rejects.
    const next = ledger.ok(org1, 'propose', allowB)['proposalId'];
    expect(ledger.ok(org2, 'vote', { proposalId: next, ballot: 'yes' })['state']).toBe('Open');
    expect(ledger.ok(org3, 'vote', { proposalId: next, ballot: 'yes' })['state']).toBe('Accepted');
  });

  it('a Fabric policy constitution: OutOf(2, Org1, Org2, Org3 admins) over the yes-voters', () => {
    const policy = "OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin', 'Org3MSP.admin')";
    const ledger = ledgerAt(genesis(m, { constitution: { kind: 'policy', policy } }));
    const id = ledger.ok(org1, 'propose', allowB)['proposalId'];
    expect(ledger.ok(org3, 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe('Accepted');

    const rejected = ledger.ok(org1, 'propose', allowB)['proposalId'];
    ledger.ok(org1, 'vote', { proposalId: rejected, ballot: 'no' });
    expect(ledger.ok(org2, 'vote', { proposalId: rejected, ballot: 'no' })['state']).toBe(
      'Rejected',
    );
  });

  it("a policy that requires one organisation: AND('Org1MSP.admin', OR(Org2, Org3))", () => {
    const policy = "AND('Org1MSP.admin', OR('Org2MSP.admin', 'Org3MSP.admin'))";
    const ledger = ledgerAt(genesis(m, { constitution: { kind: 'policy', policy } }));
    const id = ledger.ok(org2, 'propose', allowB)['proposalId'];
    expect(ledger.ok(org3, 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe('Open');
    // Org1's no makes the policy impossible: rejected at once.
    expect(ledger.ok(org1, 'vote', { proposalId: id, ballot: 'no' })['state']).toBe('Rejected');
  });

  it('policies naming other roles than admin/member, or bad syntax, are refused', () => {
    const ledger = ledgerAt(config);
    for (const policy of ["OR('Org1MSP.peer')", 'OR(', 'MOST Admins']) {
      expect(
        ledger.fails(org1, 'propose', {
          actions: [
            { name: 'set_constitution', args: { constitution: { kind: 'policy', policy } } },
          ],
        }),
      ).toBe('GOV_E_ACTION_INVALID');
    }
  });

  it('the open-proposal limit is enforced, after expired proposals are swept', () => {
    const ledger = ledgerAt(config);
    const t0 = ledger.time;
    for (let i = 0; i < 64; i++) ledger.ok(org1, 'propose', { ...allowB, expiresInMs: 5_000 }, t0);
    expect(ledger.fails(org1, 'propose', allowB, t0 + 1)).toBe('GOV_E_LIMIT');
    expect(ledger.ok(org1, 'propose', allowB, t0 + 5_000)['state']).toBe('Open');
    expect(
      (ledger.query('proposals', { state: 'Expired', limit: 256 }) as { proposals: unknown[] })
        .proposals,
    ).toHaveLength(64);
  });
});
