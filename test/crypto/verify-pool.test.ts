// The worker-thread verifier answers exactly what node:crypto answers on the calling thread.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createVerifyPool,
  prepareEcdsaSha256,
  signEcdsaSha256,
  verifyPoolLimits,
  verifyPrepared,
  type VerifyPool,
} from '../../src/crypto/index.js';

let pool: VerifyPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

const keys = Array.from({ length: 5 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));

function ecJob(index: number, corrupt: boolean) {
  const pair = keys[index % keys.length];
  if (pair === undefined) throw new Error('fixture');
  const message = randomBytes(40 + (index % 300));
  const prepared = prepareEcdsaSha256(pair.publicKey, signEcdsaSha256(pair.privateKey, message));
  if (prepared.outcome !== 'ready') throw new Error('fixture');
  const signature = Uint8Array.from(prepared.p1363);
  if (corrupt) signature[index % signature.length] = (signature[index % signature.length] ?? 0) ^ 1;
  return { key: pair.publicKey, message, signature };
}

describe('verify pool', () => {
  it('agrees with verification on this thread, for valid and corrupted signatures, many keys', async () => {
    const verifier = createVerifyPool({ threads: 2 });
    pool = verifier;
    const jobs = Array.from({ length: 1200 }, (_, i) => ecJob(i, i % 3 === 0));
    const answers = await Promise.all(
      jobs.map((job) => verifier.verify(job.key, 'ec', job.message, job.signature)),
    );
    jobs.forEach((job, i) => {
      expect(answers[i]).toBe(verifyPrepared(job.key, 'ec', job.message, job.signature));
      expect(answers[i]).toBe(i % 3 !== 0);
    });
    expect(verifier.stats()).toMatchObject({ verified: 1200, onCallingThread: 0, queued: 0 });
  });

  it('gathers jobs for gatherMs before sending them, but sends a full message at once', async () => {
    const verifier = createVerifyPool({ threads: 1 });
    pool = verifier;
    const single = ecJob(0, false);
    const first = verifier.verify(single.key, 'ec', single.message, single.signature);
    expect(verifier.stats()).toMatchObject({ queued: 1, inFlight: 0 });
    await new Promise((resolve) => setTimeout(resolve, verifyPoolLimits.gatherMs + 5));
    expect(verifier.stats().queued).toBe(0);
    expect(await first).toBe(true);

    const full = Array.from({ length: verifyPoolLimits.jobsPerMessageMax }, (_, i) =>
      ecJob(i, false),
    );
    const answers = full.map((job) => verifier.verify(job.key, 'ec', job.message, job.signature));
    expect(verifier.stats()).toMatchObject({
      queued: 0,
      inFlight: verifyPoolLimits.jobsPerMessageMax,
    });
    expect(await Promise.all(answers)).toEqual(full.map(() => true));
  });

  it('verifies Ed25519 and answers false for a wrong kind or an unparsable signature', async () => {
    pool = createVerifyPool({ threads: 1 });
    const ed = generateKeyPairSync('ed25519');
    const message = Buffer.from('coffer');
    const signature = sign(null, message, ed.privateKey);
    expect(await pool.verify(ed.publicKey, 'ed25519', message, signature)).toBe(true);
    expect(await pool.verify(ed.publicKey, 'ed25519', Buffer.from('other'), signature)).toBe(false);
    expect(await pool.verify(ed.publicKey, 'ec', message, signature)).toBe(false);
    const ec = ecJob(1, false);
    expect(await pool.verify(ec.key, 'ec', ec.message, ec.signature.subarray(3))).toBe(false);
  });

  it('answers every job when closed with work in flight (on the calling thread)', async () => {
    const verifier = createVerifyPool({ threads: 2 });
    pool = verifier;
    const jobs = Array.from({ length: 400 }, (_, i) => ecJob(i, i % 2 === 0));
    const pending = jobs.map((job) => verifier.verify(job.key, 'ec', job.message, job.signature));
    await new Promise((resolve) => setImmediate(resolve)); // sent to the workers
    await verifier.close();
    const answers = await Promise.all(pending);
    answers.forEach((answer, i) => {
      expect(answer).toBe(i % 2 !== 0);
    });
    // After close, still correct answers (here, on the calling thread).
    const late = ecJob(7, false);
    expect(await verifier.verify(late.key, 'ec', late.message, late.signature)).toBe(true);
    expect(verifier.stats().onCallingThread).toBeGreaterThan(0);
  });
});
