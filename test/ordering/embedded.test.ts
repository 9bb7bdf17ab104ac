// The embedded log on the real filesystem: group commit, rollover, read limits, backpressure,
// full disk and I/O errors (injected through the Storage seam), close, options.
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { CofferError } from '../../src/errors/index.js';
import {
  batchBytesMax,
  openEmbeddedLog,
  readBatchesMax,
  recentBatchBytesMax,
  recordHeaderBytes,
  segmentBytesMax,
} from '../../src/ordering/index.js';
import { bytesOf, countingStorage, faultyStorage, tempDir, textOf } from './helpers.js';

const batchOf = (i: number, bytes = 16): Uint8Array => bytesOf(`batch-${i}`.padEnd(bytes, '.'));

describe('embedded ordering log on disk', () => {
  it('appends at positions 1, 2, 3, ... and reads them back after a reopen', async () => {
    const dir = await tempDir();
    const log = await openEmbeddedLog(dir);
    expect(log.committedPosition()).toBe(0);
    expect(await log.append(bytesOf('a'))).toBe(1);
    expect(await log.append(new Uint8Array(0))).toBe(2); // an empty batch is still a position
    expect(await log.append(bytesOf('c'))).toBe(3);
    await log.close();

    const again = await openEmbeddedLog(dir);
    expect(again.recovery()).toEqual({ segments: 1, committedPosition: 3 });
    const entries = await again.read(1, 10);
    expect(entries.map((e) => [e.position, textOf(e.batch)])).toEqual([
      [1, 'a'],
      [2, ''],
      [3, 'c'],
    ]);
    expect(await again.append(bytesOf('d'))).toBe(4);
    await again.close();
  });

  it('group-commits concurrent appends: far fewer fsyncs than appends', async () => {
    const dir = await tempDir();
    const { storage, counts } = countingStorage();
    const log = await openEmbeddedLog(dir, { storage });
    const seen: number[] = [];
    log.onCommit((position) => seen.push(position));
    const syncsBefore = counts.syncs;
    const appends = 500;
    const positions = await Promise.all(
      Array.from({ length: appends }, (_, i) => log.append(batchOf(i))),
    );
    const syncs = counts.syncs - syncsBefore;
    expect(positions).toEqual(Array.from({ length: appends }, (_, i) => i + 1));
    expect(syncs).toBeGreaterThanOrEqual(1);
    expect(syncs).toBeLessThan(appends / 10);
    // One notification per group commit, increasing, ending at the last position.
    expect(seen.length).toBe(syncs);
    expect(seen.at(-1)).toBe(appends);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    await log.close();
  });

  it('keeps appending groups while an fsync is in flight', async () => {
    const dir = await tempDir();
    const { storage, counts } = countingStorage();
    const log = await openEmbeddedLog(dir, { storage });
    const syncsBefore = counts.syncs;
    // 8 writers, each appending its next batch as soon as the previous one is durable.
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 25; i += 1) await log.append(batchOf(w * 1000 + i));
    });
    await Promise.all(writers);
    expect(log.committedPosition()).toBe(200);
    expect(counts.syncs - syncsBefore).toBeLessThan(200);
    const entries = await log.read(1, 200);
    expect(new Set(entries.map((e) => textOf(e.batch))).size).toBe(200);
    await log.close();
  });

  it('notifies listeners until they unsubscribe', async () => {
    const log = await openEmbeddedLog(await tempDir());
    const seen: number[] = [];
    const stop = log.onCommit((position) => seen.push(position));
    await log.append(bytesOf('x'));
    stop();
    await log.append(bytesOf('y'));
    expect(seen).toEqual([1]);
    await log.close();
  });

  it('rolls over to a new segment named by its first position', async () => {
    const dir = await tempDir();
    const options = { segmentBytesMax: 1000, batchBytesMax: 200 };
    const log = await openEmbeddedLog(dir, options);
    for (let i = 1; i <= 40; i += 1) await log.append(batchOf(i, 100));
    await log.close();
    // 132-byte records, 7 to a 1000-byte segment.
    const names = (await readdir(dir)).sort();
    expect(names).toEqual(
      [1, 8, 15, 22, 29, 36].map((p) => `log-${String(p).padStart(20, '0')}.seg`),
    );
    for (const name of names.slice(0, -1)) {
      expect((await stat(path.join(dir, name))).size).toBe(7 * (recordHeaderBytes + 100));
    }
    const again = await openEmbeddedLog(dir, options);
    expect(again.recovery().segments).toBe(6);
    const entries = await again.read(5, 20);
    expect(entries.map((e) => e.position)).toEqual(Array.from({ length: 20 }, (_, i) => i + 5));
    expect(entries.map((e) => textOf(e.batch).split('.')[0])).toEqual(
      Array.from({ length: 20 }, (_, i) => `batch-${i + 5}`),
    );
    expect(await again.append(batchOf(41, 100))).toBe(41);
    await again.close();
  });

  it('bounds reads by count and bytes, but always returns the next batch', async () => {
    const dir = await tempDir();
    const log = await openEmbeddedLog(dir, {
      batchBytesMax: 400,
      readBatchesMax: 5,
      readBytesMax: 1000,
    });
    for (let i = 1; i <= 12; i += 1) await log.append(batchOf(i, 100));
    await log.append(batchOf(13, 400));
    await log.append(batchOf(14, 400));
    await log.append(batchOf(15, 400));
    const positions = async (from: number, max: number) =>
      (await log.read(from, max)).map((e) => e.position);
    expect(await positions(1, 100)).toEqual([1, 2, 3, 4, 5]); // readBatchesMax
    expect(await positions(3, 2)).toEqual([3, 4]); // max
    expect(await positions(11, 100)).toEqual([11, 12, 13, 14]); // 100 + 100 + 400 + 400 bytes
    expect(await positions(13, 100)).toEqual([13, 14]); // a third 400-byte batch would pass 1000
    expect(await positions(15, 100)).toEqual([15]);
    expect(await positions(16, 100)).toEqual([]); // past the end: nothing yet
    for (const [from, max] of [
      [0, 1],
      [1, 0],
      [1.5, 1],
      [1, Number.NaN],
      [-1, 5],
    ] as const) {
      await expect(log.read(from, max)).rejects.toMatchObject({ code: 'ORDERING_E_READ_RANGE' });
    }
    // The same bounds on reads from the files (a reopened log holds nothing in memory).
    await log.close();
    const files = await openEmbeddedLog(dir, {
      batchBytesMax: 400,
      readBatchesMax: 5,
      readBytesMax: 1000,
    });
    const filePositions = async (from: number, max: number) =>
      (await files.read(from, max)).map((e) => e.position);
    expect(await filePositions(1, 100)).toEqual([1, 2, 3, 4, 5]);
    expect(await filePositions(11, 100)).toEqual([11, 12, 13, 14]);
    expect(await filePositions(13, 100)).toEqual([13, 14]);
    await files.close();
  });

  it('reads across segment boundaries and through the sparse index', async () => {
    const dir = await tempDir();
    const log = await openEmbeddedLog(dir, { segmentBytesMax: 4096, batchBytesMax: 64 });
    const total = 600;
    await Promise.all(
      Array.from({ length: total }, (_, i) => log.append(batchOf(i + 1, 10 + (i % 40)))),
    );
    // Once from memory (the latest batches), once after a reopen from the files.
    const readers: (() => Promise<typeof log>)[] = [
      () => Promise.resolve(log),
      async () => {
        await log.close();
        return openEmbeddedLog(dir, { segmentBytesMax: 4096, batchBytesMax: 64 });
      },
    ];
    for (const open of readers) {
      const reader = await open();
      for (const from of [1, 63, 64, 65, 129, 300, 599, 600]) {
        const entries = await reader.read(from, 70);
        expect(entries[0]?.position).toBe(from);
        entries.forEach((e, k) => {
          expect(textOf(e.batch).split('.')[0]).toBe(`batch-${from + k}`);
        });
      }
      await reader.close();
    }
  });

  it('lets go of the batches it no longer holds (memory stays within recentBatchBytesMax)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const dir = await tempDir();
    const log = await openEmbeddedLog(dir, { fsync: false });
    // Weak references to each appended batch, so what the log still holds is seen exactly
    // (the process's array buffer total also counts other tests running beside this one).
    const batchBytes = 1024 * 1024;
    const appended: WeakRef<Uint8Array>[] = [];
    for (let i = 1; i <= 96; i += 1) {
      const batch = batchOf(i, batchBytes);
      appended.push(new WeakRef(batch));
      await log.append(batch);
    }
    await new Promise((resolve) => setImmediate(resolve)); // weak targets kept for one job only
    gc();
    const alive = appended.filter((ref) => ref.deref() !== undefined).length;
    expect(log.heldBatchBytes()).toBeLessThanOrEqual(recentBatchBytesMax);
    // 96 MiB appended; only the batches of the window stay reachable.
    expect(alive * batchBytes).toBeLessThanOrEqual(recentBatchBytesMax);
    expect(alive).toBeGreaterThan(0);
    await log.close();
  });

  it('reads the latest batches from memory, older ones from the files, as copies', async () => {
    const dir = await tempDir();
    const { storage, counts } = countingStorage();
    const log = await openEmbeddedLog(dir, { storage });
    const batchBytes = 1024 * 1024;
    const total = Math.floor(recentBatchBytesMax / batchBytes) + 4;
    for (let i = 1; i <= total; i += 1) await log.append(batchOf(i, batchBytes));
    const opensBefore = counts.opens;
    const latest = await log.read(total - 3, 4);
    expect(latest.map((e) => textOf(e.batch).split('.')[0])).toEqual(
      [total - 3, total - 2, total - 1, total].map((i) => `batch-${i}`),
    );
    expect(counts.opens).toBe(opensBefore); // no file opened
    latest[0]?.batch.fill(0); // a copy: the log's own stays intact
    expect(textOf((await log.read(total - 3, 1))[0]?.batch ?? bytesOf('')).split('.')[0]).toBe(
      `batch-${total - 3}`,
    );
    expect(log.heldBatchBytes()).toBeLessThanOrEqual(recentBatchBytesMax);
    expect(log.heldBatchBytes()).toBeGreaterThan(recentBatchBytesMax - 2 * batchBytes);
    // The first batches fell out of memory: read from the file, as before.
    const oldest = await log.read(1, 2);
    expect(oldest.map((e) => textOf(e.batch).split('.')[0])).toEqual(['batch-1', 'batch-2']);
    expect(counts.opens).toBeGreaterThan(opensBefore);
    await log.close();
  });

  it('refuses a batch over batchBytesMax, and appends over the queue bounds', async () => {
    const log = await openEmbeddedLog(await tempDir(), { pendingBatchesMax: 4 });
    await expect(log.append(new Uint8Array(batchBytesMax + 1))).rejects.toMatchObject({
      code: 'ORDERING_E_BATCH_TOO_LARGE',
      details: { bytes: batchBytesMax + 1, batchBytesMax },
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => log.append(batchOf(i))),
    );
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused.length).toBeGreaterThan(0);
    for (const outcome of refused) {
      expect(outcome.reason).toMatchObject({
        code: 'ORDERING_E_BACKPRESSURE',
        details: { retryable: true, pendingBatchesMax: 4 },
      });
      const { details } = outcome.reason as CofferError;
      expect(details.retryAfterMs).toBeGreaterThanOrEqual(5);
    }
    const accepted = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    expect(accepted).toEqual(Array.from({ length: accepted.length }, (_, i) => i + 1));
    await log.close();
  });

  it('bounds pending bytes too', async () => {
    const log = await openEmbeddedLog(await tempDir(), {
      batchBytesMax: 1000,
      pendingBytesMax: 2500,
    });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => log.append(batchOf(i, 1000))),
    );
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
    ]);
    await log.close();
  });

  it('refuses inconsistent options with ORDERING_E_CONFIG', async () => {
    const dir = await tempDir();
    for (const options of [
      { segmentBytesMax: 1000, batchBytesMax: 1000 },
      { pendingBytesMax: 10, batchBytesMax: 11 },
      { readBytesMax: 10, batchBytesMax: 11 },
      { readBatchesMax: 0 },
      { diskFullRetryMs: 1.5 },
    ]) {
      await expect(openEmbeddedLog(dir, options), JSON.stringify(options)).rejects.toMatchObject({
        code: 'ORDERING_E_CONFIG',
      });
    }
    expect(segmentBytesMax).toBeGreaterThanOrEqual(batchBytesMax + recordHeaderBytes);
    expect(readBatchesMax).toBeGreaterThan(0);
  });

  it('close waits for accepted appends, then refuses everything', async () => {
    const log = await openEmbeddedLog(await tempDir());
    const pending = [log.append(bytesOf('1')), log.append(bytesOf('2'))];
    await log.close();
    expect(await Promise.all(pending)).toEqual([1, 2]);
    await log.close(); // idempotent
    await expect(log.append(bytesOf('3'))).rejects.toMatchObject({ code: 'ORDERING_E_CLOSED' });
    await expect(log.read(1, 1)).rejects.toMatchObject({ code: 'ORDERING_E_CLOSED' });
  });

  it('on a full disk: refuses appends, keeps reads, cuts the partial record, resumes', async () => {
    const dir = await tempDir();
    const { storage, fault } = faultyStorage();
    const log = await openEmbeddedLog(dir, { storage, diskFullRetryMs: 20 });
    expect(await log.append(batchOf(1, 100))).toBe(1);
    const segment = path.join(dir, 'log-00000000000000000001.seg');
    const durableSize = (await stat(segment)).size;

    fault.code = 'ENOSPC';
    // A slow truncation: the refusal must still come only once the partial record is cut.
    fault.truncateDelayMs = 50;
    const failed = log.append(batchOf(2, 100));
    await expect(failed).rejects.toMatchObject({
      code: 'ORDERING_E_DISK_FULL',
      details: { retryable: true },
    });
    await expect(failed).rejects.toThrow(
      new RegExp(
        `^disk full at ${dir}: ENOSPC: injected, write; appends resume when space returns$`,
      ),
    );
    const health = log.health();
    expect(health).toMatchObject({ state: 'disk-full', error: { code: 'ORDERING_E_DISK_FULL' } });
    expect(health === 'ok' ? 0 : health.since).toBeGreaterThan(0);
    expect((await stat(segment)).size).toBe(durableSize); // the half-written record is gone
    await expect(log.append(batchOf(3))).rejects.toMatchObject({
      code: 'ORDERING_E_DISK_FULL',
    });
    expect((await log.read(1, 10)).map((e) => e.position)).toEqual([1]);

    fault.code = undefined;
    await expect.poll(() => log.health(), { timeout: 2000, interval: 10 }).toBe('ok');
    expect(await log.append(batchOf(4, 100))).toBe(2);
    await log.close();
    const again = await openEmbeddedLog(dir);
    expect(again.recovery().truncated).toBeUndefined();
    expect((await again.read(1, 10)).map((e) => textOf(e.batch).split('.')[0])).toEqual([
      'batch-1',
      'batch-4',
    ]);
    await again.close();
  });

  it('treats EDQUOT as a full disk, and any other I/O error as fatal', async () => {
    const { storage, fault } = faultyStorage();
    const log = await openEmbeddedLog(await tempDir(), { storage, diskFullRetryMs: 10_000 });
    await log.append(bytesOf('ok'));
    fault.code = 'EDQUOT';
    await expect(log.append(bytesOf('quota'))).rejects.toMatchObject({
      code: 'ORDERING_E_DISK_FULL',
    });
    await log.close();

    const second = faultyStorage();
    const broken = await openEmbeddedLog(await tempDir(), { storage: second.storage });
    await broken.append(bytesOf('ok'));
    second.fault.code = 'EIO';
    await expect(broken.append(bytesOf('lost'))).rejects.toMatchObject({
      code: 'ORDERING_E_IO',
      details: { errno: 'EIO', retryable: false },
    });
    second.fault.code = undefined;
    expect(broken.health()).toMatchObject({ state: 'failed' });
    await expect(broken.append(bytesOf('later'))).rejects.toMatchObject({ code: 'ORDERING_E_IO' });
    expect((await broken.read(1, 5)).map((e) => textOf(e.batch))).toEqual(['ok']);
    await broken.close();
  });
});
