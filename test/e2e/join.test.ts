// Issue 6's node admission end to end, with real processes: a running 3-organisation network
// (3 etcd members, 3 nodes) takes a fourth organisation. `coffer network add-org` makes its
// crypto material, adds its TLS CA to etcd's trust (members restarted one at a time), adds its
// etcd member and starts its node; then the members vote the organisation in, its node's join
// request lands, the members admit the node, and it takes part: it commits its organisation's
// transactions, holds the same ledger as the others, and the others compare roots with it.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFromProfile } from '../../src/cli/profile.js';
import type { Client } from '../../src/client/index.js';
import { parseReceipt, verifyReceipt } from '../../src/ledger/receipt.js';
import { mspDefinitionJson } from '../../src/governance/index.js';
import { identityFromMspFolder } from '../../src/client/index.js';
import { revokeCertificate } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, readMspFolder, type Msp } from '../../src/msp/index.js';
import { clientAs, userMspDir } from '../support/clients.js';
import { runCoffer } from '../cli/run.js';
import {
  converged,
  networkDown,
  networkFile,
  networkUp,
  sleep,
  withClient,
  type TestNetwork,
} from './network-support.js';

let network: TestNetwork;

beforeAll(async () => {
  network = await networkUp();
}, 120_000);

afterAll(async () => {
  await networkDown(network);
}, 60_000);

type Added = {
  event: 'added';
  ok: true;
  mspId: string;
  etcd: string;
  node: { nodeId: string; url: string; profile: string };
};

async function asAdmin<T>(org: number, use: (client: Client) => Promise<T>): Promise<T> {
  const client = await clientFromProfile(path.join(network.dir, `admin-org${org}.json`));
  try {
    return await use(client);
  } finally {
    client.close();
  }
}

/**
 * Proposed by org1's admin, then voted yes by `voters`' admins: the last ballot makes a strict
 * majority of the member organisations, and only the last.
 */
