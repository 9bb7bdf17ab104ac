// Ledger files: the writer, reader, recovery and verifier, on the real disk, on negative vectors
// read from test/fixtures/ledger/, and in a seeded simulation of crashes, torn writes, lost
// unsynced data, full disks, failed fsyncs and bit flips. The seed is printed (`seed=…`);
// COFFER_SEED=<seed> replays a failure exactly.
import { randomInt } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  chunkFileName,
  createSeekIndex,
  formatVerifyResult,
  openLedgerWriter,
  readLedgerFrom,
  recoverLedger,
  seekHintsMax,
  seekStrideEntries,
  verifyLedgerDir,
  type EntryKind,
  type LedgerEntry,
  type LedgerOptions,
  type LedgerWriter,
} from '../../src/ledger/files.js';
import { recordHeaderBytes } from '../../src/ledger/files-format.js';
import { createSimStorage, type SimStorage } from '../../src/ledger/files-sim.js';
import { createFsStorage, type Storage } from '../../src/ledger/files-storage.js';
import { writeLedgerFixtures, type FixtureExpectation } from './ledger-fixtures.js';

const fixturesRoot = path.resolve(import.meta.dirname, '../fixtures/ledger');
const masterSeed = Number(process.env.COFFER_SEED ?? randomInt(2 ** 31));
console.log(`seed=${masterSeed} (rerun with COFFER_SEED=${masterSeed})`);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-ledger-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function readAll(dir: string, options: LedgerOptions = {}, from = 1): Promise<LedgerEntry[]> {
  const out: LedgerEntry[] = [];
  for await (const entry of readLedgerFrom(dir, from, options)) out.push(entry);
  return out;
}

function bytesOf(text: string): Uint8Array {
  return Buffer.from(text, 'utf8');
}

async function appendMany(writer: LedgerWriter, count: number, size = 10): Promise<void> {
  for (let i = 0; i < count; i += 1) {
    const seqno = writer.lastSeqno() + 1;
    const kind: EntryKind = seqno % 5 === 0 ? 'signature' : 'tx';
    await writer.append(seqno, kind, bytesOf(`entry ${seqno} `.padEnd(size, '.')));
  }
}

