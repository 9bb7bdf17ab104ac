// Transaction index on a real LevelDB in a temporary folder: buffered and written lookups,
// reopening, truncation, catching up from ledger files written by the ledger writer, a seeded
// comparison with a naive in-memory model (STYLE.md 11; COFFER_SEED=<seed> replays), damaged
// folders, and memory while indexing 1,000,000 transactions.
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import { openLedgerWriter, type LedgerWriter } from '../../src/ledger/files.js';
import { createRandom, type SimRandom } from '../../src/ledger/files-sim.js';
import {
  addEntriesMax,
  bufferEntriesMax,
  catchUpTxIndex,
  destroyTxIndex,
  openTxIndex,
  writeBatchEntriesMax,
  type TxIndexEntry,
  type TxIndexLogger,
} from '../../src/ledger/tx-index.js';

const masterSeed = Number(process.env.COFFER_SEED ?? randomInt(2 ** 31));
console.log(`seed=${masterSeed} (rerun with COFFER_SEED=${masterSeed})`);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-tx-index-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

let folders = 0;
function freshDir(name: string): string {
  folders += 1;
  return path.join(work, `${name}-${folders}`);
}

function txIdOf(random: SimRandom): string {
  return Buffer.from(random.bytes(32)).toString('hex');
}

/** `count` entries from seqno `first`, every fifth seqno a signature entry (no txId). */
function entriesFrom(first: number, count: number): TxIndexEntry[] {
  const out: TxIndexEntry[] = [];
  for (let seqno = first; out.length < count; seqno += 1) {
    if (seqno % 5 !== 0) out.push({ txId: randomBytes(32).toString('hex'), seqno });
  }
  return out;
}

function recordingLogger(): TxIndexLogger & { readonly lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    warn: (_details, message) => lines.push(`warn ${message}`),
    error: (_details, message) => lines.push(`error ${message}`),
  };
}

