// The governance pages' pure helpers (console/src/pages/governance): actions and verdicts in
// words, the proposal draft's checks against the node's own (parseActions / applyActions
// refuse what the page refuses), an MSP folder read in the page against `readMspFolder` (the
// CLI's --set-msp), certificates and CRLs against Node's X509Certificate and the node's CRL
// reader, the nodes table and the routes.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  certInfo,
  certValidity,
  commonName,
  crlFreshness,
  crlInfo,
} from '../../console/src/pages/governance/certs.js';
import {
  ballotRows,
  describeAction,
  durationText,
  mspChanges,
  orderProposals,
  proposalRights,
  sortedJson,
  verdictText,
} from '../../console/src/pages/governance/describe.js';
import {
  actionNames,
  checkActions,
  custodyChange,
  expiryMs,
  parseDraft,
  settingsChange,
} from '../../console/src/pages/governance/draft.js';
import type {
  GovConfig as PageConfig,
  Proposal as PageProposal,
  Verdict,
} from '../../console/src/pages/governance/types.js';
import {
  isReadable,
  mspFromFolder,
  relativeToFolder,
  type FolderFile,
} from '../../console/src/pages/governance/msp-folder.js';
import { nodeRows } from '../../console/src/pages/governance/nodes-model.js';
import { govRouteOf } from '../../console/src/pages/governance/route.js';
import { isCofferError } from '../../src/errors/index.js';
import {
  actionNames as nodeActionNames,
  applyActions,
  mspDefinitionJson,
  parseActions,
  type GovConfig,
} from '../../src/governance/index.js';
import { readMspFolder } from '../../src/msp/index.js';
import { codeA, genesis, material, type Material } from '../governance/support.js';

let m: Material;
let config: GovConfig;
let page: PageConfig;
beforeAll(async () => {
  m = await material();
  config = genesis(m);
  page = config as unknown as PageConfig;
});

const proposal = (over: Partial<PageProposal> = {}): PageProposal => ({
  id: 'a'.repeat(64),
  proposer: { mspId: 'Org1MSP', identityId: '1'.repeat(64) },
  actions: [{ name: 'allow_code', args: { codeId: 'b'.repeat(64) } }],
  createdAt: 1_000,
  expiresAt: 10_000,
  state: 'Open',
  ballots: {
    Org1MSP: { ballot: 'yes', identityId: '1'.repeat(64), time: 1_000, txId: 'a'.repeat(64) },
  },
  ...over,
});

/** Every file below `dir`, with its path relative to `dir`'s parent (as a directory input). */
async function filesOf(dir: string): Promise<FolderFile[]> {
  const out: FolderFile[] = [];
  const walk = async (at: string, prefix: string) => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      const full = path.join(at, entry.name);
      if (entry.isDirectory()) await walk(full, `${prefix}/${entry.name}`);
      else out.push({ path: `${prefix}/${entry.name}`, text: await readFile(full, 'latin1') });
    }
  };
  await walk(dir, path.basename(dir));
  return out;
}

