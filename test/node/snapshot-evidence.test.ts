// Committed snapshots (decision 0027): signature entries at commit points record the digest of
// the state, the engine writes a committed snapshot there, and checkCommittedSnapshot accepts
// that snapshot and refuses one whose state was changed.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
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
  type LoadedSnapshot,
} from '../../src/ledger/snapshot.js';
import { startEngine, type EngineOptions } from '../../src/node/engine.js';
import {
  checkCommittedSnapshot,
  isCommitPoint,
  markerLeaf,
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

/** Runs an engine that commits to its state every 20 entries, with `count` kv puts. */
async function ledgerWith(
  dataDir: string,
  count: number,
): Promise<{ markers: Map<number, Record<string, unknown>> }> {
  const engine = await startEngine({
    dataDir,
    nodeId: 'node0',
    consortium: () => consortium,
    apps: builtInApps(),
    rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 7,
    signatureIntervalMs: 10_000,
    snapshotIntervalTx: 20,
  });
  try {
    const ids: string[] = [];
    for (let i = 0; i < count; i += 1) {
      const { envelope } = await signEnvelope({
        app: 'kv',
        action: 'put',
        args: { map: i % 2 === 0 ? 'public:kv.e' : 'kv.private', key: `k${i}`, value: `v${i}` },
        identity: user.identity,
        signer: user.signer,
      });
      const submitted = await engine.submit(envelope);
      if (!submitted.ok) throw submitted.error;
      ids.push(submitted.txId);
      // One transaction a batch: signature entries land every 7 transactions.
      await engine.waitFor(submitted.txId, 5000);
    }
    await engine.idle();
    const markers = new Map<number, Record<string, unknown>>();
    for await (const entry of engine.entriesFrom(1)) {
      if (entry.kind === 'signature') {
        markers.set(
          entry.seqno,
          JSON.parse(Buffer.from(entry.leaf).toString('utf8')) as Record<string, unknown>,
        );
      }
    }
    return { markers };
  } finally {
    await engine.stop();
  }
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

  it('records the state digest in the signature entries at commit points and writes a committed snapshot there, which verifies', async () => {
    const dataDir = path.join(work, 'a');
    const { markers } = await ledgerWith(dataDir, 45);
    const committedSeqnos = [...markers]
      .filter(([, leaf]) => typeof leaf['snapshot'] === 'string')
      .map(([seqno]) => seqno);
    // The first batch is signed at once (time), then every 7 transactions: markers at 2, 10,
    // …, 50. The first ones at or after 20 and 40 commit.
    expect([...markers.keys()]).toEqual([2, 10, 18, 26, 34, 42, 50]);
    expect(committedSeqnos).toEqual([26, 42]);

    const files = (await readdir(path.join(dataDir, 'snapshots'))).sort();
    expect(files.filter((name) => name.endsWith('.committed.snap'))).toEqual([
      'snapshot-00000000000000000026.committed.snap',
      'snapshot-00000000000000000042.committed.snap',
    ]);
    const secret = await loadLedgerSecretFile(path.join(dataDir, 'ledger.secret'));
    const { snapshot } = await loadLatestSnapshot(path.join(dataDir, 'snapshots'), secret, {
      committedOnly: true,
    });
    if (snapshot === undefined) throw new Error('no committed snapshot');
    expect(snapshot.seqno).toBe(42);
    const extra = decodeSnapshotExtra(snapshot.extra);
    const checked = checkCommittedSnapshot({
      seqno: snapshot.seqno,
      digests: snapshot.digests,
      extra,
      tree: deserializeMerkleTree(extra.tree),
    });
    expect(checked.ok, checked.ok ? '' : checked.error.message).toBe(true);
    expect(checked.ok && checked.value.digest).toBe(markers.get(42)?.['snapshot']);
    // The leaf is the marker rebuilt with that digest.
    const marker = markers.get(42);
    expect(
      Buffer.from(
        markerLeaf({
          treeSize: Number(marker?.['treeSize']),
          root: String(marker?.['root']),
          time: Number(marker?.['time']),
          snapshot: String(marker?.['snapshot']),
        }),
      ).toString('utf8'),
    ).toBe(JSON.stringify(marker));

    refusesAltered(snapshot, secret);
  });
});

/** A snapshot whose public value, private value, log position or tree changed is refused. */
function refusesAltered(snapshot: LoadedSnapshot, secret: LedgerSecret): void {
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
  for (const [what, state, changedExtra] of variants) {
    const bytes = encodeSnapshot({
      seqno: snapshot.seqno,
      store: createStoreFrom(snapshot.seqno, state),
      extra: encodeSnapshotExtra(changedExtra),
      secret,
    });
    const decoded = decodeSnapshot(bytes, secret);
    const refused = checkCommittedSnapshot({
      seqno: decoded.seqno,
      digests: decoded.digests,
      extra: decodeSnapshotExtra(decoded.extra),
      tree: deserializeMerkleTree(changedExtra.tree),
    });
    expect(refused.ok, what).toBe(false);
    expect(!refused.ok && refused.error.code, what).toBe('NODE_E_SNAPSHOT_UNVERIFIED');
  }
}
