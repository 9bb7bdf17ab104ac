// The custody app with real MSP identities and real governance: Fabric crypto material
// (cryptogen, NodeOUs on) for three organisations, callers built from their certificates as
// execution builds them (client, admin and peer roles from NodeOUs), the consortium's genesis in
// the store, and custody parameters changed by `set_custody` proposals through the gov app.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Caller } from '../../src/contracts/index.js';
import { createAppHarness } from '../../src/contracts/harness.js';
import { custodyApp, type WithdrawalRecord } from '../../src/custody/index.js';
import { configWrites, governanceApp, type GovConfig } from '../../src/governance/index.js';
import { callerOfIdentity } from '../../src/ledger/execute.js';
import { setupMsp } from '../../src/msp/index.js';
import { genesis, material, type Material } from '../governance/support.js';
import {
  cofferAddress,
  cofferTx,
  createDriver,
  keysArg,
  principal,
  walletKeys,
  type Driver,
} from './driver.js';
import { field, must } from './setup.js';

let m: Material;
let config: GovConfig;
const people = new Map<string, Caller>();

async function realCaller(n: number, kind: 'user' | 'admin' | 'peer'): Promise<Caller> {
  const mspId = `Org${n}MSP`;
  const domain = `org${n}.example.com`;
  const name = { user: `User1@${domain}`, admin: `Admin@${domain}`, peer: `peer0.${domain}` }[kind];
  const folder = kind === 'peer' ? 'peers' : 'users';
  const pem = await readFile(
    path.join(m.orgDir(n), folder, name, 'msp', 'signcerts', `${name}-cert.pem`),
    'utf8',
  );
  const setup = setupMsp(m.definition(mspId as 'Org1MSP'), { version: '3.0', now: new Date() });
  if (!setup.ok) throw setup.error;
  const outcome = setup.msp.deserializeIdentity(mspId, pem);
  if (!outcome.ok) throw outcome.error;
  const validation = setup.msp.validate(outcome.identity);
  if (!validation.valid) throw validation.error;
  return callerOfIdentity(setup.msp, outcome.identity, validation.role);
}

function person(name: string): Caller {
  const found = people.get(name);
  if (found === undefined) throw new Error(name);
  return found;
}

beforeAll(async () => {
  m = await material();
  config = genesis(m);
  for (const n of [1, 2, 3]) {
    people.set(`user${n}`, await realCaller(n, 'user'));
    people.set(`admin${n}`, await realCaller(n, 'admin'));
    people.set(`peer${n}`, await realCaller(n, 'peer'));
  }
}, 120_000);

function governed(): Driver {
  return createDriver({
    apps: [governanceApp],
    writes: configWrites(config).map((write) => ({ ...write })),
  });
}

/** set_custody proposed by Org1's admin, accepted by Org2's vote (majority of 3). */
function setCustody(driver: Driver, custody: Record<string, unknown>): void {
  const proposed = must(
    driver.run(
      person('admin1'),
      'propose',
      { actions: [{ name: 'set_custody', args: { custody } }] },
      { app: 'gov' },
    ),
  );
  const voted = must(
    driver.run(
      person('admin2'),
      'vote',
      { proposalId: proposed['proposalId'], ballot: 'yes' },
      { app: 'gov' },
    ),
  );
  expect(voted['state']).toBe('Accepted');
}

