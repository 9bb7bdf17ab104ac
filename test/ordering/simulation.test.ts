// Seeded simulation of the embedded log on a simulated disk (STYLE.md 9): random appends, reads,
// crashes (torn writes, lost unsynced data), clean restarts, full-disk windows, EIO, bit flips.
// Invariants checked after every crash and reopen:
// - every position whose append resolved (or that a read returned) is there, with its bytes;
// - positions run 1..committed without a gap; every batch in the log is one that was appended,
//   at most once, in the order the appends were made (nothing unacknowledged out of order);
// - after a torn tail is cut, appending continues at the next position.
// Seeds are fresh each run and printed; COFFER_SEED=<seed> replays one exactly.
import { Buffer } from 'node:buffer';
import path from 'node:path';
import process from 'node:process';
import { describe, expect, it } from 'vitest';
import { isCofferError, type CofferError } from '../../src/errors/index.js';
import {
  openEmbeddedLog,
  type EmbeddedLog,
  type EmbeddedLogOptions,
  type LogEntry,
} from '../../src/ordering/index.js';
import { decodeRecord, parseSegmentFileName } from '../../src/ordering/record.js';
import { createRng, forEachSeed, planSeeds, type Rng } from './rng.js';
import { createSimDisk, type SimDisk } from './sim-storage.js';
import { createVirtualTime, type VirtualTime } from './virtual-time.js';

const thisFile = 'test/ordering/simulation.test.ts';
/** COFFER_SIM_SEEDS=<n> runs more (or fewer) seeds, e.g. for a soak run. */
const plan = planSeeds(Number(process.env.COFFER_SIM_SEEDS ?? 200));
/** 200 seeds take a few seconds; this leaves room for a loaded CI machine. */
const simulationTimeoutMs = 60_000 + plan.seeds.length * 500;
console.log(`ordering simulation: ${plan.describe}`);

const dir = '/sim/log';
/** COFFER_SIM_TRACE=1 prints each step of a replayed seed. */
const trace =
  process.env.COFFER_SIM_TRACE === '1'
    ? (line: string) => {
        console.log(line);
      }
    : () => undefined;

/** Every simulated operation runs on microtasks: after one macrotask turn, all that can finish has. */
const settle = (): Promise<void> =>
  new Promise((resolve) => {
    setImmediate(resolve);
  });

/** Lets `n` microtask turns pass: simulated operations are then part-way through. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i += 1) await Promise.resolve();
}

function makeBatch(rng: Rng, id: number, bytesMax: number): Uint8Array {
  const batch = new Uint8Array(4 + rng.int(bytesMax - 3));
  new DataView(batch.buffer).setUint32(0, id);
  batch.set(rng.bytes(batch.byteLength - 4), 4);
  return batch;
}

function idOf(batch: Uint8Array): number {
  return batch.byteLength < 4 ? -1 : new DataView(batch.buffer, batch.byteOffset).getUint32(0);
}

function filesOf(disk: SimDisk): string {
  return disk
    .fileNames()
    .map((file) => `${path.basename(file)}:${disk.contents(file).byteLength}`)
    .join(' ');
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function randomOptions(rng: Rng, disk: SimDisk, time: VirtualTime): EmbeddedLogOptions {
  const batchBytesMax = 16 + rng.int(240);
  return {
    storage: disk.storage(),
    now: time.now,
    timers: time.timers,
    batchBytesMax,
    segmentBytesMax: batchBytesMax + 32 + rng.int(2000),
    pendingBatchesMax: 1 + rng.int(24),
    pendingBytesMax: batchBytesMax + rng.int(3000),
    readBatchesMax: 1 + rng.int(16),
    readBytesMax: batchBytesMax + rng.int(1000),
    diskFullRetryMs: 10 + rng.int(100),
    // Half the runs keep no batch in memory: every read goes to the files.
    recentBatchBytesMax: rng.chance(0.5) ? 1 : 1 + rng.int(4000),
  };
}

/** What the runs went through, so a test can show its faults were not vacuous. */
const totals = { crashes: 0, tailsCut: 0, enospc: 0, eio: 0, acknowledged: 0, reopened: 0 };

