// A consortium network as users run it: `coffer network up --nodes 3` (3 etcd members and 3
// Coffer nodes, real processes on loopback), clients of each organisation on their own node.
// Every node executes every batch itself: states and Merkle roots agree at every position,
// receipts from any node verify, a node killed with -9 catches up from etcd after a restart,
// and `coffer network down` leaves no process behind.
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/client/index.js';
import { clientAs, userMspDir } from '../support/clients.js';
import { parseReceipt, verifyReceipt } from '../../src/ledger/receipt.js';
import { createLedgerSecretFile, loadLedgerSecretFile } from '../../src/ledger/secret.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/ledger/snapshot.js';
import { evidenceDelayMs } from '../../src/node/snapshot-evidence.js';
import { createStoreFrom } from '../../src/ledger/store.js';
import { recentEntriesMax, statusEntriesMax } from '../../src/node/engine.js';
import { v8PoolSizeFor } from '../../src/node/runtime-flags.js';
import { runCoffer } from '../cli/run.js';
import {
  alive,
  consortiumMsps,
  converged,
  networkDown,
  networkFile,
  networkUp,
  startNodeProcess,
  withClient as withOrgClient,
  type TestNetwork,
} from './network-support.js';

let network: TestNetwork;
const withClient = <T>(org: number, use: (client: Client) => Promise<T>): Promise<T> =>
  withOrgClient(network, org, use);

beforeAll(async () => {
  network = await networkUp();
}, 120_000);

afterAll(async () => {
  await networkDown(network);
}, 60_000);

/** Org1's admin proposes `actions`, org2's votes yes: two of three members accept them. */
async function acceptedByOrgs1And2(actions: readonly object[]): Promise<void> {
  const adminOf = (org: number): Promise<Client> =>
    clientAs(
      path.join(network.dir, `client-org${org}.json`),
      userMspDir(path.join(network.dir, 'crypto'), org, 'Admin'),
      `Org${org}MSP`,
    );
  const admin1 = await adminOf(1);
  const admin2 = await adminOf(2);
  try {
    const proposed = await admin1.submit('gov', 'propose', { actions }, { wait: 'commit' });
    expect(proposed.result, JSON.stringify(proposed)).toMatchObject({ state: 'Open' });
    const voted = await admin2.submit(
      'gov',
      'vote',
      { proposalId: proposed.txId, ballot: 'yes' },
      { wait: 'commit' },
    );
    expect(voted.result).toMatchObject({ state: 'Accepted' });
  } finally {
    admin1.close();
    admin2.close();
  }
}

