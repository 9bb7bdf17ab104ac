// A commit point's snapshot made by the worker thread (decision 0038) against the same
// computation on this thread: the same digest and the same file bytes, a file that decodes to
// the state it was taken from (the tree's spilled leaves read from its file, decision 0042),
// the digest when the file cannot be written or the leaves read, and the fallback when the
// worker fails. The worker is the
// compiled one (dist/, built before the tests): the TypeScript sources have no worker script.
import { createHash, randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openLeafSpillFile } from '../../src/ledger/leaf-spill.js';
import {
  chunkHashesMax,
  createMerkleTree,
  deserializeMerkleTree,
} from '../../src/ledger/merkle.js';
import { createReplayWindow } from '../../src/ledger/replay.js';
import { ledgerSecretFromBytes } from '../../src/ledger/secret.js';
import { decodeSnapshot, snapshotFileName } from '../../src/ledger/snapshot.js';
import { createStore } from '../../src/ledger/store.js';
import {
  computeCommitPoint,
  createCommitPointRunner,
  type CommitPointInput,
} from '../../src/node/commit-point.js';
import { checkCommittedSnapshot } from '../../src/node/snapshot-evidence.js';
import { decodeSnapshotExtra } from '../../src/node/snapshot-extra.js';

const root = path.resolve(import.meta.dirname, '../..');
const built = path.join(root, 'dist/node/commit-point.js');