describe('transaction index', () => {
  it('looks entries up while buffered and after they are written', async () => {
    const index = await openTxIndex(freshDir('basic'));
    expect(index.indexedThrough()).toBe(0);
    expect(index.discarded).toBeUndefined();
    const entries = entriesFrom(1, 100);
    const [first, second] = entries;
    if (first === undefined || second === undefined) throw new Error('entries');
    // The same request ordered again later (a refused replay): both entries are kept.
    const again = { txId: first.txId, seqno: 130 };
    await index.add(entries, 126);
    await index.add([again], 131);
    expect(index.stats().bufferedEntries).toBe(101);
    expect(index.indexedThrough()).toBe(131);
    expect(await index.lookup(second.txId)).toBe(second.seqno);
    expect(await index.lookupAll(first.txId)).toEqual([first.seqno, 130]);

    await index.flush();
    expect(index.stats()).toMatchObject({ bufferedEntries: 0, writtenThrough: 131 });
    for (const entry of entries) expect(await index.lookup(entry.txId)).toBe(entry.seqno);
    expect(await index.lookup(first.txId)).toBe(first.seqno);
    expect(await index.lookupAll(first.txId)).toEqual([first.seqno, 130]);
    expect(await index.lookup('ab'.repeat(32))).toBeUndefined();
    // Not a txId at all: never indexed.
    expect(await index.lookup('AB'.repeat(32))).toBeUndefined();
    expect(await index.lookupAll('nope')).toEqual([]);

    // An add of no entries still moves indexedThrough (signature entries).
    await index.add([], 140);
    expect(index.indexedThrough()).toBe(140);
    await index.close();
    await index.close();
    await expect(index.lookup(second.txId)).rejects.toMatchObject({ code: 'TXINDEX_E_CLOSED' });
    await expect(index.add([], 141)).rejects.toMatchObject({ code: 'TXINDEX_E_CLOSED' });
  });

  it('asserts the order of seqnos (a caller bug)', async () => {
    const index = await openTxIndex(freshDir('order'));
    await index.add(entriesFrom(1, 3), 3);
    const txId = 'cd'.repeat(32);
    expect(() => index.add([{ txId, seqno: 3 }], 4)).toThrow(/add\(\) seqno/);
    expect(() => index.add([{ txId, seqno: 5 }], 4)).toThrow(/add\(\) seqno/);
    expect(() => index.add([], 2)).toThrow(/add\(\) through/);
    expect(() => index.add([{ txId: txId.toUpperCase(), seqno: 4 }], 4)).toThrow(/txId/);
    await index.close();
  });

  it('keeps entries and indexedThrough across close and reopen', async () => {
    const dir = freshDir('reopen');
    const index = await openTxIndex(dir);
    const entries = entriesFrom(1, 10_000);
    for (let i = 0; i < entries.length; i += addEntriesMax) {
      const slice = entries.slice(i, i + addEntriesMax);
      await index.add(slice, slice.at(-1)?.seqno ?? 0);
    }
    await index.add([], 12_600);
    await index.close(); // flushes
    const reopened = await openTxIndex(dir);
    expect(reopened.indexedThrough()).toBe(12_600);
    for (const entry of entries.filter((_, i) => i % 97 === 0)) {
      expect(await reopened.lookup(entry.txId)).toBe(entry.seqno);
    }
    await expect(openTxIndex(dir)).rejects.toMatchObject({ code: 'TXINDEX_E_LOCKED' });
    // Even with rebuildOnCorruption, a folder in use is never discarded.
    await expect(openTxIndex(dir, { rebuildOnCorruption: true })).rejects.toMatchObject({
      code: 'TXINDEX_E_LOCKED',
    });
    await expect(destroyTxIndex(dir)).rejects.toMatchObject({ code: 'TXINDEX_E_LOCKED' });
    expect(reopened.indexedThrough()).toBe(12_600);
    expect(await reopened.lookup(entries[0]?.txId ?? '')).toBe(entries[0]?.seqno);
    await reopened.close();
  });

  it('waits (backpressure) above bufferEntriesMax and sees every entry meanwhile', async () => {
    const index = await openTxIndex(freshDir('backpressure'));
    const adds: Promise<void>[] = [];
    const all: TxIndexEntry[] = [];
    let seqno = 0;
    // Not awaiting: the buffer goes over its limit and the last add's promise waits.
    while (index.stats().bufferedEntries <= bufferEntriesMax) {
      const entries = entriesFrom(seqno + 1, addEntriesMax);
      seqno = entries.at(-1)?.seqno ?? seqno;
      all.push(...entries);
      adds.push(index.add(entries, seqno));
    }
    let resolved = false;
    const last = adds.at(-1)?.then(() => (resolved = true));
    await Promise.resolve();
    expect(resolved).toBe(false);
    // One more add is allowed (the caller awaits the previous one); a second is a caller bug.
    adds.push(index.add(entriesFrom(seqno + 1, addEntriesMax), seqno + 2 * addEntriesMax));
    expect(() => index.add([], seqno + 3 * addEntriesMax)).toThrow(/backpressure/);
    // Lookups during background writes find every entry (buffer first, then LevelDB).
    const sample = all.filter((_, i) => i % 501 === 0);
    const found = await Promise.all(sample.map((entry) => index.lookup(entry.txId)));
    expect(found).toEqual(sample.map((entry) => entry.seqno));
    await last;
    expect(resolved).toBe(true);
    expect(index.stats().bufferedEntries).toBeLessThanOrEqual(bufferEntriesMax + addEntriesMax);
    await Promise.all(adds);
    await index.flush();
    expect(index.stats().bufferedEntries).toBe(0);
    expect(index.stats().batchesWritten).toBeGreaterThanOrEqual(
      Math.ceil(all.length / writeBatchEntriesMax),
    );
    await index.close();
  });

  it('truncateAfter removes later entries across write batches, durably', async () => {
    const dir = freshDir('truncate');
    const logger = recordingLogger();
    const index = await openTxIndex(dir, { logger });
    const entries: TxIndexEntry[] = [];
    // 100 write batches of 1,000 entries: truncation deletes in several LevelDB batches.
    for (let batch = 0; batch < 100; batch += 1) {
      const next = entriesFrom((entries.at(-1)?.seqno ?? 0) + 1, 1000);
      entries.push(...next);
      await index.add(next, next.at(-1)?.seqno ?? 0);
      await index.flush();
    }
    const repeated = entries[10];
    if (repeated === undefined) throw new Error('entries');
    const lastSeqno = entries.at(-1)?.seqno ?? 0;
    await index.add([{ txId: repeated.txId, seqno: lastSeqno + 1 }], lastSeqno + 1);
    // Cut inside a write batch, buffered entries included.
    const cut = entries[12_345]?.seqno ?? 0;
    await index.truncateAfter(cut);
    expect(index.indexedThrough()).toBe(cut);
    expect(await index.lookupAll(repeated.txId)).toEqual([repeated.seqno]);
    for (const entry of entries.filter((_, i) => i % 101 === 0 || i === 12_345 || i === 12_346)) {
      expect(await index.lookup(entry.txId)).toBe(entry.seqno <= cut ? entry.seqno : undefined);
    }
    expect(logger.lines.join('\n')).toMatch(new RegExp(`cut back from ${lastSeqno + 1} to ${cut}`));
    // The same seqnos are used again by the entries that replace the cut ones.
    const replacement = entriesFrom(cut + 1, 10);
    await index.add(replacement, replacement.at(-1)?.seqno ?? 0);
    await index.close();

    const reopened = await openTxIndex(dir);
    expect(reopened.indexedThrough()).toBe(replacement.at(-1)?.seqno);
    for (const entry of replacement) expect(await reopened.lookup(entry.txId)).toBe(entry.seqno);
    expect(await reopened.lookup(entries[20_000]?.txId ?? '')).toBeUndefined();
    await reopened.truncateAfter(0);
    expect(reopened.indexedThrough()).toBe(0);
    expect(await reopened.lookup(entries[0]?.txId ?? '')).toBeUndefined();
    await reopened.truncateAfter(5); // beyond indexedThrough: nothing to do
    expect(reopened.indexedThrough()).toBe(0);
    await reopened.close();
  });

  it('matches a naive model through seeded adds, truncations and reopens', async () => {
    for (let run = 0; run < 3; run += 1) {
      const seed = masterSeed + run;
      const random = createRandom(seed);
      const dir = freshDir('model');
      let index = await openTxIndex(dir);
      const model: TxIndexEntry[] = [];
      const pool = Array.from({ length: 300 }, () => txIdOf(random));
      let through = 0;
      for (let step = 0; step < 60; step += 1) {
        const roll = random.next();
        if (roll < 0.6) {
          const entries: TxIndexEntry[] = [];
          let seqno = through;
          for (let i = random.int(200); i > 0; i -= 1) {
            seqno += 1 + random.int(3);
            // Mostly fresh ids, sometimes one seen before (a replay refused as invalid).
            const txId = random.chance(0.2)
              ? (pool[random.int(pool.length)] ?? '')
              : txIdOf(random);
            entries.push({ txId, seqno });
          }
          through = seqno + random.int(3);
          model.push(...entries);
          await index.add(entries, through);
          if (random.chance(0.3)) await index.flush();
        } else if (roll < 0.8) {
          const cut = random.int(through + 1);
          await index.truncateAfter(cut);
          through = Math.min(through, cut);
          model.splice(0, model.length, ...model.filter((entry) => entry.seqno <= cut));
        } else {
          await index.close();
          index = await openTxIndex(dir);
        }
        expect(index.indexedThrough(), `seed=${seed} step=${step}`).toBe(through);
        const probes = [...pool.slice(0, 40), ...model.slice(-20).map((entry) => entry.txId)];
        for (const txId of probes) {
          const expected = model.filter((entry) => entry.txId === txId).map((e) => e.seqno);
          expect(await index.lookupAll(txId), `seed=${seed} step=${step}`).toEqual(expected);
        }
      }
      await index.close();
    }
  });
});

