// Commit-point encoding of the store (decision 0027) at a million keys: how long the node's
// main thread spends encoding the state's snapshot sections, the first time (every key sorted)
// and after 100,000 more keys (the store merges in only the keys added since), with the sorted
// walk over the store's bytes alone for comparison; and the same for the replay window's
// (expiry, id) order at 600,000 ids, what 2 minutes hold at 5,000 tx/s (read at every commit
// point). Runs against dist/ (npm run build).
// Human-readable lines go to stderr; the last stdout line is the JSON object of figures.
//
//   BENCH_STORE_KEYS=N (default 1,000,000), BENCH_STORE_NEW_KEYS=N (default 100,000),
//   BENCH_STORE_REPLAY_IDS=N (default 600,000)
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createReplayWindow } from '../dist/ledger/replay.js';
import { ledgerSecretFromBytes } from '../dist/ledger/secret.js';
import { encodeSnapshotSections } from '../dist/ledger/snapshot.js';
import { createStore } from '../dist/ledger/store.js';

const keys = Number(process.env.BENCH_STORE_KEYS ?? 1_000_000);
const newKeys = Number(process.env.BENCH_STORE_NEW_KEYS ?? 100_000);
const replayIds = Number(process.env.BENCH_STORE_REPLAY_IDS ?? 600_000);
if (!(keys > 0) || !(newKeys > 0)) {
  throw new Error('BENCH_STORE_KEYS and BENCH_STORE_NEW_KEYS must be positive');
}
const map = 'public:bench';
const rounds = 3;

function log(line) {
  process.stderr.write(`store: ${line}\n`);
}

const secret = ledgerSecretFromBytes(randomBytes(32));
const store = createStore();
let seqno = 0;
/** Puts keys [from, to) as the benchmark's kv puts look: scattered, so insertion order is not sorted. */
function put(from, to) {
  for (let start = from; start < to; start += 10_000) {
    const end = Math.min(start + 10_000, to);
    seqno += 1;
    store.apply(
      Array.from({ length: end - start }, (_, i) => {
        const n = start + i;
        return { map, key: `key-${(n * 7919) % 1_000_003}-${n.toString(36)}`, value: `v${n}` };
      }),
      seqno,
    );
  }
}

function timed(action) {
  const started = performance.now();
  action();
  return Math.round(performance.now() - started);
}

put(0, keys);
log(`${keys} keys put`);
seqno += 1;
const firstMs = timed(() => encodeSnapshotSections(seqno, store, secret));
log(`first commit point: ${firstMs} ms`);
const afterNewMs = [];
const sortedReadMs = [];
for (let round = 0; round < rounds; round += 1) {
  put(keys + round * newKeys, keys + (round + 1) * newKeys);
  seqno += 1;
  afterNewMs.push(timed(() => encodeSnapshotSections(seqno, store, secret)));
  sortedReadMs.push(timed(() => store.forEachSorted(map, () => undefined)));
  log(
    `${store.size(map)} keys, ${newKeys} new: commit point ${afterNewMs.at(-1)} ms ` +
      `(sorted walk again, nothing new: ${sortedReadMs.at(-1)} ms)`,
  );
}

// The replay window: ids expiring 2 minutes after their batch, 5 a millisecond.
const window = createReplayWindow();
let idCount = 0;
const addIds = (count, from) => {
  for (let i = 0; i < count; i += 1) {
    idCount += 1;
    const txId = createHash('sha256').update(String(idCount)).digest('hex');
    window.add(txId, from + Math.floor(i / 5) + (idCount % 50));
  }
};
const readAll = () => {
  let count = 0;
  for (const entry of window.sortedEntries()) if (entry[1] > 0) count += 1;
  return count;
};
const start = 1_800_000_000_000;
addIds(replayIds, start);
const replayFirstMs = timed(readAll);
const replayAfterNewMs = [];
for (let round = 0; round < rounds; round += 1) {
  // 100,000 more ids, and the oldest 20 s of them expired: the window keeps its size.
  addIds(100_000, start + replayIds / 5 + round * 20_000);
  window.prune(start + (round + 1) * 20_000);
  replayAfterNewMs.push(timed(readAll));
}
log(
  `replay window of ${window.size()} ids: first read ${replayFirstMs} ms, then ` +
    `${replayAfterNewMs.join(', ')} ms after each 100,000 new ids`,
);

process.stdout.write(
  `${JSON.stringify({
    keys,
    newKeysPerCommitPoint: newKeys,
    firstCommitPointMs: firstMs,
    commitPointAfterNewKeysMs: afterNewMs,
    sortedWalkUnchangedMs: sortedReadMs,
    keysAtEnd: store.size(map),
    replayIds: window.size(),
    replayFirstReadMs: replayFirstMs,
    replayReadAfterNewIdsMs: replayAfterNewMs,
    notes:
      'main-thread ms of encodeSnapshotSections (sort, read, encode, seal, hash) on one map, ' +
      'and of reading the replay window in order; later commit points merge in only what ' +
      'changed since the previous one',
  })}\n`,
);
