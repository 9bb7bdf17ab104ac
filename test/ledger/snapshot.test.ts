// Snapshots: round trip, identical bytes for identical state, pruning, fallback past a damaged
// newest snapshot, and atomicity under crashes and a full disk on a simulated disk.
import { randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cofferError, isCofferError } from '../../src/errors/index.js';
import { createSimStorage } from '../../src/ledger/files-sim.js';
import { ledgerSecretFromBytes } from '../../src/ledger/secret.js';
import {
  decodeSnapshot,
  encodeSnapshot,
  encodeSnapshotSections,
  loadLatestSnapshot,
  sectionDigests,
  snapshotFileName,
  writeSnapshot,
  type LoadedSnapshot,
} from '../../src/ledger/snapshot.js';
import { createStore, type Store, type Write } from '../../src/ledger/store.js';

const secret = ledgerSecretFromBytes(Uint8Array.from({ length: 32 }, (_, i) => 255 - i));
const masterSeed = Number(process.env.COFFER_SEED ?? randomInt(2 ** 31));
console.log(`seed=${masterSeed} (rerun with COFFER_SEED=${masterSeed})`);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-snapshot-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const writes: Write[] = [
  { map: 'public:tokens', key: 'COF', value: '{"supply":"1000"}' },
  { map: 'balances', key: 'bob', value: '"40"' },
  { map: 'balances', key: 'alice', value: '"60"' },
  { map: 'public:coffer.certs', key: 'ab12', value: '"-----BEGIN CERTIFICATE-----"' },
  { map: 'custody.vaults', key: 'v1', value: '{"owner":"alice","note":"naïve ☃"}' },
];

function storeWith(order: readonly Write[], seqnos: readonly number[]): Store {
  const store = createStore();
  order.forEach((write, index) => {
    store.apply([write], seqnos[index] ?? index + 1);
  });
  return store;
}

function dump(store: Store): Record<string, [string, string][]> {
  return Object.fromEntries(store.maps().map((map) => [map, [...store.entries(map)]]));
}

const extra = Buffer.from('merkle-state+replay-table', 'utf8');