// --- catching up from ledger files ------------------------------------------------------------

/** Appends `count` entries as the node does: tx entries (JSON) and every 10th a signature. */
async function appendEntries(writer: LedgerWriter, count: number): Promise<TxIndexEntry[]> {
  const added: TxIndexEntry[] = [];
  for (let i = 0; i < count; i += 1) {
    const seqno = writer.lastSeqno() + 1;
    if (seqno % 10 === 0) {
      await writer.append(seqno, 'signature', canonicalBytes({ type: 'signature', seqno }));
      writer.endChunk();
      continue;
    }
    // An envelope that could not be read has no txId.
    const txId = seqno % 7 === 0 ? null : randomBytes(32).toString('hex');
    const payload = { type: 'tx', seqno, txId, status: 'committed', result: { txId: 'ab' } };
    await writer.append(seqno, 'tx', canonicalBytes(payload));
    if (txId !== null) added.push({ txId, seqno });
  }
  await writer.flush();
  return added;
}

describe('catchUpTxIndex', () => {
  it('indexes the ledger files after indexedThrough, and cuts an index ahead of them', async () => {
    const ledgerDir = freshDir('ledger');
    const { writer } = await openLedgerWriter(ledgerDir, { chunkBytesMax: 4096 });
    const first = await appendEntries(writer, 5000);
    const index = await openTxIndex(freshDir('caught-up'));
    const report = await catchUpTxIndex(index, ledgerDir, writer.lastSeqno());
    expect(report).toEqual({
      truncatedFrom: undefined,
      fromSeqno: 1,
      throughSeqno: 5000,
      entriesRead: 5000,
      txIdsAdded: first.length,
    });
    for (const entry of first.filter((_, i) => i % 37 === 0)) {
      expect(await index.lookup(entry.txId)).toBe(entry.seqno);
    }

    const more = await appendEntries(writer, 300);
    const second = await catchUpTxIndex(index, ledgerDir, writer.lastSeqno());
    expect(second).toMatchObject({ fromSeqno: 5001, throughSeqno: 5300, entriesRead: 300 });
    expect(await index.lookup(more.at(-1)?.txId ?? '')).toBe(more.at(-1)?.seqno);
    // Nothing new: nothing read.
    expect(await catchUpTxIndex(index, ledgerDir, writer.lastSeqno())).toMatchObject({
      fromSeqno: 5301,
      entriesRead: 0,
      txIdsAdded: 0,
    });

    // The ledger lost its tail (cut on recovery): the index is cut back to it.
    await writer.truncateAfter(5100);
    const third = await catchUpTxIndex(index, ledgerDir, writer.lastSeqno());
    expect(third).toMatchObject({ truncatedFrom: 5300, throughSeqno: 5100, entriesRead: 0 });
    expect(await index.lookup(more.at(-1)?.txId ?? '')).toBeUndefined();
    const kept = more.filter((entry) => entry.seqno <= 5100).at(-1);
    expect(await index.lookup(kept?.txId ?? '')).toBe(kept?.seqno);
    await writer.close();
    await index.close();
  });

  it('starts at the first entry of a ledger that begins after seqno 1 (joined from a snapshot)', async () => {
    const ledgerDir = freshDir('ledger-joined');
    const { writer } = await openLedgerWriter(ledgerDir, { firstSeqno: 1001 });
    const added = await appendEntries(writer, 50);
    const index = await openTxIndex(freshDir('joined'));
    const report = await catchUpTxIndex(index, ledgerDir, writer.lastSeqno());
    expect(report).toMatchObject({ fromSeqno: 1, throughSeqno: 1050, entriesRead: 50 });
    // 1001 is a multiple of 7: its entry has no txId.
    expect(added[0]?.seqno).toBe(1002);
    expect(await index.lookup(added[0]?.txId ?? '')).toBe(1002);
    await writer.close();
    await index.close();
  });

  it('refuses a tx entry that is not what a node writes (LEDGER_E_ENTRY_MALFORMED)', async () => {
    const cases: [string, Uint8Array][] = [
      ['is not JSON', Buffer.from('entry 1 ....')],
      ['records seqno 2', canonicalBytes({ type: 'tx', seqno: 2, txId: 'ab'.repeat(32) })],
      ['has a txId that is not', canonicalBytes({ type: 'tx', seqno: 1, txId: 'AB'.repeat(32) })],
    ];
    for (const [message, payload] of cases) {
      const ledgerDir = freshDir('ledger-malformed');
      const { writer } = await openLedgerWriter(ledgerDir);
      await writer.append(1, 'tx', payload);
      await writer.close();
      const index = await openTxIndex(freshDir('malformed'));
      const caught = await catchUpTxIndex(index, ledgerDir, 1).catch((error: unknown) => error);
      expect(isCofferError(caught, 'LEDGER_E_ENTRY_MALFORMED')).toBe(true);
      expect(String(caught)).toContain(message);
      await index.close();
    }
  });
});

