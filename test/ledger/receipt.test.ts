// Receipts: the committed vectors of test/fixtures/receipts/ (format 1) and receipts/v2/ (several
// signatures), each with the code it must give; field paths of malformed receipts; format 2
// assembly, signer counting and thresholds; and properties: one flipped bit anywhere in the
// entry, leaf hash, proof, root or any signature of a receipt for a random tree makes it fail.
// `COFFER_REGENERATE=1 npx vitest run test/ledger/receipt.test.ts` rewrites both sets of
// fixtures first (`COFFER_REGENERATE=v1` or `=v2` one set).
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorRegistry, isCofferError } from '../../src/errors/index.js';
import { canonicalBytes } from '../../src/ledger/canonical.js';
import { createMerkleTree, leafHash } from '../../src/ledger/merkle.js';
import {
  createReceipt,
  parseReceipt,
  rootSignatureMessage,
  signedRootsForReceipt,
  signedRootsMax,
  signRoot,
  verifyReceipt,
  type ReceiptV1,
  type ReceiptV2,
  type SignedRoot,
} from '../../src/ledger/receipt.js';
import type { Msp } from '../../src/msp/index.js';
import {
  generateTestSigners,
  mspsFromFixture,
  regenerateReceiptFixtures,
  regenerateReceiptFixturesV2,
  testTxIdOf,
  type Vector,
} from './receipt-fixtures.js';

const fixturesDir = path.resolve(import.meta.dirname, '../fixtures/receipts');
const fixturesDirV2 = path.join(fixturesDir, 'v2');

const regenerate = process.env['COFFER_REGENERATE'];
if (regenerate === '1' || regenerate === 'v1') await regenerateReceiptFixtures(fixturesDir);
if (regenerate === '1' || regenerate === 'v2') await regenerateReceiptFixturesV2(fixturesDirV2);

function readVectors(dir: string) {
  const msps = mspsFromFixture(JSON.parse(readFileSync(path.join(dir, 'msps.json'), 'utf8')));
  const vectors = readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== 'msps.json')
    .sort()
    .map((name) => {
      const vector = JSON.parse(readFileSync(path.join(dir, name), 'utf8')) as Vector;
      return [name.slice(0, -'.json'.length), vector, msps] as const;
    });
  return { msps, vectors };
}

const { msps, vectors: vectorsV1 } = readVectors(fixturesDir);
const { msps: mspsV2, vectors: vectorsV2 } = readVectors(fixturesDirV2);
const vectors = [...vectorsV1, ...vectorsV2];
const valid = vectorsV1.find(([name]) => name === 'valid')?.[1].receipt as ReceiptV1;
const validThree = vectorsV2.find(([name]) => name === 'valid-three-nodes')?.[1]
  .receipt as ReceiptV2;

function checkVector(vector: Vector, trusted: ReadonlyMap<string, Msp>) {
  return verifyReceipt(vector.receipt, trusted, { ...vector.options, txIdOf: testTxIdOf });
}

describe.each([
  ['format 1 (test/fixtures/receipts)', vectorsV1],
  ['format 2 (test/fixtures/receipts/v2)', vectorsV2],
])('receipt vectors on disk, %s', (_, set) => {
  it.each(set)('%s', (_name, vector, trusted) => {
    const outcome = checkVector(vector, trusted);
    if (vector.expect === 'ok') {
      expect(outcome.ok ? 'ok' : `${outcome.error.code}: ${outcome.error.message}`).toBe('ok');
    } else {
      expect(outcome.ok ? 'ok' : outcome.error.code, vector.description).toBe(vector.expect);
    }
  });
});

