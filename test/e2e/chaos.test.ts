// Issue 4's fault-tolerance run, with real processes: a 3-organisation network (3 etcd members,
// 3 Coffer nodes) under continuous load from every organisation, while Coffer nodes and etcd
// members (the leader included) are killed with -9 and started again, repeatedly, and one node
// is paused (SIGSTOP) longer than the retention window, so that etcd forgets batches it has not
// seen and it must catch up from a peer. Afterwards every acknowledged (Committed) transaction
// is committed on every node, all nodes hold the same ledger (same size and Merkle root, so the
// same root at every signature entry: the leaves are the same), and receipts from any node verify.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../../src/client/index.js';
import { parseReceipt, verifyReceipt } from '../../src/ledger/receipt.js';
import {
  converged,
  consortiumMsps,
  killHard,
  networkDown,
  networkFile,
  networkUp,
  sleep,
  startNodeProcess,
  withClient,
  type TestNetwork,
} from './network-support.js';

/** Short, so that a paused node falls out of it within the test (minimum 4 × 500 ms). */
const retentionWindowMs = 2000;

let network: TestNetwork;

beforeAll(async () => {
  network = await networkUp(['--retention-window-ms', String(retentionWindowMs)]);
}, 120_000);

afterAll(async () => {
  await networkDown(network);
}, 60_000);

type Load = {
  /** Transactions a node answered Committed for: acknowledged, so never to be lost. */
  readonly acknowledged: string[];
  readonly refused: Map<string, number>;
  readonly stop: () => Promise<void>;
};

/** One writer per organisation, each on its own node, until stop(). */
function startLoad(): Load {
  const acknowledged: string[] = [];
  const refused = new Map<string, number>();
  let running = true;
  const writer = async (org: number): Promise<void> => {
    let n = 0;
    while (running) {
      n += 1;
      try {
        await withClient(network, org, async (client: Client) => {
          const put = await client.submit(
            'kv',
            'put',
            { map: 'public:kv.chaos', key: `org${org}-${n}`, value: String(n) },
            { wait: 'commit' },
          );
          if (put.status === 'Committed') acknowledged.push(put.txId);
        });
      } catch (error) {
        const code = (error as { code?: string }).code ?? 'connection';
        refused.set(code, (refused.get(code) ?? 0) + 1);
        await sleep(100);
      }
    }
  };
  const writers = [1, 2, 3].map((org) => writer(org));
  return {
    acknowledged,
    refused,
    stop: async () => {
      running = false;
      await Promise.all(writers);
    },
  };
}

async function leaderName(): Promise<string | undefined> {
  for (const org of [1, 2, 3]) {
    try {
      const status = (await withClient(network, org, (client) => client.nodeStatus())) as {
        ordering?: { leader?: { name?: string } };
      };
      if (status.ordering?.leader?.name !== undefined) return status.ordering.leader.name;
    } catch {
      // that node is down: ask the next
    }
  }
  return undefined;
}

/** Waits until the supervisor has started `name` again (a new pid in network.json). */
async function etcdBack(name: string, oldPid: number | undefined): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const member = (await networkFile(network)).etcd.find((item) => item.name === name);
    if (member?.pid !== undefined && member.pid !== oldPid) return;
    if (Date.now() > deadline) throw new Error(`etcd member ${name} was not started again`);
    await sleep(250);
  }
}

type OrderingView = {
  ordering?: {
    retention?: { position: number };
    nodes?: { nodeId: string; position: number; active?: boolean }[];
  };
};

/** What the live nodes say and the warnings they logged: printed when the test gives up. */
async function postMortem(load: Load): Promise<string> {
  const lines = [
    `acknowledged ${load.acknowledged.length}, refused ${JSON.stringify([...load.refused])}`,
  ];
  for (const org of [1, 3]) {
    try {
      const status = (await withClient(network, org, (client) => client.nodeStatus())) as {
        health?: unknown;
        position?: unknown;
        ordering?: { mirror?: unknown; retention?: unknown; nodes?: unknown; errors?: unknown };
      };
      lines.push(
        `org${org}: ${JSON.stringify({
          health: status.health,
          position: status.position,
          mirror: status.ordering?.mirror,
          retention: status.ordering?.retention,
          nodes: status.ordering?.nodes,
          errors: status.ordering?.errors,
        })}`,
      );
    } catch (error) {
      lines.push(`org${org}: ${String(error)}`);
    }
  }
  const tail = async (file: string, keep: (line: string) => boolean): Promise<string> => {
    const text = await readFile(file, 'utf8').catch((error: unknown) => String(error));
    const kept = text.split('\n').filter((line) => line !== '' && keep(line));
    return kept
      .slice(-8)
      .map((line) => line.slice(0, 400))
      .join('\n  ');
  };
  for (const name of await readdir(path.join(network.dir, 'logs'))) {
    const warning = (line: string): boolean =>
      name === 'supervisor.log' || /"level":(40|50|60)/.test(line);
    lines.push(`${name}: ${await tail(path.join(network.dir, 'logs', name), warning)}`);
  }
  for (const name of await readdir(path.join(network.dir, 'etcd'))) {
    if (!name.endsWith('.log')) continue;
    const warning = (line: string): boolean => /"level":"(warn|error|fatal|panic)"/.test(line);
    lines.push(`${name}: ${await tail(path.join(network.dir, 'etcd', name), warning)}`);
  }
  return lines.join('\n');
}

