// Merkle tree benchmark at 1,000,000 leaves: appends/s, inclusion and consistency proofs/s,
// roots of earlier sizes/s, proof verification/s, memory after the appends, and snapshot
// (serialize / deserialize) times; then the same tree with its old leaves spilled to a file
// (decision 0034): memory, proofs (which read leaves back), serialize. Runs against dist/ (npm run build). Human-readable lines
// go to stderr; the last stdout line is the JSON object of figures.
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  createMerkleTree,
  deserializeMerkleTree,
  leafHash,
  verifyInclusion,
} from '../dist/ledger/merkle.js';
import { openLeafSpillFile } from '../dist/ledger/leaf-spill.js';
import { measure } from './lib/measure.mjs';

const leaves = Number(process.env.BENCH_MERKLE_LEAVES ?? 1_000_000);
const windowMs = Number(process.env.BENCH_WINDOW_MS ?? 1500);
const warmupMs = Math.min(300, windowMs);
if (!(leaves > 0) || !(windowMs > 0))
  throw new Error('BENCH_MERKLE_LEAVES and BENCH_WINDOW_MS must be positive');
const mb = (bytes) => Math.round((bytes / (1024 * 1024)) * 10) / 10;

function log(line) {
  process.stderr.write(`merkle: ${line}\n`);
}

/** A collector for steadier memory figures (the runner starts node without --expose-gc). */
function collector() {
  v8.setFlagsFromString('--expose-gc');
  return vm.runInNewContext('gc');
}

/** Deterministic pseudo-random indexes (xorshift32), so runs are comparable. */
function indexes(count, below, seed = 0x9e3779b9) {
  const out = new Float64Array(count);
  let x = seed >>> 0;
  for (let i = 0; i < count; i += 1) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = Math.floor((x / 2 ** 32) * below);
  }
  return out;
}

