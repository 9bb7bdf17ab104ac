// Genesis checks, MSP merging, the MSPs in force (a CRL set by governance revokes), action
// refusals, idempotent apply and deterministic writes.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createAppHarness } from '../../src/contracts/harness.js';
import { isCofferError } from '../../src/errors/index.js';
import {
  applyActions,
  checkGenesis,
  configWrites,
  consortiumOf,
  governanceApp,
  governanceLimits,
  mergeMspDefinitions,
  readGovConfig,
  type GovAction,
  type GovConfig,
} from '../../src/governance/index.js';
import { requestBytesMax } from '../../src/ledger/tx.js';
import { valueBytesMax } from '../../src/ledger/store.js';
import { revokeCertificate } from '../../src/msp/cryptogen/index.js';
import { readMspFolder } from '../../src/msp/index.js';
import { caller, codeA, codeB, genesis, ledgerAt, material, type Material } from './support.js';

let m: Material;
let config: GovConfig;
beforeAll(async () => {
  m = await material();
  config = genesis(m);
});

function codeOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isCofferError(error))
      return `${error.code} ${typeof error.details['field'] === 'string' ? error.details['field'] : ''}`.trim();
    throw error;
  }
  throw new Error('expected an error');
}

describe('limits', () => {
  it('a proposal fits one request, and every MSP definition fits one stored value', () => {
    expect(governanceLimits.proposalBytesMax).toBeLessThan(requestBytesMax);
    expect(governanceLimits.configValueBytesMax).toBeLessThanOrEqual(valueBytesMax);
  });
});

describe('checkGenesis', () => {
  it('fills defaults, sorts members and codes, stores definitions as PEM strings', () => {
    const checked = checkGenesis({
      msps: { Org2MSP: m.json('Org2MSP'), Org1MSP: m.json('Org1MSP') },
      members: ['Org2MSP', 'Org1MSP'],
    });
    expect(checked.members).toEqual(['Org1MSP', 'Org2MSP']);
    expect(checked.constitution).toEqual({ kind: 'majority' });
    expect(checked.settings.proposalTtlMs).toBe(7 * 24 * 3600 * 1000);
    expect(checked.codes).toEqual([]);
    const org1 = checked.msps['Org1MSP'] as { rootCerts: unknown[] };
    expect(typeof org1.rootCerts[0]).toBe('string');
  });

  it('refuses with GOV_E codes naming the field', () => {
    const msps = { Org1MSP: m.json('Org1MSP') };
    expect(codeOf(() => checkGenesis({ msps, members: ['Org2MSP'] }))).toBe(
      'GOV_E_CONFIG_INVALID config.members[0]',
    );
    expect(codeOf(() => checkGenesis({ msps, members: [] }))).toBe(
      'GOV_E_CONFIG_INVALID config.members',
    );
    expect(codeOf(() => checkGenesis({ msps, members: ['Org1MSP', 'Org1MSP'] }))).toBe(
      'GOV_E_CONFIG_INVALID config.members',
    );
    expect(codeOf(() => checkGenesis({ msps, members: ['Org1MSP'], codes: ['xyz'] }))).toBe(
      'GOV_E_CONFIG_INVALID config.codes[0]',
    );
    expect(
      codeOf(() =>
        checkGenesis({ msps, members: ['Org1MSP'], settings: { signatureIntervalTx: 0 } }),
      ),
    ).toBe('GOV_E_CONFIG_INVALID config.settings.signatureIntervalTx');
    expect(
      codeOf(() =>
        checkGenesis({ msps, members: ['Org1MSP'], settings: { snapshotIntervalTx: 1.5 } }),
      ),
    ).toBe('GOV_E_CONFIG_INVALID config.settings.snapshotIntervalTx');
    // requestBytesMax: from 4 KiB (a set_settings raising it again always fits) to 64 KiB.
    for (const requestBytesMax of [1024, 65537]) {
      expect(
        codeOf(() => checkGenesis({ msps, members: ['Org1MSP'], settings: { requestBytesMax } })),
      ).toBe('GOV_E_CONFIG_INVALID config.settings.requestBytesMax');
    }
    const limited = checkGenesis({
      msps,
      members: ['Org1MSP'],
      settings: { requestBytesMax: 8192 },
    });
    expect(consortiumOf(limited).requestBytesMax).toBe(8192);
    expect(consortiumOf(checkGenesis({ msps, members: ['Org1MSP'] })).requestBytesMax).toBe(65536);
    expect(
      codeOf(() =>
        checkGenesis({
          msps,
          members: ['Org1MSP'],
          nodes: { n1: { mspId: 'Org1MSP', codeId: codeA } },
        }),
      ),
    ).toBe('GOV_E_CONFIG_INVALID config.nodes.n1.codeId');
    expect(
      codeOf(() =>
        checkGenesis({
          msps,
          members: ['Org1MSP'],
          codes: [codeA],
          nodes: { n1: { mspId: 'Org9MSP', codeId: codeA } },
        }),
      ),
    ).toBe('GOV_E_CONFIG_INVALID config.nodes.n1.mspId');
    expect(codeOf(() => checkGenesis({ msps: { Org2MSP: m.json('Org1MSP') }, members: [] }))).toBe(
      'GOV_E_CONFIG_INVALID config.msps.Org2MSP.mspId',
    );
    expect(codeOf(() => checkGenesis({ msps, members: ['Org1MSP'], extra: 1 }))).toBe(
      'GOV_E_CONFIG_INVALID config.extra',
    );
  });

  it('an MSP that does not set up is GOV_E_MSP_SETUP naming the MSP', () => {
    const broken = {
      ...m.json('Org1MSP'),
      rootCerts: (m.json('Org2MSP') as { admins: [] }).admins,
    };
    const code = codeOf(() => checkGenesis({ msps: { Org1MSP: broken }, members: ['Org1MSP'] }));
    expect(code).toBe('GOV_E_MSP_SETUP config.msps.Org1MSP');
  });
});