/**
 * Waits until etcd's retention has deleted batches `nodeId` never mirrored (the retention
 * record's position is past the node's last published durable position), so that the node
 * cannot resume from etcd. Time alone does not guarantee it: on a slow machine the others may
 * not have ordered anything new while the node was away.
 */
async function retentionPassed(nodeId: string, load: Load): Promise<void> {
  const deadline = Date.now() + 120_000;
  let last = '';
  for (;;) {
    await sleep(retentionWindowMs);
    try {
      const status = (await withClient(network, 1, (client) =>
        client.nodeStatus(),
      )) as OrderingView;
      const away = status.ordering?.nodes?.find((item) => item.nodeId === nodeId);
      const retained = status.ordering?.retention?.position ?? 0;
      last = JSON.stringify({ away: away?.position, retained });
      if (away !== undefined && retained > away.position) return;
    } catch (error) {
      last = String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(`retention did not pass ${nodeId}: ${last}\n${await postMortem(load)}`);
    }
  }
}

describe('fault tolerance under load (3 etcd members, 3 nodes)', () => {
  it('loses no acknowledged transaction through kill -9 of nodes and etcd members (the leader too) and a pause past the retention window', async () => {
    const load = startLoad();
    try {
      await sleep(2000);
      for (let round = 0; round < 2; round += 1) {
        // A Coffer node, killed and started again (org1's, then org2's; org3's is paused below).
        const victim = network.file.nodes[round];
        if (victim === undefined) throw new Error('no such node');
        await killHard(victim.pid);
        await sleep(1000);
        await startNodeProcess(network, victim.config, 'warn');
        await sleep(1500);
        // etcd's leader, killed; the supervisor starts it again after 5 s.
        const leader = await leaderName();
        expect(leader, 'some node names the etcd leader').toBeDefined();
        const member = (await networkFile(network)).etcd.find((item) => item.name === leader);
        await killHard(member?.pid);
        await sleep(1500);
        await etcdBack(String(leader), member?.pid);
        // A follower member as well.
        const follower = (await networkFile(network)).etcd.find(
          (item) => item.name !== leader && item.pid !== undefined,
        );
        await killHard(follower?.pid);
        await etcdBack(String(follower?.name), follower?.pid);
        await sleep(1000);
      }
      // Org2's node (started again above) killed and kept away longer than the retention
      // window while the others go on: etcd forgets batches it never saw (retention deletes
      // and compacts what the active nodes hold), so it must catch up from a peer.
      const away = network.restarted.at(-1);
      const awayConfig = network.file.nodes[1]?.config;
      if (away === undefined || awayConfig === undefined) throw new Error('no org2 node');
      await killHard(away.pid);
      await retentionPassed('org2-peer0', load);
      const back = await startNodeProcess(network, awayConfig, 'info');
      const deadline = Date.now() + 60_000;
      while (!back.output().includes('catch-up: installed') && Date.now() < deadline) {
        await sleep(250);
      }
      expect(back.output(), 'the node away caught up from a peer').toContain('catch-up: installed');
      // Org3's node paused (SIGSTOP) past the retention window: whatever its etcd watch still
      // had buffered or must fetch from a peer, it comes back to the same ledger.
      const paused = network.file.nodes[2];
      if (paused?.pid === undefined) throw new Error('no node 3');
      process.kill(paused.pid, 'SIGSTOP');
      await sleep(retentionWindowMs * 4);
      process.kill(paused.pid, 'SIGCONT');
      await sleep(2000);
    } finally {
      await load.stop();
    }
    expect(load.acknowledged.length, JSON.stringify([...load.refused])).toBeGreaterThan(50);

    // Every node holds the same ledger.
    const positions = await converged(network, [1, 2, 3], 60_000);
    expect(new Set(positions.map((item) => item.root)).size).toBe(1);
    expect(new Set(positions.map((item) => item.seqno)).size).toBe(1);
    for (const org of [1, 2, 3]) {
      const status = (await withClient(network, org, (client) => client.nodeStatus())) as {
        health: { ok: boolean; reason?: string };
      };
      expect(status.health, `node ${org}`).toMatchObject({ ok: true });
    }
    // Every acknowledged transaction is committed on every node.
    for (const org of [1, 2, 3]) {
      await withClient(network, org, async (client) => {
        for (let i = 0; i < load.acknowledged.length; i += 25) {
          const chunk = load.acknowledged.slice(i, i + 25);
          const statuses = await Promise.all(chunk.map((txId) => client.status(txId)));
          const lost = statuses.filter((status) => status.status !== 'Committed');
          expect(lost, `node ${org}`).toEqual([]);
        }
      });
    }
    // Receipts from any node verify offline.
    const msps = await consortiumMsps(network);
    const sample = load.acknowledged.filter((_, index) => index % 97 === 0).slice(0, 6);
    for (const org of [1, 2, 3]) {
      await withClient(network, org, async (client) => {
        for (const txId of sample) {
          const receipt = parseReceipt(JSON.parse(JSON.stringify(await client.receipt(txId))));
          const check = verifyReceipt(receipt, msps);
          expect(check.ok, check.ok ? '' : check.error.message).toBe(true);
        }
      });
    }
  }, 300_000);
});