describe('coffer network (3 organisations, etcd ordering)', () => {
  it('runs an etcd member and a node per organisation, and refuses a second up', async () => {
    expect(network.file.nodes.map((node) => node.mspId)).toEqual(['Org1MSP', 'Org2MSP', 'Org3MSP']);
    expect(network.file.etcd).toHaveLength(3);
    for (const pid of [...network.file.nodes, ...network.file.etcd].map((item) => item.pid)) {
      expect(alive(pid)).toBe(true);
    }
    const again = await runCoffer(['network', 'up', '--nodes', '3', '--dir', network.dir]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('NETWORK_E_RUNNING');
  });

  it('orders writes from every organisation into one ledger: same state, same roots, receipts from any node verify', async () => {
    const txIds: string[] = [];
    for (let i = 0; i < 12; i += 1) {
      const org = (i % 3) + 1;
      const put = await withClient(org, (client) =>
        client.submit(
          'kv',
          'put',
          { map: i % 2 === 0 ? 'public:kv.net' : 'kv.private', key: `k${i}`, value: `v${i}` },
          { wait: 'commit' },
        ),
      );
      expect(put.status).toBe('Committed');
      txIds.push(put.txId);
    }
    const positions = await converged(network, [1, 2, 3]);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    expect(new Set(positions.map((item) => item.seqno)).size).toBe(1);
    // coffer status: every node, no lag, etcd with a leader, a signature entry.
    const status = await runCoffer(['status', '--dir', network.dir, '--json']);
    expect(status.code, status.stderr + status.stdout).toBe(0);
    const report = JSON.parse(status.stdout) as {
      healthy: boolean;
      nodes: {
        lag: number;
        status: {
          nodeId: string;
          ordering: { kind: string; leader?: { name: string } };
          lastSignature: { treeSize: number } | null;
          memory: { rssBytes: number; heapUsedBytes: number };
          mallocTuning: { tuned: boolean };
          v8PoolSize: number;
          v8Pretenuring: boolean;
          kept: { statuses: number; recentEntries: number; pending: number };
        };
      }[];
    };
    expect(report.healthy).toBe(true);
    expect(report.nodes.map((row) => row.status.nodeId)).toEqual([
      'org1-peer0',
      'org2-peer0',
      'org3-peer0',
    ]);
    for (const row of report.nodes) {
      expect(row.lag).toBe(0);
      expect(row.status.ordering.kind).toBe('etcd');
      expect(row.status.ordering.leader?.name).toMatch(/^etcd-org[123]$/);
      // Its memory, with glibc's allocator set (decision 0028).
      expect(row.status.memory.rssBytes).toBeGreaterThan(row.status.memory.heapUsedBytes);
      expect(row.status.mallocTuning.tuned).toBe(true);
      // Each node process re-executed itself with V8's pool sized for the machine (0030)…
      expect(row.status.v8PoolSize).toBe(v8PoolSizeFor(availableParallelism()));
      // …and with V8's allocation-site pretenuring off (0031).
      expect(row.status.v8Pretenuring).toBe(false);
      // What its engine keeps in memory: every node executed the transactions, within bounds.
      expect(row.status.kept.statuses).toBeGreaterThan(0);
      expect(row.status.kept.statuses).toBeLessThanOrEqual(statusEntriesMax);
      expect(row.status.kept.recentEntries).toBeGreaterThan(0);
      expect(row.status.kept.recentEntries).toBeLessThanOrEqual(recentEntriesMax);
    }
    const text = await runCoffer(['status', '--dir', network.dir]);
    expect(text.stdout).toMatch(
      /org2-peer0: applied seqno \d+ .* lag 0, healthy; etcd 3\/3 members up, leader etcd-org\d.*; RSS \d+ MB \(JavaScript heap \d+ MB\)/,
    );
    for (const org of [1, 2, 3]) {
      await withClient(org, async (client) => {
        expect(await client.state('public:kv.net', 'k10')).toBe('v10');
        expect(await client.query('kv', 'get', { map: 'kv.private', key: 'k11' })).toMatchObject({
          value: 'v11',
        });
        for (const txId of txIds) {
          expect((await client.status(txId)).status).toBe('Committed');
        }
      });
    }
    // A transaction submitted to Org1's node, its receipt from Org2's node and Org3's.
    const msps = await consortiumMsps(network);
    const [first] = txIds;
    if (first === undefined) throw new Error('no transaction');
    for (const org of [2, 3]) {
      let receipt: unknown;
      for (let i = 0; i < 100 && receipt === undefined; i += 1) {
        receipt = await withClient(org, (client) => client.receipt(first)).catch(() => undefined);
        if (receipt === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const check = verifyReceipt(parseReceipt(receipt), msps);
      expect(check.ok, check.ok ? '' : check.error.message).toBe(true);
    }
    // Once the peers have compared roots, a receipt carries every organisation's signature of
    // the same signature entry, and a verifier can demand all three.
    const deadline = Date.now() + 20_000;
    let signers: readonly string[] = [];
    while (signers.length < 3 && Date.now() < deadline) {
      const receipt = parseReceipt(await withClient(1, (client) => client.receipt(first)));
      const check = verifyReceipt(receipt, msps, { organisationsMin: 3 });
      signers = check.ok ? check.value.signers.map((signer) => signer.nodeId) : [];
      if (signers.length < 3) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect([...signers].sort()).toEqual(['org1-peer0', 'org2-peer0', 'org3-peer0']);
  });

  it('a node killed with -9 catches up from etcd after a restart, with the same root', async () => {
    const victim = network.file.nodes[1];
    if (victim?.pid === undefined) throw new Error('no node 2');
    process.kill(victim.pid, 'SIGKILL');
    while (alive(victim.pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    // The others keep ordering and executing meanwhile.
    const during: string[] = [];
    for (let i = 0; i < 6; i += 1) {
      const org = i % 2 === 0 ? 1 : 3;
      const put = await withClient(org, (client) =>
        client.submit(
          'kv',
          'put',
          { map: 'public:kv.net', key: `while${i}`, value: 'x' },
          {
            wait: 'commit',
          },
        ),
      );
      expect(put.status).toBe('Committed');
      during.push(put.txId);
    }
    await startNodeProcess(network, victim.config, 'warn');
    const positions = await converged(network, [1, 2, 3]);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    await withClient(2, async (client) => {
      for (const txId of during) expect((await client.status(txId)).status).toBe('Committed');
      expect(await client.state('public:kv.net', 'while5')).toBe('x');
    });
    // The restarted node orders writes too.
    const after = await withClient(2, (client) =>
      client.submit(
        'kv',
        'put',
        { map: 'public:kv.net', key: 'after', value: 'y' },
        {
          wait: 'commit',
        },
      ),
    );
    expect(after.status).toBe('Committed');
    const config = JSON.parse(await readFile(victim.config, 'utf8')) as {
      ordering: { kind: string };
    };
    expect(config.ordering.kind).toBe('etcd');
    // It stays up (the next test needs three nodes); afterAll stops it.
  }, 120_000);

  it('a node whose data directory is lost joins again from a committed snapshot of a peer, checked against signed roots', async () => {
    // The consortium commits to its state every 20 entries.
    await acceptedByOrgs1And2([{ name: 'set_settings', args: { snapshotIntervalTx: 20 } }]);
    const victim = network.file.nodes[1];
    const peer = network.file.nodes[0];
    if (victim === undefined || peer === undefined) throw new Error('no nodes 1 and 2');
    const dataDirOf = async (node: { config: string }): Promise<string> =>
      (JSON.parse(await readFile(node.config, 'utf8')) as { dataDir: string }).dataDir;
    const committedOf = async (node: { config: string }): Promise<string[]> =>
      (await readdir(path.join(await dataDirOf(node), 'snapshots')).catch(() => [])).filter(
        (name) => name.endsWith('.committed.snap'),
      );
    // Traffic past a commit point, and on after it (the entries after the snapshot, its
    // evidence entry among them, must be signed before a joining node can check it).
    for (let i = 0; i < 60 && (await committedOf(peer)).length === 0; i += 1) {
      await withClient(1 + (i % 3), (client) =>
        client.submit(
          'kv',
          'put',
          { map: 'public:kv.snap', key: `k${i}`, value: `v${i}` },
          {
            wait: 'commit',
          },
        ),
      );
    }
    expect(await committedOf(peer)).toHaveLength(1);
    // Its evidence entry comes with the first batch evidenceDelayMs after it, and a
    // later signature entry must sign that one: traffic for a while longer.
    const evidenceDue = Date.now() + evidenceDelayMs + 500;
    for (let i = 0; i < 3 || Date.now() < evidenceDue; i += 1) {
      await withClient(3, (client) =>
        client.submit(
          'kv',
          'put',
          { map: 'public:kv.snap', key: `after${i}`, value: 'x' },
          {
            wait: 'commit',
          },
        ),
      );
    }
    await converged(network, [1, 2, 3]);
    // Org1's node turns liar: it serves snapshots whose state was changed (each file is whole:
    // the digest in the header is recomputed). The joining node must refuse them and use
    // org3's.
    const secret = await loadLedgerSecretFile(
      (JSON.parse(await readFile(peer.config, 'utf8')) as { ledgerSecretFile: string })
        .ledgerSecretFile,
    );
    for (const forgedName of await committedOf(peer)) {
      const forgedFile = path.join(await dataDirOf(peer), 'snapshots', forgedName);
      const honest = decodeSnapshot(await readFile(forgedFile), secret);
      const maps = new Map<string, Map<string, string>>();
      for (const name of honest.store.maps()) maps.set(name, new Map(honest.store.entries(name)));
      maps.set('public:kv.net', new Map(maps.get('public:kv.net')).set('k0', 'forged'));
      await writeFile(
        forgedFile,
        encodeSnapshot({
          seqno: honest.seqno,
          store: createStoreFrom(honest.seqno, maps),
          extra: honest.extra,
          secret,
        }),
      );
    }
    // Org2's node loses its disk: killed, its data directory gone, started again.
    const running = network.restarted.find((child) => child.exitCode === null);
    const pid = running?.pid ?? victim.pid;
    if (pid === undefined) throw new Error('no pid for node 2');
    process.kill(pid, 'SIGKILL');
    while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    const dataDir = await dataDirOf(victim);
    await rm(dataDir, { recursive: true, force: true });
    const started = await startNodeProcess(network, victim.config, 'info');
    const record = JSON.parse(
      await readFile(path.join(dataDir, 'joined-from-snapshot.json'), 'utf8'),
    ) as { snapshotSeqno: number; peer: string; treeSize: number; signers: string[] };
    expect(record.snapshotSeqno).toBeGreaterThanOrEqual(20);
    expect(record.treeSize).toBeGreaterThan(record.snapshotSeqno);
    expect(record.signers.length).toBeGreaterThanOrEqual(2);
    expect(started.output()).toContain(`committed snapshot at seqno ${record.snapshotSeqno}`);
    expect(started.output()).toContain('NODE_E_SNAPSHOT_UNVERIFIED');
    expect(record.peer).toBe('org3-peer0');
    // Its ledger files start after the snapshot: it never executed the entries before it.
    const chunks = (await readdir(path.join(dataDir, 'ledger'))).sort();
    expect(chunks[0]).toBe(`ledger-${String(record.snapshotSeqno + 1).padStart(20, '0')}.chunk`);
    const positions = await converged(network, [1, 2, 3]);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    // Operators see it in `coffer status`.
    const status = await runCoffer(['status', '--dir', network.dir]);
    expect(status.stdout).toContain(`org2-peer0: applied seqno`);
    expect(status.stdout).toContain(
      `joined from org3-peer0's snapshot at seqno ${record.snapshotSeqno}`,
    );
    // State from before the snapshot (test 2's writes, in a public and a private map) is there,
    // and the node takes part: it orders a write, and its receipt verifies.
    await withClient(2, async (client) => {
      expect(await client.state('public:kv.net', 'k0')).toBe('v0');
      expect(await client.query('kv', 'get', { map: 'kv.private', key: 'k1' })).toMatchObject({
        value: 'v1',
      });
      const put = await client.submit(
        'kv',
        'put',
        { map: 'public:kv.snap', key: 'rejoined', value: 'y' },
        { wait: 'commit' },
      );
      expect(put.status).toBe('Committed');
      const msps = await consortiumMsps(network);
      let verified = false;
      for (let i = 0; i < 80 && !verified; i += 1) {
        const receipt = await client.receipt(put.txId).catch(() => undefined);
        verified = receipt !== undefined && verifyReceipt(parseReceipt(receipt), msps).ok;
        if (!verified) await new Promise((resolve) => setTimeout(resolve, 250));
      }
      expect(verified).toBe(true);
    });
    // Killed again, it restarts from its own files: the snapshot it joined from (or a later
    // one), ledger files that start after it, and a mirror that starts after its position.
    process.kill(started.child.pid ?? 0, 'SIGKILL');
    while (alive(started.child.pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    await startNodeProcess(network, victim.config, 'warn');
    await withClient(2, async (client) => {
      expect(await client.state('public:kv.snap', 'rejoined')).toBe('y');
      const put = await client.submit(
        'kv',
        'put',
        { map: 'public:kv.snap', key: 'restarted', value: 'z' },
        { wait: 'commit' },
      );
      expect(put.status).toBe('Committed');
    });
    const after = await converged(network, [1, 2, 3]);
    expect(new Set(after.map((item) => item.root)).size).toBe(1);
  }, 120_000);

  it('a node whose roots disagree with its peers stops with NODE_E_DIVERGED; the others carry on and name it', async () => {
    // Org3's node restarted with another ledger secret: its private-write ciphertexts, so its
    // entries and roots, differ from the others' (a misconfiguration standing in for a bug).
    const rogue = network.file.nodes[2];
    if (rogue?.pid === undefined) throw new Error('no node 3');
    process.kill(rogue.pid, 'SIGKILL');
    while (alive(rogue.pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    const secret = path.join(network.dir, 'rogue.secret');
    await createLedgerSecretFile(secret);
    const config = JSON.parse(await readFile(rogue.config, 'utf8')) as Record<string, unknown>;
    await writeFile(rogue.config, JSON.stringify({ ...config, ledgerSecretFile: secret }));
    await startNodeProcess(network, rogue.config, 'fatal');
    type Status = {
      health: { ok: boolean; reason?: string };
      peers: { nodeId: string; state: string }[];
    };
    const statusOf = (org: number): Promise<Status> =>
      withClient(org, async (client) => (await client.nodeStatus()) as unknown as Status);
    // Some writes, so that there are signature entries past the point the roots split.
    for (let i = 0; i < 3; i += 1) {
      await withClient(1, (client) =>
        client.submit(
          'kv',
          'put',
          { map: 'kv.private', key: `split${i}`, value: 's' },
          {
            wait: 'commit',
          },
        ),
      );
    }
    const deadline = Date.now() + 30_000;
    let rogueStatus = await statusOf(3);
    while (rogueStatus.health.ok && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      rogueStatus = await statusOf(3);
    }
    expect(rogueStatus.health.ok).toBe(false);
    expect(rogueStatus.health.reason).toMatch(/disagrees with 2 of 2 peers/);
    // It refuses writes, and still serves reads.
    await expect(
      withClient(3, (client) =>
        client.submit('kv', 'put', { map: 'public:kv.net', key: 'r', value: 'r' }),
      ),
    ).rejects.toMatchObject({ code: 'NODE_E_UNAVAILABLE' });
    expect(await withClient(3, (client) => client.state('public:kv.net', 'k10'))).toBe('v10');
    for (const org of [1, 2]) {
      const status = await statusOf(org);
      expect(status.health.ok).toBe(true);
      expect(status.peers.find((peer) => peer.nodeId === 'org3-peer0')?.state).toBe('diverges');
    }
    const healthy = await withClient(1, (client) =>
      client.submit(
        'kv',
        'put',
        { map: 'public:kv.net', key: 'still', value: 'ok' },
        {
          wait: 'commit',
        },
      ),
    );
    expect(healthy.status).toBe('Committed');
  }, 120_000);

  it('with two of three etcd members gone, nodes keep serving reads and say they cannot order writes; they recover by themselves', async () => {
    await withClient(2, (client) =>
      client.submit(
        'kv',
        'put',
        { map: 'public:kv.net', key: 'before', value: 'quorum' },
        {
          wait: 'commit',
        },
      ),
    );
    const current = await networkFile(network);
    const victims = current.etcd.slice(0, 2);
    for (const member of victims) {
      if (member.pid !== undefined) process.kill(member.pid, 'SIGKILL');
    }
    type Health = { health: { ok: boolean; reason?: string } };
    const deadline = Date.now() + 4000;
    let health = (await withClient(1, (client) => client.nodeStatus())) as unknown as Health;
    while (health.health.ok && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      health = (await withClient(1, (client) => client.nodeStatus())) as unknown as Health;
    }
    expect(health.health.ok).toBe(false);
    expect(health.health.reason).toMatch(/ordering unavailable/);
    // A write is refused with the code (or, if it slipped in while the health probe had not
    // yet noticed, it is not committed without a quorum).
    const attempt = await withClient(1, (client) =>
      client.submit('kv', 'put', { map: 'public:kv.net', key: 'noquorum', value: 'x' }),
    ).then(
      (result) => ({ ok: true as const, txId: result.txId }),
      (error: unknown) => ({ ok: false as const, code: (error as { code?: string }).code }),
    );
    if (attempt.ok) {
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const later = await withClient(1, (client) => client.status(attempt.txId));
      expect(later.status).not.toBe('Committed');
    } else {
      expect(attempt.code).toBe('NODE_E_UNAVAILABLE');
    }
    expect(await withClient(2, (client) => client.state('public:kv.net', 'before'))).toBe('quorum');
    // The supervisor starts the members again; the nodes order writes again by themselves.
    const until = Date.now() + 60_000;
    let committed = false;
    while (!committed && Date.now() < until) {
      try {
        const put = await withClient(2, (client) =>
          client.submit(
            'kv',
            'put',
            { map: 'public:kv.net', key: 'quorum', value: 'back' },
            {
              wait: 'commit',
            },
          ),
        );
        committed = put.status === 'Committed';
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
    expect(committed).toBe(true);
    const positions = await converged(network, [1, 2]);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    // Every running node says so itself: node 2 committed above, node 1's probe may lag behind
    // (a later test writes through node 1 at once; found when it met NODE_E_UNAVAILABLE).
    for (const org of [1, 2]) {
      const healthyBy = Date.now() + 30_000;
      let again = (await withClient(org, (client) => client.nodeStatus())) as unknown as Health;
      while (!again.health.ok && Date.now() < healthyBy) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        again = (await withClient(org, (client) => client.nodeStatus())) as unknown as Health;
      }
      expect(again.health, `node of org${org}`).toMatchObject({ ok: true });
    }
  }, 120_000);
  it("a node the consortium retires stops counting: peers mark it retired and receipts carry only admitted nodes' signatures", async () => {
    // Org3's node diverged above (rogue secret) and was halted: the consortium retires it.
    await acceptedByOrgs1And2([{ name: 'retire_node', args: { nodeId: 'org3-peer0' } }]);
    type Status = {
      admission?: { admitted: boolean };
      peers: { nodeId: string; retired?: boolean; state: string }[];
    };
    const deadline = Date.now() + 20_000;
    let status = (await withClient(1, (client) => client.nodeStatus())) as unknown as Status;
    while (
      status.peers.find((peer) => peer.nodeId === 'org3-peer0')?.retired !== true &&
      Date.now() < deadline
    ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      status = (await withClient(1, (client) => client.nodeStatus())) as unknown as Status;
    }
    expect(status.admission?.admitted).toBe(true);
    expect(status.peers.find((peer) => peer.nodeId === 'org3-peer0')?.retired).toBe(true);
    // New receipts carry the signatures of the nodes that still count, never org3's.
    const put = await withClient(1, (client) =>
      client.submit(
        'kv',
        'put',
        { map: 'public:kv.net', key: 'after-retire', value: 'x' },
        {
          wait: 'commit',
        },
      ),
    );
    const msps = await consortiumMsps(network);
    let signers: string[] = [];
    for (let i = 0; i < 80 && signers.length < 2; i += 1) {
      const receipt = await withClient(1, (client) => client.receipt(put.txId)).catch(
        () => undefined,
      );
      if (receipt !== undefined) {
        const check = verifyReceipt(parseReceipt(receipt), msps);
        signers = check.ok ? check.value.signers.map((signer) => signer.nodeId) : [];
      }
      if (signers.length < 2) await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect([...signers].sort()).toEqual(['org1-peer0', 'org2-peer0']);
  }, 60_000);
});