describe('mergeMspDefinitions (Fabric: duplicate MSP IDs)', () => {
  it('merges an identical definition read twice, refuses a different one under the same ID', async () => {
    const again = await readMspFolder(path.join(m.orgDir(1), 'msp'), 'Org1MSP', false);
    const merged = mergeMspDefinitions([
      m.definition('Org1MSP'),
      again.definition,
      m.definition('Org2MSP'),
    ]);
    expect(Object.keys(merged).sort()).toEqual(['Org1MSP', 'Org2MSP']);
    // Org2's certificates under Org1's ID: another organisation claiming the ID.
    const impostor = await readMspFolder(path.join(m.orgDir(2), 'msp'), 'Org1MSP', false);
    expect(codeOf(() => mergeMspDefinitions([m.definition('Org1MSP'), impostor.definition]))).toBe(
      'GOV_E_DUPLICATE_MSP',
    );
  });
});

describe('configWrites / readGovConfig / consortiumOf', () => {
  it('round-trips and sets up every MSP', () => {
    const stored = new Map(configWrites(config).map((w) => [`${w.map}/${w.key}`, w.value]));
    const read = readGovConfig((map, key) => stored.get(`${map}/${key}`));
    expect(read).toEqual(config);
    expect(readGovConfig(() => undefined)).toBeUndefined();
    const consortium = consortiumOf(config);
    expect([...consortium.msps.keys()]).toEqual(['Org1MSP', 'Org2MSP', 'Org3MSP']);
  });

  it('set_msp with a new CRL: the revoked identity no longer validates in the next consortium', async () => {
    const userPem = await m.userPem(1);
    const before = consortiumOf(config).msps.get('Org1MSP');
    const identity = before?.deserializeIdentity('Org1MSP', userPem);
    expect(identity?.ok).toBe(true);
    if (identity?.ok !== true || before === undefined) throw new Error('unreachable');
    expect(before.validate(identity.identity).valid).toBe(true);

    await revokeCertificate({ orgDir: m.orgDir(1), certPem: userPem, now: new Date('2026-01-01') });
    const rotated = await readMspFolder(path.join(m.orgDir(1), 'msp'), 'Org1MSP', false);
    expect(rotated.definition.revocationList.length).toBeGreaterThan(0);

    const ledger = ledgerAt(config);
    const id = ledger.ok(caller('Org1MSP'), 'propose', {
      actions: [{ name: 'set_msp', args: { mspId: 'Org1MSP', definition: rotated.definition } }],
    })['proposalId'];
    expect(ledger.ok(caller('Org2MSP'), 'vote', { proposalId: id, ballot: 'yes' })['state']).toBe(
      'Accepted',
    );
    const after = consortiumOf(ledger.config()).msps.get('Org1MSP');
    if (after === undefined) throw new Error('Org1MSP missing');
    const again = after.deserializeIdentity('Org1MSP', userPem);
    const validation = again.ok ? after.validate(again.identity) : undefined;
    expect(again.ok && validation?.valid === false).toBe(true);
    if (validation !== undefined && !validation.valid)
      expect(validation.error.code).toBe('MSP_E_IDENTITY_REVOKED');
    // Org2's identities are untouched.
    const user2 = await m.userPem(2);
    const org2 = consortiumOf(ledger.config()).msps.get('Org2MSP');
    const id2 = org2?.deserializeIdentity('Org2MSP', user2);
    expect(id2?.ok === true && org2?.validate(id2.identity).valid).toBe(true);
  });
});