// --- damaged folders --------------------------------------------------------------------------

async function filledIndex(dir: string): Promise<TxIndexEntry[]> {
  const index = await openTxIndex(dir);
  const entries = entriesFrom(1, 1000);
  await index.add(entries, 1250);
  await index.close();
  return entries;
}

describe('damaged or foreign index folders', () => {
  const damages: [string, (dir: string) => Promise<void>, string][] = [
    ['garbage in CURRENT', (dir) => writeFile(path.join(dir, 'CURRENT'), 'garbage'), 'CORRUPT'],
    [
      'a truncated MANIFEST',
      async (dir) => {
        const manifest = (await readdir(dir)).find((name) => name.startsWith('MANIFEST-'));
        const file = path.join(dir, manifest ?? 'MANIFEST-000000');
        const bytes = await readFile(file);
        await writeFile(file, bytes.subarray(0, Math.floor(bytes.byteLength / 2)));
      },
      'CORRUPT',
    ],
    [
      'a missing MANIFEST',
      async (dir) => {
        const manifest = (await readdir(dir)).find((name) => name.startsWith('MANIFEST-'));
        await rm(path.join(dir, manifest ?? 'MANIFEST-000000'));
      },
      'IO',
    ],
  ];

  for (const [what, damage, code] of damages) {
    it(`${what}: refused, or discarded and rebuilt with rebuildOnCorruption`, async () => {
      const dir = freshDir('damaged');
      const ledgerDir = freshDir('damaged-ledger');
      const { writer } = await openLedgerWriter(ledgerDir);
      const added = await appendEntries(writer, 100);
      await writer.close();
      await filledIndex(dir);
      await damage(dir);
      await expect(openTxIndex(dir)).rejects.toMatchObject({ code: `TXINDEX_E_${code}` });

      const logger = recordingLogger();
      const index = await openTxIndex(dir, { rebuildOnCorruption: true, logger });
      expect(index.discarded?.code).toBe(`TXINDEX_E_${code}`);
      expect(index.indexedThrough()).toBe(0);
      expect(logger.lines.join('\n')).toMatch(/is discarded and starts empty/);
      await catchUpTxIndex(index, ledgerDir, 100);
      expect(await index.lookup(added[5]?.txId ?? '')).toBe(added[5]?.seqno);
      await index.close();
    });
  }

  it('a LevelDB that is not a transaction index is refused as damaged', async () => {
    const dir = freshDir('not-ours');
    const { ClassicLevel } = await import('classic-level');
    const other = new ClassicLevel(dir);
    await other.put('some', 'thing');
    await other.close();
    await expect(openTxIndex(dir)).rejects.toMatchObject({ code: 'TXINDEX_E_CORRUPT' });
    const index = await openTxIndex(dir, { rebuildOnCorruption: true });
    expect(index.indexedThrough()).toBe(0);
    await index.close();
  });

  it('never touches a folder holding other files, even with rebuildOnCorruption', async () => {
    const ledgerDir = freshDir('ledger-not-index');
    const { writer } = await openLedgerWriter(ledgerDir);
    await appendEntries(writer, 3);
    await writer.close();
    const before = (await readdir(ledgerDir)).sort();
    await expect(openTxIndex(ledgerDir, { rebuildOnCorruption: true })).rejects.toMatchObject({
      code: 'TXINDEX_E_DIR_INVALID',
    });
    await expect(destroyTxIndex(ledgerDir)).rejects.toMatchObject({
      code: 'TXINDEX_E_DIR_INVALID',
    });
    expect((await readdir(ledgerDir)).sort()).toEqual(before);
    const file = path.join(ledgerDir, before[0] ?? '');
    await expect(openTxIndex(file)).rejects.toMatchObject({ code: 'TXINDEX_E_DIR_INVALID' });
  });

  it('destroyTxIndex deletes an index folder', async () => {
    const dir = freshDir('destroy');
    await filledIndex(dir);
    await destroyTxIndex(dir);
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
    await destroyTxIndex(dir); // already gone
  });
});