describe('ledger files on disk', () => {
  it('appends, flushes, rotates chunks by size and on request, and reads back', async () => {
    const dir = path.join(work, 'basic');
    const { writer, recovery } = await openLedgerWriter(dir, { chunkBytesMax: 200 });
    expect(recovery).toEqual({ chunks: 0, firstSeqno: undefined, lastSeqno: 0 });
    await appendMany(writer, 12, 20);
    writer.endChunk();
    await writer.append(13, 'signature', bytesOf('sig 13'));
    await writer.flush();
    expect(writer.flushedSeqno()).toBe(13);
    const names = (await readdir(dir)).sort();
    // Records are 32 + 20 bytes: three fit in 200 bytes; seqno 13 starts a chunk on request.
    expect(names).toEqual([1, 4, 7, 10, 13].map(chunkFileName));
    const entries = await readAll(dir);
    expect(entries.map((entry) => entry.seqno)).toEqual(
      Array.from({ length: 13 }, (_, i) => i + 1),
    );
    expect(Buffer.from(entries[12]?.payload ?? []).toString()).toBe('sig 13');
    expect(entries[4]?.kind).toBe('signature');
    expect((await readAll(dir, {}, 8)).map((entry) => entry.seqno)).toEqual([8, 9, 10, 11, 12, 13]);
    const verdict = await verifyLedgerDir(dir);
    expect(verdict).toEqual({
      ok: true,
      chunks: 5,
      entries: 13,
      signatures: 3,
      firstSeqno: 1,
      lastSeqno: 13,
      bytes: 12 * 52 + 32 + 6,
    });
    expect(formatVerifyResult(verdict)).toBe(
      'ok: 5 chunks, 13 entries (seqno 1..13, 3 signatures), 662 bytes',
    );
    await writer.close();
  });

  it('verify of a missing folder is an IO error, not an empty ledger', async () => {
    await expect(verifyLedgerDir(path.join(work, 'missing'))).rejects.toMatchObject({
      code: 'LEDGER_E_IO',
    });
  });

  it('asserts contiguous seqnos and refuses overlapping calls', async () => {
    const { writer } = await openLedgerWriter(path.join(work, 'contiguous'));
    await expect(writer.append(2, 'tx', bytesOf('x'))).rejects.toThrow(/seqnos are contiguous/);
    await writer.append(1, 'tx', bytesOf('x'));
    const first = writer.flush();
    await expect(writer.append(2, 'tx', bytesOf('y'))).rejects.toThrow(/must not overlap/);
    await first;
    await writer.close();
  });

  it('starts a joining node at firstSeqno and reopens where it stopped', async () => {
    const dir = path.join(work, 'join');
    const { writer } = await openLedgerWriter(dir, { firstSeqno: 101 });
    await appendMany(writer, 3);
    await writer.close();
    const reopened = await openLedgerWriter(dir, { firstSeqno: 101 });
    expect(reopened.recovery).toEqual({ chunks: 1, firstSeqno: 101, lastSeqno: 103 });
    await reopened.writer.append(104, 'tx', bytesOf('next'));
    await reopened.writer.close();
    expect((await readAll(dir)).map((entry) => entry.seqno)).toEqual([101, 102, 103, 104]);
  });

  it('truncateAfter cuts buffered, written and whole chunks, durably', async () => {
    const dir = path.join(work, 'truncate');
    const { writer } = await openLedgerWriter(dir, { chunkBytesMax: 150 });
    await appendMany(writer, 10, 20);
    await writer.flush();
    await appendMany(writer, 2, 20); // 11, 12 only buffered
    await writer.truncateAfter(11);
    expect(writer.lastSeqno()).toBe(11);
    await writer.truncateAfter(5); // across chunks
    expect(writer.flushedSeqno()).toBe(5);
    expect((await readAll(dir)).map((entry) => entry.seqno)).toEqual([1, 2, 3, 4, 5]);
    await appendMany(writer, 2, 20);
    await writer.flush();
    expect((await verifyLedgerDir(dir)).ok).toBe(true);
    await writer.truncateAfter(0);
    expect(await readdir(dir)).toEqual([]);
    await writer.append(1, 'tx', bytesOf('again'));
    await writer.close();
    expect((await readAll(dir)).map((entry) => Buffer.from(entry.payload).toString())).toEqual([
      'again',
    ]);
  });

  it('recovery cuts a torn tail and reports it; reads stop at an incomplete last record', async () => {
    const dir = path.join(work, 'torn');
    const { writer } = await openLedgerWriter(dir);
    await appendMany(writer, 4, 30);
    await writer.close();
    const file = path.join(dir, chunkFileName(1));
    await truncate(file, 3 * 62 + 40);
    expect((await readAll(dir)).length).toBe(3);
    expect(await verifyLedgerDir(dir)).toMatchObject({
      ok: false,
      reason: 'torn-tail',
      offsetStart: 186,
    });
    const report = await recoverLedger(dir);
    expect(report).toEqual({
      chunks: 1,
      firstSeqno: 1,
      lastSeqno: 3,
      dropped: {
        file: chunkFileName(1),
        offsetStart: 186,
        offsetEnd: 226,
        seqno: 4,
        reason: 'truncated',
      },
    });
    expect((await readFile(file)).byteLength).toBe(186);
    expect((await verifyLedgerDir(dir)).ok).toBe(true);
  });

  it('refuses to cut damage that later records prove was flushed', async () => {
    const dir = path.join(work, 'attested');
    const { writer } = await openLedgerWriter(dir);
    for (let i = 0; i < 4; i += 1) {
      await appendMany(writer, 1, 30);
      await writer.flush();
    }
    await writer.close();
    const file = path.join(dir, chunkFileName(1));
    const bytes = await readFile(file);
    bytes[62 + recordHeaderBytes + 3] = (bytes[62 + recordHeaderBytes + 3] ?? 0) ^ 1;
    await writeFile(file, bytes);
    const error: unknown = await recoverLedger(dir).catch((caught: unknown) => caught);
    expect(isCofferError(error, 'LEDGER_E_CORRUPT')).toBe(true);
    expect(String(error)).toMatch(/bytes 62\.\.124: .*CRC-32.*not a torn write/);
    expect(await readFile(file)).toEqual(bytes); // nothing was cut
    await expect(readAll(dir)).rejects.toMatchObject({ code: 'LEDGER_E_CORRUPT' });
    // verify classifies it the same way: corruption, not a torn tail.
    expect(await verifyLedgerDir(dir)).toMatchObject({
      ok: false,
      reason: 'crc-mismatch',
      offsetStart: 62,
    });
  });

  it('verify calls a zeroed, unattested tail torn, as recovery does (which then cuts it)', async () => {
    const dir = path.join(work, 'zeroed');
    const { writer } = await openLedgerWriter(dir);
    await appendMany(writer, 4, 30);
    await writer.close();
    const file = path.join(dir, chunkFileName(1));
    const bytes = await readFile(file);
    bytes.fill(0, 3 * 62); // the last record's bytes never reached the disk
    await writeFile(file, bytes);
    expect(await verifyLedgerDir(dir)).toMatchObject({
      ok: false,
      reason: 'torn-tail',
      offsetStart: 186,
      seqno: 4,
    });
    expect((await recoverLedger(dir)).lastSeqno).toBe(3);
    expect((await verifyLedgerDir(dir)).ok).toBe(true);
  });
});

