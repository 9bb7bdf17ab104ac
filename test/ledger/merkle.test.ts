// The Merkle tree against RFC 9162 §2.1 written out literally (MTH, PATH, PROOF as recursive
// functions over lists), against the RFC 6962 test vectors published by transparency-dev, and
// against tampering: every single-bit flip of a proof element, the leaf and the root.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  chunkHashesMax,
  createMerkleTree,
  deserializeMerkleTree,
  derivedLevels,
  emptyRoot,
  fromLeafHashes,
  frozenTreeParts,
  leafHash,
  type LeafSpill,
  rootExtending,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
  type MerkleTree,
} from '../../src/ledger/merkle.js';
import { openLeafSpillFile, readSpilledLeaves } from '../../src/ledger/leaf-spill.js';

// ---- the naive reference: RFC 9162 §2.1.1, §2.1.3.1, §2.1.4.1, literally ------------------------

function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return new Uint8Array(h.digest());
}

/** The largest power of two smaller than n (n > 1). */
function refSplit(n: number): number {
  return 2 ** Math.ceil(Math.log2(n) - 1);
}

/** MTH(D[n]) over the entries themselves. */
function mth(d: readonly Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256();
  if (d.length === 1) return sha256(Uint8Array.of(0), d[0] as Uint8Array);
  const k = refSplit(d.length);
  return sha256(Uint8Array.of(1), mth(d.slice(0, k)), mth(d.slice(k)));
}

/** PATH(m, D[n]). */
function refPath(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length === 1) return [];
  const k = refSplit(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), mth(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), mth(d.slice(0, k))];
}

/** SUBPROOF(m, D[n], b). */
function refSubproof(m: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [mth(d)];
  const k = refSplit(d.length);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), mth(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), mth(d.slice(0, k))];
}

/** PROOF(m, D[n]); for m = 0 there is nothing to prove. */
function refProof(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  return m === 0 ? [] : refSubproof(m, d, true);
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const unhex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

function treeOf(data: readonly Uint8Array[]): MerkleTree {
  const tree = createMerkleTree();
  for (const item of data) tree.append(leafHash(item));
  return tree;
}

/** Distinct entries (equal leaves would make some wrong-index proofs legitimately valid). */
function entries(n: number, seed = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, i) => new TextEncoder().encode(`entry ${seed}/${i}`));
}

function flipped(bytes: Uint8Array, bit: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[bit >> 3] = (copy[bit >> 3] ?? 0) ^ (1 << (bit & 7));
  return copy;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isCofferError(error) ? error.code : `uncoded: ${String(error)}`;
  }
  return undefined;
}

// ---- known answers ---------------------------------------------------------------------------