describe('receipt vectors on disk', () => {
  it('hold format 1 and format 2 receipts in their sets', () => {
    expect(vectorsV1.length).toBeGreaterThan(20);
    expect(vectorsV2.length).toBeGreaterThan(15);
    for (const [name, vector] of vectorsV1) {
      expect((vector.receipt as { version: unknown }).version, name).toBe(1);
    }
    for (const [name, vector] of vectorsV2) {
      expect((vector.receipt as { version: unknown }).version, name).toBe(2);
    }
  });

  it('cover every receipt error code, and each error says what to do', () => {
    const expected = new Set(vectors.map(([, vector]) => vector.expect));
    for (const code of Object.keys(errorRegistry).filter((c) => c.startsWith('RECEIPT_E_'))) {
      expect(expected, code).toContain(code);
    }
    for (const [, vector, trusted] of vectors) {
      const outcome = checkVector(vector, trusted);
      if (!outcome.ok) {
        expect(outcome.error.message.length).toBeGreaterThan(20);
        expect(outcome.error.fix).toBe(errorRegistry[outcome.error.code].fix);
      }
    }
  });

  it('a valid receipt reports what it proves', () => {
    const check = verifyReceipt(valid, msps, { txIdOf: testTxIdOf });
    if (!check.ok) throw check.error;
    expect(check.value).toMatchObject({
      version: 1,
      txId: valid.txId,
      seqno: 3,
      treeSize: 7,
      root: valid.signedRoot.root,
      nodeId: 'peer0.org1.example.com',
      signer: { mspId: 'Org1MSP', role: 'peer' },
      signers: [{ nodeId: 'peer0.org1.example.com', mspId: 'Org1MSP', role: 'peer' }],
      organisations: ['Org1MSP'],
    });
    expect(check.value.signers[0]?.identityId).toBe(check.value.signer.identityId);
    expect(Buffer.from(check.value.entry).toString('base64')).toBe(valid.entry);
    // Without the txId hook the entry format is opaque; the rest is checked the same.
    expect(verifyReceipt(valid, msps).ok).toBe(true);
    // Not trusting Org1 makes it fail.
    const org2Only = new Map([...msps].filter(([id]) => id !== 'Org1MSP'));
    const check2 = verifyReceipt(valid, org2Only);
    expect(!check2.ok && check2.error.code).toBe('RECEIPT_E_SIGNER_UNKNOWN');
  });

  it('the signed message is the canonical JSON the brief specifies', () => {
    const message = rootSignatureMessage({
      treeSize: 7,
      root: 'ab'.repeat(32),
      nodeId: 'peer0.org1.example.com',
      signedAt: 1768478400000,
    });
    expect(Buffer.from(message).toString('utf8')).toBe(
      `{"nodeId":"peer0.org1.example.com","root":"${'ab'.repeat(32)}","signedAt":1768478400000,"treeSize":7,"type":"coffer-root/1"}`,
    );
    expect(
      rootSignatureMessage({
        treeSize: 7,
        root: new Uint8Array(32).fill(0xab),
        nodeId: 'peer0.org1.example.com',
        signedAt: 1768478400000,
      }),
    ).toEqual(message);
  });
});

