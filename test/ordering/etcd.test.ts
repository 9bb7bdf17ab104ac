// The etcd OrderingLog on a real 3-member etcd cluster on 127.0.0.1, mutual TLS with
// cryptogen's TLS certificates (decision 0011): three nodes appending at once, restarts,
// kill -9 of etcd's leader, loss of quorum, retention with compaction and catch-up from a
// peer, and refusal of clients without a trusted certificate. Every process stops in afterAll.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  decodeMirrorRecord,
  encodeMirrorRecord,
  type MirrorEntry,
} from '../../src/ordering/etcd-mirror.js';
import {
  compactionTarget,
  retentionBase,
  shouldCompact,
} from '../../src/ordering/etcd-retention.js';
import {
  launchEtcdCluster,
  openEtcdLog,
  type EtcdLog,
  type EtcdLogOptions,
} from '../../src/ordering/index.js';
import type { NodeTls } from '../support/etcd-cluster.js';
import { startEtcdTestNetwork, type EtcdTestNetwork } from '../support/etcd-cluster.js';

let work: string;
let net: EtcdTestNetwork;
const opened = new Set<EtcdLog>();

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-etcd-'));
  net = await startEtcdTestNetwork(path.join(work, 'net'), 3);
}, 60_000);

afterAll(async () => {
  await Promise.allSettled([...opened].map((log) => log.close()));
  await net.cluster.stopAll();
  await rm(work, { recursive: true, force: true });
}, 60_000);

/** Short timings so failures show within seconds; retention off unless a test turns it on. */
const fast = {
  healthIntervalMs: 200,
  unavailableAfterMs: 1_000,
  callTimeoutMs: 1_000,
  appendTimeoutMs: 8_000,
  durablePublishIntervalMs: 200,
  retentionIntervalMs: 60_000,
  watchStallMs: 3_000,
} satisfies Partial<EtcdLogOptions>;

async function openNode(
  index: number,
  prefix: string,
  extra: Partial<EtcdLogOptions> = {},
): Promise<EtcdLog> {
  const node = net.nodes[index];
  if (node === undefined) throw new Error(`no node ${index}`);
  const log = await openEtcdLog({
    mirrorDir: path.join(work, prefix.slice(1), node.nodeId),
    endpoints: net.cluster.endpoints,
    tls: node.tls,
    prefix,
    nodeId: node.nodeId,
    retention: false,
    ...fast,
    ...extra,
  });
  opened.add(log);
  return log;
}

async function closeNode(log: EtcdLog): Promise<void> {
  await log.close();
  opened.delete(log);
}

