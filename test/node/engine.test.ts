// The node engine in-process: submit, commit, receipts that verify offline, restart from the
// log alone and from a snapshot, with the same state and the same Merkle root.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import type { ClientIdentity, Signer } from '../../src/client/signer.js';
import { builtInApps } from '../../src/contracts/index.js';
import { createVerifyPool } from '../../src/crypto/index.js';
import type { Consortium } from '../../src/ledger/execute.js';
import { readLedgerFrom } from '../../src/ledger/files.js';
import { loadLedgerSecretFile } from '../../src/ledger/secret.js';
import { decodeSnapshot, writeSnapshot } from '../../src/ledger/snapshot.js';
import { chunkHashesMax } from '../../src/ledger/merkle.js';
import { parseReceipt, verifyReceipt, type Receipt } from '../../src/ledger/receipt.js';
import { encodeBatch, transactionId } from '../../src/ledger/tx.js';
import { startEngine, type Engine, type EngineOptions } from '../../src/node/engine.js';
import { decodeSnapshotExtra, encodeSnapshotExtra } from '../../src/node/snapshot-extra.js';
import { cofferError } from '../../src/errors/index.js';
import { openEmbeddedLog, type OrderingLog } from '../../src/ordering/index.js';
import { org1Material } from '../support/org1.js';

let work: string;
let consortium: Consortium;
let user: { identity: ClientIdentity; signer: Signer };
let rootSigner: EngineOptions['rootSigner'];

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-engine-'));
  ({ consortium, user, rootSigner } = await org1Material(work));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function start(dataDir: string, extra: Partial<EngineOptions> = {}): Promise<Engine> {
  return startEngine({
    dataDir,
    nodeId: 'node0',
    consortium: () => consortium,
    apps: builtInApps(),
    rootSigner,
    logger: pino({ level: process.env['COFFER_LOG'] ?? 'silent' }),
    signatureIntervalTx: 10,
    signatureIntervalMs: 20,
    ...extra,
  });
}

/** A log line as the tests read it. */
type LogLine = { msg: string; seqno?: number; code?: string; file?: string };

/** A logger at info level whose lines the test reads back, parsed. */
function loggedLines(): { readonly logger: pino.Logger; readonly logged: () => LogLine[] } {
  const lines: string[] = [];
  return {
    logger: pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
    logged: () => lines.map((line) => JSON.parse(line) as LogLine),
  };
}

/** User1's signed kv put. */
async function putEnvelope(map: string, key: string, value: string) {
  const { envelope } = await signEnvelope({
    app: 'kv',
    action: 'put',
    args: { map, key, value },
    identity: user.identity,
    signer: user.signer,
  });
  return envelope;
}

/** The envelope with one bit of its signature flipped. */
function tampered<T extends { signature: Uint8Array }>(envelope: T): T {
  return { ...envelope, signature: envelope.signature.map((b, i) => (i === 9 ? b ^ 1 : b)) };
}

async function put(engine: Engine, key: string, value: string): Promise<string> {
  const envelope = await putEnvelope('public:kv.t', key, value);
  const submitted = await engine.submit(envelope);
  if (!submitted.ok) throw submitted.error;
  return submitted.txId;
}

/**
 * The receipt of txId once a signature entry covers it (polled for up to 2 s), checked offline
 * against the consortium's MSPs as `coffer receipt verify` does.
 */
async function verifiedReceipt(engine: Engine, txId: string): Promise<Receipt> {
  let receipt = await engine.receipt(txId);
  for (let i = 0; receipt === undefined && i < 100; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    receipt = await engine.receipt(txId);
  }
  if (receipt === undefined) throw new Error(`no receipt for ${txId}`);
  const check = verifyReceipt(parseReceipt(JSON.parse(JSON.stringify(receipt))), consortium.msps);
  expect(check.ok, check.ok ? '' : check.error.message).toBe(true);
  return receipt;
}