/** One simulated run: the model of what must be in the log, and the checks against it. */
async function simulate(seed: number): Promise<void> {
  const rng = createRng(seed);
  const eioRate = rng.chance(0.25) ? 0.002 : 0;
  const disk = createSimDisk(rng.fork(), { eioRate });
  const time = createVirtualTime();
  const options = randomOptions(rng, disk, time);
  const batchBytesMax = options.batchBytesMax ?? 0;
  const readBatchesMax = options.readBatchesMax ?? 0;
  const readBytesMax = options.readBytesMax ?? 0;

  const attempted = new Map<number, Uint8Array>(); // append id → batch
  const durable = new Map<number, Uint8Array>(); // position → batch it must keep
  const violations: string[] = [];
  let nextId = 1;
  let incarnation = 0;

  const expectDurable = (position: number, batch: Uint8Array, how: string): void => {
    const known = durable.get(position);
    if (known !== undefined && !same(known, batch)) {
      violations.push(`position ${position} ${how} with other bytes than before`);
    }
    durable.set(position, batch);
  };

  const checkRefusal = (error: unknown): void => {
    const code = isCofferError(error) ? error.code : String(error);
    const coffer = error as CofferError;
    if (code === 'ORDERING_E_BACKPRESSURE') {
      if (!((coffer.details.retryAfterMs as number) > 0)) violations.push('no retryAfterMs');
    } else if (code === 'ORDERING_E_DISK_FULL') {
      if (disk.stats.enospc === 0) violations.push('disk full reported without ENOSPC');
      if (
        !/^disk full at \/sim\/log: .*; appends resume when space returns$/.test(coffer.message)
      ) {
        violations.push(`disk-full message: ${coffer.message}`);
      }
      if (coffer.details.retryable !== true) violations.push('disk full is retryable');
    } else if (code === 'ORDERING_E_IO') {
      if (disk.stats.eio === 0) violations.push(`I/O error without EIO: ${coffer.message}`);
    } else {
      violations.push(`append refused with ${code}: ${(error as Error).message}`);
    }
  };

  const append = (log: EmbeddedLog): void => {
    const id = nextId;
    nextId += 1;
    const batch = makeBatch(rng, id, batchBytesMax);
    attempted.set(id, batch);
    const mine = incarnation;
    const crashes = disk.stats.crashes; // a torn write crashes the disk before we know it
    log.append(batch).then(
      (position) => {
        totals.acknowledged += 1;
        trace(`  ack id=${id} position=${position} (incarnation ${mine})`);
        expectDurable(position, batch, 'acknowledged');
      },
      (error: unknown) => {
        trace(`  refused id=${id}: ${(error as Error).message}`);
        if (mine === incarnation && crashes === disk.stats.crashes) checkRefusal(error);
      },
    );
  };

  /** Every entry read is an appended batch; known positions keep their bytes. */
  const checkEntry = (entry: LogEntry): void => {
    const known = durable.get(entry.position);
    if (known !== undefined) {
      if (!same(known, entry.batch)) violations.push(`position ${entry.position} changed`);
      return;
    }
    const sent = attempted.get(idOf(entry.batch));
    if (sent === undefined || !same(sent, entry.batch)) {
      violations.push(`position ${entry.position} holds bytes no append sent`);
      return;
    }
    expectDurable(entry.position, entry.batch, 'read');
  };

  const readWithRetry = async (log: EmbeddedLog, from: number, max: number) => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await log.read(from, max);
      } catch (error) {
        if (!isCofferError(error, 'ORDERING_E_IO') || disk.stats.eio === 0 || attempt > 20) {
          throw error;
        }
      }
    }
  };

  const readCheck = async (log: EmbeddedLog): Promise<void> => {
    const committed = log.committedPosition();
    const from = 1 + rng.int(committed + 2);
    const max = 1 + rng.int(20);
    const entries = await readWithRetry(log, from, max);
    if (from <= committed && entries.length === 0) violations.push(`read(${from}) found nothing`);
    if (entries.length > Math.min(max, readBatchesMax)) violations.push('read returned too many');
    const bytes = entries.reduce((sum, entry) => sum + entry.batch.byteLength, 0);
    if (entries.length > 1 && bytes > readBytesMax) violations.push('read exceeded readBytesMax');
    entries.forEach((entry, i) => {
      if (entry.position !== from + i) violations.push(`read(${from}) is not contiguous`);
      if (entry.position > log.committedPosition()) violations.push('read past committed');
      checkEntry(entry);
    });
  };

  /** After an open: the whole log against the model. */
  const checkAll = async (log: EmbeddedLog): Promise<void> => {
    const committed = log.committedPosition();
    const highest = Math.max(0, ...durable.keys());
    if (committed < highest) {
      violations.push(`acknowledged position ${highest} lost: committed is ${committed}`);
    }
    let lastId = 0;
    for (let from = 1; from <= committed;) {
      const entries = await readWithRetry(log, from, readBatchesMax);
      if (entries.length === 0) {
        violations.push(`read(${from}) returned nothing below committed ${committed}`);
        break;
      }
      for (const entry of entries) {
        if (entry.position !== from) violations.push(`gap or disorder at position ${from}`);
        checkEntry(entry);
        const id = idOf(entry.batch);
        if (id <= lastId) violations.push(`batch ${id} at position ${from} is out of order`);
        lastId = id;
        from += 1;
      }
    }
    const truncated = log.recovery().truncated;
    if (truncated !== undefined) {
      if (truncated.droppedBytes <= 0) violations.push('a cut tail dropped no bytes');
      if (truncated.position !== committed + 1) violations.push('cut tail at the wrong position');
    }
    if (log.health() !== 'ok') violations.push('a freshly opened log is not healthy');
  };

  const open = async (): Promise<EmbeddedLog> => {
    for (let attempt = 0; ; attempt += 1) {
      try {
        // A new process after each crash or restart: storage bound to this incarnation.
        const log = await openEmbeddedLog(dir, { ...options, storage: disk.storage() });
        trace(`open: ${JSON.stringify(log.recovery())}; ${filesOf(disk)}`);
        await checkAll(log);
        totals.reopened += 1;
        if (log.recovery().truncated !== undefined) totals.tailsCut += 1;
        return log;
      } catch (error) {
        const retry =
          isCofferError(error, 'ORDERING_E_IO') || isCofferError(error, 'ORDERING_E_DISK_FULL');
        if (!retry || attempt > 20) throw error;
        disk.setFull(false);
      }
    }
  };

  const fail = (): void => {
    if (violations.length > 0) throw new Error(violations.slice(0, 5).join('; '));
  };

  let log = await open();
  const steps = 40 + rng.int(160);
  for (let step = 0; step < steps; step += 1) {
    const roll = rng.next();
    trace(
      `step ${step} roll ${roll.toFixed(3)} committed ${log.committedPosition()} health ${JSON.stringify(log.health())}`,
    );
    if (roll < 0.4) {
      for (let n = 1 + rng.int(12); n > 0; n -= 1) append(log);
      if (rng.chance(0.5)) await settle();
    } else if (roll < 0.52) {
      await settle();
    } else if (roll < 0.62) {
      await readCheck(log);
    } else if (roll < 0.7) {
      trace(`crash; ${filesOf(disk)}`);
      // Power fails anywhere: mid-write, mid-fsync, mid-rollover, mid-probe, or during the
      // next write (a torn write).
      if (rng.chance(0.6)) for (let n = 1 + rng.int(12); n > 0; n -= 1) append(log);
      const crashesBefore = disk.stats.crashes;
      if (rng.chance(0.4)) {
        disk.tearNextWrite();
        await settle();
      } else {
        await turns(rng.int(rng.chance(0.5) ? 12 : 60));
      }
      if (disk.stats.crashes === crashesBefore) disk.crash();
      incarnation += 1;
      await settle();
      log = await open();
    } else if (roll < 0.74 || (roll < 0.77 && log.health() !== 'ok')) {
      await settle();
      await log.close();
      incarnation += 1;
      await settle();
      log = await open();
    } else if (roll < 0.86) {
      disk.setFull(!disk.isFull());
    } else {
      time.advance(rng.int(2 * (options.diskFullRetryMs ?? 1)));
      if (rng.chance(0.7)) await settle();
    }
    fail();
  }

  // Space returns: within one retry interval the log accepts appends again (unless it failed).
  disk.setFull(false);
  await settle(); // a probe already under way may still fail, and schedule the next one
  time.advance((options.diskFullRetryMs ?? 1) + 1);
  await settle();
  const health = log.health();
  if (health !== 'ok' && !(health.state === 'failed' && disk.stats.eio > 0)) {
    violations.push(`still ${health.state} after space returned`);
  }

  // A final power loss, then appending continues right after whatever survived.
  disk.crash();
  incarnation += 1;
  await settle();
  log = await open();
  const before = log.committedPosition();
  const batches = [1, 2, 3].map(() => makeBatch(rng, nextId++, batchBytesMax));
  batches.forEach((batch) => attempted.set(idOf(batch), batch));
  const outcomes: PromiseSettledResult<number>[] = [];
  for (const batch of batches) {
    outcomes.push(...(await Promise.allSettled([log.append(batch)])));
  }
  outcomes.forEach((outcome, i) => {
    if (outcome.status === 'fulfilled') {
      if (outcome.value !== before + i + 1) violations.push('appends after recovery skip');
    } else if (disk.stats.eio === 0) {
      violations.push(`append after recovery refused: ${String(outcome.reason)}`);
    }
  });
  await log.close();
  totals.crashes += disk.stats.crashes;
  totals.enospc += disk.stats.enospc;
  totals.eio += disk.stats.eio;
  fail();
}