/** The real file system, counting the bytes read. */
function countingStorage(): { storage: Storage; bytesRead: () => number } {
  const fs = createFsStorage();
  let bytes = 0;
  return {
    storage: {
      ...fs,
      openReadOnly: async (file) => {
        const opened = await fs.openReadOnly(file);
        return {
          ...opened,
          read: async (offset, length) => {
            const read = await opened.read(offset, length);
            bytes += read.byteLength;
            return read;
          },
        };
      },
    },
    bytesRead: () => bytes,
  };
}

async function readOne(
  dir: string,
  seqno: number,
  options: Parameters<typeof readLedgerFrom>[2],
): Promise<string | undefined> {
  for await (const entry of readLedgerFrom(dir, seqno, options)) {
    return entry.seqno === seqno ? Buffer.from(entry.payload).toString() : undefined;
  }
  return undefined;
}

describe('seek index', () => {
  it('reads an entry from the closest noted start, not its chunk from the start', async () => {
    const dir = path.join(work, 'seek');
    const { writer } = await openLedgerWriter(dir);
    await appendMany(writer, 5000, 100);
    await writer.flush();
    const { storage, bytesRead } = countingStorage();
    const seek = createSeekIndex();
    // The first read scans the chunk up to its entry and notes every stride-th start.
    expect(await readOne(dir, 4000, { storage, seek })).toMatch(/^entry 4000 \.+$/);
    const scanned = bytesRead();
    expect(scanned).toBeGreaterThan(3999 * (recordHeaderBytes + 100));
    expect(seek.size()).toBe(Math.floor(4000 / seekStrideEntries));
    // Later reads at or before it start at most one stride back: a few KiB each.
    for (const seqno of [3999, 3001, 129, 1, 2222]) {
      const before = bytesRead();
      expect(await readOne(dir, seqno, { storage, seek })).toMatch(new RegExp(`^entry ${seqno} `));
      expect(bytesRead() - before).toBeLessThan(
        seekStrideEntries * (recordHeaderBytes + 100) + 16_384,
      );
    }
    // Without the index every read scans from the chunk start.
    const before = bytesRead();
    expect(await readOne(dir, 3999, { storage })).toMatch(/^entry 3999 /);
    expect(bytesRead() - before).toBeGreaterThan(3998 * (recordHeaderBytes + 100));
    await writer.close();
  });

  it('checks every hint: after a truncation and different entries, reads are right', async () => {
    const dir = path.join(work, 'seek-stale');
    const { writer } = await openLedgerWriter(dir);
    await appendMany(writer, 1000, 100);
    await writer.flush();
    const seek = createSeekIndex();
    expect(await readOne(dir, 900, { seek })).toMatch(/^entry 900 \./);
    const noted = seek.size();
    expect(noted).toBe(Math.floor(900 / seekStrideEntries));
    // Shorter entries from 501: every noted offset after 500 now falls elsewhere.
    await writer.truncateAfter(500);
    await appendMany(writer, 500, 40);
    await writer.flush();
    expect(await readOne(dir, 900, { seek })).toBe(`entry 900 `.padEnd(40, '.'));
    expect(await readOne(dir, 640, { seek })).toBe(`entry 640 `.padEnd(40, '.'));
    expect(await readOne(dir, 300, { seek })).toBe(`entry 300 `.padEnd(100, '.'));
    // A hint that failed its check cleared its chunk's hints; the scan noted the true ones.
    expect(seek.size()).toBeLessThanOrEqual(noted);
    expect([...(await readAll(dir))].map((entry) => entry.seqno)).toHaveLength(1000);
    await writer.close();
  });

  it('holds at most seekHintsMax offsets', () => {
    const seek = createSeekIndex();
    for (let i = 1; i <= seekHintsMax; i += 1) seek.note('a', i * seekStrideEntries, i);
    seek.note('a', 7, 7); // not a multiple of the stride: not noted
    expect(seek.size()).toBe(seekHintsMax);
    expect(seek.hint('a', 1, 5 * seekStrideEntries + 3)).toEqual({
      seqno: 5 * seekStrideEntries,
      offset: 5,
    });
    seek.note('b', seekStrideEntries, 1);
    expect(seek.size()).toBe(1);
    expect(seek.hint('a', 1, 5 * seekStrideEntries)).toBeUndefined();
    expect(seek.hint('b', 1, seekStrideEntries + 1)).toEqual({
      seqno: seekStrideEntries,
      offset: 1,
    });
  });
});