describe('node engine', () => {
  it('commits, answers status, and gives a receipt that verifies offline', async () => {
    const engine = await start(path.join(work, 'a'));
    try {
      const txId = await put(engine, 'k', 'v1');
      const status = await engine.waitFor(txId, 5000);
      expect(status).toMatchObject({ status: 'Committed', seqno: 1 });
      expect(engine.store().read('public:kv.t', 'k')).toBe('v1');
      expect((await verifiedReceipt(engine, txId)).txId).toBe(txId);
    } finally {
      await engine.stop();
    }
  });

  it('waitFor answers at once for a transaction that executed while it looked (no lost wake-up)', async () => {
    const engine = await start(path.join(work, 'wake'));
    try {
      for (let round = 0; round < 5; round += 1) {
        // Submitted together, waited for one after the other: later ones execute while
        // waitFor awaits the status of earlier ones.
        const txIds = await Promise.all(
          Array.from({ length: 8 }, (_, i) => put(engine, `w${round}-${i}`, 'v')),
        );
        for (const txId of txIds) {
          const started = Date.now();
          expect(await engine.waitFor(txId, 3000)).toMatchObject({ status: 'Committed' });
          expect(Date.now() - started, txId).toBeLessThan(1000);
        }
      }
    } finally {
      await engine.stop();
    }
  });

  it('keeps at most statusEntries statuses in memory, pending ones included; older ones come from the ledger', async () => {
    const engine = await start(path.join(work, 'kept'), { statusEntries: 20 });
    try {
      const txIds: string[] = [];
      for (let round = 0; round < 6; round += 1) {
        const ids = await Promise.all(
          Array.from({ length: 25 }, (_, i) => put(engine, `kept${round}-${i}`, 'v')),
        );
        expect(engine.kept().statuses).toBeLessThanOrEqual(20);
        for (const txId of ids) {
          expect(await engine.waitFor(txId, 5000)).toMatchObject({ status: 'Committed' });
        }
        txIds.push(...ids);
      }
      expect(engine.kept()).toMatchObject({ statuses: 20, pending: 0, awaited: 0 });
      // The first ones are no longer in memory: the index and the ledger files answer.
      const [first] = txIds;
      if (first === undefined) throw new Error('no transaction');
      expect(await engine.status(first)).toMatchObject({ status: 'Committed', seqno: 1 });
    } finally {
      await engine.stop();
    }
  });

  it('keeps at most recentEntriesBytes of ledger entries in memory; receipts of older ones come from the files', async () => {
    const engine = await start(path.join(work, 'recent'), { recentEntriesBytes: 16_384 });
    try {
      const txIds: string[] = [];
      for (let round = 0; round < 4; round += 1) {
        const ids = await Promise.all(
          Array.from({ length: 10 }, (_, i) => put(engine, `big${round}-${i}`, 'x'.repeat(1500))),
        );
        for (const txId of ids) {
          expect(await engine.waitFor(txId, 5000)).toMatchObject({ status: 'Committed' });
        }
        txIds.push(...ids);
        // Each entry holds its 1,500-byte value and the signer's certificate: never 16 KiB
        // of them past the newest one.
        const kept = engine.kept();
        expect(kept.recentEntryBytes).toBeLessThanOrEqual(16_384);
        expect(kept.recentEntryBytes).toBeGreaterThan(0);
      }
      expect(engine.kept().recentEntries).toBeLessThan(txIds.length / 2);
      const [first] = txIds;
      if (first === undefined) throw new Error('no transaction');
      expect((await verifiedReceipt(engine, first)).txId).toBe(first);
    } finally {
      await engine.stop();
    }
  });

  it('spills full chunks of Merkle leaves to merkle-leaves; receipts of spilled ones verify, before and after a restart from a snapshot made past them', async () => {
    const dir = path.join(work, 'spill');
    const options = {
      treeLeafChunksInMemory: 0,
      signatureIntervalTx: 1000,
      snapshotIntervalTx: 5000,
    };
    let engine = await start(dir, options);
    const txIds: string[] = [];
    let before: ReturnType<Engine['position']>;
    try {
      // Leaves: the transactions and their signature entries, past one chunk of 16,384 and past
      // the commit point after it, whose snapshot reads the spilled chunk from the file.
      while (engine.position().seqno <= 4 * 5000 + 1000) {
        const ids = await Promise.all(
          Array.from({ length: 500 }, (_, i) => put(engine, `s${txIds.length + i}`, 'v')),
        );
        for (const txId of ids) await engine.waitFor(txId, 10_000);
        txIds.push(...ids);
      }
      expect(engine.kept()).toMatchObject({ treeLeavesSpilled: chunkHashesMax });
      expect((await stat(path.join(dir, 'merkle-leaves'))).size).toBe(chunkHashesMax * 32);
      const [first] = txIds;
      if (first === undefined) throw new Error('no transaction');
      expect((await verifiedReceipt(engine, first)).txId).toBe(first);
      before = engine.position();
    } finally {
      await engine.stop();
    }
    const snapshots = (await readdir(path.join(dir, 'snapshots'))).filter((name) =>
      name.endsWith('.committed.snap'),
    );
    const newest = Math.max(...snapshots.map((name) => Number(/\d+/.exec(name)?.[0])));
    expect(newest).toBeGreaterThan(chunkHashesMax);
    // The file is written again from the snapshot at start (truncated first): the snapshot
    // holds every leaf, the spilled ones included (the tree verifies them as it loads).
    await writeFile(path.join(dir, 'merkle-leaves'), 'not leaves');
    const { logger, logged } = loggedLines();
    engine = await start(dir, { ...options, logger });
    try {
      expect(logged().find(({ msg }) => msg === 'loaded snapshot')?.seqno).toBe(newest);
      expect(engine.position()).toEqual(before);
      expect(engine.kept()).toMatchObject({ treeLeavesSpilled: chunkHashesMax });
      const [first] = txIds;
      if (first === undefined) throw new Error('no transaction');
      expect((await verifiedReceipt(engine, first)).txId).toBe(first);
    } finally {
      await engine.stop();
    }
  }, 120_000);

  it('refuses bad submissions at once with their codes', async () => {
    const engine = await start(path.join(work, 'b'));
    try {
      const envelope = await putEnvelope('kv.x', 'k', 'v');
      const refused = await engine.submit(tampered(envelope));
      expect(!refused.ok && refused.error.code).toBe('MSP_E_SIGNATURE_INVALID');
      // The same signer checks as execution: a certificate that is not the one named is refused now.
      const mismatched = await engine.submit({ ...envelope, cert: rootSigner.certPem });
      expect(!mismatched.ok && mismatched.error.code).toBe('TX_E_CERT_MISMATCH');
      expect((await engine.submit(envelope)).ok).toBe(true);
      const again = await engine.submit(envelope);
      expect(!again.ok && again.error.code).toBe('TX_E_REPLAY');
    } finally {
      await engine.stop();
    }
  });

  it('with signatures verified on worker threads: refuses bad ones, keeps arrival order', async () => {
    const pool = createVerifyPool({ threads: 2 });
    const engine = await start(path.join(work, 'pool'), { verifier: pool.verify });
    try {
      const bad = tampered(await putEnvelope('public:kv.t', 'tampered', 'v'));
      const refused = await engine.submit(bad);
      expect(!refused.ok && refused.error.code).toBe('MSP_E_SIGNATURE_INVALID');
      // Writes to one key, submitted at once: verification finishes in any order across
      // threads, but they are ordered (and so applied) in the order they arrived.
      const envelopes = await Promise.all(
        Array.from({ length: 300 }, (_, i) => putEnvelope('public:kv.t', 'ordered', String(i))),
      );
      const outcomes = await Promise.all(envelopes.map((envelope) => engine.submit(envelope)));
      const seqnos: number[] = [];
      for (const outcome of outcomes) {
        if (!outcome.ok) throw outcome.error;
        const status = await engine.waitFor(outcome.txId, 5000);
        expect(status.status).toBe('Committed');
        if (status.status === 'Committed') seqnos.push(status.seqno);
      }
      expect(seqnos).toEqual([...seqnos].sort((a, b) => a - b));
      expect(engine.store().read('public:kv.t', 'ordered')).toBe('299');
      expect((await engine.status(transactionId(bad.request))).status).toBe('Unknown');
      expect(pool.stats().verified).toBeGreaterThanOrEqual(300);
    } finally {
      await engine.stop();
      await pool.close();
    }
  });

  it('restarts from the log, then from a snapshot, with the same state and root', async () => {
    const dir = path.join(work, 'c');
    let engine = await start(dir, { snapshotIntervalTx: 25 });
    const ids: string[] = [];
    for (let i = 0; i < 60; i += 1) ids.push(await put(engine, `k${i}`, `v${i}`));
    for (const id of ids) expect((await engine.waitFor(id, 5000)).status).toBe('Committed');
    await new Promise((resolve) => setTimeout(resolve, 100)); // let a time-based marker land
    const before = engine.position();
    await engine.stop();

    engine = await start(dir, { snapshotIntervalTx: 25 });
    try {
      const after = engine.position();
      expect(after.seqno).toBe(before.seqno);
      expect(after.root).toBe(before.root);
      expect(
        (await readdir(path.join(dir, 'snapshots'))).some((name) => name.endsWith('.snap')),
      ).toBe(true);
      expect(after.logPosition).toBe(before.logPosition);
      for (let i = 0; i < 60; i += 1)
        expect(engine.store().read('public:kv.t', `k${i}`)).toBe(`v${i}`);
      // Statuses outlive the process: the transaction index names each one's ledger entry.
      const first = ids[0] ?? '';
      expect(await engine.status(first)).toMatchObject({ status: 'Committed', seqno: 1 });
      for (const id of ids) expect((await engine.status(id)).status).toBe('Committed');
      expect((await engine.receipt(first))?.txId).toBe(first);
      // New work continues the same ledger.
      const more = await put(engine, 'later', 'x');
      expect((await engine.waitFor(more, 5000)).status).toBe('Committed');
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine commit points', () => {
  it('copy into memory warmed before them, hand it back once the snapshot is made, and zeroed then it changes nothing', async () => {
    const dir = path.join(work, 'pages');
    const handedBack: { views: number; shared: boolean; snapshots: string[] }[] = [];
    let prefaulted = 0;
    const memoryPages = {
      // Warming writes the memory (the real one writes zeros on another thread): filled with
      // 0xaa here, so a copy that went in first would be overwritten.
      prefault: (view: Uint8Array): Promise<void> => {
        view.fill(0xaa);
        prefaulted += 1;
        return Promise.resolve();
      },
      // What MADV_DONTNEED leaves (the real one is tested in memory.test.ts): the bytes read
      // as zeros. Zeroed at once here, before anything else could read them.
      discard: (views: readonly Uint8Array[]): Promise<number> => {
        for (const view of views) view.fill(0);
        // Never after the test (the engine stops every timer): the folder would be gone.
        const snapshots = readdirSync(path.join(dir, 'snapshots')).filter((name) =>
          name.endsWith('.snap'),
        );
        handedBack.push({
          views: views.length,
          shared: views.every((view) => view.buffer instanceof SharedArrayBuffer),
          snapshots,
        });
        return Promise.resolve(views.reduce((bytes, view) => bytes + view.byteLength, 0));
      },
    };
    let engine = await start(dir, { snapshotIntervalTx: 25, memoryPages });
    // Rounds of 30, each committed before the next and spread over more than a second (the
    // engine warms memory from its rate of transactions): a commit point in every round.
    for (let round = 0; round < 6; round += 1) {
      const ids: string[] = [];
      for (let i = 30 * round; i < 30 * (round + 1); i += 1) {
        ids.push(await put(engine, `k${i}`, `v${i}`));
      }
      for (const id of ids) expect((await engine.waitFor(id, 5000)).status).toBe('Committed');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const before = engine.position();
    const pool = engine.kept().commitPointMemory;
    await engine.stop();
    expect(pool).toBeDefined();
    expect(pool?.warmRounds).toBeGreaterThanOrEqual(1);
    expect(prefaulted).toBeGreaterThanOrEqual(pool?.warmRounds ?? 1);
    expect(handedBack.length).toBeGreaterThanOrEqual(5);
    let previous: readonly string[] = [];
    for (const call of handedBack) {
      // The store's map (5 arrays), the replay window (3) and the Merkle tree, in fresh
      // buffers; or the warm buffer they went into.
      expect(call.views === 1 || call.views >= 9).toBe(true);
      expect(call.shared).toBe(true);
      // Each time after its own snapshot file was written (older ones may be pruned).
      expect(call.snapshots.filter((name) => !previous.includes(name)).length).toBe(1);
      previous = call.snapshots;
    }

    engine = await start(dir, { snapshotIntervalTx: 25 });
    try {
      const after = engine.position();
      expect(after.seqno).toBe(before.seqno);
      expect(after.root).toBe(before.root);
      for (let i = 0; i < 180; i += 1) {
        expect(engine.store().read('public:kv.t', `k${i}`)).toBe(`v${i}`);
      }
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine restarts from snapshots', () => {
  it('passes over a newest snapshot whose Merkle tree does not verify, for the one before, and loses nothing', async () => {
    const dir = path.join(work, 'bad-tree');
    let engine = await start(dir, { snapshotIntervalTx: 25 });
    for (let round = 0; round < 3; round += 1) {
      const ids: string[] = [];
      for (let i = 30 * round; i < 30 * (round + 1); i += 1) {
        ids.push(await put(engine, `t${i}`, `v${i}`));
      }
      for (const id of ids) expect((await engine.waitFor(id, 5000)).status).toBe('Committed');
    }
    await engine.idle();
    const before = engine.position();
    await engine.stop();

    // The newest committed snapshot again, its file whole (checksum and all) but one bit of its
    // first leaf flipped: as a bug, not the disk, would write it.
    const snapshots = path.join(dir, 'snapshots');
    const names = (await readdir(snapshots)).filter((name) => name.endsWith('.committed.snap'));
    names.sort();
    const seqnoOf = (name: string | undefined): number => Number(/\d+/.exec(name ?? '')?.[0]);
    expect(names.length).toBeGreaterThanOrEqual(2);
    const newest = path.join(snapshots, names.at(-1) ?? '');
    const secret = await loadLedgerSecretFile(path.join(dir, 'ledger.secret'));
    const snapshot = decodeSnapshot(await readFile(newest), secret);
    const extra = decodeSnapshotExtra(snapshot.extra);
    const tree = Uint8Array.from(extra.tree);
    tree[12] = (tree[12] ?? 0) ^ 1; // the first leaf's first byte, after the 12-byte header
    await writeSnapshot(
      snapshots,
      {
        seqno: snapshot.seqno,
        store: snapshot.store,
        extra: encodeSnapshotExtra({ ...extra, tree }),
        secret,
      },
      { committed: true },
    );

    const { logger, logged } = loggedLines();
    engine = await start(dir, { snapshotIntervalTx: 25, logger });
    try {
      expect(logged().find(({ msg }) => msg.startsWith('snapshot skipped'))).toMatchObject({
        code: 'LEDGER_E_MERKLE_STATE',
        file: newest,
      });
      expect(logged().find(({ msg }) => msg === 'loaded snapshot')?.seqno).toBe(
        seqnoOf(names.at(-2)),
      );
      // The rest comes from the ordering log: the same position, root and state.
      expect(engine.position()).toEqual(before);
      for (let i = 0; i < 90; i += 1) {
        expect(engine.store().read('public:kv.t', `t${i}`)).toBe(`v${i}`);
      }
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine ledger chunks', () => {
  it('end at the first signature entry past chunkBytesAtSignature, not at every one', async () => {
    const dataDir = path.join(work, 'chunks');
    const chunkBytesAtSignature = 32_768;
    const engine = await start(dataDir, { chunkBytesAtSignature, signatureIntervalTx: 4 });
    try {
      // Each round's batch gets a signature entry of its own.
      for (let round = 0; round < 30; round += 1) {
        const txIds = await Promise.all(
          Array.from({ length: 4 }, (_, i) => put(engine, `c${round}-${i}`, 'x'.repeat(300))),
        );
        for (const txId of txIds) {
          expect(await engine.waitFor(txId, 5000)).toMatchObject({ status: 'Committed' });
        }
      }
      await engine.idle();
    } finally {
      await engine.stop();
    }
    const ledgerDir = path.join(dataDir, 'ledger');
    const names = (await readdir(ledgerDir)).filter((name) => name.endsWith('.chunk')).sort();
    const kinds = new Map<number, string>();
    for await (const entry of readLedgerFrom(ledgerDir, 1)) kinds.set(entry.seqno, entry.kind);
    const signatures = [...kinds.values()].filter((kind) => kind === 'signature').length;
    expect(signatures).toBeGreaterThanOrEqual(30);
    // Several chunks, far fewer than signature entries.
    expect(names.length).toBeGreaterThan(2);
    expect(names.length).toBeLessThan(signatures / 2);
    for (const [index, name] of names.entries()) {
      const next = names[index + 1];
      if (next === undefined) break; // the chunk being written
      const size = (await stat(path.join(ledgerDir, name))).size;
      expect(size, name).toBeGreaterThanOrEqual(chunkBytesAtSignature);
      // Its last entry, just before the next chunk's first seqno, is a signature entry.
      const nextFirst = Number(/ledger-(\d+)\.chunk$/.exec(next)?.[1]);
      expect(kinds.get(nextFirst - 1), name).toBe('signature');
    }
  });
});

describe('node engine data directory lock', () => {
  it("refuses a second engine on a data directory in use, and takes over a dead owner's lock", async () => {
    const dir = path.join(work, 'lock');
    const engine = await start(dir);
    try {
      await expect(start(dir)).rejects.toMatchObject({ code: 'NODE_E_DATA_DIR_LOCKED' });
    } finally {
      await engine.stop();
    }
    // A lock left by a process that is gone (as after kill -9) does not stop the next start.
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']);
    await writeFile(path.join(dir, 'LOCK'), `${String(dead.pid)}\n`);
    const again = await start(dir);
    try {
      expect(await readFile(path.join(dir, 'LOCK'), 'utf8')).toBe(`${process.pid}\n`);
    } finally {
      await again.stop();
    }
    await expect(readFile(path.join(dir, 'LOCK'), 'utf8')).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});

describe('node engine start refusals', () => {
  it('refuses to start when merkle-leaves is not a file it can write, says so, and starts once it is', async () => {
    const dir = path.join(work, 'spill-dir');
    const first = await start(dir);
    const id = await put(first, 'before', 'v');
    expect((await first.waitFor(id, 5000)).status).toBe('Committed');
    await first.stop();
    await rm(path.join(dir, 'merkle-leaves'));
    await mkdir(path.join(dir, 'merkle-leaves'));
    await expect(start(dir)).rejects.toMatchObject({
      code: 'LEDGER_E_MERKLE_SPILL',
      message: expect.stringContaining('merkle-leaves') as unknown,
    });
    // Nothing stays open or locked: once the folder is gone, the node starts with its ledger.
    await rm(path.join(dir, 'merkle-leaves'), { recursive: true });
    const again = await start(dir);
    try {
      expect(await again.status(id)).toMatchObject({ status: 'Committed', seqno: 1 });
    } finally {
      await again.stop();
    }
  });
});

describe('node engine recovery corner cases', () => {
  it('rebuilds from the log when the ledger files were moved aside after a snapshot', async () => {
    const dir = path.join(work, 'd');
    let engine = await start(dir, { snapshotIntervalTx: 5 });
    const ids: string[] = [];
    for (let i = 0; i < 20; i += 1) ids.push(await put(engine, `k${i}`, `v${i}`));
    for (const id of ids) expect((await engine.waitFor(id, 5000)).status).toBe('Committed');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const before = engine.position();
    await engine.stop();
    expect(
      (await readdir(path.join(dir, 'snapshots'))).some((name) => name.endsWith('.snap')),
    ).toBe(true);
    await rm(path.join(dir, 'ledger'), { recursive: true });
    await rm(path.join(dir, 'txindex'), { recursive: true });
    engine = await start(dir, { snapshotIntervalTx: 5 });
    try {
      // The index is rebuilt with the ledger: every status is known again.
      for (const id of ids) expect((await engine.status(id)).status).toBe('Committed');
      const after = engine.position();
      expect(after.root).toBe(before.root);
      expect(after.seqno).toBe(before.seqno);
      expect(engine.store().read('public:kv.t', 'k19')).toBe('v19');
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine backpressure', () => {
  it('refuses submissions beyond the pending limit with a retry hint, and accepts again once drained', async () => {
    const engine = await start(path.join(work, 'e'), { pendingMax: 3, batchDelayMs: 50 });
    try {
      const envelopes = await Promise.all(
        [0, 1, 2, 3].map(
          async (i) =>
            (
              await signEnvelope({
                app: 'kv',
                action: 'put',
                args: { map: 'kv.bp', key: `k${i}`, value: 'v' },
                identity: user.identity,
                signer: user.signer,
              })
            ).envelope,
        ),
      );
      // All four arrive before the first batch is ordered (pending counts them at arrival).
      const outcomes = await Promise.all(envelopes.map((envelope) => engine.submit(envelope)));
      expect(outcomes.slice(0, 3).every((outcome) => outcome.ok)).toBe(true);
      const refused = outcomes[3];
      expect(refused?.ok === false && refused.error.code).toBe('NODE_E_BACKPRESSURE');
      expect(refused?.ok === false && (refused.retryAfterMs ?? 0) > 0).toBe(true);
      for (const outcome of outcomes.slice(0, 3)) {
        if (outcome.ok) expect((await engine.waitFor(outcome.txId, 5000)).status).toBe('Committed');
      }
      const [, , , last] = envelopes;
      if (last === undefined) throw new Error('fixture');
      expect((await engine.submit(last)).ok).toBe(true);
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine: a request ordered twice', () => {
  it('stays Committed when its copy is recorded later as an Invalid replay', async () => {
    let log: OrderingLog | undefined;
    const engine = await start(path.join(work, 'ordered-twice'), {
      openLog: async (dir) => {
        log = await openEmbeddedLog(dir);
        return log;
      },
    });
    try {
      const envelope = await putEnvelope('public:kv.t', 'twice', 'v');
      const txId = await (async () => {
        const submitted = await engine.submit(envelope);
        if (!submitted.ok) throw submitted.error;
        return submitted.txId;
      })();
      const first = await engine.waitFor(txId, 5000);
      expect(first).toMatchObject({ status: 'Committed' });
      // The same request ordered again, as when a client sent it to another node after an
      // unknown outcome: every node records the copy as TX_E_REPLAY.
      const before = engine.position().seqno;
      await log?.append(encodeBatch({ time: Date.now(), envelopes: [envelope] }));
      await engine.idle();
      expect(engine.position().seqno).toBeGreaterThan(before);
      expect(await engine.status(txId)).toEqual(first);
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine: a request ordered twice, its status no longer in memory', () => {
  it('stays Committed: the ledger answers, and the committed entry wins', async () => {
    let log: OrderingLog | undefined;
    const engine = await start(path.join(work, 'ordered-twice-evicted'), {
      statusEntries: 2,
      openLog: async (dir) => {
        log = await openEmbeddedLog(dir);
        return log;
      },
    });
    try {
      const envelope = await putEnvelope('public:kv.t', 'twice-evicted', 'v');
      const submitted = await engine.submit(envelope);
      if (!submitted.ok) throw submitted.error;
      const first = await engine.waitFor(submitted.txId, 5000);
      expect(first).toMatchObject({ status: 'Committed' });
      // Three later transactions push its status out of memory (the bound is 2).
      for (const key of ['e1', 'e2', 'e3']) {
        expect(await engine.waitFor(await put(engine, key, 'v'), 5000)).toMatchObject({
          status: 'Committed',
        });
      }
      await log?.append(encodeBatch({ time: Date.now(), envelopes: [envelope] }));
      await engine.idle();
      expect(await engine.status(submitted.txId)).toEqual(first);
    } finally {
      await engine.stop();
    }
  });
});

describe('node engine: an append ordering could not confirm', () => {
  it('a transaction that executed anyway stays Committed: the late ORDERING_E_OUTCOME_UNKNOWN does not turn it into Unknown', async () => {
    const engine = await start(path.join(work, 'outcome-unknown'), {
      // The log takes the batch (it executes), then says it could not confirm the outcome, as
      // the etcd log does when its mirror lags past the append timeout.
      openLog: async (dir) => {
        const log = await openEmbeddedLog(dir);
        return {
          ...log,
          append: async (batch: Uint8Array) => {
            await log.append(batch);
            await new Promise((resolve) => setTimeout(resolve, 200));
            throw cofferError('ORDERING_E_OUTCOME_UNKNOWN', 'the put may have been applied');
          },
        };
      },
    });
    try {
      const envelope = await putEnvelope('public:kv.t', 'late', 'v');
      const submitted = await engine.submit(envelope);
      if (!submitted.ok) throw submitted.error;
      const txId = transactionId(envelope.request);
      await new Promise((resolve) => setTimeout(resolve, 600));
      expect(await engine.status(txId)).toMatchObject({ status: 'Committed' });
    } finally {
      await engine.stop();
    }
  });
});