/** Where each record of each segment lies, read with the codec (for bit flips). */
function recordsOnDisk(disk: SimDisk) {
  return disk.fileNames().flatMap((file) => {
    const first = parseSegmentFileName(path.basename(file));
    if (first === undefined) return [];
    const bytes = disk.contents(file);
    const records: {
      file: string;
      offset: number;
      end: number;
      position: number;
      committed: number;
    }[] = [];
    for (let offset = 0; offset < bytes.byteLength;) {
      const record = decodeRecord(bytes, offset);
      if (!record.ok) throw new Error(`${file} is damaged at ${offset} before any flip`);
      records.push({
        file,
        offset,
        end: record.end,
        position: record.position,
        committed: record.committed,
      });
      offset = record.end;
    }
    return records;
  });
}

/** Flip one bit of one acknowledged record: refused or cut, exactly as the naive rule says. */
async function flipOne(seed: number): Promise<void> {
  const rng = createRng(seed);
  const disk = createSimDisk(rng.fork(), { delayTurnsMax: 1 });
  const time = createVirtualTime();
  const options = randomOptions(rng, disk, time);
  const sent = new Map<number, Uint8Array>();
  let log = await openEmbeddedLog(dir, {
    ...options,
    pendingBatchesMax: 64,
    pendingBytesMax: 1 << 20,
    recentBatchBytesMax: 1, // every read from the files
  });
  let id = 1;
  for (let round = 1 + rng.int(12); round > 0; round -= 1) {
    const burst = Array.from({ length: 1 + rng.int(5) }, () =>
      makeBatch(rng, id++, options.batchBytesMax ?? 16),
    );
    const positions = await Promise.all(burst.map((batch) => log.append(batch)));
    positions.forEach((position, i) => sent.set(position, burst[i] ?? new Uint8Array()));
  }
  const records = recordsOnDisk(disk);
  const target = records[rng.int(records.length)];
  if (target === undefined) throw new Error('no record written');
  const offset = target.offset + rng.int(target.end - target.offset);
  disk.flipBit(target.file, offset, rng.int(8));

  // The live log checks every record it reads from its files.
  await expect(log.read(target.position, 1)).rejects.toMatchObject({ code: 'ORDERING_E_CORRUPT' });
  await log.close();

  // Naive reference: a flip may only be cut when it sits in the last segment and no later
  // record of that segment was written after the flipped position was durable.
  const lastFile = records[records.length - 1]?.file;
  const vouched = records.some(
    (r) => r.file === target.file && r.position > target.position && r.committed >= target.position,
  );
  const cut = target.file === lastFile && !vouched;
  try {
    log = await openEmbeddedLog(dir, options);
  } catch (error) {
    if (cut)
      throw new Error(`flip at ${target.file}:${offset} refused, expected a cut: ${String(error)}`);
    expect(error).toMatchObject({ code: 'ORDERING_E_CORRUPT', details: { file: target.file } });
    return;
  }
  if (!cut)
    throw new Error(`flip at ${target.file}:${offset} (position ${target.position}) was accepted`);
  expect(log.recovery().truncated?.position).toBe(target.position);
  expect(log.committedPosition()).toBe(target.position - 1);
  for (let position = 1; position < target.position; position += 1) {
    const [entry] = await log.read(position, 1);
    expect(entry?.batch).toEqual(sent.get(position));
  }
  await log.close();
}

