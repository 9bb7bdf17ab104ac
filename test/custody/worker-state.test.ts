// The custody worker's deposit-cursor file (src/custody/worker-state.ts): no file scans from the
// start, a saved cursor reads back, each committed negative vector of
// test/fixtures/custody-worker-state gives CUSTODY_E_WORKER_STATE_CORRUPT, and seeded crashes and
// failed syncs in the middle of saves (src/ledger/files-sim.ts) leave a cursor that was saved,
// at least the last one whose save resolved, never a torn file. The seed is printed (`seed=…`);
// COFFER_SEED=<seed> replays a failure exactly.
import { randomInt } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  openWorkerState,
  workerStateBytesMax,
  workerStateFile,
} from '../../src/custody/worker-state.js';
import { createSimStorage } from '../../src/ledger/files-sim.js';

const fixturesRoot = path.resolve(import.meta.dirname, '../fixtures/custody-worker-state');
const masterSeed = Number(process.env.COFFER_SEED ?? randomInt(2 ** 31));
console.log(`seed=${masterSeed} (rerun with COFFER_SEED=${masterSeed})`);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-worker-state-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('custody worker state file', () => {
  it('starts from the beginning without a file; a saved cursor reads back after a reopen', async () => {
    const dir = path.join(work, 'fresh', 'state');
    const first = await openWorkerState(dir, 'coffer');
    expect(first.saved).toBeNull();
    await first.save('3');
    await first.save('17');
    expect(await readFile(workerStateFile(dir, 'coffer'), 'utf8')).toBe(
      '{"version":1,"chain":"coffer","cursor":"17"}\n',
    );
    // Only the state file: the temporary one was renamed over it.
    expect(await readdir(dir)).toEqual(['deposit-cursor-coffer.json']);
    expect((await openWorkerState(dir, 'coffer')).saved).toBe('17');
    // Each chain has its own file.
    expect((await openWorkerState(dir, 'ethereum')).saved).toBeNull();
  });

  it('refuses a state folder it cannot use with CUSTODY_E_WORKER_STATE_IO', async () => {
    const file = path.join(work, 'a-file');
    await writeFile(file, 'not a folder');
    await expect(openWorkerState(file, 'coffer')).rejects.toMatchObject({
      code: 'CUSTODY_E_WORKER_STATE_IO',
      message: expect.stringContaining(file) as unknown,
    });
  });

  it('refuses a file over workerStateBytesMax as corrupt', async () => {
    const dir = path.join(work, 'large');
    await openWorkerState(dir, 'coffer');
    const padded = `${' '.repeat(workerStateBytesMax)}{"version":1,"chain":"coffer","cursor":"1"}`;
    await writeFile(workerStateFile(dir, 'coffer'), padded);
    await expect(openWorkerState(dir, 'coffer')).rejects.toMatchObject({
      code: 'CUSTODY_E_WORKER_STATE_CORRUPT',
      message: expect.stringContaining(`over ${workerStateBytesMax} bytes`) as unknown,
    });
  });
});

type Expected = {
  readonly description: string;
  readonly ok: boolean;
  readonly cursor?: string;
  readonly message?: string;
};

const fixtureNames = readdirSync(fixturesRoot).sort();

describe('custody worker state file: the committed vectors (test/fixtures/custody-worker-state)', () => {
  it('holds the vectors', () => {
    expect(fixtureNames).toContain('valid');
    expect(fixtureNames.length).toBeGreaterThan(8);
  });

  it.each(fixtureNames)('%s', async (name) => {
    const expected = JSON.parse(
      await readFile(path.join(fixturesRoot, name, 'expected.json'), 'utf8'),
    ) as Expected;
    const dir = path.join(work, 'vectors', name);
    await cp(path.join(fixturesRoot, name), dir, { recursive: true });
    const opened = openWorkerState(dir, 'coffer');
    if (expected.ok) {
      expect((await opened).saved).toBe(expected.cursor);
      return;
    }
    const error = await opened.then(
      () => undefined,
      (reason: unknown) => reason as { code: string; message: string },
    );
    expect(error?.code, expected.description).toBe('CUSTODY_E_WORKER_STATE_CORRUPT');
    expect(error?.message).toContain(expected.message ?? '');
    // The message names the file and says what to do.
    expect(error?.message).toContain(workerStateFile(dir, 'coffer'));
    expect(error?.message).toContain('delete it to rescan coffer deposits from the start');
  });
});

describe('custody worker state file under crashes', () => {
  it('seeded simulation: a crash or failed sync during saves never tears the file', async () => {
    // COFFER_SIM_RUNS=5000 for a soak run.
    const runs = Number(process.env.COFFER_SIM_RUNS ?? 300);
    const seen = { crashes: 0, failedSaves: 0, keptInFlight: 0, keptResolved: 0 };
    for (let run = 0; run < runs; run += 1) {
      const seed = (masterSeed + run * 7919) >>> 0;
      const sim = createSimStorage(seed, { syncFailProbability: 0.1, syncDirFailProbability: 0.1 });
      const dir = '/sim/state';
      const context = () => `seed=${masterSeed} run=${run}: ${sim.events.slice(-12).join(' | ')}`;
      let store = await openWorkerState(dir, 'coffer', { storage: sim });
      /** The last cursor whose save resolved (durable), and every cursor given to save since. */
      let resolved: number | null = null;
      let attempted: number[] = [];
      let next = 1;
      for (let round = 0; round < 3; round += 1) {
        sim.crashAfter(sim.random.int(40));
        for (let saves = 0; saves < 10 && !sim.crashed(); saves += 1) {
          attempted.push(next);
          try {
            await store.save(String(next));
            resolved = next;
            attempted = [];
          } catch (error) {
            const code = (error as { code?: string }).code;
            expect(code, context()).toBe('CUSTODY_E_WORKER_STATE_IO');
            seen.failedSaves += 1;
          }
          next += 1;
        }
        sim.crash();
        seen.crashes += 1;
        store = await openWorkerState(dir, 'coffer', { storage: sim });
        const saved = store.saved === null ? null : Number(store.saved);
        // A resolved save survives; nothing but a cursor given to save is ever read back.
        const allowed = [resolved, ...attempted];
        expect(allowed, context()).toContain(saved);
        if (saved !== resolved) seen.keptInFlight += 1;
        else seen.keptResolved += 1;
        resolved = saved;
        attempted = [];
      }
    }
    console.log(`worker state simulation (${runs} runs): ${JSON.stringify(seen)}`);
    // The faults were really exercised (both outcomes of an interrupted save happen).
    expect(seen.failedSaves).toBeGreaterThan(0);
    expect(seen.keptInFlight).toBeGreaterThan(0);
  }, 120_000);
});
