// Child process of kill.test.ts: opens the compiled log in argv[2] and appends until killed,
// from several concurrent appenders. For each acknowledged append it prints one line
// "<position> <sha256 of the batch>" (stdout to a pipe is synchronous on Linux, so a printed
// line was acknowledged before the kill). Prints "ready" once the log is open.
import { createHash, randomBytes } from 'node:crypto';
import process from 'node:process';
import { openEmbeddedLog } from '../../dist/ordering/index.js';

const [dir, appendersText = '4'] = process.argv.slice(2);
if (dir === undefined) throw new Error('usage: append-child.mjs DIR [APPENDERS]');
// Small segments so that kills also land around rollovers.
const log = await openEmbeddedLog(dir, { segmentBytesMax: 64 * 1024, batchBytesMax: 8192 });
process.stdout.write('ready\n');

async function appender() {
  for (;;) {
    // Random sizes and bytes: a torn record is then unlike its neighbours.
    const batch = randomBytes(1 + Math.floor(Math.random() * 3000));
    const position = await log.append(batch);
    const digest = createHash('sha256').update(batch).digest('hex');
    process.stdout.write(`${position} ${digest}\n`);
  }
}

await Promise.all(Array.from({ length: Number(appendersText) }, appender));