describe('embedded ordering log, seeded simulation', () => {
  it(
    'keeps every acknowledged batch through crashes, torn writes, full disks and EIO',
    async () => {
      await forEachSeed(plan, thisFile, simulate);
      console.log(`ordering simulation: ${JSON.stringify(totals)}`);
      if (plan.seeds.length >= 50) {
        for (const [fault, count] of Object.entries(totals))
          expect(count, fault).toBeGreaterThan(0);
      }
    },
    simulationTimeoutMs,
  );

  it(
    'never serves a flipped bit: refuses, or cuts only an unvouched tail',
    async () => {
      await forEachSeed(plan, thisFile, flipOne);
    },
    simulationTimeoutMs,
  );

  it('replays a seed exactly', async () => {
    const seed = plan.seeds[0] ?? 1;
    const run = async () => {
      const rng = createRng(seed);
      const disk = createSimDisk(rng.fork(), { eioRate: 0.01 });
      const time = createVirtualTime();
      const log = await openEmbeddedLog(dir, randomOptions(rng, disk, time)).catch(() => undefined);
      const outcomes: string[] = [];
      for (let i = 0; i < 30 && log !== undefined; i += 1) {
        if (i === 10) disk.setFull(true);
        if (i === 20) disk.setFull(false);
        outcomes.push(
          await log
            .append(makeBatch(rng, i + 1, 16))
            .then(String, (e: unknown) => (e as CofferError).code),
        );
      }
      disk.crash();
      return { outcomes, files: disk.fileNames().map((f) => [f, [...disk.contents(f)].join()]) };
    };
    expect(await run()).toEqual(await run());
  });
});
