// Commit-point encoding of the store (decisions 0027, 0038) at a million keys: how long the
// encoding of the state's snapshot sections takes (on the commit-point worker since decision
// 0038), the first time (every key sorted) and after 100,000 more keys (the store merges in
// only the keys added since), with the sorted walk over the store's bytes alone for comparison
// and the copy the main thread makes for the worker; and the same for the replay window's
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
const frozenMs = [];
for (let round = 0; round < rounds; round += 1) {
  put(keys + round * newKeys, keys + (round + 1) * newKeys);
  seqno += 1;
  // What the main thread does at a commit point (decision 0038): a copy for the worker...
  frozenMs.push(timed(() => store.frozen()));
  // ... which encodes it (what the main thread did before).
  afterNewMs.push(timed(() => encodeSnapshotSections(seqno, store, secret)));
  sortedReadMs.push(timed(() => store.forEachSorted(map, () => undefined)));
  log(
    `${store.size(map)} keys, ${newKeys} new: copy for the worker ${frozenMs.at(-1)} ms, ` +
      `encoding ${afterNewMs.at(-1)} ms (sorted walk again, nothing new: ${sortedReadMs.at(-1)} ms)`,
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
const replayFrozenMs = [];
for (let round = 0; round < rounds; round += 1) {
  // 100,000 more ids, and the oldest 20 s of them expired: the window keeps its size.
  addIds(100_000, start + replayIds / 5 + round * 20_000);
  window.prune(start + (round + 1) * 20_000);
  replayFrozenMs.push(timed(() => window.frozen()));
  replayAfterNewMs.push(timed(readAll));
}
log(
  `replay window of ${window.size()} ids: first read ${replayFirstMs} ms, then ` +
    `${replayAfterNewMs.join(', ')} ms after each 100,000 new ids; ` +
    `copy for the worker ${replayFrozenMs.join(', ')} ms`,
);

process.stdout.write(
  `${JSON.stringify({
    keys,
    newKeysPerCommitPoint: newKeys,
    firstCommitPointMs: firstMs,
    commitPointAfterNewKeysMs: afterNewMs,
    sortedWalkUnchangedMs: sortedReadMs,
    mainThreadCopyMs: frozenMs,
    keysAtEnd: store.size(map),
    replayIds: window.size(),
    replayFirstReadMs: replayFirstMs,
    replayReadAfterNewIdsMs: replayAfterNewMs,
    replayMainThreadCopyMs: replayFrozenMs,
    notes:
      'ms of encodeSnapshotSections (sort, read, encode, seal, hash) on one map, now on the ' +
      "commit-point worker, and of reading the replay window in order; the main thread's part " +
      'at a commit point is the copies (mainThreadCopyMs, replayMainThreadCopyMs); later ' +
      'commit points merge in only what changed since the previous one',
  })}\n`,
);