describe('applyActions', () => {
  const admit = (nodeId: string, mspId: string, codeId = codeA): GovAction => ({
    name: 'admit_node',
    args: { nodeId, mspId, codeId },
  });

  it("custody_policy leaves the configuration alone and asks for custody's apply_policy with the governance trigger; a malformed one is refused", () => {
    const walletId = 'ab'.repeat(32);
    const change = { kind: 'set_frozen', frozen: true };
    const applied = applyActions(config, [{ name: 'custody_policy', args: { walletId, change } }]);
    expect(applied.config).toEqual(config);
    expect(applied.calls).toEqual([
      { app: 'custody', action: 'apply_policy', args: { walletId, change } },
    ]);
    expect(
      codeOf(() =>
        applyActions(config, [{ name: 'custody_policy', args: { walletId: 'w1', change } }]),
      ),
    ).toBe('GOV_E_ACTION_INVALID actions[0].args.walletId');
  });

  it("set_evm leaves the configuration alone and asks for the evm app's set_params; a chain id out of range is refused", () => {
    const applied = applyActions(config, [{ name: 'set_evm', args: { chainId: 424242 } }]);
    expect(applied.config).toEqual(config);
    expect(applied.calls).toEqual([
      { app: 'evm', action: 'set_params', args: { chainId: 424242 } },
    ]);
    for (const chainId of [0, 2 ** 32, 1.5, '7']) {
      expect(codeOf(() => applyActions(config, [{ name: 'set_evm', args: { chainId } }]))).toBe(
        'GOV_E_ACTION_INVALID actions[0].args.chainId',
      );
    }
  });

  it('remove_msp is refused while the MSP is a member or has admitted nodes', () => {
    const withOrg4: GovConfig = applyActions(config, [
      { name: 'set_msp', args: { mspId: 'Org4MSP', definition: m.json('Org4MSP') } },
      { name: 'add_member', args: { mspId: 'Org4MSP' } },
      admit('org4-peer0', 'Org4MSP'),
    ]).config;
    const remove: GovAction = { name: 'remove_msp', args: { mspId: 'Org4MSP' } };
    expect(codeOf(() => applyActions(withOrg4, [remove]))).toBe(
      'GOV_E_MSP_IN_USE actions[0].args.mspId',
    );
    const noMember = applyActions(withOrg4, [
      { name: 'remove_member', args: { mspId: 'Org4MSP' } },
    ]);
    expect(codeOf(() => applyActions(noMember.config, [remove]))).toBe(
      'GOV_E_MSP_IN_USE actions[0].args.mspId',
    );
    const done = applyActions(withOrg4, [
      { name: 'remove_member', args: { mspId: 'Org4MSP' } },
      { name: 'retire_node', args: { nodeId: 'org4-peer0' } },
      remove,
    ]).config;
    expect(Object.keys(done.msps)).toEqual(['Org1MSP', 'Org2MSP', 'Org3MSP']);
    expect(done.nodes['org4-peer0']?.status).toBe('retired');
  });

  it('refuses unknown MSPs and nodes, disallowed code, the last member, node ids of another org', () => {
    expect(
      codeOf(() => applyActions(config, [{ name: 'add_member', args: { mspId: 'Org4MSP' } }])),
    ).toBe('GOV_E_UNKNOWN_MSP actions[0].args.mspId');
    expect(codeOf(() => applyActions(config, [admit('x', 'Org1MSP', codeB)]))).toBe(
      'GOV_E_CODE_NOT_ALLOWED actions[0].args.codeId',
    );
    expect(codeOf(() => applyActions(config, [admit('org1-peer0', 'Org2MSP')]))).toBe(
      'GOV_E_NODE_EXISTS actions[0].args.nodeId',
    );
    expect(
      codeOf(() => applyActions(config, [{ name: 'retire_node', args: { nodeId: 'nope' } }])),
    ).toBe('GOV_E_UNKNOWN_NODE actions[0].args.nodeId');
    const solo = checkGenesis({ msps: { Org1MSP: m.json('Org1MSP') }, members: ['Org1MSP'] });
    expect(
      codeOf(() => applyActions(solo, [{ name: 'remove_member', args: { mspId: 'Org1MSP' } }])),
    ).toBe('GOV_E_LAST_MEMBER actions[0].args.mspId');
    expect(
      codeOf(() =>
        applyActions(config, [
          { name: 'set_msp', args: { mspId: 'Org4MSP', definition: m.json('Org1MSP') } },
        ]),
      ),
    ).toBe('GOV_E_ACTION_INVALID actions[0].args.definition.mspId');
    expect(
      codeOf(() => applyActions(config, [{ name: 'set_settings', args: { proposalTtlMs: 5 } }])),
    ).toBe('GOV_E_ACTION_INVALID actions[0].args.proposalTtlMs');
  });

  it('all or nothing: a failing later action leaves the input configuration as it was', () => {
    const copy = structuredClone(config);
    expect(() =>
      applyActions(config, [
        { name: 'allow_code', args: { codeId: codeB } },
        { name: 'retire_node', args: { nodeId: 'missing' } },
      ]),
    ).toThrow();
    expect(config).toEqual(copy);
  });

  it('is deterministic, and applying again never changes the result (property)', () => {
    const ids = ['Org1MSP', 'Org2MSP', 'Org3MSP', 'Org4MSP'] as const;
    const action = fc.oneof(
      fc.constantFrom(...ids).map((mspId) => ({ name: 'add_member', args: { mspId } })),
      fc.constantFrom(...ids).map((mspId) => ({ name: 'remove_member', args: { mspId } })),
      fc.constantFrom(codeA, codeB).map((codeId) => ({ name: 'allow_code', args: { codeId } })),
      fc.constantFrom(codeA, codeB).map((codeId) => ({ name: 'disallow_code', args: { codeId } })),
      fc
        .tuple(
          fc.constantFrom('n1', 'n2', 'org1-peer0'),
          fc.constantFrom(...ids),
          fc.constantFrom(codeA, codeB),
        )
        .map(([nodeId, mspId, codeId]) => ({
          name: 'admit_node',
          args: { nodeId, mspId, codeId },
        })),
      fc
        .constantFrom('n1', 'org2-peer0')
        .map((nodeId) => ({ name: 'retire_node', args: { nodeId } })),
      fc
        .integer({ min: 1, max: 5000 })
        .map((n) => ({ name: 'set_settings', args: { signatureIntervalTx: n } })),
    );
    const base = applyActions(config, [
      { name: 'set_msp', args: { mspId: 'Org4MSP', definition: m.json('Org4MSP') } },
    ]).config;
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 8 }), (actions: GovAction[]) => {
        let once: GovConfig;
        try {
          once = applyActions(base, actions).config;
        } catch (error) {
          if (!isCofferError(error) || !error.code.startsWith('GOV_E_')) throw error;
          return;
        }
        // Deterministic: the same input gives the same configuration.
        expect(configWrites(applyActions(base, actions).config)).toEqual(configWrites(once));
        // Applying again changes nothing: the same configuration, or a refusal of the whole
        // list (a check of an early action may depend on a later one, e.g. admit_node with a
        // code the list then disallows), never a different configuration.
        let twice: GovConfig | undefined;
        try {
          twice = applyActions(once, actions).config;
        } catch (error) {
          if (!isCofferError(error) || !error.code.startsWith('GOV_E_')) throw error;
        }
        if (twice !== undefined) expect(configWrites(twice)).toEqual(configWrites(once));
        // Each action alone has set semantics: once applied, applying it again is a no-op.
        for (const single of actions) {
          let after: GovConfig;
          try {
            after = applyActions(base, [single]).config;
          } catch {
            continue;
          }
          expect(configWrites(applyActions(after, [single]).config)).toEqual(configWrites(after));
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('determinism of the gov app', () => {
  it('the same transactions give the same writes, byte for byte', () => {
    const script = (): string[] => {
      const ledger = ledgerAt(config);
      const out: string[] = [];
      const record = (outcome: ReturnType<typeof ledger.run>): void => {
        out.push(outcome.ok ? JSON.stringify(outcome.writeSet) : outcome.error.code);
      };
      const a = ledger.run(caller('Org1MSP'), 'propose', {
        actions: [{ name: 'allow_code', args: { codeId: codeB } }],
      });
      record(a);
      const id = a.ok ? a.result['proposalId'] : undefined;
      record(
        ledger.run(caller('Org2MSP', 'user', false), 'vote', { proposalId: id, ballot: 'yes' }),
      );
      record(ledger.run(caller('Org3MSP'), 'vote', { proposalId: id, ballot: 'no' }));
      record(ledger.run(caller('Org2MSP'), 'vote', { proposalId: id, ballot: 'yes' }));
      return out;
    };
    const first = script();
    expect(first).toHaveLength(4);
    expect(first[1]).toBe('GOV_E_NOT_ADMIN');
    expect(script()).toEqual(first);
  });
});

describe('install_app / remove_app', () => {
  it('installs and removes apps only through accepted proposals once the consortium governs', async () => {
    const bundle = JSON.parse(
      await readFile(path.join(import.meta.dirname, 'fixtures', 'hello.bundle.json'), 'utf8'),
    ) as Record<string, unknown>;
    const manifest = bundle['manifest'] as { name: string; endpoints: Record<string, unknown> };
    const [endpoint] = Object.keys(manifest.endpoints);
    if (endpoint === undefined) throw new Error('the fixture app has no endpoint');
    const solo = checkGenesis({ msps: { Org1MSP: m.json('Org1MSP') }, members: ['Org1MSP'] });
    // The real execution path (runCall: map ownership, invoke), from the genesis state.
    const h = createAppHarness({ extraApps: [governanceApp] });
    const genesisTx = h.store.begin();
    for (const write of configWrites(solo)) genesisTx.put(write.map, write.key, write.value);
    h.store.apply(genesisTx.writeSet(), 1);
    const admin = h.caller('Org1MSP', 'admin');
    // An admin's direct install is refused: the consortium governs its apps.
    const direct = h.install(bundle, admin);
    expect(direct.status === 'invalid' && direct.code).toBe('APP_E_FORBIDDEN');
    expect(direct.status === 'invalid' && direct.message).toMatch(/governance proposal/);
    const installed = h.call({
      app: 'gov',
      action: 'propose',
      caller: admin,
      args: { actions: [{ name: 'install_app', args: { bundle } }] },
    });
    expect(installed.status, JSON.stringify(installed)).toBe('committed');
    expect(installed.status === 'committed' && installed.result).toMatchObject({
      state: 'Accepted',
    });
    expect(JSON.parse(h.store.read('public:gov.apps', manifest.name) ?? 'null')).toMatchObject({
      version: '1.0.0',
    });
    expect(h.store.read('public:apps.installed', manifest.name)).toBeDefined();
    const removed = h.call({
      app: 'gov',
      action: 'propose',
      caller: admin,
      args: { actions: [{ name: 'remove_app', args: { name: manifest.name } }] },
    });
    expect(removed.status === 'committed' && removed.result).toMatchObject({ state: 'Accepted' });
    expect(h.store.read('public:apps.installed', manifest.name)).toBeUndefined();
    const gone = h.call({ app: manifest.name, action: endpoint, caller: admin, args: {} });
    expect(gone.status === 'invalid' && gone.code).toBe('TX_E_UNKNOWN_APP');
    // A bundle the sandbox refuses: the deciding transaction is invalid, nothing is kept.
    const refused = h.call({
      app: 'gov',
      action: 'propose',
      caller: admin,
      args: { actions: [{ name: 'install_app', args: { bundle: { format: 'nope' } } }] },
    });
    expect(refused.status === 'invalid' && refused.code).toBe('GOV_E_ACTION_INVALID');
  });
});