// --- scale ------------------------------------------------------------------------------------

describe('1,000,000 transactions', () => {
  it('index with bounded memory and answer lookups', { timeout: 120_000 }, async () => {
    const total = 1_000_000;
    const index = await openTxIndex(freshDir('million'));
    const rssBefore = process.memoryUsage().rss;
    let rssPeak = rssBefore;
    const sample: TxIndexEntry[] = [];
    let waits = 0;
    const started = performance.now();
    for (let seqno = 0; seqno < total;) {
      const ids = randomBytes(addEntriesMax * 32);
      const entries: TxIndexEntry[] = [];
      for (let i = 0; i < addEntriesMax && seqno < total; i += 1) {
        seqno += 1;
        entries.push({ txId: ids.toString('hex', i * 32, i * 32 + 32), seqno });
      }
      for (let j = 0; j < 8; j += 1) {
        const picked = entries[(sample.length * 131) % entries.length];
        if (picked !== undefined) sample.push(picked);
      }
      const pending = index.add(entries, seqno);
      if (index.stats().bufferedEntries > bufferEntriesMax) waits += 1;
      await pending;
      rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    }
    await index.flush();
    const addSeconds = (performance.now() - started) / 1000;
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
    const growthMb = (rssPeak - rssBefore) / 1_048_576;

    const lookupsStarted = performance.now();
    for (const entry of sample) expect(await index.lookup(entry.txId)).toBe(entry.seqno);
    const misses = Array.from({ length: sample.length }, () => randomBytes(32).toString('hex'));
    for (const txId of misses) expect(await index.lookup(txId)).toBeUndefined();
    const lookupSeconds = (performance.now() - lookupsStarted) / 1000;
    console.log(
      `tx-index: ${total} entries in ${addSeconds.toFixed(1)} s ` +
        `(${Math.round(total / addSeconds)}/s, ${waits} adds waited); ` +
        `RSS growth peak ${growthMb.toFixed(0)} MB; ` +
        `${2 * sample.length} lookups (half misses) at ${Math.round((2 * sample.length) / lookupSeconds)}/s`,
    );
    expect(index.indexedThrough()).toBe(total);
    expect(growthMb).toBeLessThan(150);
    await index.close();
  });
});