async function waitFor(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
) {
  const until = performance.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (performance.now() > until)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A one-member etcd of organisation 1 with a 16 MiB quota, and a log on it whose retention runs
 * every 300 ms; `body` gets the log, which is closed (and the member stopped) after it.
 */
async function withSmallEtcd(
  name: string,
  options: { readonly maxRequestBytes?: number; readonly spaceCheckIntervalMs?: number },
  body: (log: EtcdLog) => Promise<void>,
): Promise<void> {
  const [memberTls] = net.memberTls;
  const [node] = net.nodes;
  if (memberTls === undefined || node === undefined) throw new Error('no organisation 1');
  const solo = await launchEtcdCluster({
    dir: path.join(work, name),
    members: [{ name: 'solo', ...memberTls }],
    caFile: net.caBundleFile,
    quotaBackendBytes: 16 * 1024 * 1024,
    ...(options.maxRequestBytes === undefined ? {} : { maxRequestBytes: options.maxRequestBytes }),
  });
  try {
    const log = await openEtcdLog({
      mirrorDir: path.join(work, `${name}-mirror`),
      endpoints: solo.endpoints,
      tls: node.tls,
      prefix: '/ns',
      nodeId: node.nodeId,
      ...fast,
      retentionIntervalMs: 300,
      retentionWindowMs: 10_000,
      durablePublishIntervalMs: 100,
      defragFreeBytesMin: 1024 * 1024,
      quotaBackendBytes: 16 * 1024 * 1024,
      spaceCheckIntervalMs: options.spaceCheckIntervalMs ?? 100,
    });
    opened.add(log);
    await body(log);
    await closeNode(log);
  } finally {
    await solo.stopAll();
  }
}

async function everything(log: EtcdLog): Promise<MirrorEntry[]> {
  const out: MirrorEntry[] = [];
  while (out.length < log.committedPosition())
    out.push(...(await log.readMirror(out.length + 1, 1024)));
  return out;
}

/** Every log holds the same batches at the same positions and revisions, consecutive from 1. */
async function expectSameMirrors(
  logs: readonly EtcdLog[],
  atLeast: number,
): Promise<MirrorEntry[]> {
  await waitFor(`${logs.length} mirrors at position ${atLeast}`, () =>
    logs.every((log) => log.committedPosition() >= atLeast),
  );
  const target = Math.max(...logs.map((log) => log.committedPosition()));
  await waitFor('mirrors to agree on the tail', () =>
    logs.every((log) => log.committedPosition() === target),
  );
  const all = await Promise.all(logs.map(everything));
  const first = all[0] ?? [];
  first.forEach((entry, i) => {
    expect(entry.position).toBe(i + 1);
    if (i > 0) expect(entry.revision).toBeGreaterThan(first[i - 1]?.revision ?? 0);
  });
  const view = (entries: MirrorEntry[]) =>
    entries.map(
      (entry) => `${entry.position}@${entry.revision}:${Buffer.from(entry.batch).toString('hex')}`,
    );
  for (const entries of all.slice(1)) expect(view(entries)).toEqual(view(first));
  return first;
}

function batchOf(tag: string, bytes = 256): Uint8Array {
  return Buffer.concat([Buffer.from(`${tag}|`), randomBytes(bytes)]);
}

/** Appends `count` batches, `concurrency` at a time; the positions and latencies it got. */
async function appendMany(log: EtcdLog, tag: string, count: number, concurrency = 8, bytes = 256) {
  const acked = new Map<number, Uint8Array>();
  const latencies: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const batch = batchOf(`${tag}-${next}`, bytes);
      next += 1;
      const started = performance.now();
      const position = await log.append(batch);
      latencies.push(performance.now() - started);
      expect(acked.has(position), `position ${position} acknowledged twice`).toBe(false);
      acked.set(position, batch);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { acked, latencies };
}

function expectAcked(
  entries: readonly MirrorEntry[],
  acked: ReadonlyMap<number, Uint8Array>,
): void {
  for (const [position, batch] of acked) {
    expect(
      Buffer.from(entries[position - 1]?.batch ?? []).equals(Buffer.from(batch)),
      `position ${position}`,
    ).toBe(true);
  }
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function rawClient(tls: Partial<NodeTls> & { caPem: string }): Etcd3 {
  return new Etcd3({
    hosts: [...net.cluster.endpoints],
    credentials: {
      rootCertificate: Buffer.from(tls.caPem),
      ...(tls.certPem === undefined ? {} : { certChain: Buffer.from(tls.certPem) }),
      ...(tls.keyPem === undefined ? {} : { privateKey: Buffer.from(tls.keyPem) }),
    },
    dialTimeout: 1_000,
  });
}

describe('etcd ordering log: pure parts', () => {
  it('mirror records carry the revision and refuse other formats', () => {
    const record = encodeMirrorRecord(2 ** 40 + 7, Buffer.from('batch'));
    const decoded = decodeMirrorRecord(record, 3);
    expect(decoded.ok && decoded.revision).toBe(2 ** 40 + 7);
    expect(decoded.ok && Buffer.from(decoded.batch).toString()).toBe('batch');
    const bad = Uint8Array.from(record);
    bad[0] = 9;
    const refused = decodeMirrorRecord(bad, 3);
    expect(!refused.ok && refused.error.code).toBe('ORDERING_E_ETCD_UNEXPECTED');
    expect(decodeMirrorRecord(new Uint8Array(4), 1).ok).toBe(false);
  });

  it('retention never compacts above what an active node still needs', () => {
    // A at position 5 (revision 20), B at 3 (revision 12): B resumes at 13 and holds 3 batches.
    const nodes = [
      { position: 5, revision: 20 },
      { position: 3, revision: 12 },
    ];
    expect(retentionBase(nodes, undefined)).toEqual({ revision: 13, position: 3 });
    // Compacted at 16 with 4 batches below: B (3 < 4) cannot resume from etcd and no longer counts.
    const record = { compactRevision: 16, position: 4, tombstoneRevision: 0 };
    expect(retentionBase(nodes, record)).toEqual({ revision: 21, position: 5 });
    // C holds exactly the 4 batches below 16 though its last one is at 15: it resumes at 16.
    expect(retentionBase([{ position: 4, revision: 15 }], record)).toEqual({
      revision: 16,
      position: 4,
    });
    expect(retentionBase([], record)).toBeUndefined();
    // Up to the first batch at or above the base, else to the current revision.
    expect(compactionTarget({ revision: 13, position: 3 }, 14, 30)).toEqual({
      revision: 14,
      position: 3,
    });
    expect(compactionTarget({ revision: 13, position: 3 }, undefined, 30)).toEqual({
      revision: 30,
      position: 3,
    });
    expect(compactionTarget({ revision: 31, position: 3 }, undefined, 30)).toBeUndefined();
    // Only when there is something to free, and only forwards.
    expect(shouldCompact({ revision: 30, position: 3 }, record, true)).toBe(true);
    expect(shouldCompact({ revision: 30, position: 3 }, record, false)).toBe(false);
    expect(
      shouldCompact({ revision: 30, position: 3 }, { ...record, tombstoneRevision: 18 }, false),
    ).toBe(true);
    expect(shouldCompact({ revision: 16, position: 4 }, record, true)).toBe(false);
  });
});

describe('etcd ordering log on a 3-member cluster', () => {
  let logs: EtcdLog[] = [];
  let total = 0;

  it('three nodes appending at once get consecutive positions and identical mirrors', async () => {
    logs = await Promise.all([0, 1, 2].map((i) => openNode(i, '/t1')));
    const started = performance.now();
    const results = await Promise.all(logs.map((log, i) => appendMany(log, `n${i}`, 60, 8)));
    const elapsedMs = performance.now() - started;
    total = 180;
    const positions = results.flatMap((result) => [...result.acked.keys()]).sort((a, b) => a - b);
    expect(positions).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    const entries = await expectSameMirrors(logs, total);
    for (const result of results) expectAcked(entries, result.acked);
    const latencies = results.flatMap((result) => result.latencies);
    process.stdout.write(
      `etcd log: ${total} appends (8 in flight per node, 3 nodes) in ${Math.round(elapsedMs)} ms = ${Math.round((total / elapsedMs) * 1000)} batches/s; latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms\n`,
    );
    const one = await appendMany(logs[0] as EtcdLog, 'solo', 30, 1);
    total += 30;
    process.stdout.write(
      `etcd log: one append at a time: p50 ${percentile(one.latencies, 50).toFixed(1)} ms, p99 ${percentile(one.latencies, 99).toFixed(1)} ms\n`,
    );
    const commits: number[] = [];
    const unsubscribe = logs[1]?.onCommit((position) => commits.push(position));
    await logs[2]?.append(batchOf('notify'));
    total += 1;
    await waitFor('a commit notification', () => commits.includes(total));
    unsubscribe?.();
    expect(logs.every((log) => log.health() === 'ok')).toBe(true);
  });

  it('a restarted node resumes from its mirror: nothing missed, nothing twice', async () => {
    const [a, b, c] = logs as [EtcdLog, EtcdLog, EtcdLog];
    await closeNode(b);
    await expect(b.append(batchOf('closed'))).rejects.toMatchObject({ code: 'ORDERING_E_CLOSED' });
    const more = await Promise.all([appendMany(a, 'ra', 20, 4), appendMany(c, 'rc', 20, 4)]);
    total += 40;
    const reopened = await openNode(1, '/t1');
    expect(reopened.committedPosition()).toBe(total - 40); // straight from its mirror
    logs = [a, reopened, c];
    const entries = await expectSameMirrors(logs, total);
    expect(entries).toHaveLength(total);
    for (const result of more) expectAcked(entries, result.acked);
    expect(await reopened.append(batchOf('after-restart'))).toBe(total + 1);
    total += 1;
    await expectSameMirrors(logs, total);
  });

  it('kill -9 of the etcd leader loses no acknowledged append; no quorum means unavailable', async () => {
    const leader = await net.cluster.leader();
    expect(leader).toBeDefined();
    const acked = new Map<number, Uint8Array>();
    const refused = new Map<string, number>();
    let running = true;
    const load = logs.map(async (log, i) => {
      for (let k = 0; running; k += 1) {
        const batch = batchOf(`kill-n${i}-${k}`);
        try {
          const position = await log.append(batch);
          expect(acked.has(position)).toBe(false);
          acked.set(position, batch);
        } catch (error) {
          const code = isCofferError(error) ? error.code : String(error);
          refused.set(code, (refused.get(code) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    });
    await waitFor('appends before the kill', () => acked.size >= 30);
    await net.cluster.kill(leader ?? '');
    const ackedAtKill = acked.size;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await net.cluster.start(leader ?? '');
    await net.cluster.waitHealthy();
    await waitFor('appends after the restart', () => acked.size >= ackedAtKill + 30);
    running = false;
    await Promise.all(load);
    expect(acked.size).toBeGreaterThan(60);
    const last = Math.max(...acked.keys());
    const entries = await expectSameMirrors(logs, last);
    expectAcked(entries, acked);
    total = entries.length;
    process.stdout.write(
      `etcd log: leader ${leader ?? '?'} killed: ${acked.size} appends acknowledged, refused: ${JSON.stringify(Object.fromEntries(refused))}\n`,
    );

    // Two of three members gone: no quorum. Reads work, appends are refused with a clear code.
    const [first, second] = net.memberNames as [string, string];
    await net.cluster.kill(first);
    await net.cluster.kill(second);
    await waitFor('every node to report etcd unavailable', () =>
      logs.every((log) => {
        const health = log.health();
        return health !== 'ok' && health.state === 'unavailable';
      }),
    );
    const health = logs[0]?.health();
    expect(health !== 'ok' && health?.error.code).toBe('ORDERING_E_UNAVAILABLE');
    await expect(logs[0]?.append(batchOf('no-quorum'))).rejects.toMatchObject({
      code: 'ORDERING_E_UNAVAILABLE',
    });
    expect(await logs[1]?.read(1, 5)).toHaveLength(5);
    await net.cluster.start(first);
    await net.cluster.start(second);
    await net.cluster.waitHealthy();
    await waitFor('every node to recover by itself', () =>
      logs.every((log) => log.health() === 'ok'),
    );
    const positions = await Promise.all(logs.map((log, i) => log.append(batchOf(`healed-${i}`))));
    total += 3;
    expect([...positions].sort((a, b) => a - b)).toEqual([total - 2, total - 1, total]);
    await expectSameMirrors(logs, total);
    await Promise.all(logs.map(closeNode));
  });

  it('retention deletes and compacts what all mirrored; a node away too long catches up from a peer', async () => {
    const retention = {
      retention: true,
      retentionWindowMs: 2_000,
      retentionIntervalMs: 300,
      durablePublishIntervalMs: 100,
      defragIntervalMs: 1,
      defragFreeBytesMin: 1,
    } satisfies Partial<EtcdLogOptions>;
    const [a, b, c] = (await Promise.all([0, 1, 2].map((i) => openNode(i, '/t4', retention)))) as [
      EtcdLog,
      EtcdLog,
      EtcdLog,
    ];
    const first = await Promise.all(
      [a, b, c].map((log, i) => appendMany(log, `r${i}`, 10, 4, 4096)),
    );
    await expectSameMirrors([a, b, c], 30);
    const raw = rawClient(net.nodes[0]?.tls ?? { caPem: '' });
    const batchKeys = async () =>
      Number(
        (
          await raw.kv.range({
            key: Buffer.from('/t4/batches/'),
            range_end: Buffer.from('/t4/batches0'),
            count_only: true,
          })
        ).count,
      );
    try {
      await waitFor(
        'retention to delete every mirrored batch key',
        async () => (await batchKeys()) === 0,
      );
      const status = await a.status();
      expect(status.retention?.position).toBe(30);
      expect(status.nodes.map((node) => node.position)).toEqual([30, 30, 30]);
      expect(status.leader?.name).toMatch(/^etcd[123]$/);
      expect(status.members.every((member) => member.ok)).toBe(true);
      // History below the compaction is gone from etcd, the batches live on in the mirrors.
      await expect(raw.kv.range({ key: Buffer.from('/t4/batches/'), revision: 2 })).rejects.toThrow(
        /compacted/,
      );
      expectAcked(await everything(c), first[2]?.acked ?? new Map());

      // C stays away longer than the window; A and B go on, and retention leaves C behind.
      await closeNode(c);
      await Promise.all([appendMany(a, 'ra', 10, 2), appendMany(b, 'rb', 10, 2)]);
      await waitFor(
        'retention to compact past the absent node',
        async () => ((await a.status()).retention?.position ?? 0) >= 50,
        10_000,
      );
      const back = await openNode(2, '/t4', retention);
      expect(back.committedPosition()).toBe(30);
      await waitFor('the returning node to report the gap', () => {
        const health = back.health();
        return health !== 'ok' && health.state === 'behind';
      });
      const behind = back.health();
      expect(behind !== 'ok' && behind.error.code).toBe('ORDERING_E_COMPACTED');
      expect(behind !== 'ok' && behind.error.details).toMatchObject({ position: 30 });
      expect(back.committedPosition()).toBe(30); // nothing skipped silently
      await expect(back.append(batchOf('behind'))).rejects.toMatchObject({
        code: 'ORDERING_E_COMPACTED',
      });

      const missing = await a.readMirror(31, 1024);
      await expect(back.installFromPeer(missing.slice(1))).rejects.toMatchObject({
        code: 'ORDERING_E_PEER_ENTRIES',
      });
      await expect(a.installFromPeer(missing)).rejects.toMatchObject({
        code: 'ORDERING_E_PEER_ENTRIES',
      });
      expect(await back.installFromPeer(missing)).toBe(30 + missing.length);
      await waitFor('the caught-up node to follow etcd again', () => back.health() === 'ok');
      const afterCatchUp = await back.append(batchOf('caught-up'));
      expect(afterCatchUp).toBeGreaterThan(50);
      await expectSameMirrors([a, b, back], afterCatchUp);
      await Promise.all([a, b, back].map(closeNode));
    } finally {
      raw.close();
    }
  });

  it('with retentionNodesMin, retention waits until a majority of nodes is active (a node still starting is not left behind)', async () => {
    const retention = {
      retention: true,
      retentionNodesMin: 2,
      retentionWindowMs: 2_000,
      retentionIntervalMs: 300,
      durablePublishIntervalMs: 100,
    } satisfies Partial<EtcdLogOptions>;
    const a = await openNode(0, '/t9', retention);
    await appendMany(a, 'alone', 10, 2);
    // Alone, A keeps every batch in etcd, however long it runs.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect((await a.runRetention()).deleted).toBe(0);
    expect((await a.status()).retention).toBeUndefined();
    // B starts late, reads everything from etcd (nothing was compacted), then retention runs.
    const b = await openNode(1, '/t9', retention);
    await expectSameMirrors([a, b], 10);
    expect(b.health()).toBe('ok');
    await waitFor(
      'retention to run once two nodes hold the batches',
      async () => ((await a.status()).retention?.position ?? 0) >= 10,
      10_000,
    );
    await Promise.all([a, b].map(closeNode));
  });

  it('etcd refuses clients without a certificate from a trusted organisation', async () => {
    const caPem = net.nodes[0]?.tls.caPem ?? '';
    for (const tls of [{ caPem }, net.outsider]) {
      const client = rawClient(tls);
      try {
        await expect(client.kv.range({ key: Buffer.from('/t1/batches/') })).rejects.toThrow(
          /certificate|handshake|UNAVAILABLE/i,
        );
      } finally {
        client.close();
      }
    }
    const outsider = await openEtcdLog({
      mirrorDir: path.join(work, 'outsider'),
      endpoints: net.cluster.endpoints,
      tls: net.outsider,
      prefix: '/t1',
      nodeId: 'outsider',
      retention: false,
      ...fast,
    });
    opened.add(outsider);
    await waitFor('the outsider to be refused', () => outsider.health() !== 'ok');
    await expect(outsider.append(batchOf('outsider'))).rejects.toMatchObject({
      code: 'ORDERING_E_UNAVAILABLE',
    });
    expect(outsider.committedPosition()).toBe(0);
    await closeNode(outsider);
    // A key that is not the certificate's is refused before any connection.
    await expect(
      openEtcdLog({
        mirrorDir: path.join(work, 'mismatch'),
        endpoints: net.cluster.endpoints,
        tls: { ...(net.nodes[0]?.tls ?? net.outsider), keyPem: net.outsider.keyPem },
        prefix: '/t1',
        nodeId: 'mismatch',
      }),
    ).rejects.toMatchObject({ code: 'ORDERING_E_CONFIG' });
  });
  it('limits: oversized batches, too many pending appends and bad options are refused', async () => {
    const log = await openNode(0, '/t5', { pendingAppendsMax: 4 });
    await expect(log.append(new Uint8Array(4 * 1024 * 1024 + 1))).rejects.toMatchObject({
      code: 'ORDERING_E_BATCH_TOO_LARGE',
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => log.append(batchOf(`burst-${i}`))),
    );
    const codes = outcomes.map((outcome) =>
      outcome.status === 'fulfilled'
        ? 'ok'
        : isCofferError(outcome.reason)
          ? outcome.reason.code
          : '?',
    );
    expect(codes.filter((code) => code === 'ok')).toHaveLength(4);
    expect(codes.filter((code) => code === 'ORDERING_E_BACKPRESSURE')).toHaveLength(8);
    await closeNode(log);
    const node = net.nodes[0];
    if (node === undefined) throw new Error('no node');
    const base = { mirrorDir: path.join(work, 'bad'), tls: node.tls, nodeId: 'x' };
    for (const [options, option] of [
      [{ ...base, endpoints: ['http://127.0.0.1:2379'], prefix: '/p' }, 'endpoints'],
      [{ ...base, endpoints: net.cluster.endpoints, prefix: '/p/' }, 'prefix'],
      [{ ...base, endpoints: net.cluster.endpoints, prefix: '/p', nodeId: 'a b' }, 'nodeId'],
      [
        { ...base, endpoints: net.cluster.endpoints, prefix: '/p', batchBytesMax: 8 * 1024 * 1024 },
        'batchBytesMax',
      ],
    ] as const) {
      await expect(openEtcdLog(options)).rejects.toMatchObject({
        code: 'ORDERING_E_CONFIG',
        details: { option },
      });
    }
  });

  it('a compaction made outside Coffer is read from the keys, and a frozen member under the watch is left', async () => {
    // A new prefix on a cluster that retention above already compacted: nodes start by
    // reading the (empty) compacted gap from the keys.
    const [a, b] = (await Promise.all([0, 1].map((i) => openNode(i, '/t6')))) as [EtcdLog, EtcdLog];
    expect(await a.append(batchOf('t6-first'))).toBe(1);
    await expectSameMirrors([a, b], 1);
    await closeNode(b);
    const more = await appendMany(a, 't6', 10, 2);
    const raw = rawClient(net.nodes[0]?.tls ?? net.outsider);
    try {
      // An operator's `etcdctl compact`: no retention record covers it.
      const current = await raw.kv.range({ key: Buffer.from('/t6/none') });
      await raw.kv.compact({ revision: current.header.revision });
    } finally {
      raw.close();
    }
    // A long append timeout: the frozen member may be under this node's watch as well, and
    // leaving it (watchStallMs) takes longer on a loaded machine.
    const back = await openNode(1, '/t6', { appendTimeoutMs: 20_000 });
    await waitFor(
      'the returning node to read the gap from the keys',
      () => back.committedPosition() === 11,
    );
    expect(back.health()).toBe('ok');
    expectAcked(await expectSameMirrors([a, back], 11), more.acked);

    // SIGSTOP the member a's watch uses: it answers nothing but keeps its sockets open.
    const watched = (await a.status()).watchEndpoint;
    const frozen = net.cluster.members.find((member) => member.clientUrl === watched);
    expect(frozen).toBeDefined();
    net.cluster.pause(frozen?.name ?? '');
    try {
      const position = await back.append(batchOf('while-frozen'));
      await waitFor(
        'the watch to leave the frozen member',
        () => a.committedPosition() >= position,
        20_000,
      );
      expect(await a.append(batchOf('after-move'))).toBe(position + 1);
      expect((await a.status()).watchEndpoint).not.toBe(watched);
    } finally {
      net.cluster.resume(frozen?.name ?? '');
    }
    await net.cluster.waitHealthy();
    await expectSameMirrors([a, back], 13);
    await Promise.all([a, back].map(closeNode));
  });

  it('an etcd with a small request limit or a full quota refuses appends with clear codes, and recovers by itself', async () => {
    // An etcd started without Coffer's request limit.
    await withSmallEtcd('solo', { maxRequestBytes: 2 * 1024 * 1024 }, async (log) => {
      await expect(log.append(new Uint8Array(3 * 1024 * 1024))).rejects.toMatchObject({
        code: 'ORDERING_E_BATCH_TOO_LARGE',
        message: expect.stringContaining('--max-request-bytes') as unknown,
      });
      // 1 MiB batches as fast as one writer can: faster than retention frees a 16 MiB quota.
      const big = new Uint8Array(1024 * 1024).fill(7);
      let refusal: unknown;
      const until = performance.now() + 20_000;
      while (refusal === undefined && performance.now() < until) {
        await log.append(big).catch((error: unknown) => {
          refusal = error;
        });
      }
      expect(refusal).toMatchObject({ code: 'ORDERING_E_ETCD_NOSPACE' });
      await waitFor('retention to free space and disarm the alarm', () => log.health() === 'ok');
      expect(await log.append(batchOf('after-nospace'))).toBeGreaterThan(1);
      expect((await log.status()).alarms).toEqual([]);
    });
  });

  it("a writer faster than the space checks is refused near the quota, before etcd's own NOSPACE alarm, and resumes once retention frees space", async () => {
    // At most one size reading in the test: only the estimate can stop the writer.
    await withSmallEtcd('solo-fast-writer', { spaceCheckIntervalMs: 60_000 }, async (log) => {
      const big = new Uint8Array(1024 * 1024).fill(9);
      let refusal: unknown;
      let appended = 0;
      while (refusal === undefined && appended < 40) {
        await log.append(big).then(
          () => {
            appended += 1;
          },
          (error: unknown) => {
            refusal = error;
          },
        );
      }
      expect(refusal).toMatchObject({
        code: 'ORDERING_E_ETCD_NOSPACE',
        message: expect.stringContaining('with the batches sent since it was read') as unknown,
      });
      // 80% of 16 MiB is 12.8 MiB, reached at 6.4 MiB sent (each byte counts twice, see
      // spaceGrowthPerByteSent): the writer stopped there, and etcd never raised its alarm.
      expect(appended).toBeGreaterThanOrEqual(5);
      expect(appended).toBeLessThanOrEqual(6);
      expect((await log.status()).alarms).toEqual([]);
      await waitFor('retention to free space', () => log.health() === 'ok');
      expect(await log.append(batchOf('after-estimate'))).toBeGreaterThan(appended);
    });
  });
});

describe('a new organisation joins a running etcd cluster', () => {
  it('once every member trusts its CA (reloadCa restarts them one by one), its member is added, and a client of that organisation orders through it', async () => {
    const dir = path.join(work, 'join');
    const small = await startEtcdTestNetwork(dir, 1);
    try {
      const org2Tls = path.join(
        dir,
        'crypto',
        'peerOrganizations',
        'org2.example.com',
        'peers',
        'etcd.org2.example.com',
        'tls',
      );
      // Org2's CA joins the bundle every member reads at start.
      const bundle = `${await readFile(small.caBundleFile, 'utf8')}${await readFile(path.join(org2Tls, 'ca.crt'), 'utf8')}`;
      await writeFile(small.caBundleFile, bundle);
      await small.cluster.reloadCa();
      const added = await small.cluster.addMember({
        name: 'etcd2',
        certFile: path.join(org2Tls, 'server.crt'),
        keyFile: path.join(org2Tls, 'server.key'),
      });
      expect(small.cluster.members.map((member) => member.name)).toEqual(['etcd1', 'etcd2']);
      expect(small.cluster.endpoints).toContain(added.clientUrl);
      const client = new Etcd3({
        hosts: [added.clientUrl],
        credentials: {
          rootCertificate: Buffer.from(bundle),
          certChain: Buffer.from(small.outsider.certPem),
          privateKey: Buffer.from(small.outsider.keyPem),
        },
      });
      try {
        const members = await client.cluster.memberList({});
        expect(members.members.map((member) => member.name).sort()).toEqual(['etcd1', 'etcd2']);
        await client.put('/join/probe').value('org2');
        expect(await client.get('/join/probe').string()).toBe('org2');
      } finally {
        client.close();
      }
      // Both members are voters: the cluster answers a quorum read through the first one too.
      await small.cluster.waitHealthy({ timeoutMs: 10_000 });
    } finally {
      await small.cluster.stopAll();
    }
  }, 90_000);
});