describe('parseReceipt names the failing field', () => {
  function fieldOf(mutate: (receipt: Record<string, unknown>) => void): unknown {
    const copy = JSON.parse(JSON.stringify(valid)) as Record<string, unknown>;
    mutate(copy);
    try {
      parseReceipt(copy);
    } catch (error) {
      expect(isCofferError(error, 'RECEIPT_E_MALFORMED')).toBe(true);
      return isCofferError(error) ? error.details['field'] : undefined;
    }
    return 'accepted';
  }
  const proof = (r: Record<string, unknown>): Record<string, unknown> =>
    r['proof'] as Record<string, unknown>;
  const signed = (r: Record<string, unknown>): Record<string, unknown> =>
    r['signedRoot'] as Record<string, unknown>;

  it.each([
    ['receipt.version', (r: Record<string, unknown>) => (r['version'] = 3)],
    ['receipt.version', (r: Record<string, unknown>) => delete r['version']],
    // A format 1 body under version 2 lacks signedRoots.
    ['receipt.signedRoots', (r: Record<string, unknown>) => (r['version'] = 2)],
    ['receipt.txId', (r: Record<string, unknown>) => (r['txId'] = 'xyz')],
    ['receipt.seqno', (r: Record<string, unknown>) => (r['seqno'] = 0)],
    ['receipt.entry', (r: Record<string, unknown>) => (r['entry'] = 'not base64!')],
    ['receipt.entry', (r: Record<string, unknown>) => (r['entry'] = 'QQ=R')],
    ['receipt.entry', (r: Record<string, unknown>) => (r['entry'] = 'QR==')],
    ['receipt.extra', (r: Record<string, unknown>) => (r['extra'] = 1)],
    ['receipt.proof', (r: Record<string, unknown>) => (r['proof'] = [])],
    ['receipt.proof.leafIndex', (r: Record<string, unknown>) => (proof(r)['leafIndex'] = -1)],
    ['receipt.proof.treeSize', (r: Record<string, unknown>) => (proof(r)['treeSize'] = 1.5)],
    ['receipt.proof.leafHash', (r: Record<string, unknown>) => delete proof(r)['leafHash']],
    ['receipt.proof.hashes', (r: Record<string, unknown>) => (proof(r)['hashes'] = 'ab')],
    [
      'receipt.proof.hashes[0]',
      (r: Record<string, unknown>) => ((proof(r)['hashes'] as string[])[0] = 'ab'),
    ],
    [
      'receipt.proof.hashes',
      (r: Record<string, unknown>) =>
        (proof(r)['hashes'] = new Array<string>(65).fill('ab'.repeat(32))),
    ],
    ['receipt.signedRoot', (r: Record<string, unknown>) => (r['signedRoot'] = null)],
    [
      'receipt.signedRoot.root',
      (r: Record<string, unknown>) => (signed(r)['root'] = 'AB'.repeat(32)),
    ],
    ['receipt.signedRoot.nodeId', (r: Record<string, unknown>) => (signed(r)['nodeId'] = '')],
    ['receipt.signedRoot.nodeId', (r: Record<string, unknown>) => (signed(r)['nodeId'] = '\ud800')],
    ['receipt.signedRoot.signedAt', (r: Record<string, unknown>) => (signed(r)['signedAt'] = '0')],
    ['receipt.signedRoot.mspId', (r: Record<string, unknown>) => (signed(r)['mspId'] = 7)],
    ['receipt.signedRoot.certPem', (r: Record<string, unknown>) => (signed(r)['certPem'] = 'x')],
    ['receipt.signedRoot.signature', (r: Record<string, unknown>) => (signed(r)['signature'] = '')],
    [
      'receipt.signedRoot.signature',
      (r: Record<string, unknown>) => (signed(r)['signature'] = 'A'.repeat(400)),
    ],
  ])('%s', (field, mutate) => {
    expect(fieldOf(mutate)).toBe(field);
  });

  function fieldOfV2(mutate: (receipt: Record<string, unknown>) => void): unknown {
    const copy = JSON.parse(JSON.stringify(validThree)) as Record<string, unknown>;
    mutate(copy);
    try {
      parseReceipt(copy);
    } catch (error) {
      expect(isCofferError(error, 'RECEIPT_E_MALFORMED')).toBe(true);
      return isCofferError(error) ? error.details['field'] : undefined;
    }
    return 'accepted';
  }
  const roots = (r: Record<string, unknown>): Record<string, unknown>[] =>
    r['signedRoots'] as Record<string, unknown>[];

  it.each([
    ['receipt.signedRoots', (r: Record<string, unknown>) => delete r['signedRoots']],
    ['receipt.signedRoots', (r: Record<string, unknown>) => (r['signedRoots'] = {})],
    ['receipt.signedRoots', (r: Record<string, unknown>) => (r['signedRoots'] = [])],
    [
      'receipt.signedRoots',
      (r: Record<string, unknown>) =>
        (r['signedRoots'] = new Array<unknown>(signedRootsMax + 1).fill(roots(r)[0])),
    ],
    ['receipt.signedRoot', (r: Record<string, unknown>) => (r['signedRoot'] = roots(r)[0])],
    ['receipt.signedRoots[1]', (r: Record<string, unknown>) => (roots(r)[1] = 'x' as never)],
    [
      'receipt.signedRoots[2].signature',
      (r: Record<string, unknown>) => delete roots(r)[2]?.['signature'],
    ],
    [
      'receipt.signedRoots[1].nodeId',
      (r: Record<string, unknown>) => r['signedRoots'] && roots(r).reverse(),
    ],
    [
      'receipt.signedRoots[2].nodeId',
      (r: Record<string, unknown>) => {
        const third = roots(r)[2];
        if (third !== undefined) third['nodeId'] = 'a-node-that-sorts-first';
      },
    ],
  ])('%s (format 2)', (field, mutate) => {
    expect(fieldOfV2(mutate)).toBe(field);
  });

  it('a format 2 receipt with equal node IDs parses: verifyReceipt names the repeat', () => {
    const copy = JSON.parse(JSON.stringify(validThree)) as Record<string, unknown>;
    const [a, b] = roots(copy);
    if (a === undefined || b === undefined) throw new Error('two roots');
    b['nodeId'] = a['nodeId'];
    expect(() => parseReceipt(copy)).not.toThrow();
    const check = verifyReceipt(copy, mspsV2);
    expect(!check.ok && check.error.code).toBe('RECEIPT_E_SIGNER_REPEATED');
    expect(!check.ok && check.error.message).toContain(
      'receipt.signedRoots[1] and receipt.signedRoots[0] are both signed as node peer0.org1.example.com',
    );
  });

  it('receipt (not an object)', () => {
    expect(() => parseReceipt(null)).toThrow(/receipt must be a JSON object/);
  });

  it('verifyReceipt returns, never throws, for anything', () => {
    for (const junk of [
      null,
      1,
      'x',
      [],
      {},
      { ...valid, proof: null },
      { ...validThree, signedRoots: [null] },
      { ...validThree, signedRoots: 'x' },
    ]) {
      const check = verifyReceipt(junk, msps);
      expect(!check.ok && check.error.code).toBe('RECEIPT_E_MALFORMED');
    }
  });
});