describe('custody with real identities and governance', () => {
  it('roles come from the certificates: User1 a client, Admin an admin, peer0 a peer', () => {
    expect(person('user1')).toMatchObject({ role: 'client', isAdmin: false });
    expect(person('admin2')).toMatchObject({ role: 'admin', isAdmin: true });
    expect(person('peer1')).toMatchObject({ role: 'peer', isAdmin: false });
  });

  it('parameters from set_custody proposals; a full withdrawal with distinct-orgs approvals', () => {
    const driver = governed();
    const defaults = field<Record<string, unknown>>(
      must(driver.query(undefined, 'params')),
      'params',
    );
    expect(defaults).toMatchObject({ policyQuorum: 2, approvalRule: 'distinct-admins' });

    const keys = walletKeys('P-256', 'real');
    // Admins do not own wallets (they approve); User1 of Org1 is the service.
    const byAdmin = driver.run(person('admin1'), 'create_wallet', {
      chain: 'coffer',
      keys: keysArg(keys, 'P-256'),
    });
    expect(!byAdmin.ok && byAdmin.code).toBe('CUSTODY_E_FORBIDDEN');
    const walletId = field(
      must(
        driver.run(person('user1'), 'create_wallet', {
          chain: 'coffer',
          keys: keysArg(keys, 'P-256'),
        }),
      ),
      'wallet',
      'id',
    );
    const address = cofferAddress('real deposit');
    must(driver.run(person('user1'), 'add_address', { walletId, address }));
    const deposit = { chain: 'coffer', chainTxId: 'real-1', outputIndex: 0 };
    // No worker is authorised until the consortium names one.
    const early = driver.run(person('peer1'), 'deposit_seen', {
      ...deposit,
      address,
      asset: 'COF',
      amount: '500',
      blockHeight: 1,
      blockHash: 'b1',
    });
    expect(!early.ok && early.code).toBe('CUSTODY_E_NOT_WORKER');

    setCustody(driver, {
      approvalRule: 'distinct-orgs',
      approverMsps: ['Org2MSP', 'Org3MSP'],
      chains: { coffer: { confirmations: 2, workers: [principal(person('peer1'))] } },
    });
    must(
      driver.run(person('peer1'), 'deposit_seen', {
        ...deposit,
        address,
        asset: 'COF',
        amount: '500',
        blockHeight: 1,
        blockHash: 'b1',
      }),
    );
    const credited = must(
      driver.run(person('peer1'), 'deposit_confirmations', { ...deposit, confirmations: 2 }),
    );
    expect(field(credited, 'deposit', 'state')).toBe('credited');

    const destination = cofferAddress('real destination');
    const changeId = field(
      must(
        driver.run(person('user1'), 'propose_policy', {
          walletId,
          change: { kind: 'whitelist_add', address: destination },
        }),
      ),
      'change',
      'id',
    );
    // Org1's admin is not among the approver MSPs now.
    const notApprover = driver.run(person('admin1'), 'approve_policy', { changeId });
    expect(!notApprover.ok && notApprover.code).toBe('CUSTODY_E_NOT_ADMIN');
    must(driver.run(person('admin2'), 'approve_policy', { changeId }));
    must(driver.run(person('admin3'), 'approve_policy', { changeId }));

    const requested = must(
      driver.run(person('user1'), 'request', {
        walletId,
        asset: 'COF',
        amount: '200',
        destination,
        idempotencyKey: 'real-1',
      }),
    );
    const id = field(requested, 'withdrawal', 'id');
    // No limits set for COF: every withdrawal needs the default k = 1 approval.
    expect(field(requested, 'withdrawal', 'state')).toBe('pending_approval');
    expect(field(requested, 'withdrawal', 'approvalRule')).toBe('distinct-orgs');
    const self = driver.run(person('user1'), 'approve', { withdrawalId: id });
    expect(!self.ok && self.code).toBe('CUSTODY_E_SELF_APPROVAL');
    const peer = driver.run(person('peer2'), 'approve', { withdrawalId: id });
    expect(!peer.ok && peer.code).toBe('CUSTODY_E_NOT_ADMIN');
    must(driver.run(person('admin3'), 'approve', { withdrawalId: id }));

    const tx = cofferTx(id);
    must(driver.run(person('peer1'), 'build', { withdrawalId: id, ...tx }));
    must(
      driver.run(person('user1'), 'service_sign', {
        withdrawalId: id,
        signatures: [keys.service.sign(tx.digests[0])],
      }),
    );
    must(
      driver.run(person('peer3'), 'platform_sign', {
        withdrawalId: id,
        signatures: [keys.platform.sign(tx.digests[0])],
      }),
    );
    must(driver.run(person('peer1'), 'broadcast', { withdrawalId: id, chainTxId: 'c-1' }));
    const confirmed = must(
      driver.run(person('peer1'), 'confirm', { withdrawalId: id, blockHeight: 9, blockHash: 'b9' }),
    );
    expect(field<WithdrawalRecord>(confirmed, 'withdrawal').state).toBe('confirmed');
    const balances = field<Record<string, string>[]>(
      must(driver.query(person('user1'), 'balances', { walletId })),
      'balances',
    );
    expect(balances).toEqual([
      { asset: 'COF', total: '300', reserved: '0', deficit: '0', available: '300' },
    ]);
  });

  it('a set_custody proposal custody could not use is refused when proposed, naming the field', () => {
    const driver = governed();
    const before = driver.snapshot();
    for (const custody of [
      { policyQuorum: 0 },
      { approvalRule: 'anyone' },
      { chains: { coffer: { confirmations: -1 } } },
      { unknownField: true },
    ]) {
      const proposed = driver.run(
        person('admin1'),
        'propose',
        { actions: [{ name: 'set_custody', args: { custody } }] },
        { app: 'gov' },
      );
      expect(!proposed.ok && proposed.code, JSON.stringify(custody)).toBe('GOV_E_ACTION_INVALID');
      expect(!proposed.ok && proposed.message).toContain('args.actions[0].args.custody');
    }
    expect(driver.snapshot()).toBe(before);
    const params = field<Record<string, unknown>>(
      must(driver.query(undefined, 'params')),
      'params',
    );
    expect(params['policyQuorum']).toBe(2);
  });

  it('parameters custody cannot use (written around governance) stop every custody action until fixed', () => {
    const driver = governed();
    // Governance refuses such a proposal; the custody app still fails closed on whatever the
    // store holds (a ledger written by an older version, say).
    driver.setParams({ policyQuorum: 0 });
    const keys = walletKeys('P-256', 'bad-params');
    const refused = driver.run(person('user1'), 'create_wallet', {
      chain: 'coffer',
      keys: keysArg(keys, 'P-256'),
    });
    expect(!refused.ok && refused.code).toBe('CUSTODY_E_PARAMS_INVALID');
    expect(!refused.ok && refused.message).toContain('custody.policyQuorum');
    const query = driver.query(undefined, 'params');
    expect(!query.ok && query.code).toBe('CUSTODY_E_PARAMS_INVALID');
    setCustody(driver, { policyQuorum: 3 });
    const created = driver.run(person('user1'), 'create_wallet', {
      chain: 'coffer',
      keys: keysArg(keys, 'P-256'),
    });
    expect(created.ok).toBe(true);
  });

  it('runs through the contracts harness (runCall: map ownership, write sets) as an extra app', () => {
    const harness = createAppHarness({ extraApps: [custodyApp] });
    const svc = harness.caller('Org1MSP', 'client', 'svc');
    const outcome = harness.call({
      app: 'custody',
      action: 'create_wallet',
      args: { chain: 'coffer', keys: keysArg(walletKeys('P-256', 'harness'), 'P-256') },
      caller: svc,
    });
    expect(outcome.status).toBe('committed');
    const maps =
      outcome.status === 'committed' ? [...new Set(outcome.writeSet.map((w) => w.map))] : [];
    expect(maps.sort()).toEqual([
      'custody.history',
      'custody.index',
      'custody.policies',
      'public:custody.wallets',
    ]);
    const walletId =
      outcome.status === 'committed' ? field(outcome.result as never, 'wallet', 'id') : '';
    const wallets = harness.query('custody', 'wallets', {}, svc);
    expect(
      wallets.status === 'committed' && field<unknown[]>(wallets.result as never, 'wallets'),
    ).toHaveLength(1);
    expect(harness.query('custody', 'wallet', { walletId }).status).toBe('committed');
  });
});
