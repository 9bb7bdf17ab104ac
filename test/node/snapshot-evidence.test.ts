// Committed snapshots (decisions 0027, 0038): the engine writes a committed snapshot at each
// commit point, a later signature entry records its state's digest, and snapshotEvidenceIn
// accepts that snapshot and refuses one whose state was changed.
import { cp, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import type { ClientIdentity, Signer } from '../../src/client/signer.js';
import { builtInApps } from '../../src/contracts/index.js';
import type { Consortium } from '../../src/ledger/execute.js';
import { deserializeMerkleTree } from '../../src/ledger/merkle.js';
import { loadLedgerSecretFile, type LedgerSecret } from '../../src/ledger/secret.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  loadLatestSnapshot,
  snapshotFileName,
  type LoadedSnapshot,
  type Snapshot,
} from '../../src/ledger/snapshot.js';
import { startEngine, type EngineOptions } from '../../src/node/engine.js';
import {
  checkCommittedSnapshot,
  evidenceDelayMs,
  isCommitPoint,
  isEvidencePoint,
  markerLeaf,
  snapshotEvidenceIn,
} from '../../src/node/snapshot-evidence.js';
import { decodeSnapshotExtra, encodeSnapshotExtra } from '../../src/node/snapshot-extra.js';
import { createStoreFrom } from '../../src/ledger/store.js';
import { org1Material } from '../support/org1.js';

let work: string;
let consortium: Consortium;
let user: { identity: ClientIdentity; signer: Signer };
let rootSigner: EngineOptions['rootSigner'];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-evidence-'));
  ({ consortium, user, rootSigner } = await org1Material(work));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Longer than the test's transactions take on its clock: markers come every 7 of them. */
const signatureIntervalMs = 500;

/** A clock the test moves (batch times decide evidence entries). */
function testClock(): { now: () => number; advance: (ms: number) => void } {
  let at = Date.now();
  return { now: () => at, advance: (ms) => (at += ms) };
}

type Ledger = {
  readonly markers: Map<number, Record<string, unknown>>;
  readonly leaves: Map<number, Uint8Array>;
  readonly evidencedSnapshotSeqno: number;
};

/**
 * Runs an engine that commits to its state every 20 entries, with `count` kv puts one
 * millisecond apart (a batch each); then, with `settle`, lets evidenceDelayMs pass so that the last
 * commit point's evidence entry is written and signed.
 */