describe('actions and verdicts in words', () => {
  it('tells changes against the configuration in force', () => {
    expect(
      describeAction({ name: 'set_settings', args: { proposalTtlMs: 14 * 86_400_000 } }, page),
    ).toEqual({
      title: 'Change the service settings',
      details: ['proposal lifetime: 7 days → 14 days'],
    });
    const org2 = m.json('Org2MSP');
    expect(
      describeAction({ name: 'set_msp', args: { mspId: 'Org2MSP', definition: org2 } }, page),
    ).toEqual({ title: 'Update the MSP of Org2MSP', details: ['same definition as in force'] });
    const org4 = m.json('Org4MSP');
    expect(
      describeAction({ name: 'set_msp', args: { mspId: 'Org4MSP', definition: org4 } }, page),
    ).toEqual({
      title: 'Add the MSP of a new organisation, Org4MSP',
      details: ['1 root CA', '1 TLS root CA'],
    });
    expect(describeAction({ name: 'add_member', args: { mspId: 'Org4MSP' } }).title).toBe(
      'Make Org4MSP a member (its admins vote)',
    );
    expect(
      describeAction({
        name: 'set_custody',
        args: { custody: { chains: { coffer: { workers: ['Org2MSP:ab'] } }, policyQuorum: 3 } },
      }).details,
    ).toEqual(['coffer: 1 worker', 'policyQuorum: 3']);
    expect(
      describeAction({ name: 'set_constitution', args: { constitution: { kind: 'majority' } } })
        .title,
    ).toBe('Set the constitution to a strict majority of member organisations');
    // Every action the node knows has words of its own (none falls to the raw default).
    for (const name of nodeActionNames)
      expect(describeAction({ name, args: {} }).title, name).not.toBe(name);
  });

  it('an MSP change lists what it adds and removes, list by list; key order is no change', () => {
    const org1 = m.json('Org1MSP') as Record<string, string[]>;
    const current = page.msps['Org1MSP'];
    const crl = '-----BEGIN X509 CRL-----\nAA==\n-----END X509 CRL-----\n';
    expect(mspChanges({ ...org1, revocationList: [crl], admins: [] }, current)).toEqual([
      'adds 1 CRL',
    ]);
    expect(mspChanges({ ...org1, rootCerts: [] }, current)).toEqual(['removes 1 root CA']);
    const reordered = JSON.parse(sortedJson(org1)) as Record<string, unknown>;
    expect(mspChanges(reordered, current)).toEqual([]);
  });

  it('the verdict line: the query’s counts while open, the stored state once closed', () => {
    const verdict: Verdict = {
      proposalId: 'a'.repeat(64),
      state: 'Open',
      resolution: 'Open',
      yes: ['Org1MSP'],
      no: [],
      pending: ['Org2MSP', 'Org3MSP'],
      notCounted: [],
      yesNeeded: 2,
      acceptedByYesOf: ['Org2MSP', 'Org3MSP'],
    };
    expect(verdictText(proposal(), verdict, 5_000)).toEqual({
      state: 'Open',
      tone: 'wait',
      detail: '1 of 2 needed yes votes; waiting for Org2MSP and Org3MSP',
    });
    expect(verdictText(proposal(), verdict, 10_000).state).toBe('Expired');
    const js: Verdict = { ...verdict };
    delete (js as { yesNeeded?: number }).yesNeeded;
    expect(verdictText(proposal(), js, 5_000, { kind: 'js', sourceBytes: 10 }).detail).toBe(
      'the JavaScript constitution decides (1 yes, 0 no, 2 not voted)',
    );
    expect(verdictText(proposal({ state: 'Accepted' }), undefined, 0)).toEqual({
      state: 'Accepted',
      tone: 'ok',
      detail: 'accepted and applied from the next batch',
    });
    const closed: Verdict = {
      ...verdict,
      state: 'Accepted',
      yes: ['Org1MSP', 'Org2MSP'],
      pending: ['Org3MSP'],
    };
    expect(verdictText(proposal({ state: 'Accepted' }), closed, 0).detail).toBe(
      'accepted with 2 yes, 0 no of 3 members and applied from the next batch',
    );
    expect(
      verdictText(
        proposal({ state: 'Failed', failure: { code: 'GOV_E_UNKNOWN_MSP', message: 'gone' } }),
        undefined,
        0,
      ).detail,
    ).toBe('accepted, but its actions no longer applied: GOV_E_UNKNOWN_MSP gone');
  });

  it('ballots per member, former members last; open first; who may vote and withdraw', () => {
    const p = proposal({
      ballots: {
        Org1MSP: { ballot: 'yes', identityId: 'i', time: 1, txId: 't' },
        Org9MSP: { ballot: 'no', identityId: 'j', time: 2, txId: 'u' },
      },
    });
    expect(
      ballotRows(p, ['Org1MSP', 'Org2MSP']).map((row) => [row.mspId, row.ballot, row.member]),
    ).toEqual([
      ['Org1MSP', 'yes', true],
      ['Org2MSP', 'none yet', true],
      ['Org9MSP', 'no', false],
    ]);
    expect(ballotRows({ ...p, state: 'Rejected' }, ['Org2MSP'])[0]?.ballot).toBe('did not vote');
    const list = [
      proposal({ id: '1', state: 'Accepted', closedAt: 5 }),
      proposal({ id: '2', createdAt: 1 }),
      proposal({ id: '3', state: 'Rejected', closedAt: 9 }),
      proposal({ id: '4', createdAt: 2 }),
    ];
    expect(orderProposals(list).map((item) => item.id)).toEqual(['4', '2', '3', '1']);
    const members = ['Org1MSP', 'Org2MSP'];
    expect(proposalRights(p, { mspId: 'Org2MSP', isAdmin: true }, members, 5)).toEqual({
      vote: true,
      withdraw: false,
    });
    expect(proposalRights(p, { mspId: 'Org1MSP', isAdmin: true }, members, 5)).toEqual({
      vote: true,
      withdraw: true,
    });
    expect(proposalRights(p, { mspId: 'Org1MSP', isAdmin: false }, members, 5).why).toMatch(
      /not an admin of Org1MSP/,
    );
    expect(proposalRights(p, { mspId: 'Org3MSP', isAdmin: true }, members, 5).why).toMatch(
      /Org3MSP is not a member/,
    );
    expect(proposalRights(p, { mspId: 'Org1MSP', isAdmin: true }, members, 10_000).vote).toBe(
      false,
    );
  });

  it('durations in the two largest units', () => {
    expect(durationText(604_800_000)).toBe('7 days');
    expect(durationText(90_061_000)).toBe('1 day 1 hour');
    expect(durationText(100)).toBe('100 ms');
    expect(durationText(61_000)).toBe('1 minute 1 second');
  });
});