async function accepted(actions: readonly object[], voters: readonly number[]): Promise<void> {
  const proposed = await asAdmin(1, (admin) =>
    admin.submit('gov', 'propose', { actions }, { wait: 'commit' }),
  );
  expect(proposed.result, JSON.stringify(proposed)).toMatchObject({ state: 'Open' });
  for (const [index, org] of voters.entries()) {
    const voted = await asAdmin(org, (admin) =>
      admin.submit('gov', 'vote', { proposalId: proposed.txId, ballot: 'yes' }, { wait: 'commit' }),
    );
    const state = index === voters.length - 1 ? 'Accepted' : 'Open';
    expect(voted.result, JSON.stringify(voted)).toMatchObject({ state });
  }
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 120_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${String(last)}`);
    await sleep(250);
  }
}

describe('a new organisation joins a running network', () => {
  // No other traffic than the join's own transactions: once they are done the network is idle,
  // and the new node still catches up (no batch trails the last signature entry).
  it('add-org starts its etcd member and node; the members accept it, admit its node, and the node takes part', async () => {
    await joinOrg4();
  }, 300_000);

  async function joinOrg4(): Promise<void> {
    const add = await runCoffer(['network', 'add-org', '--dir', network.dir, '--json']);
    expect(add.code, add.stderr + add.stdout).toBe(0);
    const added = JSON.parse(add.stdout.trim().split('\n').at(-1) ?? '{}') as Added;
    expect(added).toMatchObject({ ok: true, mspId: 'Org4MSP', etcd: 'etcd-org4' });
    expect(added.node.nodeId).toBe('org4-peer0');
    const file = await networkFile(network);
    expect(file.etcd.map((member) => member.name)).toEqual([
      'etcd-org1',
      'etcd-org2',
      'etcd-org3',
      'etcd-org4',
    ]);
    expect(file.nodes.map((node) => node.nodeId)).toContain('org4-peer0');

    // Not a member when it started, its node could not join from a snapshot (peers serve them
    // to members only, decision 0027): it follows the log from position 1.
    await expect(
      access(path.join(network.dir, 'nodes', 'org4-peer0', 'data', 'joined-from-snapshot.json')),
    ).rejects.toMatchObject({ code: 'ENOENT' });

    // Not in the consortium yet: the others do not count it as a peer.
    const peersOf1 = async (): Promise<{ nodeId: string; state: string }[]> =>
      ((await withClient(network, 1, (client) => client.nodeStatus())) as { peers: [] }).peers;
    expect((await peersOf1()).map((peer) => peer.nodeId)).not.toContain('org4-peer0');

    // 1. The members accept the organisation (its MSP's verifying part; it becomes a member).
    const mspDir = path.join(
      network.dir,
      'crypto',
      'peerOrganizations',
      'org4.coffer.local',
      'msp',
    );
    const propose = await runCoffer([
      'gov',
      'propose',
      '--set-msp',
      `Org4MSP=${mspDir}`,
      '--add-member',
      'Org4MSP',
      '--profile',
      path.join(network.dir, 'admin-org1.json'),
      '--json',
    ]);
    expect(propose.code, propose.stderr + propose.stdout).toBe(0);
    const proposalId = (JSON.parse(propose.stdout) as { result: { proposalId: string } }).result
      .proposalId;
    const vote = await runCoffer([
      'gov',
      'vote',
      proposalId,
      'yes',
      '--profile',
      path.join(network.dir, 'admin-org2.json'),
      '--json',
    ]);
    expect(vote.code, vote.stderr + vote.stdout).toBe(0);
    expect(JSON.parse(vote.stdout)).toMatchObject({ result: { state: 'Accepted' } });

    // 2. Its node's join request lands (it is sent again until it does): code id and URL.
    type Join = { nodeId: string; codeId: string; url?: string; admitted: boolean };
    const join = await until('the join request of org4-peer0', async () => {
      const answer = (await withClient(network, 1, (client) =>
        client.query('gov', 'joins', {}),
      )) as {
        joins: Join[];
      };
      return answer.joins.find((item) => item.nodeId === 'org4-peer0');
    });
    expect(join).toMatchObject({ admitted: false, url: added.node.url });

    // Org4's own users reach their node now (its TLS CA is trusted), which refuses all but
    // governance requests until the consortium admits it.
    const refusal = await until('org4 reaching its own node', () =>
      asAdmin(4, (admin) =>
        admin.submit('kv', 'put', { map: 'public:kv.join', key: 'early', value: 'x' }).then(
          () => 'accepted',
          // A TLS refusal (not trusted yet) is retried; a Coffer error code is the answer.
          (error: unknown) => {
            const code = (error as { code?: string }).code;
            return code !== undefined && /^[A-Z]+_E_/.test(code) ? code : undefined;
          },
        ),
      ),
    );
    expect(refusal).toBe('NODE_E_NOT_ADMITTED');

    // 3. The members admit the node at the URL it gave: four members now, so three votes.
    await accepted(
      [
        {
          name: 'admit_node',
          args: { nodeId: 'org4-peer0', mspId: 'Org4MSP', codeId: join.codeId, url: join.url },
        },
      ],
      [2, 3],
    );
    await until('org4-peer0 admitted by its own view of the configuration', async () => {
      const status = (await withClient(network, 4, (client) => client.nodeStatus())) as {
        admission?: { admitted: boolean };
      };
      return status.admission?.admitted === true ? true : undefined;
    });

    // 4. It takes part: it commits its organisation's transactions, every node holds the same
    // ledger, the others compare roots with it, and its receipts carry all four organisations.
    const put = await withClient(network, 4, (client) =>
      client.submit(
        'kv',
        'put',
        { map: 'public:kv.join', key: 'org4', value: 'hello' },
        { wait: 'commit' },
      ),
    );
    expect(put.status).toBe('Committed');
    const positions = await converged(network, [1, 2, 3, 4], 60_000);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    const agreeing = await until('org1 agreeing with org4-peer0', async () => {
      const peer = (await peersOf1()).find((item) => item.nodeId === 'org4-peer0');
      return peer?.state === 'agrees' ? peer : undefined;
    });
    expect(agreeing.nodeId).toBe('org4-peer0');
    const msps = new Map<string, Msp>();
    for (const org of [1, 2, 3, 4]) {
      const loaded = await loadMspFolder(
        path.join(network.dir, 'crypto', 'peerOrganizations', `org${org}.coffer.local`, 'msp'),
        { mspId: `Org${org}MSP` },
      );
      if (!loaded.ok) throw loaded.error;
      msps.set(`Org${org}MSP`, loaded.msp);
    }
    const organisations = await until('a receipt signed by all four organisations', async () => {
      const receipt = await withClient(network, 4, (client) => client.receipt(put.txId));
      const check = verifyReceipt(parseReceipt(receipt), msps, { organisationsMin: 4 });
      return check.ok ? check.value.signers.map((signer) => signer.mspId) : undefined;
    });
    expect([...new Set(organisations)].sort()).toEqual([
      'Org1MSP',
      'Org2MSP',
      'Org3MSP',
      'Org4MSP',
    ]);
  }

  it('a new CRL accepted by proposal refuses the revoked admin on every node, the new one included: it can neither transact nor vote', async () => {
    const org3 = path.join(network.dir, 'crypto', 'peerOrganizations', 'org3.coffer.local');
    const admin3Msp = userMspDir(path.join(network.dir, 'crypto'), 3, 'Admin');
    const admin3 = await identityFromMspFolder(admin3Msp, 'Org3MSP');
    await revokeCertificate({ orgDir: org3, certPem: admin3.identity.certPem });
    const folder = await readMspFolder(path.join(org3, 'msp'), 'Org3MSP', false);
    // Four members: org1 proposes, org2 and org4 make three yes ballots.
    const proposed = await asAdmin(1, (admin) =>
      admin.submit(
        'gov',
        'propose',
        {
          actions: [
            {
              name: 'set_msp',
              args: { mspId: 'Org3MSP', definition: mspDefinitionJson(folder.definition) },
            },
          ],
        },
        { wait: 'commit' },
      ),
    );
    for (const org of [2, 4]) {
      await asAdmin(org, (admin) =>
        admin.submit(
          'gov',
          'vote',
          { proposalId: proposed.txId, ballot: 'yes' },
          { wait: 'commit' },
        ),
      );
    }
    const open = await asAdmin(1, (admin) =>
      admin.submit(
        'gov',
        'propose',
        { actions: [{ name: 'allow_code', args: { codeId: 'c'.repeat(64) } }] },
        { wait: 'commit' },
      ),
    );
    expect(open.result).toMatchObject({ state: 'Open' });
    await converged(network, [1, 2, 3, 4], 60_000);
    for (const org of [1, 2, 3, 4]) {
      // Org N's node over org N's TLS profile, signing as Org3's revoked admin.
      const revoked = await clientAs(
        path.join(network.dir, `client-org${org}.json`),
        admin3Msp,
        'Org3MSP',
      );
      try {
        await expect(
          revoked.submit('gov', 'vote', { proposalId: open.txId, ballot: 'yes' }),
        ).rejects.toMatchObject({ code: 'MSP_E_IDENTITY_REVOKED' });
        await expect(
          revoked.submit('kv', 'put', { map: 'public:kv.join', key: 'revoked', value: 'x' }),
        ).rejects.toMatchObject({ code: 'MSP_E_IDENTITY_REVOKED' });
      } finally {
        revoked.close();
      }
    }
  }, 120_000);

  it('down, then up again in the same folder: the four organisations go on from their data (etcd members keep their ports)', async () => {
    const before = await withClient(network, 1, (client) => client.position());
    const down = await runCoffer(['network', 'down', '--dir', network.dir]);
    expect(down.code, down.stderr).toBe(0);
    const up = await runCoffer(['network', 'up', '--dir', network.dir, '--json']);
    expect(up.code, up.stderr + up.stdout).toBe(0);
    const file = await networkFile(network);
    expect(file.nodes.map((node) => node.nodeId)).toHaveLength(4);
    expect(file.etcd.map((member) => member.name)).toHaveLength(4);
    const put = await withClient(network, 4, (client) =>
      client.submit(
        'kv',
        'put',
        { map: 'public:kv.join', key: 'again', value: 'v' },
        { wait: 'commit' },
      ),
    );
    expect(put.status).toBe('Committed');
    const positions = await converged(network, [1, 2, 3, 4], 60_000);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    expect(Number(positions[0]?.seqno)).toBeGreaterThan(Number(before.seqno));
    expect(await withClient(network, 1, (client) => client.state('public:kv.join', 'org4'))).toBe(
      'hello',
    );
  }, 180_000);
});
