// Negative MSP vectors on disk (STYLE.md 12): every folder of test/fixtures/msp-negative is a
// Fabric MSP folder with one thing broken and an expected.json naming the error it must give.
// Loading returns the error (never throws), with the registered code, a message naming the
// file, on one line and without a stack trace. test/fixtures/msp-negative/make-vectors.sh
// rebuilds the vectors.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { cp, mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { errorRegistry, isCofferError, type ErrorCode } from '../../src/errors/index.js';
import { loadMspFolder, type FolderOutcome } from '../../src/msp/index.js';

const vectorsDir = path.resolve(import.meta.dirname, '../fixtures/msp-negative');
const baseDir = path.resolve(
  import.meta.dirname,
  '../fixtures/fabric-msp-conformance/testdata/sampleconfig-msp',
);
const mspId = 'SampleOrg';
// The sampleconfig signcert expires in 2027-11; a fixed clock keeps the vectors about one thing.
const clock = new Date('2026-01-01T00:00:00Z');

type Expected = {
  readonly why: string;
  readonly mode: 'local' | 'verifying';
  readonly code: ErrorCode;
  /** A substring of the error message: the file (relative to the MSP folder) at fault. */
  readonly fileContains: string;
  readonly messageContains?: string;
  /** The folder to load, relative to the vector folder (default: the vector folder). */
  readonly mspDir?: string;
  /**
   * `load` (default): loading fails. `signcert`: loading may succeed, and then the local
   * signing identity must be invalid; if loading fails, it must fail with `code`.
   */
  readonly stage?: 'load' | 'signcert';
  /** Symlinks (path → target) made in a temp copy of the vector before loading. */
  readonly symlinks?: Readonly<Record<string, string>>;
};

const vectorNames = readdirSync(vectorsDir)
  .filter((name) => statSync(path.join(vectorsDir, name)).isDirectory())
  .sort();

function expectedOf(name: string): Expected {
  return JSON.parse(readFileSync(path.join(vectorsDir, name, 'expected.json'), 'utf8')) as Expected;
}

const tempDirs: string[] = [];

afterAll(async () => {
  await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The vector folder, or a temp copy of it with the symlinks expected.json asks for. */
async function vectorDir(name: string, expected: Expected): Promise<string> {
  const source = path.join(vectorsDir, name);
  if (expected.symlinks === undefined) return source;
  const temp = await mkdtemp(path.join(tmpdir(), `coffer-msp-negative-${name}-`));
  tempDirs.push(temp);
  const copy = path.join(temp, name);
  await cp(source, copy, { recursive: true });
  for (const [link, target] of Object.entries(expected.symlinks)) {
    await mkdir(path.dirname(path.join(copy, link)), { recursive: true });
    await symlink(target, path.join(copy, link));
  }
  return copy;
}

type Attempt = { readonly outcome: FolderOutcome } | { readonly thrown: unknown };

async function attemptLoad(dir: string, mode: Expected['mode']): Promise<Attempt> {
  try {
    return { outcome: await loadMspFolder(dir, { mspId, local: mode === 'local', now: clock }) };
  } catch (thrown) {
    return { thrown };
  }
}

function describeThrown(thrown: unknown): string {
  return thrown instanceof Error ? `${thrown.name}: ${thrown.message}` : String(thrown);
}

function expectReported(error: unknown, expected: Expected): void {
  expect(isCofferError(error), `a CofferError, got ${describeThrown(error)}`).toBe(true);
  if (!isCofferError(error)) return;
  expect({ code: error.code, message: error.message }).toMatchObject({
    code: expected.code,
    message: expect.stringContaining(expected.fileContains) as unknown,
  });
  expect(error.name).toBe(errorRegistry[expected.code].className);
  if (expected.messageContains !== undefined) {
    expect(error.message).toContain(expected.messageContains);
  }
  expect(error.message, 'one line').not.toMatch(/[\r\n]/);
  expect(error.message, 'no stack trace').not.toMatch(/\n\s+at /);
}

describe('negative MSP vectors (test/fixtures/msp-negative)', () => {
  it('has the vectors and the base they were made from loads in both modes', async () => {
    expect(vectorNames.length).toBeGreaterThanOrEqual(11);
    for (const local of [true, false]) {
      const outcome = await loadMspFolder(baseDir, { mspId, local, now: clock });
      expect(outcome.ok ? 'ok' : `${outcome.error.code}: ${outcome.error.message}`).toBe('ok');
    }
  });

  it.each(vectorNames)('expected.json of %s is well formed', (name) => {
    const expected = expectedOf(name);
    expect(['local', 'verifying']).toContain(expected.mode);
    expect(Object.keys(errorRegistry)).toContain(expected.code);
    expect(expected.fileContains.length).toBeGreaterThan(0);
    expect(expected.why.length).toBeGreaterThan(0);
  });

  for (const name of vectorNames) {
    const expected = expectedOf(name);
    it(`${name}: ${expected.code} naming ${expected.fileContains}`, async () => {
      const dir = path.join(await vectorDir(name, expected), expected.mspDir ?? '.');
      const attempt = await attemptLoad(dir, expected.mode);
      if ('thrown' in attempt) {
        expect.fail(`loadMspFolder threw instead of returning: ${describeThrown(attempt.thrown)}`);
      }
      const { outcome } = attempt;
      if ((expected.stage ?? 'load') === 'load' || !outcome.ok) {
        expect(outcome.ok, 'loading fails').toBe(false);
        if (!outcome.ok) expectReported(outcome.error, expected);
        return;
      }
      const signer = outcome.msp.signingIdentity;
      expect(signer, 'a local MSP has a signing identity').toBeDefined();
      if (signer === undefined) return;
      const validation = outcome.msp.validate(signer.identity);
      expect(validation.valid, 'the signing identity is invalid').toBe(false);
      if (!validation.valid) expectReported(validation.error, expected);
    });
  }
});

describe('identities with bad bytes', () => {
  // Go's x509.ParseCertificate refuses DER followed by more bytes ("x509: trailing data"), so
  // Fabric's DeserializeIdentity and IsWellFormed refuse such an identity. Accepting it would
  // give one certificate (one key) many identity IDs, one per suffix.
  it('refuses a certificate whose DER has trailing bytes', async () => {
    const outcome = await loadMspFolder(baseDir, { mspId, local: false, now: clock });
    if (!outcome.ok) throw outcome.error;
    const msp = outcome.msp;
    const pem = readFileSync(path.join(baseDir, 'signcerts/peer.pem'), 'latin1');
    const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
    const padded = Buffer.concat([der, Buffer.from([0x05, 0x00])]);
    const lines = padded.toString('base64').match(/.{1,64}/g) ?? [];
    const paddedPem = `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;

    const good = msp.deserializeIdentity(mspId, pem);
    expect(good.ok).toBe(true);
    const bad = msp.deserializeIdentity(mspId, paddedPem);
    expect(bad.ok ? `accepted as identity ${bad.identity.id}` : bad.error.code).toBe(
      'MSP_E_IDENTITY_MALFORMED',
    );
    const wellFormed = msp.isWellFormed(mspId, paddedPem);
    expect(wellFormed.ok ? 'well formed' : wellFormed.error.code).toBe('MSP_E_IDENTITY_MALFORMED');
  });
});