describe('property: one flipped bit anywhere in entry, proof, root or signature fails', () => {
  let signers: Awaited<ReturnType<typeof generateTestSigners>>;
  beforeAll(async () => {
    signers = await generateTestSigners();
  });
  afterAll(async () => {
    await signers.cleanup();
  });

  type Region = 'entry' | 'leafHash' | 'proof' | 'root' | 'signature';
  const expectedCode: Record<Region, string> = {
    entry: 'RECEIPT_E_ENTRY_MISMATCH',
    leafHash: 'RECEIPT_E_ENTRY_MISMATCH',
    proof: 'RECEIPT_E_PROOF_INVALID',
    root: 'RECEIPT_E_PROOF_INVALID',
    signature: 'RECEIPT_E_SIGNATURE_INVALID',
  };

  function flipBase64(text: string, bit: number): string {
    const bytes = Buffer.from(text, 'base64');
    const at = bit % (bytes.length * 8);
    bytes[at >> 3] = (bytes[at >> 3] ?? 0) ^ (1 << (at & 7));
    return bytes.toString('base64');
  }
  function flipHex(text: string, bit: number): string {
    const bytes = Buffer.from(text, 'hex');
    const at = bit % 256;
    bytes[at >> 3] = (bytes[at >> 3] ?? 0) ^ (1 << (at & 7));
    return bytes.toString('hex');
  }

  it('for a random tree, leaf and bit', () => {
    const msp = signers.msps;
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 64 }), { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.constantFrom<Region>('entry', 'leafHash', 'proof', 'root', 'signature'),
        fc.nat(),
        fc.nat(),
        (entries, a, region, which, bit) => {
          const tree = createMerkleTree();
          for (const entry of entries) tree.append(leafHash(entry));
          const leafIndex = a % entries.length;
          const entry = entries[leafIndex] ?? new Uint8Array(1);
          const receipt = createReceipt({
            txId: 'ab'.repeat(32),
            entry,
            leafIndex,
            proof: tree.inclusionProof(leafIndex),
            signedRoot: signRoot(
              {
                treeSize: tree.size(),
                root: tree.root(),
                nodeId: signers.peer.nodeId,
                signedAt: 1,
              },
              signers.peer,
            ),
          });
          expect(verifyReceipt(receipt, msp).ok).toBe(true);
          if (region === 'proof' && receipt.proof.hashes.length === 0) return;
          const bad = JSON.parse(JSON.stringify(receipt)) as {
            -readonly [K in keyof ReceiptV1]: ReceiptV1[K] extends object
              ? { -readonly [L in keyof ReceiptV1[K]]: ReceiptV1[K][L] }
              : ReceiptV1[K];
          };
          switch (region) {
            case 'entry':
              bad.entry = flipBase64(bad.entry, bit);
              break;
            case 'leafHash':
              bad.proof.leafHash = flipHex(bad.proof.leafHash, bit);
              break;
            case 'proof': {
              const hashes = [...bad.proof.hashes];
              const i = which % hashes.length;
              hashes[i] = flipHex(hashes[i] ?? '', bit);
              bad.proof.hashes = hashes;
              break;
            }
            case 'root':
              bad.signedRoot.root = flipHex(bad.signedRoot.root, bit);
              break;
            case 'signature':
              bad.signedRoot.signature = flipBase64(bad.signedRoot.signature, bit);
              break;
          }
          const check = verifyReceipt(bad, msp);
          expect(check.ok ? 'ok' : check.error.code, region).toBe(expectedCode[region]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('with NodeOUs off, any valid identity of the MSP may sign a root', () => {
    const tree = createMerkleTree();
    tree.append(leafHash(Uint8Array.of(1)));
    tree.append(leafHash(Uint8Array.of(2)));
    const receipt = createReceipt({
      txId: 'ef'.repeat(32),
      entry: Uint8Array.of(2),
      leafIndex: 1,
      proof: tree.inclusionProof(1),
      signedRoot: signRoot(
        { treeSize: 2, root: tree.root(), nodeId: 'user1.plain', signedAt: 9 },
        signers.plainUser,
      ),
    });
    expect(signers.msps.get('PlainMSP')?.nodeOusEnabled).toBe(false);
    const check = verifyReceipt(receipt, signers.msps);
    expect(check.ok && check.value.signer).toMatchObject({ mspId: 'PlainMSP', role: null });
  });

  it('every bit of the signature and root of one receipt', () => {
    const tree = createMerkleTree();
    for (let i = 0; i < 11; i += 1) tree.append(leafHash(canonicalBytes({ i })));
    const receipt = createReceipt({
      txId: 'cd'.repeat(32),
      entry: canonicalBytes({ i: 4 }),
      leafIndex: 4,
      proof: tree.inclusionProof(4),
      signedRoot: signRoot(
        { treeSize: 11, root: tree.root(), nodeId: 'peer0.org1.example.com', signedAt: 5 },
        signers.peer,
      ),
    });
    const msp: ReadonlyMap<string, Msp> = signers.msps;
    expect(verifyReceipt(receipt, msp).ok).toBe(true);
    const signatureBits = Buffer.from(receipt.signedRoot.signature, 'base64').length * 8;
    for (let bit = 0; bit < signatureBits; bit += 1) {
      const bad = {
        ...receipt,
        signedRoot: {
          ...receipt.signedRoot,
          signature: flipBase64(receipt.signedRoot.signature, bit),
        },
      };
      const check = verifyReceipt(bad, msp);
      expect(check.ok ? 'ok' : check.error.code, `signature bit ${bit}`).toBe(
        'RECEIPT_E_SIGNATURE_INVALID',
      );
    }
    for (let bit = 0; bit < 256; bit += 1) {
      const bad = {
        ...receipt,
        signedRoot: { ...receipt.signedRoot, root: flipHex(receipt.signedRoot.root, bit) },
      };
      const check = verifyReceipt(bad, msp);
      expect(check.ok ? 'ok' : check.error.code, `root bit ${bit}`).toBe('RECEIPT_E_PROOF_INVALID');
    }
  });
});

describe("format 2: receipts with several nodes' signatures", () => {
  let signers: Awaited<ReturnType<typeof generateTestSigners>>;
  beforeAll(async () => {
    signers = await generateTestSigners();
  });
  afterAll(async () => {
    await signers.cleanup();
  });

  /** A tree of `size` leaves and a signer's root at `treeSize`. */
  function ledgerOf(size: number) {
    const tree = createMerkleTree();
    const entries = Array.from({ length: size }, (_, i) => canonicalBytes({ i }));
    for (const entry of entries) tree.append(leafHash(entry));
    const sign = (
      signer: typeof signers.peer,
      treeSize = size,
      extra: { nodeId?: string; signedAt?: number } = {},
    ): SignedRoot =>
      signRoot(
        {
          treeSize,
          root: tree.root(treeSize),
          nodeId: extra.nodeId ?? signer.nodeId,
          signedAt: extra.signedAt ?? 1_000,
        },
        signer,
      );
    const input = (leafIndex: number) => ({
      txId: 'ab'.repeat(32),
      entry: entries[leafIndex] ?? new Uint8Array(1),
      leafIndex,
      proof: tree.inclusionProof(leafIndex, size),
    });
    return { tree, sign, input };
  }

  it('round trip: three nodes of two organisations, in any order, verify and are all reported', () => {
    const { sign, input } = ledgerOf(9);
    const signedRoots = [sign(signers.org2Peer), sign(signers.peer1), sign(signers.peer)];
    const receipt = createReceipt({ ...input(4), signedRoots });
    expect(receipt.version).toBe(2);
    expect(receipt.signedRoots.map((root) => root.nodeId)).toEqual([
      'peer0.org1.example.com',
      'peer0.org2.example.com',
      'peer1.org1.example.com',
    ]);
    // JSON in, JSON out: parsing gives back the same receipt.
    const json: unknown = JSON.parse(JSON.stringify(receipt));
    expect(parseReceipt(json)).toEqual(receipt);
    const check = verifyReceipt(json, signers.msps, { signaturesMin: 3, organisationsMin: 2 });
    if (!check.ok) throw check.error;
    expect(check.value).toMatchObject({
      version: 2,
      seqno: 5,
      treeSize: 9,
      nodeId: 'peer0.org1.example.com',
      signer: { mspId: 'Org1MSP', role: 'peer' },
      organisations: ['Org1MSP', 'Org2MSP'],
    });
    expect(check.value.signers.map((s) => [s.nodeId, s.mspId, s.role])).toEqual([
      ['peer0.org1.example.com', 'Org1MSP', 'peer'],
      ['peer0.org2.example.com', 'Org2MSP', 'peer'],
      ['peer1.org1.example.com', 'Org1MSP', 'peer'],
    ]);
    expect(new Set(check.value.signers.map((s) => s.identityId)).size).toBe(3);
  });

  it('the same input in another order gives the same receipt (canonical form)', () => {
    const { sign, input } = ledgerOf(3);
    const a = sign(signers.peer);
    const b = sign(signers.peer1);
    const c = sign(signers.org2Peer);
    const one = createReceipt({ ...input(1), signedRoots: [a, b, c] });
    const other = createReceipt({ ...input(1), signedRoots: [c, a, b] });
    expect(JSON.stringify(other)).toBe(JSON.stringify(one));
  });

  it('createReceipt with signedRoot still writes format 1, byte for byte the committed vector', () => {
    const entry = new Uint8Array(Buffer.from(valid.entry, 'base64'));
    const rebuilt = createReceipt({
      txId: valid.txId,
      entry,
      leafIndex: valid.proof.leafIndex,
      proof: valid.proof.hashes.map((hash) => new Uint8Array(Buffer.from(hash, 'hex'))),
      signedRoot: valid.signedRoot,
    });
    expect(JSON.stringify(rebuilt)).toBe(JSON.stringify(valid));
    // The same signature in format 2 proves the same.
    const asV2 = createReceipt({
      txId: valid.txId,
      entry,
      leafIndex: valid.proof.leafIndex,
      proof: valid.proof.hashes.map((hash) => new Uint8Array(Buffer.from(hash, 'hex'))),
      signedRoots: [valid.signedRoot],
    });
    const v1 = verifyReceipt(valid, msps, { txIdOf: testTxIdOf });
    const v2 = verifyReceipt(asV2, msps, { txIdOf: testTxIdOf });
    if (!v1.ok || !v2.ok) throw new Error('both verify');
    expect({ ...v2.value, version: 1 }).toEqual(v1.value);
  });

  it('createReceipt refuses roots that do not belong in one receipt', () => {
    const { sign, input } = ledgerOf(5);
    const codeOf = (signedRoots: readonly SignedRoot[]): string => {
      try {
        createReceipt({ ...input(0), signedRoots });
      } catch (error) {
        if (isCofferError(error)) return error.code;
        throw error;
      }
      return 'created';
    };
    expect(codeOf([sign(signers.peer), sign(signers.peer1, 4)])).toBe('RECEIPT_E_ROOTS_DISAGREE');
    expect(codeOf([sign(signers.peer), sign(signers.peer, 5, { signedAt: 2 })])).toBe(
      'RECEIPT_E_SIGNER_REPEATED',
    );
    expect(codeOf([])).toBe('RECEIPT_E_MALFORMED');
    const many = Array.from({ length: signedRootsMax + 1 }, (_, i) =>
      sign(signers.peer, 5, { nodeId: `node${String(i).padStart(2, '0')}` }),
    );
    expect(codeOf(many)).toBe('RECEIPT_E_MALFORMED');
    expect(codeOf(many.slice(0, signedRootsMax))).toBe('created');
  });

  it('verifies every signature: one bad signature among good ones makes the receipt invalid', () => {
    const { sign, input } = ledgerOf(6);
    const receipt = createReceipt({
      ...input(2),
      signedRoots: [sign(signers.peer), sign(signers.peer1), sign(signers.org2Peer)],
    });
    for (let i = 0; i < 3; i += 1) {
      const signedRoots = receipt.signedRoots.map((root, j) =>
        j === i ? { ...root, signature: sign(signers.peer1, 6, { signedAt: 7 }).signature } : root,
      );
      const check = verifyReceipt({ ...receipt, signedRoots }, signers.msps);
      expect(!check.ok && check.error.code, `signature ${i}`).toBe('RECEIPT_E_SIGNATURE_INVALID');
      expect(!check.ok && check.error.message).toMatch(
        new RegExp(`^receipt\\.signedRoots\\[${i}\\] \\(node peer`),
      );
      expect(!check.ok && check.error.details['field']).toBe(`receipt.signedRoots[${i}]`);
    }
  });

  it('one key under two node IDs counts once: refused as a repeated signer', () => {
    const { sign, input } = ledgerOf(4);
    const receipt = createReceipt({
      ...input(3),
      signedRoots: [
        sign(signers.peer),
        sign(signers.peer, 4, { nodeId: 'peer9.org1.example.com' }),
      ],
    });
    const check = verifyReceipt(receipt, signers.msps);
    expect(!check.ok && check.error.code).toBe('RECEIPT_E_SIGNER_REPEATED');
    expect(!check.ok && check.error.message).toContain('signed with the same key');
  });

  it('signaturesMin and organisationsMin: too few gives RECEIPT_E_TOO_FEW_SIGNERS', () => {
    const { sign, input } = ledgerOf(4);
    const org1Only = createReceipt({
      ...input(0),
      signedRoots: [sign(signers.peer), sign(signers.peer1)],
    });
    const codeOf = (receipt: unknown, options: Parameters<typeof verifyReceipt>[2]) => {
      const check = verifyReceipt(receipt, signers.msps, options);
      return check.ok ? 'ok' : check.error.code;
    };
    expect(codeOf(org1Only, { signaturesMin: 2 })).toBe('ok');
    expect(codeOf(org1Only, { signaturesMin: 3 })).toBe('RECEIPT_E_TOO_FEW_SIGNERS');
    // Two peers of one organisation are one organisation.
    expect(codeOf(org1Only, { organisationsMin: 2 })).toBe('RECEIPT_E_TOO_FEW_SIGNERS');
    const check = verifyReceipt(org1Only, signers.msps, { organisationsMin: 2 });
    expect(!check.ok && check.error.message).toBe(
      'the root is signed by 2 nodes of 1 organisation (Org1MSP), but the verifier requires nodes of at least 2 organisations',
    );
    expect(!check.ok && check.error.details).toMatchObject({
      signatures: 2,
      organisations: ['Org1MSP'],
      signaturesMin: 1,
      organisationsMin: 2,
    });
    const twoOrgs = createReceipt({
      ...input(0),
      signedRoots: [sign(signers.peer), sign(signers.org2Peer)],
    });
    expect(codeOf(twoOrgs, { organisationsMin: 2, signaturesMin: 2 })).toBe('ok');
    // A format 1 receipt has one signer.
    expect(verifyReceipt(valid, msps, { signaturesMin: 2 })).toMatchObject({
      ok: false,
      error: { code: 'RECEIPT_E_TOO_FEW_SIGNERS' },
    });
    // Thresholds come after the signatures: a tampered receipt says what is wrong with it.
    const [first, second] = org1Only.signedRoots;
    if (first === undefined || second === undefined) throw new Error('two roots');
    const tampered = {
      ...org1Only,
      signedRoots: [first, { ...second, signedAt: second.signedAt + 1 }],
    };
    expect(codeOf(tampered, { signaturesMin: 3 })).toBe('RECEIPT_E_SIGNATURE_INVALID');
  });

  it("options out of range are the caller's bug: they throw", () => {
    for (const options of [
      { signaturesMin: 0 },
      { signaturesMin: 1.5 },
      { organisationsMin: signedRootsMax + 1 },
    ]) {
      expect(() => verifyReceipt(valid, msps, options)).toThrow(/from 1 to 64/);
    }
  });

  it('signedRootsForReceipt: own root first, then peers whose roots count, once each', () => {
    const { sign, input } = ledgerOf(8);
    const own = sign(signers.peer);
    const peer = sign(signers.org2Peer);
    const other = sign(signers.peer1);
    const badSignature = { ...other, signedAt: other.signedAt + 1 };
    const chosen = signedRootsForReceipt(
      own,
      [
        sign(signers.peer1, 7), // another position
        { ...sign(signers.peer1), root: 'cd'.repeat(32) }, // another root
        badSignature, // does not verify
        sign(signers.plainUser, 8, { nodeId: 'plain' }), // PlainMSP: NodeOUs off, verifies
        peer,
        sign(signers.org2Peer, 8, { signedAt: 2 }), // the same node again
        sign(signers.org2Peer, 8, { nodeId: 'peer7.org2.example.com' }), // the same key again
        { ...peer, nodeId: own.nodeId }, // claims to be this node
        other,
      ],
      signers.msps,
    );
    expect(chosen.map((root) => root.nodeId)).toEqual([
      own.nodeId,
      'plain',
      peer.nodeId,
      other.nodeId,
    ]);
    const receipt = createReceipt({ ...input(5), signedRoots: chosen });
    const check = verifyReceipt(receipt, signers.msps, { signaturesMin: 4, organisationsMin: 3 });
    expect(check.ok, check.ok ? '' : check.error.message).toBe(true);
  });

  it('property: one flipped bit in any signature, root or tree size of a random receipt fails', () => {
    type Region = 'signature' | 'root' | 'treeSize' | 'nodeId';
    const pool = [signers.peer, signers.peer1, signers.org2Peer];
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.nat(),
        fc.subarray([0, 1, 2], { minLength: 1 }),
        fc.nat(),
        fc.constantFrom<Region>('signature', 'root', 'treeSize', 'nodeId'),
        fc.nat(),
        (size, a, chosen, which, region, bit) => {
          const { sign, input } = ledgerOf(size);
          const receipt = createReceipt({
            ...input(a % size),
            signedRoots: chosen.map((i) => sign(pool[i] ?? signers.peer)),
          });
          const good = verifyReceipt(receipt, signers.msps, { signaturesMin: chosen.length });
          expect(good.ok && good.value.signers.length).toBe(chosen.length);
          const at = which % receipt.signedRoots.length;
          const target = receipt.signedRoots[at];
          if (target === undefined) throw new Error('no signed root');
          let changed: SignedRoot;
          let expected: string;
          const several = receipt.signedRoots.length > 1;
          switch (region) {
            case 'signature': {
              const bytes = Buffer.from(target.signature, 'base64');
              const i = bit % (bytes.length * 8);
              bytes[i >> 3] = (bytes[i >> 3] ?? 0) ^ (1 << (i & 7));
              changed = { ...target, signature: bytes.toString('base64') };
              expected = 'RECEIPT_E_SIGNATURE_INVALID';
              break;
            }
            case 'root': {
              const bytes = Buffer.from(target.root, 'hex');
              const i = bit % 256;
              bytes[i >> 3] = (bytes[i >> 3] ?? 0) ^ (1 << (i & 7));
              changed = { ...target, root: bytes.toString('hex') };
              expected = several ? 'RECEIPT_E_ROOTS_DISAGREE' : 'RECEIPT_E_PROOF_INVALID';
              break;
            }
            case 'treeSize':
              changed = { ...target, treeSize: target.treeSize + 1 + (bit % 3) };
              expected = several ? 'RECEIPT_E_ROOTS_DISAGREE' : 'RECEIPT_E_PROOF_INVALID';
              break;
            case 'nodeId':
              // Another node ID that keeps the order: the signature no longer covers it.
              changed = { ...target, nodeId: `${target.nodeId}.${bit % 10}` };
              expected = 'RECEIPT_E_SIGNATURE_INVALID';
              break;
          }
          const signedRoots = receipt.signedRoots.map((root, j) => (j === at ? changed : root));
          // Sorted again, so that a change of node ID is not caught as disorder.
          signedRoots.sort((x, y) => (x.nodeId < y.nodeId ? -1 : x.nodeId > y.nodeId ? 1 : 0));
          const check = verifyReceipt({ ...receipt, signedRoots }, signers.msps);
          expect(check.ok ? 'ok' : check.error.code, region).toBe(expected);
        },
      ),
      { numRuns: 200 },
    );
  });
});
