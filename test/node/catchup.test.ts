// Catch-up from a peer, in-process: node A serves its batches and ledger entries; the check a
// behind node runs before installing anything accepts them only when they extend its own tree
// to a root enough organisations signed and record exactly the batches' transactions. Then
// executing the checked batches gives the signed root (the e2e test does it over etcd).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import { builtInApps } from '../../src/contracts/index.js';
import { createLedgerSecretFile } from '../../src/ledger/secret.js';
import { decodeBatch, encodeBatch, envelopeFromJson } from '../../src/ledger/tx.js';
import { openEmbeddedLog, type MirrorEntry, type OrderingLog } from '../../src/ordering/index.js';
import {
  checkCatchUp,
  serveCatchUp,
  type CatchUpAnswer,
  type CatchUpCheckInput,
} from '../../src/node/catchup.js';
import { startEngine, type Engine, type EngineOptions } from '../../src/node/engine.js';
import { evidenceDelayMs, evidenceOf } from '../../src/node/snapshot-evidence.js';
import { org1Material, type Org1 } from '../support/org1.js';

let work: string;
let org1: Org1;
let serving: Engine;
let servingLog: OrderingLog;

/** The embedded log as a mirror: revision = position (what etcd's mirror adds). */
const mirrorOf = (log: OrderingLog) => ({
  readMirror: async (from: number, max: number): Promise<readonly MirrorEntry[]> =>
    (await log.read(from, max)).map((entry) => ({ ...entry, revision: entry.position + 100 })),
});

async function startNode(
  dir: string,
  onLog?: (log: OrderingLog) => void,
  options: Partial<Pick<EngineOptions, 'snapshotIntervalTx' | 'now'>> = {},
): Promise<Engine> {
  return startEngine({
    ...options,
    dataDir: path.join(work, dir),
    nodeId: dir,
    consortium: () => org1.consortium,
    apps: builtInApps(),
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 5,
    signatureIntervalMs: 1_000_000,
    // One network, one ledger secret: private ciphertexts, hence entries and roots, agree.
    ledgerSecretFile: path.join(work, 'ledger.secret'),
    openLog: async (logDir, logger) => {
      const log = await openEmbeddedLog(logDir, { logger });
      onLog?.(log);
      return log;
    },
  });
}

async function put(engine: Engine, key: string): Promise<void> {
  const { envelope } = await signEnvelope({
    app: 'kv',
    action: 'put',
    args: { map: 'public:kv.c', key, value: key },
    identity: org1.user.identity,
    signer: org1.user.signer,
  });
  const submitted = await engine.submit(envelope);
  if (!submitted.ok) throw submitted.error;
  await engine.waitFor(submitted.txId, 5000);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-catchup-'));
  org1 = await org1Material(work);
  await createLedgerSecretFile(path.join(work, 'ledger.secret'));
  serving = await startNode('a', (log) => {
    servingLog = log;
  });
  // 23 transactions one batch each: markers after 5, 10, 15, 20 entries (then 6 markers' worth).
  for (let i = 0; i < 23; i += 1) await put(serving, `k${i}`);
  await serving.idle();
}, 60_000);

afterAll(async () => {
  await serving.stop();
  await rm(work, { recursive: true, force: true });
});

async function inputFor(
  answer: CatchUpAnswer,
  from: { fromPosition: number; treeSize: number; frontier: Uint8Array[] },
  signer: Engine = serving,
): Promise<CatchUpCheckInput> {
  const signed = await signer.signedRootAt(answer.upToTreeSize);
  return {
    answer,
    ...from,
    signedRoots: signed === undefined ? [] : [signed],
    msps: org1.consortium.msps,
    organisationsMin: 1,
  };
}

const empty = { fromPosition: 1, treeSize: 0, frontier: [] };