function nodeRefuses(actions: unknown): string | undefined {
  try {
    applyActions(config, parseActions(actions));
    return undefined;
  } catch (error) {
    if (isCofferError(error)) return error.code;
    throw error;
  }
}

describe('the proposal draft, checked in the page', () => {
  it('knows the node’s actions', () => {
    expect([...actionNames]).toEqual([...nodeActionNames]);
  });

  it('refuses, naming the field, what the node refuses for its shape', () => {
    const cases: [unknown, RegExp][] = [
      [[], /non-empty list/],
      [[{ name: 'nope' }], /actions\[0\]\.name must be one of/],
      [[{ name: 'add_member', args: {} }], /actions\[0\]\.args\.mspId is missing/],
      [[{ name: 'add_member', args: { mspId: 'a/b' } }], /actions\[0\]\.args\.mspId must be an id/],
      [[{ name: 'allow_code', args: { codeId: 'ABC' } }], /codeId must be 64 lower-case hex/],
      [
        [{ name: 'set_settings', args: { proposalTtlMs: 5 } }],
        /proposalTtlMs must be a whole number from 1000/,
      ],
      [[{ name: 'set_settings', args: { bogus: 1 } }], /bogus is not a field of set_settings/],
      [
        [
          {
            name: 'admit_node',
            args: { nodeId: 'n', mspId: 'Org1MSP', codeId: codeA, url: 'http://x:1' },
          },
        ],
        /url must be https/,
      ],
      [
        [{ name: 'set_constitution', args: { constitution: { kind: 'x' } } }],
        /constitution\.kind must be/,
      ],
      [[{ name: 'set_custody', args: { custody: [] } }], /custody must be a JSON object/],
      [
        [{ name: 'add_member', args: { mspId: 'Org1MSP' }, extra: 1 }],
        /actions\[0\]\.extra is not a field/,
      ],
      [
        Array.from({ length: 33 }, () => ({ name: 'add_member', args: { mspId: 'Org1MSP' } })),
        /at most 32/,
      ],
    ];
    for (const [actions, message] of cases) {
      const checked = checkActions(actions);
      expect(checked.ok, JSON.stringify(actions).slice(0, 80)).toBe(false);
      if (!checked.ok) expect(checked.errors.join('\n')).toMatch(message);
      expect(nodeRefuses(actions), JSON.stringify(actions).slice(0, 80)).toBeDefined();
    }
  });

  it('accepts what the node accepts, as a list or a proposal file', () => {
    const actions = [
      { name: 'set_settings', args: { proposalTtlMs: 86_400_000, signatureIntervalTx: 10 } },
      { name: 'allow_code', args: { codeId: 'b'.repeat(64) } },
      { name: 'set_msp', args: { mspId: 'Org4MSP', definition: m.json('Org4MSP') } },
      { name: 'add_member', args: { mspId: 'Org4MSP' } },
    ];
    expect(nodeRefuses(actions)).toBeUndefined();
    const asList = parseDraft(JSON.stringify(actions));
    expect(asList).toMatchObject({ ok: true, actions });
    expect(parseDraft(JSON.stringify({ actions }))).toMatchObject({ ok: true, actions });
    expect(parseDraft('{"actions": 1}')).toMatchObject({ ok: false });
    expect(parseDraft('[{')).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/^not JSON/)],
    });
    expect(parseDraft('  ')).toMatchObject({ ok: false });
  });

  it('the settings form sends only changed values, in bounds', () => {
    const settings = config.settings;
    expect(
      settingsChange(settings, {
        proposalTtlMs: '86400000',
        signatureIntervalTx: String(settings.signatureIntervalTx),
      }),
    ).toEqual({
      args: { proposalTtlMs: 86_400_000 },
      errors: [],
    });
    expect(settingsChange(settings, { proposalTtlMs: '10' }).errors[0]).toMatch(/from 1000/);
    expect(settingsChange(settings, { proposalTtlMs: '1.5e6' }).errors).toHaveLength(1);
    expect(settingsChange(settings, {}).errors[0]).toMatch(/change at least one/);
  });

  it('custody parameters are a JSON object; expiry in days, at most 90', () => {
    expect(custodyChange('{"policyQuorum": 2}')).toEqual({ custody: { policyQuorum: 2 } });
    expect(custodyChange('[]').error).toMatch(/JSON object/);
    expect(custodyChange('{').error).toMatch(/^not JSON/);
    expect(expiryMs('')).toEqual({});
    expect(expiryMs('1.5')).toEqual({ ms: 129_600_000 });
    expect(expiryMs('91').error).toMatch(/at most 90 days/);
    expect(expiryMs('-1').error).toBeDefined();
  });
});