describe('snapshots', () => {
  it('round trip: store, extra and seqno; private values are not in clear', async () => {
    const dir = path.join(work, 'roundtrip');
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    const written = await writeSnapshot(dir, { seqno: 9, store, extra, secret });
    expect(path.basename(written.file)).toBe(snapshotFileName(9));
    const bytes = await readFile(written.file);
    expect(bytes.includes('COF')).toBe(true);
    expect(bytes.includes('alice')).toBe(false);
    const { snapshot, skipped } = await loadLatestSnapshot(dir, secret);
    expect(skipped).toEqual([]);
    expect(snapshot?.seqno).toBe(9);
    expect(snapshot?.store.seqno()).toBe(9);
    expect(Buffer.from(snapshot?.extra ?? []).equals(extra)).toBe(true);
    expect(dump(snapshot?.store ?? createStore())).toEqual(dump(store));
    // The restored store carries on from the snapshot seqno.
    snapshot?.store.apply([{ map: 'balances', key: 'carol', value: '"1"' }], 10);
    expect(snapshot?.store.read('balances', 'carol')).toBe('"1"');
  });

  it('two nodes with the same state write identical bytes, however they got there', async () => {
    const a = storeWith(writes, [1, 2, 3, 4, 5]);
    const b = storeWith([...writes].reverse(), [2, 3, 5, 7, 8]);
    // A key written then deleted leaves nothing behind.
    b.apply([{ map: 'gone', key: 'k', value: 'v' }], 9);
    b.apply([{ map: 'gone', key: 'k', value: null }], 10);
    const first = encodeSnapshot({ seqno: 12, store: a, extra, secret });
    expect(
      Buffer.from(encodeSnapshot({ seqno: 12, store: b, extra, secret })).equals(
        Buffer.from(first),
      ),
    ).toBe(true);
    const restored = decodeSnapshot(first, secret);
    expect(
      Buffer.from(encodeSnapshot({ seqno: 12, store: restored.store, extra, secret })).equals(
        Buffer.from(first),
      ),
    ).toBe(true);
    const dirA = path.join(work, 'node-a');
    const dirB = path.join(work, 'node-b');
    await writeSnapshot(dirA, { seqno: 12, store: a, extra, secret });
    await writeSnapshot(dirB, { seqno: 12, store: b, extra, secret });
    const name = snapshotFileName(12);
    expect(
      (await readFile(path.join(dirA, name))).equals(await readFile(path.join(dirB, name))),
    ).toBe(true);
  });

  it('keeps the newest snapshotsKeptMax files', async () => {
    const dir = path.join(work, 'prune');
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    for (const seqno of [10, 20, 30, 40, 50])
      await writeSnapshot(dir, { seqno, store, extra, secret });
    expect((await readdir(dir)).sort()).toEqual(
      [30, 40, 50].map((seqno) => snapshotFileName(seqno)),
    );
    const result = await writeSnapshot(
      dir,
      { seqno: 60, store, extra, secret },
      { snapshotsKeptMax: 1 },
    );
    expect(result.removed.sort()).toEqual([30, 40, 50].map((seqno) => snapshotFileName(seqno)));
    expect(await readdir(dir)).toEqual([snapshotFileName(60)]);
  });

  it('keeps the newest two committed snapshots beside the newest ones, and loads committed ones alone when asked', async () => {
    const dir = path.join(work, 'prune-committed');
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    for (const seqno of [5, 8, 10])
      await writeSnapshot(dir, { seqno, store, extra, secret }, { committed: true });
    for (const seqno of [11, 12, 13, 14])
      await writeSnapshot(dir, { seqno, store, extra, secret }, { snapshotsKeptMax: 2 });
    expect((await readdir(dir)).sort()).toEqual([
      snapshotFileName(8, true),
      snapshotFileName(10, true),
      snapshotFileName(13),
      snapshotFileName(14),
    ]);
    const newest = await loadLatestSnapshot(dir, secret);
    expect(newest.snapshot).toMatchObject({ seqno: 14, committed: false });
    const committed = await loadLatestSnapshot(dir, secret, { committedOnly: true });
    expect(committed.snapshot).toMatchObject({ seqno: 10, committed: true });
    expect(committed.snapshot?.file).toBe(
      path.join(dir, 'snapshot-00000000000000000010.committed.snap'),
    );
  });

  it('writes the same bytes from sections encoded earlier, and decodes their digests', () => {
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    const sections = encodeSnapshotSections(12, store, secret);
    const fromSections = encodeSnapshot({ seqno: 12, store, extra, secret }, sections);
    expect(
      Buffer.from(fromSections).equals(
        Buffer.from(encodeSnapshot({ seqno: 12, store, extra, secret })),
      ),
    ).toBe(true);
    const decoded = decodeSnapshot(fromSections, secret);
    expect(decoded.digests).toEqual(sectionDigests(sections));
  });

  it('falls back past a damaged newest snapshot and says why', async () => {
    const dir = path.join(work, 'fallback');
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    for (const seqno of [10, 20, 30]) await writeSnapshot(dir, { seqno, store, extra, secret });
    const newest = path.join(dir, snapshotFileName(30));
    const bytes = await readFile(newest);
    bytes[bytes.length - 3] = (bytes[bytes.length - 3] ?? 0) ^ 0x10;
    await writeFile(newest, bytes);
    const middle = path.join(dir, snapshotFileName(20));
    await writeFile(middle, (await readFile(middle)).subarray(0, 100));
    const { snapshot, skipped } = await loadLatestSnapshot(dir, secret);
    expect(snapshot?.seqno).toBe(10);
    expect(skipped.map((s) => [path.basename(s.file), s.error.code])).toEqual([
      [snapshotFileName(30), 'SNAPSHOT_E_CORRUPT'],
      [snapshotFileName(20), 'SNAPSHOT_E_CORRUPT'],
    ]);
    expect(skipped[0]?.error.message).toMatch(/SHA-256/);
    expect(skipped[1]?.error.message).toMatch(/truncated/);
    // With another ledger secret nothing loads, and the reason is the secret.
    const other = await loadLatestSnapshot(dir, ledgerSecretFromBytes(new Uint8Array(32)));
    expect(other.snapshot).toBeUndefined();
    expect(other.skipped.map((s) => s.error.code)).toEqual([
      'SNAPSHOT_E_CORRUPT',
      'SNAPSHOT_E_CORRUPT',
      'STORE_E_DECRYPT',
    ]);
    expect(await loadLatestSnapshot(path.join(work, 'none'), secret)).toEqual({
      snapshot: undefined,
      skipped: [],
    });
  });

  it("falls back past a snapshot the caller's open() refuses with a CofferError, and gives what it opened", async () => {
    const dir = path.join(work, 'open');
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    for (const seqno of [10, 20]) {
      await writeSnapshot(dir, { seqno, store, extra: Buffer.from(`extra ${seqno}`), secret });
    }
    const open = (snapshot: LoadedSnapshot): string => {
      const text = Buffer.from(snapshot.extra).toString();
      if (text === 'extra 20') throw cofferError('LEDGER_E_MERKLE_STATE', 'does not verify');
      return text;
    };
    const loaded = await loadLatestSnapshot(dir, secret, { open });
    expect(loaded.snapshot?.seqno).toBe(10);
    expect(loaded.opened).toBe('extra 10');
    expect(loaded.skipped.map((s) => [path.basename(s.file), s.error.code])).toEqual([
      [snapshotFileName(20), 'LEDGER_E_MERKLE_STATE'],
    ]);
    expect(loaded.skipped[0]?.error.message).toBe(
      `${path.join(dir, snapshotFileName(20))}: does not verify`,
    );
    // A bug in open() is not a damaged snapshot: it is thrown, not passed over.
    const buggy = (): never => {
      throw new TypeError('a bug');
    };
    await expect(loadLatestSnapshot(dir, secret, { open: buggy })).rejects.toThrow('a bug');
    // Without open(), nothing is opened.
    expect((await loadLatestSnapshot(dir, secret)).opened).toBeUndefined();
  });

  it('refuses a snapshot named for another seqno', async () => {
    const dir = path.join(work, 'renamed');
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    const { file } = await writeSnapshot(dir, { seqno: 5, store, extra, secret });
    await writeFile(path.join(dir, snapshotFileName(7)), await readFile(file));
    const { snapshot, skipped } = await loadLatestSnapshot(dir, secret);
    expect(snapshot?.seqno).toBe(5);
    expect(skipped[0]?.error.message).toMatch(/holds seqno 5 but is named for 7/);
  });

  it('refuses any bit flip with SNAPSHOT_E_CORRUPT', () => {
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    const bytes = Buffer.from(encodeSnapshot({ seqno: 5, store, extra, secret }));
    for (let at = 0; at < bytes.length; at += 7) {
      const mutated = Buffer.from(bytes);
      mutated[at] = (mutated[at] ?? 0) ^ 0x01;
      let outcome: unknown;
      try {
        decodeSnapshot(mutated, secret);
      } catch (error) {
        outcome = error;
      }
      expect(isCofferError(outcome, 'SNAPSHOT_E_CORRUPT'), `flip at ${at}`).toBe(true);
    }
  });

  it('a crash at any point of a write leaves the previous or the new snapshot, never a broken one', async () => {
    const dir = '/sim/snapshots';
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    const later = storeWith(writes, [1, 2, 3, 4, 5]);
    later.apply([{ map: 'balances', key: 'dave', value: '"5"' }], 6);
    for (let calls = 0; calls < 25; calls += 1) {
      const sim = createSimStorage(masterSeed + calls);
      await writeSnapshot(dir, { seqno: 5, store, extra, secret }, { storage: sim });
      sim.crashAfter(calls);
      const done = await writeSnapshot(
        dir,
        { seqno: 6, store: later, extra, secret },
        { storage: sim },
      ).then(
        () => true,
        () => false,
      );
      sim.crash();
      const { snapshot, skipped } = await loadLatestSnapshot(dir, secret, { storage: sim });
      const where = `seed=${masterSeed + calls}, crash after ${calls} calls`;
      expect(skipped, where).toEqual([]);
      expect([5, 6], where).toContain(snapshot?.seqno);
      if (done) expect(snapshot?.seqno, where).toBe(6);
      if (snapshot?.seqno === 6) expect(snapshot.store.read('balances', 'dave')).toBe('"5"');
      // The next write cleans up a temporary file the crash left behind.
      await writeSnapshot(dir, { seqno: 7, store: later, extra, secret }, { storage: sim });
      expect(
        (await sim.list(dir)).filter((name) => name.endsWith('.tmp')),
        where,
      ).toEqual([]);
    }
  });

  it('a full disk fails with LEDGER_E_DISK_FULL and keeps the previous snapshot', async () => {
    const dir = '/sim/full';
    const store = storeWith(writes, [1, 2, 3, 4, 5]);
    const sim = createSimStorage(masterSeed);
    await writeSnapshot(dir, { seqno: 5, store, extra, secret }, { storage: sim });
    sim.faults.capacityBytes = sim.usedBytes() + 100;
    const error: unknown = await writeSnapshot(
      dir,
      { seqno: 6, store, extra, secret },
      { storage: sim },
    ).catch((caught: unknown) => caught);
    expect(isCofferError(error, 'LEDGER_E_DISK_FULL')).toBe(true);
    expect(isCofferError(error) && error.details.retryable).toBe(true);
    expect(await sim.list(dir)).toEqual([snapshotFileName(5)]);
    expect((await loadLatestSnapshot(dir, secret, { storage: sim })).snapshot?.seqno).toBe(5);
  });

  it('200,000 keys snapshot and restore', () => {
    const store = createStore();
    for (let base = 0; base < 200_000; base += 10_000) {
      const batch: Write[] = [];
      for (let i = base; i < base + 10_000; i += 1) {
        batch.push({
          map: i % 2 === 0 ? 'public:accounts' : 'balances',
          key: `acct-${i}`,
          value: String(i),
        });
      }
      store.apply(batch, base + 1);
    }
    const started = performance.now();
    const bytes = encodeSnapshot({ seqno: 200_000, store, extra, secret });
    const restored = decodeSnapshot(bytes, secret);
    console.log(
      `200,000 keys: snapshot ${(bytes.byteLength / 1_048_576).toFixed(1)} MiB, ` +
        `encode + decode ${(performance.now() - started).toFixed(0)} ms`,
    );
    expect(restored.store.size('balances')).toBe(100_000);
    expect(restored.store.read('public:accounts', 'acct-199998')).toBe('199998');
  });
});