// transparency-dev/merkle testonly/constants.go (commit 582a6ad1): LeafInputs(), RootHashes()
// and NodeHashes(); the same roots as certificate-transparency's merkle_tree_test.cc.
const kaLeaves = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(unhex);
const kaRoots = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const kaLeafHashes = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
  '0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7',
  '07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7',
  'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
  '4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658',
  'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
  '46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1',
];
// transparency-dev/merkle proof/verify_test.go (commit 02194e9a): inclusionProofs (leaf there
// is 1-based) and consistencyProofs.
const kaInclusion = [
  {
    index: 0,
    size: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    index: 5,
    size: 8,
    proof: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    index: 2,
    size: 3,
    proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'],
  },
  {
    index: 1,
    size: 5,
    proof: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];
const kaConsistency = [
  {
    first: 1,
    second: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    first: 6,
    second: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    first: 2,
    second: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  {
    first: 6,
    second: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

describe('known answers (RFC 6962 test vectors from transparency-dev/merkle)', () => {
  const tree = treeOf(kaLeaves);

  it('leaf hashes, and the root of every size 0..8, the empty tree included', () => {
    expect(kaLeaves.map((leaf) => hex(leafHash(leaf)))).toEqual(kaLeafHashes);
    expect(hex(emptyRoot())).toBe(kaRoots[0]);
    expect(hex(createMerkleTree().root())).toBe(kaRoots[0]);
    for (let size = 0; size <= 8; size += 1) {
      expect(hex(tree.root(size)), `size ${size}`).toBe(kaRoots[size]);
      expect(hex(mth(kaLeaves.slice(0, size))), `reference, size ${size}`).toBe(kaRoots[size]);
      expect(hex(treeOf(kaLeaves.slice(0, size)).root()), `tree of ${size}`).toBe(kaRoots[size]);
    }
    expect(hex(tree.root())).toBe(
      '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
    );
  });

  it('inclusion proofs are the published ones, and verify', () => {
    for (const { index, size, proof } of kaInclusion) {
      expect(tree.inclusionProof(index, size).map(hex), `${index}/${size}`).toEqual(proof);
      const root = unhex(kaRoots[size] ?? '');
      expect(
        verifyInclusion(
          leafHash(kaLeaves[index] ?? new Uint8Array()),
          index,
          size,
          proof.map(unhex),
          root,
        ),
      ).toBe(true);
    }
  });

  it('consistency proofs are the published ones, and verify', () => {
    for (const { first, second, proof } of kaConsistency) {
      expect(tree.consistencyProof(first, second).map(hex), `${first}→${second}`).toEqual(proof);
      const ok = verifyConsistency(
        first,
        second,
        proof.map(unhex),
        unhex(kaRoots[first] ?? ''),
        unhex(kaRoots[second] ?? ''),
      );
      expect(ok, `${first}→${second}`).toBe(true);
    }
  });

  it('trivial consistency: equal sizes need equal roots and no proof; size 0 needs the empty root', () => {
    const r8 = unhex(kaRoots[8] ?? '');
    const r0 = unhex(kaRoots[0] ?? '');
    expect(verifyConsistency(8, 8, [], r8, r8)).toBe(true);
    expect(verifyConsistency(8, 8, [r8], r8, r8)).toBe(false);
    expect(verifyConsistency(8, 8, [], r8, r0)).toBe(false);
    expect(verifyConsistency(0, 8, [], r0, r8)).toBe(true);
    expect(verifyConsistency(0, 8, [], r8, r8)).toBe(false);
    expect(verifyConsistency(0, 8, [r0], r0, r8)).toBe(false);
    expect(verifyConsistency(8, 7, [], r8, r8)).toBe(false);
    expect(verifyConsistency(1, 2, [], r8, r8)).toBe(false);
    expect(tree.consistencyProof(0, 8)).toEqual([]);
    expect(tree.consistencyProof(8)).toEqual([]);
  });
});

// ---- against the reference -------------------------------------------------------------------

describe('the tree agrees with the RFC definitions written literally', () => {
  it('root(size) for every size, every inclusion proof and consistency proof (sizes 0..40)', () => {
    const data = entries(40);
    const tree = treeOf(data);
    for (let n = 0; n <= data.length; n += 1) {
      const prefix = data.slice(0, n);
      expect(hex(tree.root(n)), `root ${n}`).toBe(hex(mth(prefix)));
      for (let m = 0; m < n; m += 1) {
        expect(tree.inclusionProof(m, n).map(hex), `path ${m}/${n}`).toEqual(
          refPath(m, prefix).map(hex),
        );
      }
      for (let m = 0; m <= n; m += 1) {
        expect(tree.consistencyProof(m, n).map(hex), `proof ${m}→${n}`).toEqual(
          refProof(m, prefix).map(hex),
        );
      }
    }
  });

  it('rootExtending: the frontier at every size plus the later leaves gives the root at every later size (0..40)', () => {
    const data = entries(40);
    const tree = treeOf(data);
    const hashes = data.map((entry) => leafHash(entry));
    for (let m = 0; m <= data.length; m += 1) {
      const frontier = tree.frontier(m);
      expect(frontier.length, `one subtree per set bit of ${m}`).toBe(
        m.toString(2).replaceAll('0', '').length,
      );
      for (let n = m; n <= data.length; n += 1) {
        expect(hex(rootExtending(frontier, m, hashes.slice(m, n))), `${m} + ${n - m}`).toBe(
          hex(mth(data.slice(0, n))),
        );
      }
    }
    // A frontier with the wrong number of subtrees for its size is refused.
    expect(() => rootExtending(tree.frontier(5), 7, [])).toThrow(/does not match size 7/);
    expect(() => rootExtending(tree.frontier(5), 4, [])).toThrow(/does not match size 4/);
  });

  it('random sizes and indexes (fast-check)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        fc.nat(),
        (n, seed, a, b, c) => {
          const data = entries(n, seed);
          const tree = treeOf(data);
          const size = 1 + (a % n);
          const index = b % size;
          const old = c % (size + 1);
          const prefix = data.slice(0, size);
          const root = mth(prefix);
          expect(hex(tree.root(size))).toBe(hex(root));
          const path = tree.inclusionProof(index, size);
          expect(path.map(hex)).toEqual(refPath(index, prefix).map(hex));
          expect(
            verifyInclusion(leafHash(data[index] ?? new Uint8Array()), index, size, path, root),
          ).toBe(true);
          expect(
            hex(rootFromInclusionProof(tree.leaf(index), index, size, path) ?? new Uint8Array()),
          ).toBe(hex(root));
          const proof = tree.consistencyProof(old, size);
          expect(proof.map(hex)).toEqual(refProof(old, prefix).map(hex));
          expect(verifyConsistency(old, size, proof, mth(data.slice(0, old)), root)).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('interleaved appends and queries (the right-spine cache follows the size)', () => {
    const data = entries(70, 3);
    const tree = createMerkleTree();
    data.forEach((item, i) => {
      tree.append(leafHash(item));
      const n = i + 1;
      const prefix = data.slice(0, n);
      expect(hex(tree.root()), `root ${n}`).toBe(hex(mth(prefix)));
      expect(tree.inclusionProof(i >> 1).map(hex), `path ${i >> 1}/${n}`).toEqual(
        refPath(i >> 1, prefix).map(hex),
      );
      expect(tree.consistencyProof(n >> 1).map(hex)).toEqual(refProof(n >> 1, prefix).map(hex));
      expect(hex(tree.root(n >> 1))).toBe(hex(mth(data.slice(0, n >> 1))));
    });
  });

  it('across storage chunk boundaries (more than 2 × chunkHashesMax leaves)', () => {
    const n = 2 * chunkHashesMax + 300;
    const data = entries(n, 7);
    const tree = treeOf(data);
    for (const size of [
      chunkHashesMax - 1,
      chunkHashesMax,
      chunkHashesMax + 1,
      2 * chunkHashesMax,
      n,
    ]) {
      const prefix = data.slice(0, size);
      expect(hex(tree.root(size)), `root ${size}`).toBe(hex(mth(prefix)));
      for (const index of [0, chunkHashesMax - 1, size - 1, Math.floor(size / 3)]) {
        if (index >= size) continue;
        const path = tree.inclusionProof(index, size);
        expect(
          verifyInclusion(
            leafHash(data[index] ?? new Uint8Array()),
            index,
            size,
            path,
            tree.root(size),
          ),
        ).toBe(true);
      }
    }
    expect(hex(tree.inclusionProof(n - 2)[0] ?? new Uint8Array())).toBe(
      hex(leafHash(data[n - 1] ?? new Uint8Array())),
    );
  });
});

// ---- tampering -------------------------------------------------------------------------------

describe('verification refuses tampered proofs', () => {
  it('every single-bit flip of a proof element, the leaf or the root; wrong index; wrong size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat(), (n, a, seed) => {
        const data = entries(n, seed);
        const tree = treeOf(data);
        const index = a % n;
        const leaf = tree.leaf(index);
        const root = tree.root();
        const proof = tree.inclusionProof(index);
        expect(verifyInclusion(leaf, index, n, proof, root)).toBe(true);
        for (let e = 0; e < proof.length; e += 1) {
          for (let bit = 0; bit < 256; bit += 1) {
            const bad = proof.map((h, i) => (i === e ? flipped(h, bit) : h));
            expect(verifyInclusion(leaf, index, n, bad, root), `proof[${e}] bit ${bit}`).toBe(
              false,
            );
          }
        }
        for (let bit = 0; bit < 256; bit += 1) {
          expect(
            verifyInclusion(flipped(leaf, bit), index, n, proof, root),
            `leaf bit ${bit}`,
          ).toBe(false);
          expect(
            verifyInclusion(leaf, index, n, proof, flipped(root, bit)),
            `root bit ${bit}`,
          ).toBe(false);
        }
        // Every other index of the same tree.
        for (let other = 0; other <= n; other += 1) {
          if (other !== index)
            expect(verifyInclusion(leaf, other, n, proof, root), `index ${other}`).toBe(false);
        }
        expect(verifyInclusion(leaf, -1, n, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, index + 0.5, n, proof, root)).toBe(false);
        // Wrong size: against the root of that size, for every size; and against this root for
        // twice and half the size (the RFC algorithm binds the size through the signed root).
        const bigger = treeOf([...data, ...entries(n, seed + 1)]);
        for (let size = index + 1; size <= 2 * n; size += 1) {
          if (size !== n) {
            expect(
              verifyInclusion(leaf, index, size, proof, bigger.root(size)),
              `size ${size}`,
            ).toBe(false);
          }
        }
        expect(verifyInclusion(leaf, index, 2 * n, proof, root)).toBe(false);
        if (n > 1) expect(verifyInclusion(leaf, index, Math.floor(n / 2), proof, root)).toBe(false);
        // Truncated, extended and reordered proofs.
        if (proof.length > 0) {
          expect(verifyInclusion(leaf, index, n, proof.slice(0, -1), root)).toBe(false);
          expect(verifyInclusion(leaf, index, n, proof.slice(1), root)).toBe(false);
        }
        expect(verifyInclusion(leaf, index, n, [...proof, root], root)).toBe(false);
        expect(verifyInclusion(leaf, index, n, [root, ...proof], root)).toBe(false);
        if (proof.length > 1) {
          expect(verifyInclusion(leaf, index, n, [...proof].reverse(), root)).toBe(false);
        }
        expect(verifyInclusion(leaf, index, n, [...proof, new Uint8Array(0)], root)).toBe(false);
        expect(verifyInclusion(leaf.subarray(1), index, n, proof, root)).toBe(false);
      }),
      { numRuns: 25 },
    );
  });

  it('consistency proofs: every single-bit flip, wrong sizes, swapped roots, truncation', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 70 }), fc.nat(), fc.nat(), (n, a, seed) => {
        const data = entries(n, seed);
        const tree = treeOf(data);
        const old = 1 + (a % (n - 1));
        const oldRoot = tree.root(old);
        const newRoot = tree.root();
        const proof = tree.consistencyProof(old);
        expect(verifyConsistency(old, n, proof, oldRoot, newRoot)).toBe(true);
        for (let e = 0; e < proof.length; e += 1) {
          for (let bit = 0; bit < 256; bit += 1) {
            const bad = proof.map((h, i) => (i === e ? flipped(h, bit) : h));
            expect(verifyConsistency(old, n, bad, oldRoot, newRoot), `proof[${e}] bit ${bit}`).toBe(
              false,
            );
          }
        }
        for (let bit = 0; bit < 256; bit += 1) {
          expect(verifyConsistency(old, n, proof, flipped(oldRoot, bit), newRoot)).toBe(false);
          expect(verifyConsistency(old, n, proof, oldRoot, flipped(newRoot, bit))).toBe(false);
        }
        for (let size = 1; size < n; size += 1) {
          if (size !== old) {
            expect(verifyConsistency(size, n, proof, tree.root(size), newRoot), `old ${size}`).toBe(
              false,
            );
          }
        }
        // Wrong new size: against the root of that size; and, as transparency-dev does, against
        // this root for twice the size (the signed root binds the size it was signed at).
        const bigger = treeOf([...data, ...entries(n, seed + 1)]);
        for (let size = old; size <= 2 * n; size += 1) {
          if (size !== n) {
            expect(verifyConsistency(old, size, proof, oldRoot, bigger.root(size))).toBe(false);
          }
        }
        expect(verifyConsistency(old, 2 * n, proof, oldRoot, newRoot)).toBe(false);
        expect(verifyConsistency(old, n, proof, newRoot, oldRoot)).toBe(false);
        expect(verifyConsistency(old, n, proof.slice(0, -1), oldRoot, newRoot)).toBe(false);
        expect(verifyConsistency(old, n, [...proof, oldRoot], oldRoot, newRoot)).toBe(false);
        expect(verifyConsistency(old, n, [], oldRoot, newRoot)).toBe(false);
      }),
      { numRuns: 25 },
    );
  });
});

