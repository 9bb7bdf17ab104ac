// The audit log is rotated by size into numbered segments, and its hash chain runs across them:
// the new file's first line chains to the last line of the segment before, a verifier walks
// every segment in order, an edited or missing segment is found, and a crash in the middle of a
// rotation (after the rename, before the first line of the new file) is continued on restart.
import { mkdtemp, readFile, readdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  auditLineBytesMax,
  auditSegmentName,
  openAuditLog,
  verifyAuditFiles,
  verifyAuditLog,
  verifyAuditLogFiles,
  type AuditLogOptions,
} from '../../src/signer/index.js';

/** The smallest rotation size openAuditLog accepts: four of the longest lines. */
const bytesMax = 4 * auditLineBytesMax;
/** A record of 15/16 of the longest line: four fit in a segment, the fifth rotates. */
const padding = 'p'.repeat((15 * auditLineBytesMax) / 16);
const clock = () => Date.UTC(2026, 0, 1);

let dir: string;
let file: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-audit-'));
  file = path.join(dir, 'signer-audit.log');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function appendSigned(count: number, from: number, options: AuditLogOptions = {}) {
  const audit = await openAuditLog(file, clock, { bytesMax, ...options });
  try {
    for (let i = from; i < from + count; i += 1) {
      await audit.append({ event: 'signed', withdrawalId: `w-${i}`, padding });
    }
  } finally {
    await audit.close();
  }
}