describe('negative vectors (test/fixtures/ledger)', () => {
  const names = existsSync(fixturesRoot)
    ? readdirSync(fixturesRoot, { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name)
        .sort()
    : [];

  it('the committed vectors are what the generator builds', async () => {
    const fresh = await mkdtemp(path.join(tmpdir(), 'coffer-ledger-fixtures-'));
    try {
      if (process.env.COFFER_REWRITE_FIXTURES === '1') await writeLedgerFixtures(fixturesRoot);
      const built = await writeLedgerFixtures(fresh);
      expect(names).toEqual(built);
      for (const name of built) {
        const files = (await readdir(path.join(fresh, name))).sort();
        expect((await readdir(path.join(fixturesRoot, name))).sort(), name).toEqual(files);
        for (const file of files) {
          const committed = await readFile(path.join(fixturesRoot, name, file));
          expect(
            committed.equals(await readFile(path.join(fresh, name, file))),
            `${name}/${file}`,
          ).toBe(true);
        }
      }
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  });

  it.each(names)('%s', async (name) => {
    const dir = path.join(fixturesRoot, name);
    const expected = JSON.parse(
      await readFile(path.join(dir, 'expected.json'), 'utf8'),
    ) as FixtureExpectation;
    const verdict = await verifyLedgerDir(dir);
    if (expected.ok) {
      expect(verdict).toMatchObject({
        ok: true,
        entries: expected.entries,
        signatures: expected.signatures,
        lastSeqno: expected.lastSeqno,
      });
    } else {
      expect(verdict).toMatchObject({
        ok: false,
        file: expected.file,
        offsetStart: expected.offsetStart,
        offsetEnd: expected.offsetEnd,
        reason: expected.reason,
      });
    }
    const recover = expected.recover;
    if (recover === undefined) return;
    const copy = path.join(work, `fixture-${name}`);
    await cp(dir, copy, { recursive: true });
    if ('code' in recover) {
      await expect(recoverLedger(copy)).rejects.toMatchObject({ code: recover.code });
      return;
    }
    const report = await recoverLedger(copy);
    expect(report.lastSeqno).toBe(recover.lastSeqno);
    expect(report.dropped?.offsetStart).toBe(recover.droppedFrom);
    expect(report.dropped?.reason).toBe(recover.droppedReason);
    if (recover.droppedFrom !== undefined) expect((await verifyLedgerDir(copy)).ok).toBe(true);
  });
});

describe('faults on a simulated disk', () => {
  const dir = '/sim/ledger';

  it('a full disk fails append or flush with LEDGER_E_DISK_FULL, keeps no half record, and recovers on retry', async () => {
    const sim = createSimStorage(masterSeed, { capacityBytes: 1000 });
    const options = { storage: sim };
    const { writer } = await openLedgerWriter(dir, options);
    let failure: unknown;
    try {
      for (let i = 0; i < 6; i += 1) {
        await appendMany(writer, 5, 20);
        await writer.flush();
      }
    } catch (error) {
      failure = error;
    }
    expect(isCofferError(failure, 'LEDGER_E_DISK_FULL')).toBe(true);
    expect(isCofferError(failure) && failure.details.retryable).toBe(true);
    expect(await verifyLedgerDir(dir, options)).toMatchObject({ ok: true, lastSeqno: 15 });
    // 52-byte records: the partial write of seqnos 16..20 was cut back to 15 whole records.
    expect(sim.usedBytes()).toBe(15 * 52);
    expect(writer.flushedSeqno()).toBe(15);
    sim.faults.capacityBytes = 10_000;
    await appendMany(writer, 30 - writer.lastSeqno(), 20);
    await writer.flush();
    expect((await readAll(dir, options)).length).toBe(30);
  });

  it('a failed fsync rewinds to the last durable offset and a retried flush loses nothing', async () => {
    const sim = createSimStorage(masterSeed + 1, { syncFailProbability: 1 });
    const options = { storage: sim };
    const { writer } = await openLedgerWriter(dir, options);
    await appendMany(writer, 5);
    await expect(writer.flush()).rejects.toMatchObject({
      code: expect.stringMatching(/^LEDGER_E_(DISK_FULL|IO)$/) as unknown,
    });
    expect(writer.flushedSeqno()).toBe(0);
    expect(sim.contents(path.join(dir, chunkFileName(1)))?.byteLength).toBe(0);
    sim.faults.syncFailProbability = 0;
    await writer.flush();
    sim.crash();
    expect((await readAll(dir, options)).map((entry) => entry.seqno)).toEqual([1, 2, 3, 4, 5]);
  });

  it('entries dropped by truncateAfter never come back after a crash, even after a failed write', async () => {
    for (let run = 0; run < 40; run += 1) {
      // Room for two records (flushed), then one more and 30 bytes: the flush of 3..5 fails.
      const sim = createSimStorage(masterSeed + run, { capacityBytes: 52 * 3 + 30 });
      const options = { storage: sim };
      const { writer } = await openLedgerWriter(dir, options);
      await appendMany(writer, 2, 20);
      await writer.flush();
      await appendMany(writer, 3, 20);
      await expect(writer.flush()).rejects.toMatchObject({ code: 'LEDGER_E_DISK_FULL' });
      await writer.truncateAfter(2);
      sim.crash();
      await recoverLedger(dir, options);
      const seqnos = (await readAll(dir, options)).map((entry) => entry.seqno);
      expect(seqnos, `seed=${masterSeed + run}`).toEqual([1, 2]);
    }
  });

  it('seeded simulation: crashes, torn writes, full disks, failed syncs and bit flips', async () => {
    // COFFER_SIM_RUNS=5000 for a soak run.
    const runs = Number(process.env.COFFER_SIM_RUNS ?? 60);
    for (let run = 0; run < runs; run += 1) {
      const seed = (masterSeed + run * 7919) >>> 0;
      try {
        await simulate(seed);
      } catch (error) {
        if (error instanceof Error) {
          error.message =
            `seed=${masterSeed} run=${run} (COFFER_SEED=${masterSeed}): ${error.message}\n` +
            `last events:\n${trace.slice(-60).join('\n')}`;
        }
        throw error;
      }
    }
    console.log(`simulation (${runs} runs): ${JSON.stringify(stats)}`);
  }, 300_000);
});

type Model = { kind: EntryKind; payload: Uint8Array }[];

/** Operations and injected faults of the current run, interleaved. */
let trace: string[] = [];

/** What the simulation exercised, printed once so a weak seed is visible. */
const stats = {
  appends: 0,
  flushes: 0,
  truncations: 0,
  crashes: 0,
  crashesMidOperation: 0,
  tornTailsCut: 0,
  diskFull: 0,
  ioErrors: 0,
  bitFlips: 0,
  bitFlipsRefusedByRecovery: 0,
};

async function simulate(seed: number): Promise<void> {
  const sim = createSimStorage(seed);
  trace = [];
  const note = (text: string): void => {
    trace.push(...sim.events.splice(0), text);
  };
  const random = sim.random;
  sim.faults.capacityBytes = random.chance(0.3)
    ? 2000 + random.int(20_000)
    : Number.MAX_SAFE_INTEGER;
  sim.faults.syncFailProbability = random.chance(0.3) ? 0.2 : 0;
  sim.faults.syncDirFailProbability = random.chance(0.2) ? 0.1 : 0;
  const dir = '/sim/ledger';
  const options = { storage: sim, chunkBytesMax: 64 + random.int(1500) };
  const model: Model = [];
  let durable = 0;
  // A crash is scheduled (crashAfter): checks that do IO wait until it has happened.
  let armed = false;
  let writer = await reopen(sim, dir, options, model, durable, false);

  for (let step = 0; step < 150; step += 1) {
    const action = random.next();
    try {
      if (action < 0.55) {
        const seqno = writer.lastSeqno() + 1;
        const kind: EntryKind = random.chance(0.15) ? 'signature' : 'tx';
        const payload = random.bytes(random.int(200));
        await writer.append(seqno, kind, payload);
        note(`append ${seqno} ${kind} ${payload.byteLength} bytes`);
        stats.appends += 1;
        model.length = seqno - 1;
        model.push({ kind, payload });
        if (kind === 'signature' && random.chance(0.5)) writer.endChunk();
      } else if (action < 0.75) {
        await writer.flush();
        note(`flush (durable ${writer.lastSeqno()})`);
        stats.flushes += 1;
        durable = writer.lastSeqno();
      } else if (action < 0.8) {
        const last = writer.lastSeqno();
        const seqno = last - random.int(Math.min(last, 30) + 1);
        durable = Math.min(durable, seqno);
        await writer.truncateAfter(seqno);
        note(`truncateAfter ${seqno}`);
        stats.truncations += 1;
        model.length = seqno;
      } else if (action < 0.87) {
        if (random.chance(0.5)) {
          const calls = random.int(6);
          sim.crashAfter(calls); // crash inside one of the next operations
          note(`crash after ${calls} more calls`);
          armed = true;
        } else {
          armed = false;
          stats.crashes += 1;
          sim.crash();
          note('crashed between operations');
          writer = await reopen(sim, dir, options, model, durable, true);
          durable = writer.lastSeqno();
        }
      } else if (action < 0.95) {
        if (armed) continue;
        // Between operations the files hold whole records only, flushed or not.
        const verdict = await verifyLedgerDir(dir, { storage: sim });
        expect(verdict, formatVerifyResult(verdict)).toMatchObject({ ok: true });
        await checkBitFlip(sim, dir, model);
      } else {
        sim.faults.capacityBytes += 5000;
      }
    } catch (error) {
      note(`error: ${String(error)}`);
      if (sim.crashed()) {
        sim.crash();
        note('crashed inside that operation');
        armed = false;
        stats.crashesMidOperation += 1;
        writer = await reopen(sim, dir, options, model, durable, true);
        durable = writer.lastSeqno();
        continue;
      }
      if (isCofferError(error, 'LEDGER_E_DISK_FULL')) {
        stats.diskFull += 1;
        if (!armed) {
          const verdict = await verifyLedgerDir(dir, { storage: sim });
          expect(verdict, formatVerifyResult(verdict)).toMatchObject({ ok: true });
        }
        if (random.chance(0.5)) sim.faults.capacityBytes += 3000;
        continue;
      }
      if (isCofferError(error, 'LEDGER_E_IO')) {
        // The node restarts (no machine crash): page cache contents survive.
        armed = false;
        stats.ioErrors += 1;
        writer = await reopen(sim, dir, options, model, durable, false);
        durable = writer.lastSeqno();
        continue;
      }
      throw error;
    }
  }
}

/** Opens the ledger (retrying injected IO faults) and checks it against the model. */
async function reopen(
  sim: SimStorage,
  dir: string,
  options: { storage: SimStorage; chunkBytesMax: number },
  model: Model,
  durable: number,
  crashed: boolean,
): Promise<LedgerWriter> {
  // A crash scheduled but not yet due would fire during the checks: cancel it.
  if (!sim.crashed()) sim.crashAfter(Infinity);
  let opened: Awaited<ReturnType<typeof openLedgerWriter>> | undefined;
  for (let attempt = 0; opened === undefined; attempt += 1) {
    try {
      opened = await openLedgerWriter(dir, options);
    } catch (error) {
      const retry =
        attempt < 50 &&
        (isCofferError(error, 'LEDGER_E_IO') || isCofferError(error, 'LEDGER_E_DISK_FULL'));
      if (!retry) throw error;
    }
  }
  const last = opened.recovery.lastSeqno;
  trace.push(
    `reopened ${JSON.stringify(opened.recovery)} (model ${model.length}, durable ${durable})`,
  );
  if (opened.recovery.dropped !== undefined) stats.tornTailsCut += 1;
  const what = crashed ? 'after a crash' : 'after a restart';
  expect(last, `every entry flushed survives ${what}`).toBeGreaterThanOrEqual(durable);
  expect(last, 'no entry appears that was never appended').toBeLessThanOrEqual(model.length);
  const entries = await readAll(dir, { storage: sim });
  expect(entries.length).toBe(last);
  for (const entry of entries) {
    const expected = model[entry.seqno - 1];
    expect(entry.kind, `seqno ${entry.seqno}`).toBe(expected?.kind);
    expect(
      Buffer.from(entry.payload).equals(Buffer.from(expected?.payload ?? [])),
      `seqno ${entry.seqno} bytes`,
    ).toBe(true);
  }
  const verdict = await verifyLedgerDir(dir, { storage: sim });
  expect(verdict, formatVerifyResult(verdict)).toMatchObject({ ok: true });
  model.length = last;
  return opened.writer;
}

/** Flips one bit in a copy of the files: verify names its range; recovery and reads never return it. */
async function checkBitFlip(sim: SimStorage, dir: string, model: Model): Promise<void> {
  const random = sim.random;
  const copy = createSimStorage(random.int(2 ** 31));
  const chunks: { file: string; size: number }[] = [];
  for (const name of await sim.list(dir)) {
    const file = path.join(dir, name);
    const bytes = sim.contents(file) ?? new Uint8Array(0);
    copy.putDurable(file, bytes);
    if (bytes.byteLength > 0) chunks.push({ file, size: bytes.byteLength });
  }
  const target = chunks[random.int(chunks.length)];
  if (target === undefined) return;
  const offset = random.int(target.size);
  copy.flipBit(target.file, offset, random.int(8));
  stats.bitFlips += 1;
  const verdict = await verifyLedgerDir(dir, { storage: copy });
  const where = `flip at ${path.basename(target.file)}:${offset}; ${formatVerifyResult(verdict)}`;
  expect(verdict.ok, where).toBe(false);
  if (verdict.ok) return;
  expect(verdict.file, where).toBe(path.basename(target.file));
  expect(verdict.offsetStart, where).toBeLessThanOrEqual(offset);
  expect(verdict.offsetEnd, where).toBeGreaterThan(offset);

  try {
    await recoverLedger(dir, { storage: copy });
  } catch (error) {
    expect(isCofferError(error, 'LEDGER_E_CORRUPT'), String(error)).toBe(true);
    stats.bitFlipsRefusedByRecovery += 1;
    return;
  }
  try {
    for await (const entry of readLedgerFrom(dir, 1, { storage: copy })) {
      const expected = model[entry.seqno - 1];
      expect(Buffer.from(entry.payload).equals(Buffer.from(expected?.payload ?? [])), where).toBe(
        true,
      );
      expect(entry.kind, where).toBe(expected?.kind);
    }
  } catch (error) {
    // A flip in an earlier chunk is found when the reader gets there.
    expect(isCofferError(error, 'LEDGER_E_CORRUPT'), String(error)).toBe(true);
  }
}