async function compiledRunner(
  options: Parameters<typeof createCommitPointRunner>[0] = {},
): Promise<ReturnType<typeof createCommitPointRunner>> {
  const compiled = (await import(pathToFileURL(built).href)) as {
    createCommitPointRunner: typeof createCommitPointRunner;
  };
  return compiled.createCommitPointRunner(options);
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-commit-point-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/**
 * A state of public and private maps (some text beyond ASCII), a replay window and a tree: of
 * 9 leaves, or with `spillFile`, of two and a half chunks of leaves, two of them in that file.
 */
function commitPointInput(keys: number, dir: string, spillFile?: string): CommitPointInput {
  const store = createStore();
  for (let from = 0; from < keys; from += 5000) {
    store.apply(
      Array.from({ length: Math.min(5000, keys - from) }, (_, i) => {
        const n = from + i;
        return {
          map: n % 3 === 0 ? 'kv.private' : 'public:kv',
          key: `key-${(n * 7919) % 1_000_003}-${n.toString(36)}`,
          value: n % 100 === 0 ? `値-${'x'.repeat(n % 5000)}` : `v${n}`,
        };
      }),
      1 + from / 5000,
    );
  }
  const seqno = spillFile === undefined ? 9 : 2 * chunkHashesMax + chunkHashesMax / 2;
  const replay = createReplayWindow();
  for (let n = 0; n < 500; n += 1) {
    replay.add(createHash('sha256').update(`tx${n}`).digest('hex'), 1_700_000_000_000 + n);
  }
  replay.add('not a transaction id', 1_700_000_000_500.5);
  const spill = spillFile === undefined ? undefined : openLeafSpillFile(spillFile);
  const tree = createMerkleTree(spill === undefined ? {} : { spill, leafChunksInMemory: 0 });
  for (let n = 0; n < seqno; n += 1) tree.append(randomBytes(32));
  spill?.close();
  return {
    seqno,
    dir,
    committed: true,
    ...(spillFile === undefined ? {} : { merkleLeavesFile: spillFile }),
    store: store.frozen(),
    extra: {
      logPosition: 4,
      time: 1_700_000_000_000,
      lastMarkerSeqno: seqno,
      lastMarkerTime: 1_700_000_000_000,
      signedRoot: null,
      evidencedSnapshotSeqno: 0,
      replay: replay.frozen(),
      tree: tree.freeze(),
    },
    secret: ledgerSecretFromBytes(randomBytes(32)),
  };
}

describe('commit points', () => {
  it('the worker makes the digest and writes the file bytes this thread makes, and the file holds the state', async () => {
    const runner = await compiledRunner();
    expect(runner.threaded).toBe(true);
    const dir = path.join(work, 'threaded');
    const spillFile = path.join(work, 'threaded-leaves');
    const input = commitPointInput(20_000, dir, spillFile);
    // The tree's first two chunks of leaves are not in the input: the worker reads them.
    expect(input.extra.tree.spilledLeaves).toBe(2 * chunkHashesMax);
    const threaded = await runner.run(input);
    const here = computeCommitPoint(input);
    expect(threaded.digest).toBe(here.digest);
    assert('parts' in here.file);
    const name = path.join(dir, snapshotFileName(input.seqno, true));
    expect(threaded.written).toEqual({ ok: true, file: name, bytes: here.file.bytes });
    const file = await readFile(name);
    expect(file.equals(Buffer.concat(here.file.parts))).toBe(true);

    const snapshot = decodeSnapshot(file, input.secret);
    expect(snapshot.seqno).toBe(input.seqno);
    expect(snapshot.store.size('public:kv') + snapshot.store.size('kv.private')).toBe(20_000);
    expect(snapshot.store.read('public:kv', 'key-7919-1')).toBe('v1');
    expect(snapshot.store.read('kv.private', 'key-0-0')).toBe('値-');
    const extra = decodeSnapshotExtra(snapshot.extra);
    expect(extra.replay).toHaveLength(501);
    expect(extra.replay.at(-1)).toEqual(['not a transaction id', 1_700_000_000_500.5]);
    expect(extra).toMatchObject({ logPosition: 4, lastMarkerSeqno: input.seqno });
    // The whole tree, spilled leaves included, as it was (its hashes verify as it loads).
    const tree = deserializeMerkleTree(extra.tree);
    expect(tree.size()).toBe(input.seqno);
    expect(tree.leaf(0)).toEqual(new Uint8Array(await readFile(spillFile)).subarray(0, 32));
    const checked = checkCommittedSnapshot({
      seqno: snapshot.seqno,
      digests: snapshot.digests,
      extra,
      tree,
    });
    expect(checked.ok && checked.value.digest).toBe(threaded.digest);
  });

  it('spilled leaves it cannot read (a lost leaf file) still give the digest, and LEDGER_E_MERKLE_SPILL', async () => {
    const spillFile = path.join(work, 'lost-leaves');
    const input = commitPointInput(100, path.join(work, 'lost'), spillFile);
    await truncate(spillFile, chunkHashesMax * 32);
    for (const runner of [await compiledRunner(), createCommitPointRunner({ thread: false })]) {
      const made = await runner.run(input);
      expect(made.digest).toBe(computeCommitPoint(input).digest);
      expect(made.written).toMatchObject({
        ok: false,
        code: 'LEDGER_E_MERKLE_SPILL',
        message: expect.stringContaining(spillFile) as unknown,
      });
    }
    await expect(readdir(path.join(work, 'lost'))).rejects.toThrow(/ENOENT/);
  });

  it('computes on this thread when the worker fails (an input the worker cannot take fails here alike)', async () => {
    const failures: string[] = [];
    const runner = await compiledRunner({
      onWorkerFailure: (error) => failures.push(error.message),
    });
    // A replay id too long to encode: the worker reports the error, and this thread then
    // fails alike (the run rejects with the encoder's error, not a lost promise).
    const input = commitPointInput(10, path.join(work, 'broken'));
    const broken = {
      ...input,
      extra: {
        ...input.extra,
        replay: { ...input.extra.replay, raw: [[0, 'x'.repeat(70_000)] as const] },
      },
    };
    await expect(runner.run(broken)).rejects.toThrow(/replay id of 70000 bytes/);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatch(/replay id of 70000 bytes/);
  });

  it("writes a local snapshot (the node's own, decision 0043) under its own name, with the same bytes", async () => {
    const runner = await compiledRunner();
    const dir = path.join(work, 'local');
    const input = { ...commitPointInput(1000, dir), committed: false };
    const made = await runner.run(input);
    const here = computeCommitPoint(input);
    assert('parts' in here.file);
    const name = path.join(dir, snapshotFileName(input.seqno, false));
    expect(made.written).toEqual({ ok: true, file: name, bytes: here.file.bytes });
    expect(await readdir(dir)).toEqual([path.basename(name)]);
    expect((await readFile(name)).equals(Buffer.concat(here.file.parts))).toBe(true);
    expect(decodeSnapshot(await readFile(name), input.secret).seqno).toBe(input.seqno);
  });

  it('runs on this thread when asked to, with the same answer', async () => {
    const runner = createCommitPointRunner({ thread: false });
    expect(runner.threaded).toBe(false);
    const input = commitPointInput(1000, path.join(work, 'here'));
    const made = await runner.run(input);
    expect(made.digest).toBe(computeCommitPoint(input).digest);
    expect(made.written.ok).toBe(true);
  });

  it('a snapshot file it cannot write still gives the digest, and says why', async () => {
    // The folder would be inside a regular file.
    const blocker = path.join(work, 'a-file');
    await writeFile(blocker, 'x');
    const input = commitPointInput(100, path.join(blocker, 'snapshots'));
    for (const runner of [await compiledRunner(), createCommitPointRunner({ thread: false })]) {
      const made = await runner.run(input);
      expect(made.digest).toBe(computeCommitPoint(input).digest);
      expect(made.written).toMatchObject({
        ok: false,
        code: expect.stringMatching(/^LEDGER_E_/) as unknown,
      });
    }
  });
});