function main() {
  const gc = collector();
  gc();
  const before = process.memoryUsage();

  // Appends: the leaf hash of a distinct 8-byte entry each time, computed outside the timing
  // into one reused batch buffer (so the figures are the tree's, not the harness's).
  const tree = createMerkleTree();
  const entry = new Uint8Array(8);
  const view = new DataView(entry.buffer);
  const batch = 4096;
  const batchHashes = new Uint8Array(batch * 32);
  const slots = Array.from({ length: batch }, (_, i) => batchHashes.subarray(i * 32, i * 32 + 32));
  let appendNs = 0n;
  for (let done = 0; done < leaves; done += batch) {
    const count = Math.min(batch, leaves - done);
    for (let i = 0; i < count; i += 1) {
      view.setFloat64(0, done + i);
      batchHashes.set(leafHash(entry), i * 32);
    }
    const start = process.hrtime.bigint();
    for (let i = 0; i < count; i += 1) tree.append(slots[i]);
    appendNs += process.hrtime.bigint() - start;
  }
  const appendsPerSec = Math.round((leaves * 1e9) / Number(appendNs));
  log(`${leaves} appends in ${(Number(appendNs) / 1e6).toFixed(0)} ms: ${appendsPerSec}/s`);

  gc();
  const after = process.memoryUsage();
  const memory = {
    rssMb: mb(after.rss),
    rssDeltaMb: mb(after.rss - before.rss),
    arrayBuffersDeltaMb: mb(after.arrayBuffers - before.arrayBuffers),
    storageMb: mb(tree.storageBytes()),
    storageBytesPerLeaf: Math.round((tree.storageBytes() / leaves) * 10) / 10,
  };
  log(
    `memory after ${leaves} leaves: rss ${memory.rssMb} MB (+${memory.rssDeltaMb}), ` +
      `tree storage ${memory.storageMb} MB (${memory.storageBytesPerLeaf} B/leaf)`,
  );

  const samples = 1 << 16;
  const proofIndexes = indexes(samples, leaves);
  const sizes = indexes(samples, leaves, 12345).map((i) => i + 1);
  let k = 0;
  const next = () => {
    k = (k + 1) & (samples - 1);
    return k;
  };

  const inclusion = measure(() => tree.inclusionProof(proofIndexes[next()]), {
    windowMs,
    warmupMs,
  });
  log(`inclusion proofs at ${leaves}: ${inclusion.perSec}/s`);

  const inclusionAtSize = measure(
    () => {
      const i = next();
      const size = sizes[i];
      return tree.inclusionProof(proofIndexes[i] % size, size);
    },
    { windowMs, warmupMs },
  );
  log(`inclusion proofs at random earlier sizes: ${inclusionAtSize.perSec}/s`);

  const roots = measure(() => tree.root(sizes[next()]), { windowMs, warmupMs });
  log(`root(size) at random sizes: ${roots.perSec}/s`);

  const consistency = measure(() => tree.consistencyProof(sizes[next()]), {
    windowMs,
    warmupMs,
  });
  log(`consistency proofs to ${leaves}: ${consistency.perSec}/s`);

  const root = tree.root();
  const prepared = Array.from({ length: 1024 }, (_, i) => {
    const index = proofIndexes[i];
    return { index, leaf: tree.leaf(index), proof: tree.inclusionProof(index) };
  });
  const proofHashes = prepared[0].proof.length;
  let v = 0;
  const verify = measure(
    () => {
      v = (v + 1) & 1023;
      const { index, leaf, proof } = prepared[v];
      if (!verifyInclusion(leaf, index, leaves, proof, root)) throw new Error('proof rejected');
    },
    { windowMs, warmupMs },
  );
  log(`verifyInclusion (${proofHashes} hashes): ${verify.perSec}/s`);

  let start = process.hrtime.bigint();
  const state = tree.serialize();
  const serializeMs = Number(process.hrtime.bigint() - start) / 1e6;
  start = process.hrtime.bigint();
  const trusted = deserializeMerkleTree(state, { verify: false });
  const deserializeMs = Number(process.hrtime.bigint() - start) / 1e6;
  start = process.hrtime.bigint();
  const checked = deserializeMerkleTree(state);
  const deserializeVerifiedMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (Buffer.compare(trusted.root(), root) !== 0 || Buffer.compare(checked.root(), root) !== 0) {
    throw new Error('deserialized tree has another root');
  }
  log(
    `snapshot of ${mb(state.byteLength)} MB: serialize ${serializeMs.toFixed(0)} ms, ` +
      `deserialize ${deserializeMs.toFixed(0)} ms (${deserializeVerifiedMs.toFixed(0)} ms verified)`,
  );

  // The same tree with a spill: old leaves in a file, read back by proofs and serialize.
  const dir = mkdtempSync(path.join(tmpdir(), 'coffer-bench-merkle-'));
  const spill = openLeafSpillFile(path.join(dir, 'merkle-leaves'));
  let spilled;
  try {
    start = process.hrtime.bigint();
    const spilledTree = deserializeMerkleTree(state, { spill, verify: false });
    const spillMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (Buffer.compare(spilledTree.root(), root) !== 0) throw new Error('spilled tree differs');
    const spilledInclusion = measure(() => spilledTree.inclusionProof(proofIndexes[next()]), {
      windowMs,
      warmupMs,
    });
    start = process.hrtime.bigint();
    const again = spilledTree.serialize();
    const spilledSerializeMs = Number(process.hrtime.bigint() - start) / 1e6;
    if (Buffer.compare(again, state) !== 0) throw new Error('spilled tree serializes otherwise');
    spilled = {
      storageMb: mb(spilledTree.storageBytes()),
      leavesSpilled: spilledTree.spilledLeaves(),
      deserializeMs: Math.round(spillMs),
      inclusionProofsPerSec: spilledInclusion.perSec,
      serializeMs: Math.round(spilledSerializeMs),
    };
  } finally {
    spill.close();
    rmSync(dir, { recursive: true, force: true });
  }
  log(
    `spilled: tree storage ${spilled.storageMb} MB (${spilled.leavesSpilled} leaves in the file), ` +
      `read back with its spill in ${spilled.deserializeMs} ms, inclusion proofs ` +
      `${spilled.inclusionProofsPerSec}/s, serialize ${spilled.serializeMs} ms`,
  );

  const figures = {
    leaves,
    appendsPerSec,
    inclusionProofsPerSec: inclusion.perSec,
    inclusionProofsAtEarlierSizePerSec: inclusionAtSize.perSec,
    rootsAtEarlierSizePerSec: roots.perSec,
    consistencyProofsPerSec: consistency.perSec,
    verifyInclusionPerSec: verify.perSec,
    proofHashes,
    ...memory,
    snapshotMb: mb(state.byteLength),
    serializeMs: Math.round(serializeMs),
    deserializeMs: Math.round(deserializeMs),
    deserializeVerifiedMs: Math.round(deserializeVerifiedMs),
    spilled,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
}

main();
