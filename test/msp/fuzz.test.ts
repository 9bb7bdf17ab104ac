// Bad input gets a stable code, never an exception: arbitrary text and bit-flipped certificates
// through deserialization, well-formedness and signature checks, and corrupted files through
// folder loading. fast-check prints the seed of any failure, which replays it exactly.
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorRegistry } from '../../src/errors/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';

const sample = path.resolve(
  import.meta.dirname,
  '../fixtures/fabric-msp-conformance/testdata/sampleconfig-msp',
);
const clock = new Date('2026-01-01T00:00:00Z');

let msp: Msp;
let peerPem: string;
let peerDer: Buffer;
let work: string;

function toPem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

function registered(code: string): boolean {
  return Object.hasOwn(errorRegistry, code);
}

beforeAll(async () => {
  const outcome = await loadMspFolder(sample, { mspId: 'SampleOrg', local: true, now: clock });
  if (!outcome.ok) throw outcome.error;
  msp = outcome.msp;
  peerPem = await readFile(path.join(sample, 'signcerts/peer.pem'), 'latin1');
  peerDer = Buffer.from(peerPem.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  work = await mkdtemp(path.join(tmpdir(), 'coffer-fuzz-'));
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const mutatedDer = fc
  .tuple(fc.nat(), fc.integer({ min: 1, max: 255 }), fc.nat(), fc.boolean())
  .map(([at, xor, cut, truncate]) => {
    const bytes = Buffer.from(peerDer);
    const index = at % bytes.length;
    bytes[index] = (bytes[index] ?? 0) ^ xor;
    return truncate ? bytes.subarray(0, cut % bytes.length) : bytes;
  });

describe('MSP input fuzzing', () => {
  it('deserialize + validate never throw on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (text) => {
        const outcome = msp.deserializeIdentity('SampleOrg', text);
        if (!outcome.ok) expect(registered(outcome.error.code)).toBe(true);
        expect(msp.isWellFormed('SampleOrg', text).ok).toBe(false);
      }),
      { numRuns: 300 },
    );
  });

  it('bit-flipped or truncated certificates are refused or still valid, never thrown', () => {
    fc.assert(
      fc.property(mutatedDer, (der) => {
        const outcome = msp.deserializeIdentity('SampleOrg', toPem(der));
        if (!outcome.ok) {
          expect(registered(outcome.error.code)).toBe(true);
          return;
        }
        const validation = msp.validate(outcome.identity);
        if (!validation.valid) expect(registered(validation.error.code)).toBe(true);
        // A flip inside the signed part must never leave a valid identity.
        if (validation.valid)
          expect(Buffer.from(outcome.identity.cert.tbsRaw)).toEqual(
            Buffer.from(msp.signingIdentity?.identity.cert.tbsRaw ?? []),
          );
      }),
      { numRuns: 300 },
    );
  });

  it('signature verification reports garbage signatures without throwing', () => {
    const identity = msp.signingIdentity?.identity;
    if (identity === undefined) throw new Error('no signer');
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 80 }),
        (message, sig) => {
          const check = msp.verify(identity, message, sig);
          expect(check.ok).toBe(false);
          if (!check.ok) expect(registered(check.error.code)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a corrupted file in any MSP sub-folder gives a result with a registered code', async () => {
    const files = [
      'cacerts/cacert.pem',
      'admincerts/admincert.pem',
      'signcerts/peer.pem',
      'config.yaml',
      'keystore/key.pem',
      'tlscacerts/tlsroot.pem',
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...files),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (file, at, xor) => {
          const dir = await mkdtemp(path.join(work, 'case-'));
          await cp(sample, dir, { recursive: true });
          const target = path.join(dir, file);
          const bytes = await readFile(target);
          const index = at % bytes.length;
          bytes[index] = (bytes[index] ?? 0) ^ xor;
          await writeFile(target, bytes);
          const outcome = await loadMspFolder(dir, { mspId: 'SampleOrg', local: true, now: clock });
          if (!outcome.ok) {
            expect(registered(outcome.error.code), outcome.error.code).toBe(true);
            expect(outcome.error.message).not.toMatch(/\n\s+at /);
          }
          await rm(dir, { recursive: true, force: true });
        },
      ),
      { numRuns: 60 },
    );
  });
});