// ---- the API's edges -------------------------------------------------------------------------

describe('tree API', () => {
  it('refuses out-of-range indexes and sizes and wrong-length hashes with coded errors', () => {
    const tree = treeOf(entries(5));
    expect(codeOf(() => tree.root(6))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.root(-1))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.root(1.5))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.inclusionProof(5))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.inclusionProof(3, 3))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.consistencyProof(4, 3))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.consistencyProof(1, 6))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.leaf(5))).toBe('LEDGER_E_MERKLE_RANGE');
    expect(codeOf(() => tree.append(new Uint8Array(31)))).toBe('LEDGER_E_MERKLE_HASH');
    expect(codeOf(() => fromLeafHashes(new Uint8Array(33)))).toBe('LEDGER_E_MERKLE_HASH');
    expect(tree.size()).toBe(5);
  });

  it('append returns the index; proofs and leaves are copies the caller cannot use to corrupt the tree', () => {
    const tree = createMerkleTree();
    expect(tree.append(leafHash(Uint8Array.of(1)))).toBe(0);
    expect(tree.append(leafHash(Uint8Array.of(2)))).toBe(1);
    expect(tree.append(leafHash(Uint8Array.of(3)))).toBe(2);
    const root = hex(tree.root());
    tree.inclusionProof(0).forEach((h) => h.fill(0));
    tree.leaf(1).fill(0);
    tree.root(2).fill(0);
    expect(hex(tree.root())).toBe(root);
  });

  it('serialize / deserialize and fromLeafHashes give the same tree, which keeps growing correctly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 40 }), (n, more) => {
        const data = entries(n + more, n);
        const tree = treeOf(data.slice(0, n));
        const state = tree.serialize();
        const leaves = Buffer.concat(data.slice(0, n).map((d) => leafHash(d)));
        for (const copy of [
          deserializeMerkleTree(state),
          fromLeafHashes(leaves),
          deserializeMerkleTree(state, { verify: false }),
        ]) {
          expect(copy.size()).toBe(n);
          expect(hex(copy.root())).toBe(hex(tree.root()));
          for (const d of data.slice(n)) copy.append(leafHash(d));
          expect(hex(copy.root())).toBe(hex(mth(data)));
          if (n > 0)
            expect(copy.inclusionProof(n - 1).map(hex)).toEqual(refPath(n - 1, data).map(hex));
        }
        expect(hex(tree.serialize())).toBe(hex(state));
        // Into memory it is given (shared memory for the commit-point worker): the same bytes.
        let given: Uint8Array | undefined;
        const shared = tree.serialize((bytes) => {
          given = new Uint8Array(new SharedArrayBuffer(bytes));
          return given;
        });
        expect(shared.buffer).toBe(given?.buffer);
        expect(hex(shared)).toBe(hex(state));
      }),
      { numRuns: 60 },
    );
    expect(() => treeOf(entries(3, 3)).serialize((bytes) => new Uint8Array(bytes + 1))).toThrow(
      /bytes given/,
    );
  });

  it('reads the first format (every level stored), and refuses one with a wrong hash', () => {
    for (const n of [0, 1, 31, 32, 33, 100, 257]) {
      const data = entries(n + 5);
      // Version 1: "CMT\x01", u64 size, then every level k = 0, 1, ... of floor(n / 2^k) hashes.
      const hashes: Uint8Array[] = [];
      for (let width = 1; Math.floor(n / width) > 0; width *= 2) {
        for (let i = 0; i + width <= n; i += width) hashes.push(mth(data.slice(i, i + width)));
      }
      const header = Buffer.alloc(12);
      header.write('CMT\x01', 'latin1');
      header.writeBigUInt64BE(BigInt(n), 4);
      const v1 = Buffer.concat([header, ...hashes]);
      const tree = deserializeMerkleTree(v1);
      expect(hex(tree.root())).toBe(hex(mth(data.slice(0, n))));
      for (const d of data.slice(n)) tree.append(leafHash(d));
      expect(hex(tree.root())).toBe(hex(mth(data)));
      expect(tree.inclusionProof(n).map(hex)).toEqual(refPath(n, data).map(hex));
      // Written again in the current format, which holds the leaves and the levels above 4.
      expect(Buffer.from(tree.serialize()).subarray(0, 4).toString('latin1')).toBe('CMT\x02');
      if (n >= 64) {
        // The last hash of v1 is the top stored level's: a flip there is found.
        expect(codeOf(() => deserializeMerkleTree(flipped(v1, v1.length * 8 - 1)))).toBe(
          'LEDGER_E_MERKLE_STATE',
        );
      }
    }
  });

  it('refuses a truncated, extended, relabelled or corrupted state', () => {
    const tree = treeOf(entries(37));
    const state = tree.serialize();
    expect(codeOf(() => deserializeMerkleTree(state.subarray(0, state.length - 1)))).toBe(
      'LEDGER_E_MERKLE_STATE',
    );
    expect(codeOf(() => deserializeMerkleTree(Buffer.concat([state, Buffer.alloc(32)])))).toBe(
      'LEDGER_E_MERKLE_STATE',
    );
    expect(codeOf(() => deserializeMerkleTree(state.subarray(0, 5)))).toBe('LEDGER_E_MERKLE_STATE');
    expect(codeOf(() => deserializeMerkleTree(flipped(state, 0)))).toBe('LEDGER_E_MERKLE_STATE');
    const wrongSize = new Uint8Array(state);
    Buffer.from(wrongSize.buffer).writeBigUInt64BE(36n, 4);
    expect(codeOf(() => deserializeMerkleTree(wrongSize))).toBe('LEDGER_E_MERKLE_STATE');
    // A flipped bit in an interior hash (37 leaves: one stored interior hash, of leaves 0-31)
    // or in a leaf under it: found by the default verification.
    const interior = flipped(state, (12 + 37 * 32 + 5) * 8);
    expect(codeOf(() => deserializeMerkleTree(interior))).toBe('LEDGER_E_MERKLE_STATE');
    expect(codeOf(() => deserializeMerkleTree(flipped(state, (12 + 7 * 32) * 8)))).toBe(
      'LEDGER_E_MERKLE_STATE',
    );
    expect(state.byteLength).toBe(12 + 37 * 32 + 32);
  });

  it('memory: about 34 bytes per leaf (the leaves, and the levels above derivedLevels)', () => {
    const n = 200_000;
    const tree = createMerkleTree();
    const leaf = leafHash(Uint8Array.of(1));
    for (let i = 0; i < n; i += 1) tree.append(leaf);
    // Level k holds floor(n / 2^k) hashes; each stored level wastes at most one chunk, and a
    // level still in its first, doubling chunk at most as much as it uses.
    let bound = 0;
    for (let k = 0, count = n; count > 0; k += 1, count = Math.floor(count / 2)) {
      if (k === 0 || k > derivedLevels) bound += count * 32 + Math.min(chunkHashesMax, count) * 32;
    }
    expect(derivedLevels).toBe(4);
    expect(tree.storageBytes()).toBeLessThanOrEqual(bound);
    expect(tree.storageBytes()).toBeLessThan(34 * n * 1.25);
    expect(tree.storageBytes()).toBeGreaterThanOrEqual(32 * n + 2 * (n / 32 - 1));
    // Proofs and roots stay right through the hashed-again levels.
    expect(tree.inclusionProof(12_345).length).toBe(18);
  });
});