describe('an MSP folder read in the page', () => {
  it('gives the definition the CLI reads from the same folder (NodeOUs, TLS CAs, admins)', async () => {
    for (const org of [1, 2, 4]) {
      const dir = path.join(m.orgDir(org), 'msp');
      const mspId = `Org${org}MSP`;
      const expected = mspDefinitionJson((await readMspFolder(dir, mspId, false)).definition);
      const files = relativeToFolder(await filesOf(dir)).filter((file) => isReadable(file.path));
      const read = mspFromFolder(files, mspId);
      expect(read.ok).toBe(true);
      if (read.ok) expect(sortedJson(read.definition)).toBe(sortedJson(expected));
    }
    // A peer's local MSP: its keystore and signcerts are not read.
    const peer = path.join(m.orgDir(1), 'peers', 'peer0.org1.example.com', 'msp');
    const all = relativeToFolder(await filesOf(peer));
    expect(all.some((file) => file.path.startsWith('keystore/'))).toBe(true);
    expect(
      all
        .filter((file) => isReadable(file.path))
        .some((f) => /^(keystore|signcerts)\//.test(f.path)),
    ).toBe(false);
  });

  it('refuses a folder without CA certificates, and skips files without PEM', () => {
    const refusal = (files: FolderFile[]): string | undefined => {
      const read = mspFromFolder(files, 'X');
      return read.ok ? undefined : read.error;
    };
    expect(refusal([{ path: 'config.yaml', text: '' }])).toMatch(/no CA certificate in cacerts/);
    const pem = '-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n';
    const read = mspFromFolder(
      [
        { path: 'cacerts/b.pem', text: pem },
        { path: 'cacerts/a.txt', text: 'hello' },
        { path: 'cacerts/sub/c.pem', text: pem },
      ],
      'X',
    );
    expect(read).toMatchObject({ ok: true, warnings: ['cacerts/a.txt: no PEM content, skipped'] });
    if (read.ok) expect(read.definition.rootCerts).toEqual([pem]);
    const ca = { path: 'cacerts/b.pem', text: pem };
    expect(refusal([ca, { path: 'crls/x.crl', text: '-----BEGIN X509 CRL-----\n' }])).toMatch(
      /crls\/x\.crl/,
    );
    expect(refusal([ca, { path: 'config.yaml', text: 'a: [' }])).toMatch(
      /config\.yaml is not valid YAML/,
    );
  });
});

describe('certificates and CRLs', () => {
  it('subject, issuer, SHA-256 fingerprint and validity as Node’s X509Certificate reads them', async () => {
    const cacerts = path.join(m.orgDir(1), 'msp', 'cacerts');
    const [file] = await readdir(cacerts);
    const pem = await readFile(path.join(cacerts, file ?? ''), 'utf8');
    const node = new X509Certificate(pem);
    const info = certInfo(pem);
    expect(info.kind).toBe('cert');
    if (info.kind !== 'cert') return;
    expect(info.fingerprint).toBe(node.fingerprint256);
    expect(commonName(info.subject)).toBe('ca.org1.example.com');
    expect(info.issuer).toBe(info.subject);
    expect(info.isCa).toBe(true);
    expect(info.notAfter).toBe(new Date(node.validTo).getTime());
    expect(certValidity(info, info.notBefore + 1).word).toBe('valid');
    expect(certValidity(info, info.notAfter + 1).word).toBe('expired');
    expect(certValidity(info, info.notBefore - 1).word).toBe('not yet valid');
    expect(certValidity(info, info.notAfter - 1000).word).toBe('expires soon');
    expect(certInfo('garbage')).toEqual({ kind: 'unreadable', error: 'no CERTIFICATE PEM block' });
    expect(certInfo('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----').kind).toBe(
      'unreadable',
    );
  });

  it('a CRL: issuer, this and next update, revoked serials (Fabric’s test CRLs)', async () => {
    const fixtures = path.resolve(import.meta.dirname, '../fixtures');
    const conformance = path.join(fixtures, 'fabric-msp-conformance/testdata');
    let withRevocations = 0;
    for (const name of ['revocation', 'revocation2', 'revokedica']) {
      const pem = await readFile(path.join(conformance, name, 'crls/crl.pem'), 'latin1');
      const info = crlInfo(pem);
      expect(info.kind, name).toBe('crl');
      if (info.kind !== 'crl') continue;
      expect(info.thisUpdate).toBeGreaterThan(0);
      expect(info.issuer).toMatch(/CN=/);
      expect(info.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      if (info.revoked > 0) withRevocations += 1;
      if (info.nextUpdate !== undefined) {
        expect(crlFreshness(info, info.nextUpdate + 1).word).toBe('next update passed');
        expect(crlFreshness(info, info.thisUpdate).word).toBe('current');
      }
    }
    expect(withRevocations).toBeGreaterThan(0);
    const garbage = await readFile(
      path.join(fixtures, 'msp-negative/crl-garbage/crls/crl.pem'),
      'latin1',
    );
    expect(crlInfo(garbage).kind).toBe('unreadable');
  });
});

describe('nodes table and routes', () => {
  it('joins the configuration with this node’s status and the join requests', () => {
    const rows = nodeRows(
      {
        ...page,
        nodes: {
          b: {
            nodeId: 'b',
            mspId: 'Org2MSP',
            codeId: codeA,
            status: 'admitted',
            url: 'https://b:1',
          },
          a: { nodeId: 'a', mspId: 'Org1MSP', codeId: codeA, status: 'admitted' },
          c: { nodeId: 'c', mspId: 'Org3MSP', codeId: 'f'.repeat(64), status: 'retired' },
        },
      },
      [
        {
          nodeId: 'b',
          mspId: 'Org2MSP',
          identityId: 'x',
          codeId: codeA,
          provider: 'sev-snp',
          requestedAt: 1,
          txId: 't',
          admitted: true,
          codeAllowed: true,
        },
      ],
      {
        nodeId: 'a',
        attestation: { provider: 'virtual', codeId: codeA, note: '' },
        peers: [{ nodeId: 'b', url: 'https://b:1', state: 'unreachable', error: 'ECONNREFUSED' }],
      },
    );
    expect(rows.map((row) => [row.nodeId, row.status.word, row.self, row.codeAllowed])).toEqual([
      ['a', 'admitted', true, true],
      ['b', 'admitted', false, true],
      ['c', 'retired', false, false],
    ]);
    expect(rows[0]?.attestation).toEqual({ provider: 'virtual', source: 'this node’s status' });
    expect(rows[1]?.attestation).toEqual({ provider: 'sev-snp', source: 'its join request' });
    expect(rows[1]?.view).toEqual({ word: 'unreachable', tone: 'bad', detail: 'ECONNREFUSED' });
    expect(rows[2]?.attestation).toBeUndefined();
  });

  it('parses the area’s routes', () => {
    const id = 'e'.repeat(64);
    expect(govRouteOf([])).toEqual({ page: 'proposals' });
    expect(govRouteOf(['proposals', id])).toEqual({ page: 'proposal', id });
    expect(govRouteOf(['proposals', 'xyz'])).toEqual({ page: 'unknown' });
    expect(govRouteOf(['propose', 'msp', 'Org1MSP'])).toEqual({
      page: 'propose',
      preset: { kind: 'msp', value: 'Org1MSP' },
    });
    expect(govRouteOf(['organisations'])).toEqual({ page: 'organisations' });
    expect(govRouteOf(['nodes', 'x'])).toEqual({ page: 'unknown' });
  });
});