async function events(name: string): Promise<Record<string, unknown>[]> {
  return (await readFile(path.join(dir, name), 'utf8'))
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function withdrawalIds(): Promise<unknown[]> {
  const names = (await readdir(dir)).sort(); // .log, .log.000001, …: the current file first
  const ordered = [...names.slice(1), names[0] ?? ''];
  const all = await Promise.all(ordered.map(events));
  return all
    .flat()
    .flatMap((event) => (event['event'] === 'signed' ? [event['withdrawalId']] : []));
}

/** Lines in the log after `signed` records over `files` files: one `rotated` per new file. */
const linesOf = (signed: number, files: number) => signed + files - 1;

describe('audit log rotation', () => {
  it('rotates before the file would pass bytesMax; the chain runs across segments', async () => {
    await appendSigned(10, 0);
    expect((await readdir(dir)).sort()).toEqual([
      'signer-audit.log',
      'signer-audit.log.000001',
      'signer-audit.log.000002',
    ]);
    for (const name of await readdir(dir)) {
      expect((await stat(path.join(dir, name))).size).toBeLessThanOrEqual(bytesMax);
    }
    expect((await events('signer-audit.log.000001')).map((event) => event['withdrawalId'])).toEqual(
      ['w-0', 'w-1', 'w-2', 'w-3'],
    );
    // Each new file opens with a record naming the segment it continues.
    expect((await events('signer-audit.log.000002'))[0]).toMatchObject({
      event: 'rotated',
      previousSegment: 'signer-audit.log.000001',
    });
    // A segment on its own does not start at the genesis hash; the whole chain verifies.
    const second = await readFile(auditSegmentName(file, 2), 'utf8');
    expect(verifyAuditLog(second).brokenAt).toBe(0);
    expect(await verifyAuditLogFiles(file)).toEqual({ files: 3, lines: linesOf(10, 3) });
    expect(await withdrawalIds()).toEqual([...Array(10).keys()].map((i) => `w-${i}`));
    // Reopening continues the chain, and the numbering.
    await appendSigned(4, 10);
    expect(await verifyAuditLogFiles(file)).toEqual({ files: 4, lines: linesOf(14, 4) });
    expect(await withdrawalIds()).toEqual([...Array(14).keys()].map((i) => `w-${i}`));
  });

  it('rotates a file already larger than bytesMax (a lowered limit) on the first append', async () => {
    await appendSigned(6, 0, { bytesMax: 1024 * 1024 });
    expect((await stat(file)).size).toBeGreaterThan(bytesMax);
    await appendSigned(1, 6);
    expect((await readdir(dir)).sort()).toEqual(['signer-audit.log', 'signer-audit.log.000001']);
    expect(await verifyAuditLogFiles(file)).toEqual({ files: 2, lines: linesOf(7, 2) });
  });

  it('finds an edited line in a middle segment, and a missing middle segment', async () => {
    await appendSigned(14, 0);
    expect(await verifyAuditLogFiles(file)).toEqual({ files: 4, lines: linesOf(14, 4) });
    const middle = auditSegmentName(file, 2);
    const text = await readFile(middle, 'utf8');
    // Segment 2 is [rotated, w-4, w-5, w-6, w-7]: editing w-5 breaks the line after it.
    await writeFile(middle, text.replace('"withdrawalId":"w-5"', '"withdrawalId":"w-9"'));
    expect((await verifyAuditLogFiles(file)).broken).toMatchObject({
      file: 'signer-audit.log.000002',
      line: 3,
    });
    // Editing the last line of a segment breaks the first line of the next one.
    const last =
      text
        .split('\n')
        .filter((line) => line.length > 0)
        .at(-1) ?? '';
    await writeFile(middle, text.replace(last, last.replace('"signed"', '"refused"')));
    expect((await verifyAuditLogFiles(file)).broken).toMatchObject({
      file: 'signer-audit.log.000003',
      line: 0,
    });
    await writeFile(middle, text);
    expect((await verifyAuditLogFiles(file)).broken).toBeUndefined();
    await unlink(middle);
    expect((await verifyAuditLogFiles(file)).broken).toMatchObject({
      file: 'signer-audit.log.000002',
      reason: expect.stringContaining('missing') as unknown,
    });
    // The same files handed over without the middle one (renumbered, say): the chain breaks.
    const files = await Promise.all(
      [auditSegmentName(file, 1), auditSegmentName(file, 3), file].map(async (name) => ({
        name: path.basename(name),
        text: await readFile(name, 'utf8'),
      })),
    );
    expect(verifyAuditFiles(files).broken).toMatchObject({
      file: 'signer-audit.log.000003',
      line: 0,
    });
  });

  it.each(['renamed', 'created'] as const)(
    'continues the chain after a crash once the full file is %s',
    async (step) => {
      await appendSigned(4, 0);
      const audit = await openAuditLog(file, clock, {
        bytesMax,
        rotationStep: (at) => {
          if (at === step) throw new Error(`crash after ${step}`);
        },
      });
      // The fifth record rotates, and the "process dies" in the middle of it.
      const failed = await audit.append({ event: 'signed', withdrawalId: 'w-4', padding }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(isCofferError(failed, 'SIGNER_E_AUDIT_FAILED')).toBe(true);
      // That process writes nothing more.
      await expect(audit.append({ event: 'stopped' })).rejects.toMatchObject({
        code: 'SIGNER_E_AUDIT_FAILED',
      });
      await audit.close();
      expect((await readdir(dir)).sort()).toEqual(
        step === 'renamed'
          ? ['signer-audit.log.000001']
          : ['signer-audit.log', 'signer-audit.log.000001'],
      );
      if (step === 'created') expect((await stat(file)).size).toBe(0);
      // The restart chains its first line to the last line of the segment.
      await appendSigned(2, 5);
      expect(await verifyAuditLogFiles(file)).toEqual({ files: 2, lines: 6 });
      expect(await withdrawalIds()).toEqual(['w-0', 'w-1', 'w-2', 'w-3', 'w-5', 'w-6']);
    },
  );

  it('never overwrites an existing segment', async () => {
    await appendSigned(4, 0);
    const audit = await openAuditLog(file, clock, { bytesMax });
    const full = await readFile(file, 'utf8');
    // A stray file takes the next segment's name after the log was opened.
    await writeFile(auditSegmentName(file, 1), 'someone else\n');
    await expect(
      audit.append({ event: 'signed', withdrawalId: 'w-4', padding }),
    ).rejects.toMatchObject({ code: 'SIGNER_E_AUDIT_FAILED' });
    await audit.close();
    expect(await readFile(auditSegmentName(file, 1), 'utf8')).toBe('someone else\n');
    expect(await readFile(file, 'utf8')).toBe(full);
  });
});