describe('leaves spilled to a file (decision 0034)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'coffer-merkle-'));
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  // Three full chunks and a part: with one full chunk kept, the first two are spilled.
  const n = 3 * chunkHashesMax + 300;
  const data = entries(n, 11);
  const hashes = data.map((d) => leafHash(d));
  const inMemory = createMerkleTree();
  for (const hash of hashes) inMemory.append(hash);

  /** Roots, proofs, frontiers and leaves of `tree` at several sizes, against `inMemory`. */
  function expectSameAsInMemory(tree: MerkleTree): void {
    expect(tree.size()).toBe(n);
    for (const size of [1, 37, chunkHashesMax, chunkHashesMax + 33, 2 * chunkHashesMax + 5, n]) {
      expect(hex(tree.root(size)), `root ${size}`).toBe(hex(inMemory.root(size)));
      expect(tree.frontier(size).map(hex)).toEqual(inMemory.frontier(size).map(hex));
      for (const index of [0, 31, 32, chunkHashesMax - 1, chunkHashesMax + 17, size - 1]) {
        if (index >= size) continue;
        expect(tree.inclusionProof(index, size).map(hex), `proof ${index}/${size}`).toEqual(
          inMemory.inclusionProof(index, size).map(hex),
        );
      }
      const old = Math.min(33, size);
      expect(tree.consistencyProof(old, size).map(hex)).toEqual(
        inMemory.consistencyProof(old, size).map(hex),
      );
    }
    for (const index of [0, chunkHashesMax + 1, n - 1]) {
      expect(hex(tree.leaf(index))).toBe(hex(inMemory.leaf(index)));
    }
    expect(hex(tree.serialize())).toBe(hex(inMemory.serialize()));
  }

  it('keeps the newest full chunk and the filling one in memory; everything reads the same', () => {
    const file = path.join(dir, 'grown');
    const spill = openLeafSpillFile(file);
    try {
      const tree = createMerkleTree({ spill });
      for (const hash of hashes) tree.append(hash);
      expect(tree.spilledLeaves()).toBe(2 * chunkHashesMax);
      expect(statSync(file).size).toBe(2 * chunkHashesMax * 32);
      expect(inMemory.storageBytes() - tree.storageBytes()).toBe(2 * chunkHashesMax * 32);
      expectSameAsInMemory(tree);
      // It keeps growing right, and spills the next chunk when one more fills.
      const more = entries(chunkHashesMax, 12).map((d) => leafHash(d));
      const grown = createMerkleTree();
      for (const hash of [...hashes, ...more]) grown.append(hash);
      for (const hash of more) tree.append(hash);
      expect(tree.spilledLeaves()).toBe(3 * chunkHashesMax);
      expect(hex(tree.root())).toBe(hex(grown.root()));
      expect(tree.inclusionProof(5).map(hex)).toEqual(grown.inclusionProof(5).map(hex));
    } finally {
      spill.close();
    }
  });

  it('a snapshot state read back with a spill spills the same chunks, after it verifies', () => {
    const spill = openLeafSpillFile(path.join(dir, 'restored'));
    try {
      const tree = deserializeMerkleTree(inMemory.serialize(), { spill });
      expect(tree.spilledLeaves()).toBe(2 * chunkHashesMax);
      expectSameAsInMemory(tree);
      // A wrong hash in a leaf that would be spilled is still found, and nothing is written.
      const bad = openLeafSpillFile(path.join(dir, 'bad'));
      const state = flipped(inMemory.serialize(), (12 + 40 * 32) * 8);
      expect(codeOf(() => deserializeMerkleTree(state, { spill: bad }))).toBe(
        'LEDGER_E_MERKLE_STATE',
      );
      expect(statSync(path.join(dir, 'bad')).size).toBe(0);
      bad.close();
    } finally {
      spill.close();
    }
  });

  it('a spill that refuses a chunk (a full disk) leaves it in memory and is asked again at the next chunk', () => {
    const file = openLeafSpillFile(path.join(dir, 'flaky'));
    let refusals = 2;
    const flaky: LeafSpill = {
      write: (chunk, bytes) => (refusals-- > 0 ? false : file.write(chunk, bytes)),
      read: file.read,
    };
    try {
      const tree = createMerkleTree({ spill: flaky });
      for (const hash of hashes) tree.append(hash);
      // Chunk 0 was refused when chunk 1 filled and again when chunk 2 filled.
      expect(tree.spilledLeaves()).toBe(0);
      expect(tree.storageBytes()).toBe(inMemory.storageBytes());
      expectSameAsInMemory(tree);
      const more = entries(chunkHashesMax, 13).map((d) => leafHash(d));
      for (const hash of more) tree.append(hash);
      expect(tree.spilledLeaves()).toBe(3 * chunkHashesMax);
    } finally {
      file.close();
    }
    // /dev/full refuses every write with ENOSPC: nothing is spilled, and the tree is whole.
    const errors: string[] = [];
    const full = openLeafSpillFile('/dev/full', {
      onWriteError: (error) => errors.push((error as NodeJS.ErrnoException).code ?? ''),
    });
    try {
      const tree = createMerkleTree({ spill: full });
      for (const hash of hashes) tree.append(hash);
      expect(tree.spilledLeaves()).toBe(0);
      expect(full.writeFailures()).toBe(2);
      expect(errors).toEqual(['ENOSPC', 'ENOSPC']);
      expectSameAsInMemory(tree);
    } finally {
      full.close();
    }
  });

  it('freeze leaves out the spilled leaves, and they read back from the file give serialize()', () => {
    const file = path.join(dir, 'frozen');
    const spill = openLeafSpillFile(file);
    try {
      const tree = createMerkleTree({ spill });
      for (const hash of hashes) tree.append(hash);
      const whole = tree.serialize();
      const frozen = tree.freeze();
      expect(frozen.spilledLeaves).toBe(2 * chunkHashesMax);
      expect(whole.byteLength - frozen.state.byteLength).toBe(2 * chunkHashesMax * 32);
      // The tree goes on spilling past them; the first leaves in the file stay as they were.
      for (const hash of entries(chunkHashesMax, 14).map((d) => leafHash(d))) tree.append(hash);
      expect(tree.spilledLeaves()).toBe(3 * chunkHashesMax);
      const parts = frozenTreeParts(frozen, readSpilledLeaves(file, frozen.spilledLeaves));
      expect(Buffer.concat(parts).equals(whole)).toBe(true);
      expect(hex(deserializeMerkleTree(Buffer.concat(parts)).root())).toBe(hex(inMemory.root()));
      // Without a spill (or nothing spilled yet) the frozen state is serialize() itself.
      expect(inMemory.freeze()).toEqual({ state: inMemory.serialize(), spilledLeaves: 0 });
      const unspilled = frozenTreeParts(inMemory.freeze(), new Uint8Array(0));
      expect(Buffer.concat(unspilled).equals(inMemory.serialize())).toBe(true);
      // Leaves of the wrong length are refused, as is a file shorter than the leaves asked for.
      expect(() => frozenTreeParts(frozen, new Uint8Array(32))).toThrow(/32 bytes of spilled/);
      expect(codeOf(() => readSpilledLeaves(file, 4 * chunkHashesMax))).toBe(
        'LEDGER_E_MERKLE_SPILL',
      );
      expect(codeOf(() => readSpilledLeaves(path.join(dir, 'missing'), 1))).toBe(
        'LEDGER_E_MERKLE_SPILL',
      );
    } finally {
      spill.close();
    }
  });

  it('a proof that needs a leaf the file lost fails with LEDGER_E_MERKLE_SPILL', () => {
    const file = path.join(dir, 'lost');
    const spill = openLeafSpillFile(file);
    try {
      const tree = createMerkleTree({ spill });
      for (const hash of hashes) tree.append(hash);
      truncateSync(file, chunkHashesMax * 32);
      // Chunk 0 is still there; chunk 1 is gone. Leaves in memory need no file.
      expect(tree.inclusionProof(3).length).toBe(inMemory.inclusionProof(3).length);
      expect(codeOf(() => tree.inclusionProof(chunkHashesMax + 3))).toBe('LEDGER_E_MERKLE_SPILL');
      expect(hex(tree.leaf(n - 1))).toBe(hex(inMemory.leaf(n - 1)));
    } finally {
      spill.close();
    }
    expect(codeOf(() => spill.read(0, 0, 32))).toBe('LEDGER_E_MERKLE_SPILL');
    // A folder where the file should be: refused when opened, with the path.
    expect(codeOf(() => openLeafSpillFile(dir))).toBe('LEDGER_E_MERKLE_SPILL');
  });
});
