// kill -9 on a real process: a child appends to the compiled log (dist/, built by the test
// globalSetup) and prints each acknowledged position; it is killed at a random moment, and the
// log must then hold every printed position with its bytes. The same directory goes through
// every round, so each round also recovers the previous round's torn tail and keeps going.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import path from 'node:path';
import process from 'node:process';
import { describe, expect, it } from 'vitest';
import { openEmbeddedLog } from '../../src/ordering/index.js';
import { tempDir } from './helpers.js';
import { createRng, planSeeds } from './rng.js';

const child = path.join(import.meta.dirname, 'append-child.mjs');
const rounds = 6;
const [seed = 0] = planSeeds(1).seeds;

/** Starts the child, kills it `afterMs` after it is ready; resolves with the lines it printed. */
function runAndKill(dir: string, appenders: number, afterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, String(appenders)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    proc.stdout.setEncoding('utf8');
    proc.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.startsWith('ready\n')) {
        timer = setTimeout(() => proc.kill('SIGKILL'), afterMs);
      }
    });
    proc.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') {
        reject(new Error(`child exited with ${String(code)} before the kill: ${err}`));
        return;
      }
      // Only whole lines: the kill may cut the last one.
      resolve(out.split('\n').slice(1, -1));
    });
  });
}

describe('embedded ordering log under kill -9', () => {
  it(`keeps every acknowledged append through ${rounds} kills (seed=${seed})`, async () => {
    const rng = createRng(seed);
    const dir = await tempDir();
    const acknowledged = new Map<number, string>();
    for (let round = 1; round <= rounds; round += 1) {
      const afterMs = 20 + rng.int(250);
      const lines = await runAndKill(dir, 1 + rng.int(16), afterMs);
      for (const line of lines) {
        const [position, digest] = line.split(' ');
        const at = Number(position);
        expect(acknowledged.has(at), `position ${at} acknowledged twice`).toBe(false);
        acknowledged.set(at, digest ?? '');
      }

      const log = await openEmbeddedLog(dir, { segmentBytesMax: 64 * 1024, batchBytesMax: 8192 });
      const committed = log.committedPosition();
      const context = `seed=${seed} round ${round} (killed after ${afterMs} ms, ${lines.length} acks)`;
      expect(committed, context).toBeGreaterThanOrEqual(Math.max(0, ...acknowledged.keys()));
      for (let from = 1; from <= committed;) {
        const entries = await log.read(from, 1024);
        for (const entry of entries) {
          expect(entry.position, context).toBe(from);
          const want = acknowledged.get(entry.position);
          if (want !== undefined) {
            const got = createHash('sha256').update(entry.batch).digest('hex');
            expect(got, `${context}: position ${entry.position}`).toBe(want);
          }
          from += 1;
        }
      }
      await log.close();
    }
    expect(acknowledged.size).toBeGreaterThan(0);
  }, 20_000);
});