async function ledgerWith(
  dataDir: string,
  count: number,
  options: { readonly settle: boolean; readonly from?: number } = { settle: true },
): Promise<Ledger> {
  const clock = testClock();
  const engine = await startEngine({
    dataDir,
    nodeId: 'node0',
    consortium: () => consortium,
    apps: builtInApps(),
    rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 7,
    signatureIntervalMs: signatureIntervalMs,
    snapshotIntervalTx: 20,
    now: clock.now,
  });
  try {
    for (let i = options.from ?? 0; i < count; i += 1) {
      clock.advance(1);
      const { envelope } = await signEnvelope({
        app: 'kv',
        action: 'put',
        args: { map: i % 2 === 0 ? 'public:kv.e' : 'kv.private', key: `k${i}`, value: `v${i}` },
        identity: user.identity,
        signer: user.signer,
      });
      const submitted = await engine.submit(envelope);
      if (!submitted.ok) throw submitted.error;
      // One transaction a batch: signature entries land every 7 transactions.
      await engine.waitFor(submitted.txId, 5000);
    }
    await engine.idle();
    if (options.settle) {
      // evidenceDelayMs of batch time later, the idle timer's batch gets the evidence entry; once the
      // signature interval has passed, another entry signs it.
      const before = engine.position().seqno;
      clock.advance(evidenceDelayMs);
      await until(() => engine.position().seqno > before);
      const evidence = engine.position().seqno;
      clock.advance(signatureIntervalMs);
      await until(() => engine.position().seqno > evidence);
      await engine.idle();
    }
    const markers = new Map<number, Record<string, unknown>>();
    const leaves = new Map<number, Uint8Array>();
    for await (const entry of engine.entriesFrom(1)) {
      leaves.set(entry.seqno, entry.leaf);
      if (entry.kind === 'signature') {
        markers.set(
          entry.seqno,
          JSON.parse(Buffer.from(entry.leaf).toString('utf8')) as Record<string, unknown>,
        );
      }
    }
    return { markers, leaves, evidencedSnapshotSeqno: engine.evidencedSnapshotSeqno() };
  } finally {
    await engine.stop();
  }
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** seqno → the commit point it records the evidence of. */
function evidenceEntries(ledger: Ledger): Map<number, number> {
  return new Map(
    [...ledger.markers]
      .filter(([, leaf]) => typeof leaf['snapshotSeqno'] === 'number')
      .map(([seqno, leaf]) => [seqno, Number(leaf['snapshotSeqno'])]),
  );
}

function leavesAfter(ledger: Ledger, seqno: number): Uint8Array[] {
  return [...ledger.leaves].filter(([at]) => at > seqno).map(([, leaf]) => leaf);
}

async function snapshotAt(dataDir: string, seqno: number): Promise<Snapshot> {
  const secret = await loadLedgerSecretFile(path.join(dataDir, 'ledger.secret'));
  return decodeSnapshot(
    await readFile(path.join(dataDir, 'snapshots', snapshotFileName(seqno, true))),
    secret,
  );
}

function digestOf(snapshot: Snapshot): string {
  const extra = decodeSnapshotExtra(snapshot.extra);
  const checked = checkCommittedSnapshot({
    seqno: snapshot.seqno,
    digests: snapshot.digests,
    extra,
    tree: deserializeMerkleTree(extra.tree),
  });
  if (!checked.ok) throw checked.error;
  return checked.value.digest;
}

describe('committed snapshots', () => {
  it('decides commit points from seqnos alone', () => {
    expect(isCommitPoint(20, 14, 20)).toBe(true);
    expect(isCommitPoint(24, 16, 20)).toBe(true);
    expect(isCommitPoint(19, 12, 20)).toBe(false);
    expect(isCommitPoint(40, 20, 20)).toBe(true);
    expect(isCommitPoint(41, 40, 20)).toBe(false);
    expect(isCommitPoint(100, 1, 1000)).toBe(false);
  });

  it('decides evidence entries from batch time, or the next commit point', () => {
    const pending = { seqno: 26, time: 5000 };
    expect(isEvidencePoint(pending, 5000 + evidenceDelayMs - 1, false)).toBe(false);
    expect(isEvidencePoint(pending, 5000 + evidenceDelayMs, false)).toBe(true);
    expect(isEvidencePoint(pending, 5001, true)).toBe(true);
  });

  it('records the state digest of each commit point in a later signature entry, and writes a committed snapshot at the commit point, which verifies', async () => {
    const dataDir = path.join(work, 'a');
    const ledger = await ledgerWith(dataDir, 45);
    // The first batch is signed at once (time), then every 7 transactions: markers at 2, 10,
    // …, 50. The first ones at or after 20 and 40 are commit points. 42 records 26's digest
    // (a commit point records the one before; less than evidenceDelayMs of batch time passed).
    // evidenceDelayMs after the last batch the idle timer's batch gets an entry, 53, that records 42's
    // (transactions at 51 and 52); the signature interval later, 54 signs it.
    expect([...ledger.markers.keys()]).toEqual([2, 10, 18, 26, 34, 42, 50, 53, 54]);
    expect(evidenceEntries(ledger)).toEqual(
      new Map([
        [42, 26],
        [53, 42],
      ]),
    );
    expect(ledger.evidencedSnapshotSeqno).toBe(42);
    const files = (await readdir(path.join(dataDir, 'snapshots'))).sort();
    expect(files.filter((name) => name.endsWith('.committed.snap'))).toEqual([
      snapshotFileName(26, true),
      snapshotFileName(42, true),
    ]);
    for (const [evidence, seqno] of evidenceEntries(ledger)) {
      const snapshot = await snapshotAt(dataDir, seqno);
      const digest = digestOf(snapshot);
      expect(ledger.markers.get(evidence)?.['snapshot']).toBe(digest);
      const found = snapshotEvidenceIn(seqno, digest, leavesAfter(ledger, seqno));
      expect(found.ok && found.value.evidenceSeqno).toBe(evidence);
      // The leaf is the marker rebuilt with that digest.
      const marker = ledger.markers.get(evidence);
      expect(
        Buffer.from(
          markerLeaf({
            treeSize: Number(marker?.['treeSize']),
            root: String(marker?.['root']),
            time: Number(marker?.['time']),
            snapshot: digest,
            snapshotSeqno: seqno,
          }),
        ).toString('utf8'),
      ).toBe(JSON.stringify(marker));
    }
    const secret = await loadLedgerSecretFile(path.join(dataDir, 'ledger.secret'));
    const { snapshot } = await loadLatestSnapshot(path.join(dataDir, 'snapshots'), secret, {
      committedOnly: true,
    });
    if (snapshot === undefined) throw new Error('no committed snapshot');
    expect(snapshot.seqno).toBe(42);
    refusesAltered(snapshot, secret, leavesAfter(ledger, 42));
    // Without its evidence entry among the entries after it, a snapshot is refused too.
    const none = snapshotEvidenceIn(42, digestOf(snapshot), leavesAfter(ledger, 42).slice(0, 8));
    expect(!none.ok && none.error.code).toBe('NODE_E_SNAPSHOT_UNVERIFIED');
  });

  it('a node restarted between a commit point and its evidence entry records the digest a node that executed everything records', async () => {
    const dataDir = path.join(work, 'b');
    // Stopped at 45 transactions: commit point 42 is pending.
    const first = await ledgerWith(dataDir, 45, { settle: false });
    expect(evidenceEntries(first)).toEqual(new Map([[42, 26]]));
    // A copy without snapshots executes everything again from the log.
    const fromLog = path.join(work, 'b-from-log');
    await cp(dataDir, fromLog, { recursive: true });
    await rm(path.join(fromLog, 'snapshots'), { recursive: true });
    // Started again from the committed snapshot at 42: its evidence entry follows.
    const again = await ledgerWith(dataDir, 48, { settle: true, from: 45 });
    const replayed = await ledgerWith(fromLog, 48, { settle: true, from: 45 });
    const digests = [again, replayed].map((ledger) => {
      const [evidence] = [...evidenceEntries(ledger)].find(([, seqno]) => seqno === 42) ?? [];
      return ledger.markers.get(evidence ?? 0)?.['snapshot'];
    });
    const digest = digestOf(await snapshotAt(dataDir, 42));
    expect(digests).toEqual([digest, digest]);
    expect(digestOf(await snapshotAt(fromLog, 42))).toBe(digest);
  });
});

/**
 * A snapshot whose public value, private value, log position or replay window changed gets
 * another digest: the evidence entry after it refuses it.
 */
function refusesAltered(
  snapshot: LoadedSnapshot,
  secret: LedgerSecret,
  after: readonly Uint8Array[],
): void {
  const extra = decodeSnapshotExtra(snapshot.extra);
  const maps = new Map<string, Map<string, string>>();
  for (const name of snapshot.store.maps()) maps.set(name, new Map(snapshot.store.entries(name)));
  const variants: [string, Map<string, Map<string, string>>, typeof extra][] = [];
  const publicChanged = new Map(maps);
  publicChanged.set('public:kv.e', new Map(maps.get('public:kv.e')).set('k0', 'forged'));
  variants.push(['a public value', publicChanged, extra]);
  const privateChanged = new Map(maps);
  privateChanged.set('kv.private', new Map(maps.get('kv.private')).set('k1', 'forged'));
  variants.push(['a private value', privateChanged, extra]);
  variants.push(['the log position', maps, { ...extra, logPosition: extra.logPosition + 1 }]);
  variants.push(['the replay window', maps, { ...extra, replay: extra.replay.slice(1) }]);
  expect(snapshotEvidenceIn(snapshot.seqno, digestOf(snapshot), after).ok).toBe(true);
  for (const [what, state, changedExtra] of variants) {
    const bytes = encodeSnapshot({
      seqno: snapshot.seqno,
      store: createStoreFrom(snapshot.seqno, state),
      extra: encodeSnapshotExtra(changedExtra),
      secret,
    });
    const refused = snapshotEvidenceIn(
      snapshot.seqno,
      digestOf(decodeSnapshot(bytes, secret)),
      after,
    );
    expect(refused.ok, what).toBe(false);
    expect(!refused.ok && refused.error.code, what).toBe('NODE_E_SNAPSHOT_UNVERIFIED');
  }
}