describe('catch-up from a peer', () => {
  it('serves batches and entries up to a signature entry; they check against the signed root', async () => {
    const answer = await serveCatchUp(serving, mirrorOf(servingLog), 1, 0);
    // The cut is at a marker: its tree size is the size the marker signed.
    expect(await serving.signedRootAt(answer.upToTreeSize)).toBeDefined();
    expect(answer.leaves.length).toBe(answer.upToTreeSize);
    const checked = checkCatchUp(await inputFor(answer, empty));
    expect(checked.ok, checked.ok ? '' : checked.error.message).toBe(true);
    if (!checked.ok) return;
    expect(checked.value.root).toBe(serving.rootAt(answer.upToTreeSize));
    expect(checked.value.signers).toEqual(['a']);
    expect(checked.value.entries.map((entry) => entry.position)).toEqual(
      answer.batches.map((_, index) => index + 1),
    );
  });

  it('executing the checked batches gives the root that was signed', async () => {
    let log: OrderingLog | undefined;
    const behind = await startNode('b', (opened) => {
      log = opened;
    });
    try {
      let fromPosition = 1;
      for (;;) {
        const { seqno } = behind.position();
        const answer = await serveCatchUp(serving, mirrorOf(servingLog), fromPosition, seqno);
        const checked = checkCatchUp(
          await inputFor(answer, {
            fromPosition,
            treeSize: seqno,
            frontier: behind.frontier(seqno),
          }),
        );
        if (!checked.ok) throw checked.error;
        for (const entry of checked.value.entries) await log?.append(entry.batch);
        await behind.idle();
        expect(behind.rootAt(checked.value.upToTreeSize)).toBe(checked.value.root);
        fromPosition += checked.value.entries.length;
        if (fromPosition > servingLog.committedPosition()) break;
        // The last batches are not followed by a marker yet: nothing more to serve.
        if (serving.lastSignedRoot()?.treeSize === checked.value.upToTreeSize) break;
      }
      expect(behind.store().read('public:kv.c', 'k19')).toBe('k19');
    } finally {
      await behind.stop();
    }
  });

  it('refuses entries that do not lead to the signed root, and installs nothing', async () => {
    const answer = await serveCatchUp(serving, mirrorOf(servingLog), 1, 0);
    // One leaf changed (its envelope re-signed would still change the root).
    const leaves = [...answer.leaves];
    const leaf = Buffer.from(leaves[0] ?? '', 'base64').toString('utf8');
    leaves[0] = Buffer.from(leaf.replace('"committed"', '"invalid"')).toString('base64');
    const changed = checkCatchUp(await inputFor({ ...answer, leaves }, empty));
    expect(changed.ok).toBe(false);
    if (!changed.ok) expect(changed.error.code).toBe('NODE_E_CATCHUP_REFUSED');
    // Entries that do not start where this node's tree ends.
    const shifted = checkCatchUp(
      await inputFor(answer, { fromPosition: 1, treeSize: 0, frontier: serving.frontier(1) }),
    );
    expect(shifted.ok).toBe(false);
  });

  it('refuses a root too few organisations signed', async () => {
    const answer = await serveCatchUp(serving, mirrorOf(servingLog), 1, 0);
    const input = await inputFor(answer, empty);
    const unsigned = checkCatchUp({ ...input, signedRoots: [] });
    expect(unsigned.ok).toBe(false);
    if (!unsigned.ok) expect(unsigned.error.message).toMatch(/signed by 0 organisation/);
    // Two signatures of the same organisation count once.
    const twice = checkCatchUp({
      ...input,
      signedRoots: [...input.signedRoots, ...input.signedRoots.map((s) => ({ ...s, nodeId: 'x' }))],
      organisationsMin: 2,
    });
    expect(twice.ok).toBe(false);
    // A signature that does not verify does not count.
    const forged = checkCatchUp({
      ...input,
      signedRoots: input.signedRoots.map((s) => ({ ...s, signedAt: s.signedAt + 1 })),
    });
    expect(forged.ok).toBe(false);
  });

  it('does not count a root signed by a node the consortium no longer counts (retired)', async () => {
    const answer = await serveCatchUp(serving, mirrorOf(servingLog), 1, 0);
    const input = await inputFor(answer, empty);
    expect(checkCatchUp(input).ok).toBe(true);
    const retired = checkCatchUp({ ...input, countsAsNode: (signed) => signed.nodeId !== 'a' });
    expect(retired.ok).toBe(false);
    if (!retired.ok) expect(retired.error.message).toMatch(/signed by 0 organisation/);
  });

  it('refuses batches whose transactions are not the ones the signed entries record', async () => {
    const answer = await serveCatchUp(serving, mirrorOf(servingLog), 1, 0);
    const [first, second, ...rest] = answer.batches;
    if (first === undefined || second === undefined) throw new Error('two batches at least');
    // The same transactions in another order: the leaves (and root) are right, the batches not.
    const swapped = [{ ...first, batch: second.batch }, { ...second, batch: first.batch }, ...rest];
    const reordered = checkCatchUp(await inputFor({ ...answer, batches: swapped }, empty));
    expect(reordered.ok).toBe(false);
    if (!reordered.ok) expect(reordered.error.message).toMatch(/does not record the batches/);
    // A batch dropped: positions no longer consecutive.
    const dropped = checkCatchUp(await inputFor({ ...answer, batches: [first, ...rest] }, empty));
    expect(dropped.ok).toBe(false);
    // A batch emptied of its transaction.
    const decoded = decodeBatch(Buffer.from(first.batch, 'base64'));
    expect(decoded.envelopes.map((raw) => envelopeFromJson(raw))).toHaveLength(1);
    const emptied = Buffer.from(encodeBatch({ time: decoded.time, envelopes: [] })).toString(
      'base64',
    );
    const shorter = checkCatchUp(
      await inputFor(
        { ...answer, batches: [{ ...first, batch: emptied }, second, ...rest] },
        empty,
      ),
    );
    expect(shorter.ok).toBe(false);
  });

  it('an empty batch after a signature entry gets its own, so no batch trails the last one', async () => {
    // Up to the next marker (every 5 entries): the tree then ends with a signature entry.
    while (serving.position().seqno !== serving.position().lastSignedTreeSize + 1) {
      await put(serving, `fill${serving.position().seqno}`);
    }
    await serving.idle();
    const before = serving.position();
    // What a second idle node's empty batch looks like when the first one's made the marker.
    await servingLog.append(encodeBatch({ time: before.time + 1, envelopes: [] }));
    await serving.idle();
    const after = serving.position();
    expect(after.logPosition).toBe(before.logPosition + 1);
    expect(after.seqno, 'one signature entry for the empty batch').toBe(before.seqno + 1);
    expect(after.lastSignedTreeSize).toBe(before.seqno);
    // A node that has everything up to the marker before it can now be served the empty batch,
    // and it checks against the new signed root.
    const answer = await serveCatchUp(
      serving,
      mirrorOf(servingLog),
      before.logPosition + 1,
      before.seqno,
    );
    expect(answer.batches).toHaveLength(1);
    expect(answer.upToTreeSize).toBe(before.seqno);
    const checked = checkCatchUp(
      await inputFor(answer, {
        fromPosition: before.logPosition + 1,
        treeSize: before.seqno,
        frontier: serving.frontier(before.seqno),
      }),
    );
    expect(checked.ok, checked.ok ? '' : checked.error.message).toBe(true);
    // Nothing more follows: an idle engine appends only while entries are unsigned.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(serving.position().seqno).toBe(after.seqno);
  });

  it('serves a node joining from a commit point through its evidence entry and an entry that signs it', async () => {
    let clock = Date.now();
    let log: OrderingLog | undefined;
    const node = await startNode(
      'evidence',
      (opened) => {
        log = opened;
      },
      { snapshotIntervalTx: 10, now: () => clock },
    );
    try {
      for (let i = 0; i < 12; i += 1) await put(node, `e${i}`);
      await node.idle();
      // Markers every 5 entries: 6 and 12 (the first batch signed at once, then 5 more).
      // The one at or after 10 is the commit point; its evidence is due evidenceDelayMs later.
      const markers = new Map<number, number>();
      for await (const entry of node.entriesFrom(1)) {
        if (entry.kind === 'signature') markers.set(entry.seqno, entry.logPosition ?? 0);
      }
      const [commitPoint, position] = [...markers].find(([seqno]) => seqno >= 10) ?? [0, 0];
      expect(commitPoint).toBeGreaterThan(0);
      const served = mirrorOf(log as OrderingLog);
      const ask = (snapshotEvidence: boolean): Promise<CatchUpAnswer> =>
        serveCatchUp(node, served, position + 1, commitPoint, { snapshotEvidence });
      await expect(ask(true)).rejects.toMatchObject({ code: 'NODE_E_CATCHUP_UNAVAILABLE' });
      // A second later: the next batch's signature entry records the evidence; more
      // transactions, and the next entry signs it.
      clock += evidenceDelayMs;
      await put(node, 'late');
      await node.idle();
      expect(node.evidencedSnapshotSeqno()).toBe(commitPoint);
      const evidenceSeqno = node.position().seqno;
      await expect(ask(true)).rejects.toMatchObject({ code: 'NODE_E_CATCHUP_UNAVAILABLE' });
      // Without the flag, the answer may end before the evidence entry; with it, not.
      const plain = await ask(false);
      expect(plain.upToTreeSize).toBeLessThan(evidenceSeqno);
      for (let i = 0; i < 6; i += 1) await put(node, `after${i}`);
      await node.idle();
      const answer = await ask(true);
      expect(answer.upToTreeSize).toBeGreaterThanOrEqual(evidenceSeqno);
      const leaf = answer.leaves[evidenceSeqno - commitPoint - 1] ?? '';
      expect(evidenceOf(new Uint8Array(Buffer.from(leaf, 'base64')))?.snapshotSeqno).toBe(
        commitPoint,
      );
      const checked = checkCatchUp(
        await inputFor(
          answer,
          {
            fromPosition: position + 1,
            treeSize: commitPoint,
            frontier: node.frontier(commitPoint),
          },
          node,
        ),
      );
      expect(checked.ok, checked.ok ? '' : checked.error.message).toBe(true);
    } finally {
      await node.stop();
    }
  });
});
